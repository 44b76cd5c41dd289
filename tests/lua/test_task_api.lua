-- Task API tests: validation errors name the file, line and field; templates; few-shot
-- samplers; errors in task code name the task, phase and document.
local check = dofile(os.getenv("EVALLUA_SRC") .. "/tests/lua/check.lua")
local registry = require "evallua.registry"
local runner = require "evallua.runner"
local sys = require "evallua.sys"
local task = require "evallua.task"
local template = require "evallua.template"
local fewshot = require "evallua.fewshot"

local dir = os.tmpname()
os.remove(dir)
sys.mkdir_p(dir .. "/tasks")
sys.mkdir_p(dir .. "/data/me/toy/default")

local function write(name, text)
  local p = dir .. "/tasks/" .. name
  sys.write_file(p, text)
  return p
end

-- a tiny dataset in the HF layout
sys.write_file(dir .. "/data/me/toy/default/test.jsonl",
  '{"q": "2+2", "a": "4", "opts": ["3", "4"], "gold": 1}\n{"q": "1+1", "a": "2", "opts": ["2", "5"], "gold": 0}\n{"q": "3+3", "a": "6", "opts": ["6", "7"], "gold": 0}\n')

local good = [[
return {
  name = "toy",
  dataset = { path = "me/toy", test_split = "test" },
  output_type = "multiple_choice",
  doc_to_text = "Q: {{q}}\nA:",
  doc_to_choice = "{{opts}}",
  doc_to_target = "{{gold}}",
  num_fewshot = 1,
}
]]

-- unknown field: named with file:line and a suggestion
do
  local p = write("typo.lua", (good:gsub("doc_to_text =", "doc_to_txt =")))
  check.raises(function() registry.load_file(p) end,
    { p .. ":5:", "unknown field 'doc_to_txt'", "did you mean 'doc_to_text'" })
end

-- missing required field
do
  local p = write("missing.lua", (good:gsub('  doc_to_target = "{{gold}}",\n', "")))
  check.raises(function() registry.load_file(p) end, { p, "missing required field 'doc_to_target'" })
end

-- wrong type and bad output_type
do
  local p = write("badtype.lua", (good:gsub("num_fewshot = 1", 'num_fewshot = "five"')))
  check.raises(function() registry.load_file(p) end, { p .. ":8:", "'num_fewshot' must be a number" })
  local q = write("badot.lua", (good:gsub('"multiple_choice"', '"multiple_choise"')))
  check.raises(function() registry.load_file(q) end, { q .. ":4:", "unknown output_type 'multiple_choise'" })
end

-- a Lua syntax error names file:line
do
  local p = write("syntax.lua", "return {\n  name = 'x',\n  doc_to_text = 'a' 'b'\n}\n")
  check.raises(function() registry.load_file(p) end, { p .. ":3:" })
end

-- a runtime error inside doc_to_text names the task, phase and document index
do
  local p = write("boom.lua", [[
return {
  name = "boom",
  dataset = { path = "me/toy", test_split = "test" },
  doc_to_text = function(doc)
    if doc.q == "1+1" then error("no addition today") end
    return doc.q
  end,
  doc_to_target = "{{a}}",
}
]])
  local t = registry.load_file(p)[1]
  check.raises(function() runner.build_task(t, { data_dir = dir .. "/data", fewshot_seed = 1234 }, {}) end,
    { "task 'boom'", "building the prompt of document 1", p .. ":5:", "no addition today" })
end

-- task scripts get no io/os
do
  local p = write("sandbox.lua", "local f = io.open('/etc/passwd')\nreturn {}\n")
  check.raises(function() registry.load_file(p) end, { p .. ":1:", "io" })
end

-- a valid task: few-shot from the test split excludes the evaluated document
do
  local p = write("toy.lua", good)
  local t = registry.load_file(p)[1]
  local b = runner.build_task(t, { data_dir = dir .. "/data", fewshot_seed = 1234 }, {})
  check.eq(#b.samples, 3)
  for i, s in ipairs(b.samples) do
    local ctx = s.requests[1].context
    check.ok(not string.find(ctx, "Q: " .. s.doc.q .. "\nA: ", 1, true), "doc " .. i .. " is not its own example")
    check.eq(#s.requests, 2)
  end
  check.eq(b.samples[1].requests[2].continuation, " 4")
  check.eq(b.samples[1].gold, 1)
  -- missing split: the error names the task and the path expected
  t.dataset.test_split = "validation"
  check.raises(function() runner.build_task(t, { data_dir = dir .. "/data", fewshot_seed = 1234 }, {}) end,
    { "task 'toy'", "me/toy/default/validation.jsonl" })
end

-- templates: dotted paths, 0-based indices, lists, Python-style values, missing fields
do
  local doc = { a = { b = { "x", "y" } }, n = 3, f = 2.5, t = true, s = "hi" }
  check.eq(template.render("{{a.b[1]}}-{{n}}-{{f}}-{{t}}", doc), "y-3-2.5-True")
  check.eq(template.render("{{a.b}}", doc), { "x", "y" })
  check.eq(template.render("{{ s }}!", doc), "hi!")
  check.raises(function() template.render("{{nope}}", doc) end, { "has no field 'nope'" })
end

-- samplers: first_n keeps pool order; random reproduces CPython's random.Random(1234).sample
-- (python3: r=random.Random(1234); [r.sample(range(100),6) for _ in range(2)]
--  -> [[99, 56, 14, 0, 11, 74], [4, 85, 88, 10, 12, 98]])
do
  local pool = {}
  for i = 1, 100 do pool[i] = { id = i - 1 } end
  local s = fewshot.new("first_n", pool, false, 1234)
  check.eq(s:draw({}, 3)[3].id, 2)
  local r = fewshot.new("random", pool, false, 1234)
  local ids = function(list) local o = {} for i, d in ipairs(list) do o[i] = d.id end return o end
  check.eq(ids(r:draw({}, 6)), { 99, 56, 14, 0, 11, 74 })
  check.eq(ids(r:draw({}, 6)), { 4, 85, 88, 10, 12, 98 })
  -- exclude_doc: draws n+1 and drops the evaluated doc (pool[100] has id 99, drawn first)
  local e = fewshot.new("random", pool, true, 1234)
  check.eq(ids(e:draw(pool[100], 5)), { 56, 14, 0, 11, 74 })
end

-- metric validation: a metric the output type cannot compute is named
check.raises(function()
  task.validate({ name = "m", dataset = { path = "x", test_split = "t" }, doc_to_text = "a",
    doc_to_target = "b", metrics = { "acc_norm" } }, "inline.lua")
end, { "metric 'acc_norm' is not available for output_type 'generate_until'" })

-- multiple-input (winogrande-style): doc_to_text gives the gold context index, the choices
-- are contexts, every request scores the same continuation; few-shot examples show the
-- correct context + target_delimiter + target
do
  sys.write_file(dir .. "/data/me/toy/default/wino.jsonl",
    '{"s": "The cup fell because _ was slippery.", "o1": "the cup", "o2": "the table", "ans": "1"}\n' ..
    '{"s": "Sam thanked Max because _ helped.", "o1": "Sam", "o2": "Max", "ans": "2"}\n')
  local p = write("wino.lua", [[
local function split(doc) local i = doc.s:find("_", 1, true) return doc.s:sub(1, i - 1), doc.s:sub(i + 1) end
return {
  name = "wino", dataset = { path = "me/toy", test_split = "wino" }, output_type = "multiple_choice",
  doc_to_text = function(doc) return math.tointeger(tonumber(doc.ans)) - 1 end,
  doc_to_choice = function(doc) local pre = split(doc) return { pre .. doc.o1, pre .. doc.o2 } end,
  doc_to_target = function(doc) local _, post = split(doc) return (post:gsub("^ ", "")) end,
  num_fewshot = 1, fewshot_config = { sampler = "first_n" }, metrics = { "acc" },
}
]])
  local t = registry.load_file(p)[1]
  local b = runner.build_task(t, { data_dir = dir .. "/data", fewshot_seed = 1234 }, {})
  local s2 = b.samples[2]
  check.eq(s2.gold, 1)
  check.eq(#s2.requests, 2)
  check.eq(s2.requests[1].continuation, " helped.")
  check.eq(s2.requests[1].context, "The cup fell because the cup was slippery.\n\nSam thanked Max because Sam")
  check.eq(s2.requests[2].context, "The cup fell because the cup was slippery.\n\nSam thanked Max because Max")
end

-- the generative variant of a multiple-choice task (chat endpoints)
do
  local mcg = require "evallua.mc_generative"
  local score = require "evallua.score"
  local t = task.validate({ name = "g", dataset = { path = "me/toy", test_split = "test" },
    output_type = "multiple_choice", doc_to_text = "Question: {{q}}\nAnswer:", doc_to_choice = "{{opts}}",
    doc_to_target = "{{gold}}" }, "inline.lua")
  local g = mcg.derive(t)
  local doc = { q = "2+2", opts = { "3", "4" }, gold = 1 }
  check.eq(task.doc_text(g, doc), "Question: 2+2\nA. 3\nB. 4\nAnswer:")
  check.eq(task.doc_target(g, doc), "B")
  local letters = task.validate({ name = "l", dataset = { path = "me/toy", test_split = "test" },
    output_type = "multiple_choice", doc_to_text = "{{q}}\nA. x\nB. y\nAnswer:", doc_to_choice = { "A", "B" },
    doc_to_target = "{{gold}}" }, "inline.lua")
  check.eq(task.doc_text(mcg.derive(letters), doc), "2+2\nA. x\nB. y\nAnswer:", "letter choices are not listed twice")
  local got = score.filter_regex({ "The answer is (C).", "B. Because", "Answer: D", "**A**", "I think so", "the answer is b" },
    mcg.LETTER_PATTERN, 0, "[invalid]")
  check.eq(got, { "C", "B", "D", "A", "[invalid]", "[invalid]" })
end

-- repeats: one request per repeat with seeds base+r; Evalchemy's mean over repeats with the
-- stderr across repeats (population std / sqrt(n)); lm-eval's majority_vote filter
do
  local base = [[
return {
  name = "rep", dataset = { path = "me/toy", test_split = "test" },
  doc_to_text = "Q: {{q}}\nA:", doc_to_target = "{{a}}", repeats = 3, %s
  metrics = { "exact_match" },
}
]]
  local t = registry.load_file(write("rep.lua", string.format(base, 'repeats_mode = "mean",')))[1]
  local b = runner.build_task(t, { data_dir = dir .. "/data", fewshot_seed = 1234, random_seed = 0 }, {})
  check.eq(#b.samples[1].requests, 3)
  check.eq({ b.samples[2].requests[1].seed, b.samples[2].requests[3].seed, b.samples[2].requests[3]["repeat"] }, { 0, 2, 2 })
  -- doc i (1..3), repeat r (1..3) is right when (i + r) is even
  local function answer(bt)
    local requests, owners = runner.collect({ bt })
    local resps = {}
    for k, o in ipairs(owners) do
      local s, r = o.sample, o.index
      resps[k] = { ok = true, text = ((s.doc_id + 1 + r) % 2 == 0) and s.doc.a or "wrong" }
    end
    runner.attach(owners, resps)
    runner.score_task(bt, { fewshot_seed = 1234 })
    return bt.scores[1].metrics[1]
  end
  local m = answer(b)
  -- per-run accuracy: r=1: docs 1,3 right (2/3); r=2: doc 2 (1/3); r=3: docs 1,3 (2/3)
  local runs = { 2 / 3, 1 / 3, 2 / 3 }
  local mean = (runs[1] + runs[2] + runs[3]) / 3
  local var = ((runs[1] - mean) ^ 2 + (runs[2] - mean) ^ 2 + (runs[3] - mean) ^ 2) / 3
  check.near(m.value, mean, 1e-12, "mean over repeats")
  check.near(m.stderr, math.sqrt(var) / math.sqrt(3), 1e-12, "stderr across repeats")
  check.eq(#m.per_repeat, 3)
  -- filter mode with majority_vote: doc 1 right in 2 of 3, doc 2 in 1 of 3, doc 3 in 2 of 3
  local t2 = registry.load_file(write("rep2.lua", string.format(base,
    'filters = { { name = "maj", { "majority_vote" }, { "take_first" } } },')))[1]
  local m2 = answer(runner.build_task(t2, { data_dir = dir .. "/data", fewshot_seed = 1234, random_seed = 0 }, {}))
  check.near(m2.value, 2 / 3, 1e-12, "majority vote")
end

-- gen_prefix (lm-eval): after the question with target_delimiter, before few-shot answers
do
  local t = registry.load_file(write("gp.lua", [[
return { name = "gp", dataset = { path = "me/toy", test_split = "test" }, doc_to_text = "Q: {{q}}",
  doc_to_target = "{{a}}", gen_prefix = "The answer is", num_fewshot = 1, fewshot_config = { sampler = "first_n" } }
]]))[1]
  local b = runner.build_task(t, { data_dir = dir .. "/data", fewshot_seed = 1234 }, {})
  check.eq(b.samples[2].requests[1].context, "Q: 2+2 The answer is 4\n\nQ: 1+1 The answer is")
end

-- reasoning models: the answer is what follows the last </think>
check.eq(runner.strip_reasoning("<think>a #### 1</think>\n#### 2"), "#### 2")
check.eq(runner.strip_reasoning("<think>x</think> y <think>z</think> w"), "w")
check.eq(runner.strip_reasoning("<think>never closed #### 3"), "")
check.eq(runner.strip_reasoning("plain #### 4"), "plain #### 4")

-- groups: resolution expands members (nested), aggregation is lm-eval's size-weighted mean
-- with the pooled stderr: sqrt(sum((n_i - 1) * se_i^2 * n_i) / (sum n_i - k) / sum n_i)
do
  local gdir = dir .. "/groups"
  sys.mkdir_p(gdir)
  sys.write_file(gdir .. "/g.lua", [[
local function toy(name) return { name = name, dataset = { path = "me/toy", test_split = "test" },
  output_type = "multiple_choice", doc_to_text = "{{q}}", doc_to_choice = "{{opts}}", doc_to_target = "{{gold}}",
  metrics = { "acc" } } end
return {
  toy("toy_a"), toy("toy_b"), toy("toy_c"),
  { group = "inner", tasks = { "toy_a", "toy_b" }, aggregate = { { "acc", weight_by_size = true } } },
  { group = "outer", aliases = { "OUT" }, tasks = { "inner", "toy_c" } },
}
]])
  local reg = registry.load({ gdir })
  local tasks, groups = registry.resolve(reg, "out")
  check.eq(#tasks, 3)
  check.eq(groups[1].name, "inner")
  check.eq(groups[2].name, "outer")
  local results = require "evallua.results"
  local out = { results = {
      toy_a = { ["acc,none"] = 0.5, ["acc_stderr,none"] = 0.1 },
      toy_b = { ["acc,none"] = 0.8, ["acc_stderr,none"] = 0.2 },
      toy_c = { ["acc,none"] = 0.2, ["acc_stderr,none"] = "N/A" } },
    groups = {}, group_subtasks = {}, versions = {},
    higher_is_better = { toy_a = { acc = true }, toy_b = { acc = true }, toy_c = { acc = true } } }
  local built = {}
  for name, n in pairs { toy_a = 10, toy_b = 30, toy_c = 20 } do
    local answered = {}
    for i = 1, n do answered[i] = {} end
    built[#built + 1] = { task = { name = name }, answered = answered }
  end
  results.aggregate_groups(groups, out, built)
  check.near(out.groups.inner["acc,none"], (0.5 * 10 + 0.8 * 30) / 40, 1e-12, "inner weighted mean")
  local pooled = math.sqrt((9 * 0.01 * 10 + 29 * 0.04 * 30) / (40 - 2) / 40)
  check.near(out.groups.inner["acc_stderr,none"], pooled, 1e-12, "inner pooled stderr")
  check.near(out.groups.outer["acc,none"], (0.725 * 40 + 0.2 * 20) / 60, 1e-12, "outer weighted mean")
  check.eq(out.groups.outer["acc_stderr,none"], "N/A", "N/A propagates")
  check.eq(out.group_subtasks.outer, { "inner", "toy_c" })
end

os.execute("rm -rf '" .. dir .. "'")
return check.summary()
