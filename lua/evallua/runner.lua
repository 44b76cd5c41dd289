-- evallua.runner — one evaluation run, stage by stage (DESIGN.md's data flow):
--   tasks -> documents -> prompts and requests (Lua, in bulk) -> backend (C) ->
--   filters and metrics (C, in bulk) -> aggregation -> results.
local docs_mod = require "evallua.docs"
local fewshot = require "evallua.fewshot"
local mc_generative = require "evallua.mc_generative"
local scorer = require "evallua.scorer"
local scoring = require "evallua.scoring"
local task = require "evallua.task"
local util = require "evallua.util"

local M = {}

-- The backend request kind each output type needs.
local NEEDS = {
  multiple_choice = "loglikelihood", loglikelihood = "loglikelihood",
  loglikelihood_rolling = "loglikelihood_rolling", generate_until = "generate_until",
}

--- Fit the tasks to the backend before anything is sent. A multiple-choice task runs its
--- generative variant when mc_mode is "generative", or when the backend cannot score
--- log-likelihoods and mc_mode is not "loglikelihood"; any other task the backend cannot
--- serve is refused with a message naming it. Returns the tasks to run and notes for the
--- terminal.
function M.fit_tasks(tasks, kinds, backend_name, mc_mode)
  if mc_mode ~= nil and mc_mode ~= "loglikelihood" and mc_mode ~= "generative" then
    error(string.format("--mc-mode must be loglikelihood or generative, not '%s'", tostring(mc_mode)), 0)
  end
  local out, notes = {}, {}
  for i, t in ipairs(tasks) do
    local need = NEEDS[t.output_type]
    if t.output_type == "multiple_choice" and (mc_mode == "generative" or (not kinds[need] and mc_mode == nil)) then
      t = mc_generative.derive(t)
      notes[#notes + 1] = string.format("%s: %s%s", t.name, t.note,
        mc_mode == "generative" and "" or (" — the " .. backend_name .. " backend has no log-likelihoods"))
      need = "generate_until"
    end
    if not kinds[need] then
      error(string.format("task '%s' (%s) needs %s scores, which the %s backend cannot give " ..
        "(chat endpoints return no prompt log-probabilities): use --model openai-completions " ..
        "with a /v1/completions server", t.name, t.output_type, need, backend_name), 0)
    end
    out[i] = t
  end
  return out, notes
end

--- The number of few-shot examples for a task under the run's options.
function M.num_fewshot(t, cfg)
  if cfg.num_fewshot ~= nil and not t.zero_shot_only then return cfg.num_fewshot end
  return t.num_fewshot
end

--- Documents and samples (with their requests) for one task.
function M.build_task(t, cfg, cache)
  local data_dir = docs_mod.data_dir(cfg.data_dir)
  local all_docs = docs_mod.eval_docs(t, data_dir, cache)
  local n = docs_mod.apply_limit(#all_docs, cfg.limit)
  local k = M.num_fewshot(t, cfg)
  if cfg.num_fewshot and cfg.num_fewshot ~= k then
    require("evallua.sys").stderr(string.format("note: %s sets num_fewshot = 0 in %s; --num_fewshot %d is ignored for it (as in lm-eval)\n",
      t.name, t.file or "its task file", cfg.num_fewshot))
  end
  local sampler
  if k > 0 then
    local pool = docs_mod.fewshot_pool(t, data_dir, cache)
    local ds = t.dataset
    local exclude = ds.fewshot_split == ds.test_split and not (t.fewshot_config or {}).samples
    sampler = fewshot.new((t.fewshot_config or {}).sampler, pool, exclude, cfg.fewshot_seed)
  end
  local samples = {}
  local opts = {
    system_instruction = cfg.system_instruction, chat_template = cfg.apply_chat_template,
    fewshot_as_multiturn = cfg.fewshot_as_multiturn, gen_kwargs = cfg.gen_kwargs,
    default_max_gen_toks = cfg.default_max_gen_toks,
  }
  for i = 1, n do
    local doc = all_docs[i]
    local shots = sampler and task.call(t, "choosing few-shot examples for", i, sampler.draw, sampler, doc, k) or {}
    local reqs, target, choices = task.call(t, "building the prompt of", i, function()
      return task.requests(t, doc, shots, opts)
    end)
    if t.output_type == "generate_until" then reqs = M.repeat_requests(reqs[1], M.repeats(t, cfg), cfg) end
    samples[i] = { doc_id = i - 1, doc = doc, requests = reqs, target = target, choices = choices }
    if choices then samples[i].gold = target end
  end
  return { task = t, samples = samples, n_docs = #all_docs, n_shot = k, repeats = M.repeats(t, cfg) }
end

--- How many times each generation is repeated: --repeats, else the task's `repeats`.
function M.repeats(t, cfg)
  return cfg.repeats or t.repeats or 1
end

--- One generation request per repeat. Repeat r (0-based) is sent with seed base + r, where
--- base is the task's generation seed or the run's random seed (Evalchemy: seeds 0..9 for
--- AIME24's ten runs); the cache keeps each repeat's answer separately (`repeat`).
function M.repeat_requests(req, n, cfg)
  if n <= 1 then return { req } end
  local base = req.seed or cfg.random_seed or 0
  local out = {}
  for r = 0, n - 1 do
    local copy = util.copy(req)
    copy.seed, copy["repeat"] = base + r, r
    out[r + 1] = copy
  end
  return out
end

--- Flatten every task's requests into one array for the backend; remember where each goes.
function M.collect(built)
  local requests, owners = {}, {}
  for _, b in ipairs(built) do
    for _, s in ipairs(b.samples) do
      for j, r in ipairs(s.requests) do
        requests[#requests + 1] = r
        owners[#owners + 1] = { sample = s, index = j }
      end
    end
  end
  return requests, owners
end

--- Attach responses to their samples; a sample with any failed request is marked failed.
function M.attach(owners, responses)
  for i, o in ipairs(owners) do
    local s, r = o.sample, responses[i]
    s.responses = s.responses or {}
    s.responses[o.index] = r
    if not r or not r.ok then
      s.failed = true
      s.error = s.error or (r and r.error) or "no response"
    end
  end
end

--- The answer part of a reasoning model's output: the text after the last "</think>";
--- "" while a "<think>" block is still open (the answer never came); else the text itself.
function M.strip_reasoning(text)
  local last
  local from = 1
  while true do
    local _, e = string.find(text, "</think>", from, true)
    if not e then break end
    last, from = e, e + 1
  end
  if last then return (string.gsub(string.sub(text, last + 1), "^%s+", "")) end
  if string.find(text, "<think>", 1, true) then return "" end
  return text
end

local function finish_sample(s, t)
  if t.output_type == "generate_until" then
    s.raw_resps, s.resps = {}, {}
    for j, r in ipairs(s.responses) do
      local text = r.text or ""
      s.raw_resps[j] = text
      s.resps[j] = t.keep_reasoning and text or M.strip_reasoning(text)
    end
    s.reasoning = s.responses[1].reasoning
  else
    s.lls, s.greedy = {}, {}
    s.is_greedy = true
    for j, r in ipairs(s.responses) do
      s.lls[j], s.greedy[j] = r.logprob, r.is_greedy
      s.is_greedy = s.is_greedy and r.is_greedy
    end
  end
end

--- Filter and score the answered samples with one pipeline. Returns the entry (filter
--- name, filtered responses, per-sample values) and a list of { spec, values } per metric
--- (custom metrics may produce several).
function M.score_pipeline(t, p, answered, cfg)
  local filtered = t.output_type == "generate_until" and scoring.filter(p, answered) or {}
  local values = scoring.sample_metrics(t, answered, filtered)
  local entry = { filter = p.name, metrics = {}, filtered = filtered, values = values }
  local per_metric = {}
  for _, m in ipairs(t.metric_specs) do
    if m.custom then
      local cvals = scorer.run(t, m, answered, filtered)
      for _, name in ipairs(util.sorted_keys(cvals)) do
        values[name] = cvals[name]
        per_metric[#per_metric + 1] = {
          spec = { name = name, aggregation = m.aggregation, higher_is_better = m.higher_is_better },
          values = cvals[name] }
      end
    else
      per_metric[#per_metric + 1] = { spec = m, values = values[m.name] or {} }
    end
  end
  return entry, per_metric
end

--- Evalchemy's repeats: score each repeat on its own, report the mean of the per-repeat
--- scores with the standard error across repeats (population std / sqrt(repeats)).
--- Per-sample values in the samples file are the mean over the repeats.
function M.score_repeats(t, p, answered, n, cfg)
  local runs, entry = {}, nil
  for r = 1, n do
    local views = {}
    for i, s in ipairs(answered) do
      views[i] = setmetatable({ resps = { s.resps[r] } }, { __index = s })
    end
    local e, per_metric = M.score_pipeline(t, p, views, cfg)
    runs[r] = {}
    for k, m in ipairs(per_metric) do
      runs[r][k] = { spec = m.spec, value = (scoring.aggregate(m.spec, m.values, cfg.fewshot_seed, cfg.bootstrap_iters)) }
    end
    if r == 1 then
      entry = e
      for name, vals in pairs(e.values) do entry.values[name] = { table.unpack(vals) } end
    else
      for name, vals in pairs(e.values) do
        for i, v in ipairs(vals) do entry.values[name][i] = entry.values[name][i] + v end
      end
    end
  end
  for _, vals in pairs(entry.values) do
    for i, v in ipairs(vals) do vals[i] = v / n end
  end
  for k, m in ipairs(runs[1]) do
    local per_run = {}
    for r = 1, n do per_run[r] = runs[r][k].value end
    local mean = 0
    for _, v in ipairs(per_run) do mean = mean + v end
    mean = mean / n
    local var = 0
    for _, v in ipairs(per_run) do var = var + (v - mean) ^ 2 end
    entry.metrics[#entry.metrics + 1] = { spec = m.spec, value = mean, stderr = math.sqrt(var / n) / math.sqrt(n),
      per_repeat = per_run }
  end
  return entry
end

--- Score one task: per filter, per metric value and stderr; per-sample values kept.
function M.score_task(b, cfg)
  local t = b.task
  local answered, failures = {}, {}
  for _, s in ipairs(b.samples) do
    if s.failed then failures[#failures + 1] = s
    else
      finish_sample(s, t)
      answered[#answered + 1] = s
    end
  end
  b.answered, b.failures, b.scores = answered, failures, {}
  local pipelines = t.output_type == "generate_until" and t.filter_specs or { { name = "none", steps = {} } }
  for _, p in ipairs(pipelines) do
    if t.output_type == "generate_until" and t.repeats_mode == "mean" and b.repeats > 1 then
      b.scores[#b.scores + 1] = M.score_repeats(t, p, answered, b.repeats, cfg)
    else
      local entry, per_metric = M.score_pipeline(t, p, answered, cfg)
      for _, m in ipairs(per_metric) do
        local v, se = scoring.aggregate(m.spec, m.values, cfg.fewshot_seed, cfg.bootstrap_iters)
        entry.metrics[#entry.metrics + 1] = { spec = m.spec, value = v, stderr = se }
      end
      b.scores[#b.scores + 1] = entry
    end
  end
  return b
end

return M
