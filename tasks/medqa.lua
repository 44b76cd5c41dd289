-- MedQA (Jin et al., 2020), the USMLE four-option version. Reproduces lm-eval's
-- `medqa_4options` (lm_eval/tasks/medqa/medqa.yaml and preprocess_medqa.py): test split,
-- "Question: <sent1>\nA. ...\nD. ...\nAnswer:" with the letters as continuations.
return {
  name = "medqa_4options",
  aliases = { "MedQA", "medqa", "MedQA-4options", "medqa_usmle" },
  version = "Yaml", -- lm-eval's medqa.yaml sets no metadata version
  dataset = { path = "GBaker/MedQA-USMLE-4-options-hf", training_split = "train",
              validation_split = "validation", test_split = "test" },
  output_type = "multiple_choice",
  doc_to_text = "Question: {{sent1}}\nA. {{ending0}}\nB. {{ending1}}\nC. {{ending2}}\nD. {{ending3}}\nAnswer:",
  doc_to_choice = { "A", "B", "C", "D" },
  doc_to_target = "{{label}}",
  metrics = { "acc", "acc_norm" },
}
