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

-- an error inside score names the item, file and line
check.raises(function() run(4, 2) end, { "item 7", dir .. "/t.lua:12:", "cannot score this one" })

-- an unknown metric name that is no scorer file either
sys.write_file(dir .. "/bad.lua", [[
return { name = "bad", dataset = { path = "me/x", test_split = "test" }, doc_to_text = "{{q}}",
  doc_to_target = "{{a}}", metrics = { "no_such_scorer" } }
]])
check.raises(function() registry.load_file(dir .. "/bad.lua", { dir }) end,
  { "metric 'no_such_scorer'", "scorers/no_such_scorer.lua" })

os.execute("rm -rf '" .. dir .. "'")
return check.summary()
