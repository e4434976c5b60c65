-- wrk script for bench/declarations.py: one unique, valid health declaration per request.
--
--   wrk -t1 -c32 -d12s --latency -s bench/declarations.lua http://127.0.0.1:PORT -- BASE THREADS
--
-- BASE offsets the sequence so that runs never repeat an ID number or an Idempotency-Key;
-- THREADS must equal wrk's -t so that threads interleave instead of colliding.
-- done() prints one line "BENCH_RESULT {json}" that the Python driver parses.

local base, thread_count, thread_index, counter = 0, 1, 0, 0
local threads = {}
statuses = {}

-- Legacy (pre-2025) province codes carried by CCCD numbers: Hà Nội, Hải Phòng, Đà Nẵng, HCM, Cần Thơ...
local ID_PROVINCES = { 1, 31, 48, 79, 92, 26, 38, 46, 56, 75 }
-- Current province codes and one of their wards, for the residence block.
local RESIDENCES = { { 1, 70 }, { 1, 4 }, { 79, 26536 }, { 48, 20275 } }
local FAMILY = { "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng" }
local MIDDLE = { "Văn", "Thị", "Minh", "Ngọc", "Đức", "Thu", "Quang", "Thanh" }
local GIVEN = { "An", "Bình", "Chi", "Dũng", "Giang", "Hà", "Hùng", "Lan", "Mai", "Nam", "Phúc", "Tâm" }
local SYMPTOMS = { "[]", "[]", "[]", "[\"cough\"]", "[\"fever\", \"headache\"]" }
local MEANS = { "car", "motorbike", "bus", "plane" }

-- Dates are in Vietnam (UTC+7), as the server validates them.
local today = os.date("!%Y-%m-%d", os.time() + 7 * 3600)

function setup(thread)
   thread:set("thread_index", #threads)
   table.insert(threads, thread)
end

function init(args)
   base = tonumber(args[1] or "0")
   thread_count = tonumber(args[2] or "1")
   wrk.headers["Content-Type"] = "application/json"
end

local function pick(list, n)
   return list[n % #list + 1]
end

local function declaration(n)
   -- n -> (province, birth year) from the millions, serial from the rest: unique for n < 700 M.
   local block = math.floor(n / 1000000)
   local year = 1940 + block % 70
   local province = ID_PROVINCES[math.floor(block / 70) % #ID_PROVINCES + 1]
   local female = n % 2 == 1
   local digit = (year >= 2000 and 2 or 0) + (female and 1 or 0)
   local citizen_id = string.format("%03d%d%02d%06d", province, digit, year % 100, n % 1000000)
   local dob = string.format("%04d-%02d-%02d", year, n % 12 + 1, n % 28 + 1)
   local middle = female and "Thị" or pick(MIDDLE, math.floor(n / 7))
   local name = pick(FAMILY, n) .. " " .. middle .. " " .. pick(GIVEN, math.floor(n / 3))
   local residence = pick(RESIDENCES, math.floor(n / 5))
   local trip = "null"
   if n % 4 == 0 then
      trip = string.format(
         '{"from_province": 79, "to_province": 1, "means": "%s", "vehicle_number": "29A-%05d", "date": "%s"}',
         pick(MEANS, math.floor(n / 11)), n % 100000, today)
   end
   return string.format(
      '{"citizen_id": "%s", "full_name": "%s", "date_of_birth": "%s", "sex": "%s", '
         .. '"phone": "09%08d", "residence": {"province_code": %d, "ward_code": %d, '
         .. '"address": "Số %d ngõ %d"}, "trip": %s, "symptoms": %s, "contact_with_case": %s, '
         .. '"visited_outbreak_area": false, "vaccination_doses": %d}',
      citizen_id, name, dob, female and "female" or "male", n % 100000000,
      residence[1], residence[2], n % 200 + 1, n % 97 + 1, trip, pick(SYMPTOMS, math.floor(n / 13)),
      n % 50 == 0 and "true" or "false", n % 4)
end

function request()
   local n = base + counter * thread_count + thread_index
   counter = counter + 1
   -- A phone app retries with the same key; the server stores and checks it on every request.
   wrk.headers["Idempotency-Key"] = string.format("bench-%08d", n)
   return wrk.format("POST", "/api/v1/declarations", nil, declaration(n))
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
