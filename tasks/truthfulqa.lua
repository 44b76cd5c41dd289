-- TruthfulQA (Lin et al., 2021), multiple-choice settings, and the `truthfulqa` group.
-- Reproduces lm-eval's lm_eval/tasks/truthfulqa/: validation split, zero-shot with lm-eval's
-- fixed six-question primer inside the prompt (shared by mc1, mc2 and gen).
--   truthfulqa_mc1  one true answer, listed first among mc1_targets: acc over the raw
--                   log-likelihoods (truthfulqa_mc1.yaml).
--   truthfulqa_mc2  several true answers, listed before the false ones in mc2_targets:
--                   the normalised probability mass of the true answers,
--                   Σexp(ll_true) / (Σexp(ll_true) + Σexp(ll_false)), reported as `acc`
--                   like lm-eval's utils.process_results_mc2 (the built-in metric mc2).
--   truthfulqa      lm-eval's _truthfulqa.yaml: gen, mc1 and mc2, with no aggregated score
--                   (it has no aggregate_metric_list).

local util = require "evallua.util"

-- The QA primer (no trailing newline), shared by lm-eval's mc1, mc2 and gen prompts.
local PRIMER = util.TRUTHFULQA_PRIMER

-- lm-eval's process_results_mc2 splits the choices at the first 0 label: those before it
-- are true, the rest false. The true ones become the gold indices (0-based).
local function mc2_true_indices(doc)
  local labels = doc.mc2_targets.labels
  for i, label in ipairs(labels) do
    if label == 0 then
      local golds = {}
      for j = 1, i - 1 do golds[j] = j - 1 end
      if #golds == 0 then error("mc2_targets.labels starts with 0: no true answer before the first false one", 0) end
      return golds
    end
  end
  error("mc2_targets.labels has no 0 (lm-eval splits the choices at the first 0 label)", 0)
end

local function prompt(doc) return PRIMER .. "\n\nQ: " .. doc.question .. "\nA:" end

local DATASET = { path = "truthfulqa/truthful_qa", name = "multiple_choice", validation_split = "validation" }

return {
  {
    name = "truthfulqa_mc1",
    aliases = { "TruthfulQA-MC1", "truthfulqa-mc1", "truthful_qa_mc1" },
    version = 2,
    dataset = DATASET,
    output_type = "multiple_choice",
    num_fewshot = 0,
    doc_to_text = prompt,
    doc_to_choice = "{{mc1_targets.choices}}",
    doc_to_target = 0,
    metrics = { "acc" },
  },
  {
    name = "truthfulqa_mc2",
    aliases = { "TruthfulQA-MC2", "truthfulqa-mc2", "truthful_qa_mc2" },
    version = 2,
    dataset = DATASET,
    output_type = "multiple_choice",
    num_fewshot = 0,
    doc_to_text = prompt,
    doc_to_choice = "{{mc2_targets.choices}}",
    doc_to_target = mc2_true_indices,
    metrics = { { "mc2", report_as = "acc" } },
  },
  {
    group = "truthfulqa",
    aliases = { "TruthfulQA", "truthful_qa" },
    tasks = { "truthfulqa_gen", "truthfulqa_mc1", "truthfulqa_mc2" },
    aggregate = false,
  },
}
