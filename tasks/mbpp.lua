-- MBPP (Austin et al., 2021): 500 basic Python programming problems (test split, task ids
-- 11-510), each checked by three asserts. Reproduces lm-eval's `mbpp`
-- (lm_eval/tasks/mbpp/mbpp.yaml and utils.py): 3-shot with the fixed examples 2, 3 and 4
-- (first_n), "You are an expert Python programmer, and here is your task: <text> Your code
-- should pass these tests:\n\n<3 asserts>\n[BEGIN]\n", the reference code + "\n[DONE]" as
-- few-shot answers (no target delimiter), generation until "[DONE]", and the raw completion
-- run with the three asserts as HF evaluate's code_eval runs it (3 s); reported as
-- "pass_at_1,none". test_setup_code and challenge_test_list are not used, as in lm-eval.
--
-- Executes model-written code, in evallua's sandbox (docs/security.md): runs need
-- --confirm-run-unsafe-code (or HF_ALLOW_CODE_EVAL=1). pass@k from n samples:
--   --repeats 10 --gen_kwargs do_sample=true,temperature=0.8,top_p=0.95
-- adds pass_at_10 (and pass_at_100 with 100 samples) next to pass_at_1.
local TIMEOUT = 3.0 -- seconds per program: code_eval's default

-- lm-eval's utils.list_fewshot_samples: MBPP's prompt-split problems 2, 3 and 4, verbatim.
local FEWSHOT = {
  {
    task_id = 2,
    text = "Write a function to find the similar elements from the given two tuple lists.",
    code = "def similar_elements(test_tup1, test_tup2):\r\n  res = tuple(set(test_tup1) & set(test_tup2))\r\n  return (res) ",
    test_list = {
      "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)",
      "assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4)",
      "assert similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14)",
    },
    is_fewshot = true,
  },
  {
    task_id = 3,
    text = "Write a python function to identify non-prime numbers.",
    code = "import math\r\ndef is_not_prime(n):\r\n    result = False\r\n    for i in range(2,int(math.sqrt(n)) + 1):\r\n        if n % i == 0:\r\n            result = True\r\n    return result",
    test_list = {
      "assert is_not_prime(2) == False",
      "assert is_not_prime(10) == True",
      "assert is_not_prime(35) == True",
    },
    is_fewshot = true,
  },
  {
    task_id = 4,
    text = "Write a function to find the largest integers from a given list of numbers using heap queue algorithm.",
    code = "import heapq as hq\r\ndef heap_queue_largest(nums,n):\r\n  largest_nums = hq.nlargest(n, nums)\r\n  return largest_nums",
    test_list = {
      "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],3)==[85, 75, 65] ",
      "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],2)==[85, 75] ",
      "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],5)==[85, 75, 65, 58, 35]",
    },
    is_fewshot = true,
  },
}

local function asserts(doc)
  return doc.test_list[1] .. "\n" .. doc.test_list[2] .. "\n" .. doc.test_list[3]
end

-- score(doc, completions): every sample of one problem in one sandbox call; pass_at_<k> for
-- each k in {1, 10, 100} that the number of samples allows.
local function score(doc, completions)
  local sandbox = require "evallua.sandbox"
  if type(completions) == "string" then completions = { completions } end
  local programs = {}
  for i, completion in ipairs(completions) do
    programs[i] = completion .. "\n" .. asserts(doc) -- code_eval: prediction + "\n" + reference
  end
  local n, c = #programs, 0
  for i, r in ipairs(sandbox.run { programs = programs, timeout = TIMEOUT }) do
    if r.status == "error" then
      error(string.format("task_id %s: sample %d could not be run: %s", tostring(doc.task_id), i, r.reason), 0)
    end
    if r.passed then c = c + 1 end
  end
  local out = {}
  for _, k in ipairs { 1, 10, 100 } do
    if k <= n then out["pass_at_" .. k] = sandbox.pass_at_k(n, c, k) end
  end
  return out
end

return {
  name = "mbpp",
  aliases = { "MBPP" },
  unsafe_code = true,
  version = 1,
  dataset = { path = "google-research-datasets/mbpp", name = "full", test_split = "test" },
  output_type = "generate_until",
  num_fewshot = 3,
  fewshot_config = { sampler = "first_n", samples = FEWSHOT },
  doc_to_text = "You are an expert Python programmer, and here is your task: {{text}} Your code should pass these tests:\n\n{{test_list[0]}}\n{{test_list[1]}}\n{{test_list[2]}}\n[BEGIN]\n",
  -- a few-shot answer is the reference code and "[DONE]"; an evaluated document's target is
  -- its three asserts, the test program
  doc_to_target = function(doc)
    if doc.is_fewshot then return doc.code .. "\n[DONE]" end
    return asserts(doc)
  end,
  target_delimiter = "",
  generation_kwargs = { ["until"] = { "[DONE]" }, do_sample = false },
  -- lm-eval scores the raw completion (filter "none"); this one keeps every repeat's
  -- completion so that pass@k sees all n samples (with one sample it is take_first)
  filters = { { name = "none", function(resps)
    local all = {}
    for i, r in ipairs(resps) do all[i] = r end
    return { all }
  end } },
  metrics = { { "pass_at_1", reports = { "pass_at_1" }, score = score, aggregation = "mean", higher_is_better = true } },
}
