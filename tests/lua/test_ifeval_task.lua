-- The ifeval task: doc 0 renders as lm-eval renders it (ifeval.yaml: doc_to_text: prompt,
-- zero-shot, until: [], max_gen_toks: 1280, greedy), and handcrafted answers to the first
-- three prompts score lm-eval's four metrics. Expected verdicts from lm-eval 0.4.13's
-- utils.test_instruction_following_strict / _loose (see tests/unit/test_ifeval.c):
--   doc 0 (no_comma, 3 highlights, >= 300 words): strict [T, T, F], loose [T, T, F]
--   doc 1 (no_comma):                              strict [F],       loose [T]
--   doc 2 (>= 12 placeholders):                    strict [T],       loose [T]
-- so prompt_level_strict_acc = 1/3, prompt_level_loose_acc = 2/3,
--    inst_level_strict_acc = 3/5,   inst_level_loose_acc = 4/5 (lm-eval's ratio, no stderr).
local check = dofile(os.getenv("EVALLUA_SRC") .. "/tests/lua/check.lua")
local registry = require "evallua.registry"
local runner = require "evallua.runner"

local data_dir = check.data_dir()
if not data_dir then
  print("skip: benchmark data not found (set EVALLUA_TEST_DATA to ../shared/data/hub)")
  return 77
end

if not pcall(require, "evallua.ifeval") then
  io.stderr:write("evallua.ifeval is not registered: add luaopen_evallua_ifeval to core/host/modules.h and "
    .. "host.c's preload table, and \"evallua.ifeval\" to the task sandbox's ALLOWED_MODULES "
    .. "(lua/evallua/registry.lua)\n")
  return 1
end

local reg = registry.load()
local t = registry.resolve(reg, "IFEval")[1]
check.eq(t.name, "ifeval")
local b = runner.build_task(t, { data_dir = data_dir, fewshot_seed = 1234, limit = 3 }, {})
check.eq(b.n_docs, 541)
check.eq(b.n_shot, 0)
local r = b.samples[1].requests[1]
check.eq(r.kind, "generate_until")
check.eq(r.context, "Write a 300+ word summary of the wikipedia page \"https://en.wikipedia.org/wiki/Raymond_III,_Count_of_Tripoli\". Do not use any commas and highlight at least 3 sections that has titles in markdown format, for example *highlighted section part 1*, *highlighted section part 2*, *highlighted section part 3*.")
check.eq(r["until"], {})
check.eq(r.max_tokens, 1280)
check.eq(r.temperature, 0)
check.eq(#b.samples, 3)

-- score three handcrafted answers
local answers = {
  "Raymond III was Count of Tripoli.\n*Early life* He was born in 1140.\n*Rule in Tripoli* He ruled the county for decades.\n*Legacy* He is remembered as a regent of Jerusalem.",
  "Here is my itinerary, good sir:\nOn the first day thou shalt visit Tokyo\nOn the second day thou shalt see Kyoto",
  "[Name]\n[Address] [City] [State] [Zip]\n[Phone] [Email]\nObjective: [objective]\nEducation: [school] [year] [gpa]\nSkills: [skill]",
}
local _, owners = runner.collect({ b })
local responses = {}
for i, o in ipairs(owners) do responses[i] = { ok = true, text = answers[o.sample.doc_id + 1] } end
runner.attach(owners, responses)
runner.score_task(b, { fewshot_seed = 1234, bootstrap_iters = 0 })

local got, stderr = {}, {}
for _, m in ipairs(b.scores[1].metrics) do got[m.spec.name], stderr[m.spec.name] = m.value, m.stderr end
check.near(got.prompt_level_strict_acc, 1 / 3, 1e-12, "prompt_level_strict_acc")
check.near(got.prompt_level_loose_acc, 2 / 3, 1e-12, "prompt_level_loose_acc")
-- lm-eval's agg_inst_level_acc: followed / all instructions over every prompt, no stderr
check.near(got.inst_level_strict_acc, 3 / 5, 1e-12, "inst_level_strict_acc")
check.near(got.inst_level_loose_acc, 4 / 5, 1e-12, "inst_level_loose_acc")
check.eq(stderr.inst_level_strict_acc, nil, "ratio has no stderr")
-- per-sample values, as in the samples file: lm-eval's lists of booleans
check.eq(b.scores[1].values.prompt_level_strict_acc, { 0, 0, 1 })
check.eq(b.scores[1].values.inst_level_strict_acc, { { true, true, false }, { false }, { true } })
check.eq(b.scores[1].values.inst_level_loose_acc, { { true, true, false }, { true }, { true } })

-- the results JSON: a fraction under lm-eval's key, "N/A" stderr as lm-eval writes it
local results = require "evallua.results"
local json = require "evallua.json"
local res = results.build({ b }, { config = {}, start_time = 0, wall_seconds = 0 })
local row = json.decode(json.encode(res)).results.ifeval
check.near(row["inst_level_strict_acc,none"], 0.6, 1e-12, "inst_level_strict_acc,none")
check.near(row["inst_level_loose_acc,none"], 0.8, 1e-12, "inst_level_loose_acc,none")
check.eq(row["inst_level_strict_acc_stderr,none"], "N/A")
check.eq(row["inst_level_loose_acc_stderr,none"], "N/A")
check.ok(type(row["prompt_level_strict_acc_stderr,none"]) == "number", "prompt level keeps its stderr")

-- a group over ifeval averages the fraction, its stderr stays "N/A" (pooled needs all)
local g = { name = "if_group", members = { { name = "ifeval" } }, aggregate_specs = {
  { name = "inst_level_strict_acc", weight_by_size = true } }, version = 1 }
res = results.build({ b }, { config = {}, start_time = 0, wall_seconds = 0, groups = { g } })
check.near(res.results.if_group["inst_level_strict_acc,none"], 0.6, 1e-12, "group of a ratio metric")
check.eq(res.results.if_group["inst_level_strict_acc_stderr,none"], "N/A")
check.ok(#results.table({ b }, { g }, res) > 0, "terminal table with a ratio metric")

-- the samples file holds the per-sample lists
local dir = os.tmpname()
os.remove(dir)
require("evallua.sys").mkdir_p(dir)
local paths = results.write_samples({ b }, dir, "t")
local f = assert(io.open(paths[1]))
local rec = json.decode(f:read("l"))
f:close()
check.eq(rec.inst_level_strict_acc, { true, true, false })
os.execute("rm -rf '" .. dir .. "'")

return check.summary()
