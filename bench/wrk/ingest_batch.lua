-- wrk script of bench/embedded.sh: progress reports over HTTP in batches.
--   wrk -t1 ... -s bench/wrk/ingest_batch.lua URL -- PREFIX COUNT TOKEN FROM BATCH
-- POSTs /api/v1/progress {"updates": [{"jobId": ..., "successCount": s,
-- "failureCount": 0}, ...]} with BATCH items for BATCH jobs in a row of
-- <PREFIX><n>, n = 0..COUNT-1 round robin, with a write token; s starts at
-- FROM and grows by one each round, so every item moves its job forward.
-- At the end it prints "WRK<TAB>name<TAB>value" lines, as bench.lua does,
-- with the items counted by their own status: 200 (updates taken), 409,
-- others.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local prefix, count, from, batch, headers
local k = 0

function init(args)
  prefix, count, from, batch = args[1], tonumber(args[2]), tonumber(args[4]), tonumber(args[5])
  headers = {
    ["Authorization"] = "Bearer " .. args[3],
    ["Content-Type"] = "application/json",
  }
  ok, conflict, other = 0, 0, 0
end

function request()
  local items = {}
  for i = 1, batch do
    local job, round = k % count, math.floor(k / count)
    k = k + 1
    items[i] = '{"jobId":"' .. prefix .. job .. '","successCount":' .. (from + round) .. ',"failureCount":0}'
  end
  return wrk.format("POST", "/api/v1/progress", headers, '{"updates":[' .. table.concat(items, ",") .. ']}')
end

-- How many times `needle` occurs in `body`: a plain search in C, where a
-- gsub runs Lua's pattern matcher at every byte of a body of a hundred
-- records (with three of those, wrk's own core was the bound).
local function count(body, needle)
  local n, at = 0, 1
  while true do
    local _, last = string.find(body, needle, at, true)
    if not last then return n end
    n, at = n + 1, last + 1
  end
end

function response(status, headers, body)
  if status ~= 200 then
    other = other + batch
    return
  end
  -- the envelope's own statusCode, then one per item
  local taken = count(body, '"statusCode":200')
  if taken == batch + 1 then
    ok = ok + batch
    return
  end
  local all = count(body, '"statusCode":')
  local stale = count(body, '"statusCode":409')
  ok = ok + taken - 1
  conflict = conflict + stale
  other = other + (all - 1) - (taken - 1) - stale
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
