-- MedMCQA (Pal et al., 2022): Indian medical entrance exam questions, four options.
-- Reproduces lm-eval's `medmcqa` (lm_eval/tasks/medmcqa/medmcqa.yaml and utils_medmcqa.py):
-- evaluated on the validation split (the test split has no labels), letters as
-- continuations, acc and acc_norm.
return {
  name = "medmcqa",
  aliases = { "MedMCQA", "med_mcqa" },
  version = "Yaml", -- lm-eval's medmcqa.yaml sets no metadata version
  dataset = { path = "openlifescienceai/medmcqa", training_split = "train",
              validation_split = "validation", test_split = "validation" },
  output_type = "multiple_choice",
  doc_to_text = "Question: {{question}}\nChoices:\nA. {{opa}}\nB. {{opb}}\nC. {{opc}}\nD. {{opd}}\nAnswer:",
  doc_to_choice = { "A", "B", "C", "D" },
  doc_to_target = "{{cop}}",
  metrics = { "acc", "acc_norm" },
}
