-- MMLU (Hendrycks et al., 2021): 57 subjects of four-way multiple-choice questions.
-- Reproduces lm-eval's default variant (lm_eval/tasks/mmlu/default/): one task per subject
-- (mmlu_<subject>, the subject's cais/mmlu config, test split), few-shot examples from the
-- dev split in file order (sampler first_n), letters A-D as the choices, and the groups
-- mmlu_stem, mmlu_humanities, mmlu_social_sciences, mmlu_other and mmlu, each averaging acc
-- over its questions (weight_by_size), which makes mmlu a micro-average over 14042 questions.
-- Default num_fewshot is 0 as in lm-eval; "5-shot MMLU" is --num-fewshot 5.
local score = require "evallua.score"

-- lm-eval's subject -> category mapping (mmlu/_generate_configs.py; every
-- mmlu_<subject>.yaml carries it as its group/tag). Note anatomy is STEM in lm-eval.
local CATEGORY = {
  abstract_algebra = "stem",
  anatomy = "stem",
  astronomy = "stem",
  business_ethics = "other",
  clinical_knowledge = "other",
  college_biology = "stem",
  college_chemistry = "stem",
  college_computer_science = "stem",
  college_mathematics = "stem",
  college_medicine = "other",
  college_physics = "stem",
  computer_security = "stem",
  conceptual_physics = "stem",
  econometrics = "social_sciences",
  electrical_engineering = "stem",
  elementary_mathematics = "stem",
  formal_logic = "humanities",
  global_facts = "other",
  high_school_biology = "stem",
  high_school_chemistry = "stem",
  high_school_computer_science = "stem",
  high_school_european_history = "humanities",
  high_school_geography = "social_sciences",
  high_school_government_and_politics = "social_sciences",
  high_school_macroeconomics = "social_sciences",
  high_school_mathematics = "stem",
  high_school_microeconomics = "social_sciences",
  high_school_physics = "stem",
  high_school_psychology = "social_sciences",
  high_school_statistics = "stem",
  high_school_us_history = "humanities",
  high_school_world_history = "humanities",
  human_aging = "other",
  human_sexuality = "social_sciences",
  international_law = "humanities",
  jurisprudence = "humanities",
  logical_fallacies = "humanities",
  machine_learning = "stem",
  management = "other",
  marketing = "other",
  medical_genetics = "other",
  miscellaneous = "other",
  moral_disputes = "humanities",
  moral_scenarios = "humanities",
  nutrition = "other",
  philosophy = "humanities",
  prehistory = "humanities",
  professional_accounting = "other",
  professional_law = "humanities",
  professional_medicine = "other",
  professional_psychology = "social_sciences",
  public_relations = "social_sciences",
  security_studies = "social_sciences",
  sociology = "social_sciences",
  us_foreign_policy = "social_sciences",
  virology = "other",
  world_religions = "humanities",
}

-- {{question.strip()}}\nA. {{choices[0]}}\nB. ...\nD. {{choices[3]}}\nAnswer:
-- score.strip is Python's str.strip(), Unicode whitespace included (one sociology
-- question ends in U+0085, which lm-eval's Jinja strip() removes).
local function doc_to_text(doc)
  local c = doc.choices
  return score.strip(doc.question) .. "\nA. " .. c[1] .. "\nB. " .. c[2] .. "\nC. " .. c[3]
      .. "\nD. " .. c[4] .. "\nAnswer:"
end

local subjects = {}
for subject in pairs(CATEGORY) do subjects[#subjects + 1] = subject end
table.sort(subjects)

local out = {}
local members = { stem = {}, humanities = {}, social_sciences = {}, other = {} }
for _, subject in ipairs(subjects) do
  local name = "mmlu_" .. subject
  out[#out + 1] = {
    name = name,
    aliases = { "mmlu-" .. string.gsub(subject, "_", "-") },
    version = 1,
    description = "The following are multiple choice questions (with answers) about "
        .. string.gsub(subject, "_", " ") .. ".\n\n",
    dataset = { path = "cais/mmlu", name = subject, test_split = "test", fewshot_split = "dev" },
    fewshot_config = { sampler = "first_n" },
    output_type = "multiple_choice",
    doc_to_text = doc_to_text,
    doc_to_choice = { "A", "B", "C", "D" },
    doc_to_target = "{{answer}}",
    metrics = { "acc" },
  }
  local list = members[CATEGORY[subject]]
  list[#list + 1] = name
end

local ACC = { { "acc", weight_by_size = true } }
for _, cat in ipairs { "stem", "humanities", "social_sciences", "other" } do
  out[#out + 1] = {
    group = "mmlu_" .. cat,
    aliases = { "MMLU-" .. string.gsub(cat, "_", "-") },
    version = 2,
    tasks = members[cat],
    aggregate = ACC,
  }
end
out[#out + 1] = {
  group = "mmlu",
  aliases = { "MMLU" },
  version = 2,
  tasks = { "mmlu_stem", "mmlu_other", "mmlu_social_sciences", "mmlu_humanities" },
  aggregate = ACC,
}

return out
