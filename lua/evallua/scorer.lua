-- evallua.scorer — custom metrics written in Lua: score(doc, response) per sample, run on
-- OpenMP threads with one lua_State per thread (evallua.parallel). The value a sample gets
-- does not depend on the thread count: each call sees only its own document and response,
-- passed between states as JSON.
--
-- A custom metric is either inline in a task,
--   metrics = { { "word_overlap", score = function(doc, response) return 0.5 end,
--                 aggregation = "mean", higher_is_better = true } }
-- or a file scorers/<name>.lua returning { score = function(doc, response) ... end,
-- aggregation = "mean", higher_is_better = true } that a task names: metrics = { "<name>" }.
-- score returns a number (the metric's value) or a table of numbers (one metric per key).
-- `response` is the filtered text for generate_until tasks; for log-likelihood tasks a
-- table { logprob = , is_greedy = } (multiple_choice: { lls = {...}, choices = {...},
-- gold = i }).
local json = require "evallua.json"
local parallel = require "evallua.parallel"

local M = {}

M.threads = nil -- nil: OpenMP's default; tests set 1 or 2

--- In a worker state: the per-item function for one metric of one task (or scorer file).
function M.worker(source, file, task_name, metric_name)
  local registry = require "evallua.registry"
  local score
  if source == "scorer" then
    score = registry.load_script(file).score
  else
    for _, t in ipairs(registry.load_file(file)) do
      if t.name == task_name then
        for _, m in ipairs(t.metric_specs or {}) do
          if m.name == metric_name then score = m.score end
        end
      end
    end
  end
  if type(score) ~= "function" then
    error(string.format("%s: no score function for metric '%s' of task '%s'", file, metric_name, task_name), 0)
  end
  return function(item) return score(item.doc, item.response) end
end

--- The response a custom metric sees for one answered sample.
function M.response(t, s, filtered)
  if t.output_type == "generate_until" then return filtered end
  if t.output_type == "multiple_choice" then
    return { lls = json.array(s.lls), choices = json.array(s.choices), gold = s.gold }
  end
  return { logprob = s.lls[1], is_greedy = s.is_greedy }
end

-- Where a custom metric failed: "task 'T', metric 'M', document D: message".
local function fail(t, m, doc_id, msg)
  error(string.format("task '%s', metric '%s', document %d: %s", t.name, m.name, doc_id, msg), 0)
end

-- The per-sample values the scorer returned, checked: numbers (booleans count 1/0, as in
-- Python), or for a "ratio" metric a list of booleans/numbers or { num =, den = }.
local function check_value(t, m, doc_id, name, x)
  if type(x) == "number" then return x end
  if type(x) == "boolean" then return x and 1 or 0 end
  if m.aggregation == "ratio" and type(x) == "table" then
    local ok = (type(x.num) == "number" and type(x.den) == "number")
    if not ok then
      ok = true
      for _, e in ipairs(x) do
        if type(e) ~= "boolean" and type(e) ~= "number" then ok = false end
      end
    end
    if ok then return x end
  end
  fail(t, m, doc_id, string.format("score returned %s for '%s' (a number%s, or a table of them by metric name)",
    type(x), name, m.aggregation == "ratio" and ", a list of booleans/numbers, { num =, den = }" or ""))
end

-- Run score over every sample: in worker states, or serially here for an inline task.
local function outputs_of(t, m, samples, filtered)
  if t.inline and not m.scorer_file then
    -- a task written inside a suite file: no file to reload in worker states; run here
    local outputs = {}
    for i, s in ipairs(samples) do
      local ok, v = pcall(m.score, s.doc, M.response(t, s, filtered[i]))
      if not ok then fail(t, m, s.doc_id, tostring(v)) end
      outputs[i] = v
    end
    return outputs
  end
  local inputs = {}
  for i, s in ipairs(samples) do
    inputs[i] = json.encode { doc = s.doc, response = M.response(t, s, filtered[i]) }
  end
  local source, file = "task", t.file
  if m.scorer_file then source, file = "scorer", m.scorer_file end
  local ok, res = pcall(parallel.map, {
    module = "evallua.scorer", fn = "worker", args = { source, file, t.name, m.name },
    inputs = inputs, threads = M.threads,
  })
  if ok then return res end
  local item, msg = string.match(tostring(res), "^item (%d+): (.*)$")
  local s = item and samples[tonumber(item)]
  if s then fail(t, m, s.doc_id, msg) end
  error(string.format("task '%s', metric '%s': %s", t.name, m.name, tostring(res)), 0)
end

--- Per-sample values of custom metric m: returns { [metric name] = {v1, v2, ...} }.
--- An error (in score, or a value of the wrong type) names the task, metric and
--- document (0-based, as doc_id in the samples file) and the scorer's file:line.
function M.run(t, m, samples, filtered)
  local values = {}
  local outputs = outputs_of(t, m, samples, filtered)
  for i = 1, #samples do
    local v = outputs[i]
    local by_name = (type(v) == "table" and v[1] == nil and v.num == nil and next(v) ~= nil) and v or { [m.name] = v }
    for name, x in pairs(by_name) do
      values[name] = values[name] or {}
      values[name][i] = check_value(t, m, samples[i].doc_id, name, x)
    end
  end
  return values
end

return M
