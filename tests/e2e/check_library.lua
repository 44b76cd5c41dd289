-- check_library.lua RESULTS N TASK... — for each task, the results file holds every metric the
-- task declares (per filter, with a stderr key where the aggregation has one) with a sane
-- value, and n-samples.TASK.effective is N (or the task's document count when smaller).
-- Prints one line per problem and "checked K values of T tasks"; exits 1 on any problem.
local json = require "evallua.json"
local registry = require "evallua.registry"

local results = json.read_file(arg[1])
local want_n = math.tointeger(tonumber(arg[2]))
local reg = registry.load()
local problems, checked = 0, 0

local function problem(fmt, ...)
  problems = problems + 1
  print("FAIL: " .. string.format(fmt, ...))
end

-- The range a metric's value must lie in (by what the metric is).
local function range(name)
  if name == "perplexity" then return 1, math.huge end
  if string.match(name, "_diff$") then return -100, 100 end
  if string.match(name, "^bleu_max$") or string.match(name, "^rouge.*_max$") then return 0, 100 end
  if string.match(name, "^inst_level_") then return 0, math.huge end
  return 0, 1
end

local function check_value(task, key, v, lo, hi)
  checked = checked + 1
  if type(v) ~= "number" or v ~= v then
    problem("%s: %s is %s, not a number", task, key, tostring(v))
  elseif v < lo or v > hi then
    problem("%s: %s = %s outside [%s, %s]", task, key, tostring(v), tostring(lo), tostring(hi))
  end
end

for i = 3, #arg do
  local t = registry.resolve(reg, arg[i])[1]
  local res = results.results[t.name]
  if not res then
    problem("%s: no results entry", t.name)
    goto continue
  end
  local n = results["n-samples"][t.name]
  local expect = want_n
  if n and n.original < want_n then expect = n.original end
  if not n or n.effective ~= expect then
    problem("%s: n-samples.effective = %s, want %d", t.name, tostring(n and n.effective), expect)
  end
  local filters = { "none" }
  if t.output_type == "generate_until" then
    filters = {}
    for j, f in ipairs(t.filter_specs) do filters[j] = f.name end
  end
  local squad = t.name == "squadv2"
  for _, f in ipairs(filters) do
    for _, m in ipairs(t.metric_specs) do
      for _, name in ipairs(m.reports or { m.name }) do
        local key = name .. "," .. f
        local lo, hi = range(name)
        if squad then lo, hi = 0, 100 end
        check_value(t.name, key, res[key], lo, hi)
        local agg = m.aggregation
        if (agg == "mean" or agg == "perplexity") and res[name .. "_stderr," .. f] == nil then
          problem("%s: no %s_stderr,%s", t.name, name, f)
        end
        if results.higher_is_better[t.name][name] ~= (m.higher_is_better ~= false) then
          problem("%s: higher_is_better.%s is %s", t.name, name, tostring(results.higher_is_better[t.name][name]))
        end
      end
    end
  end
  ::continue::
end
print(string.format("checked %d values of %d tasks", checked, #arg - 2))
return problems == 0 and 0 or 1
