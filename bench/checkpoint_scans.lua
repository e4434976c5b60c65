-- wrk script for bench/checkpoint_scans.py: station devices scanning personal QR codes.
--
--   wrk -t2 -c200 -d10s --latency -s bench/checkpoint_scans.lua http://127.0.0.1:PORT -- MODE DATA THREADS
--
-- MODE is "scan" (POST /api/v1/checkpoint-scans, action "pass"), "lookup" (POST
-- /api/v1/checkpoint-lookups, the officer's first step) or a path to GET (the ceiling).
-- DATA is the file the driver wrote: "station<TAB>token<TAB>place_code" and "qr<TAB>token" lines.
-- THREADS must equal wrk's -t: thread i owns stations i, i + THREADS, ... and sends as each of
-- them in turn, so with as many connections as stations every request in flight is a different
-- station's (wrk's Lua sees threads, not connections). QR codes are taken in turn by all threads.
-- done() prints one line "BENCH_RESULT {json}" that the Python driver parses.

-- thread_index is a global: setup() sets it in each thread's Lua state, before init().
local mode, thread_count, counter = "scan", 1, 0
local stations, qr_tokens = {}, {}
local threads = {}
statuses = {}

function setup(thread)
   thread:set("thread_index", #threads)
   table.insert(threads, thread)
end

function init(args)
   thread_index = thread_index or 0
   mode = args[1] or "scan"
   thread_count = tonumber(args[3] or "1")
   local n = 0
   for line in io.lines(args[2]) do
      local kind, token, place = line:match("^(%a+)\t([^\t]+)\t?([^\t]*)$")
      if kind == "station" then
         if n % thread_count == thread_index then
            table.insert(stations, { token = token, place = place })
         end
         n = n + 1
      elseif kind == "qr" then
         table.insert(qr_tokens, token)
      end
   end
   if mode == "scan" or mode == "lookup" then
      assert(#stations > 0 and #qr_tokens > 0, "no stations or QR codes in " .. args[2])
   end
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   if mode ~= "scan" and mode ~= "lookup" then
      return wrk.format("GET", mode)
   end
   local station = stations[counter % #stations + 1]
   local qr = qr_tokens[(counter * thread_count + thread_index) % #qr_tokens + 1]
   counter = counter + 1
   wrk.headers["Authorization"] = "Bearer " .. station.token
   -- Tokens and place codes are base32, base64url and [A-Za-z0-9_.:-]: nothing to escape.
   if mode == "scan" then
      return wrk.format("POST", "/api/v1/checkpoint-scans", nil, string.format(
         '{"place_code": "%s", "qr_token": "%s", "action": "pass"}', station.place, qr))
   end
   return wrk.format("POST", "/api/v1/checkpoint-lookups", nil, string.format(
      '{"place_code": "%s", "qr_token": "%s"}', station.place, qr))
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local codes, parts = {}, {}
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses")) do
         codes[status] = (codes[status] or 0) + count
      end
   end
   for status, count in pairs(codes) do
      table.insert(parts, string.format('"%d": %d', status, count))
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, '
         .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "p999_us": %d, "mean_us": %.1f, "max_us": %d, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
         .. '"statuses": {%s}}\n',
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
      latency.mean, latency.max, e.connect, e.read, e.write, e.status, e.timeout, table.concat(parts, ", ")))
end
