-- native_bench.lua MODEL THREADS TEXTS [DECODE_TOKENS] — evallua's half of bench/native/run.sh
-- (run with `evallua exec`). Prints one line per measurement, tab-separated:
--   prefill  TOKENS  SECONDS   the 8 prefill texts, each a loglikelihood request whose
--                              continuation is its last word (logits only where scored)
--   decode1  TOKENS  SECONDS   the 8 decode prompts one at a time (parallel=1), greedy,
--                              DECODE_TOKENS (128) tokens each unless the model ends first
--   decode8  TOKENS  SECONDS   the same 8 requests decoded together (parallel=8)
--   ... and a fourth column: the process's CPU seconds during b:run (all threads), which on
--   a shared machine says more than the wall clock.
-- Times are the backend's own forward-pass clocks (throughput.native's prefill and decode
-- figures), not the model load. The response cache is off.
local backend = require "evallua.backend"
local json = require "evallua.json"

local model, threads, texts_path = arg[1], math.tointeger(tonumber(arg[2] or "2")), arg[3]
local n_decode = math.tointeger(tonumber(arg[4] or "128"))
local texts = json.read_file(texts_path)

local function open(parallel)
  return backend.open { kind = "native", path = model, threads = threads, ctx = 2048,
    parallel = parallel, no_cache = true }
end

local function prefill()
  local b = open(1)
  local reqs = {}
  for i, t in ipairs(texts.prefill) do
    local ctx, last = string.match(t, "^(.*)( %S+)$")
    reqs[i] = { kind = "loglikelihood", context = ctx, continuation = last }
  end
  local c0 = os.clock()
  for _, r in ipairs(b:run(reqs)) do assert(r.ok, r.error) end
  local cpu = os.clock() - c0
  local info = b:info()
  print(string.format("prefill\t%d\t%.4f\t%.4f", info.prefill_tokens, info.prefill_seconds, cpu))
end

local function decode(parallel)
  local b = open(parallel)
  local reqs = {}
  for i, p in ipairs(texts.decode_prompts) do
    reqs[i] = { kind = "generate_until", context = p, ["until"] = {}, max_tokens = n_decode,
      temperature = 0.0 }
  end
  local c0 = os.clock()
  for _, r in ipairs(b:run(reqs)) do assert(r.ok, r.error) end
  local cpu = os.clock() - c0
  local info = b:info()
  -- CPU time of the decode steps: b:run's share in proportion to their wall time
  cpu = cpu * info.decode_seconds / (info.decode_seconds + info.prefill_seconds)
  print(string.format("decode%d\t%d\t%.4f\t%.4f", parallel, info.decode_tokens, info.decode_seconds, cpu))
end

prefill()
decode(1)
decode(8)
