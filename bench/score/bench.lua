-- bench/score/bench.lua — evallua's side of the scoring benchmark (see run.sh and
-- docs/performance.md#scoring): the same computations as ref_lmeval.py, through the C
-- functions tasks use (evallua.score, evallua.metrics, evallua.sandbox).
--
--   OMP_NUM_THREADS=2 evallua exec bench/score/bench.lua DIR [em,squad,bootstrap,pass1]
--
-- DIR holds the inputs `python3 bench/score/ref_lmeval.py gen DIR` wrote. Prints one JSON
-- object: per computation its seconds (inputs loaded before the clock starts, as on the
-- Python side) and its value, so that the two sides can be checked against each other.
local data = require "evallua.data"
local json = require "evallua.json"
local metrics = require "evallua.metrics"
local score = require "evallua.score"
local sys = require "evallua.sys"

local dir = arg[1] or error("usage: evallua exec bench/score/bench.lua DIR [em,squad,bootstrap,pass1]", 0)
local threads = math.tointeger(tonumber(os.getenv("OMP_NUM_THREADS") or ""))

-- gsm8k's strict-match pipeline and exact_match options (lm-eval's gsm8k.yaml)
local EM_PATTERN = "#### (\\-?[0-9\\.\\,]+)"
local EM_OPTS = { ignore_case = true, ignore_punctuation = false,
  regexes_to_ignore = { ",", "\\$", "(?s).*#### ", "\\.$" } }

local function timed(fn)
  local t0 = sys.monotonic()
  local out = fn()
  out.seconds = sys.monotonic() - t0
  return out
end

local function bench_em()
  local resps, golds = {}, {}
  for i, r in ipairs(data.read(dir .. "/em.jsonl")) do resps[i], golds[i] = r.resp, r.target end
  return timed(function()
    local filtered = score.filter_regex(resps, EM_PATTERN, 0, "[invalid]")
    local v, se = score.mean(score.exact_match(filtered, golds, EM_OPTS))
    return { value = v, stderr = se, n = #resps }
  end)
end

local function bench_squad()
  local preds, golds, na = {}, {}, {}
  for i, r in ipairs(data.read(dir .. "/squad.jsonl")) do
    preds[i], golds[i], na[i] = r.pred, r.answers, r.na_prob
  end
  return timed(function()
    local s = metrics.squad_v2(preds, golds, na)
    return { value = s.f1, exact = s.exact, HasAns_f1 = s.HasAns_f1, best_f1 = s.best_f1, n = #preds }
  end)
end

local function bench_bootstrap()
  local xs = json.read_file(dir .. "/boot.json")
  return timed(function()
    return { value = score.bootstrap_stderr(xs, "perplexity", 100000, 1234), n = #xs, iters = 100000 }
  end)
end

local function bench_pass1()
  local sandbox = require "evallua.sandbox"
  sandbox.confirm_unsafe_code()
  local programs = {}
  for i, r in ipairs(data.read(dir .. "/programs.jsonl")) do programs[i] = r.program end
  return timed(function()
    local res = sandbox.run { programs = programs, timeout = 3.0, workers = threads }
    local sum = 0
    for _, r in ipairs(res) do sum = sum + sandbox.pass_at_k(1, r.passed and 1 or 0, 1) end
    return { value = sum / #res, n = #res }
  end)
end

local runs = { em = bench_em, squad = bench_squad, bootstrap = bench_bootstrap, pass1 = bench_pass1 }
local out = {}
for name in string.gmatch(arg[2] or "em,squad,bootstrap,pass1", "[^,]+") do
  local fn = runs[name] or error("unknown benchmark '" .. name .. "' (em, squad, bootstrap, pass1)", 0)
  out[name] = fn()
  out[name].threads = threads
  collectgarbage("collect") -- drop this computation's inputs before the next (as Python's do)
  io.stderr:write(string.format("evallua %s (%s threads): %.3f s\n", name, tostring(threads or "default"), out[name].seconds))
end
print(json.encode(out))
