-- data_table.lua — print the Markdown table of docs/data.md: every shipped task's Hugging Face
-- dataset id, config and the splits `evallua data pull` fetches for it.
-- Usage: evallua exec scripts/data_table.lua
local registry = require "evallua.registry"
local datapull = require "evallua.datapull"

local rows, seen = {}, {}
for _, t in ipairs(registry.load().tasks) do
  local eval, fewshot = "", ""
  for _, s in ipairs(datapull.task_splits(t, true)) do
    if s.role == "eval" then eval = s.split else fewshot = s.split end
  end
  if (t.fewshot_config or {}).samples then fewshot = "(examples in the task file)" end
  -- one row per dataset and split pair; a family with a config per task shows how many
  local key = table.concat({ t.dataset.path, eval, fewshot }, "|")
  local config = t.dataset.name or "default"
  local r = seen[key]
  if not r then
    r = { tasks = {}, configs = {}, config_set = {}, path = t.dataset.path, eval = eval, fewshot = fewshot }
    seen[key] = r
    rows[#rows + 1] = r
  end
  r.tasks[#r.tasks + 1] = t.name
  if not r.config_set[config] then
    r.config_set[config] = true
    r.configs[#r.configs + 1] = config
  end
end
print("| task(s) | dataset id | config | eval split | few-shot split |")
print("|---|---|---|---|---|")
for _, r in ipairs(rows) do
  local names = #r.tasks > 3 and (table.concat(r.tasks, ", ", 1, 2) .. string.format(", ... (%d tasks)", #r.tasks))
    or table.concat(r.tasks, ", ")
  local configs = #r.configs > 2 and string.format("`%s`, ... (%d configs)", r.configs[1], #r.configs)
    or "`" .. table.concat(r.configs, "`, `") .. "`"
  print(string.format("| %s | `%s` | %s | %s | %s |", names, r.path, configs, r.eval, r.fewshot ~= "" and r.fewshot or "—"))
end
