-- AIME24 and MATH500 as Evalchemy runs them (eval/chat_benchmarks/AIME24/eval_instruct.py,
-- eval/chat_benchmarks/MATH500/eval_instruct.py): the prompt "Problem: ...\nMark your
-- solution with \boxed\nAnswer:", sampling at temperature 0.7 with up to 32768 new tokens;
-- the answer is the last \boxed{} of the output (remove_boxed(last_boxed_only_string(...)),
-- "" where Evalchemy's try/except gives ""), scored with MATH's is_equiv against the
-- expected answer. (task-formats.md §35, §36)
--
-- aime24: the 30 problems of AIME I and II 2024 (HF Maxwell-Jia/AIME_2024, train split;
-- columns ID, Problem, Solution, Answer — Evalchemy's own aime24.json with id, problem,
-- reference_solution, expected_answer works too); ten runs with seeds 0..9. `accuracy` is
-- the mean of the ten per-run accuracies, its stderr the population std of those accuracies
-- / sqrt(10) (Evalchemy's accuracy_avg and accuracy_std_err); `accuracy_per_repeat` lists
-- the ten runs.
-- math500: the 500 MATH test problems of Lightman et al., 2023 (HuggingFaceH4/MATH-500);
-- one run with seed 0.
--
-- The whole output is scored, <think> part included (Evalchemy does not strip reasoning).
-- Evalchemy always sends the prompt as one chat user message (the model's chat template
-- applied); run with --apply-chat-template to match it.
local metrics = require "evallua.metrics"
local util = require "evallua.util"
local mm = metrics.math

-- One Evalchemy math task: problem(doc) and expected(doc) read the dataset's columns.
local function evalchemy_math(spec)
  return {
    name = spec.name,
    aliases = spec.aliases,
    version = 1,
    dataset = spec.dataset,
    output_type = "generate_until",
    num_fewshot = 0,
    doc_to_text = function(doc) return "Problem: " .. spec.problem(doc) .. "\nMark your solution with \\boxed\nAnswer:" end,
    doc_to_target = spec.expected,
    generation_kwargs = { ["until"] = {}, max_gen_toks = 32768, temperature = 0.7, seed = 0 },
    repeats = spec.repeats,
    repeats_mode = spec.repeats and "mean" or nil,
    keep_reasoning = true,
    filters = {
      { name = "boxed", util.map_responses(function(r) return mm.boxed_answer(r) or "" end), { "take_first" } },
    },
    metrics = {
      { "accuracy", score = function(doc, answer) return mm.is_equiv(spec.expected(doc), answer) and 1 or 0 end },
    },
  }
end

return {
  evalchemy_math {
    name = "aime24",
    aliases = { "AIME24", "AIME-2024", "AIME_2024", "aime2024", "aime-24" },
    dataset = { path = "Maxwell-Jia/AIME_2024", test_split = "train" },
    problem = function(doc) return util.field(doc, doc.Problem and "Problem" or "problem") end,
    expected = function(doc) return util.pystr(doc.Answer or util.field(doc, "expected_answer")) end,
    repeats = 10,
  },
  evalchemy_math {
    name = "math500",
    aliases = { "MATH500", "MATH-500", "math_500" },
    dataset = { path = "HuggingFaceH4/MATH-500", test_split = "test" },
    problem = function(doc) return util.field(doc, "problem") end,
    expected = function(doc) return util.field(doc, "answer") end,
  },
}
