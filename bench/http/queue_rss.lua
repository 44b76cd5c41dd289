-- queue_rss.lua URL N [CONCURRENCY] [BATCH] — bench (c), and the engine alone: N generate
-- requests built in Lua the way a task builds them (a table per request, its own `until`
-- list), handed to the backend in one b:run (cache off), answered by the server at URL.
-- Prints the peak RSS of the process (VmHWM), the RSS before b:run, the rate and the CPU
-- time of b:run per request (Lua -> C, HTTP, C -> Lua). Run with `evallua exec`.
local backend = require "evallua.backend"
local sys = require "evallua.sys"

local url, n = arg[1], math.tointeger(tonumber(arg[2] or "1000000"))
local conc, batch = math.tointeger(tonumber(arg[3] or "256")), math.tointeger(tonumber(arg[4] or "1"))

local function status_kb(field)
  local f = io.open("/proc/self/status")
  local kb = 0
  for line in f:lines() do
    local v = string.match(line, "^" .. field .. ":%s*(%d+)")
    if v then kb = tonumber(v) end
  end
  f:close()
  return kb
end

local t0 = sys.monotonic()
local reqs = {}
for i = 1, n do
  reqs[i] = { kind = "generate_until", context = string.format("Question: What is %d plus %d?\nAnswer:", i, i % 7),
    ["until"] = { "\n\n" }, max_tokens = 16, temperature = 0.0 }
end
local built = sys.monotonic()
local before = status_kb("VmRSS")
local b = backend.open { kind = "openai-completions", base_url = url, model = "fake-model",
  concurrency = conc, batch_size = batch, no_cache = true }
local t1, c1 = sys.monotonic(), os.clock()
local resps = b:run(reqs)
local t2, c2 = sys.monotonic(), os.clock()
local ok = 0
for i = 1, n do if resps[i].ok then ok = ok + 1 end end
print(string.format("requests %d ok %d  build %.2f s  run %.2f s (%.0f req/s, %.1f CPU-us/request)  RSS before run %.0f MiB  peak RSS %.0f MiB",
  n, ok, built - t0, t2 - t1, n / (t2 - t1), (c2 - c1) * 1e6 / n, before / 1024, status_kb("VmHWM") / 1024))
