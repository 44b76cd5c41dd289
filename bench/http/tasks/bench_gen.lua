-- bench_gen: a synthetic generate_until task for bench/http (docs from make_data.sh).
-- One short prompt per document; the fake server answers "The answer is 42." (its default
-- text cut at "\n\n"), so half the documents (answer "42") score 1.
return {
  name = "bench_gen",
  dataset = { path = "bench/synthetic", test_split = "test" },
  output_type = "generate_until",
  num_fewshot = 0,
  doc_to_text = "Question: {{question}}\nAnswer:",
  doc_to_target = "{{answer}}",
  generation_kwargs = { ["until"] = { "\n\n" }, max_gen_toks = 16, temperature = 0.0 },
  filters = {
    { name = "get-answer", { "regex", pattern = "The answer is (\\-?[0-9]+)" }, { "take_first" } },
  },
  metrics = { { "exact_match" } },
}
