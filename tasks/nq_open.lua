-- Natural Questions, open-domain (Lee et al., 2019): short-answer questions from Google
-- search, answered from memory. Reproduces lm-eval's `nq_open`
-- (lm_eval/tasks/nq_open/nq_open.yaml): validation split, "Answer these questions:" then
-- "Q: ...?\nA:", few-shot examples separated by a single newline, generation stopped at a
-- newline, period or comma, leading whitespace removed, exact_match against any of the
-- answers with case, punctuation and articles ignored. (task-formats.md §32)
local util = require "evallua.util"

return {
  name = "nq_open",
  aliases = { "NQ-Open", "nq-open", "natural_questions", "NaturalQuestions" },
  version = 4,
  description = "Answer these questions:\n\n",
  dataset = { path = "google-research-datasets/nq_open", name = "nq_open", validation_split = "validation",
              training_split = "train" },
  output_type = "generate_until",
  doc_to_text = "Q: {{question}}?\nA:",
  doc_to_target = "{{answer}}",
  target_delimiter = " ",
  fewshot_delimiter = "\n",
  generation_kwargs = { ["until"] = { "\n", ".", "," }, do_sample = false, temperature = 0.0 },
  -- lm-eval's remove_whitespace filter: str.lstrip()
  filters = { { name = "remove_whitespace", util.map_responses(util.lstrip), { "take_first" } } },
  metrics = {
    { "exact_match", ignore_case = true, ignore_punctuation = true,
      regexes_to_ignore = { "\\b(?:The |the |An |A |The |a |an )" } },
  },
}
