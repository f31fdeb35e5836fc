-- POST /user/reset. Arguments: "known" and the file of seeded addresses, or
-- "unknown" (addresses that have no account).
local emails = {}
local mode
local n = 0
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  mode = args[1]
  if mode == "known" then
    for line in io.lines(args[2]) do emails[#emails + 1] = line end
  end
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
  local email
  if mode == "known" then
    email = emails[math.random(1, #emails)]
  else
    n = n + 1
    email = "nobody" .. math.random(1, 1000000000) .. "." .. n .. "@bench.example"
  end
  return wrk.format("POST", "/api/v4/user/reset", headers, '{"email":"' .. email .. '"}')
end
