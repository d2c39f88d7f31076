-- ANY <BENCH_PATH> with x-account-id <random account id> (the gateway check). A 403 is an
-- answer (a refused account), not an error: statuses other than 200 and 403 are counted and
-- printed at the end as "Unexpected statuses: N".
local path = os.getenv("BENCH_PATH")
local count = tonumber(os.getenv("BENCH_ACCOUNTS"))
local key = os.getenv("BENCH_KEY") or ""
local threads = {}
unexpected = 0

setup = function(thread)
  table.insert(threads, thread)
end

init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
end

request = function()
  local headers = {["x-account-id"] = string.format("acct-%07d", math.random(1, count))}
  headers["x-model"] = "frontier-large"
  if key ~= "" then headers["x-tns-key"] = key end
  return wrk.format("GET", path, headers)
end

response = function(status, headers, body)
  if status ~= 200 and status ~= 403 then unexpected = unexpected + 1 end
end

done = function(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("unexpected") end
  io.write(string.format("Unexpected statuses: %d\n", total))
end
