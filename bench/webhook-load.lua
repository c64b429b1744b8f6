-- wrk script for the webhook measures. Sends pre-signed events, one "signature<TAB>body" per line
-- of the file named after `--`:
--   * by default cyclically for wrk's duration, then prints `WRK_RESULT {…}` (webhook_ingest);
--   * with a second argument `once`, each event exactly once, then only health checks, and prints
--     `WRK_EVENTS {…}` when every event has been answered (webhook_to_row). wrk builds one request
--     to check the script before it connects, so a file for `once` starts with a placeholder line
--     ("-<TAB>-") that must not use up an event.
local events = {}
local index = 0
local once = false
local answered = 0
local ok = 0

init = function(args)
  once = args[2] == "once"
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    local tab = line:find("\t", 1, true)
    events[#events + 1] = { line:sub(1, tab - 1), line:sub(tab + 1) }
  end
  file:close()
end

request = function()
  index = index + 1
  local event = once and events[index] or events[(index - 1) % #events + 1]
  if event == nil or event[1] == "-" then
    return wrk.format("GET", "/healthz")
  end
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json", ["Stripe-Signature"] = event[1] }, event[2])
end

response = function(status, headers, body)
  if not once then return end
  -- Webhook answers say "received" (or are errors); health checks say "status".
  if body:find('"received"', 1, true) or (status >= 400 and not body:find('"status"', 1, true)) then
    answered = answered + 1
    if status < 300 then ok = ok + 1 end
    if answered >= #events - 1 then
      -- wrk waits out its duration even with its thread stopped: the caller ends it on this line.
      io.write(string.format('\nWRK_EVENTS {"answered":%d,"ok":%d}\n', answered, ok))
      io.flush()
      wrk.thread:stop()
    end
  end
end

done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format(
    '\nWRK_RESULT {"requests":%d,"duration_us":%d,"non_2xx":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.errors.status, errors,
    latency:percentile(50), latency:percentile(99)))
end
