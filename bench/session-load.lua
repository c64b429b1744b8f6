-- wrk script for the checkout_sessions measure: the same Checkout Session request, with the
-- bearer token and body read from the file named after `--` (token on the first line, body on the
-- second), sent for wrk's duration; prints `WRK_RESULT {…}` (as webhook-load.lua does).
init = function(args)
  local file = assert(io.open(args[1], "r"))
  local token = file:read("*l")
  local body = file:read("*l")
  file:close()
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. token
end

done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    '\nWRK_RESULT {"requests":%d,"duration_us":%d,"non_2xx":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.errors.status, errors,
    latency:percentile(50), latency:percentile(99)))
end
