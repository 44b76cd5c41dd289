-- docs/tasks.md's shipped-tasks table is what scripts/tasks_table.lua generates from the
-- task files (so the table cannot drift), and the names users type resolve to the tasks
-- and groups they mean.
local check = dofile(os.getenv("EVALLUA_SRC") .. "/tests/lua/check.lua")
local registry = require "evallua.registry"

local src = os.getenv("EVALLUA_SRC")
local script = assert(loadfile(src .. "/scripts/tasks_table.lua"))
check.eq(script("--check", src .. "/docs/tasks.md"), 0,
  "docs/tasks.md table matches the task files (evallua exec scripts/tasks_table.lua --update docs/tasks.md)")

-- every task has a row: its own, or its family's
local doc = io.open(src .. "/docs/tasks.md"):read("a")
local reg = registry.load()
local FAMILY = { "mmlu_", "bbh_cot_fewshot_", "bbh_fewshot_", "hendrycks_math_", "minerva_math_", "legalbench_contract_nli_" }
for _, t in ipairs(reg.tasks) do
  local row = "| `" .. t.name .. "` |"
  if not string.find(doc, row, 1, true) then
    local covered = false
    for _, f in ipairs(FAMILY) do
      if string.sub(t.name, 1, #f) == f and string.find(doc, "| `" .. f .. "<", 1, true) then covered = true end
    end
    check.ok(covered, "docs/tasks.md has a row for " .. t.name)
  end
end

-- the names users type (case-insensitive), each to the task or group it means
local NAMES = {
  MMLU = "mmlu", mmlu = "mmlu", HellaSwag = "hellaswag", ["ARC-c"] = "arc_challenge",
  ["ARC-Challenge"] = "arc_challenge", ["arc-e"] = "arc_easy", ["ARC-Easy"] = "arc_easy",
  MATH500 = "math500", AIME24 = "aime24", HumanEval = "humaneval", TruthfulQA = "truthfulqa",
  CommonsenseQA = "commonsense_qa", CSQA = "commonsense_qa", SQuAD2 = "squadv2", SQuADv2 = "squadv2",
  ["squad_v2"] = "squadv2", DROP = "drop", CoQA = "coqa", QuAC = "quac", RACE = "race",
  LegalBench = "legalbench", GSM8K = "gsm8k", MATH = "hendrycks_math", BBH = "bbh", IFEval = "ifeval",
  WinoGrande = "winogrande", PIQA = "piqa", BoolQ = "boolq", COPA = "copa", RTE = "rte",
  WSC273 = "wsc273", LAMBADA = "lambada_openai", LogiQA = "logiqa", MathQA = "mathqa",
  MedQA = "medqa_4options", MedMCQA = "medmcqa", PubMedQA = "pubmedqa", SciQ = "sciq",
  OpenBookQA = "openbookqa", TriviaQA = "triviaqa", ["NQ-Open"] = "nq_open", MBPP = "mbpp",
}
for typed, want in pairs(NAMES) do
  local entry = reg.by_name[string.lower(typed)]
  check.eq(entry and entry.name, want, "'" .. typed .. "' names " .. want)
end
return check.summary()
