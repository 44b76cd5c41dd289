-- evallua.results — the results JSON in lm-eval's layout, the samples JSONL and the
-- terminal table.
local json = require "evallua.json"
local report = require "evallua.report"
local sys = require "evallua.sys"
local util = require "evallua.util"

local M = {}

local function metric_key(name, filter) return name .. "," .. filter end
local function stderr_key(name, filter) return name .. "_stderr," .. filter end

local function task_config(b)
  local t = b.task
  local function describe(v)
    if type(v) == "function" then return "<function>" end
    return v
  end
  local metric_list = json.array()
  for _, m in ipairs(t.metric_specs) do
    local entry = {}
    for k, v in pairs(m) do if k ~= "name" then entry[k] = describe(v) end end
    entry.metric = m.name
    metric_list[#metric_list + 1] = entry
  end
  local filter_list = json.array()
  for _, f in ipairs(t.filter_specs) do
    local steps = json.array()
    for _, s in ipairs(f.steps) do
      if type(s) == "function" then steps[#steps + 1] = { ["function"] = "<function>" }
      else
        local e = { ["function"] = s[1] }
        for k, v in pairs(s) do if type(k) == "string" then e[k] = v end end
        steps[#steps + 1] = e
      end
    end
    filter_list[#filter_list + 1] = { name = f.name, filter = steps }
  end
  return {
    task = t.name, dataset_path = t.dataset.path, dataset_name = t.dataset.name,
    test_split = t.dataset.test_split, validation_split = t.dataset.validation_split,
    training_split = t.dataset.training_split, fewshot_split = t.dataset.fewshot_split,
    description = t.description, target_delimiter = t.target_delimiter,
    fewshot_delimiter = t.fewshot_delimiter, num_fewshot = b.n_shot, output_type = t.output_type,
    doc_to_text = describe(t.doc_to_text), doc_to_target = describe(t.doc_to_target),
    doc_to_choice = describe(t.doc_to_choice), generation_kwargs = t.generation_kwargs,
    fewshot_config = t.fewshot_config and { sampler = t.fewshot_config.sampler or "random" } or nil,
    metric_list = metric_list, filter_list = t.output_type == "generate_until" and filter_list or nil,
    metadata = { version = t.version }, task_file = t.file, note = t.note,
  }
end

-- lm-eval's pooled_sample_stderr: the stderr of the concatenated samples of the members.
local function pooled_stderr(stderrs, sizes)
  local num, total = 0, 0
  for i, se in ipairs(stderrs) do
    num = num + (sizes[i] - 1) * se * se * sizes[i]
    total = total + sizes[i]
  end
  if total - #sizes <= 0 or total == 0 then return "N/A" end
  return math.sqrt(num / (total - #sizes) / total)
end

-- The metric names a group aggregates: its aggregate list, else every member's metrics.
local function group_specs(g, out)
  if #g.aggregate_specs > 0 then return g.aggregate_specs end
  local names, specs = {}, {}
  for _, m in ipairs(g.members) do
    for name in pairs(out.higher_is_better[m.name] or {}) do
      if not names[name] then
        names[name] = true
        specs[#specs + 1] = { name = name, weight_by_size = true }
      end
    end
  end
  table.sort(specs, function(a, b) return a.name < b.name end)
  return specs
end

-- One group's row: per metric and filter, the (size-weighted) mean over members that
-- report it, with the pooled stderr (lm-eval's consolidate_group_results).
local function aggregate_group(g, out, sizes)
  local res, hib, total = { alias = g.name }, {}, 0
  for _, m in ipairs(g.members) do total = total + (sizes[m.name] or 0) end
  if g.no_aggregate then -- aggregate = false: members only, as lm-eval without aggregate_metric_list
    sizes[g.name] = total
    return res, hib
  end
  for _, spec in ipairs(group_specs(g, out)) do
    local keys = {}
    for _, m in ipairs(g.members) do
      for k in pairs(out.results[m.name] or {}) do
        if string.sub(k, 1, #spec.name + 1) == spec.name .. "," then keys[k] = true end
      end
    end
    if next(keys) == nil then -- a typo in `aggregate`, or members that all failed it
      local msg = string.format("group '%s': no member task reports metric '%s'", g.name, spec.name)
      sys.stderr("warning: " .. msg .. "\n")
      res.errors = res.errors or json.array()
      res.errors[#res.errors + 1] = msg
    end
    for key in pairs(keys) do
      local se_key = spec.name .. "_stderr," .. string.sub(key, #spec.name + 2)
      local sum, wsum, stderrs, ns, na = 0, 0, {}, {}, false
      for _, m in ipairs(g.members) do
        local r = out.results[m.name]
        local v = r and r[key]
        if type(v) == "number" then
          local n = sizes[m.name] or 0
          local w = spec.weight_by_size and n or 1
          sum, wsum = sum + v * w, wsum + w
          if type(r[se_key]) == "number" then stderrs[#stderrs + 1] = r[se_key] else na = true end
          ns[#ns + 1] = n
        end
      end
      if wsum > 0 then
        res[key] = sum / wsum
        res[se_key] = na and "N/A" or pooled_stderr(stderrs, ns)
      end
    end
    local first = g.members[1] and out.higher_is_better[g.members[1].name]
    hib[spec.name] = first and first[spec.name]
    if hib[spec.name] == nil then hib[spec.name] = true end
  end
  sizes[g.name] = total
  return res, hib
end

--- Add each group's aggregated row to results and groups (members first, then parents).
function M.aggregate_groups(groups, out, built)
  local sizes = {}
  for _, b in ipairs(built) do sizes[b.task.name] = #b.answered end
  for _, g in ipairs(groups or {}) do
    local res, hib = aggregate_group(g, out, sizes)
    out.results[g.name], out.groups[g.name] = res, res
    local names = json.array()
    for i, m in ipairs(g.members) do names[i] = m.name end
    out.group_subtasks[g.name] = names
    out.versions[g.name] = g.version
    out.higher_is_better[g.name] = hib
  end
end

--- The whole results table for a run.
function M.build(built, run)
  local out = {
    results = {}, groups = {}, group_subtasks = {}, configs = {}, versions = {}, ["n-shot"] = {},
    higher_is_better = {}, ["n-samples"] = {}, config = run.config, date = run.start_time,
    total_evaluation_time_seconds = string.format("%.3f", run.wall_seconds),
    throughput = run.throughput, evallua_version = sys.version(),
  }
  for _, b in ipairs(built) do
    local t = b.task
    local res = { alias = t.name }
    local hib = {}
    for _, entry in ipairs(b.scores) do
      for _, m in ipairs(entry.metrics) do
        res[metric_key(m.spec.name, entry.filter)] = m.value == nil and json.null or m.value
        res[stderr_key(m.spec.name, entry.filter)] = (m.stderr == nil or m.stderr ~= m.stderr) and "N/A" or m.stderr
        if m.per_repeat then res[m.spec.name .. "_per_repeat," .. entry.filter] = json.array(m.per_repeat) end
        hib[m.spec.name] = m.spec.higher_is_better
      end
    end
    if #(b.metric_errors or {}) > 0 then res.errors = json.array(b.metric_errors) end -- null values above
    if (b.truncated or 0) > 0 then res.samples_truncated = b.truncated end -- finish_reason "length"
    if (b.context_truncated or 0) > 0 then res.samples_context_truncated = b.context_truncated end
    if #b.failures > 0 then
      res.samples_failed = #b.failures
      res.note = string.format("scores over %d answered of %d documents; %d failed",
        #b.answered, #b.samples, #b.failures)
    end
    out.results[t.name] = res
    out.group_subtasks[t.name] = json.array()
    out.configs[t.name] = task_config(b)
    out.versions[t.name] = t.version
    out["n-shot"][t.name] = b.n_shot
    out.higher_is_better[t.name] = hib
    out["n-samples"][t.name] = { original = b.n_docs, effective = #b.samples }
  end
  M.aggregate_groups(run.groups, out, built)
  return out
end

local function fmt_value(v)
  if v == nil or v == json.null then return "N/A" end
  if type(v) == "number" then return string.format("%.4f", v) end
  return tostring(v)
end

local function fmt_stderr(se)
  if se == nil or se == "N/A" or (type(se) == "number" and se ~= se) then return "N/A" end
  return fmt_value(se)
end

local function group_rows(groups, res)
  local rows = {}
  for _, g in ipairs(groups) do
    local r = res.results[g.name]
    local first = true
    for _, key in ipairs(util.sorted_keys(r)) do
      local metric, filter = string.match(key, "^(.-),(.*)$")
      if metric and not string.find(metric, "_stderr$") then
        rows[#rows + 1] = {
          task = first and g.name or "", version = first and util.pystr(g.version) or "",
          filter = filter, n_shot = "", metric = metric,
          arrow = res.higher_is_better[g.name][metric] == false and "↓" or "↑",
          value = fmt_value(r[key]), stderr = fmt_stderr(r[metric .. "_stderr," .. filter]),
        }
        first = false
      end
    end
  end
  return rows
end

--- The terminal table (lm-eval's Markdown layout), and the groups table when any.
function M.table(built, groups, res)
  local rows = {}
  for _, b in ipairs(built) do
    local t = b.task
    local first = true
    for _, entry in ipairs(b.scores) do
      for _, m in ipairs(entry.metrics) do
        rows[#rows + 1] = {
          task = first and t.name or "", version = first and util.pystr(t.version) or "",
          filter = entry.filter, n_shot = first and tostring(b.n_shot) or "",
          metric = m.spec.name, arrow = m.spec.higher_is_better and "↑" or "↓",
          value = fmt_value(m.value),
          stderr = (m.stderr == nil or m.stderr ~= m.stderr) and "N/A" or fmt_value(m.stderr),
        }
        first = false
      end
    end
  end
  local text = report.table(rows)
  if groups and #groups > 0 then text = text .. "\n" .. report.table(group_rows(groups, res), "Groups") end
  return text
end

local function sanitize(name)
  return (string.gsub(name, "[^%w%-%._]", "__"))
end

--- Where results and samples go for --output PATH: a .json path is the results file
--- itself; any other path is a directory that gets <model>/results_<date>.json.
function M.paths(output, model_name, stamp)
  if string.match(output, "%.json$") then
    local dir = string.match(output, "^(.*)/[^/]*$") or "."
    return output, dir
  end
  local dir = output .. "/" .. sanitize(model_name or "model")
  return dir .. "/results_" .. stamp .. ".json", dir
end

local function sample_records(b)
  local t = b.task
  local lines = {}
  local by_filter = {}
  for _, entry in ipairs(b.scores) do by_filter[#by_filter + 1] = entry end
  for _, entry in ipairs(by_filter) do
    for i, s in ipairs(b.answered) do
      local args = {}
      for j, r in ipairs(s.requests) do
        local a = { arg_0 = r.context }
        if r.kind == "loglikelihood" then a.arg_1 = r.continuation
        elseif r.kind == "generate_until" then
          a.arg_1 = { ["until"] = json.array(r["until"]), max_gen_toks = r.max_tokens, temperature = r.temperature }
        end
        args["gen_args_" .. (j - 1)] = a
      end
      local rec = {
        doc_id = s.doc_id, doc = s.doc, target = s.target, arguments = args, filter = entry.filter,
        metrics = json.array(),
      }
      if t.output_type == "generate_until" then
        rec.resps = json.array { json.array(s.raw_resps) }
        rec.filtered_resps = json.array { entry.filtered[i] }
        if s.reasoning then rec.reasoning = s.reasoning end
      else
        local resps, filtered = json.array(), json.array()
        local lls, greedy = s.lls_all or s.lls, s.greedy_all or s.greedy -- with acc_mutual_info's
        for j = 1, #lls do
          resps[j] = json.array { json.array { lls[j], greedy[j] } }
          filtered[j] = json.array { lls[j], greedy[j] }
        end
        rec.resps, rec.filtered_resps = resps, filtered
      end
      for _, m in ipairs(entry.metrics) do
        local v = entry.values[m.spec.name]
        if v then
          rec.metrics[#rec.metrics + 1] = m.spec.name
          rec[m.spec.name] = v[i]
        end
      end
      lines[#lines + 1] = json.encode(rec)
    end
  end
  for _, s in ipairs(b.failures) do
    lines[#lines + 1] = json.encode { doc_id = s.doc_id, doc = s.doc, target = s.target, failed = true, error = s.error }
  end
  return lines
end

--- Write samples_<task>_<stamp>.jsonl for every task into dir; returns the paths.
function M.write_samples(built, dir, stamp)
  local paths = {}
  for _, b in ipairs(built) do
    local path = string.format("%s/samples_%s_%s.jsonl", dir, sanitize(b.task.name), stamp)
    local lines = sample_records(b)
    sys.write_file(path, table.concat(lines, "\n") .. (#lines > 0 and "\n" or ""))
    paths[#paths + 1] = path
  end
  return paths
end

return M
