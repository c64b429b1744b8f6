-- wrk script for the webhook_to_row measure: sends each pre-signed event (one "signature<TAB>body"
-- per line of the file named after `--`) exactly once, then only health checks, and stops once
-- every event has been answered. Prints one JSON line of results. The file's first line is a
-- placeholder ("-<TAB>-"): wrk builds one request to check the script before it connects, and
-- that one must not use up an event.
local events = {}
local index = 0
local answered = 0
local ok = 0

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
  local event = events[index]
  if event == nil or event[1] == "-" then
    return wrk.format("GET", "/healthz")
  end
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json", ["Stripe-Signature"] = event[1] }, event[2])
end

response = function(status, headers, body)
  -- Webhook answers say "received"; health checks do not.
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
