-- jq.lua FILE PATH... — print values from a JSON file, one per line; PATH is dotted
-- (results.gsm8k.exact_match,strict-match); keys containing dots are not supported.
-- A missing value prints "<missing>". Lets shell tests read JSON without jq or Python.
local json = require "evallua.json"
local doc = json.read_file(arg[1])
for i = 2, #arg do
  local v = doc
  for key in string.gmatch(arg[i], "[^.]+") do
    if type(v) ~= "table" then v = nil break end
    v = v[key]
  end
  if v == nil then print("<missing>")
  elseif type(v) == "table" then print(json.encode(v))
  else print(tostring(v)) end
end
