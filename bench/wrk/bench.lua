-- wrk script of the benchmark suite.
--   wrk ... -s bench/wrk/bench.lua URL                       one URL
--   wrk ... -s bench/wrk/bench.lua URL -- PREFIX COUNT       /api/v1/jobs/<PREFIX><n>/progress,
--                                                              n = 0..COUNT-1, round robin
--   wrk ... -s bench/wrk/bench.lua URL -- PREFIX COUNT random    the same, n drawn at random
--                                                              (COUNT may be huge: unknown ids)
-- At the end it prints "WRK<TAB>name<TAB>value" lines that run.sh reads.

local paths = nil
local n = 0
local random_prefix, random_count = nil, nil

function init(args)
  if args[3] == "random" then
    random_prefix, random_count = args[1], tonumber(args[2])
    math.randomseed(os.time() + math.random(1, 1000000))
  elseif args[1] ~= nil then
    local prefix, count = args[1], tonumber(args[2])
    paths = {}
    -- each thread starts at a different place in the list
    local offset = math.random(0, count - 1)
    for i = 0, count - 1 do
      paths[#paths + 1] = "/api/v1/jobs/" .. prefix .. ((i + offset) % count) .. "/progress"
    end
  end
end

function request()
  if random_prefix ~= nil then
    return wrk.format(nil, "/api/v1/jobs/" .. random_prefix .. math.random(0, random_count - 1) .. "/progress")
  end
  if paths == nil then
    return wrk.format(nil)
  end
  n = n % #paths + 1
  return wrk.format(nil, paths[n])
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  local function out(name, value) io.write("WRK\t" .. name .. "\t" .. value .. "\n") end
  out("requests", summary.requests)
  out("secs", string.format("%.2f", secs))
  out("rps", string.format("%.0f", summary.requests / secs))
  out("p50_ms", string.format("%.3f", latency:percentile(50) / 1000))
  out("p90_ms", string.format("%.3f", latency:percentile(90) / 1000))
  out("p99_ms", string.format("%.3f", latency:percentile(99) / 1000))
  out("max_ms", string.format("%.3f", latency.max / 1000))
  out("err_connect", e.connect)
  out("err_read", e.read)
  out("err_write", e.write)
  out("err_status", e.status)
  out("err_timeout", e.timeout)
end
