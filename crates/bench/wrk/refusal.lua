-- PATCH /user/reset/{id} with a well-formed but wrong secret, for a random
-- existing user. Argument: the file of public user ids.
local ids = {}
local alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

local function secret()
  local chars = {}
  for i = 1, 32 do
    local k = math.random(1, 62)
    chars[i] = alphabet:sub(k, k)
  end
  return table.concat(chars)
end

function request()
  local id = ids[math.random(1, #ids)]
  local body = '{"password":"benchmark-pw","secret":"' .. secret() .. '"}'
  return wrk.format("PATCH", "/api/v4/user/reset/" .. id, headers, body)
end
