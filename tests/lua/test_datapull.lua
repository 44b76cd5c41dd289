-- The planning side of `evallua data pull` (lua/evallua/datapull.lua): which splits each task
-- reads — lm-eval's rule: documents from test_split else validation_split; few-shot examples
-- from fewshot_split, else training_split, else validation_split, else the test split, unless
-- the task lists its own examples — each (dataset, config, split) once, and the up-front check
-- that names every missing file with the command that fetches it. No network here.
local check = dofile(os.getenv("EVALLUA_SRC") .. "/tests/lua/check.lua")
local datapull = require "evallua.datapull"
local docs = require "evallua.docs"
local registry = require "evallua.registry"
local sys = require "evallua.sys"

local reg = registry.load()
local function tasks(spec) return (registry.resolve(reg, spec)) end
local function keys(list)
  local out = {}
  for i, e in ipairs(list) do out[i] = e.dataset .. "/" .. e.config .. "/" .. e.split end
  return out
end

-- arc_easy (lm-eval arc_easy.yaml: test_split test, training_split train): test, then train
check.eq(keys(datapull.plan(tasks("arc_easy"))),
  { "allenai/ai2_arc/ARC-Easy/test", "allenai/ai2_arc/ARC-Easy/train" })
-- mmlu subjects (lm-eval _default_template_yaml: test_split test, fewshot_split dev)
check.eq(keys(datapull.plan(tasks("mmlu_anatomy"))), { "cais/mmlu/anatomy/test", "cais/mmlu/anatomy/dev" })
-- hellaswag (validation_split validation, training_split train)
check.eq(keys(datapull.plan(tasks("HellaSwag"))),
  { "Rowan/hellaswag/default/validation", "Rowan/hellaswag/default/train" })
-- gsm8k_cot lists its own few-shot examples: only the test split
check.eq(keys(datapull.plan(tasks("gsm8k_cot"))), { "openai/gsm8k/main/test" })
-- tasks sharing splits: each once, with every task that reads it
local shared = datapull.plan(tasks("gsm8k,gsm8k_cot"))
check.eq(keys(shared), { "openai/gsm8k/main/test", "openai/gsm8k/main/train" })
check.eq(shared[1].tasks, { "gsm8k", "gsm8k_cot" })
-- a group expands to its members: mmlu is 57 subjects x (test, dev)
check.eq(#datapull.plan(tasks("mmlu")), 114)
-- --splits keeps only the splits named
check.eq(keys(datapull.plan(tasks("mmlu_anatomy,arc_easy"), { test = true })),
  { "cais/mmlu/anatomy/test", "allenai/ai2_arc/ARC-Easy/test" })

-- the command in error messages is copy-pasteable
check.eq(datapull.shell_word("arc_easy"), "arc_easy")
check.eq(datapull.shell_word("/data/my hub"), "'/data/my hub'")
check.eq(datapull.shell_word("it's"), "'it'\\''s'")
check.eq(datapull.fetch_command({ "arc_easy", "mmlu_*" }, "/d"), "evallua data pull arc_easy 'mmlu_*' --data-dir /d")
check.eq(datapull.split_base("/d/", "cais/mmlu", nil, "test"), "/d/cais/mmlu/default/test.jsonl")

-- require_present: every missing file named, once each task, with the pull command
local dir = os.tmpname()
os.remove(dir)
sys.mkdir_p(dir .. "/allenai/ai2_arc/ARC-Easy")
local f = assert(io.open(dir .. "/allenai/ai2_arc/ARC-Easy/test.jsonl", "w"))
f:write('{"id": "x", "question": "q", "choices": {"text": ["a"], "label": ["A"]}, "answerKey": "A"}\n')
f:close()
local zero = function() return 0 end
local five = function() return 5 end
check.ok(pcall(datapull.require_present, tasks("arc_easy"), dir, zero), "test split present, zero-shot: fine")
local ok, err = pcall(datapull.require_present, tasks("arc_easy,mmlu_anatomy"), dir, five)
check.ok(not ok, "few-shot split missing raises")
check.ok(err:find("task 'arc_easy' (fewshot split): no file for split 'train' of allenai/ai2_arc (config ARC-Easy): expected "
  .. dir .. "/allenai/ai2_arc/ARC-Easy/train.jsonl", 1, true), err)
check.ok(err:find("splits there: test", 1, true), err)
check.ok(err:find("task 'mmlu_anatomy' (eval split): no file for split 'test' of cais/mmlu", 1, true), err)
check.ok(err:find("task 'mmlu_anatomy' (fewshot split)", 1, true), err)
check.ok(err:find("evallua data pull arc_easy mmlu_anatomy --data-dir " .. dir, 1, true), err)
os.remove(dir .. "/allenai/ai2_arc/ARC-Easy/test.jsonl")
for _, d in ipairs { "/allenai/ai2_arc/ARC-Easy", "/allenai/ai2_arc", "/allenai", "" } do os.remove(dir .. d) end

-- the data folder rule: --data-dir, $EVALLUA_DATA, then $XDG_DATA_HOME/evallua/datasets
check.eq(docs.data_dir("/x"), "/x")
if not os.getenv("EVALLUA_DATA") then
  local xdg = os.getenv("XDG_DATA_HOME")
  local home = os.getenv("HOME") or "."
  check.eq(docs.data_dir(nil), (xdg and xdg:sub(1, 1) == "/") and (xdg .. "/evallua/datasets")
    or (home .. "/.local/share/evallua/datasets"))
end
return check.summary()
