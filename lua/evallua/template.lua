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

-- One step of a path, parsed: { key = name } or { idx = 0-based index }, with how it prints
-- in messages (`shown`), and the rest of the path; nil when the path cannot be parsed.
local function parse_step(rest, first)
  local name, after = string.match(rest, "^%.?([%a_][%w_]*)(.*)$")
  if name then return { key = name, shown = (first and "" or ".") .. name }, after end
  local skey
  skey, after = string.match(rest, "^%[%s*[\"']([^\"']*)[\"']%s*%](.*)$")
  if skey then return { key = skey, shown = string.format("[%q]", skey) }, after end
  local idx
  idx, after = string.match(rest, "^%[%s*(-?%d+)%s*%](.*)$")
  if not idx then return nil end
  return { idx = math.tointeger(tonumber(idx)), shown = "[" .. idx .. "]" }, after
end

-- A {{path}} expression as its steps, parsed once; a step that cannot be parsed becomes
-- { bad = true } and raises when a document reaches it (as the path is walked).
local function parse_path(expr)
  local steps, rest = {}, expr
  while rest ~= "" do
    local step, after = parse_step(rest, #steps == 0)
    if not step then
      steps[#steps + 1] = { bad = true }
      break
    end
    steps[#steps + 1] = step
    rest = after
  end
  return { expr = expr, steps = steps }
end

-- The path of the first n steps, as messages show it ("choices.text[0]").
local function path_of(steps, n)
  local parts = {}
  for k = 1, n do parts[k] = steps[k].shown end
  return table.concat(parts)
end

local null = json.null

local function resolve(doc, path, tpl)
  local value, steps = doc, path.steps
  for k = 1, #steps do
    local step = steps[k]
    if step.bad then error(string.format("template '%s': cannot parse '%s'", tpl, path.expr), 0) end
    local key = step.key
    if not key then
      if type(value) ~= "table" then
        error(string.format("template '%s': '%s' is not a list", tpl, path_of(steps, k - 1)), 0)
      end
      local i = step.idx
      if i < 0 then i = #value + i end
      key = i + 1
    end
    local nextv = (type(value) == "table" and value ~= null) and value[key] or nil
    if nextv == nil then
      local where = k > 1 and ("'" .. path_of(steps, k - 1) .. "'") or "the document"
      error(string.format("template '%s': %s has no %s", tpl, where,
        step.idx and ("element " .. string.match(step.shown, "%-?%d+")) or ("field '" .. tostring(key) .. "'")), 0)
    end
    value = nextv
  end
  return value
end

-- Templates parsed once (by their text): the literal text around the {{ }} and each path's
-- steps, or the one path of a whole-template {{path}}.
local compiled = {}

local function compile(tpl)
  local c = compiled[tpl]
  if c then return c end
  local whole = string.match(tpl, "^{{%s*([^{}]-)%s*}}$")
  if whole then
    c = { whole = parse_path(whole) }
  else
    local lits, paths, pos = {}, {}, 1
    while true do
      local s, e, expr = string.find(tpl, "{{%s*([^{}]-)%s*}}", pos)
      if not s then break end
      lits[#lits + 1] = string.sub(tpl, pos, s - 1)
      paths[#paths + 1] = parse_path(expr)
      pos = e + 1
    end
    lits[#lits + 1] = string.sub(tpl, pos)
    c = { lits = lits, paths = paths }
  end
  compiled[tpl] = c
  return c
end

local pystr = util.pystr

--- Render a template against a document. Returns a string, or the value itself when the
--- whole template is one {{path}} that names a table (a list of choices, say).
function M.render(tpl, doc)
  local c = compile(tpl)
  if c.whole then
    local v = resolve(doc, c.whole, tpl)
    if type(v) == "table" and v ~= null then return v end
    return pystr(v)
  end
  local lits, paths = c.lits, c.paths
  local n = #paths
  if n == 0 then return lits[1] end
  if n == 1 then return lits[1] .. pystr(resolve(doc, paths[1], tpl)) .. lits[2] end
  local out = {}
  for k = 1, n do
    out[2 * k - 1] = lits[k]
    out[2 * k] = pystr(resolve(doc, paths[k], tpl))
  end
  out[2 * n + 1] = lits[n + 1]
  return table.concat(out)
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
