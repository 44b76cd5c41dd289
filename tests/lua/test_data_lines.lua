-- JSON Lines read straight into Lua (json_lua_push_lines) give exactly what the cJSON
-- reader gives: the same values, integer/float kinds, array markers, and the same key order
-- under pairs() (tables made with the same sizes, filled in the same order). The cJSON side
-- is the same text in a .json file (JSON Lines in a .json file always go through cJSON).
local check = dofile(os.getenv("EVALLUA_SRC") .. "/tests/lua/check.lua")
local data = require "evallua.data"
local json = require "evallua.json"
local sys = require "evallua.sys"

local dir = os.tmpname()
os.remove(dir)
sys.mkdir_p(dir)

-- A value as text that shows everything that could differ: key order, number kinds,
-- array markers, null.
local function shape(v)
  local t = type(v)
  if v == json.null then return "null" end
  if t == "number" then return math.type(v) .. ":" .. string.format("%.17g", v) end
  if t == "string" then return string.format("%q", v) end
  if t ~= "table" then return t .. ":" .. tostring(v) end
  local parts = { json.is_array(v) and "[" or "{" }
  for k, x in pairs(v) do parts[#parts + 1] = shape(k) .. "=" .. shape(x) .. "," end
  parts[#parts + 1] = "}"
  return table.concat(parts)
end

local function both(name, text)
  sys.write_file(dir .. "/" .. name .. ".jsonl", text)
  sys.write_file(dir .. "/" .. name .. ".json", text)
  local ok1, lines = pcall(data.read, dir .. "/" .. name .. ".jsonl")
  local ok2, tree = pcall(data.read, dir .. "/" .. name .. ".json")
  return ok1, lines, ok2, tree
end

local cases = {
  plain = '{"question":"What is 1 plus 1?","answer":"2"}\n{"question":"Q2","answer":"42"}\n',
  numbers = '{"a":1,"b":-0,"c":2.5,"d":1e3,"e":-1.25E-2,"f":9007199254740993,"g":1e400,"h":0.1}\n{"x":[1,2.0,3e0]}\n',
  nested = '{"choices":{"text":["a","b",["c",{"d":null}]],"label":[]},"o":{},"t":true,"f":false}\n{"k":[[],{}]}\n',
  escapes = '{"s":"a\\"b\\\\c\\/d\\n\\t\\r\\b\\f","k\\n":"v"}\n{"s":"caf\xc3\xa9 \xe2\x82\xac"}\n',
  unicode_escape = '{"s":"caf\\u00e9 \\ud83d\\ude00"}\n{"s":"x"}\n',
  blank_lines = '\n  {"a":1}  \r\n\n\t\n{"a":2}\r\n   \n',
  spaces = '{ "a" : [ 1 , 2 ] , "b" : { } }\n{"c":"d"}',
  duplicate_keys = '{"a":1,"b":2,"a":3}\n{"a":4}\n',
  many_keys = '{"k01":1,"k02":2,"k03":3,"k04":4,"k05":5,"k06":6,"k07":7,"k08":8,"k09":9,"k10":10,"k11":11}\n{"k":1}\n',
  loose_number = '{"a":01}\n{"a":1}\n',
  control_space = '{"a":\x0b1}\n{"a":2}\n',
  bom = '\xef\xbb\xbf{"a":1}\n{"a":2}\n',
}
local names = {}
for name in pairs(cases) do names[#names + 1] = name end
table.sort(names)
for _, name in ipairs(names) do
  local ok1, lines, ok2, tree = both(name, cases[name])
  check.eq(ok1, ok2, name .. ": both readers succeed or both fail")
  if ok1 and ok2 then
    check.eq(#lines, #tree, name .. ": as many documents")
    check.eq(shape(lines), shape(tree), name .. ": the same documents, key order included")
  end
end

-- errors come from the cJSON reader, with the file and line
local bad = dir .. "/bad.jsonl"
sys.write_file(bad, '{"a":1}\n{"a":\n')
check.raises(function() data.read(bad) end, { bad .. ":2: malformed JSON" })
sys.write_file(bad, '{"a":1}\n[1,2]\n')
check.raises(function() data.read(bad) end, { bad .. ":2: expected a JSON object" })
sys.write_file(bad, '{"a":1} x\n')
check.raises(function() data.read(bad) end, { bad .. ":1: malformed JSON" })
sys.write_file(bad, '')
check.eq(#data.read(bad), 0, "an empty file: no documents")
check.ok(json.is_array(data.read(bad)), "an empty file: an array")

return check.summary()
