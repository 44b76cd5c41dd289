-- evallua.runner — one evaluation run, stage by stage (DESIGN.md's data flow):
--   tasks -> documents -> prompts and requests (Lua, in bulk) -> backend (C) ->
--   filters and metrics (C, in bulk) -> aggregation -> results.
local docs_mod = require "evallua.docs"
local fewshot = require "evallua.fewshot"
local scoring = require "evallua.scoring"
local task = require "evallua.task"

local M = {}

-- The backend request kind each output type needs.
local NEEDS = {
  multiple_choice = "loglikelihood", loglikelihood = "loglikelihood",
  loglikelihood_rolling = "loglikelihood_rolling", generate_until = "generate_until",
}

--- Refuse, before anything is sent, tasks the backend cannot serve.
function M.check_kinds(tasks, kinds, backend_name)
  for _, t in ipairs(tasks) do
    local need = NEEDS[t.output_type]
    if not kinds[need] then
      error(string.format("task '%s' (%s) needs %s scores, which the %s backend cannot give " ..
        "(chat endpoints return no prompt log-probabilities): use --model openai-completions " ..
        "with a /v1/completions server", t.name, t.output_type, need, backend_name), 0)
    end
  end
end

--- The number of few-shot examples for a task under the run's options.
function M.num_fewshot(t, cfg)
  if cfg.num_fewshot ~= nil then return cfg.num_fewshot end
  return t.num_fewshot
end

--- Documents and samples (with their requests) for one task.
function M.build_task(t, cfg, cache)
  local data_dir = docs_mod.data_dir(cfg.data_dir)
  local all_docs = docs_mod.eval_docs(t, data_dir, cache)
  local n = docs_mod.apply_limit(#all_docs, cfg.limit)
  local k = M.num_fewshot(t, cfg)
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
  }
  for i = 1, n do
    local doc = all_docs[i]
    local shots = sampler and task.call(t, "choosing few-shot examples for", i, sampler.draw, sampler, doc, k) or {}
    local reqs, target, choices = task.call(t, "building the prompt of", i, function()
      return task.requests(t, doc, shots, opts)
    end)
    samples[i] = { doc_id = i - 1, doc = doc, requests = reqs, target = target, choices = choices }
    if choices then samples[i].gold = target end
  end
  return { task = t, samples = samples, n_docs = #all_docs, n_shot = k }
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

local function finish_sample(s, output_type)
  if output_type == "generate_until" then
    local r = s.responses[1]
    s.resps = { r.text or "" }
    s.reasoning = r.reasoning
  else
    s.lls, s.greedy = {}, {}
    s.is_greedy = true
    for j, r in ipairs(s.responses) do
      s.lls[j], s.greedy[j] = r.logprob, r.is_greedy
      s.is_greedy = s.is_greedy and r.is_greedy
    end
  end
end

--- Score one task: per filter, per metric value and stderr; per-sample values kept.
function M.score_task(b, cfg)
  local t = b.task
  local answered, failures = {}, {}
  for _, s in ipairs(b.samples) do
    if s.failed then failures[#failures + 1] = s
    else
      finish_sample(s, t.output_type)
      answered[#answered + 1] = s
    end
  end
  b.answered, b.failures, b.scores = answered, failures, {}
  local pipelines = t.output_type == "generate_until" and t.filter_specs or { { name = "none", steps = {} } }
  for _, p in ipairs(pipelines) do
    local filtered = t.output_type == "generate_until" and scoring.filter(p, answered) or {}
    local values = scoring.sample_metrics(t, answered, filtered)
    local entry = { filter = p.name, metrics = {}, filtered = filtered, values = values }
    for _, m in ipairs(t.metric_specs) do
      local vals = values[m.name] or {}
      local v, se = scoring.aggregate(m, vals, cfg.fewshot_seed)
      entry.metrics[#entry.metrics + 1] = { spec = m, value = v, stderr = se }
    end
    b.scores[#b.scores + 1] = entry
  end
  return b
end

return M
