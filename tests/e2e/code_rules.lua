-- code_rules.lua RULES_OUT DATA_DIR N — fake_openai rules answering the first N HumanEval
-- prompts: odd documents get the dataset's canonical solution, even ones a wrong body.
-- Prints "pass@1=<value>".
local data = require "evallua.data"
local json = require "evallua.json"
local sys = require "evallua.sys"
local out, data_dir, n = arg[1], arg[2], math.tointeger(tonumber(arg[3]))
local docs = data.load(data_dir, "openai/openai_humaneval", "openai_humaneval", "test")
local rules, right = {}, 0
for i = 1, n do
  local body = (i % 2 == 1) and docs[i].canonical_solution or "    return None\n"
  if i % 2 == 1 then right = right + 1 end
  rules[#rules + 1] = json.encode { suffix = docs[i].prompt, text = body }
end
sys.write_file(out, table.concat(rules, "\n") .. "\n")
print(string.format("pass@1=%.6f", right / n))
