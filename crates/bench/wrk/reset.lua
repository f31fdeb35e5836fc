-- PATCH /user/reset/{id} with live secrets, each used once. Argument: the
-- file of "public_id secret" lines. Counts answers that were not code 0.
local tokens = {}
local next_token = 1
local headers = { ["Content-Type"] = "application/json" }
local failed = 0

function init(args)
  for line in io.lines(args[1]) do
    local id, secret = line:match("^(%S+) (%S+)$")
    tokens[#tokens + 1] = { id, secret }
  end
end

function request()
  local t = tokens[next_token]
  next_token = next_token + 1
  if t == nil then
    error("out of tokens: seed more")
  end
  local body = '{"password":"benchmark-pw","secret":"' .. t[2] .. '"}'
  return wrk.format("PATCH", "/api/v4/user/reset/" .. t[1], headers, body)
end

function response(status, headers, body)
  if not body:find('"code":0,', 1, true) then failed = failed + 1 end
end

function done(summary, latency, requests)
  io.write(string.format("not-success: %d\n", failed))
end
