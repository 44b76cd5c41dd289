-- RTE (Recognizing Textual Entailment), GLUE version: does sentence1 entail sentence2?
-- Reproduces lm-eval's `rte` (lm_eval/tasks/glue/rte/default.yaml): validation split,
-- "<sentence1>\nQuestion: <sentence2> True or False?\nAnswer:" with " True" (label 0,
-- entailment) / " False" (label 1) continuations.
return {
  name = "rte",
  aliases = { "RTE", "glue_rte" },
  version = 1,
  dataset = { path = "nyu-mll/glue", name = "rte",
              training_split = "train", validation_split = "validation" },
  output_type = "multiple_choice",
  doc_to_text = "{{sentence1}}\nQuestion: {{sentence2}} True or False?\nAnswer:",
  doc_to_choice = { "True", "False" },
  doc_to_target = "{{label}}",
  metrics = { "acc" },
}
