-- GSM8K with chain-of-thought prompting (Wei et al., 2022): the eight fixed exemplars of the
-- chain-of-thought paper instead of random training examples. Reproduces lm-eval's
-- `gsm8k_cot` (lm_eval/tasks/gsm8k/gsm8k-cot.yaml), `gsm8k_cot_zeroshot`
-- (gsm8k-cot-zeroshot.yaml) and `gsm8k_cot_llama` (gsm8k-cot-llama.yaml): test split of
-- openai/gsm8k, the answer taken from "The answer is N." (strict-match) or the last number
-- (flexible-extract), and gsm8k's exact_match normalisation, which reduces the reference
-- rationale to its final number. (task-formats.md §18)
local score = require "evallua.score"
local util = require "evallua.util"

-- The eight exemplars: question, rationale, answer. gsm8k_cot ends each target with
-- " The answer is N.", gsm8k_cot_llama with " The final answer is N" (no period).
local EXEMPLARS = {
  { "There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are done, there will be 21 trees. How many trees did the grove workers plant today?",
    "There are 15 trees originally. Then there were 21 trees after some more were planted. So there must have been 21 - 15 = 6.", "6" },
  { "If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?",
    "There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5.", "5" },
  { "Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in total?",
    "Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. After eating 35, they had 74 - 35 = 39.", "39" },
  { "Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many lollipops did Jason give to Denny?",
    "Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave Denny 20 - 12 = 8.", "8" },
  { "Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many toys does he have now?",
    "Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more toys. 5 + 4 = 9.", "9" },
  { "There were nine computers in the server room. Five more computers were installed each day, from monday to thursday. How many computers are now in the server room?",
    "There were originally 9 computers. For each of 4 days, 5 more computers were added. So 5 * 4 = 20 computers were added. 9 + 20 is 29.", "29" },
  { "Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. How many golf balls did he have at the end of wednesday?",
    "Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. After losing 2 more, he had 35 - 2 = 33 golf balls.", "33" },
  { "Olivia has $23. She bought five bagels for $3 each. How much money does she have left?",
    "Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 dollars left. 23 - 15 is 8.", "8" },
}

-- The exemplars as few-shot documents with keys question and target (lm-eval's samples).
local function samples(ending)
  local out = {}
  for i, e in ipairs(EXEMPLARS) do
    out[i] = { question = e[1], target = e[2] .. string.format(ending, e[3]) }
  end
  return out
end

-- {{answer.split('####')[-1].strip() if answer is defined else target}}
local function final_number(doc)
  if doc.answer == nil then return doc.target end
  local parts = util.split(doc.answer, "####")
  return score.strip(parts[#parts])
end

local UNTIL = { "Q:", "</s>", "<|im_end|>" }
local DATASET = { path = "openai/gsm8k", name = "main", test_split = "test" }
local METRICS = {
  { "exact_match", ignore_case = true, ignore_punctuation = false,
    regexes_to_ignore = { ",", "\\$", "(?s).*#### ", "\\.$" } },
}
local FLEXIBLE = { name = "flexible-extract",
  { "regex", pattern = "(-?[$0-9.,]{2,})|(-?[0-9]+)", group_select = -1 },
  { "take_first" } }

return {
  {
    name = "gsm8k_cot",
    aliases = { "gsm8k-cot", "GSM8K-CoT", "gsm8k_cot_8shot" },
    version = 3,
    dataset = DATASET,
    output_type = "generate_until",
    num_fewshot = 8,
    fewshot_config = { sampler = "first_n", samples = samples(" The answer is %s.") },
    doc_to_text = "Q: {{question}}\nA:",
    doc_to_target = final_number,
    generation_kwargs = { ["until"] = UNTIL, do_sample = false },
    filters = {
      { name = "strict-match",
        { "regex", pattern = "The answer is (\\-?[0-9\\.\\,]+)." },
        { "take_first" } },
      FLEXIBLE,
    },
    metrics = METRICS,
  },
  {
    name = "gsm8k_cot_zeroshot",
    aliases = { "gsm8k-cot-zeroshot", "GSM8K-CoT-0shot", "gsm8k_cot_0shot" },
    version = 3,
    dataset = { path = "openai/gsm8k", name = "main", test_split = "test", training_split = "train",
                fewshot_split = "train" },
    output_type = "generate_until",
    num_fewshot = 0,
    doc_to_text = "Q: {{question}}\nA: Let's think step by step.",
    doc_to_target = "{{answer}}",
    generation_kwargs = { ["until"] = UNTIL, do_sample = false },
    filters = {
      { name = "strict-match",
        { "regex", pattern = "The answer is (\\-?[0-9\\.\\,]+)." },
        { "take_first" } },
      FLEXIBLE,
    },
    metrics = METRICS,
  },
  {
    name = "gsm8k_cot_llama",
    aliases = { "gsm8k-cot-llama", "GSM8K-CoT-Llama" },
    version = 4,
    dataset = DATASET,
    output_type = "generate_until",
    num_fewshot = 8,
    fewshot_config = { sampler = "first_n", samples = samples(" The final answer is %s") },
    doc_to_text = "Given the following problem, reason and give a final answer to the problem.\nProblem: {{question}}\nYour response should end with \"The final answer is [answer]\" where [answer] is the response to the problem.\n",
    doc_to_target = final_number,
    target_delimiter = "",
    generation_kwargs = {
      ["until"] = { "<|eot_id|>", "<|start_header_id|>user<|end_header_id|>", "Q:", "</s>", "<|im_end|>" },
      do_sample = false,
    },
    filters = {
      { name = "strict-match",
        { "regex", pattern = "The final answer is ((-?[$0-9.,]{2,})|(-?[0-9]+))", group_select = -1 },
        { "take_first" } },
      FLEXIBLE,
    },
    metrics = METRICS,
  },
}
