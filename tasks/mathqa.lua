-- MathQA (Amini et al., 2019): math word problems with five options. Reproduces lm-eval's
-- `mathqa` (lm_eval/tasks/mathqa/mathqa.yaml and utils.py): test split,
-- "Question: <Problem>\nAnswer:" with the option texts, parsed out of the "a ) ... , b ) ..."
-- string by lm-eval's regex, as continuations; acc and acc_norm.
local regex = require "evallua.regex"

local OPTION = regex.compile("[abcd] \\) .*?, |e \\) .*?$")
local LETTERS = { "a", "b", "c", "d", "e" }

return {
  name = "mathqa",
  aliases = { "MathQA", "math_qa" },
  version = 1,
  dataset = { path = "regisss/math_qa", training_split = "train",
              validation_split = "validation", test_split = "test" },
  output_type = "multiple_choice",
  doc_to_text = "Question: {{Problem}}\nAnswer:",
  -- [c[4:].rstrip(" ,") for c in re.findall(r"[abcd] \) .*?, |e \) .*?$", options)]
  doc_to_choice = function(doc)
    local out = {}
    for i, m in ipairs(OPTION:findall(doc.options)) do
      out[i] = (string.gsub(string.sub(m, 5), "[ ,]+$", ""))
    end
    return out
  end,
  -- {{['a', 'b', 'c', 'd', 'e'].index(correct)}}
  doc_to_target = function(doc)
    for i, l in ipairs(LETTERS) do
      if l == doc.correct then return i - 1 end
    end
    error("correct '" .. tostring(doc.correct) .. "' is not one of a-e", 0)
  end,
  metrics = { "acc", "acc_norm" },
}
