-- CoQA (Reddy et al., 2019): conversational question answering over a story. Reproduces
-- lm-eval's `coqa` (lm_eval/tasks/coqa/default.yaml and utils.py, version 3): EleutherAI/coqa,
-- validation split (one document per story; the final turn is asked, earlier turns are
-- shown with their answers), few-shot pool train, generation stopped at "\nQ:", the answer's
-- first line scored with SQuAD's compute_exact / compute_f1 (em, f1; leave-one-out over the
-- gold answers when there are several). (task-formats.md §30)
local metrics = require "evallua.metrics"
local score = require "evallua.score"
local util = require "evallua.util"

-- utils.doc_to_text: "<story>\n\n", then "Q: <q>\n\n" + "A: <a>\n\n" per earlier turn, then
-- "Q: <last q>\n\nA:" (zip_longest of the questions with the answers minus the last).
local function doc_to_text(doc)
  local qs = util.field(util.field(doc, "questions"), "input_text")
  local as = util.field(util.field(doc, "answers"), "input_text")
  local parts = { doc.story .. "\n\n" }
  for i = 1, math.max(#qs, #as - 1) do
    parts[#parts + 1] = "Q: " .. (qs[i] == nil and "None" or qs[i]) .. "\n\n"
    parts[#parts + 1] = (i <= #as - 1) and ("A: " .. as[i] .. "\n\n") or "A:"
  end
  return table.concat(parts)
end

-- utils.doc_to_target: the last turn's answer, then each additional answer for that turn
-- that differs case-insensitively from those already listed (additional_answers in key order).
local function doc_to_target(doc)
  local turn = #util.field(util.field(doc, "questions"), "input_text")
  local answers = { doc.answers.input_text[turn] }
  local lowered = { [score.lower(answers[1])] = true }
  local extra = doc.additional_answers
  if type(extra) == "table" then
    local keys = {}
    for k in pairs(extra) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do
      local a = extra[k].input_text[turn]
      if a ~= nil and not lowered[score.lower(a)] then
        answers[#answers + 1] = a
        lowered[score.lower(a)] = true
      end
    end
  end
  return answers
end

-- compute_exact / compute_f1 of pred against each single gold.
local function per_gold(golds, pred)
  local preds, refs = {}, {}
  for i, g in ipairs(golds) do preds[i], refs[i] = pred, { g } end
  return metrics.squad(preds, refs)
end

-- utils.compute_scores: with several golds, for each i the max over the golds other than
-- i, averaged; with one gold, the score against it.
local function compute_scores(golds, pred)
  local s = per_gold(golds, pred)
  if #golds == 1 then return { em = s.exact[1], f1 = s.f1[1] } end
  local em_sum, f1_sum = 0, 0
  for i = 1, #golds do
    local em, f1 = 0, 0
    for j = 1, #golds do
      if j ~= i then em, f1 = math.max(em, s.exact[j]), math.max(f1, s.f1[j]) end
    end
    em_sum, f1_sum = em_sum + em, f1_sum + f1
  end
  return { em = em_sum / #golds, f1 = f1_sum / #golds }
end

return {
  name = "coqa",
  aliases = { "CoQA" },
  version = 3,
  dataset = { path = "EleutherAI/coqa", training_split = "train", validation_split = "validation" },
  output_type = "generate_until",
  doc_to_text = doc_to_text,
  doc_to_target = doc_to_target,
  generation_kwargs = { ["until"] = { "\nQ:" } },
  metrics = {
    -- utils.process_results: results[0].strip().split("\n")[0]
    { "coqa_em_f1", reports = { "em", "f1" }, score = function(doc, response)
        local pred = score.strip(response)
        pred = string.match(pred, "^[^\n]*")
        return compute_scores(doc_to_target(doc), pred)
      end },
  },
}
