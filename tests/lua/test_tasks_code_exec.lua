-- CodeContests and DS-1000 (tasks/code_contests.lua, tasks/ds1000.lua) on the synthetic
-- fixtures in tests/fixtures/data (their real column layouts): the prompts, then scoring in
-- the sandbox — a right program passes, a program right only on the public tests or on
-- some hidden tests fails, output is compared token by token; DS-1000's postprocess, its
-- test_execution / test_string program, and pass@1 over two samples.
local check = dofile(os.getenv("EVALLUA_SRC") .. "/tests/lua/check.lua")
local registry = require "evallua.registry"
local runner = require "evallua.runner"

local data_dir = os.getenv("EVALLUA_SRC") .. "/tests/fixtures/data"
local reg = registry.load()
local function task_of(name) return registry.resolve(reg, name)[1] end
local function sample(name, doc)
  return runner.build_task(task_of(name), { data_dir = data_dir, fewshot_seed = 1234, limit = doc + 1 }, {})
      .samples[doc + 1]
end

-- prompts --------------------------------------------------------------------------------
local TAIL = "\n\nWrite a Python 3 program that solves the problem above. The program reads the input from standard input and writes the answer to standard output. Answer with the complete program in one ```python code block."
local cc0 = sample("CodeContests", 0)
check.eq(cc0.requests[1].context, "Given two integers a and b on one line, print a + b.\n\nInput\n\nOne line: a b (0 <= a, b <= 10^9).\n\nOutput\n\nPrint a + b." .. TAIL,
  "code_contests: the statement, then the instruction")
check.eq(cc0.requests[1]["until"], {})
check.eq(task_of("code_contests").unsafe_code, true)
local ds0 = sample("DS-1000", 0)
check.eq(ds0.requests[1].context, "Problem:\nI have a list `data` and want it sorted in ascending order, without a loop.\nA:\n<code>\ndata = [3, 1, 2]\n</code>\nresult = ... # put solution in this variable\nBEGIN SOLUTION\n<code>\n",
  "ds1000: the dataset's prompt as is")
check.eq(ds0.requests[1]["until"], { "</code>", "# SOLUTION END" })
check.eq(ds0.requests[1].max_tokens, 1024)

-- execution (needs the evallua.sandbox module in this build) ------------------------------
local have, sandbox = pcall(require, "evallua.sandbox")
if not have then
  if check.failed > 0 then return check.summary() end
  print("skip: the evallua.sandbox module is not registered in this build; prompt checks passed: " .. check.passed)
  return 77
end
sandbox.confirm_unsafe_code()

local function pass1(name, doc, candidates)
  local s = sample(name, doc)
  return task_of(name).metric_specs[1].score(s.doc, candidates)["pass@1"]
end

local SUM = "Here it is:\n```python\na, b = map(int, input().split())\nprint(a + b)\n```\nDone."
check.eq(pass1("code_contests", 0, { SUM }), 1.0, "code_contests: right program passes every hidden test")
check.eq(pass1("code_contests", 0, { "```python\nprint(3)\n```" }), 0.0,
  "code_contests: right on the public test only -> fails the hidden ones")
check.eq(pass1("code_contests", 0, { "```python\nimport sys\na, b = map(int, sys.stdin.buffer.read().split())\nprint(a + b, ' ')\n```" }), 1.0,
  "code_contests: sys.stdin.buffer works; trailing whitespace is ignored")
check.eq(pass1("code_contests", 0, { "```python\na, b = map(int, input().split())\nprint(a + b if a < 5 else 0)\n```" }), 0.0,
  "code_contests: wrong on some hidden tests")
check.eq(pass1("code_contests", 0, { SUM, "```python\nprint(1/0)\n```" }), 0.5, "code_contests: pass@1 over 2 samples")
check.eq(pass1("code_contests", 1, { "print(input()[::-1])" }), 1.0,
  "code_contests: an answer without a code block is run as is; only public tests -> those")

check.eq(pass1("ds1000", 0, { "result = sorted(data)\n</code>\nMore text" }), 1.0, "ds1000: cut at </code>")
check.eq(pass1("ds1000", 0, { "```python\nresult = sorted(data)\n```\nExplanation" }), 1.0, "ds1000: fenced answer")
check.eq(pass1("ds1000", 0, { "result = data" }), 0.0, "ds1000: wrong result")
check.eq(pass1("ds1000", 0, { "result = []\nfor x in sorted(data):\n    result.append(x)\n" }), 0.0,
  "ds1000: test_string forbids a loop")
check.eq(pass1("ds1000", 0, { "result = sorted(data)", "result = 1" }), 0.5, "ds1000: pass@1 over 2 samples")
return check.summary()
