-- CommonsenseQA (Talmor et al., 2019): five-option questions that need everyday knowledge.
-- Reproduces lm-eval's `commonsense_qa` (lm_eval/tasks/commonsense_qa/default.yaml): the
-- validation split (the test split has no answers), few-shot examples from train,
-- "Question: <question.strip()>\nA. ...\nE. ...\nAnswer:" scored on the letters " A" ... " E",
-- gold = answerKey; metric acc.
local score = require "evallua.score"
local util = require "evallua.util"

local LETTERS = { "A", "B", "C", "D", "E" }

-- "Question: {{ question.strip() }}\nA. {{choices['text'][0]}}\n...E. ...\nAnswer:"
local function doc_to_text(doc)
  local parts = { "Question: " .. score.strip(util.field(doc, "question")) }
  local texts = util.field(util.field(doc, "choices"), "text")
  for i, letter in ipairs(LETTERS) do
    local text = texts[i]
    if text == nil then
      error(string.format("choices.text has %d entries, the prompt needs 5", #texts), 0)
    end
    parts[#parts + 1] = letter .. ". " .. text
  end
  parts[#parts + 1] = "Answer:"
  return table.concat(parts, "\n")
end

return {
  name = "commonsense_qa",
  aliases = { "CommonsenseQA", "commonsenseqa", "CSQA", "commonsense-qa" },
  version = "Yaml", -- lm-eval's default.yaml sets no metadata version
  dataset = { path = "tau/commonsense_qa", training_split = "train", test_split = "validation" },
  output_type = "multiple_choice",
  doc_to_text = doc_to_text,
  doc_to_choice = LETTERS,
  doc_to_target = "{{answerKey}}", -- a letter, matched against the choices
  metrics = { "acc" },
}
