-- BoolQ (Clark et al., 2019), from SuperGLUE: yes/no questions about a Wikipedia passage.
-- Reproduces lm-eval's `boolq` (lm_eval/tasks/super_glue/boolq/default.yaml): validation
-- split, "<passage>\nQuestion: <question>?\nAnswer:" with " no" / " yes" continuations.
return {
  name = "boolq",
  aliases = { "BoolQ", "super_glue_boolq" },
  version = 2,
  dataset = { path = "aps/super_glue", name = "boolq",
              training_split = "train", validation_split = "validation" },
  output_type = "multiple_choice",
  doc_to_text = "{{passage}}\nQuestion: {{question}}?\nAnswer:",
  doc_to_choice = { "no", "yes" },
  doc_to_target = "{{label}}",
  metrics = { "acc" },
}
