-- evallua.datapull — which dataset splits tasks read, whether they are on disk, and
-- `evallua data pull` (the download itself runs in C: evallua.pull, core/data/pull.c).
local data = require "evallua.data"
local docs = require "evallua.docs"
local sys = require "evallua.sys"

local M = {}

M.DEFAULT_ENDPOINT = "https://datasets-server.huggingface.co"

local function warn(fmt, ...) sys.stderr(string.format(fmt, ...) .. "\n") end

--- A word for a shell command line: as it is when safe, else in single quotes.
function M.shell_word(s)
  if s:match("^[%w%./_%-+=:@,]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- The command that fetches what tasks (a list of names) need into dir.
function M.fetch_command(names, dir)
  local words = {}
  for i, n in ipairs(names) do words[i] = M.shell_word(n) end
  return string.format("evallua data pull %s --data-dir %s", table.concat(words, " "), M.shell_word(dir))
end

--- The .jsonl path a pull writes for a split (config nil: "default").
function M.split_base(dir, id, config, split)
  return string.format("%s/%s/%s/%s.jsonl", (dir:gsub("/+$", "")), id, config or "default", split)
end

--- The splits a task reads: { {split=, role="eval"|"fewshot"} }. The few-shot split counts
--- when the task can draw examples from a split (with_fewshot false leaves it out).
function M.task_splits(t, with_fewshot)
  local ds = t.dataset
  local eval = ds.test_split or ds.validation_split
  local out = { { split = eval, role = "eval" } }
  local fc = t.fewshot_config or {}
  if with_fewshot and not fc.samples and not t.zero_shot_only then
    local fs = ds.fewshot_split or ds.training_split or ds.validation_split or ds.test_split
    if fs ~= eval then out[2] = { split = fs, role = "fewshot" } end
  end
  return out
end

--- Distinct (dataset, config, split) of tasks, in order: { {dataset=, config=, split=,
--- tasks={names}} }. only: a set of split names to keep, or nil for all.
function M.plan(tasks, only)
  local list, by_key = {}, {}
  for _, t in ipairs(tasks) do
    for _, s in ipairs(M.task_splits(t, true)) do
      local config = t.dataset.name or "default"
      local key = table.concat({ t.dataset.path, config, s.split }, "\0")
      if not only or only[s.split] then
        local e = by_key[key]
        if not e then
          e = { dataset = t.dataset.path, config = config, split = s.split, tasks = {} }
          by_key[key] = e
          list[#list + 1] = e
        end
        e.tasks[#e.tasks + 1] = t.name
      end
    end
  end
  return list
end

--- Check, before anything is sent, that every split the tasks need is on disk (few-shot
--- splits only where num_fewshot(t) > 0). Raises one error naming every missing file and
--- the command that fetches them.
function M.require_present(tasks, dir, num_fewshot)
  local missing, names, seen = {}, {}, {}
  for _, t in ipairs(tasks) do
    for _, s in ipairs(M.task_splits(t, num_fewshot(t) > 0)) do
      local path, msg = data.find(dir, t.dataset.path, t.dataset.name, s.split)
      if path and sys.is_dir(M.split_base(dir, t.dataset.path, t.dataset.name, s.split) .. ".pull") then
        warn("note: %s may hold only part of its split (pulled with --limit-rows, or a pull is unfinished); %s completes it",
          path, M.fetch_command({ t.name }, dir))
      end
      if not path then
        missing[#missing + 1] = string.format("  task '%s' (%s split): %s", t.name, s.role, msg)
        if not seen[t.name] then
          seen[t.name] = true
          names[#names + 1] = t.name
        end
      end
    end
  end
  if #missing == 0 then return end
  error(string.format("data not found in %s:\n%s\nfetch it with:\n  %s\n(or point --data-dir or $EVALLUA_DATA at a folder that already holds it; docs/data.md)",
    dir, table.concat(missing, "\n"), M.fetch_command(names, dir)), 0)
end

local function to_count(v, what, min)
  if v == nil then return nil end
  local n = math.tointeger(tonumber(v))
  if not n or n < min then error(string.format("%s must be an integer >= %d, got '%s'", what, min, tostring(v)), 0) end
  return n
end

local function state_of(dir, e)
  local base = M.split_base(dir, e.dataset, e.config, e.split)
  local path = data.find(dir, e.dataset, e.config, e.split)
  if sys.is_dir(base .. ".pull") then return "partial", base end
  if path then return "present", path end
  return "missing", base
end

local function dry_run(list, dir, endpoint)
  print(string.format("data dir %s, API %s", dir, endpoint))
  for _, e in ipairs(list) do
    local state, path = state_of(dir, e)
    print(string.format("%-8s %s/%s/%s  (%s)  %s", state, e.dataset, e.config, e.split,
      table.concat(e.tasks, ", "), path))
  end
  return 0
end

local function report(list, res, opts)
  local counts = { fetched = 0, present = 0, failed = 0, interrupted = 0 }
  for i, e in ipairs(list) do
    local r = res[i]
    local label = string.format("%s/%s/%s", e.dataset, e.config, e.split)
    counts[r.status] = counts[r.status] + 1
    if r.status == "fetched" then
      print(string.format("fetched  %s  %d rows%s -> %s", label, r.rows,
        r.pages_resumed > 0 and string.format(" (%d of %d pages resumed)", r.pages_resumed, r.pages) or "", r.path))
      if r.rows < r.rows_total then
        warn("note: %s: --limit-rows %d wrote the first %d of %d rows; pull again without --limit-rows to complete it",
          label, opts.limit_rows, r.rows, r.rows_total)
      end
    elseif r.status == "interrupted" then
      print(string.format("interrupted  %s: %d of %s pages kept in %s", label, r.pages_done,
        r.pages > 0 and tostring(r.pages) or "?", r.path))
    elseif r.status == "present" then
      print(string.format("present  %s  %s", label, r.path))
    else
      print(string.format("%-8s %s: %s", r.status, label, r.error or "?"))
    end
    if r.truncated_rows > 0 then
      warn("warning: %s: %d rows came with truncated_cells (the API shortened long values): those rows are incomplete",
        label, r.truncated_rows)
    end
    if r.partial then
      warn("warning: %s: the API serves only part of this split (\"partial\": true); %d rows fetched", label, r.rows)
    end
  end
  print(string.format("%d splits: %d fetched, %d present, %d failed%s (data dir %s)", #list, counts.fetched,
    counts.present, counts.failed, counts.interrupted > 0 and string.format(", %d interrupted", counts.interrupted) or "",
    opts.data_dir))
  if counts.interrupted > 0 then
    warn("interrupted: the pages fetched so far are kept; run the same command again to resume")
    return 130
  end
  return counts.failed > 0 and 1 or 0
end

--- evallua data pull TASK... : returns the exit status.
function M.pull(names, opts, resolve)
  if #names == 0 then error("usage: evallua data pull TASK|GROUP|GLOB... [--data-dir DIR] (see evallua data --help)", 0) end
  local tasks = resolve(table.concat(names, ","))
  local only
  if opts.splits then
    only = {}
    for s in tostring(opts.splits):gmatch("[^,%s]+") do only[s] = true end
  end
  local list = M.plan(tasks, only)
  if #list == 0 then error("--splits " .. tostring(opts.splits) .. " matches no split of these tasks", 0) end
  local dir = docs.data_dir(opts.data_dir)
  local endpoint = os.getenv("EVALLUA_HF_DATASETS_SERVER")
  if not endpoint or endpoint == "" then endpoint = M.DEFAULT_ENDPOINT end
  if opts.dry_run then return dry_run(list, dir, endpoint) end
  local popts = {
    data_dir = dir, endpoint = endpoint, force = opts.force and true or false,
    limit_rows = to_count(opts.limit_rows, "--limit-rows", 1),
    concurrency = to_count(opts.concurrency, "--concurrency", 1),
    max_retries = to_count(opts.max_retries, "--max-retries", 0),
    retry_base = tonumber(os.getenv("EVALLUA_PULL_RETRY_BASE") or ""),
    progress = os.getenv("EVALLUA_NO_PROGRESS") ~= "1",
  }
  local res = require("evallua.pull").run(list, popts)
  return report(list, res, popts)
end

return M
