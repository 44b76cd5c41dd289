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
  local generate = t.output_type == "generate_until"
  local opts = {
    system_instruction = cfg.system_instruction, chat_template = cfg.apply_chat_template,
    fewshot_as_multiturn = cfg.fewshot_as_multiturn, gen_kwargs = cfg.gen_kwargs,
    default_max_gen_toks = cfg.default_max_gen_toks,
  }
  -- the same for every document: the generation arguments, repeats, acc_mutual_info
  if generate then opts.gen_args = task.gen_args(t, cfg.gen_kwargs, cfg.default_max_gen_toks) end
  local repeats = M.repeats(t, cfg)
  local uncond = t.output_type == "multiple_choice" and scoring.uses(t, "acc_mutual_info")
  local no_shots = {}
  for i = 1, n do
    local doc = all_docs[i]
    local shots = sampler and task.call(t, "choosing few-shot examples for", i, sampler.draw, sampler, doc, k) or no_shots
    local ok, reqs, target, choices = pcall(task.requests_unprotected, t, doc, shots, opts)
    if not ok then -- again, with the messages that name the document, its file and line
      reqs, target, choices = task.call(t, "building the prompt of", i, task.requests, t, doc, shots, opts)
    end
    if generate and repeats > 1 then reqs = M.repeat_requests(reqs[1], repeats, cfg) end
    if uncond then M.add_unconditional(t, reqs, choices) end
    local s = { doc_id = i - 1, doc = doc, requests = reqs, target = target, choices = choices,
                n_uncond = uncond and #choices or 0 }
    if choices then s.gold = target end
    samples[i] = s
  end
  return { task = t, samples = samples, n_docs = #all_docs, n_shot = k, repeats = repeats }
end

--- acc_mutual_info's extra requests, appended after a multiple-choice document's own: for
--- each choice the log-likelihood of target_delimiter .. choice after an empty context
--- (lm-eval's construct_requests; the backend conditions an empty context on BOS/EOS).
--- For a multiple-input task (winogrande) the "choices" are the contexts, as in lm-eval.
function M.add_unconditional(t, reqs, choices)
  local n = #reqs
  for i, c in ipairs(choices) do
    reqs[n + i] = { kind = "loglikelihood", context = "", continuation = t.target_delimiter .. c }
  end
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

-- owners[i] of M.collect: { sample =, index = }, made when asked for (attach reads the two
-- arrays behind it).
local OWNERS_MT = {
  __index = function(o, i)
    local s = o.samples[i]
    return s and { sample = s, index = o.index[i] } or nil
  end,
  __len = function(o) return #o.samples end,
}

--- Flatten every task's requests into one array for the backend; remember where each goes:
--- owners[i] = { sample = the sample of request i, index = its place in sample.requests }.
function M.collect(built)
  local requests, samples, index, n = {}, {}, {}, 0
  for _, b in ipairs(built) do
    local bs = b.samples
    for k = 1, #bs do
      local s = bs[k]
      local reqs = s.requests
      for j = 1, #reqs do
        n = n + 1
        requests[n], samples[n], index[n] = reqs[j], s, j
      end
    end
  end
  return requests, setmetatable({ samples = samples, index = index }, OWNERS_MT)
end

--- Attach responses to their samples; a sample with any failed request is marked failed.
--- owners: M.collect's, or a list of { sample =, index = }.
function M.attach(owners, responses)
  local samples, index = owners.samples, owners.index
  if not samples then
    samples, index = {}, {}
    for i, o in ipairs(owners) do samples[i], index[i] = o.sample, o.index end
  end
  for i = 1, #samples do
    local s, j, r = samples[i], index[i], responses[i]
    local got = s.responses
    if not got then
      got = {}
      s.responses = got
    end
    got[j] = r
    if not r or not r.ok then
      s.failed = true
      local msg = (r and r.error) or "no response"
      if (s.n_uncond or 0) > 0 and j > #s.requests - s.n_uncond then
        msg = "acc_mutual_info's unconditional request (empty context): " .. msg
      end
      s.error = s.error or msg
    end
  end
end

--- The answer part of a reasoning model's output: the text after the last "</think>";
--- "" while a "<think>" block is still open (the answer never came); else the text itself.
function M.strip_reasoning(text)
  if not string.find(text, "think>", 1, true) then return text end -- neither tag: as it is
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
    local raw, resps, keep, responses = {}, {}, t.keep_reasoning, s.responses
    for j = 1, #responses do
      local r = responses[j]
      if r == nil then break end -- as ipairs: up to the first missing response
      local text = r.text or ""
      raw[j] = text
      resps[j] = keep and text or M.strip_reasoning(text)
    end
    s.raw_resps, s.resps = raw, resps
    s.reasoning = s.responses[1].reasoning
  else
    s.lls, s.greedy = {}, {}
    s.is_greedy = true
    for j, r in ipairs(s.responses) do
      s.lls[j], s.greedy[j] = r.logprob, r.is_greedy
      s.is_greedy = s.is_greedy and r.is_greedy
    end
    if (s.n_uncond or 0) > 0 then -- acc_mutual_info: the unconditional lls come last
      local n = #s.lls - s.n_uncond
      s.lls_all, s.greedy_all = s.lls, s.greedy
      s.lls, s.greedy, s.lls_uncond = {}, {}, {}
      for j = 1, n do s.lls[j], s.greedy[j] = s.lls_all[j], s.greedy_all[j] end
      for j = 1, s.n_uncond do s.lls_uncond[j] = s.lls_all[n + j] end
    end
  end
end

-- The first answered sample whose filtered response a metric cannot take: built-in
-- metrics need a string; custom ones any value (pass@k filters give lists) but not none.
local function bad_response(p, answered, filtered, need_string)
  for i = 1, #answered do
    local s, r = answered[i], filtered[i]
    if r == nil or (need_string and type(r) ~= "string") then
      return string.format("document %d: the response after filter '%s' is %s, not a string",
        s.doc_id, p.name, r == nil and "missing" or type(r))
    end
  end
  return nil
end

-- A metric that could not be scored: named so that results keep its place.
local function failed_metric(t, m, msg)
  if not string.find(msg, "^task '") then
    msg = string.format("task '%s', metric '%s', %s", t.name, m.name, msg)
  end
  return { spec = { name = m.report_as or m.name, aggregation = m.aggregation,
    higher_is_better = m.higher_is_better }, values = {}, error = msg }
end

--- Filter and score the answered samples with one pipeline. Returns the entry (filter
--- name, filtered responses, per-sample values) and a list of { spec, values } per metric
--- (custom metrics may produce several). A metric that fails — a scorer error, a response
--- that is not a string, a failing filter — gets { spec, error = message } instead, and the
--- other metrics are still scored.
function M.score_pipeline(t, p, answered, cfg)
  local filtered, bad, builtin_err = {}, nil, nil
  if t.output_type == "generate_until" then
    local ok, res = pcall(scoring.filter, p, answered)
    if ok then
      filtered, bad = res, bad_response(p, answered, res, false)
      builtin_err = bad or bad_response(p, answered, res, true)
    else bad = string.format("filter '%s': %s", p.name, tostring(res)) end
  end
  local values = {}
  if not builtin_err then
    local ok, res = pcall(scoring.sample_metrics, t, answered, filtered)
    if ok then values = res else builtin_err = tostring(res) end
  end
  local entry = { filter = p.name, metrics = {}, filtered = filtered, values = values }
  local per_metric = {}
  for _, m in ipairs(t.metric_specs) do
    if bad then
      per_metric[#per_metric + 1] = failed_metric(t, m, bad)
    elseif m.custom then
      local ok, cvals = pcall(scorer.run, t, m, answered, filtered)
      if not ok then per_metric[#per_metric + 1] = failed_metric(t, m, tostring(cvals))
      else
        for _, name in ipairs(util.sorted_keys(cvals)) do
          values[name] = cvals[name]
          per_metric[#per_metric + 1] = {
            spec = { name = name, aggregation = m.aggregation, higher_is_better = m.higher_is_better },
            values = cvals[name] }
        end
      end
    elseif builtin_err then
      per_metric[#per_metric + 1] = failed_metric(t, m, builtin_err)
    else
      local spec = m
      if m.report_as then -- reported under another key (truthfulqa_mc2's mc2 is lm-eval's "acc")
        spec = { name = m.report_as, aggregation = m.aggregation, higher_is_better = m.higher_is_better }
        values[m.report_as] = values[m.name]
      end
      per_metric[#per_metric + 1] = { spec = spec, values = values[m.name] or {} }
    end
  end
  return entry, per_metric
end

-- Aggregate one scored metric into the entry's form { spec, value, stderr } (or error).
local function aggregate_metric(t, m, cfg)
  if m.error then return { spec = m.spec, error = m.error } end
  local ok, v, se = pcall(scoring.aggregate, m.spec, m.values, cfg.fewshot_seed, cfg.bootstrap_iters)
  if not ok then
    return { spec = m.spec, error = string.format("task '%s', metric '%s': aggregating (%s): %s", t.name,
      m.spec.name, tostring(m.spec.aggregation), tostring(v)) }
  end
  return { spec = m.spec, value = v, stderr = se }
end

-- Per-sample values averaged over the repeats (numbers only; others keep the first
-- repeat's value).
local function add_repeat_values(entry, e, first)
  for name, vals in pairs(e.values) do
    if first then entry.values[name] = { table.unpack(vals) }
    elseif entry.values[name] then
      for i, v in ipairs(vals) do
        if type(v) == "number" and type(entry.values[name][i]) == "number" then
          entry.values[name][i] = entry.values[name][i] + v
        end
      end
    end
  end
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
    for k, m in ipairs(per_metric) do runs[r][k] = aggregate_metric(t, m, cfg) end
    if r == 1 then entry = e end
    add_repeat_values(entry, e, r == 1)
  end
  for _, vals in pairs(entry.values) do
    for i, v in ipairs(vals) do
      if type(v) == "number" then vals[i] = v / n end
    end
  end
  for k, m in ipairs(runs[1]) do
    local per_run, err = {}, m.error
    for r = 1, n do
      local run = runs[r][k]
      err = err or (run and run.error)
      per_run[r] = run and run.value
      if type(per_run[r]) ~= "number" then
        err = err or string.format("task '%s', metric '%s': no value in repeat %d", t.name, m.spec.name, r)
      end
    end
    if err then entry.metrics[#entry.metrics + 1] = { spec = m.spec, error = err }
    else
      local mean = 0
      for _, v in ipairs(per_run) do mean = mean + v end
      mean = mean / n
      local var = 0
      for _, v in ipairs(per_run) do var = var + (v - mean) ^ 2 end
      entry.metrics[#entry.metrics + 1] = { spec = m.spec, value = mean, stderr = math.sqrt(var / n) / math.sqrt(n),
        per_repeat = per_run }
    end
  end
  return entry
end

--- Score one task: per filter, per metric value and stderr; per-sample values kept.
--- Metrics that fail are reported on stderr and kept in b.metric_errors (their results are
--- null); every other metric and task is still scored.
function M.score_task(b, cfg)
  local t = b.task
  local answered, failures, samples = {}, {}, b.samples
  for i = 1, #samples do
    local s = samples[i]
    if s.failed then failures[#failures + 1] = s
    else
      finish_sample(s, t)
      answered[#answered + 1] = s
    end
  end
  b.answered, b.failures, b.scores, b.metric_errors = answered, failures, {}, {}
  local pipelines = t.output_type == "generate_until" and t.filter_specs or { { name = "none", steps = {} } }
  for _, p in ipairs(pipelines) do
    local entry
    if t.output_type == "generate_until" and t.repeats_mode == "mean" and b.repeats > 1 then
      entry = M.score_repeats(t, p, answered, b.repeats, cfg)
    else
      local per_metric
      entry, per_metric = M.score_pipeline(t, p, answered, cfg)
      for _, m in ipairs(per_metric) do entry.metrics[#entry.metrics + 1] = aggregate_metric(t, m, cfg) end
    end
    for _, m in ipairs(entry.metrics) do
      if m.error then
        b.metric_errors[#b.metric_errors + 1] = m.error
        require("evallua.sys").stderr("error: " .. m.error .. "\n")
      end
    end
    b.scores[#b.scores + 1] = entry
  end
  return b
end

return M
