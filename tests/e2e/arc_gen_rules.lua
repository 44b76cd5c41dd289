-- arc_gen_rules.lua RULES_OUT DATA_DIR N — rules for the fake chat server answering the
-- generative variant of arc_easy (a multiple-choice task on a chat endpoint). The prompt
-- format is the documented one (lua/evallua/mc_generative.lua): the question without its
-- trailing "Answer:", the choices lettered "A. ...", then "Answer:". Even documents get the
-- right letter in one of the phrasings users see, odd ones a wrong letter.
-- Prints: "exact_match=<value>".
local data = require "evallua.data"
local json = require "evallua.json"
local sys = require "evallua.sys"

local out, data_dir, n = arg[1], arg[2], math.tointeger(tonumber(arg[3]))
local docs = data.load(data_dir, "allenai/ai2_arc", "ARC-Easy", "test")
local letters = "ABCDE"
local phrasings = { "The answer is (%s).", "%s. Because it is.", "Answer: %s", "**%s**" }
local rules, right = {}, 0
for i = 1, n do
  local doc = docs[i]
  local lines = { "Question: " .. doc.question }
  local gold
  for j, text in ipairs(doc.choices.text) do
    lines[#lines + 1] = letters:sub(j, j) .. ". " .. text
    if doc.choices.label[j] == doc.answerKey then gold = j end
  end
  lines[#lines + 1] = "Answer:"
  local say = gold
  if i % 2 == 0 then say = gold % #doc.choices.text + 1 else right = right + 1 end
  local phrase = phrasings[(i - 1) % #phrasings + 1]
  rules[#rules + 1] = json.encode { suffix = table.concat(lines, "\n"), text = string.format(phrase, letters:sub(say, say)) }
end
sys.write_file(out, table.concat(rules, "\n") .. "\n")
print(string.format("exact_match=%.6f", right / n))
