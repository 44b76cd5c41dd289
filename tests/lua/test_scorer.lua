-- Custom metrics in Lua: inline in a task and from scorers/<name>.lua, run on OpenMP
-- threads with one lua_State per thread; results must not depend on the thread count and
-- must equal a plain serial evaluation of the same function.
local check = dofile(os.getenv("EVALLUA_SRC") .. "/tests/lua/check.lua")
local registry = require "evallua.registry"
local scorer = require "evallua.scorer"
local sys = require "evallua.sys"

local dir = os.tmpname()
os.remove(dir)
sys.mkdir_p(dir .. "/scorers")
sys.write_file(dir .. "/t.lua", [[
return {
  name = "custom",
  dataset = { path = "me/x", test_split = "test" },
  doc_to_text = "{{q}}",
  doc_to_target = "{{answer}}",
  metrics = {
    { "len_ratio", aggregation = "mean", score = function(doc, response)
        return #response / math.max(1, #doc.answer) end },
    "word_f1",
    "contains_answer",
    { "boom", score = function(doc, response)
        if doc.q == "q7" then error("cannot score this one") end
        return 1 end },
  },
}
]])

local t = registry.load_file(dir .. "/t.lua", { dir })[1]
check.eq(#t.metric_specs, 4)
check.ok(t.metric_specs[2].scorer_file and t.metric_specs[2].scorer_file:match("scorers/word_f1%.lua$"), "word_f1 found in <home>/scorers")

-- 300 synthetic answered samples
local samples, filtered = {}, {}
for i = 1, 300 do
  local answer = "the answer is " .. (i % 17)
  samples[i] = { doc = { q = "q" .. i, answer = answer }, doc_id = i - 1 }
  filtered[i] = (i % 3 == 0) and answer or ("maybe " .. (i % 5) .. " is it")
end

local function run(metric_index, threads)
  scorer.threads = threads
  return scorer.run(t, t.metric_specs[metric_index], samples, filtered)
end

-- inline metric: serial reference computed directly with the task's own function
local serial = {}
for i, s in ipairs(samples) do serial[i] = t.metric_specs[1].score(s.doc, filtered[i]) end
-- values cross states as JSON, where 1.0 comes back as the integer 1: compare numerically
local function same_numbers(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end
local one, two = run(1, 1), run(1, 2)
check.ok(same_numbers(one.len_ratio, serial), "inline metric, 1 thread = serial")
check.ok(same_numbers(two.len_ratio, serial), "inline metric, 2 threads = serial")

-- a scorer file returning two metrics
local f1a, f1b = run(2, 1), run(2, 2)
check.eq(f1a, f1b, "word_f1: same with 1 and 2 threads")
check.near(f1a.word_f1[3], 1.0, 1e-12, "identical answer has F1 1")
check.eq(f1a.word_em[3], 1)
-- 'maybe 1 is it' vs 'the answer is 1': 2 common words of 4 and 4 -> P = R = F1 = 0.5
check.near(f1a.word_f1[1], 0.5, 1e-12, "'maybe 1 is it' vs 'the answer is 1'")
check.eq(#f1a.word_f1, 300)
check.eq(run(3, 2).contains_answer[3], 1)

-- an error inside score names the task, metric, document (doc_id 6 is the 7th), file and line
check.raises(function() run(4, 2) end,
  { "task 'custom', metric 'boom', document 6: ", dir .. "/t.lua:12:", "cannot score this one" })
check.raises(function() run(4, 1) end, { "task 'custom', metric 'boom', document 6: " }, "same with 1 thread")

-- Bad input through the engine: the failing metric is reported (task, metric, document) and
-- null in the results; every other metric and task keeps its value.
local runner = require "evallua.runner"
local results = require "evallua.results"
local json = require "evallua.json"
local function built(task, texts)
  local b = { task = task, samples = {}, repeats = 1, n_docs = #texts, n_shot = 0 }
  for i, text in ipairs(texts) do
    b.samples[i] = { doc_id = i - 1, doc = { q = "q" .. i, answer = "a" .. i }, target = "a" .. i,
      requests = { { kind = "generate_until", context = "q" .. i } }, responses = { { ok = true, text = text } } }
  end
  return b
end
local texts = {}
for i = 1, 10 do texts[i] = (i % 2 == 0) and ("a" .. i) or "wrong" end
local other = registry.load_file(dir .. "/t.lua", { dir })[1]
other.name = "other" -- a second task whose metrics all work
other.metric_specs = { other.metric_specs[2], other.metric_specs[3] } -- scorer files
local b1, b2 = built(t, texts), built(other, texts)
scorer.threads = 2
runner.score_task(b1, { fewshot_seed = 1234, bootstrap_iters = 0 })
runner.score_task(b2, { fewshot_seed = 1234, bootstrap_iters = 0 })
check.eq(#b1.metric_errors, 1, "one failed metric")
check.ok(string.find(b1.metric_errors[1], "task 'custom', metric 'boom', document 6: " .. dir .. "/t.lua:12: cannot score this one", 1, true),
  "the error names task, metric, document, file:line: " .. tostring(b1.metric_errors[1]))
local res = json.decode(json.encode(results.build({ b1, b2 }, { config = {}, start_time = 0, wall_seconds = 0 })))
check.eq(res.results.custom["boom,none"], json.null, "the failed metric is null")
check.eq(res.results.custom["boom_stderr,none"], "N/A")
check.eq(res.results.custom.errors, { b1.metric_errors[1] }, "errors kept in the results")
check.near(res.results.custom["word_em,none"], 0.5, 1e-12, "the task's other metrics are kept")
check.near(res.results.custom["contains_answer,none"], 0.5, 1e-12)
check.near(res.results.other["word_em,none"], 0.5, 1e-12, "other tasks are kept")
check.eq(res.results.other.errors, nil)

-- a filter that leaves a response that is not a string: exact_match fails naming the task,
-- metric, filter and document; a custom metric of the same task still gets the value
sys.write_file(dir .. "/nonstr.lua", [[
return { name = "nonstr", dataset = { path = "me/x", test_split = "test" }, doc_to_text = "{{q}}",
  doc_to_target = "{{answer}}",
  filters = { { name = "num", function(resps, doc) return { doc.q == "q3" and 42 or resps[1] } end } },
  metrics = { "exact_match", { "is_number", score = function(doc, response) return type(response) == "number" and 1 or 0 end } } }
]])
local tn = registry.load_file(dir .. "/nonstr.lua", { dir })[1]
local bn = built(tn, texts)
runner.score_task(bn, { fewshot_seed = 1234, bootstrap_iters = 0 })
check.eq(#bn.metric_errors, 1)
check.ok(string.find(bn.metric_errors[1], "task 'nonstr', metric 'exact_match', document 2: the response after filter 'num' is number, not a string", 1, true),
  "non-string response: " .. tostring(bn.metric_errors[1]))
local got = {}
for _, m in ipairs(bn.scores[1].metrics) do got[m.spec.name] = m.value end
check.near(got.is_number, 0.1, 1e-12, "the custom metric still scored")

-- a score function returning something that is not a number names the value's type
sys.write_file(dir .. "/badval.lua", [[
return { name = "badval", dataset = { path = "me/x", test_split = "test" }, doc_to_text = "{{q}}",
  doc_to_target = "{{answer}}",
  metrics = { { "shout", score = function(doc, response) if doc.q == "q2" then return "LOUD" end return 1 end } } }
]])
local tb = registry.load_file(dir .. "/badval.lua", { dir })[1]
check.raises(function() scorer.run(tb, tb.metric_specs[1], samples, filtered) end,
  { "task 'badval', metric 'shout', document 1: score returned string for 'shout'" })

-- an unknown metric name that is no scorer file either
sys.write_file(dir .. "/bad.lua", [[
return { name = "bad", dataset = { path = "me/x", test_split = "test" }, doc_to_text = "{{q}}",
  doc_to_target = "{{a}}", metrics = { "no_such_scorer" } }
]])
check.raises(function() registry.load_file(dir .. "/bad.lua", { dir }) end,
  { "metric 'no_such_scorer'", "task 'bad'", "scorers/no_such_scorer.lua" })
-- an unknown aggregation of a custom metric
sys.write_file(dir .. "/badagg.lua", [[
return { name = "badagg", dataset = { path = "me/x", test_split = "test" }, doc_to_text = "{{q}}",
  doc_to_target = "{{a}}", metrics = { { "m", aggregation = "geomean", score = function() return 1 end } } }
]])
check.raises(function() registry.load_file(dir .. "/badagg.lua", { dir }) end,
  { "badagg.lua", "unknown aggregation 'geomean' of metric 'm'", "ratio" })

os.execute("rm -rf '" .. dir .. "'")
return check.summary()
