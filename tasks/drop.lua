-- DROP (Dua et al., 2019): questions that need discrete reasoning (counting, sorting,
-- arithmetic) over a passage. Reproduces lm-eval's `drop` (lm_eval/tasks/drop/default.yaml
-- and utils.py, version 2): EleutherAI/drop, validation split, few-shot pool train,
-- "<passage> <question>" with an empty target_delimiter, generation stopped at ".", and
-- DROP's em and f1 (metrics.drop: max over the gold answers, f1 rounded to 2 decimals).
-- (task-formats.md §24)
local metrics = require "evallua.metrics"
local json = require "evallua.json"

local function present(v) return v ~= nil and v ~= json.null end

-- utils.parse_answer: a number, else the spans, else "day month year".strip(); one tuple.
local function parse_answer(a)
  if present(a.number) and a.number ~= "" then return { tostring(a.number) } end
  if type(a.spans) == "table" and #a.spans > 0 then return a.spans end
  local d = a.date or {}
  local text = table.concat({ d.day or "", d.month or "", d.year or "" }, " ")
  return { (string.gsub(string.gsub(text, "^%s+", ""), "%s+$", "")) }
end

-- utils._flatten_validated_answers: the struct of lists as a list of answers.
local function validated(v)
  local out = {}
  if type(v) ~= "table" or type(v.number) ~= "table" then return out end
  for i = 1, #v.number do
    local date = v.date
    if type(date) == "table" and date[i] ~= nil then date = date[i]
    elseif type(date) == "table" and type(date.day) == "table" then
      date = { day = date.day[i], month = date.month[i], year = date.year[i] }
    end
    out[i] = { number = v.number[i], date = date, spans = v.spans and v.spans[i] or {} }
  end
  return out
end

-- utils.get_answers: answer, then each validated answer, as tuples, de-duplicated in order.
local function get_answers(doc)
  if type(doc.answer) ~= "table" then error("the document has no field 'answer'", 0) end
  local out, seen = {}, {}
  local candidates = { doc.answer }
  for _, a in ipairs(validated(doc.validated_answers)) do candidates[#candidates + 1] = a end
  for _, c in ipairs(candidates) do
    local tuple = parse_answer(c)
    local key = table.concat(tuple, "\0")
    if not seen[key] then
      seen[key] = true
      out[#out + 1] = tuple
    end
  end
  return out
end

-- utils.process_docs: id, passage, question, answers (the original columns are kept).
local function process_docs(docs)
  for _, doc in ipairs(docs) do
    doc.id = doc.query_id
    doc.answers = get_answers(doc)
  end
  return docs
end

-- "{{ answer|join(',') }}": Jinja joins the KEYS of the answer struct (lm-eval's quirk),
-- in the dataset's feature order. Only few-shot examples show it.
local ANSWER_KEYS = { "number", "date", "spans", "worker_id", "hit_id" }
local function doc_to_target(doc)
  local keys = {}
  for _, k in ipairs(ANSWER_KEYS) do
    if type(doc.answer) == "table" and doc.answer[k] ~= nil then keys[#keys + 1] = k end
  end
  return table.concat(keys, ",")
end

return {
  name = "drop",
  aliases = { "DROP" },
  version = 2,
  dataset = { path = "EleutherAI/drop", training_split = "train", validation_split = "validation" },
  process_docs = process_docs,
  output_type = "generate_until",
  doc_to_text = "{{passage}} {{question}}",
  doc_to_target = doc_to_target,
  target_delimiter = "",
  generation_kwargs = { ["until"] = { "." } },
  metrics = {
    -- utils.process_results: the completion against every gold tuple; em and f1 maxima
    { "drop_em_f1", reports = { "em", "f1" }, score = function(doc, response)
        local r = metrics.drop({ response }, { doc.answers })
        return { em = r.em[1], f1 = r.f1[1] }
      end },
  },
}
