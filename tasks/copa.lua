-- COPA (Roemmele et al., 2011), from SuperGLUE: choose the more plausible cause or effect
-- of a premise. Reproduces lm-eval's `copa` (lm_eval/tasks/super_glue/copa/default.yaml
-- and utils.py): the premise without its final period joined by " because" (cause) or
-- " therefore" (effect); each alternative with its first letter lower-cased and a leading
-- space, so with the default target_delimiter " " the continuation starts with two spaces
-- (lm-eval does exactly this).
local score = require "evallua.score"

-- Python's choice[0].lower() + choice[1:] (first code point lower-cased)
local function convert_choice(c)
  local n = utf8.offset(c, 2) or (#c + 1)
  return score.lower(string.sub(c, 1, n - 1)) .. string.sub(c, n)
end

local CONNECTOR = { cause = "because", effect = "therefore" }

return {
  name = "copa",
  aliases = { "COPA", "super_glue_copa" },
  version = 1,
  dataset = { path = "aps/super_glue", name = "copa",
              training_split = "train", validation_split = "validation" },
  output_type = "multiple_choice",
  -- premise.strip()[:-1] + " " + connector
  doc_to_text = function(doc)
    local connector = CONNECTOR[doc.question]
    if not connector then error("question must be 'cause' or 'effect', got " .. tostring(doc.question), 0) end
    local p = score.strip(doc.premise)
    local last = utf8.offset(p, -1) or #p
    return string.sub(p, 1, last - 1) .. " " .. connector
  end,
  doc_to_choice = function(doc)
    return { " " .. convert_choice(doc.choice1), " " .. convert_choice(doc.choice2) }
  end,
  -- a string target: gold is its index among the choices
  doc_to_target = function(doc)
    return " " .. convert_choice(doc.label == 0 and doc.choice1 or doc.choice2)
  end,
  metrics = { "acc" },
}
