-- MATH (Hendrycks et al., 2021): competition mathematics in seven subjects, answered in free
-- text. Reproduces lm-eval's `hendrycks_math_<subject>` tasks and the `hendrycks_math`
-- group (lm_eval/tasks/hendrycks_math/): the test split of each EleutherAI/hendrycks_math
-- config, zero-shot "Problem: ...\nAnswer:" prompts, the answer taken between the first and
-- the last '$' of the output (the whole output when it has fewer than two), and MATH's
-- is_equiv (strip_string equality) against the \boxed{} answer of the reference solution.
-- Also `hendrycks_math500`: the same task on the 500 problems of HuggingFaceH4/MATH-500.
-- (task-formats.md §19 and the \boxed{}/strip_string notes under §36)
local metrics = require "evallua.metrics"
local util = require "evallua.util"
local mm = metrics.math


-- lm-eval's process_docs: keep problem and solution, add the boxed answer of the solution.
local function process_docs(docs)
  local out = {}
  for i, doc in ipairs(docs) do
    local answer = mm.boxed_answer(doc.solution)
    if answer == nil then
      error(string.format("document %d: the solution has no \\boxed{} answer", i - 1), 0)
    end
    out[i] = { problem = doc.problem, solution = doc.solution, answer = answer }
  end
  return out
end

-- lm-eval's process_results: exact_match = is_equiv(text between the first and last '$'
-- of the output, or the whole output, with the gold answer).
local EXACT_MATCH = {
  "math_is_equiv",
  reports = { "exact_match" },
  score = function(doc, response)
    return { exact_match = mm.is_equiv(mm.dollar_extract(response), doc.answer) and 1 or 0 }
  end,
}

local function make(name, aliases, dataset)
  return {
    name = name,
    aliases = aliases,
    version = 1,
    dataset = dataset,
    process_docs = process_docs,
    output_type = "generate_until",
    doc_to_text = "Problem: {{problem}}\nAnswer:",
    doc_to_target = "{{answer}}",
    generation_kwargs = { ["until"] = { "Problem:" }, do_sample = false, temperature = 0 },
    metrics = { EXACT_MATCH },
  }
end

local out, members = {}, {}
for _, s in ipairs(util.MATH_SUBJECTS) do
  local name = "hendrycks_math_" .. s[1]
  out[#out + 1] = make(name, { "hendrycks-math-" .. string.gsub(s[1], "_", "-") },
    { path = "EleutherAI/hendrycks_math", name = s[2], test_split = "test", training_split = "train" })
  members[#members + 1] = name
end
out[#out + 1] = make("hendrycks_math500", { "hendrycks-math500" },
  { path = "HuggingFaceH4/MATH-500", test_split = "test" })
out[#out + 1] = {
  group = "hendrycks_math",
  aliases = { "MATH", "hendrycks-math" },
  version = 1,
  tasks = members,
  aggregate = { { "exact_match", weight_by_size = true } },
}
return out
