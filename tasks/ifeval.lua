-- IFEval (Zhou et al., 2023): 541 prompts with 25 kinds of verifiable instructions ("answer
-- in fewer than 300 words", "no commas", "wrap the answer in JSON", ...).
-- Reproduces lm-eval's `ifeval` task (lm_eval/tasks/ifeval/ifeval.yaml, metadata version
-- 4.0): the prompt as it is, zero-shot, greedy generation of up to 1280 tokens with no stop
-- sequence, and each instruction checked strictly and loosely by evallua.ifeval (C; see
-- core/score/ifeval.h for the checks and where they differ from lm-eval's Python).
--
-- Metrics, as lm-eval's utils.process_results and agg_inst_level_acc:
--   prompt_level_strict_acc, prompt_level_loose_acc   every instruction of the prompt followed
--                                                     (mean over prompts, with its stderr)
--   inst_level_strict_acc, inst_level_loose_acc       per prompt the list of verdicts, one per
--                                                     instruction; aggregated by "ratio":
--                                                     followed / all instructions, pooled over
--                                                     the prompts (no stderr: "N/A", as lm-eval)

-- The strict and loose verdicts for one answered prompt. evallua.ifeval is required here,
-- not at load time, so that listing tasks never depends on it.
local function verdicts(doc, response)
  local ifeval = require "evallua.ifeval"
  return ifeval.check(doc.instruction_id_list, doc.kwargs, doc.prompt, response)
end

local function count(list)
  local n = 0
  for _, followed in ipairs(list) do
    if followed then n = n + 1 end
  end
  return n
end

return {
  name = "ifeval",
  aliases = { "IFEval" },
  version = 4,
  dataset = { path = "google/IFEval", test_split = "train" },
  output_type = "generate_until",
  num_fewshot = 0,
  doc_to_text = "{{prompt}}",
  doc_to_target = 0,
  generation_kwargs = { ["until"] = {}, do_sample = false, temperature = 0.0, max_gen_toks = 1280 },
  metrics = {
    { "ifeval_prompt_level", aggregation = "mean", higher_is_better = true,
      reports = { "prompt_level_strict_acc", "prompt_level_loose_acc" },
      score = function(doc, response)
        local v, n = verdicts(doc, response), #doc.instruction_id_list
        return {
          prompt_level_strict_acc = count(v.strict) == n and 1 or 0,
          prompt_level_loose_acc = count(v.loose) == n and 1 or 0,
        }
      end },
    { "ifeval_inst_level", aggregation = "ratio", higher_is_better = true,
      reports = { "inst_level_strict_acc", "inst_level_loose_acc" },
      score = function(doc, response)
        local v = verdicts(doc, response)
        return { inst_level_strict_acc = v.strict, inst_level_loose_acc = v.loose }
      end },
  },
}
