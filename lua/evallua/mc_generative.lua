-- evallua.mc_generative — the generative variant of a multiple-choice task, for backends
-- that cannot score log-likelihoods (chat endpoints) or when --mc-mode generative asks.
--
-- The prompt lists the choices lettered A, B, C, ... (unless the choices already are those
-- letters, as in MMLU, whose prompt lists them itself) and ends in "Answer:"; the model's
-- reply goes through one regex that takes the letter after "answer is"/"Answer:" or a
-- letter the reply starts with; exact match (case and punctuation ignored) against the
-- gold letter. Multiple-input tasks (winogrande) have no generative variant.
local task = require "evallua.task"
local util = require "evallua.util"

local M = {}

local LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

-- The letter answer: "answer is (C)", "Answer: C", "**C**", or a reply that starts with a
-- letter followed by ".", ")" or ":" ("C. because ...") or is only the letter.
M.LETTER_PATTERN = "[Aa]nswer(?:\\s+is)?\\s*:?\\s*\\**\\(?([A-Z])\\b|^\\s*\\**\\(?([A-Z])(?:[.):]|\\**\\s*$)"

local function letter(i) return string.sub(LETTERS, i, i) end

local function choices_are_letters(choices)
  for i, c in ipairs(choices) do
    if util.strip(c) ~= letter(i) then return false end
  end
  return true
end

-- The question with its choices lettered, ending in "Answer:".
local function question_text(t, doc)
  local q = task.doc_text(t, doc)
  if math.type(q) == "integer" then
    error("multiple-input tasks have no generative variant; use a completions endpoint", 0)
  end
  local choices = task.doc_choices(t, doc)
  if #choices > #LETTERS then error("more than 26 choices", 0) end
  if choices_are_letters(choices) then return q end
  local stem = string.gsub(q, "%s*Answer:%s*$", "")
  local lines = { stem }
  for i, c in ipairs(choices) do lines[#lines + 1] = letter(i) .. ". " .. c end
  lines[#lines + 1] = "Answer:"
  return table.concat(lines, "\n")
end

--- A generate_until task derived from the multiple-choice task t.
function M.derive(t)
  local g = util.copy(t)
  g.output_type = "generate_until"
  g.mc_generative = true
  g.doc_to_text = function(doc) return question_text(t, doc) end
  g.doc_to_target = function(doc)
    local choices = task.doc_choices(t, doc)
    return letter(task.doc_target(t, doc, choices) + 1)
  end
  g.doc_to_choice = nil
  g.generation_kwargs = { ["until"] = {}, max_gen_toks = 256, temperature = 0 }
  g.filter_specs = {
    { name = "letter", steps = { { "regex", pattern = M.LETTER_PATTERN }, { "take_first" } } },
  }
  g.metric_specs = {
    { name = "exact_match", aggregation = "mean", higher_is_better = true,
      ignore_case = true, ignore_punctuation = true },
  }
  g.note = "multiple_choice task run as generate_until (lettered choices, letter extracted, exact match)"
  return g
end

return M
