-- wrk script for the webhook ingest measure: sends pre-signed events (one "signature<TAB>body"
-- per line of the file named after `--`), each once, then prints one JSON line of results.
local events = {}
local index = 0

init = function(args)
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    local tab = line:find("\t", 1, true)
    events[#events + 1] = { line:sub(1, tab - 1), line:sub(tab + 1) }
  end
  file:close()
end

request = function()
  index = index + 1
  local event = events[(index - 1) % #events + 1]
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json", ["Stripe-Signature"] = event[1] }, event[2])
end

done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    '\nWRK_RESULT {"requests":%d,"duration_us":%d,"non_2xx":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.errors.status, errors,
    latency:percentile(50), latency:percentile(99)))
end
