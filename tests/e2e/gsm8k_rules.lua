-- gsm8k_rules.lua RULES_OUT DATA_DIR N — write fake_openai rules answering the first N
-- gsm8k test questions in four ways, and print the expected scores:
--   doc % 4 == 0: "... #### <gold>" then more text the stop sequence cuts (both filters right)
--   doc % 4 == 1: "The answer is <gold>."  (strict-match fails, flexible-extract right)
--   doc % 4 == 2: "<think>Maybe #### <gold>?</think> #### <gold + 1>" (both wrong: the
--                 reasoning is stripped before the filters)
--   doc % 4 == 3: no rule: the server's default "The answer is 42.\n\nQuestion: ignored"
-- Prints: "strict=<value> flexible=<value>".
local data = require "evallua.data"
local json = require "evallua.json"
local sys = require "evallua.sys"

local out, data_dir, n = arg[1], arg[2], math.tointeger(tonumber(arg[3]))
local docs = data.load(data_dir, "openai/gsm8k", "main", "test")
local rules, strict, flexible = {}, 0, 0
for i = 1, n do
  local doc = docs[i]
  local gold = doc.answer:match("#### (.*)$"):gsub(",", "")
  local suffix = doc.question .. "\nAnswer:"
  local k = (i - 1) % 4
  if k == 0 then
    rules[#rules + 1] = json.encode { suffix = suffix, text = " Let me compute. #### " .. gold .. "\n\nQuestion: next one" }
    strict, flexible = strict + 1, flexible + 1
  elseif k == 1 then
    rules[#rules + 1] = json.encode { suffix = suffix, text = " The answer is " .. gold .. "." }
    flexible = flexible + 1
  elseif k == 2 then
    -- a reasoning model: the right answer inside <think>...</think> must not count
    rules[#rules + 1] = json.encode { suffix = suffix,
      text = " <think>Maybe #### " .. gold .. "?</think>\n#### " .. tostring(math.tointeger(tonumber(gold)) + 1) }
  elseif gold == "42" then
    flexible = flexible + 1
  end
end
sys.write_file(out, table.concat(rules, "\n") .. "\n")
print(string.format("strict=%.6f flexible=%.6f", strict / n, flexible / n))
