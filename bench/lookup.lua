-- GET <prefix><random account id>, with the bearer key when one is given.
local prefix = os.getenv("BENCH_PREFIX")
local count = tonumber(os.getenv("BENCH_ACCOUNTS"))
local key = os.getenv("BENCH_KEY") or ""

init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
end

request = function()
  local path = string.format("%sacct-%07d", prefix, math.random(1, count))
  local headers = {}
  if key ~= "" then headers["Authorization"] = "Bearer " .. key end
  return wrk.format("GET", path, headers)
end
