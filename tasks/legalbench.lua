-- LegalBench (Guha et al., 2023): legal-reasoning tasks written by lawyers. Reproduces
-- lm-eval's `legalbench` group — the five tasks HELM-lite uses — and its
-- `legalbench_contract_nli` group (14 tasks), with their tasks (lm_eval/tasks/legalbench/
-- _legalbench_template_yaml, <task>.yaml, _legalbench.yaml, _contract_nli.yaml):
-- nguha/legalbench, one config per task, test split, few-shot examples from the (small)
-- train split, the task's instructions as the description, greedy generation of at most
-- 15 tokens stopped at "\n", leading whitespace removed, exact_match ignoring case and
-- punctuation. Each group averages exact_match over its tasks without size weighting.
local util = require "evallua.util"

-- task suffix, dataset config, num_fewshot, description, doc_to_text (HELM-lite's five)
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

-- The Contract-NLI suite (lm-eval's legalbench_contract_nli group): is a condition met by
-- a clause of a non-disclosure agreement? All 8-shot, "Clause: <text>\nLabel:", answered
-- Yes or No; the description is "Identify if the clause provides that <condition>.\n\n"
-- (the upstream typo "ome obligations" kept, as lm-eval keeps it).
local CONTRACT_NLI = {
  { "confidentiality_of_agreement", "the Receiving Party shall not disclose the fact that Agreement was agreed or negotiated" },
  { "explicit_identification", "all Confidential Information shall be expressly identified by the Disclosing Party" },
  { "inclusion_of_verbally_conveyed_information", "Confidential Information may include verbally conveyed information" },
  { "limited_use", "the Receiving Party shall not use any Confidential Information for any purpose other than the purposes stated in Agreement" },
  { "no_licensing", "the Agreement shall not grant Receiving Party any right to Confidential Information" },
  { "notice_on_compelled_disclosure", "the Receiving Party shall notify Disclosing Party in case Receiving Party is required by law, regulation or judicial process to disclose any Confidential Information" },
  { "permissible_acquirement_of_similar_information", "the Receiving Party may acquire information similar to Confidential Information from a third party" },
  { "permissible_copy", "the Receiving Party may create a copy of some Confidential Information in some circumstances" },
  { "permissible_development_of_similar_information", "the Receiving Party may independently develop information similar to Confidential Information" },
  { "permissible_post-agreement_possession", "the Receiving Party may retain some Confidential Information even after the return or destruction of Confidential Information" },
  { "return_of_confidential_information", "the Receiving Party shall destroy or return some Confidential Information upon the termination of Agreement" },
  { "sharing_with_employees", "the Receiving Party may share some Confidential Information with some of Receiving Party's employees" },
  { "sharing_with_third-parties", "the Receiving Party may share some Confidential Information with some third-parties (including consultants, agents and professional advisors)" },
  { "survival_of_obligations", "ome obligations of Agreement may survive termination of Agreement" },
}
for _, c in ipairs(CONTRACT_NLI) do
  TASKS[#TASKS + 1] = { "contract_nli_" .. c[1], "contract_nli_" .. c[1], 8,
    "Identify if the clause provides that " .. c[2] .. ".\n\n", "Clause: {{text}}\nLabel:", "contract_nli" }
end

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

local out, helm, nli = {}, {}, {}
for _, spec in ipairs(TASKS) do
  out[#out + 1] = make(spec)
  local members = spec[6] == "contract_nli" and nli or helm
  members[#members + 1] = out[#out].name
end
out[#out + 1] = {
  group = "legalbench",
  aliases = { "LegalBench", "legal_bench", "legal-bench" },
  version = 1,
  tasks = helm,
  aggregate = { { "exact_match", weight_by_size = false } },
}
out[#out + 1] = {
  group = "legalbench_contract_nli",
  aliases = { "LegalBench-ContractNLI", "legalbench-contract-nli", "contract_nli" },
  version = 1,
  tasks = nli,
  aggregate = { { "exact_match", weight_by_size = false } },
}
return out
