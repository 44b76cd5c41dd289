-- Multiple-choice metrics as lm-eval computes them (lm_eval/api/task.py,
-- ConfigurableTask.construct_requests and process_results for output_type
-- multiple_choice; lm_eval/tasks/truthfulqa/utils.py process_results_mc2), the requests
-- acc_mutual_info adds, the truthfulqa tasks and group, and the "ratio" aggregation.
-- Expected values are worked out by hand from those formulas:
--   acc             argmax(ll) == gold
--   acc_norm        argmax(ll / len(choice))            (code points, no delimiter)
--   acc_bytes       argmax(ll / len(choice.encode()))   (UTF-8 bytes)
--   acc_mutual_info argmax(ll(ctx, " c") - ll("", " c")) (numpy argmax: first maximum)
--   mc2             Σexp(ll_true) / (Σexp(ll_true) + Σexp(ll_false)), true = before the
--                   first 0 label
local check = dofile(os.getenv("EVALLUA_SRC") .. "/tests/lua/check.lua")
local registry = require "evallua.registry"
local results = require "evallua.results"
local runner = require "evallua.runner"
local score = require "evallua.score"
local scoring = require "evallua.scoring"
local sys = require "evallua.sys"

-- acc / acc_norm / acc_bytes disagree: "café" is 4 code points but 5 bytes.
--   lls {-4.6, -4.2, -5.5}, choices {"café", "cafe", "xyz12"}
--   raw: argmax = 1; per char: -1.15, -1.05, -1.1 -> 1; per byte: -0.92, -1.05, -1.1 -> 0
-- mutual info, sample 1: uncond {-3, -1, -2}: -1.6, -3.2, -3.5 -> 0 (gold 0: 1)
--              sample 2: uncond {-1, -3, -2}: -3.6, -1.2, -3.5 -> 1 (gold 0: 0)
do
  local lls = { { -4.6, -4.2, -5.5 }, { -4.6, -4.2, -5.5 } }
  local choices = { { "café", "cafe", "xyz12" }, { "café", "cafe", "xyz12" } }
  local acc, norm, bytes, mi = score.multiple_choice(lls, choices, { 0, 0 },
    { { -3, -1, -2 }, { -1, -3, -2 } })
  check.eq(acc, { 0, 0 }, "acc")
  check.eq(norm, { 0, 0 }, "acc_norm")
  check.eq(bytes, { 1, 1 }, "acc_bytes")
  check.eq(mi, { 1, 0 }, "acc_mutual_info")
  -- gold 1: acc and acc_norm right, acc_bytes wrong
  acc, norm, bytes, mi = score.multiple_choice(lls, choices, { 1, 1 })
  check.eq({ acc[1], norm[1], bytes[1], mi }, { 1, 1, 0, nil }, "no lls_uncond: no acc_mutual_info")
  -- ties go to the lowest index (numpy argmax): equal differences -> 0
  local _, _, _, tie = score.multiple_choice({ { -2, -3 } }, { { "a", "b" } }, { 1 }, { { -1, -2 } })
  check.eq(tie, { 0 }, "mutual-info tie -> first index")
  -- several gold indices: right when the argmax is any of them
  _, _, bytes = score.multiple_choice({ lls[1] }, { choices[1] }, { { 2, 0 } })
  check.eq(bytes, { 1 }, "acc_bytes with a list of golds")
  check.raises(function() score.multiple_choice(lls, choices, { 0, 0 }, { { -1, -2 } }) end,
    { "lls_uncond and lls differ" })
  check.raises(function() score.multiple_choice(lls, choices, { 0, 0 }, { { -1, -2 }, { -1, -2 } }) end,
    { "sample 1", "2 unconditional" })
end

-- mc2: lls {-1, -2, -0.5, -3}, the first two true. Python:
--   p = [exp(x) for x in lls]; d = sum(p[:2]) + sum(p[2:]); sum([x / d for x in p[:2]])
--   -> 0.4339807163896718
do
  local v = score.mc2({ { -1, -2, -0.5, -3 }, { -0.1, -9 } }, { { 0, 1 }, 0 })
  check.near(v[1], 0.4339807163896718, 1e-15, "mc2")
  check.near(v[2], math.exp(-0.1) / (math.exp(-0.1) + math.exp(-9)), 1e-15, "mc2 with one true answer")
  check.raises(function() score.mc2({ { -1, -2 } }, { { 0, 5 } }) end, { "gold 5 is not a choice index" })
end

-- A multiple-choice task: acc_mutual_info adds (""; target_delimiter .. choice) requests after
-- the document's own, only when the task asks for it; the metrics land in results.
local dir = os.tmpname()
os.remove(dir)
sys.mkdir_p(dir .. "/data/me/mc/default")
sys.write_file(dir .. "/data/me/mc/default/test.jsonl",
  '{"q": "Pick", "choices": ["café", "cafe", "xyz12"], "gold": 0}\n' ..
  '{"q": "Pick again", "choices": ["café", "cafe", "xyz12"], "gold": 0}\n')
local function task_file(name, metrics)
  local path = dir .. "/" .. name .. ".lua"
  sys.write_file(path, string.format([[
return { name = "%s", dataset = { path = "me/mc", test_split = "test" }, output_type = "multiple_choice",
  doc_to_text = "{{q}}:", doc_to_choice = "{{choices}}", doc_to_target = "{{gold}}", metrics = %s }
]], name, metrics))
  return registry.load_file(path, { dir })[1]
end
local cfg = { data_dir = dir .. "/data", fewshot_seed = 1234, bootstrap_iters = 0 }

do
  local plain = runner.build_task(task_file("plain", '{ "acc", "acc_bytes" }'), cfg, {})
  check.eq(#plain.samples[1].requests, 3, "no unconditional requests without acc_mutual_info")
  local t = task_file("mi", '{ "acc", "acc_norm", "acc_bytes", "acc_mutual_info" }')
  local b = runner.build_task(t, cfg, {})
  local reqs = b.samples[1].requests
  check.eq(#reqs, 6, "3 conditional + 3 unconditional requests")
  check.eq({ reqs[1].context, reqs[1].continuation }, { "Pick:", " café" })
  for i, c in ipairs { " café", " cafe", " xyz12" } do
    check.eq({ reqs[3 + i].kind, reqs[3 + i].context, reqs[3 + i].continuation }, { "loglikelihood", "", c },
      "unconditional request " .. i)
  end
  -- answer with the fixture above: doc 0 gets uncond {-3, -1, -2}, doc 1 {-1, -3, -2}
  local _, owners = runner.collect({ b })
  local ll = { -4.6, -4.2, -5.5 }
  local uncond = { [0] = { -3, -1, -2 }, [1] = { -1, -3, -2 } }
  local resps = {}
  for k, o in ipairs(owners) do
    local v = o.index <= 3 and ll[o.index] or uncond[o.sample.doc_id][o.index - 3]
    resps[k] = { ok = true, logprob = v, is_greedy = false }
  end
  runner.attach(owners, resps)
  runner.score_task(b, cfg)
  local got = {}
  for _, m in ipairs(b.scores[1].metrics) do got[m.spec.name] = m.value end
  check.eq(got, { acc = 0.0, acc_norm = 0.0, acc_bytes = 1.0, acc_mutual_info = 0.5 }, "task metrics")
  check.eq(b.samples[1].lls, ll, "conditional lls kept apart")
  check.eq(b.samples[1].lls_uncond, { -3, -1, -2 })
  local res = results.build({ b }, { config = {}, start_time = 0, wall_seconds = 0 })
  check.near(res.results.mi["acc_mutual_info,none"], 0.5, 0, "acc_mutual_info,none")
  check.near(res.results.mi["acc_mutual_info_stderr,none"], 0.5, 1e-12, "sample stderr of {1, 0}")
  check.eq(res.results.mi["acc_bytes,none"], 1.0)
end

-- truthfulqa_mc2 (lm-eval's truthfulqa_mc2.yaml): the mc1 prompt, mc2_targets choices, the
-- true answers before the first 0 label, reported as "acc"; the truthfulqa group.
local data_dir = check.data_dir()
if data_dir then
  local reg = registry.load()
  local t = registry.resolve(reg, "truthfulqa_mc2")[1]
  local b = runner.build_task(t, { data_dir = data_dir, fewshot_seed = 1234, limit = 2, bootstrap_iters = 0 }, {})
  check.eq(b.n_docs, 817)
  local s = b.samples[1]
  local doc = s.doc
  local mc1 = runner.build_task(registry.resolve(reg, "truthfulqa_mc1")[1], { data_dir = data_dir, limit = 1 }, {})
  check.eq(s.requests[1].context, mc1.samples[1].requests[1].context, "mc2 shares mc1's prompt")
  check.ok(string.find(s.requests[1].context, "\n\nQ: " .. doc.question .. "\nA:", 1, true), "prompt ends with the question")
  check.eq(#s.requests, #doc.mc2_targets.choices)
  check.eq(s.requests[2].continuation, " " .. doc.mc2_targets.choices[2])
  local n_true = 0
  while doc.mc2_targets.labels[n_true + 1] == 1 do n_true = n_true + 1 end
  local golds = {}
  for i = 1, n_true do golds[i] = i - 1 end
  check.eq(s.gold, golds, "golds = the choices before the first 0 label")
  -- answer: choice i gets ll -i
  local _, owners = runner.collect({ b })
  local resps = {}
  for k, o in ipairs(owners) do resps[k] = { ok = true, logprob = -o.index, is_greedy = false } end
  runner.attach(owners, resps)
  runner.score_task(b, { fewshot_seed = 1234, bootstrap_iters = 0 })
  local function mc2_of(d)
    local pt, pf = 0, 0
    local split = 0
    while d.mc2_targets.labels[split + 1] == 1 do split = split + 1 end
    for i = 1, #d.mc2_targets.choices do
      if i <= split then pt = pt + math.exp(-i) else pf = pf + math.exp(-i) end
    end
    local acc = 0
    for i = 1, split do acc = acc + math.exp(-i) / (pt + pf) end
    return acc
  end
  local m = b.scores[1].metrics[1]
  check.eq(m.spec.name, "acc", "reported as acc, as lm-eval")
  check.near(m.value, (mc2_of(b.samples[1].doc) + mc2_of(b.samples[2].doc)) / 2, 1e-12, "truthfulqa_mc2 acc")
  -- the group: gen, mc1 and mc2, and no aggregated score (no aggregate_metric_list in lm-eval)
  local members, groups = registry.resolve(reg, "truthfulqa")
  local names = {}
  for i, mt in ipairs(members) do names[i] = mt.name end
  table.sort(names)
  check.eq(names, { "truthfulqa_gen", "truthfulqa_mc1", "truthfulqa_mc2" })
  check.eq(groups[1].no_aggregate, true)
  local res = results.build({ b }, { config = {}, start_time = 0, wall_seconds = 0, groups = groups })
  check.eq(res.results.truthfulqa, { alias = "truthfulqa" }, "no aggregated row")
  check.ok(type(results.table({ b }, groups, res)) == "string", "table with an empty group")
else
  print("skip: truthfulqa data not found (set EVALLUA_TEST_DATA to ../shared/data/hub)")
end

-- ratio (lm-eval's agg_inst_level_acc): Σtrue / Σcount over every sample's list; also
-- { num =, den = }; nothing to count -> nil. No stderr.
do
  local spec = { name = "r", aggregation = "ratio" }
  local v, se = scoring.aggregate(spec, { { true, false, true }, { false }, { true, true } })
  check.near(v, 4 / 6, 1e-15, "ratio of lists")
  check.eq(se, nil, "ratio has no stderr")
  check.near(scoring.aggregate(spec, { { num = 1, den = 4 }, { num = 2, den = 2 } }), 3 / 6, 1e-15, "{num, den}")
  check.eq(scoring.aggregate(spec, { {}, {} }), nil, "no instructions at all")
end

-- ratio under Evalchemy-style repeats (repeats_mode "mean"): each repeat aggregated on its
-- own, then averaged; a group naming a metric no member reports says so.
do
  sys.write_file(dir .. "/data/me/mc/default/test.jsonl",
    '{"q": "a", "n": 2}\n{"q": "b", "n": 3}\n')
  sys.write_file(dir .. "/rep.lua", [[
return { name = "rep_ratio", dataset = { path = "me/mc", test_split = "test" }, doc_to_text = "{{q}}",
  doc_to_target = "x", repeats = 2, repeats_mode = "mean",
  metrics = { { "items", aggregation = "ratio", score = function(doc, response)
    local out = {}
    for i = 1, doc.n do out[i] = (response == "good") or (i == 1) end
    return { items_ok = out }
  end } } }
]])
  local t = registry.load_file(dir .. "/rep.lua", { dir })[1]
  local b = runner.build_task(t, cfg, {})
  local _, owners = runner.collect({ b })
  local resps = {}
  -- repeat 1: doc a good, doc b bad -> (2 + 1) / 5; repeat 2: both good -> 5 / 5
  for k, o in ipairs(owners) do
    resps[k] = { ok = true, text = (o.index == 2 or o.sample.doc_id == 0) and "good" or "bad" }
  end
  runner.attach(owners, resps)
  runner.score_task(b, cfg)
  local m = b.scores[1].metrics[1]
  check.eq(m.spec.name, "items_ok")
  check.near(m.value, (3 / 5 + 1) / 2, 1e-12, "ratio per repeat, then the mean")
  check.eq(#b.metric_errors, 0)
  local g = { name = "g", members = { { name = "rep_ratio" } }, version = 1,
    aggregate_specs = { { name = "items_okk", weight_by_size = true } } }
  local res = results.build({ b }, { config = {}, start_time = 0, wall_seconds = 0, groups = { g } })
  check.eq(res.results.g.errors, { "group 'g': no member task reports metric 'items_okk'" })
end

os.execute("rm -rf '" .. dir .. "'")
return check.summary()
