-- POST a body of 1,000 random account ids to BENCH_PATH.
local path = os.getenv("BENCH_PATH")
local count = tonumber(os.getenv("BENCH_ACCOUNTS"))
local key = os.getenv("BENCH_KEY") or ""
local bodies = {}

init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
  for b = 1, 20 do
    local ids = {}
    for i = 1, 1000 do ids[i] = string.format("\"acct-%07d\"", math.random(1, count)) end
    bodies[b] = "{\"accounts\": [" .. table.concat(ids, ",") .. "]}"
  end
end

request = function()
  local headers = {["Content-Type"] = "application/json"}
  if key ~= "" then headers["Authorization"] = "Bearer " .. key end
  return wrk.format("POST", path, headers, bodies[math.random(1, #bodies)])
end
