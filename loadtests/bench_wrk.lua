-- wrk script for loadtests/bench.py --generator wrk: cycles through prepared requests (one per line:
-- METHOD \t PATH \t header lines joined by \31 \t body) and prints the result as one JSON line.
local requests = {}
local index = 0

function init(args)
  for line in io.lines(args[1]) do
    local method, path, headers, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    local header_table = {}
    for header in headers:gmatch("[^\31]+") do
      local name, value = header:match("^([^:]+): (.*)$")
      header_table[name] = value
    end
    if body == "" then body = nil end
    requests[#requests + 1] = wrk.format(method, path, header_table, body)
  end
  index = math.random(#requests) - 1
end

function request()
  index = index % #requests + 1
  return requests[index]
end

function done(summary, latency, _)
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "rps": %.1f, "p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, ' ..
    '"max_ms": %.2f, "unexpected_status": %d, "disconnects": %d}\n',
    summary.requests, seconds, summary.requests / seconds, latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
