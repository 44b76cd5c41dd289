-- PIQA (Bisk et al., 2020): physical commonsense, pick the better of two solutions to a
-- goal. Reproduces lm-eval's `piqa` (lm_eval/tasks/piqa/piqa.yaml): validation split,
-- "Question: <goal>\nAnswer:" and the two solutions as continuations.
return {
  name = "piqa",
  aliases = { "PIQA" },
  version = 1,
  dataset = { path = "baber/piqa", training_split = "train", validation_split = "validation" },
  output_type = "multiple_choice",
  doc_to_text = "Question: {{goal}}\nAnswer:",
  -- "{{[sol1, sol2]}}"
  doc_to_choice = function(doc) return { doc.sol1, doc.sol2 } end,
  doc_to_target = "{{label}}",
  metrics = { "acc", "acc_norm" },
}
