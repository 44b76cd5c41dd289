-- LogiQA (Liu et al., 2020): logical reasoning questions over a passage, four options.
-- Reproduces lm-eval's `logiqa` (lm_eval/tasks/logiqa/logiqa.yaml and utils_logiqa.py):
-- test split, "Passage: ...\nQuestion: ...\nChoices:\nA. ...\nD. ...\nAnswer:" with the
-- option texts (not the letters) as continuations, acc and acc_norm.
local score = require "evallua.score"

local LETTERS = { "a", "b", "c", "d" }

return {
  name = "logiqa",
  aliases = { "LogiQA", "logi_qa" },
  version = 1,
  dataset = { path = "EleutherAI/logiqa", name = "logiqa", training_split = "train",
              validation_split = "validation", test_split = "test" },
  output_type = "multiple_choice",
  doc_to_text = function(doc)
    local parts = { "Passage: ", doc.context, "\n", "Question: ", doc.question, "\nChoices:\n" }
    -- zip(["a","b","c","d"], options): at most four options
    for i = 1, math.min(4, #doc.options) do
      parts[#parts + 1] = string.upper(LETTERS[i]) .. ". " .. doc.options[i] .. "\n"
    end
    parts[#parts + 1] = "Answer:"
    return table.concat(parts)
  end,
  doc_to_choice = "{{options}}",
  -- ["a", "b", "c", "d"].index(label.strip())
  doc_to_target = function(doc)
    local label = score.strip(doc.label)
    for i, l in ipairs(LETTERS) do
      if l == label then return i - 1 end
    end
    error("label '" .. tostring(doc.label) .. "' is not one of a, b, c, d", 0)
  end,
  metrics = { "acc", "acc_norm" },
}
