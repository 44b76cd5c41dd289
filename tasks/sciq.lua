-- SciQ (Welbl et al., 2017): crowd-sourced science exam questions with a supporting
-- paragraph. Reproduces lm-eval's `sciq` (lm_eval/tasks/sciq/sciq.yaml): test split,
-- "<support.lstrip()>\nQuestion: <question>\nAnswer:" with the three distractors and the
-- correct answer (always index 3) as continuations; acc and acc_norm.
local score = require "evallua.score"

-- Python's str.lstrip()
local function lstrip(s) return string.sub(score.strip(s .. "x"), 1, -2) end

return {
  name = "sciq",
  aliases = { "SciQ", "sci_q" },
  version = 1,
  dataset = { path = "allenai/sciq", training_split = "train",
              validation_split = "validation", test_split = "test" },
  output_type = "multiple_choice",
  doc_to_text = function(doc)
    return lstrip(doc.support) .. "\nQuestion: " .. doc.question .. "\nAnswer:"
  end,
  -- {{[distractor1, distractor2, distractor3, correct_answer]}}
  doc_to_choice = function(doc)
    return { doc.distractor1, doc.distractor2, doc.distractor3, doc.correct_answer }
  end,
  doc_to_target = 3,
  metrics = { "acc", "acc_norm" },
}
