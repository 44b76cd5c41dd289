-- HellaSwag (Zellers et al., 2019): pick the most plausible ending of an activity
-- description. Reproduces lm-eval's `hellaswag` (lm_eval/tasks/hellaswag/): validation
-- split, the WikiHow bracket clean-up, and acc / acc_norm over the four endings.
local regex = require "evallua.regex"
local score = require "evallua.score"

local brackets = regex.compile("\\[.*?\\]")

-- lm-eval's preprocess(): strip, " [title]" -> ". ", drop [bracketed] artifacts, one
-- left-to-right pass replacing double spaces.
local function preprocess(text)
  text = text:gsub("^%s+", ""):gsub("%s+$", "")
  text = text:gsub(" %[title%]", ". ")
  text = brackets:sub(text, "")
  text = text:gsub("  ", " ")
  return text
end

-- Python's str.capitalize(): first character upper-cased, the rest lower-cased.
local function capitalize(s)
  return s:sub(1, 1):upper() .. score.lower(s:sub(2))
end

return {
  name = "hellaswag",
  aliases = { "HellaSwag", "hella_swag" },
  version = 1,
  dataset = { path = "Rowan/hellaswag", training_split = "train", validation_split = "validation" },
  output_type = "multiple_choice",
  process_docs = function(docs)
    local out = {}
    for i, doc in ipairs(docs) do
      local ctx = doc.ctx_a .. " " .. capitalize(doc.ctx_b)
      local choices = {}
      for j, e in ipairs(doc.endings) do choices[j] = preprocess(e) end
      local d = {}
      for k, v in pairs(doc) do d[k] = v end
      d.query = preprocess(doc.activity_label .. ": " .. ctx)
      d.choices = choices
      d.gold = math.tointeger(tonumber(doc.label))
      out[i] = d
    end
    return out
  end,
  doc_to_text = "{{query}}",
  doc_to_choice = "{{choices}}",
  doc_to_target = "{{label}}",
  metrics = { "acc", "acc_norm" },
}
