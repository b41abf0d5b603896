-- Counts wrk's responses in short time bins, so benchmarks.frameworks can count only the
-- steady-state window it sampled the server's CPU time over (connections open, queues
-- full), not the connection set-up at the start or the requests cut off at the end.
--
-- benchmarks.frameworks writes the request (wrk.method, wrk.body, wrk.headers) and
-- `bench_expected_status` above this text, and passes the monotonic clock reading it
-- took just before starting wrk in MICROPIE_BENCH_START; bin i holds the responses that
-- arrived between i and i + 1 bin widths after it. done() prints two lines:
--   bench-unexpected N        responses whose status was not bench_expected_status
--   bench-bins WIDTH n0 n1 …  the responses per bin, all threads added up
local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *now);
]])

local CLOCK_MONOTONIC = 1 -- Linux; the clock Python's time.monotonic() reads
local width = 0.005
local start = tonumber(os.getenv("MICROPIE_BENCH_START"))
local now = ffi.new("bench_timespec")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bins = {}
  unexpected = 0
end

function response(status, headers, body)
  ffi.C.clock_gettime(CLOCK_MONOTONIC, now)
  local seconds = tonumber(now.tv_sec) + tonumber(now.tv_nsec) * 1e-9
  local bin = math.floor((seconds - start) / width)
  bins[bin] = (bins[bin] or 0) + 1
  if status ~= bench_expected_status then
    unexpected = unexpected + 1
  end
end

function done(summary, latency, requests)
  local total, last, wrong = {}, -1, 0
  for _, thread in ipairs(threads) do
    wrong = wrong + thread:get("unexpected")
    for bin, count in pairs(thread:get("bins")) do
      total[bin] = (total[bin] or 0) + count
      if bin > last then
        last = bin
      end
    end
  end
  io.write(string.format("bench-unexpected %d\nbench-bins %g", wrong, width))
  for bin = 0, last do
    io.write(" ", total[bin] or 0)
  end
  io.write("\n")
end
