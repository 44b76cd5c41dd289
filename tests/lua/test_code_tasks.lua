-- HumanEval and MBPP (tasks/humaneval.lua, tasks/mbpp.lua): prompts as lm-eval renders them
-- (../shared/reference/task-formats.md §21, §22: humaneval's doc_to_text is the raw prompt;
-- mbpp's template and its three fixed few-shot examples, task ids 2-4 of the prompt split,
-- each answered with its code + "\n[DONE]" and no target delimiter), then scoring through
-- the real pipeline — filters, custom metric on worker states, the sandbox: the dataset's
-- reference solutions pass, wrong ones fail, pass@1 with repeats, threads = serial.
-- The expected prompts are assembled here from the documented format and the dataset's
-- own fields, not taken from evallua's output. The execution part needs the
-- "evallua.sandbox" module registered in the host; the whole test needs the shared data.
local check = dofile(os.getenv("EVALLUA_SRC") .. "/tests/lua/check.lua")
local data = require "evallua.data"
local registry = require "evallua.registry"
local runner = require "evallua.runner"
local scorer = require "evallua.scorer"

local data_dir = check.data_dir()
if not data_dir then
  print("skip: benchmark data not found (set EVALLUA_TEST_DATA to ../shared/data/hub)")
  return 77
end

local reg = registry.load()

local function starts(s, prefix, msg) return check.eq(string.sub(s, 1, #prefix), prefix, msg) end
local function ends(s, suffix, msg) return check.eq(string.sub(s, -#suffix), suffix, msg) end

local function build(name, n, cfg)
  cfg = cfg or {}
  cfg.data_dir, cfg.fewshot_seed, cfg.limit = data_dir, 1234, n
  return runner.build_task(registry.resolve(reg, name)[1], cfg, {})
end

-- --- humaneval: the prompt is the dataset's prompt, verbatim ---------------------------
local he_docs = data.load(data_dir, "openai/openai_humaneval", "openai_humaneval", "test")
local he = build("HumanEval", 5)
local req = he.samples[1].requests[1]
check.eq(req.context, he_docs[1].prompt, "humaneval doc 0 context = doc.prompt")
starts(req.context,
  "from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n")
ends(req.context, '    True\n    """\n', "the prompt ends after the docstring")
check.eq(req["until"], { "\nclass", "\ndef", "\n#", "\nif", "\nprint" })
check.eq(req.max_tokens, 1024)
check.eq(req.temperature, 0)
check.eq(he.samples[1].target, he_docs[1].test .. "\ncheck(has_close_elements)")
check.eq(he.n_shot, 0)

-- --- mbpp: 3-shot with examples 2, 3, 4 -------------------------------------------------
local prompt_split = data.load(data_dir, "google-research-datasets/mbpp", "full", "prompt")
local mb_docs = data.load(data_dir, "google-research-datasets/mbpp", "full", "test")
local function question(d)
  return "You are an expert Python programmer, and here is your task: " .. d.text ..
    " Your code should pass these tests:\n\n" .. d.test_list[1] .. "\n" .. d.test_list[2] .. "\n" ..
    d.test_list[3] .. "\n[BEGIN]\n"
end
local expected = ""
for _, id in ipairs { 2, 3, 4 } do
  local d = prompt_split[id] -- the prompt split holds task ids 1..10 in order
  check.eq(d.task_id, id)
  expected = expected .. question(d) .. d.code .. "\n[DONE]" .. "\n\n"
end
expected = expected .. question(mb_docs[1])
local mb = build("mbpp", 5)
req = mb.samples[1].requests[1]
check.eq(req.context, expected, "mbpp doc 0, 3-shot")
starts(req.context,
  "You are an expert Python programmer, and here is your task: Write a function to find the " ..
  "similar elements from the given two tuple lists. Your code should pass these tests:\n\n")
ends(req.context,
  'assert remove_Occ("hello","l") == "heo"\nassert remove_Occ("abcda","a") == "bcd"\n' ..
  'assert remove_Occ("PHP","P") == "H"\n[BEGIN]\n')
check.ok(string.find(req.context, "  return (res) \n[DONE]\n\nYou are", 1, true) ~= nil,
  "few-shot code keeps its \\r\\n and trailing space, then \\n[DONE]")
check.eq(req["until"], { "[DONE]" })
check.eq(mb.n_shot, 3)
check.eq(mb.samples[1].target, table.concat({ mb_docs[1].test_list[1], mb_docs[1].test_list[2],
  mb_docs[1].test_list[3] }, "\n"))

-- --- execution (needs the evallua.sandbox module in this build) --------------------------
local have, sandbox = pcall(require, "evallua.sandbox")
if not have then
  if check.failed > 0 then return check.summary() end
  print("skip: the evallua.sandbox module is not registered in this build (core/host/modules.h); " ..
    "prompt checks passed: " .. check.passed)
  return 77
end
if os.getenv("HF_ALLOW_CODE_EVAL") ~= "1" then
  check.raises(function() sandbox.run { programs = { "pass" } } end, { "--confirm-run-unsafe-code" })
end
sandbox.confirm_unsafe_code()
print("sandbox: " .. sandbox.isolation().summary)

-- the module itself
-- (a generous timeout for the two that finish: a loaded machine can take over 0.5 s to
-- start Python; the one that sleeps gets 0.5 s)
local res = sandbox.run { programs = { "print('hi')", "assert 1 == 2" }, timeout = 20 }
res[3] = sandbox.run({ programs = { "import time\ntime.sleep(9)" }, timeout = 0.5 })[1]
check.eq({ res[1].status, res[2].status, res[3].status }, { "passed", "failed", "timeout" })
check.eq({ res[1].passed, res[2].passed, res[1].stdout, res[2].reason }, { true, false, "hi\n", "AssertionError" })
check.ok(res[3].seconds >= 0.5 and res[3].seconds < 3, "timeout near 0.5 s")
check.near(sandbox.pass_at_k(10, 3, 5), 11 / 12, 1e-15)
check.raises(function() sandbox.pass_at_k(3, 1, 5) end, { "1 <= k <= n" })
check.raises(function() sandbox.run { programs = { "pass" }, timout = 1 } end, { "unknown field 'timout'" })
check.raises(function() sandbox.run { programs = { 1 } } end, { "programs[1] must be a string" })

local cfg = { fewshot_seed = 1234, bootstrap_iters = 0 }

-- Answer every request of b with texts[i] (a string, or a list: one per repeat), score it,
-- and return the per-sample values and the aggregated value of metric `name`.
local function score(b, texts, name)
  for i, s in ipairs(b.samples) do
    local t = texts[i]
    s.responses = {}
    for j = 1, #s.requests do
      s.responses[j] = { ok = true, text = type(t) == "table" and t[j] or t }
    end
  end
  runner.score_task(b, cfg)
  local entry = b.scores[1]
  for _, m in ipairs(entry.metrics) do
    if m.spec.name == name then return entry.values[name], m.value, entry.filter end
  end
  return nil
end

-- humaneval: the canonical solutions of the first five problems pass; wrong ones fail
local canonical = {}
for i = 1, 5 do canonical[i] = he_docs[i].canonical_solution end
local values, mean, filter = score(he, canonical, "pass@1")
check.eq(values, { 1, 1, 1, 1, 1 }, "humaneval canonical solutions: pass@1 = 1")
check.eq(mean, 1)
check.eq(filter, "create_test")
local wrong = { "    return False\n", "    return []\n", "    return 0.0\n", "    return True\n",
  "    return 0.0\n" }
values, mean = score(build("humaneval", 5), wrong, "pass@1")
check.eq(values, { 0, 0, 0, 0, 0 }, "humaneval wrong completions: pass@1 = 0")
check.eq(mean, 0)

-- pass@k over repeats: 2 of 4 samples right -> pass@1 = 0.5 (no pass@10 with 4 samples)
local rep = build("humaneval", 2, { repeats = 4 })
check.eq(#rep.samples[1].requests, 4)
local mixed = { canonical[1], wrong[1], canonical[1], wrong[1] }
values = score(rep, { mixed, { canonical[2], canonical[2], canonical[2], canonical[2] } }, "pass@1")
check.eq(values, { 0.5, 1 })
check.eq(rep.scores[1].values["pass@10"], nil)

-- the same with 1 and 2 scoring threads
local function answered(b, texts)
  local out = {}
  for i, s in ipairs(b.samples) do out[i] = { doc = s.doc, doc_id = s.doc_id } end
  local filtered = {}
  for i, s in ipairs(b.samples) do filtered[i] = { s.doc.prompt .. texts[i] } end
  return out, filtered
end
local t = registry.resolve(reg, "humaneval")[1]
local samples, filtered = answered(he, { canonical[1], wrong[2], canonical[3], wrong[4], canonical[5] })
scorer.threads = 1
local one = scorer.run(t, t.metric_specs[1], samples, filtered)
scorer.threads = 2
local two = scorer.run(t, t.metric_specs[1], samples, filtered)
scorer.threads = nil
check.eq(one, two, "1 thread = 2 threads")
check.eq(one["pass@1"], { 1, 0, 1, 0, 1 })

-- mbpp: the dataset's reference code passes the asserts, a wrong function does not
local refs = {}
for i = 1, 5 do refs[i] = mb_docs[i].code end
values, mean, filter = score(mb, refs, "pass_at_1")
check.eq(values, { 1, 1, 1, 1, 1 }, "mbpp reference code: pass_at_1 = 1")
check.eq(filter, "none")
values = score(build("mbpp", 5), { "def remove_Occ(s, ch):\n    return s\n", "", "x = (", "def f():\n  pass",
  "import sys\nsys.exit(0)" }, "pass_at_1")
check.eq(values, { 0, 0, 0, 0, 0 }, "mbpp wrong code: pass_at_1 = 0")

-- all 164 canonical HumanEval solutions, on the scoring threads (timing for the report)
local all = build("humaneval", 164)
local sols = {}
for i = 1, 164 do sols[i] = he_docs[i].canonical_solution end
local monotonic = require("evallua.sys").monotonic
local t0 = monotonic()
scorer.threads = 2
values, mean = score(all, sols, "pass@1")
scorer.threads = nil
local took = monotonic() - t0
check.eq(mean, 1, "every canonical HumanEval solution passes")
print(string.format("164 canonical HumanEval solutions: pass@1 = %s in %.2f s (2 scoring threads)",
  tostring(mean), took))

return check.summary()
