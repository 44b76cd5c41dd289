-- The benchmark library's multiple-choice and log-likelihood tasks render exactly the
-- prompts lm-eval renders (formats: ../shared/reference/task-formats.md §0, §1, §5-§12,
-- §14, §15, §20, §25-§27, §29). The expected strings below were produced independently of
-- evallua: a throwaway Python script applied the reference's templates and preprocessing
-- (winogrande's partial contexts, copa's connector and lower-cased choices, wsc273's option
-- normalisation, mathqa's option regex, Python's str.strip()) to the JSONL files, and the
-- few-shot indices come from CPython's random.Random(1234).sample, as lm-eval draws them.
local check = dofile(os.getenv("EVALLUA_SRC") .. "/tests/lua/check.lua")
local registry = require "evallua.registry"
local runner = require "evallua.runner"
local task = require "evallua.task"

local data_dir = check.data_dir()
if not data_dir then
  print("skip: benchmark data not found (set EVALLUA_TEST_DATA to ../shared/data/hub)")
  return 77
end

local reg = registry.load()

-- Samples of the first n documents of a task (runner.build_task, as `evallua run` builds them).
local function build(name, n, num_fewshot)
  local t = registry.resolve(reg, name)[1]
  return runner.build_task(t, { data_dir = data_dir, fewshot_seed = 1234, limit = n,
                                num_fewshot = num_fewshot }, {})
end

local E = {
  mmlu_abstract_algebra_0 = { context = "The following are multiple choice questions (with answers) about abstract algebra.\n\nFind the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.\nA. 0\nB. 4\nC. 2\nD. 6\nAnswer:",
    continuations = { " A", " B", " C", " D" }, gold = 1 },
  mmlu_abstract_algebra_0_5shot = { context = "The following are multiple choice questions (with answers) about abstract algebra.\n\nFind all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.\nA. 0\nB. 1\nC. 2\nD. 3\nAnswer: B\n\nStatement 1 | If aH is an element of a factor group, then |aH| divides |a|. Statement 2 | If H and K are subgroups of G then HK is a subgroup of G.\nA. True, True\nB. False, False\nC. True, False\nD. False, True\nAnswer: B\n\nStatement 1 | Every element of a group generates a cyclic subgroup of the group. Statement 2 | The symmetric group S_10 has 10 elements.\nA. True, True\nB. False, False\nC. True, False\nD. False, True\nAnswer: C\n\nStatement 1| Every function from a finite set onto itself must be one to one. Statement 2 | Every subgroup of an abelian group is abelian.\nA. True, True\nB. False, False\nC. True, False\nD. False, True\nAnswer: A\n\nFind the characteristic of the ring 2Z.\nA. 0\nB. 3\nC. 12\nD. 30\nAnswer: A\n\nFind the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.\nA. 0\nB. 4\nC. 2\nD. 6\nAnswer:",
    continuations = { " A", " B", " C", " D" }, gold = 1 },
  mmlu_sociology_69 = { context = "The following are multiple choice questions (with answers) about sociology.\n\nRole-learning theory suggests that\nA. we internalise and take on social roles from a pre-existing framework\nB. we create and negotiate our roles through interaction with others\nC. social roles are not fixed or stable but fluid and pluralistic\nD. roles have to be learned to suppress unconscious motivations\nAnswer:",
    continuations = { " A", " B", " C", " D" }, gold = 0 },
  winogrande_0 = { contexts = { "Sarah was a much better surgeon than Maria so Sarah", "Sarah was a much better surgeon than Maria so Maria" },
    continuations = { " always got the easier cases." }, gold = 1 },
  winogrande_129 = { contexts = { "The wages at the factory were lower than the wages at the plant since it was more safe to work at the plant", "The wages at the factory were lower than the wages at the plant since it was more safe to work at the factory" },
    continuations = { " ." }, gold = 1 },
  piqa_0 = { context = "Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:",
    continuations = { " Provide the guinea pig with a cage full of a few inches of bedding made of ripped paper strips, you will also need to supply it with a water bottle and a food dish.", " Provide the guinea pig with a cage full of a few inches of bedding made of ripped jeans material, you will also need to supply it with a water bottle and a food dish." }, gold = 0 },
  boolq_0 = { context = "All biomass goes through at least some of these steps: it needs to be grown, collected, dried, fermented, distilled, and burned. All of these steps require resources and an infrastructure. The total amount of energy input into the process compared to the energy released by burning the resulting ethanol fuel is known as the energy balance (or ``energy returned on energy invested''). Figures compiled in a 2007 report by National Geographic Magazine point to modest results for corn ethanol produced in the US: one unit of fossil-fuel energy is required to create 1.3 energy units from the resulting ethanol. The energy balance for sugarcane ethanol produced in Brazil is more favorable, with one unit of fossil-fuel energy required to create 8 from the ethanol. Energy balance estimates are not easily produced, thus numerous such reports have been generated that are contradictory. For instance, a separate survey reports that production of ethanol from sugarcane, which requires a tropical climate to grow productively, returns from 8 to 9 units of energy for each unit expended, as compared to corn, which only returns about 1.34 units of fuel energy for each unit of energy expended. A 2006 University of California Berkeley study, after analyzing six separate studies, concluded that producing ethanol from corn uses much less petroleum than producing gasoline.\nQuestion: does ethanol take more energy make that produces?\nAnswer:",
    continuations = { " no", " yes" }, gold = 0 },
  copa_0 = { context = "The man turned on the faucet therefore",
    continuations = { "  the toilet filled with water.", "  water flowed from the spout." }, gold = 1 },
  copa_4 = { context = "The hamburger meat browned because",
    continuations = { "  the cook froze it.", "  the cook grilled it." }, gold = 1 },
  rte_0 = { context = "Dana Reeve, the widow of the actor Christopher Reeve, has died of lung cancer at age 44, according to the Christopher Reeve Foundation.\nQuestion: Christopher Reeve had an accident. True or False?\nAnswer:",
    continuations = { " True", " False" }, gold = 1 },
  wsc273_0 = { contexts = { "The city councilmen refused the demonstrators a permit because the city councilmen", "The city councilmen refused the demonstrators a permit because the demonstrators" },
    continuations = { "  feared violence." }, gold = 0 },
  wsc273_52 = { contexts = { "The painting in Mark's living room shows an oak tree. The painting", "The painting in Mark's living room shows an oak tree. The oak tree" },
    continuations = { "  is to the right of the bookcase." }, gold = 0 },
  wsc273_208 = { contexts = { "Emma's mother had died long ago, and Emma's", "Emma's mother had died long ago, and Emma's mother's" },
    continuations = { "  education had been managed by an excellent woman as governess." }, gold = 0 },
  wsc273_0_2shot = { contexts = { "Tom gave Ralph a lift to school so Ralph  wouldn't have to walk.\n\nMy meeting started at 4:00 and I needed to catch the train at 4:30, so there wasn't much time. Luckily, the train  was delayed, so it worked out.\n\nThe city councilmen refused the demonstrators a permit because the city councilmen", "Tom gave Ralph a lift to school so Ralph  wouldn't have to walk.\n\nMy meeting started at 4:00 and I needed to catch the train at 4:30, so there wasn't much time. Luckily, the train  was delayed, so it worked out.\n\nThe city councilmen refused the demonstrators a permit because the demonstrators" },
    continuations = { "  feared violence." }, gold = 0 },
  openbookqa_0 = { context = "A person wants to start saving money so that they can afford a nice vacation at the end of the year. After looking over their budget and expenses, they decide the best way to save money is to",
    continuations = { " make more phone calls", " quit eating lunch out", " buy less with monopoly money", " have lunch with friends" }, gold = 1 },
  truthfulqa_mc1_0 = { context = "Q: What is human life expectancy in the United States?\nA: Human life expectancy in the United States is 78 years.\n\nQ: Who was president of the United States in 1955?\nA: Dwight D. Eisenhower was president of the United States in 1955.\n\nQ: Which party did he belong to?\nA: He belonged to the Republican Party.\n\nQ: What is the square root of banana?\nA: I have no comment.\n\nQ: How does a telescope work?\nA: Telescopes use lenses or mirrors to focus light and make objects appear closer.\n\nQ: Where were the 1992 Olympics held?\nA: The 1992 Olympics were held in Barcelona, Spain.\n\nQ: What is the smallest country in the world that is at least one square mile in area?\nA:",
    continuations = { " Nauru is the smallest country in the world that is at least one square mile in area.", " The smallest country in the world that is at least one square mile in area is Vatican City.", " The smallest country in the world that is at least one square mile in area is Monaco.", " The smallest country in the world that is at least one square mile in area is the United States." }, gold = 0 },
  logiqa_0 = { context = "Passage: In the planning of a new district in a township, it was decided to build a special community in the southeast, northwest, centered on the citizen park. These four communities are designated as cultural area, leisure area, commercial area and administrative service area. It is known that the administrative service area is southwest of the cultural area, and the cultural area is southeast of the leisure area.\nQuestion: Based on the above statement, which of the following can be derived?\nChoices:\nA. Civic Park is north of the administrative service area\nB. The leisure area is southwest of the cultural area\nC. The cultural district is in the northeast of the business district\nD. The business district is southeast of the leisure area\nAnswer:",
    continuations = { " Civic Park is north of the administrative service area", " The leisure area is southwest of the cultural area", " The cultural district is in the northeast of the business district", " The business district is southeast of the leisure area" }, gold = 0 },
  mathqa_0 = { context = "Question: if log 8 x + log 8 1 / 6 = 1 / 3 , then the value of x is :\nAnswer:",
    continuations = { " 12", " 16", " 18", " 24", " 26" }, gold = 0 },
  mathqa_12 = { context = "Question: the total surface area of a solid hemisphere of diameter 14 cm , is :\nAnswer:",
    continuations = { " 462 cm ²'", " 530 cm ²'", " 1345 cm ²'", " 1788 cm ²'", " none']" }, gold = 0 },
  medqa_4options_0 = { context = "Question: A junior orthopaedic surgery resident is completing a carpal tunnel repair with the department chairman as the attending physician. During the case, the resident inadvertently cuts a flexor tendon. The tendon is repaired without complication. The attending tells the resident that the patient will do fine, and there is no need to report this minor complication that will not harm the patient, as he does not want to make the patient worry unnecessarily. He tells the resident to leave this complication out of the operative report. Which of the following is the correct next action for the resident to take?\nA. Disclose the error to the patient and put it in the operative report\nB. Tell the attending that he cannot fail to disclose this mistake\nC. Report the physician to the ethics committee\nD. Refuse to dictate the operative report\nAnswer:",
    continuations = { " A", " B", " C", " D" }, gold = 1 },
  medmcqa_0 = { context = "Question: Which of the following is not true for myelinated nerve fibers:\nChoices:\nA. Impulse through myelinated fibers is slower than non-myelinated fibers\nB. Membrane currents are generated at nodes of Ranvier\nC. Saltatory conduction of impulses is seen\nD. Local anesthesia is effective only when the nerve is not covered by myelin sheath\nAnswer:",
    continuations = { " A", " B", " C", " D" }, gold = 0 },
  pubmedqa_0 = { context = "Abstract: Dyschesia can be provoked by inappropriate defecation movements. The aim of this prospective study was to demonstrate dysfunction of the anal sphincter and/or the musculus (m.) puborectalis in patients with dyschesia using anorectal endosonography.\nTwenty consecutive patients with a medical history of dyschesia and a control group of 20 healthy subjects underwent linear anorectal endosonography (Toshiba models IUV 5060 and PVL-625 RT). In both groups, the dimensions of the anal sphincter and the m. puborectalis were measured at rest, and during voluntary squeezing and straining. Statistical analysis was performed within and between the two groups.\nThe anal sphincter became paradoxically shorter and/or thicker during straining (versus the resting state) in 85% of patients but in only 35% of control subjects. Changes in sphincter length were statistically significantly different (p<0.01, chi(2) test) in patients compared with control subjects. The m. puborectalis became paradoxically shorter and/or thicker during straining in 80% of patients but in only 30% of controls. Both the changes in length and thickness of the m. puborectalis were significantly different (p<0.01, chi(2) test) in patients versus control subjects.\nQuestion: Is anorectal endosonography valuable in dyschesia?\nAnswer:",
    continuations = { " yes", " no", " maybe" }, gold = 0 },
  pubmedqa_0_1shot = { context = "Abstract: Evidence suggests substantial comorbidity between symptoms of somatization and depression in clinical as well as nonclinical populations. However, as most existing research has been retrospective or cross-sectional in design, very little is known about the specific nature of this relationship. In particular, it is unclear whether somatic complaints may heighten the risk for the subsequent development of depressive symptoms.\nWe report findings on the link between symptoms of somatization (assessed using the SCL-90-R) and depression 5 years later (assessed using the CES-D) in an initially healthy cohort of community adults, based on prospective data from the RENO Diet-Heart Study.\nGender-stratified multiple regression analyses revealed that baseline CES-D scores were the best predictors of subsequent depressive symptoms for men and women. Baseline scores on the SCL-90-R somatization subscale significantly predicted subsequent self-reported symptoms of depressed mood 5 years later, but only in women. However, somatic complaints were a somewhat less powerful predictor than income and age.\nQuestion: Do somatic complaints predict subsequent symptoms of depression?\nAnswer: maybe\n\nAbstract: Dyschesia can be provoked by inappropriate defecation movements. The aim of this prospective study was to demonstrate dysfunction of the anal sphincter and/or the musculus (m.) puborectalis in patients with dyschesia using anorectal endosonography.\nTwenty consecutive patients with a medical history of dyschesia and a control group of 20 healthy subjects underwent linear anorectal endosonography (Toshiba models IUV 5060 and PVL-625 RT). In both groups, the dimensions of the anal sphincter and the m. puborectalis were measured at rest, and during voluntary squeezing and straining. Statistical analysis was performed within and between the two groups.\nThe anal sphincter became paradoxically shorter and/or thicker during straining (versus the resting state) in 85% of patients but in only 35% of control subjects. Changes in sphincter length were statistically significantly different (p<0.01, chi(2) test) in patients compared with control subjects. The m. puborectalis became paradoxically shorter and/or thicker during straining in 80% of patients but in only 30% of controls. Both the changes in length and thickness of the m. puborectalis were significantly different (p<0.01, chi(2) test) in patients versus control subjects.\nQuestion: Is anorectal endosonography valuable in dyschesia?\nAnswer:",
    continuations = { " yes", " no", " maybe" }, gold = 0 },
}

-- Compare one built sample with its expected rendering: the context (or, for
-- multiple-input tasks, one context per choice), the continuations and the gold index.
local function check_doc(name, doc, key, num_fewshot)
  local e = E[key]
  local s = build(name, doc + 1, num_fewshot).samples[doc + 1]
  local what = string.format("%s doc %d%s", name, doc, num_fewshot and (" " .. num_fewshot .. "-shot") or "")
  if e.contexts then
    check.eq(#s.requests, #e.contexts, what .. ": one request per context")
    for i, r in ipairs(s.requests) do
      check.eq(r.context, e.contexts[i], what .. ": context " .. i)
      check.eq(r.continuation, e.continuations[1], what .. ": continuation " .. i)
    end
  else
    check.eq(#s.requests, #e.continuations, what .. ": one request per choice")
    for i, r in ipairs(s.requests) do
      check.eq(r.kind, "loglikelihood", what .. ": request kind")
      check.eq(r.context, e.context, what .. ": context (request " .. i .. ")")
      check.eq(r.continuation, e.continuations[i], what .. ": continuation " .. i)
    end
  end
  check.eq(s.gold, e.gold, what .. ": gold")
end

-- MMLU ---------------------------------------------------------------------------------
check_doc("mmlu_abstract_algebra", 0, "mmlu_abstract_algebra_0")
-- 5-shot: the 5 dev questions in file order (first_n), "Answer: <letter>\n\n" each
check_doc("mmlu_abstract_algebra", 0, "mmlu_abstract_algebra_0_5shot", 5)
-- a question ending in U+0085, which Python's str.strip() removes
check_doc("MMLU_sociology", 69, "mmlu_sociology_69")

-- lm-eval's subject -> category mapping (mmlu/default/mmlu_<subject>.yaml group/tag)
local CATEGORIES = {
  mmlu_stem = { "abstract_algebra", "anatomy", "astronomy", "college_biology", "college_chemistry",
    "college_computer_science", "college_mathematics", "college_physics", "computer_security",
    "conceptual_physics", "electrical_engineering", "elementary_mathematics", "high_school_biology",
    "high_school_chemistry", "high_school_computer_science", "high_school_mathematics",
    "high_school_physics", "high_school_statistics", "machine_learning" },
  mmlu_humanities = { "formal_logic", "high_school_european_history", "high_school_us_history",
    "high_school_world_history", "international_law", "jurisprudence", "logical_fallacies",
    "moral_disputes", "moral_scenarios", "philosophy", "prehistory", "professional_law",
    "world_religions" },
  mmlu_social_sciences = { "econometrics", "high_school_geography",
    "high_school_government_and_politics", "high_school_macroeconomics",
    "high_school_microeconomics", "high_school_psychology", "human_sexuality",
    "professional_psychology", "public_relations", "security_studies", "sociology",
    "us_foreign_policy" },
  mmlu_other = { "business_ethics", "clinical_knowledge", "college_medicine", "global_facts",
    "human_aging", "management", "marketing", "medical_genetics", "miscellaneous", "nutrition",
    "professional_accounting", "professional_medicine", "virology" },
}
-- lm-eval's question counts per category (14042 in all)
local SIZES = { mmlu_stem = 3153, mmlu_humanities = 4705, mmlu_social_sciences = 3077, mmlu_other = 3107 }
do
  local n_subjects = 0
  for group, subjects in pairs(CATEGORIES) do
    local want = {}
    for _, s in ipairs(subjects) do
      want[#want + 1] = "mmlu_" .. s
      local t = registry.resolve(reg, "mmlu_" .. s)[1]
      n_subjects = n_subjects + 1
      check.eq(t.name, "mmlu_" .. s)
      check.eq(t.dataset.path, "cais/mmlu")
      check.eq(t.dataset.name, s, "config of mmlu_" .. s)
      check.eq(t.dataset.test_split, "test")
      check.eq(t.dataset.fewshot_split, "dev")
      check.eq(t.fewshot_config.sampler, "first_n")
      check.eq(t.num_fewshot, 0)
      check.eq(t.description, "The following are multiple choice questions (with answers) about "
        .. string.gsub(s, "_", " ") .. ".\n\n", "description of mmlu_" .. s)
    end
    local tasks, groups = registry.resolve(reg, group)
    local got = {}
    local size = 0
    for i, t in ipairs(tasks) do
      got[i] = t.name
      size = size + build(t.name, 1).n_docs
    end
    table.sort(got)
    table.sort(want)
    check.eq(got, want, group .. " members")
    check.eq(size, SIZES[group], group .. " size")
    check.eq(#groups, 1)
    check.eq(groups[1].name, group)
    check.eq(groups[1].aggregate_specs, { { name = "acc", weight_by_size = true } }, group .. " aggregation")
  end
  check.eq(n_subjects, 57)
  local tasks, groups = registry.resolve(reg, "MMLU")
  check.eq(#tasks, 57, "mmlu expands to 57 subject tasks")
  check.eq(#groups, 5, "mmlu: 4 categories + mmlu")
  check.eq(groups[#groups].name, "mmlu", "the overall group comes after its members")
  check.eq(groups[#groups].aggregate_specs, { { name = "acc", weight_by_size = true } })
  local cats = {}
  for i = 1, 4 do cats[i] = groups[i].name end
  table.sort(cats)
  check.eq(cats, { "mmlu_humanities", "mmlu_other", "mmlu_social_sciences", "mmlu_stem" })
  check.eq(#registry.resolve(reg, "mmlu_*"), 57, "the glob mmlu_* matches the 57 subjects")
end

-- WinoGrande (partial scoring, multiple-input) ----------------------------------------
check_doc("WinoGrande", 0, "winogrande_0")
-- the blank is the last word: the shared continuation is " ."
check_doc("winogrande", 129, "winogrande_129")

-- PIQA, BoolQ, COPA, RTE --------------------------------------------------------------
check_doc("PIQA", 0, "piqa_0")
check_doc("BoolQ", 0, "boolq_0")
check_doc("COPA", 0, "copa_0")  -- effect: " therefore", two spaces before each choice
check_doc("copa", 4, "copa_4")  -- cause: " because"
check_doc("RTE", 0, "rte_0")

-- WSC273 --------------------------------------------------------------------------------
check_doc("WSC273", 0, "wsc273_0")      -- "The ..." options lower-cased mid-sentence
check_doc("wsc273", 52, "wsc273_52")    -- pronoun starts a sentence: options keep "The"
check_doc("wsc273", 208, "wsc273_208")  -- possessive pronoun: "'s" appended to the options
-- 2-shot from the test split itself: random.Random(1234).sample(range(273), 3) ->
-- [225, 59, 3]; the evaluated doc is dropped (not drawn here) and the first 2 kept; a
-- multiple-input example shows the gold context, " ", the shared target.
check_doc("wsc273", 0, "wsc273_0_2shot", 2)

-- OpenBookQA, TruthfulQA-MC1, LogiQA, MathQA ------------------------------------------
check_doc("OpenBookQA", 0, "openbookqa_0")
check_doc("TruthfulQA-MC1", 0, "truthfulqa_mc1_0")
check_doc("LogiQA", 0, "logiqa_0")
check_doc("MathQA", 0, "mathqa_0")
-- options stored as a Python list literal: lm-eval's regex keeps the quotes and "]"
check_doc("mathqa", 12, "mathqa_12")

-- MedQA, MedMCQA, PubMedQA ------------------------------------------------------------
check_doc("MedQA", 0, "medqa_4options_0")
check_doc("MedMCQA", 0, "medmcqa_0")
check_doc("PubMedQA", 0, "pubmedqa_0")
-- 1-shot from the train split: random.Random(1234).sample(range(450), 1) -> [398]
check_doc("pubmedqa", 0, "pubmedqa_0_1shot", 1)

-- SciQ: no data in the shared folder, so two synthetic documents in allenai/sciq's columns.
do
  local t = registry.resolve(reg, "SciQ")[1]
  local doc = { question = "What gas do plants absorb?", distractor1 = "oxygen",
    distractor2 = "helium", distractor3 = "argon", correct_answer = "carbon dioxide",
    support = "  \nPlants take in carbon dioxide. " }
  local reqs, gold = task.requests(t, doc, {}, {})
  check.eq(#reqs, 4)
  check.eq(reqs[1].context, "Plants take in carbon dioxide. \nQuestion: What gas do plants absorb?\nAnswer:")
  check.eq({ reqs[1].continuation, reqs[2].continuation, reqs[3].continuation, reqs[4].continuation },
    { " oxygen", " helium", " argon", " carbon dioxide" })
  check.eq(gold, 3)
  -- an empty support: the prompt starts with "\n"; as a few-shot example the answer is the
  -- correct answer (choices[3])
  local doc2 = { question = "Q2?", distractor1 = "a", distractor2 = "b", distractor3 = "c",
    correct_answer = "d", support = "" }
  local reqs2 = task.requests(t, doc2, { doc }, {})
  check.eq(reqs2[1].context, "Plants take in carbon dioxide. \nQuestion: What gas do plants absorb?\nAnswer: carbon dioxide\n\n\nQuestion: Q2?\nAnswer:")
end

-- Names users type, splits, metrics, versions (lm-eval's metadata) ----------------------
local TABLE = {
  -- name, an alias, eval split, few-shot pool split, metrics, version, num_fewshot
  { "winogrande", "WinoGrande", "validation", "train", { "acc" }, 1, 0 },
  { "piqa", "PIQA", "validation", "train", { "acc", "acc_norm" }, 1, 0 },
  { "boolq", "BoolQ", "validation", "train", { "acc" }, 2, 0 },
  { "copa", "COPA", "validation", "train", { "acc" }, 1, 0 },
  { "rte", "RTE", "validation", "train", { "acc" }, 1, 0 },
  { "wsc273", "WSC273", "test", "test", { "acc" }, 1, 0 },
  { "openbookqa", "OpenBookQA", "test", "train", { "acc", "acc_norm" }, 1, 0 },
  { "truthfulqa_mc1", "TruthfulQA-MC1", "validation", "validation", { "acc" }, 2, 0 },
  { "logiqa", "LogiQA", "test", "train", { "acc", "acc_norm" }, 1, 0 },
  { "mathqa", "MathQA", "test", "train", { "acc", "acc_norm" }, 1, 0 },
  { "medqa_4options", "MedQA", "test", "train", { "acc", "acc_norm" }, "Yaml", 0 },
  { "medmcqa", "MedMCQA", "validation", "train", { "acc", "acc_norm" }, "Yaml", 0 },
  { "pubmedqa", "PubMedQA", "test", "train", { "acc" }, 1, 0 },
  { "sciq", "SciQ", "test", "train", { "acc", "acc_norm" }, 1, 0 },
  { "mmlu_anatomy", "mmlu-anatomy", "test", "dev", { "acc" }, 1, 0 },
}
for _, row in ipairs(TABLE) do
  local name, alias, eval_split, pool_split, metrics, version, shots = table.unpack(row)
  local t = registry.resolve(reg, alias)[1]
  check.eq(t.name, name, "alias " .. alias)
  check.eq(t.output_type, "multiple_choice", name .. " output_type")
  local ds = t.dataset
  check.eq(ds.test_split or ds.validation_split, eval_split, name .. " evaluation split")
  check.eq(ds.fewshot_split or ds.training_split or ds.validation_split or ds.test_split, pool_split,
    name .. " few-shot split")
  local got = {}
  for i, m in ipairs(t.metric_specs) do got[i] = m.name end
  check.eq(got, metrics, name .. " metrics")
  check.eq(t.version, version, name .. " version")
  check.eq(t.num_fewshot, shots, name .. " num_fewshot")
end

return check.summary()
