-- wrk script of bench/embedded.sh: progress reports over HTTP.
--   wrk -t1 ... -s bench/wrk/ingest.lua URL -- PREFIX COUNT TOKEN FROM
-- POSTs /api/v1/jobs/<PREFIX><n>/progress {"successCount": s, "failureCount": 0}
-- with a write token, n = 0..COUNT-1 round robin; s starts at FROM and grows
-- by one each round, so every report moves its job forward (a job's next
-- report is COUNT requests later, long after the last one was answered).
-- At the end it prints "WRK<TAB>name<TAB>value" lines, as bench.lua does,
-- with the answers counted by kind: 2xx (updates taken), 409 (refused as
-- older than the stored state), others.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local prefix, count, from, headers
local k = 0

function init(args)
  prefix, count, from = args[1], tonumber(args[2]), tonumber(args[4])
  headers = {
    ["Authorization"] = "Bearer " .. args[3],
    ["Content-Type"] = "application/json",
  }
  ok, conflict, other = 0, 0, 0
end

function request()
  local job, round = k % count, math.floor(k / count)
  k = k + 1
  local body = '{"successCount":' .. (from + round) .. ',"failureCount":0}'
  return wrk.format("POST", "/api/v1/jobs/" .. prefix .. job .. "/progress", headers, body)
end

function response(status)
  if status >= 200 and status < 300 then
    ok = ok + 1
  elseif status == 409 then
    conflict = conflict + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local counts = { ok = 0, conflict = 0, other = 0 }
  for _, thread in ipairs(threads) do
    for name in pairs(counts) do
      counts[name] = counts[name] + thread:get(name)
    end
  end
  local function out(name, value) io.write("WRK\t" .. name .. "\t" .. value .. "\n") end
  out("requests", summary.requests)
  out("secs", string.format("%.2f", secs))
  out("rps", string.format("%.0f", summary.requests / secs))
  out("updates_per_sec", string.format("%.0f", counts.ok / secs))
  out("status_2xx", counts.ok)
  out("status_409", counts.conflict)
  out("status_other", counts.other)
  for _, p in ipairs({ 50, 99 }) do
    out("p" .. p .. "_ms", string.format("%.3f", latency:percentile(p) / 1000))
  end
  out("max_ms", string.format("%.3f", latency.max / 1000))
  local e = summary.errors
  out("err_socket", e.connect + e.read + e.write + e.timeout)
end
