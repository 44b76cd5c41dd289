-- evallua.registry — finds task scripts and resolves the names users type.
--
-- Task files are read at run time from <home>/tasks, each --include-path DIR and each
-- directory in $EVALLUA_PATH (colon-separated), recursively; a file may return one task
-- table or a list of them. Names are case-insensitive; aliases ("ARC-c") and globs
-- ("arc_*") resolve too, and a path ending in .lua names a task file directly.
-- Scripts run in an environment built from an allow-list: no io, os or debug.
local sys = require "evallua.sys"
local task = require "evallua.task"
local util = require "evallua.util"

local M = {}

local SAFE_GLOBALS = {
  "assert", "error", "ipairs", "next", "pairs", "pcall", "print", "rawequal", "rawget",
  "rawlen", "rawset", "select", "setmetatable", "getmetatable", "tonumber", "tostring",
  "type", "xpcall", "string", "table", "math", "utf8",
}

local ALLOWED_MODULES = {
  ["evallua.regex"] = true, ["evallua.json"] = true, ["evallua.template"] = true,
  ["evallua.util"] = true, ["evallua.score"] = true, ["evallua.metrics"] = true,
  ["evallua.sandbox"] = true, ["evallua.ifeval"] = true,
}

-- Task scripts get evallua.json without its file functions.
local function SAFE_JSON()
  local json = require "evallua.json"
  return { decode = json.decode, encode = json.encode, null = json.null, array = json.array,
    is_array = json.is_array }
end

local function script_env()
  local env = {}
  for _, name in ipairs(SAFE_GLOBALS) do env[name] = _G[name] end
  env.require = function(name)
    if name == "evallua.json" then return SAFE_JSON() end
    if name == "evallua.sandbox" then
      -- runs programs only inside the sandbox, and only after the user's consent; scripts
      -- cannot give that consent themselves
      local sb = require(name)
      return { run = sb.run, pass_at_k = sb.pass_at_k, isolation = sb.isolation, confirmed = sb.confirmed }
    end
    if not ALLOWED_MODULES[name] then
      error(string.format("task scripts may require only %s; not '%s'",
        table.concat(util.sorted_keys(ALLOWED_MODULES), ", "), tostring(name)), 2)
    end
    return require(name)
  end
  env._G = env
  return env
end

--- Run a task or scorer script in the sandbox; returns what it returns.
function M.load_script(path)
  local src, err = sys.read_file(path)
  if not src then error(err, 0) end
  local chunk, cerr = load(src, "@" .. path, "t", script_env())
  if not chunk then error(cerr, 0) end
  local ok, ret = pcall(chunk)
  if not ok then error(tostring(ret), 0) end
  return ret
end

--- The scorer file scorers/<name>.lua: from each --include-path DIR (DIR/scorers, then
--- DIR itself), $EVALLUA_PATH likewise, then <home>/scorers. Returns its path or nil.
function M.find_scorer(name, include_paths, task_file)
  local dirs = {}
  local here = task_file and string.match(task_file, "^(.*)/[^/]*$")
  if here then
    dirs[#dirs + 1] = here .. "/scorers"
    dirs[#dirs + 1] = here
  end
  for _, d in ipairs(M.search_path(include_paths)) do
    dirs[#dirs + 1] = d .. "/scorers"
    dirs[#dirs + 1] = d
  end
  dirs[#dirs + 1] = sys.home() .. "/scorers"
  for _, d in ipairs(dirs) do
    local p = d .. "/" .. name .. ".lua"
    if sys.is_file(p) then return p end
  end
  return nil
end

-- Attach scorer files to metrics that name one (see task.lua: spec.scorer_name).
local function resolve_scorers(t, include_paths)
  for _, m in ipairs(t.metric_specs) do
    if m.scorer_name then
      local p = M.find_scorer(m.scorer_name, include_paths, t.file)
      if not p then
        error(string.format("%s: metric '%s' of task '%s' is neither built in for output_type '%s' nor a scorer file scorers/%s.lua",
          t.file, m.scorer_name, t.name, t.output_type, m.scorer_name), 0)
      end
      local sc = M.load_script(p)
      if type(sc) ~= "table" or type(sc.score) ~= "function" then
        error(string.format("%s: a scorer file must return a table with a score(doc, response) function", p), 0)
      end
      m.score, m.scorer_file = sc.score, p
      if m.aggregation == nil then m.aggregation = sc.aggregation or "mean" end
      if m.higher_is_better == nil then m.higher_is_better = sc.higher_is_better ~= false end
    end
  end
end

--- Load one task file; returns the list of validated tasks it defines.
function M.load_file(path, include_paths)
  local ret = M.load_script(path)
  if type(ret) == "table" and type(ret.score) == "function" and ret.name == nil then
    return {} -- a scorer file that sits among the tasks
  end
  if type(ret) ~= "table" then
    error(string.format("%s: a task script must return a task table (or a list of them), got %s", path, type(ret)), 0)
  end
  local list = (ret.name or ret.group) and { ret } or ret
  local out = {}
  for i, t in ipairs(list) do
    if type(t) == "table" and t.group ~= nil then out[i] = task.validate_group(t, path)
    else
      out[i] = task.validate(t, path)
      resolve_scorers(out[i], include_paths)
    end
  end
  if #out == 0 then error(string.format("%s: the returned table defines no task", path), 0) end
  return out
end

local function walk(dir, files)
  local names = sys.list_dir(dir)
  if not names then return end
  for _, n in ipairs(names) do
    local p = dir .. "/" .. n
    if string.sub(n, 1, 1) ~= "." and n ~= "scorers" then
      if sys.is_dir(p) then walk(p, files)
      elseif string.match(n, "%.lua$") then files[#files + 1] = p end
    end
  end
end

--- The directories searched for tasks, in priority order.
function M.search_path(include_paths)
  local dirs = {}
  for _, d in ipairs(include_paths or {}) do dirs[#dirs + 1] = d end
  local env = os.getenv("EVALLUA_PATH")
  if env and env ~= "" then
    for _, d in ipairs(util.split(env, ":")) do
      if d ~= "" then dirs[#dirs + 1] = d end
    end
  end
  dirs[#dirs + 1] = sys.home() .. "/tasks"
  return dirs
end

--- Load every task on the search path: returns a registry {tasks = {...}, by_name = {...}}.
--- A broken file raises (it names the file); a task name defined twice keeps the first.
function M.load(include_paths)
  local reg = { tasks = {}, groups = {}, by_name = {}, include_paths = include_paths }
  for _, dir in ipairs(M.search_path(include_paths)) do
    if not sys.is_dir(dir) and dir ~= sys.home() .. "/tasks" then
      error(string.format("task directory %s does not exist", dir), 0)
    end
    local files = {}
    walk(dir, files)
    for _, f in ipairs(files) do
      for _, t in ipairs(M.load_file(f, include_paths)) do
        local key = string.lower(t.name)
        if not reg.by_name[key] then
          reg.by_name[key] = t
          local list = t.group and reg.groups or reg.tasks
          list[#list + 1] = t
        end
      end
    end
  end
  for _, list in ipairs { reg.tasks, reg.groups } do
    for _, t in ipairs(list) do
      for _, a in ipairs(t.aliases) do
        local key = string.lower(a)
        if not reg.by_name[key] then reg.by_name[key] = t end
      end
    end
    table.sort(list, function(a, b) return a.name < b.name end)
  end
  return reg
end

local function glob_to_pattern(g)
  local p = string.gsub(string.lower(g), "[%^%$%(%)%%%.%[%]%+%-]", "%%%0")
  p = string.gsub(p, "%*", ".*")
  p = string.gsub(p, "%?", ".")
  return "^" .. p .. "$"
end

--- Resolve a comma-separated task list to tasks, in the order given (no duplicates).
--- A group expands to its tasks (recursively); the groups met are returned second,
--- members before the groups that contain them.
function M.resolve(reg, spec)
  local out, seen, groups, seen_group = {}, {}, {}, {}
  local function add(t, stack)
    if not t.group then
      if not seen[t] then
        seen[t] = true
        out[#out + 1] = t
      end
      return
    end
    if seen_group[t] then return end
    stack = stack or {}
    if stack[t] then error(string.format("group '%s' contains itself (%s)", t.name, t.file), 0) end
    stack[t] = true
    t.members = {}
    for _, member in ipairs(t.tasks) do
      local m = reg.by_name[string.lower(member)]
      if not m then
        error(string.format("group '%s' (%s) names unknown task '%s'", t.name, t.file, member), 0)
      end
      t.members[#t.members + 1] = m
      add(m, stack)
    end
    stack[t] = nil
    seen_group[t] = true
    groups[#groups + 1] = t
  end
  for _, raw in ipairs(util.split(spec, ",")) do
    local name = util.strip(raw)
    if name ~= "" then
      if string.match(name, "%.lua$") then
        for _, t in ipairs(M.load_file(name, reg.include_paths)) do add(t) end
      elseif string.find(name, "[%*%?]") then
        local pat, n = glob_to_pattern(name), 0
        for _, t in ipairs(reg.tasks) do
          if string.match(string.lower(t.name), pat) then
            add(t)
            n = n + 1
          end
        end
        if n == 0 then error(string.format("no task matches '%s' (see evallua list)", name), 0) end
      else
        local t = reg.by_name[string.lower(name)]
        if not t then
          local names = {}
          for k in pairs(reg.by_name) do names[#names + 1] = k end
          local near = util.nearest(name, names, 3)
          error(string.format("unknown task '%s'%s (see evallua list)", name,
            #near > 0 and (" — did you mean " .. table.concat(near, ", ") .. "?") or ""), 0)
        end
        add(t)
      end
    end
  end
  if #out == 0 then error("no tasks given (use --tasks NAME[,NAME...])", 0) end
  return out, groups
end

return M
