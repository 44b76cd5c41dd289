-- OpenBookQA (Mihaylov et al., 2018): elementary science questions with four answers.
-- Reproduces lm-eval's `openbookqa` (lm_eval/tasks/openbookqa/openbookqa.yaml): test split,
-- the raw question stem as the whole prompt (no "Question:"/"Answer:"), the answer texts as
-- continuations, acc and acc_norm.
local score = require "evallua.score"

-- Python's str.lstrip()
local function lstrip(s) return string.sub(score.strip(s .. "x"), 1, -2) end

return {
  name = "openbookqa",
  aliases = { "OpenBookQA", "OBQA", "openbook_qa" },
  version = 1,
  dataset = { path = "allenai/openbookqa", name = "main", training_split = "train",
              validation_split = "validation", test_split = "test" },
  output_type = "multiple_choice",
  doc_to_text = "{{question_stem}}",
  doc_to_choice = "{{choices.text}}",
  -- {{choices.label.index(answerKey.lstrip())}}
  doc_to_target = function(doc)
    local key = lstrip(doc.answerKey)
    for i, label in ipairs(doc.choices.label) do
      if label == key then return i - 1 end
    end
    error("answerKey '" .. tostring(doc.answerKey) .. "' is not among the choice labels", 0)
  end,
  metrics = { "acc", "acc_norm" },
}
