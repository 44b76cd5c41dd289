-- RACE (Lai et al., 2017), high-school level: English reading-comprehension exams. Reproduces
-- lm-eval's `race` (lm_eval/tasks/race/race.yaml and preprocess_race.py): EleutherAI/race,
-- config high, test split, one document per article. `problems` is a Python list literal
-- (parsed here as ast.literal_eval would); the article's earlier questions are shown with
-- their answers and the last one is asked, scored on its four options; metric acc.
--
-- The prompt, as preprocess_race.doc_to_text builds it:
--   "Article: <article>\n\n"
--   per earlier problem: a cloze question (ending "  _  .") adds its LAST five characters
--   (question[-5:], as lm-eval's code does) + the answer text + "\n"; any other adds
--   "Question: <question>\nAnswer: <answer text>\n"
--   then the last problem's question, with nothing after it.

local util = require "evallua.util"

-- Python literal parser (lists, dicts, str, int, True/False/None), enough for `problems`.
local parse_value

local ESCAPES = { n = "\n", t = "\t", r = "\r", ["\\"] = "\\", ["'"] = "'", ['"'] = '"',
                  a = "\a", b = "\b", f = "\f", v = "\v", ["0"] = "\0" }

local function fail(s, i, what)
  error(string.format("problems: malformed Python literal at character %d: %s", i, what), 0)
end

local function skip_space(s, i)
  return (string.find(s, "[^ \t\r\n]", i)) or (#s + 1)
end

local function parse_string(s, i)
  local q = string.sub(s, i, i)
  local out, j = {}, i + 1
  while true do
    local c = string.sub(s, j, j)
    if c == "" then fail(s, i, "unterminated string") end
    if c == q then return table.concat(out), j + 1 end
    if c == "\\" then
      local e = string.sub(s, j + 1, j + 1)
      if e == "x" or e == "u" or e == "U" then
        local len = ({ x = 2, u = 4, U = 8 })[e]
        local hex = string.sub(s, j + 2, j + 1 + len)
        local cp = tonumber(hex, 16)
        if not cp or #hex ~= len then fail(s, j, "bad \\" .. e .. " escape") end
        out[#out + 1] = utf8.char(cp)
        j = j + 2 + len
      elseif ESCAPES[e] then
        out[#out + 1] = ESCAPES[e]
        j = j + 2
      else
        out[#out + 1] = "\\" .. e -- Python keeps an unknown escape as written
        j = j + 2
      end
    else
      out[#out + 1] = c
      j = j + 1
    end
  end
end

local function parse_sequence(s, i, close, item)
  local j = skip_space(s, i + 1)
  while string.sub(s, j, j) ~= close do
    j = skip_space(s, item(j))
    local c = string.sub(s, j, j)
    if c == "," then j = skip_space(s, j + 1)
    elseif c ~= close then fail(s, j, "expected ',' or '" .. close .. "'") end
  end
  return j + 1
end

parse_value = function(s, i)
  i = skip_space(s, i)
  local c = string.sub(s, i, i)
  if c == "'" or c == '"' then return parse_string(s, i) end
  if c == "[" then
    local list = {}
    local j = parse_sequence(s, i, "]", function(k)
      local v, nxt = parse_value(s, k)
      list[#list + 1] = v
      return nxt
    end)
    return list, j
  end
  if c == "{" then
    local dict = {}
    local j = parse_sequence(s, i, "}", function(k)
      local key, nxt = parse_value(s, k)
      nxt = skip_space(s, nxt)
      if string.sub(s, nxt, nxt) ~= ":" then fail(s, nxt, "expected ':'") end
      local v, after = parse_value(s, nxt + 1)
      dict[key] = v
      return after
    end)
    return dict, j
  end
  local word = string.match(s, "^[%w_%-%.]+", i)
  if word == "True" then return true, i + 4 end
  if word == "False" then return false, i + 5 end
  if word == "None" then return nil, i + 4 end
  if word and tonumber(word) then return tonumber(word), i + #word end
  fail(s, i, "unexpected '" .. c .. "'")
end

local LETTER_INDEX = { A = 1, B = 2, C = 3, D = 4 }

-- ast.literal_eval(doc["problems"]); the list of problems.
local function problems(doc)
  if type(util.field(doc, "problems")) ~= "string" then
    error("field 'problems' must be a string holding a Python list literal", 0)
  end
  local list, j = parse_value(doc.problems, 1)
  if type(list) ~= "table" or #list == 0 or skip_space(doc.problems, j) <= #doc.problems then
    error("field 'problems' is not a non-empty Python list literal", 0)
  end
  return list
end

local function answer_index(problem)
  local k = LETTER_INDEX[problem.answer]
  if not k then error(string.format("answer '%s' is not one of A, B, C, D", tostring(problem.answer)), 0) end
  return k
end

local function doc_to_text(doc)
  local list = problems(doc)
  local parts = { "Article: " .. doc.article .. "\n\n" }
  for i = 1, #list - 1 do
    local p = list[i]
    local ans = p.options[answer_index(p)]
    if string.sub(p.question, -6) == "  _  ." then
      parts[#parts + 1] = string.sub(p.question, -5) .. ans .. "\n"
    else
      parts[#parts + 1] = "Question: " .. p.question .. "\nAnswer: " .. ans .. "\n"
    end
  end
  parts[#parts + 1] = list[#list].question
  return table.concat(parts)
end

local function doc_to_choice(doc)
  local list = problems(doc)
  local last = list[#list]
  local out = {}
  for i = 1, 4 do
    if last.options[i] == nil then error("the last problem has fewer than 4 options", 0) end
    out[i] = last.options[i]
  end
  return out
end

local function doc_to_target(doc)
  local list = problems(doc)
  return answer_index(list[#list]) - 1
end

return {
  name = "race",
  aliases = { "RACE", "race_high", "RACE-high" },
  version = 2,
  dataset = { path = "EleutherAI/race", name = "high", test_split = "test" },
  output_type = "multiple_choice",
  doc_to_text = doc_to_text,
  doc_to_choice = doc_to_choice,
  doc_to_target = doc_to_target,
  metrics = { "acc" },
}
