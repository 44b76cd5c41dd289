-- AIME 2024 (the 30 problems of AIME I and II 2024), as Evalchemy runs it
-- (eval/chat_benchmarks/AIME24/eval_instruct.py): the prompt "Problem: ...\nMark your
-- solution with \boxed\nAnswer:", sampling at temperature 0.7 with up to 32768 new tokens,
-- ten runs with seeds 0..9; the answer is the last \boxed{} of the output, scored with MATH's
-- is_equiv against the expected answer. `accuracy` is the mean of the ten per-run
-- accuracies, its stderr the population std of those accuracies / sqrt(10) (Evalchemy's
-- accuracy_avg and accuracy_std_err); `accuracy_per_repeat` lists the ten runs.
-- (task-formats.md §35)
--
-- Data: HF Maxwell-Jia/AIME_2024 (train split; columns ID, Problem, Solution, Answer).
-- Evalchemy's own aime24.json (id, problem, reference_solution, expected_answer) works too.
-- The whole output is scored, <think> part included (Evalchemy does not strip reasoning).
-- Evalchemy always sends the prompt as one chat user message (the model's chat template
-- applied); run with --apply-chat-template to match it.
local metrics = require "evallua.metrics"
local util = require "evallua.util"
local mm = metrics.math

local function problem(doc) return doc.Problem or doc.problem end
local function expected(doc) return util.pystr(doc.Answer or doc.expected_answer) end

return {
  name = "aime24",
  aliases = { "AIME24", "AIME-2024", "AIME_2024", "aime2024", "aime-24" },
  version = 1,
  dataset = { path = "Maxwell-Jia/AIME_2024", test_split = "train" },
  output_type = "generate_until",
  num_fewshot = 0,
  doc_to_text = function(doc) return "Problem: " .. problem(doc) .. "\nMark your solution with \\boxed\nAnswer:" end,
  doc_to_target = expected,
  generation_kwargs = { ["until"] = {}, max_gen_toks = 32768, temperature = 0.7, seed = 0 },
  repeats = 10,
  repeats_mode = "mean",
  keep_reasoning = true,
  filters = {
    -- remove_boxed(last_boxed_only_string(output)); "" where Evalchemy's try/except gives ""
    { name = "boxed",
      util.map_responses(function(r) return mm.boxed_answer(r) or "" end),
      { "take_first" } },
  },
  metrics = {
    { "accuracy", score = function(doc, answer) return mm.is_equiv(expected(doc), answer) and 1 or 0 end },
  },
}
