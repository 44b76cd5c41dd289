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

--- Per-sample values of custom metric m: returns { [metric name] = {v1, v2, ...} }.
function M.run(t, m, samples, filtered)
  local inputs = {}
  for i, s in ipairs(samples) do
    inputs[i] = json.encode { doc = s.doc, response = M.response(t, s, filtered[i]) }
  end
  local source, file = "task", t.file
  if m.scorer_file then source, file = "scorer", m.scorer_file end
  local outputs
  if t.inline and source == "task" then
    -- a task written inside a suite file: no file to reload in worker states; run here
    outputs = {}
    for i, s in ipairs(samples) do outputs[i] = m.score(s.doc, M.response(t, s, filtered[i])) end
  else
    outputs = parallel.map {
      module = "evallua.scorer", fn = "worker", args = { source, file, t.name, m.name },
      inputs = inputs, threads = M.threads,
    }
  end
  local values = {}
  for i, v in ipairs(outputs) do
    local by_name = type(v) == "table" and v or { [m.name] = v }
    for name, x in pairs(by_name) do
      if type(x) ~= "number" then
        error(string.format("task '%s': metric '%s' returned %s for document %d (a number, or a table of numbers)",
          t.name, m.name, type(x), samples[i].doc_id), 0)
      end
      values[name] = values[name] or {}
      values[name][i] = x
    end
  end
  return values
end

return M
