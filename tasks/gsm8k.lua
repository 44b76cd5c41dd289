-- GSM8K (Cobbe et al., 2021): grade-school math word problems, answered in free text.
-- Reproduces lm-eval's `gsm8k` task (lm_eval/tasks/gsm8k/gsm8k.yaml): 5-shot from the
-- train split (random sampler, seed 1234), "Question: ...\nAnswer:" prompts, the full
-- reference rationale as few-shot answers, and two answer extractions.
return {
  name = "gsm8k",
  aliases = { "GSM8K", "gsm-8k" },
  version = 3,
  dataset = { path = "openai/gsm8k", name = "main", test_split = "test", fewshot_split = "train" },
  output_type = "generate_until",
  num_fewshot = 5,
  doc_to_text = "Question: {{question}}\nAnswer:",
  doc_to_target = "{{answer}}",
  generation_kwargs = {
    ["until"] = { "Question:", "</s>", "<|im_end|>" },
    do_sample = false,
    temperature = 0.0,
  },
  filters = {
    { name = "strict-match",
      { "regex", pattern = "#### (\\-?[0-9\\.\\,]+)" },
      { "take_first" } },
    { name = "flexible-extract",
      { "regex", pattern = "(-?[$0-9.,]{2,})|(-?[0-9]+)", group_select = -1 },
      { "take_first" } },
  },
  metrics = {
    { "exact_match", ignore_case = true, ignore_punctuation = false,
      regexes_to_ignore = { ",", "\\$", "(?s).*#### ", "\\.$" } },
  },
}
