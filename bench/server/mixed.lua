-- wrk script for `make cluster-test`: a mix of signed GET URLs (several sizes of several
-- sources) and POST transforms, read from the file CLUSTER_REQUESTS names (one request a line:
-- "GET <path>" or "POST <path> <body file>"). Counts answers that are not 200 by the second
-- they arrived in, so the test can tell the kill window from the rest.
local requests = {}
for line in io.lines(os.getenv("CLUSTER_REQUESTS")) do
  local method, path, bodyFile = line:match("^(%u+) (%S+) ?(%S*)$")
  local body = nil
  if bodyFile ~= "" then
    local f = assert(io.open(bodyFile, "rb")); body = f:read("*a"); f:close()
  end
  local headers = {}
  if body then headers["Content-Type"] = "application/json" end
  table.insert(requests, wrk.format(method, path, headers, body))
end

local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = id
  bad = {}
end

function request()
  counter = counter + 1
  return requests[(counter % #requests) + 1]
end

function response(status, headers, body)
  if status ~= 200 and status ~= 304 then
    local second = os.time()
    bad[second] = (bad[second] or 0) + 1
  end
end

function done(summary, latency, requests_)
  for _, thread in ipairs(threads) do
    for second, count in pairs(thread:get("bad")) do io.write(string.format("BAD %d %d\n", second, count)) end
  end
  io.write(string.format("P50_MS %.2f\nP99_MS %.2f\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  io.write(string.format("REQUESTS %d\nDURATION_S %.3f\n", summary.requests, summary.duration / 1e6))
  io.write(string.format("SOCKET_ERRORS %d\n", summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
