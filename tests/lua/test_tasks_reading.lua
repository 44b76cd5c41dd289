-- Reading-comprehension, commonsense and legal tasks without data in ../shared/data/hub
-- (commonsense_qa, race, drop, coqa, squadv2, quac, legalbench_*), run on the synthetic
-- fixtures in tests/fixtures/data (the real Hugging Face column layouts). The expected
-- prompts below were produced independently of evallua: a throwaway Python script applied
-- lm-eval's templates and utils (task-formats.md §23, §24, §28, §30; lm_eval/tasks/
-- commonsense_qa/default.yaml, quac/, legalbench/) to the fixture files, with few-shot
-- examples drawn by CPython's random.Random(1234).sample as lm-eval draws them. Metric
-- values are worked out by hand in the comments from the SQuAD / DROP / CoQA definitions.
local check = dofile(os.getenv("EVALLUA_SRC") .. "/tests/lua/check.lua")
local registry = require "evallua.registry"
local runner = require "evallua.runner"

local data_dir = os.getenv("EVALLUA_SRC") .. "/tests/fixtures/data"
local reg = registry.load()

local function task_of(name) return registry.resolve(reg, name)[1] end

-- Samples of the first n documents of a task, as `evallua run` builds them.
local function build(name, n, num_fewshot)
  return runner.build_task(task_of(name), { data_dir = data_dir, fewshot_seed = 1234, limit = n,
                                            num_fewshot = num_fewshot }, {})
end

local function sample(name, doc, num_fewshot)
  return build(name, doc + 1, num_fewshot).samples[doc + 1]
end

-- The values of a task's custom metric for one document and response.
local function metric(name, doc, response)
  local s = sample(name, doc)
  return task_of(name).metric_specs[1].score(s.doc, response)
end

local E = {
  csqa_0 = "Question: Where would you put a plate after washing it?\nA. oven\nB. cupboard\nC. garden\nD. bathtub\nE. car\nAnswer:",
  csqa_0_2shot = "Question: Where do fish live?\nA. desert\nB. sky\nC. tree\nD. water\nE. attic\nAnswer: D\n\nQuestion: What do you use to cut paper?\nA. spoon\nB. scissors\nC. pillow\nD. cup\nE. rope\nAnswer: B\n\nQuestion: Where would you put a plate after washing it?\nA. oven\nB. cupboard\nC. garden\nD. bathtub\nE. car\nAnswer:",
  csqa_1_2shot = "Question: What do you use to cut paper?\nA. spoon\nB. scissors\nC. pillow\nD. cup\nE. rope\nAnswer: B\n\nQuestion: What is ice made of?\nA. wood\nB. glass\nC. frozen water\nD. salt\nE. sugar\nAnswer: C\n\nQuestion: What do people do when they are tired?\nA. run\nB. sing\nC. sleep\nD. shout\nE. swim\nAnswer:",
  race_0 = "Article: Tom's garden is full of roses. Every morning he waters them before school.\n\nQuestion: What grows in Tom's garden?\nAnswer: roses\n _  .in the morning\nWhat can we learn about Tom?",
  race_1 = "Article: Mary's \"best\" day was Sunday, when she visited the museum.\n\nMary's best day was  _  .",
  drop_0 = "The Bears scored 7 points in the first quarter and 10 in the second. How many points did the Bears score in the first half?",
  drop_0_1shot = "Rome and Paris are capitals. Which cities are capitals?number,date,spans,worker_id,hit_id\n\nThe Bears scored 7 points in the first quarter and 10 in the second. How many points did the Bears score in the first half?",
  coqa_0 = "Anna lives in Paris with her cat Milo. She works at a bakery.\n\nQ: Where does Anna live?\n\nA: Paris\n\nQ: Who lives with her?\n\nA: her cat Milo\n\nQ: Where does she work?\n\nA:",
  coqa_1 = "The river froze in January.\n\nQ: What froze?\n\nA:",
  coqa_0_1shot = "Eve has a red bike.\n\nQ: What does Eve have?\n\nA: a bike\n\nQ: What colour is it?\n\nA: red\n\nAnna lives in Paris with her cat Milo. She works at a bakery.\n\nQ: Where does Anna live?\n\nA: Paris\n\nQ: Who lives with her?\n\nA: her cat Milo\n\nQ: Where does she work?\n\nA:",
  squad_0 = "Title: Normans\n\nBackground: The Normans gave their name to Normandy, a region in France.\n\nQuestion: In what country is Normandy located?\n\nAnswer:",
  squad_0_1shot = "Title: Sun\n\nBackground: The Sun is a star at the centre of the Solar System.\n\nQuestion: Who built the Sun?\n\nAnswer:  unanswerable\n\nTitle: Normans\n\nBackground: The Normans gave their name to Normandy, a region in France.\n\nQuestion: In what country is Normandy located?\n\nAnswer:",
  squad_1_1shot = "Title: Sun\n\nBackground: The Sun is a star at the centre of the Solar System.\n\nQuestion: What is the Sun?\n\nAnswer:  a star\n\nTitle: Normans\n\nBackground: The Normans gave their name to Normandy, a region in France.\n\nQuestion: Who gave their name to Paris?\n\nAnswer:",
  quac_0 = "Title: Ada Lovelace\n\nBackground: Ada Lovelace was a mathematician.\n\nSection: Early life\nPassage: Ada was born in London in 1815.\n\nQuestion: Where was she born?\nAnswer:",
  quac_0_1shot = "Title: Grace Hopper\n\nSection: Navy\nPassage: Hopper joined the Navy.\n\nQuestion: What did she join?\nAnswer: the Navy\n\nTitle: Ada Lovelace\n\nBackground: Ada Lovelace was a mathematician.\n\nSection: Early life\nPassage: Ada was born in London in 1815.\n\nQuestion: Where was she born?\nAnswer:",
  lb_proa = { description = "A private right of action is when a regular person, a private citizen, is legally entitled to enforce their rights under a given statute. Does the clause specify a private right of action? Answer Yes or No.\n\n", body = "Statute: Clause 3 grants any person a right to sue.\nAnswer: No\n\nStatute: Clause 0 grants any person a right to sue.\nAnswer: Yes\n\nStatute: Clause 4 grants any person a right to sue.\nAnswer: Yes\n\nStatute: Clause 2 grants any person a right to sue.\nAnswer: Yes\n\nStatute: Clause 1 grants any person a right to sue.\nAnswer: No\n\nStatute: The agency shall publish a report.\nAnswer:" },
  lb_corporate_lobbying = { description = "You are a lobbyist analyzing Congressional bills for their impacts on companies. Given the title and summary of the bill, plus information on the company from its 10K SEC filing, it is your job to determine if a bill is at least somewhat relevant to a company in terms of whether it could impact the company's bottom-line if it was enacted (by saying Yes or No).\n\n", body = "Official title of bill: A bill to tax sugar.\nOfficial summary of bill: Taxes sugary drinks.\nCompany name: SodaCo\nCompany business description: SodaCo sells soft drinks.\nLabel: Yes\n\nOfficial title of bill: A bill to fund parks.\nOfficial summary of bill: Funds national parks.\nCompany name: ChipCorp\nCompany business description: ChipCorp makes chips.\nLabel:" },
  lb_abercrombie = { description = "A mark is generic if it is the common name for the product. A mark is descriptive if it describes a purpose, nature, or attribute of the product. A mark is suggestive if it suggests or implies a quality or characteristic of the product. A mark is arbitrary if it is a real English word that has no relation to the product. A mark is fanciful if it is an invented word. Label the type of mark for the following products.\n\n", body = "Description: The mark \"Apple\" for computers.\nType: arbitrary\n\nDescription: The mark \"Ivory\" for a product made of elephant tusks.\nType: generic\n\nDescription: The mark \"Coppertone\" for sunscreen.\nType: suggestive\n\nDescription: The mark \"Kodak\" for cameras.\nType: fanciful\n\nDescription: The mark \"Tasty\" for bread.\nType: descriptive\n\nDescription: The mark \"Salt\" for salt.\nType:" },
  lb_international_citizenship_questions = { description = "Answer the following questions considering the state of international law on January 1st, 2020. Answer Yes or No.\n\n", body = "Question: Is citizenship in country 3 acquired by birth?\nAnswer: No\n\nQuestion: Is citizenship in country 0 acquired by birth?\nAnswer: Yes\n\nQuestion: Is citizenship in country 2 acquired by birth?\nAnswer: Yes\n\nQuestion: Is citizenship in country 1 acquired by birth?\nAnswer: No\n\nQuestion: Does country X allow dual citizenship?\nAnswer:" },
  lb_contract_nli_no_licensing = { description = "Identify if the clause provides that the Agreement shall not grant Receiving Party any right to Confidential Information.\n\n", body = "Clause: Clause 7 of the NDA.\nLabel: No\n\nClause: Clause 0 of the NDA.\nLabel: Yes\n\nClause: Clause 6 of the NDA.\nLabel: Yes\n\nClause: Clause 5 of the NDA.\nLabel: No\n\nClause: Clause 4 of the NDA.\nLabel: Yes\n\nClause: Clause 2 of the NDA.\nLabel: Yes\n\nClause: Clause 3 of the NDA.\nLabel: No\n\nClause: Clause 1 of the NDA.\nLabel: No\n\nClause: Nothing in this Agreement grants any license.\nLabel:" },
  lb_function_of_decision_section = { description = nil, body = "Text: Paragraph 6 of the opinion.\nFunction: Decree\n\nText: Paragraph 3 of the opinion.\nFunction: Rule\n\nText: Paragraph 0 of the opinion.\nFunction: Facts\n\nText: Paragraph 4 of the opinion.\nFunction: Analysis\n\nText: Paragraph 5 of the opinion.\nFunction: Conclusion\n\nText: Paragraph 2 of the opinion.\nFunction: Issue\n\nText: Paragraph 1 of the opinion.\nFunction: Procedural History\n\nText: We therefore affirm.\nFunction:" },
}

-- commonsense_qa ------------------------------------------------------------------------
do
  local s = sample("CommonsenseQA", 0)
  check.eq(s.requests[1].context, E.csqa_0, "commonsense_qa doc 0 (question.strip())")
  local conts = {}
  for i, r in ipairs(s.requests) do conts[i] = r.continuation end
  check.eq(conts, { " A", " B", " C", " D", " E" }, "commonsense_qa continuations")
  check.eq(s.gold, 1, "commonsense_qa gold: answerKey B")
  check.eq(sample("commonsense_qa", 0, 2).requests[1].context, E.csqa_0_2shot, "commonsense_qa doc 0, 2-shot from train")
  check.eq(sample("commonsense_qa", 1, 2).requests[1].context, E.csqa_1_2shot, "commonsense_qa doc 1, 2-shot (second draw)")
  check.eq(sample("commonsense_qa", 2).gold, 0)
  local t = task_of("CSQA")
  check.eq(t.dataset.test_split, "validation")
  check.eq(t.metric_specs[1].name, "acc")
  check.eq(#t.metric_specs, 1, "commonsense_qa reports acc only")
end

-- race ------------------------------------------------------------------------------------
do
  local s = sample("RACE", 0)
  check.eq(s.requests[1].context, E.race_0, "race doc 0: earlier problems answered, cloze question[-5:]")
  check.eq(s.requests[4].continuation, " He cares for his flowers.")
  check.eq(s.gold, 3, "race gold: the last problem's letter D")
  local s1 = sample("race", 1)
  check.eq(s1.requests[1].context, E.race_1, "race doc 1: a single (cloze) problem is asked as is")
  check.eq(s1.gold, 2)
  check.eq(#task_of("race").metric_specs, 1, "race reports acc only")
end

-- drop ------------------------------------------------------------------------------------
do
  local s = sample("DROP", 0)
  check.eq(s.requests[1].context, E.drop_0, "drop doc 0")
  check.eq(s.requests[1]["until"], { "." }, "drop stops at '.'")
  check.eq(sample("drop", 0, 1).requests[1].context, E.drop_0_1shot,
    "drop 1-shot: empty target_delimiter, the answer struct's keys joined (lm-eval's quirk)")
  -- answers: ("17",) and ("17.0",) (distinct tuples before normalisation)
  check.eq(s.doc.answers, { { "17" }, { "17.0" } }, "drop answers from answer + validated_answers")
  local m = metric("drop", 0, "17")
  check.eq({ m.em, m.f1 }, { 1.0, 1.0 }, "drop '17' = 17.0")
  -- " 17 points": bag {17.0, points} vs {17.0}: P 1/2, R 1, F1 0.67 (rounded); em 0
  m = metric("drop", 0, " 17 points")
  check.eq(m.em, 0)
  check.near(m.f1, 0.67, 1e-9, "drop f1 rounded to 2 decimals")
  -- two gold spans, one predicted span: best alignment 0.5 over max(2, 1) bags = 0.25
  m = metric("drop", 1, "Jones and Brown")
  check.eq(m.em, 0)
  check.near(m.f1, 0.25, 1e-9, "drop multi-span f1")
  check.eq(sample("drop", 2).doc.answers, { { "4 July 1776" } }, "drop date answer: 'day month year'")
  m = metric("drop", 2, "4 July 1776")
  check.eq({ m.em, m.f1 }, { 1.0, 1.0 })
end

-- coqa ------------------------------------------------------------------------------------
do
  local s = sample("CoQA", 0)
  check.eq(s.requests[1].context, E.coqa_0, "coqa doc 0: history answered, last turn asked")
  check.eq(s.requests[1]["until"], { "\nQ:" })
  check.eq(s.target, { "a bakery", "At a bakery", "the bakery", "bakery" },
    "coqa golds: last answer + additional answers not equal case-insensitively")
  check.eq(sample("coqa", 1).requests[1].context, E.coqa_1, "coqa doc 1: one turn")
  check.eq(sample("coqa", 0, 1).requests[1].context, E.coqa_0_1shot, "coqa 1-shot: the example's last answer")
  -- "bakery": exact [1,0,1,1] -> every leave-one-out max is 1
  local m = metric("coqa", 0, " bakery\nQ: more")
  check.eq({ m.em, m.f1 }, { 1.0, 1.0 }, "coqa first line, stripped")
  -- "at the bakery" -> "at bakery": exact [0,1,0,0] -> LOO maxima 1,0,1,1 -> 0.75;
  -- f1 [2/3,1,2/3,2/3] -> LOO maxima 1,2/3,1,1 -> 11/12
  m = metric("coqa", 0, "at the bakery")
  check.near(m.em, 0.75, 1e-12, "coqa leave-one-out em")
  check.near(m.f1, 11 / 12, 1e-12, "coqa leave-one-out f1")
  m = metric("coqa", 1, "the river.")
  check.eq({ m.em, m.f1 }, { 1.0, 1.0 }, "coqa single gold")
end

-- squadv2 ---------------------------------------------------------------------------------
do
  local s = sample("SQuAD2", 0)
  check.eq(s.requests[1].context, E.squad_0, "squadv2 doc 0")
  check.eq(s.requests[1]["until"], { "\n" })
  check.eq(task_of("SQuADv2").name, "squadv2")
  check.eq(sample("squadv2", 0, 1).requests[1].context, E.squad_0_1shot,
    "squadv2 1-shot: target ' ' + answer after target_delimiter ' '")
  check.eq(sample("squadv2", 1, 1).requests[1].context, E.squad_1_1shot, "squadv2 1-shot, second draw")
  local m = metric("squadv2", 0, " France")
  check.eq({ m.exact, m.f1 }, { 100.0, 100.0 }, "squadv2 percentages")
  -- "in France" vs "france": P 1/2, R 1 -> 2/3
  m = metric("squadv2", 0, "in France")
  check.eq(m.exact, 0.0)
  check.near(m.f1, 200 / 3, 1e-9)
  -- unanswerable: the only gold is "", so only an empty answer scores
  m = metric("squadv2", 1, "")
  check.eq({ m.exact, m.f1 }, { 100.0, 100.0 }, "squadv2 no-answer, empty prediction")
  m = metric("squadv2", 1, "unanswerable")
  check.eq({ m.exact, m.f1 }, { 0.0, 0.0 }, "squadv2 no-answer, 'unanswerable' predicted")
  -- "every 27.3 days" -> "every 273 days"; best gold "once every 273 days": P 1, R 3/4 -> 6/7
  m = metric("squadv2", 2, "every 27.3 days")
  check.near(m.f1, 600 / 7, 1e-9, "squadv2 max over golds")
end

-- quac ------------------------------------------------------------------------------------
do
  local s = sample("QuAC", 0)
  check.eq(s.requests[1].context, E.quac_0, "quac doc 0")
  check.eq(s.requests[1]["until"], { "\n\n" })
  check.eq(s.requests[1].max_tokens, 64)
  check.eq(sample("quac", 0, 1).requests[1].context, E.quac_0_1shot, "quac 1-shot")
  -- "London, England" -> "london england": vs "london" 2/3, vs "in london" 1/2
  check.near(metric("quac", 0, " London, England"), 2 / 3, 1e-12, "quac best f1")
  check.eq(metric("quac", 1, "The first program!"), 1.0)
end

-- legalbench -------------------------------------------------------------------------------
for _, name in ipairs { "proa", "corporate_lobbying", "abercrombie", "international_citizenship_questions",
                        "contract_nli_no_licensing" } do
  local e = E["lb_" .. name]
  local s = sample("legalbench_" .. name, 0)
  check.eq(s.requests[1].context, e.description .. e.body, "legalbench_" .. name .. " default few-shot prompt")
  check.eq(s.requests[1]["until"], { "\n" })
  check.eq(s.requests[1].max_tokens, 15)
end
do
  local s = sample("legalbench_function_of_decision_section", 0)
  local ctx = s.requests[1].context
  check.eq(string.sub(ctx, -#E.lb_function_of_decision_section.body), E.lb_function_of_decision_section.body,
    "legalbench_function_of_decision_section: 7 examples and the question")
  check.ok(string.find(ctx, "^Classify the following text using the following definitions%.\n\n%- Facts: ") ~= nil,
    "legalbench_function_of_decision_section description")
  local tasks, groups = registry.resolve(reg, "LegalBench")
  check.eq(#tasks, 5, "legalbench group: HELM's five tasks")
  check.eq(groups[1].aggregate_specs, { { name = "exact_match", weight_by_size = false } })
  tasks, groups = registry.resolve(reg, "LegalBench-ContractNLI")
  check.eq(#tasks, 14, "legalbench_contract_nli: 14 tasks")
  check.eq(groups[1].name, "legalbench_contract_nli")
  -- remove_whitespace (leading only), then exact_match ignoring case and punctuation
  local t = task_of("legalbench_proa")
  local filtered = t.filter_specs[1].steps[1]({ "  No.\n" })
  check.eq(filtered, { "No.\n" }, "legalbench filter removes leading whitespace only")
  check.eq(t.metric_specs[1].ignore_case, true)
  check.eq(t.metric_specs[1].ignore_punctuation, true)
end

return check.summary()
