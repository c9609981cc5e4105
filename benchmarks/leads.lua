-- wrk script: each request POSTs a lead with its own lead_id; each answer is checked.
--   wrk ... -s leads.lua URL -- LEAD_TEMPLATE API_KEY RUN_PREFIX
-- LEAD_TEMPLATE is a JSON lead whose lead_id is @LEAD_ID@. A lead_id is never sent twice (the
-- router would answer a resend from its idempotency record and run no auction), hence the run
-- prefix and the thread number in every id.
-- done() prints one line for the rig: BENCH key=value ...

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_number", thread_count)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local template = file:read("*a")
  file:close()
  head, tail = template:match("^(.*)@LEAD_ID@(.*)$")
  assert(head, "the lead template has no @LEAD_ID@")
  prefix = args[3] .. "-t" .. thread_number .. "-"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-API-Key"] = args[2]
  sent, ok, sold = 0, 0, 0
end

function request()
  sent = sent + 1
  return wrk.format(nil, nil, nil, head .. prefix .. sent .. tail)
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
    -- both routers answer compact JSON (orjson): no space after the colon
    if body:find('"status":"sold"', 1, true) then
      sold = sold + 1
    end
  end
end

function done(summary, latency, requests)
  local total_ok, total_sold = 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_sold = total_sold + thread:get("sold")
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d ok=%d sold=%d connect=%d read=%d write=%d status=%d "
      .. "timeout=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, total_ok, total_sold, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
