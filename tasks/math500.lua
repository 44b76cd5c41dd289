-- MATH-500 (Lightman et al., 2023: 500 MATH test problems), as Evalchemy runs it
-- (eval/chat_benchmarks/MATH500/eval_instruct.py): the AIME24 prompt "Problem: ...\nMark
-- your solution with \boxed\nAnswer:", one run at temperature 0.7 with seed 0 and up to
-- 32768 new tokens; the answer is the last \boxed{} of the output, scored with MATH's
-- is_equiv against the `answer` column. (task-formats.md §36)
-- The whole output is scored, <think> part included (Evalchemy does not strip reasoning).
-- Evalchemy always sends the prompt as one chat user message (the model's chat template
-- applied); run with --apply-chat-template to match it.
local metrics = require "evallua.metrics"
local util = require "evallua.util"
local mm = metrics.math

return {
  name = "math500",
  aliases = { "MATH500", "MATH-500", "math_500" },
  version = 1,
  dataset = { path = "HuggingFaceH4/MATH-500", test_split = "test" },
  output_type = "generate_until",
  num_fewshot = 0,
  doc_to_text = function(doc) return "Problem: " .. doc.problem .. "\nMark your solution with \\boxed\nAnswer:" end,
  doc_to_target = "{{answer}}",
  generation_kwargs = { ["until"] = {}, max_gen_toks = 32768, temperature = 0.7, seed = 0 },
  keep_reasoning = true,
  filters = {
    { name = "boxed",
      util.map_responses(function(r) return mm.boxed_answer(r) or "" end),
      { "take_first" } },
  },
  metrics = {
    { "accuracy", score = function(doc, answer) return mm.is_equiv(doc.answer, answer) and 1 or 0 end },
  },
}
