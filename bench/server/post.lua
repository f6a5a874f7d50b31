-- wrk script for `make loadtest`: POSTs the prepared JSON body (a base64 JPEG and the
-- avatar pipeline) to /v1/transform and counts answers that are not 200.
local path = os.getenv("LOADTEST_BODY")
local file = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
-- A server with API keys (the container image's load test) is asked with one.
local key = os.getenv("LOADTEST_KEY")
if key then wrk.headers["Authorization"] = "Bearer " .. key end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
end

function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("bad") end
  io.write(string.format("NON200 %d\n", total))
  io.write(string.format("P50_MS %.2f\nP99_MS %.2f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  io.write(string.format("REQUESTS %d\nDURATION_S %.3f\n", summary.requests, summary.duration / 1e6))
  io.write(string.format("SOCKET_ERRORS %d\n", summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
