-- Bad data for shipped tasks: each problem is a clear error while documents are built —
-- before any request is sent — naming the task, the document, and the data file and line:
-- a document missing a field the task needs (template and function tasks, evaluated and
-- few-shot documents), a choice index out of range, a target that is not a choice, an
-- empty split, and a few-shot split smaller than num_fewshot.
local check = dofile(os.getenv("EVALLUA_SRC") .. "/tests/lua/check.lua")
local registry = require "evallua.registry"
local runner = require "evallua.runner"
local sys = require "evallua.sys"

local dir = os.tmpname()
os.remove(dir)
local reg = registry.load()

-- Write a split file under the temp data dir; returns its path.
local function split(id, config, name, lines)
  local folder = string.format("%s/%s/%s", dir, id, config)
  sys.mkdir_p(folder)
  local p = folder .. "/" .. name .. ".jsonl"
  sys.write_file(p, table.concat(lines, "\n") .. "\n")
  return p
end

local function build(name, num_fewshot)
  local t = registry.resolve(reg, name)[1]
  return runner.build_task(t, { data_dir = dir, fewshot_seed = 1234, num_fewshot = num_fewshot }, {})
end

local ARC_OK = '{"id": "a", "question": "Q?", "choices": {"text": ["x", "y"], "label": ["A", "B"]}, "answerKey": "B"}'
local ARC_NO_QUESTION = '{"id": "b", "choices": {"text": ["x", "y"], "label": ["A", "B"]}, "answerKey": "A"}'

-- a template task: the missing field, the task, the document and its file:line (blank line
-- in the file counted)
do
  local p = split("allenai/ai2_arc", "ARC-Easy", "test", { ARC_OK, "", ARC_NO_QUESTION })
  check.raises(function() build("arc_easy") end,
    { "task 'arc_easy'", "building the prompt of document 1", "has no field 'question'", p .. ":3" },
    "arc_easy: missing field")
end

-- a missing field in a few-shot document names that document's file and line
do
  split("allenai/ai2_arc", "ARC-Easy", "test", { ARC_OK })
  local p = split("allenai/ai2_arc", "ARC-Easy", "train", { ARC_NO_QUESTION })
  check.raises(function() build("arc_easy", 1) end,
    { "task 'arc_easy'", "document 0", "few-shot example 1 (" .. p .. ":1)", "has no field 'question'" },
    "arc_easy: few-shot document missing a field")
end

-- a function task: util.field names the field
do
  local p = split("tau/commonsense_qa", "default", "validation", {
    '{"id": "c", "question_concept": "x", "choices": {"label": ["A","B","C","D","E"], "text": ["a","b","c","d","e"]}, "answerKey": "A"}' })
  check.raises(function() build("commonsense_qa") end,
    { "task 'commonsense_qa'", "document 0", "commonsense_qa.lua", "the document has no field 'question'", p .. ":1" },
    "commonsense_qa: missing field")
end

-- a choice index out of range, and a target that is not among the choices
do
  local p = split("GBaker/MedQA-USMLE-4-options-hf", "default", "test", {
    '{"id": "m", "sent1": "Q", "ending0": "a", "ending1": "b", "ending2": "c", "ending3": "d", "label": 4}' })
  check.raises(function() build("medqa_4options") end,
    { "task 'medqa_4options'", "document 0", "target 4 is not a valid choice index (0..3)", p .. ":1" },
    "medqa: choice index out of range")
  p = split("tau/commonsense_qa", "default", "validation", {
    '{"id": "c", "question": "Q", "question_concept": "x", "choices": {"label": ["A","B","C","D","E"], "text": ["a","b","c","d","e"]}, "answerKey": "F"}' })
  check.raises(function() build("commonsense_qa") end,
    { "task 'commonsense_qa'", "target 'F' is not one of the choices", p .. ":1" },
    "commonsense_qa: answer key not a choice")
end

-- an empty split
do
  local folder = dir .. "/aps/super_glue/boolq"
  sys.mkdir_p(folder)
  sys.write_file(folder .. "/validation.jsonl", "\n")
  check.raises(function() build("boolq") end,
    { "task 'boolq'", "split 'validation' of aps/super_glue (config boolq) has no documents", folder .. "/validation.jsonl" },
    "boolq: empty split")
end

-- a few-shot split smaller than num_fewshot (legalbench_proa: 5-shot from train)
do
  split("nguha/legalbench", "proa", "test", { '{"answer": "No", "index": "0", "text": "T"}' })
  local p = split("nguha/legalbench", "proa", "train", {
    '{"answer": "No", "index": "0", "text": "A"}', '{"answer": "Yes", "index": "1", "text": "B"}' })
  check.raises(function() build("legalbench_proa") end,
    { "task 'legalbench_proa'", "choosing few-shot examples for document 0", "few-shot pool has 2 documents, 5 requested",
      "split 'train' (" .. p .. ")" },
    "legalbench_proa: few-shot split too small")
end

-- a malformed Python literal in RACE's problems column names the field's problem and file
do
  local p = split("EleutherAI/race", "high", "test", {
    '{"example_id": "r", "article": "A", "problems": "[{\'answer\': \'A\', \'options\': [\'x\'"}' })
  check.raises(function() build("race") end,
    { "task 'race'", "problems: malformed Python literal", p .. ":1" }, "race: malformed problems")
end

os.execute("rm -rf '" .. dir .. "'")
return check.summary()
