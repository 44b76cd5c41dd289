-- WinoGrande (Sakaguchi et al., 2019), XL config: fill the blank "_" with one of two
-- options. Reproduces lm-eval's `winogrande` (lm_eval/tasks/winogrande/default.yaml and
-- preprocess_winogrande.py) with partial scoring (Trinh & Le, 2018): a multiple-input task
-- whose two contexts are the sentence up to the blank with each option filled in, both
-- scored on the same continuation, the rest of the sentence after the blank.
local score = require "evallua.score"

local function blank(doc)
  local i = string.find(doc.sentence, "_", 1, true)
  if not i then error("sentence has no '_' blank: " .. doc.sentence, 0) end
  return i
end

return {
  name = "winogrande",
  aliases = { "WinoGrande", "wino_grande", "wino-grande" },
  version = 1,
  dataset = { path = "allenai/winogrande", name = "winogrande_xl",
              training_split = "train", validation_split = "validation" },
  output_type = "multiple_choice",
  -- the gold context index: answer "1" -> 0, "2" -> 1 (an integer: multiple-input)
  doc_to_text = function(doc)
    local gold = ({ ["1"] = 0, ["2"] = 1 })[doc.answer]
    if not gold then error("answer must be \"1\" or \"2\", got " .. tostring(doc.answer), 0) end
    return gold
  end,
  -- sentence[:i] + option, no space inserted (the prefix ends in one already)
  doc_to_choice = function(doc)
    local prefix = string.sub(doc.sentence, 1, blank(doc) - 1)
    return { prefix .. doc.option1, prefix .. doc.option2 }
  end,
  -- sentence[i+1:].strip()
  doc_to_target = function(doc)
    return score.strip(string.sub(doc.sentence, blank(doc) + 1))
  end,
  metrics = { "acc" },
}
