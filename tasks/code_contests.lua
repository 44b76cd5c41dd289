-- CodeContests (Li et al., 2022, AlphaCode): competitive-programming problems (Codeforces,
-- AtCoder, CodeChef, ...) solved by a program that reads standard input and writes standard
-- output. lm-eval has no CodeContests task, so this follows the dataset's own conventions
-- (deepmind/code_contests, test split, 165 problems): the model writes a Python 3 program
-- for the problem statement; the program is run on the problem's hidden tests (private and
-- generated tests; the public tests when a problem has no others) and solves the problem
-- when every output matches — compared token by token, whitespace-insensitively, as
-- CodeContests' own checker does for problems with one correct output. Reported as pass@1
-- (pass@k from n samples with --repeats, as HumanEval).
--
-- Executes model-written code, in evallua's sandbox (docs/security.md): runs need
-- --confirm-run-unsafe-code (or HF_ALLOW_CODE_EVAL=1). Each test is one sandbox program:
-- the input becomes sys.stdin, then the model's program runs unchanged. The time limit per
-- test is the problem's own (time_limit), times 3 for Python and at least 2 seconds.
-- evallua's choices (the prompt, the code extraction, the time factor) are listed in
-- docs/tasks.md under Deviations.
local util = require "evallua.util"

local PROMPT_TAIL = "\n\nWrite a Python 3 program that solves the problem above. The program reads the input from standard input and writes the answer to standard output. Answer with the complete program in one ```python code block."

-- The problem statement and the instruction.
local function doc_to_text(doc)
  return util.field(doc, "description") .. PROMPT_TAIL
end

-- The program in the answer: the first ```python (or ```) block, else the whole text.
local function extract_code(text)
  local code = string.match(text, "```[Pp]ython3?[ \t]*\n(.-)```")
      or string.match(text, "```[^\n]*\n(.-)```")
      or string.match(text, "```[Pp]ython3?[ \t]*\n(.*)$") -- a block the answer never closed
  return code or text
end

-- The hidden tests: private and generated; the public ones when there are no others.
local function tests_of(doc)
  local inputs, outputs = {}, {}
  for _, key in ipairs { "private_tests", "generated_tests" } do
    local t = doc[key]
    if type(t) == "table" and type(t.input) == "table" then
      for i, input in ipairs(t.input) do
        inputs[#inputs + 1], outputs[#outputs + 1] = input, t.output[i]
      end
    end
  end
  if #inputs == 0 then
    local t = util.field(doc, "public_tests")
    for i, input in ipairs(t.input) do inputs[i], outputs[i] = input, t.output[i] end
  end
  if #inputs == 0 then error("the problem has no tests", 0) end
  return inputs, outputs
end

local function hex(s)
  return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end))
end

-- One sandbox program: stdin replaced by the test input, then the candidate program.
local function with_input(code, input)
  return "import io, sys\nsys.stdin = io.TextIOWrapper(io.BytesIO(bytes.fromhex('" .. hex(input)
      .. "')), encoding='utf-8')\n" .. code
end

-- Outputs equal as sequences of whitespace-separated tokens.
local function same_output(got, want)
  local a, b = {}, {}
  for tok in string.gmatch(got, "%S+") do a[#a + 1] = tok end
  for tok in string.gmatch(want, "%S+") do b[#b + 1] = tok end
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

local function time_limit(doc)
  local tl = doc.time_limit
  local seconds = type(tl) == "table" and ((tonumber(tl.seconds) or 0) + (tonumber(tl.nanos) or 0) / 1e9) or 0
  return math.max(2.0, 3 * seconds)
end

-- score(doc, candidates): every candidate against every test in one sandbox call; pass@k
-- for each k in {1, 10, 100} that the number of candidates allows.
local function score(doc, candidates)
  local sandbox = require "evallua.sandbox"
  if type(candidates) == "string" then candidates = { candidates } end
  local inputs, outputs = tests_of(doc)
  local programs, longest = {}, 0
  for _, candidate in ipairs(candidates) do
    local code = extract_code(candidate)
    for _, input in ipairs(inputs) do programs[#programs + 1] = with_input(code, input) end
  end
  for _, o in ipairs(outputs) do longest = math.max(longest, #o) end
  local results = sandbox.run { programs = programs, timeout = time_limit(doc),
                                output_kb = math.max(64, 2 * longest // 1024 + 1) }
  local n, c, k = #candidates, 0, 0
  for _ = 1, n do
    local solved = true
    for t = 1, #inputs do
      k = k + 1
      local r = results[k]
      if r.status == "error" then
        error(string.format("%s: a program could not be run: %s", tostring(doc.name), r.reason), 0)
      end
      if not (r.status == "passed" and same_output(r.stdout, outputs[t])) then solved = false end
    end
    if solved then c = c + 1 end
  end
  local out = {}
  for _, kk in ipairs { 1, 10, 100 } do
    if kk <= n then out["pass@" .. kk] = sandbox.pass_at_k(n, c, kk) end
  end
  return out
end

return {
  name = "code_contests",
  aliases = { "CodeContests", "code-contests", "codecontests" },
  version = 1,
  dataset = { path = "deepmind/code_contests", test_split = "test", validation_split = "valid",
              training_split = "train" },
  output_type = "generate_until",
  num_fewshot = 0,
  unsafe_code = true,
  doc_to_text = doc_to_text,
  doc_to_target = "",
  generation_kwargs = { ["until"] = {}, max_gen_toks = 2048, do_sample = false },
  -- every repeat's program reaches the metric (pass@k needs all n samples)
  filters = { { name = "extract_code", function(resps) return { resps } end } },
  metrics = { { "pass_at_k", reports = { "pass@1" }, score = score, aggregation = "mean",
                higher_is_better = true } },
}
