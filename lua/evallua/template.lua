-- evallua.template — `{{field}}` interpolation for doc_to_text, doc_to_target and
-- doc_to_choice.
--
-- Inside {{ }} goes a path into the document: `question`, `choices.text`, `choices[0]`
-- (indices are 0-based, as in lm-eval's Jinja templates). A missing field is an error, as
-- with Jinja's StrictUndefined. Values print the way Python would (True, None, 3, 2.5).
-- A template that is exactly one {{path}} naming a list returns the list itself (so
-- doc_to_choice = "{{choices.text}}" yields the choices). Anything more elaborate is a
-- Lua function in the task.
local json = require "evallua.json"
local util = require "evallua.util"

local M = {}

-- One step of a path: returns the key to index with, how it prints in messages, the rest.
local function next_step(rest, value, tpl, expr, path)
  local name, after = string.match(rest, "^%.?([%a_][%w_]*)(.*)$")
  if name then return name, (path ~= "" and "." or "") .. name, after end
  local skey
  skey, after = string.match(rest, "^%[%s*[\"']([^\"']*)[\"']%s*%](.*)$")
  if skey then return skey, string.format("[%q]", skey), after end
  local idx
  idx, after = string.match(rest, "^%[%s*(-?%d+)%s*%](.*)$")
  if not idx then error(string.format("template '%s': cannot parse '%s'", tpl, expr), 0) end
  if type(value) ~= "table" then error(string.format("template '%s': '%s' is not a list", tpl, path), 0) end
  local i = math.tointeger(tonumber(idx))
  if i < 0 then i = #value + i end
  return i + 1, "[" .. idx .. "]", after
end

local function resolve(doc, expr, tpl)
  local value, rest, path = doc, expr, ""
  while rest ~= "" do
    local key, shown, after = next_step(rest, value, tpl, expr, path)
    local nextv = (type(value) == "table" and value ~= json.null) and value[key] or nil
    if nextv == nil then
      error(string.format("template '%s': %s has no %s", tpl,
        path ~= "" and ("'" .. path .. "'") or "the document",
        math.type(key) and ("element " .. string.match(shown, "%-?%d+")) or ("field '" .. tostring(key) .. "'")), 0)
    end
    path = path .. shown
    value = nextv
    rest = after
  end
  return value
end

--- Render a template against a document. Returns a string, or the value itself when the
--- whole template is one {{path}} that names a table (a list of choices, say).
function M.render(tpl, doc)
  local whole = string.match(tpl, "^{{%s*([^{}]-)%s*}}$")
  if whole then
    local v = resolve(doc, whole, tpl)
    if type(v) == "table" and v ~= json.null then return v end
    return util.pystr(v)
  end
  return (string.gsub(tpl, "{{%s*([^{}]-)%s*}}", function(expr)
    return util.pystr(resolve(doc, expr, tpl))
  end))
end

--- Apply a doc_to_* field: a template string, a Lua function, or a constant (list/number).
function M.apply(field, doc, what)
  local t = type(field)
  if t == "function" then return field(doc) end
  if t == "string" then return M.render(field, doc) end
  if t == "table" or t == "number" then return field end
  error(string.format("%s must be a template string, a function or a value, not %s", what, t), 0)
end

return M
