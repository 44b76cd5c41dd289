-- TriviaQA (Joshi et al., 2017), closed book: questions answered from memory, correct when
-- the answer equals any alias of the reference after lower-casing and removing punctuation.
-- Reproduces lm-eval's `triviaqa` (lm_eval/tasks/triviaqa/default.yaml): rc.nocontext
-- validation split, "Question: ...?\nAnswer:", generation stopped at a newline, period or
-- comma, leading whitespace removed, exact_match over answer.aliases. Zero-shot by default
-- (commonly run 5-shot: the few-shot pool is the train split). (task-formats.md §31)
local util = require "evallua.util"

return {
  name = "triviaqa",
  aliases = { "TriviaQA", "trivia_qa", "trivia-qa" },
  version = 3,
  dataset = { path = "mandarjoshi/trivia_qa", name = "rc.nocontext", validation_split = "validation",
              training_split = "train" },
  output_type = "generate_until",
  doc_to_text = "Question: {{question}}?\nAnswer:",
  doc_to_target = "{{answer.aliases}}",
  target_delimiter = " ",
  generation_kwargs = { ["until"] = { "\n", ".", "," }, do_sample = false, temperature = 0.0 },
  -- lm-eval's remove_whitespace filter: str.lstrip()
  filters = { { name = "remove_whitespace", util.map_responses(util.lstrip), { "take_first" } } },
  metrics = { { "exact_match", ignore_case = true, ignore_punctuation = true } },
}
