-- DS-1000 (Lai et al., 2023): 1000 data-science problems over seven Python libraries
-- (NumPy, Pandas, SciPy, Scikit-learn, Matplotlib, TensorFlow, PyTorch). lm-eval has no
-- DS-1000 task; this follows the benchmark's own evaluation (xlangai/DS-1000, test split):
-- the dataset's `prompt` as is, greedy generation stopped at "</code>" or "# SOLUTION END",
-- the answer cleaned as DS-1000's postprocess does (cut at "</code>", "```python" removed,
-- cut at "```" and at "\nEND SOLUTION", "<code>" removed), then the test program
--   code_context + "\ncode = " + repr(answer) + "\ntest_execution(code)\n"
--   (+ "test_string(code)\n" when code_context defines test_string)
-- run with DS-1000's 120-second limit; pass@1 (pass@k with --repeats).
--
-- Executes model-written code, in evallua's sandbox (docs/security.md): runs need
-- --confirm-run-unsafe-code (or HF_ALLOW_CODE_EVAL=1). The problems import their library,
-- so the Python the sandbox runs (see `evallua.sandbox` isolation()) must have numpy,
-- pandas, scipy, scikit-learn, matplotlib, tensorflow and torch installed; a missing one
-- makes that library's problems fail (ImportError), as it would in DS-1000's own harness.
local util = require "evallua.util"

local TIMEOUT = 120 -- seconds per program, DS-1000's

-- DS-1000's postprocess(code).
local function postprocess(code)
  local function cut(s, sep)
    local i = string.find(s, sep, 1, true)
    return i and string.sub(s, 1, i - 1) or s
  end
  code = cut(code, "</code>")
  code = string.gsub(code, "```python", "")
  code = cut(code, "```")
  code = cut(code, "\nEND SOLUTION")
  code = string.gsub(code, "<code>", "")
  return code
end

local function hex(s)
  return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end))
end

-- The test program of one answer (repr(code) written as a bytes literal decoded, which is
-- the same string for any content).
local function test_program(doc, code)
  local context = util.field(doc, "code_context")
  return context .. "\ncode = bytes.fromhex('" .. hex(code) .. "').decode('utf-8')\n"
      .. "test_execution(code)\n"
      .. (string.find(context, "test_string(", 1, true) and "test_string(code)\n" or "\n")
end

-- score(doc, answers): every sample of one problem in one sandbox call; pass@k for each k
-- in {1, 10, 100} that the number of samples allows.
local function score(doc, answers)
  local sandbox = require "evallua.sandbox"
  if type(answers) == "string" then answers = { answers } end
  local programs = {}
  for i, a in ipairs(answers) do programs[i] = test_program(doc, postprocess(a)) end
  local n, c = #programs, 0
  for i, r in ipairs(sandbox.run { programs = programs, timeout = TIMEOUT }) do
    if r.status == "error" then
      local id = type(doc.metadata) == "table" and doc.metadata.problem_id or "?"
      error(string.format("problem %s: sample %d could not be run: %s", tostring(id), i, r.reason), 0)
    end
    if r.passed then c = c + 1 end
  end
  local out = {}
  for _, k in ipairs { 1, 10, 100 } do
    if k <= n then out["pass@" .. k] = sandbox.pass_at_k(n, c, k) end
  end
  return out
end

return {
  name = "ds1000",
  aliases = { "DS-1000", "ds-1000", "DS1000" },
  version = 1,
  dataset = { path = "xlangai/DS-1000", test_split = "test" },
  output_type = "generate_until",
  num_fewshot = 0,
  unsafe_code = true,
  doc_to_text = "{{prompt}}",
  doc_to_target = "{{reference_code}}",
  generation_kwargs = { ["until"] = { "</code>", "# SOLUTION END" }, max_gen_toks = 1024, do_sample = false },
  filters = { { name = "postprocess", function(resps) return { resps } end } },
  metrics = { { "pass_at_k", reports = { "pass@1" }, score = score, aggregation = "mean",
                higher_is_better = true } },
}
