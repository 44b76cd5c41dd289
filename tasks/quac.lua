-- QuAC (Choi et al., 2018): question answering in context — a student asks about a
-- Wikipedia section in a dialogue. Reproduces lm-eval's `quac` (lm_eval/tasks/quac/
-- default.yaml and utils.py, version 1, HELM's prompt format): lighteval/quac_helm, whose
-- `prompt` column already holds the section and the dialogue so far; validation split,
-- few-shot pool train, "<prompt>\nAnswer:", greedy generation of up to 64 tokens stopped
-- at "\n\n"; f1 = the best SQuAD token F1 (lower-case, no punctuation or articles) of the
-- answer's first line against the references.
local metrics = require "evallua.metrics"
local score = require "evallua.score"
local util = require "evallua.util"

return {
  name = "quac",
  aliases = { "QuAC" },
  version = 1,
  dataset = { path = "lighteval/quac_helm", training_split = "train", validation_split = "validation" },
  output_type = "generate_until",
  doc_to_text = "{{prompt}}\nAnswer:",
  doc_to_target = "{{references[0]}}",
  generation_kwargs = { ["until"] = { "\n\n" }, do_sample = false, temperature = 0.0, max_gen_toks = 64 },
  metrics = {
    -- utils.process_results: results[0].strip().split("\n", 1)[0]; max F1 over references,
    -- each reference scored on its own (an empty one counts only an empty prediction)
    { "f1", score = function(doc, response)
        local pred = string.match(score.strip(response), "^[^\n]*")
        local preds, refs = {}, {}
        for i, ref in ipairs(util.field(doc, "references")) do preds[i], refs[i] = pred, { ref } end
        if #refs == 0 then error("field 'references' is empty", 0) end
        local best = 0
        for _, f in ipairs(metrics.squad(preds, refs).f1) do best = math.max(best, f) end
        return best
      end },
  },
}
