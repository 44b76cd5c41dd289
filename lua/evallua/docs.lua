-- evallua.docs — a task's evaluation documents and few-shot pool, read from
-- <data-dir>/<dataset id>/<config>/<split>.jsonl (lm-eval's split rules, §0.2).
local data = require "evallua.data"
local task = require "evallua.task"

local M = {}

--- The data directory: --data-dir, else $EVALLUA_DATA, else $XDG_DATA_HOME/evallua/datasets
--- (an absolute XDG_DATA_HOME only), else ~/.local/share/evallua/datasets.
function M.data_dir(opt)
  if opt and opt ~= "" then return opt end
  local env = os.getenv("EVALLUA_DATA")
  if env and env ~= "" then return env end
  local xdg = os.getenv("XDG_DATA_HOME")
  if xdg and xdg:sub(1, 1) == "/" then return xdg .. "/evallua/datasets" end
  return (os.getenv("HOME") or ".") .. "/.local/share/evallua/datasets"
end

local function load_split(t, data_dir, split, cache)
  local ds = t.dataset
  -- documents after process_docs belong to the task that processed them
  local key = table.concat({ ds.path, ds.name or "default", split, t.process_docs and t.name or "" }, "\0")
  if cache[key] then return cache[key] end
  local path, msg = data.find(data_dir, ds.path, ds.name, split)
  if not path then
    local words = {}
    for i, w in ipairs({ t.name, data_dir }) do
      words[i] = w:match("^[%w%./_%-+=:@,]+$") and w or ("'" .. w:gsub("'", "'\\''") .. "'")
    end
    error(string.format("task '%s': %s\nfetch it with: evallua data pull %s --data-dir %s\n" ..
      "(or point --data-dir or $EVALLUA_DATA at a folder that already holds %s/; docs/data.md)",
      t.name, msg, words[1], words[2], ds.path), 0)
  end
  local ok, docs = pcall(data.read, path)
  if not ok then error(string.format("task '%s': %s", t.name, tostring(docs)), 0) end
  if #docs == 0 then
    error(string.format("task '%s': split '%s' of %s (config %s) has no documents: %s is empty",
      t.name, split, ds.path, ds.name or "default", path), 0)
  end
  local raw = docs
  if t.process_docs then
    local ok2, processed = pcall(t.process_docs, docs)
    if not ok2 then
      error(string.format("task '%s' (%s): process_docs failed on %s: %s", t.name, t.file, path, tostring(processed)), 0)
    end
    if type(processed) ~= "table" then
      error(string.format("task '%s' (%s): process_docs must return a list of documents", t.name, t.file), 0)
    end
    docs = processed
  end
  M.note_origins(cache, path, raw, docs)
  cache[key] = docs
  return docs
end

--- Remember which file each loaded list of documents came from (cache.origin_lists, kept
--- for the run), so that an error about a document can name its file and line. Documents
--- process_docs made are matched to the raw records by position when it kept their number.
--- The raw records are held weakly when process_docs replaced them.
function M.note_origins(cache, path, raw, docs)
  cache.origin_lists = cache.origin_lists or {}
  local held = raw
  if docs ~= raw then
    held = setmetatable({}, { __mode = "v" })
    for i, d in ipairs(raw) do held[i] = d end
  end
  local lists = cache.origin_lists
  lists[#lists + 1] = { path = path, n = #raw, raw = held, docs = docs ~= raw and #docs == #raw and docs or nil }
end

--- { path =, record = } of a document, or nil when unknown: the latest list whose raw
--- records hold it, else the first whose processed documents do.
function M.origin(cache, doc)
  local lists = cache and cache.origin_lists
  if not lists or doc == nil then return nil end
  for k = #lists, 1, -1 do
    local l = lists[k]
    for i = 1, l.n do
      if l.raw[i] == doc then return { path = l.path, record = i } end
    end
  end
  for _, l in ipairs(lists) do
    if l.docs and type(doc) == "table" then
      for i = 1, l.n do
        if l.docs[i] == doc then return { path = l.path, record = i } end
      end
    end
  end
  return nil
end

--- Where a document came from: "FILE:LINE" for JSON Lines (blank lines skipped, as the
--- reader does), "FILE, record N" otherwise; nil when unknown.
function M.where(cache, doc)
  local o = M.origin(cache, doc)
  if not o then return nil end
  if string.match(o.path, "%.jsonl$") then
    local f = io.open(o.path, "r")
    if f then
      local n, line = 0, 0
      for l in f:lines() do
        line = line + 1
        if string.find(l, "%S") then
          n = n + 1
          if n == o.record then
            f:close()
            return string.format("%s:%d", o.path, line)
          end
        end
      end
      f:close()
    end
  end
  return string.format("%s, record %d", o.path, o.record)
end

--- Evaluation documents: test_split when set, else validation_split. The task keeps the
--- run's cache (t.doc_cache) so that task.requests can name a bad document's file and line.
function M.eval_docs(t, data_dir, cache)
  local split = t.dataset.test_split or t.dataset.validation_split
  t.doc_cache = cache
  return load_split(t, data_dir, split, cache), split
end

--- Few-shot pool: fewshot_config.samples, else fewshot_split, training_split,
--- validation_split, the test docs (in that order). Returns docs and the split name.
function M.fewshot_pool(t, data_dir, cache)
  local fc = t.fewshot_config or {}
  if fc.samples then
    local s = fc.samples
    if type(s) == "function" then s = s() end
    return s, "samples"
  end
  local ds = t.dataset
  local split = ds.fewshot_split or ds.training_split or ds.validation_split or ds.test_split
  local docs = load_split(t, data_dir, split, cache)
  local o = M.origin(cache, docs[1])
  t.fewshot_source = string.format("split '%s'%s", split, o and (" (" .. o.path .. ")") or "")
  return docs, split
end

--- Number of documents to evaluate given --limit (count, or fraction < 1; lm-eval's ceil).
function M.apply_limit(n, limit)
  if limit == nil then return n end
  if limit < 1 then return math.min(n, math.ceil(n * limit)) end
  return math.min(n, math.floor(limit))
end

M.task = task
return M
