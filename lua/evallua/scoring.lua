-- evallua.scoring — responses to filtered answers to per-sample metric values to
-- aggregated scores with standard errors. Every per-sample loop that does real work
-- (regex filters, exact match, argmax over choices, bootstrap) runs in C, in bulk.
local metrics = require "evallua.metrics"
local score = require "evallua.score"

local M = {}

M.BOOTSTRAP_ITERS = 100000

-- A string-to-string step (regex, lowercase, strip, remove_whitespace) over a flat list.
local function map_strings(step, flat)
  local name = step[1]
  if name == "regex" then
    return score.filter_regex(flat, step.pattern, step.group_select or 0, step.fallback or "[invalid]")
  end
  local mapped = {}
  if name == "lowercase" then
    for i, s in ipairs(flat) do mapped[i] = score.lower(s) end
  else -- strip, remove_whitespace
    for i, s in ipairs(flat) do mapped[i] = score.strip(s) end
  end
  return mapped
end

-- Apply one filter step to every sample's list of responses.
local function apply_step(step, resps, samples)
  if type(step) == "function" then
    local out = {}
    for i, r in ipairs(resps) do out[i] = step(r, samples[i].doc) end
    return out
  end
  local name = step[1]
  if name == "take_first" then
    local out = {}
    for i, r in ipairs(resps) do out[i] = { r[1] } end
    return out
  end
  if name == "majority_vote" then
    -- lm-eval's MajorityVoteFilter: the most common answer; ties go to the one seen first
    local out = {}
    for i, r in ipairs(resps) do
      local counts, best, best_n = {}, nil, 0
      for _, a in ipairs(r) do
        counts[a] = (counts[a] or 0) + 1
        if counts[a] > best_n then best, best_n = a, counts[a] end
      end
      out[i] = { best }
    end
    return out
  end
  -- string-to-string steps: flatten, transform in C, rebuild
  local flat, shape = {}, {}
  for i, r in ipairs(resps) do
    shape[i] = #r
    for _, s in ipairs(r) do flat[#flat + 1] = s end
  end
  local mapped = map_strings(step, flat)
  local out, k = {}, 0
  for i, n in ipairs(shape) do
    local r = {}
    for j = 1, n do r[j] = mapped[k + j] end
    k = k + n
    out[i] = r
  end
  return out
end

-- The filter steps that map one response to one (or keep the first of one): on samples that
-- all have a single response, they run on the flat list of responses.
local SINGLE_STEPS = { take_first = true, majority_vote = true, regex = true, lowercase = true,
  strip = true, remove_whitespace = true }

-- The flat list of every sample's only response, or nil when a sample has another number of
-- responses or a step of the pipeline is a function (which sees the lists themselves).
local function single_responses(pipeline, samples)
  for _, step in ipairs(pipeline.steps) do
    if type(step) ~= "table" or not SINGLE_STEPS[step[1]] then return nil end
  end
  local flat = {}
  for i = 1, #samples do
    local r = samples[i].resps
    if #r ~= 1 or r[1] == nil then return nil end
    flat[i] = r[1]
  end
  return flat
end

--- Run a filter pipeline over the answered samples: returns filtered responses, one per
--- sample (the first of the pipeline's output list). With one response per sample the
--- steps run on the flat list (take_first and majority_vote of one response keep it).
function M.filter(pipeline, samples)
  local flat = single_responses(pipeline, samples)
  if flat then
    for _, step in ipairs(pipeline.steps) do
      if step[1] ~= "take_first" and step[1] ~= "majority_vote" then flat = map_strings(step, flat) end
    end
    return flat
  end
  local resps = {}
  for i, s in ipairs(samples) do resps[i] = s.resps end
  for _, step in ipairs(pipeline.steps) do resps = apply_step(step, resps, samples) end
  local out = {}
  for i, r in ipairs(resps) do out[i] = r[1] end
  return out
end

local function count_words(text)
  local n = 0
  for _ in string.gmatch(text, "%S+") do n = n + 1 end
  return n
end

--- Whether task t lists the built-in metric `name`.
function M.uses(t, name)
  for _, m in ipairs(t.metric_specs) do
    if m.name == name and not m.custom then return true end
  end
  return false
end

--- Per-sample metric values for one task and one filter: values[metric][i].
function M.sample_metrics(t, samples, filtered)
  local values = {}
  local ot = t.output_type
  if ot == "multiple_choice" then
    local lls, choices, golds, uncond = {}, {}, {}, {}
    for i, s in ipairs(samples) do
      lls[i], choices[i], golds[i], uncond[i] = s.lls, s.choices, s.gold, s.lls_uncond
    end
    if #uncond ~= #samples then uncond = nil end -- acc_mutual_info not asked for
    values.acc, values.acc_norm, values.acc_bytes, values.acc_mutual_info =
      score.multiple_choice(lls, choices, golds, uncond)
    if M.uses(t, "mc2") then values.mc2 = score.mc2(lls, golds) end
  elseif ot == "loglikelihood" then
    values.acc, values.perplexity = {}, {}
    for i, s in ipairs(samples) do
      values.acc[i] = s.is_greedy and 1 or 0
      values.perplexity[i] = s.lls[1]
    end
  elseif ot == "loglikelihood_rolling" then
    values.word_perplexity, values.byte_perplexity, values.bits_per_byte = {}, {}, {}
    for i, s in ipairs(samples) do
      values.word_perplexity[i] = { s.lls[1], count_words(s.target) }
      values.byte_perplexity[i] = { s.lls[1], #s.target }
      values.bits_per_byte[i] = { s.lls[1], #s.target }
    end
  else
    for _, m in ipairs(t.metric_specs) do
      if m.name == "exact_match" then
        local refs = {}
        for i = 1, #samples do refs[i] = samples[i].target end
        values.exact_match = score.exact_match(filtered, refs, {
          ignore_case = m.ignore_case, ignore_punctuation = m.ignore_punctuation,
          ignore_numbers = m.ignore_numbers, regexes_to_ignore = m.regexes_to_ignore,
        })
      elseif m.name == "quasi_exact_match" then
        -- HELM's quasi-exact match: equal after SQuAD's normalisation (lower case, no
        -- punctuation, no articles, single spaces), any of the references
        local golds = {}
        for i, s in ipairs(samples) do
          golds[i] = type(s.target) == "table" and s.target or { tostring(s.target) }
        end
        values.quasi_exact_match = metrics.squad(filtered, golds).exact
      end
    end
  end
  return values
end

-- One sample's part of a ratio: (followed, total) from a list of booleans/numbers (lm-eval's
-- IFEval instruction lists), a { num =, den = } table, a boolean or a number.
local function ratio_parts(v)
  if type(v) == "table" then
    if v.den ~= nil then return v.num, v.den end
    local num = 0
    for _, e in ipairs(v) do num = num + ((e == true and 1) or (e == false and 0) or e) end
    return num, #v
  end
  if type(v) == "boolean" then return v and 1 or 0, 1 end
  return v, 1
end

--- The "ratio" aggregation (lm-eval's ifeval agg_inst_level_acc): Σ over samples of the
--- true entries / Σ of the entries, pooling every sample's list; nil when there are none.
function M.ratio(vals)
  local num, den = 0, 0
  for _, v in ipairs(vals) do
    local n, d = ratio_parts(v)
    num, den = num + n, den + d
  end
  if den == 0 then return nil end
  return num / den
end

--- Aggregate one metric's values: returns value, stderr (stderr nil when not defined).
--- iters: bootstrap iterations for aggregations without a closed-form stderr (default
--- 100000, lm-eval's; 0 skips them).
function M.aggregate(spec, vals, seed, iters)
  local agg = spec.aggregation
  if #vals == 0 then return nil, nil end
  if agg == "mean" then
    return score.mean(vals)
  elseif agg == "perplexity" then
    iters = iters or M.BOOTSTRAP_ITERS
    local se = (iters > 0 and #vals > 1) and score.bootstrap_stderr(vals, "perplexity", iters, seed or 1234) or nil
    return score.perplexity(vals), se
  elseif agg == "median" or agg == "sum" or agg == "max" or agg == "min" then
    local sorted = { table.unpack(vals) }
    table.sort(sorted)
    if agg == "max" then return sorted[#sorted], nil end
    if agg == "min" then return sorted[1], nil end
    if agg == "sum" then
      local sum = 0
      for _, v in ipairs(vals) do sum = sum + v end
      return sum, nil
    end
    local n = #sorted
    if n % 2 == 1 then return sorted[(n + 1) // 2], nil end
    return (sorted[n // 2] + sorted[n // 2 + 1]) / 2, nil
  end
  if agg == "ratio" then return M.ratio(vals), nil end -- lm-eval reports no stderr ("N/A")
  local ll, units = 0, 0
  for _, p in ipairs(vals) do
    ll, units = ll + p[1], units + p[2]
  end
  if units == 0 then return nil, nil end
  if agg == "weighted_perplexity" then return math.exp(-ll / units), nil end
  return -ll / units / math.log(2), nil -- bits_per_byte
end

return M
