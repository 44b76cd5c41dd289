-- evallua.task — what a task script may contain, its validation, and how documents become
-- prompts and requests (lm-eval's fewshot_context and construct_requests).
local template = require "evallua.template"
local util = require "evallua.util"

local M = {}

M.OUTPUT_TYPES = {
  multiple_choice = true, loglikelihood = true, loglikelihood_rolling = true, generate_until = true,
}

-- Metrics each output type can compute, with lm-eval's aggregation and direction.
M.METRICS = {
  multiple_choice = {
    acc = { aggregation = "mean", higher_is_better = true },
    acc_norm = { aggregation = "mean", higher_is_better = true },
    acc_bytes = { aggregation = "mean", higher_is_better = true },
    acc_mutual_info = { aggregation = "mean", higher_is_better = true },
    mc2 = { aggregation = "mean", higher_is_better = true, options = { "report_as" } },
  },
  loglikelihood = {
    acc = { aggregation = "mean", higher_is_better = true },
    perplexity = { aggregation = "perplexity", higher_is_better = false },
  },
  loglikelihood_rolling = {
    word_perplexity = { aggregation = "weighted_perplexity", higher_is_better = false },
    byte_perplexity = { aggregation = "weighted_perplexity", higher_is_better = false },
    bits_per_byte = { aggregation = "bits_per_byte", higher_is_better = false },
  },
  generate_until = {
    exact_match = { aggregation = "mean", higher_is_better = true,
                    options = { "ignore_case", "ignore_punctuation", "ignore_numbers", "regexes_to_ignore" } },
    quasi_exact_match = { aggregation = "mean", higher_is_better = true },
  },
}

-- Aggregations a metric may ask for (scoring.aggregate).
M.AGGREGATIONS = { mean = true, median = true, sum = true, max = true, min = true, perplexity = true,
  ratio = true }

local DEFAULT_METRICS = {
  multiple_choice = { "acc", "acc_norm" },
  loglikelihood = { "perplexity", "acc" },
  loglikelihood_rolling = { "word_perplexity", "byte_perplexity", "bits_per_byte" },
  generate_until = { "exact_match" },
}

-- Every field a task table may have: its Lua type(s) and whether it is required.
local FIELDS = {
  name = { types = "string", required = true },
  aliases = { types = "table" },
  version = { types = "number string" },
  description = { types = "string" },
  dataset = { types = "table", required = true },
  process_docs = { types = "function" },
  doc_to_text = { types = "string function", required = true },
  doc_to_target = { types = "string function number table", required = true },
  doc_to_choice = { types = "string function table" },
  target_delimiter = { types = "string" },
  fewshot_delimiter = { types = "string" },
  num_fewshot = { types = "number" },
  fewshot_config = { types = "table" },
  output_type = { types = "string" },
  generation_kwargs = { types = "table" },
  filters = { types = "table" },
  metrics = { types = "table" },
  keep_reasoning = { types = "boolean" },
  repeats = { types = "number" },
  repeats_mode = { types = "string" },
  gen_prefix = { types = "string" },
  unsafe_code = { types = "boolean" },
}
M.FIELDS = FIELDS

local DATASET_FIELDS = {
  path = true, name = true, test_split = true, validation_split = true,
  training_split = true, fewshot_split = true,
}
local FEWSHOT_FIELDS = { sampler = true, samples = true }
local GEN_FIELDS = {
  ["until"] = true, max_gen_toks = true, temperature = true, do_sample = true, top_p = true,
  seed = true,
}

--- The line of `field = ...` in a task file, for error messages (nil when not found).
local function find_line(path, field)
  local f = path and io.open(path, "r")
  if not f then return nil end
  local n = 0
  for line in f:lines() do
    n = n + 1
    if string.find(line, "%f[%w_]" .. field .. "%s*=") then
      f:close()
      return n
    end
  end
  f:close()
  return nil
end

local function where(path, field)
  local line = field and find_line(path, field)
  if line then return string.format("%s:%d", path, line) end
  return path or "task"
end

local function names_of(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

local function check_known(tbl, known, path, what)
  for k in pairs(tbl) do
    if type(k) == "string" and not known[k] then
      local near = util.nearest(k, names_of(known), 1)
      error(string.format("%s: unknown field '%s' in %s%s", where(path, k), k, what,
        near[1] and (" (did you mean '" .. near[1] .. "'?)") or ""), 0)
    end
  end
end

local function has_type(v, types)
  for t in string.gmatch(types, "%S+") do
    if type(v) == t then return true end
  end
  return false
end

local function normalize_metrics(t, path)
  local specs = {}
  local allowed = M.METRICS[t.output_type]
  for i, m in ipairs(t.metrics or DEFAULT_METRICS[t.output_type]) do
    local spec = type(m) == "string" and { m } or m
    local name = spec[1] or spec.metric
    if type(name) ~= "string" then
      error(string.format("%s: metrics[%d] must be a name or {name, options...}", where(path, "metrics"), i), 0)
    end
    local known = allowed[name]
    local builtin_elsewhere = false
    for _, per_type in pairs(M.METRICS) do
      if per_type[name] then builtin_elsewhere = true end
    end
    if not known and not builtin_elsewhere then
      -- a custom metric: an inline score(doc, response), or a scorer file scorers/<name>.lua
      -- that the registry attaches (spec.scorer_name)
      if spec.aggregation ~= nil and not M.AGGREGATIONS[spec.aggregation] then
        error(string.format("%s: unknown aggregation '%s' of metric '%s' (%s)", where(path, "aggregation"),
          tostring(spec.aggregation), name, table.concat(names_of(M.AGGREGATIONS), ", ")), 0)
      end
      local out = util.copy(spec)
      out[1], out.metric = nil, nil
      out.name, out.custom = name, true
      if type(spec.score) ~= "function" then out.scorer_name = name end
      if spec.score and out.aggregation == nil then out.aggregation = "mean" end
      if spec.score and out.higher_is_better == nil then out.higher_is_better = true end
      specs[#specs + 1] = out
      goto continue
    end
    if not known then
      error(string.format("%s: metric '%s' is not available for output_type '%s' (available: %s, or a custom metric: { \"%s\", score = function(doc, response) ... end } or scorers/%s.lua)",
        where(path, "metrics"), name, t.output_type, table.concat(names_of(allowed), ", "), name, name), 0)
    end
    local allowed_opts = { aggregation = true, higher_is_better = true, metric = true }
    for _, o in ipairs(known.options or {}) do allowed_opts[o] = true end
    for k in pairs(spec) do
      if type(k) == "string" and not allowed_opts[k] then
        error(string.format("%s: unknown option '%s' of metric '%s'", where(path, k), k, name), 0)
      end
    end
    if spec.aggregation ~= nil and spec.aggregation ~= known.aggregation and not M.AGGREGATIONS[spec.aggregation] then
      error(string.format("%s: unknown aggregation '%s' of metric '%s' (%s)", where(path, "aggregation"),
        tostring(spec.aggregation), name, table.concat(names_of(M.AGGREGATIONS), ", ")), 0)
    end
    local out = util.copy(spec)
    out[1], out.metric = nil, nil
    out.name = name
    out.aggregation = spec.aggregation or known.aggregation
    if spec.higher_is_better == nil then out.higher_is_better = known.higher_is_better end
    specs[#specs + 1] = out
    ::continue::
  end
  return specs
end

local function normalize_filters(t, path)
  if not t.filters then return { { name = "none", steps = { { "take_first" } } } } end
  local out = {}
  for i, f in ipairs(t.filters) do
    if type(f) ~= "table" or type(f.name) ~= "string" then
      error(string.format("%s: filters[%d] needs a name, e.g. { name = \"strict-match\", { \"regex\", pattern = ... }, { \"take_first\" } }",
        where(path, "filters"), i), 0)
    end
    local steps = {}
    for j, step in ipairs(f) do
      if type(step) == "function" then
        steps[j] = step
      elseif type(step) ~= "table" or type(step[1]) ~= "string" then
        error(string.format("%s: step %d of filter '%s' must be { \"regex\" | \"take_first\" | \"majority_vote\" | \"lowercase\" | \"strip\", ... } or a function",
          where(path, "filters"), j, f.name), 0)
      else
        local known = { regex = true, take_first = true, lowercase = true, strip = true, remove_whitespace = true,
          majority_vote = true }
        if not known[step[1]] then
          error(string.format("%s: unknown filter step '%s' in filter '%s'", where(path, "filters"), step[1], f.name), 0)
        end
        if step[1] == "regex" and type(step.pattern) ~= "string" then
          error(string.format("%s: regex step of filter '%s' needs pattern = \"...\"", where(path, "filters"), f.name), 0)
        end
        steps[j] = step
      end
    end
    out[#out + 1] = { name = f.name, steps = steps }
  end
  return out
end

--- Check a task table returned by a script; fills defaults. Errors name file:line.
function M.validate(t, path)
  if type(t) ~= "table" then
    error(string.format("%s: a task script must return a table, got %s", path, type(t)), 0)
  end
  check_known(t, FIELDS, path, "task '" .. tostring(t.name) .. "'")
  for name, spec in pairs(FIELDS) do
    local v = t[name]
    if v == nil and spec.required then
      error(string.format("%s: task '%s' is missing required field '%s'", path, tostring(t.name), name), 0)
    end
    if v ~= nil and not has_type(v, spec.types) then
      error(string.format("%s: field '%s' must be a %s, not a %s", where(path, name), name,
        string.gsub(spec.types, " ", " or "), type(v)), 0)
    end
  end
  check_known(t.dataset, DATASET_FIELDS, path, "dataset")
  if type(t.dataset.path) ~= "string" then
    error(string.format("%s: dataset.path (the Hugging Face dataset id) is required", where(path, "dataset")), 0)
  end
  if not (t.dataset.test_split or t.dataset.validation_split) then
    error(string.format("%s: dataset needs test_split or validation_split", where(path, "dataset")), 0)
  end
  t.output_type = t.output_type or "generate_until"
  if not M.OUTPUT_TYPES[t.output_type] then
    error(string.format("%s: unknown output_type '%s' (multiple_choice, loglikelihood, loglikelihood_rolling, generate_until)",
      where(path, "output_type"), t.output_type), 0)
  end
  if t.output_type == "multiple_choice" and t.doc_to_choice == nil then
    error(string.format("%s: a multiple_choice task needs doc_to_choice", path), 0)
  end
  if t.fewshot_config then
    check_known(t.fewshot_config, FEWSHOT_FIELDS, path, "fewshot_config")
    local sampler = t.fewshot_config.sampler
    if sampler ~= nil and sampler ~= "random" and sampler ~= "default" and sampler ~= "first_n" then
      error(string.format("%s: unknown few-shot sampler '%s' (random, first_n)", where(path, "sampler"), tostring(sampler)), 0)
    end
  end
  if t.generation_kwargs then check_known(t.generation_kwargs, GEN_FIELDS, path, "generation_kwargs") end
  t.target_delimiter = t.target_delimiter or " "
  t.fewshot_delimiter = t.fewshot_delimiter or "\n\n"
  t.description = t.description or ""
  t.zero_shot_only = t.num_fewshot == 0 -- lm-eval: a config's explicit 0 overrides --num_fewshot
  t.num_fewshot = t.num_fewshot or 0
  t.version = t.version or 0
  t.aliases = t.aliases or {}
  if t.repeats ~= nil and (math.type(t.repeats) ~= "integer" or t.repeats < 1) then
    error(string.format("%s: repeats must be a positive integer", where(path, "repeats")), 0)
  end
  if t.repeats_mode ~= nil and t.repeats_mode ~= "mean" and t.repeats_mode ~= "filter" then
    error(string.format("%s: repeats_mode must be \"mean\" (score each repeat, average) or \"filter\" (filters see every repeat)",
      where(path, "repeats_mode")), 0)
  end
  t.metric_specs = normalize_metrics(t, path)
  t.filter_specs = normalize_filters(t, path)
  t.file = path
  return t
end

local GROUP_FIELDS = { group = true, aliases = true, tasks = true, aggregate = true, version = true }

--- Check a group table ({ group = "mmlu", tasks = {...}, aggregate = {...} }) from a task
--- file. aggregate entries are metric names or { "acc", weight_by_size = true }; the
--- default is every member metric averaged with weight_by_size = true (lm-eval's MMLU).
function M.validate_group(g, path)
  check_known(g, GROUP_FIELDS, path, "group '" .. tostring(g.group) .. "'")
  if type(g.group) ~= "string" then error(string.format("%s: a group needs a name (group = \"...\")", path), 0) end
  if type(g.tasks) ~= "table" or #g.tasks == 0 then
    error(string.format("%s: group '%s' needs a non-empty tasks list", where(path, "tasks"), g.group), 0)
  end
  local specs = {}
  for i, a in ipairs(g.aggregate or {}) do
    local spec = type(a) == "string" and { a } or a
    if type(spec[1]) ~= "string" then
      error(string.format("%s: aggregate[%d] of group '%s' must be a metric name or { name, weight_by_size = bool }",
        where(path, "aggregate"), i, g.group), 0)
    end
    specs[i] = { name = spec[1], weight_by_size = spec.weight_by_size ~= false }
  end
  g.aggregate_specs = specs
  g.no_aggregate = g.aggregate == false -- lm-eval: a group without aggregate_metric_list
  g.aliases = g.aliases or {}
  g.version = g.version or 0
  g.name = g.group
  g.file = path
  return g
end

-- The error of a failed call into task code: names the file, phase and document.
local function call_failed(t, phase, doc_index, err)
  local msg = tostring(err)
  if t.fewshot_source and string.find(phase, "few-shot", 1, true) then
    msg = msg .. "; the few-shot pool is " .. t.fewshot_source
  end
  error(string.format("task '%s' (%s): %s document %d: %s", t.name, t.file or "?", phase,
    doc_index - 1, msg), 0)
end

local function call_result(t, phase, doc_index, ok, ...)
  if ok then return ... end
  call_failed(t, phase, doc_index, (...))
end

--- Wrap a call into task code so an error names the file, phase and document.
function M.call(t, phase, doc_index, fn, ...)
  return call_result(t, phase, doc_index, pcall(fn, ...))
end

--- doc_to_text(doc): a string, or for a multiple-input task (winogrande) the 0-based index
--- of the correct context among doc_to_choice(doc).
function M.doc_text(t, doc)
  local v = template.apply(t.doc_to_text, doc, "doc_to_text")
  if math.type(v) == "integer" then return v end
  -- lm-eval: a template rendering a digit string, in a task with choices, is an index
  if type(v) == "string" and type(t.doc_to_text) == "string" and t.doc_to_choice ~= nil
      and string.match(v, "^%d+$") then
    return math.tointeger(tonumber(v))
  end
  return type(v) == "string" and v or util.pystr(v)
end

--- A few-shot example as (question, answer). Multiple-input tasks show the correct context
--- and the shared target (lm-eval: choices[gold] + target_delimiter + target).
function M.example(t, doc)
  local q = M.doc_text(t, doc)
  if math.type(q) == "integer" then
    return M.doc_choices(t, doc)[q + 1], util.pystr(template.apply(t.doc_to_target, doc, "doc_to_target"))
  end
  return q, M.fewshot_answer(t, doc)
end

--- doc_to_choice(doc) as a list of strings (nil when the task has none).
function M.doc_choices(t, doc)
  if t.doc_to_choice == nil then return nil end
  local v = template.apply(t.doc_to_choice, doc, "doc_to_choice")
  if type(v) ~= "table" then error("doc_to_choice must give a list, got " .. type(v), 0) end
  local out = {}
  for i, c in ipairs(v) do out[i] = util.pystr(c) end
  return out
end

--- doc_to_target(doc): a string, a list of strings, or (with choices) a 0-based index.
function M.doc_target(t, doc, choices)
  local v = template.apply(t.doc_to_target, doc, "doc_to_target")
  if choices and type(v) == "table" then
    -- several correct choices: acc counts the argmax landing on any of them
    local golds = {}
    for i, g in ipairs(v) do
      golds[i] = M.gold_index(g, choices)
    end
    if #golds == 0 then error("doc_to_target gave an empty list of correct choices", 0) end
    return golds
  end
  if choices then return M.gold_index(v, choices) end
  if type(v) == "number" then return util.pystr(v) end
  if type(v) == "table" then
    local out = {}
    for i, x in ipairs(v) do out[i] = util.pystr(x) end
    return out
  end
  return v
end

--- One gold choice: a 0-based index, a digit string, or the text of a choice.
function M.gold_index(v, choices)
  if type(v) == "string" and string.match(v, "^%s*%d+%s*$") then v = math.tointeger(tonumber(v)) end
  if type(v) == "string" then
    for i, c in ipairs(choices) do
      if c == v then return i - 1 end
    end
    error(string.format("target '%s' is not one of the choices", v), 0)
  end
  if math.type(v) ~= "integer" or v < 0 or v >= #choices then
    error(string.format("target %s is not a valid choice index (0..%d)", tostring(v), #choices - 1), 0)
  end
  return v
end

--- The text shown as the answer of a few-shot example (lm-eval's rule, see §0.3).
function M.fewshot_answer(t, doc)
  local choices = M.doc_choices(t, doc)
  local target = M.doc_target(t, doc, choices)
  if choices and type(target) == "table" then return choices[target[1] + 1] end
  if choices and math.type(target) == "integer" then return choices[target + 1] end
  if type(target) == "table" then return util.pystr(target[1]) end
  return util.pystr(target)
end

--- Build the prompt for doc, ending with `question` (doc_to_text(doc) unless given: a
--- multiple-input task passes each context in turn). Returns the plain-text context and
--- the chat messages (messages only when opts.chat_template is set).
local function ends_space(s) return string.find(s, "%s$") ~= nil end
local function starts_space(s) return string.find(s, "^%s") ~= nil end

-- lm-eval's gen_prefix: after the question (target_delimiter between them unless either
-- side has whitespace at the join), and before each few-shot answer (one space between,
-- likewise). With a chat template it ends the last user message (no assistant prefill).
local function with_prefix(t, question)
  local gp = t.gen_prefix
  if not gp then return question end
  if ends_space(question) or starts_space(gp) then return question .. gp end
  return question .. t.target_delimiter .. gp
end

local function example_with_prefix(t, fs)
  local q, a = M.example(t, fs)
  local gp = t.gen_prefix
  if gp then
    a = (ends_space(gp) or starts_space(a)) and (gp .. a) or (gp .. " " .. a)
  end
  return q, a
end

function M.context(t, doc, shots, opts, question)
  question = with_prefix(t, question or M.doc_text(t, doc))
  local system = opts.system_instruction
  local desc = t.description
  if opts.chat_template then
    local messages = {}
    local sys_text = system and (desc ~= "" and (system .. t.fewshot_delimiter .. desc) or system)
        or (desc ~= "" and desc or nil)
    if sys_text then messages[#messages + 1] = { role = "system", content = sys_text } end
    local block = {}
    for _, fs in ipairs(shots) do
      local q, a = example_with_prefix(t, fs)
      if opts.fewshot_as_multiturn then
        messages[#messages + 1] = { role = "user", content = q }
        messages[#messages + 1] = { role = "assistant", content = a }
      else
        block[#block + 1] = q .. t.target_delimiter .. a .. t.fewshot_delimiter
      end
    end
    messages[#messages + 1] = { role = "user", content = table.concat(block) .. question }
    local parts = {}
    for _, m in ipairs(messages) do parts[#parts + 1] = m.content end
    return table.concat(parts, "\n"), messages
  end
  if not system and #shots == 0 then return desc .. question, nil end
  local parts = {}
  if system then parts[#parts + 1] = system .. (desc ~= "" and t.fewshot_delimiter or "") end
  parts[#parts + 1] = desc
  for _, fs in ipairs(shots) do
    local q, a = example_with_prefix(t, fs)
    parts[#parts + 1] = q .. t.target_delimiter .. a .. t.fewshot_delimiter
  end
  parts[#parts + 1] = question
  return table.concat(parts), nil
end

--- Requests of a multiple-input task (winogrande): one context per choice, all scored on
--- the same continuation; gold is doc_to_text(doc).
function M.multiple_input_requests(t, doc, shots, opts, gold)
  local choices = M.doc_choices(t, doc)
  if gold < 0 or gold >= #choices then
    error(string.format("doc_to_text gave %d, not a valid context index (0..%d)", gold, #choices - 1), 0)
  end
  local cont = t.target_delimiter .. util.pystr(template.apply(t.doc_to_target, doc, "doc_to_target"))
  local reqs = {}
  for i, c in ipairs(choices) do
    reqs[i] = { kind = "loglikelihood", context = (M.context(t, doc, shots, opts, c)), continuation = cont }
  end
  return reqs, gold, choices
end

--- generation_kwargs merged with --gen_kwargs overrides, in the backend's terms;
--- default_max is the model's max_gen_toks (lm-eval's model arg; 256 when unset).
function M.gen_args(t, overrides, default_max)
  local g = util.copy(t.generation_kwargs or {})
  for k, v in pairs(overrides or {}) do g[k] = v end
  local until_ = g["until"]
  if type(until_) == "string" then until_ = { until_ } end
  if until_ == nil then until_ = { t.fewshot_delimiter } end
  local temperature = tonumber(g.temperature) or 0
  if g.do_sample == false then temperature = 0 end
  return {
    ["until"] = until_,
    max_tokens = math.tointeger(tonumber(g.max_gen_toks)) or math.tointeger(default_max) or 256,
    temperature = temperature,
    top_p = tonumber(g.top_p),
    seed = math.tointeger(tonumber(g.seed)),
  }
end

-- The data file and line of a document, for error messages ("" when unknown).
local function origin(t, doc)
  local where = t.doc_cache and require("evallua.docs").where(t.doc_cache, doc)
  return where and (" (" .. where .. ")") or ""
end

local requests_of

-- The error of a document whose requests could not be built: names its data file and line,
-- and which few-shot example failed.
local function requests_failed(t, doc, shots, err)
  for i, fs in ipairs(shots) do -- did a few-shot example fail?
    local ok, shot_err = pcall(M.example, t, fs)
    if not ok then
      error(string.format("few-shot example %d%s: %s", i, origin(t, fs), tostring(shot_err)), 0)
    end
  end
  error(tostring(err) .. origin(t, doc), 0)
end

local function requests_result(t, doc, shots, ok, ...)
  if ok then return ... end
  requests_failed(t, doc, shots, (...))
end

--- Requests for one document: a list of backend requests, plus the gold target and choices.
--- An error names the document's data file and line, and which few-shot example failed.
--- opts.gen_args, when set, is M.gen_args's answer for this task (computed once per task).
function M.requests(t, doc, shots, opts)
  return requests_result(t, doc, shots, pcall(requests_of, t, doc, shots, opts))
end

--- M.requests without its own error handling, for a caller that calls it protected and,
--- when it fails, calls M.requests for the message (runner.build_task).
function M.requests_unprotected(t, doc, shots, opts)
  return requests_of(t, doc, shots, opts)
end

requests_of = function(t, doc, shots, opts)
  local ot = t.output_type
  if ot == "multiple_choice" then
    local question = M.doc_text(t, doc)
    if math.type(question) == "integer" then return M.multiple_input_requests(t, doc, shots, opts, question) end
  end
  local ctx, messages = M.context(t, doc, shots, opts)
  if ot == "multiple_choice" then
    local choices = M.doc_choices(t, doc)
    local gold = M.doc_target(t, doc, choices)
    local reqs = {}
    for i, c in ipairs(choices) do
      reqs[i] = { kind = "loglikelihood", context = ctx, continuation = t.target_delimiter .. c }
    end
    return reqs, gold, choices
  elseif ot == "loglikelihood" then
    local target = util.pystr(M.doc_target(t, doc))
    return { { kind = "loglikelihood", context = ctx, continuation = target } }, target
  elseif ot == "loglikelihood_rolling" then
    local text = util.pystr(M.doc_target(t, doc))
    return { { kind = "loglikelihood_rolling", context = text } }, text
  end
  local g = opts.gen_args or M.gen_args(t, opts.gen_kwargs, opts.default_max_gen_toks)
  local req = {
    kind = "generate_until", context = ctx, messages = messages, ["until"] = g["until"],
    max_tokens = g.max_tokens, temperature = g.temperature, top_p = g.top_p, seed = g.seed,
  }
  return { req }, M.doc_target(t, doc)
end

return M
