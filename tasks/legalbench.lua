-- LegalBench (Guha et al., 2023): legal-reasoning tasks written by lawyers. Reproduces
-- lm-eval's `legalbench` group — the five tasks HELM-lite uses — and its tasks
-- (lm_eval/tasks/legalbench/_legalbench_template_yaml, <task>.yaml, _legalbench.yaml):
-- nguha/legalbench, one config per task, test split, few-shot examples from the (small)
-- train split, the task's instructions as the description, greedy generation of at most
-- 15 tokens stopped at "\n", leading whitespace removed, exact_match ignoring case and
-- punctuation. The group averages exact_match over tasks without size weighting.
local util = require "evallua.util"

-- task suffix, dataset config, num_fewshot, description, doc_to_text
local TASKS = {
  { "abercrombie", "abercrombie", 5,
    "A mark is generic if it is the common name for the product. A mark is descriptive if it describes a purpose, nature, or attribute of the product. A mark is suggestive if it suggests or implies a quality or characteristic of the product. A mark is arbitrary if it is a real English word that has no relation to the product. A mark is fanciful if it is an invented word. Label the type of mark for the following products.\n\n",
    "Description: {{text}}\nType:" },
  { "corporate_lobbying", "corporate_lobbying", 1,
    "You are a lobbyist analyzing Congressional bills for their impacts on companies. Given the title and summary of the bill, plus information on the company from its 10K SEC filing, it is your job to determine if a bill is at least somewhat relevant to a company in terms of whether it could impact the company's bottom-line if it was enacted (by saying Yes or No).\n\n",
    "Official title of bill: {{bill_title}}\nOfficial summary of bill: {{bill_summary}}\nCompany name: {{company_name}}\nCompany business description: {{company_description}}\nLabel:" },
  { "function_of_decision_section", "function_of_decision_section", 7,
    "Classify the following text using the following definitions.\n\n- Facts: The paragraph describes the factual background that led up to the present lawsuit.\n- Procedural History: The paragraph describes the course of litigation that led to the current proceeding before the court.\n- Issue: The paragraph describes the legal or factual issue that must be resolved by the court.\n- Rule: The paragraph describes a rule of law relevant to resolving the issue.\n- Analysis: The paragraph analyzes the legal issue by applying the relevant legal principles to the facts of the present dispute.\n- Conclusion: The paragraph presents a conclusion of the court.\n- Decree: The paragraph constitutes a decree resolving the dispute.\n\n",
    "Text: {{Paragraph}}\nFunction:" },
  { "international_citizenship_questions", "international_citizenship_questions", 4,
    "Answer the following questions considering the state of international law on January 1st, 2020. Answer Yes or No.\n\n",
    "Question: {{question}}\nAnswer:" },
  { "proa", "proa", 5,
    "A private right of action is when a regular person, a private citizen, is legally entitled to enforce their rights under a given statute. Does the clause specify a private right of action? Answer Yes or No.\n\n",
    "Statute: {{text}}\nAnswer:" },
}

local function make(spec)
  local suffix, config, shots, description, text = table.unpack(spec)
  return {
    name = "legalbench_" .. suffix,
    aliases = { "LegalBench-" .. string.gsub(suffix, "_", "-"), "legalbench-" .. string.gsub(suffix, "_", "-") },
    version = 1,
    dataset = { path = "nguha/legalbench", name = config, test_split = "test", fewshot_split = "train" },
    output_type = "generate_until",
    num_fewshot = shots,
    description = description,
    doc_to_text = text,
    doc_to_target = "{{answer}}",
    target_delimiter = " ",
    generation_kwargs = { ["until"] = { "\n" }, do_sample = false, temperature = 0.0, max_gen_toks = 15 },
    -- lm-eval's remove_whitespace filter removes leading whitespace only
    filters = { { name = "get-answer", util.map_responses(util.lstrip), { "take_first" } } },
    metrics = { { "exact_match", ignore_case = true, ignore_punctuation = true } },
  }
end

local out, members = {}, {}
for _, spec in ipairs(TASKS) do
  out[#out + 1] = make(spec)
  members[#members + 1] = out[#out].name
end
out[#out + 1] = {
  group = "legalbench",
  aliases = { "LegalBench", "legal_bench", "legal-bench" },
  version = 1,
  tasks = members,
  aggregate = { { "exact_match", weight_by_size = false } },
}
return out
