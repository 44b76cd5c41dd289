-- evallua.cli — the commands behind `evallua run|list|show|exec`. C parses the flags into
-- `opts` (canonical names, see core/cli/args.c); this module gives them meaning.
local json = require "evallua.json"
local model = require "evallua.model"
local registry = require "evallua.registry"
local results = require "evallua.results"
local runner = require "evallua.runner"
local sys = require "evallua.sys"
local task = require "evallua.task"
local util = require "evallua.util"

local M = {}

-- Fields a suite file may set (the same names as the flags).
local SUITE_FIELDS = {
  model = true, model_args = true, model_name = true, tasks = true, num_fewshot = true,
  limit = true, output = true, log_samples = true, batch_size = true, apply_chat_template = true,
  fewshot_as_multiturn = true, system_instruction = true, gen_kwargs = true, seed = true,
  include_path = true, data_dir = true, no_progress = true, mc_mode = true, repeats = true,
  cache = true, no_cache = true, bootstrap_iters = true, allow_failures = true,
  confirm_run_unsafe_code = true,
}

local function warn(fmt, ...) sys.stderr(string.format(fmt, ...) .. "\n") end

local function load_suite(path)
  local src, err = sys.read_file(path)
  if not src then error(err, 0) end
  local base = { os = { getenv = os.getenv }, require = require }
  for _, name in ipairs { "assert", "error", "ipairs", "next", "pairs", "pcall", "print", "select",
      "setmetatable", "getmetatable", "tonumber", "tostring", "type", "string", "table", "math", "utf8" } do
    base[name] = _G[name]
  end
  local env = setmetatable({}, { __index = base })
  local chunk, cerr = load(src, "@" .. path, "t", env)
  if not chunk then error(cerr, 0) end
  local ok, suite = pcall(chunk)
  if not ok then error(tostring(suite), 0) end
  if type(suite) ~= "table" then error(path .. ": a suite file must return a table", 0) end
  for k in pairs(suite) do
    if not SUITE_FIELDS[k] then
      local near = util.nearest(tostring(k), util.sorted_keys(SUITE_FIELDS), 1)
      error(string.format("%s: unknown suite field '%s'%s", path, tostring(k),
        near[1] and (" (did you mean '" .. near[1] .. "'?)") or ""), 0)
    end
  end
  return suite
end

local function to_int(v, what)
  if v == nil then return nil end
  local n = math.tointeger(tonumber(v))
  if not n or n < 0 then error(string.format("%s must be a non-negative integer, got '%s'", what, tostring(v)), 0) end
  return n
end

local function parse_seed(v)
  local seeds = { 0, 1234, 1234, 1234 }
  if v == nil then return seeds end
  local parts = util.split(tostring(v), ",")
  if #parts == 1 then
    local n = math.tointeger(tonumber(parts[1]))
    if not n then error("--seed must be an integer or four comma-separated integers", 0) end
    return { n, n, n, n }
  end
  if #parts ~= 4 then error("--seed takes one integer or four (random,numpy,torch,fewshot)", 0) end
  for i, p in ipairs(parts) do
    if p ~= "None" then
      seeds[i] = math.tointeger(tonumber(p)) or error("--seed: '" .. p .. "' is not an integer", 0)
    end
  end
  return seeds
end

local function parse_gen_kwargs(v)
  if v == nil then return nil end
  local raw = type(v) == "table" and v or util.parse_kv(v, "--gen_kwargs")
  local out = {}
  for k, val in pairs(raw) do
    if k ~= "until" and k ~= "max_gen_toks" and k ~= "temperature" and k ~= "do_sample" and k ~= "top_p" and k ~= "seed" then
      error(string.format("--gen_kwargs: unknown key '%s' (until, max_gen_toks, temperature, do_sample, top_p, seed)", k), 0)
    end
    out[k] = util.coerce(val)
  end
  return out
end

--- Merge a suite file (optional) with the flags; flags win. Returns the run config.
function M.config(opts)
  local cfg = {}
  local suite_path = opts.positional[1]
  if suite_path then
    for k, v in pairs(load_suite(suite_path)) do cfg[k] = v end
    cfg.suite = suite_path
  end
  for k, v in pairs(opts) do if k ~= "positional" then cfg[k] = v end end
  cfg.num_fewshot = to_int(cfg.num_fewshot, "--num_fewshot")
  cfg.repeats = to_int(cfg.repeats, "--repeats")
  if cfg.repeats == 0 then error("--repeats must be at least 1", 0) end
  cfg.bootstrap_iters = to_int(cfg.bootstrap_iters, "--bootstrap-iters")
  if cfg.limit ~= nil then
    cfg.limit = tonumber(cfg.limit)
    if not cfg.limit or cfg.limit <= 0 then error("--limit must be a positive count or a fraction < 1", 0) end
  end
  local seeds = parse_seed(cfg.seed)
  cfg.random_seed, cfg.numpy_seed, cfg.torch_seed, cfg.fewshot_seed = seeds[1], seeds[2], seeds[3], seeds[4]
  cfg.gen_kwargs = parse_gen_kwargs(cfg.gen_kwargs)
  if type(cfg.include_path) == "string" then cfg.include_path = { cfg.include_path } end
  if cfg.apply_chat_template ~= nil and cfg.apply_chat_template ~= false then cfg.apply_chat_template = true end
  return cfg
end

local function resolve_tasks(cfg)
  local reg = registry.load(cfg.include_path)
  if type(cfg.tasks) == "table" then
    local out, groups = {}, {}
    for _, item in ipairs(cfg.tasks) do
      if type(item) == "table" then
        out[#out + 1] = task.validate(item, cfg.suite or "suite")
        out[#out].inline = true
      else
        local ts, gs = registry.resolve(reg, item)
        for _, t in ipairs(ts) do out[#out + 1] = t end
        for _, g in ipairs(gs) do groups[#groups + 1] = g end
      end
    end
    return out, groups
  end
  if not cfg.tasks then error("no tasks given (use --tasks NAME[,NAME...])", 0) end
  return registry.resolve(reg, cfg.tasks)
end

local function throughput(stats, wall, native, per_task)
  local tokens = stats.prompt_tokens + stats.completion_tokens
  return {
    native = native, -- model load time, peak memory, prefill/decode tokens/s of --model native
    requests = stats.requests, cached = stats.cached, failed = stats.failed, retries = stats.retries,
    prompt_tokens = stats.prompt_tokens, completion_tokens = stats.completion_tokens,
    wall_seconds = wall, backend_seconds = stats.wall_seconds,
    requests_per_minute = wall > 0 and stats.requests * 60 / wall or 0,
    tokens_per_second = wall > 0 and tokens / wall or 0,
    -- the HTTP backend: attempts sent (a batch counts once), requests sent in batches, 429s,
    -- and per endpoint: requests, failures, throttled, mean_latency_ms
    http_requests = stats.http_requests, batched = stats.batched, throttled = stats.throttled,
    batch_splits = stats.batch_splits, endpoints = stats.endpoints and json.array(stats.endpoints),
    tasks = next(per_task or {}) and per_task or nil,
  }
end

--- Where each task's requests end in the flat request array (runner.collect keeps tasks in
--- order), for the backend's per-task progress.
local function task_ranges(built)
  local names, ends, n = {}, {}, 0
  for k, b in ipairs(built) do
    for _, s in ipairs(b.samples) do n = n + #s.requests end
    names[k], ends[k] = b.task.name, n
  end
  return { tasks = names, task_ends = ends }
end

--- Per task: generations cut at max_gen_toks (finish_reason "length"), answers that came with
--- reasoning, and empty visible answers; b.truncated is the task's truncated document count,
--- b.context_truncated the count of documents whose input was cut from the left to fit the
--- native backend's context length (any task type).
local function answer_counts(built)
  local out = {}
  for _, b in ipairs(built) do
    local c = { truncated = 0, reasoning = 0, empty_answers = 0 }
    local ctx_cut = 0
    local samples = b.samples
    for i = 1, #samples do
      local s = samples[i]
      local cut, left = false, false
      local responses = s.responses or {}
      for j = 1, #responses do
        local r = responses[j]
        if r == nil then break end -- as ipairs: up to the first missing response
        if r.truncated then cut = true end
        if r.context_truncated then left = true end
        if r.reasoning then c.reasoning = c.reasoning + 1 end
        if r.ok and r.text == "" then c.empty_answers = c.empty_answers + 1 end
      end
      if cut then c.truncated = c.truncated + 1 end
      if left then ctx_cut = ctx_cut + 1 end
    end
    b.truncated = c.truncated
    b.context_truncated = ctx_cut
    if b.task.output_type == "generate_until" then out[b.task.name] = c end
  end
  return out
end

local function report_truncated(built)
  for _, b in ipairs(built) do
    if (b.truncated or 0) > 0 then
      io.write(string.format("%s: %d of %d documents hit max_gen_toks (finish_reason \"length\"); their answers may be cut short\n",
        b.task.name, b.truncated, #b.samples))
    end
    if (b.context_truncated or 0) > 0 then
      io.write(string.format("%s: %d of %d documents were longer than the context length and cut from the left\n",
        b.task.name, b.context_truncated, #b.samples))
    end
  end
end

local function run_config_block(cfg, spec)
  return {
    model = spec.model_name, model_args = model.describe_args(cfg), model_name = spec.model,
    base_url = spec.base_url, batch_size = cfg.batch_size, limit = cfg.limit,
    bootstrap_iters = cfg.bootstrap_iters or 100000, gen_kwargs = cfg.gen_kwargs, random_seed = cfg.random_seed,
    repeats = cfg.repeats, mc_mode = cfg.mc_mode,
    numpy_seed = cfg.numpy_seed, torch_seed = cfg.torch_seed, fewshot_seed = cfg.fewshot_seed,
    apply_chat_template = cfg.apply_chat_template or false,
    fewshot_as_multiturn = cfg.fewshot_as_multiturn or false,
    system_instruction = cfg.system_instruction,
  }
end

local function write_outputs(cfg, spec, built, res, stamp)
  if not cfg.output then return end
  local path, dir = results.paths(cfg.output, spec.model, stamp)
  sys.mkdir_p(dir)
  json.write_file(path, res, 2)
  warn("results written to %s", path)
  if cfg.log_samples then
    for _, p in ipairs(results.write_samples(built, dir, stamp)) do warn("samples written to %s", p) end
  end
end

local function summarize_failures(built, fatal)
  local n = 0
  for _, b in ipairs(built) do
    if #b.failures > 0 then
      n = n + #b.failures
      warn("%s: %d of %d documents failed; first error: %s", b.task.name, #b.failures, #b.samples, b.failures[1].error)
    end
    n = n + #(b.metric_errors or {}) -- metrics that could not be scored (runner.score_task)
  end
  if fatal then warn("the run stopped early: %s", fatal) end
  return n
end

--- After Ctrl-C (results for what was answered are written): say how to resume; exit 130.
local function report_interrupt(responses, cache_path)
  local answered = 0
  for _, r in ipairs(responses) do if r.ok then answered = answered + 1 end end
  if cache_path then
    warn("interrupted: %d of %d requests answered and cached; rerun the same command to resume", answered, #responses)
  else
    warn("interrupted: %d of %d requests answered; the cache is off (--no-cache), so a rerun sends every request again", answered, #responses)
  end
  return 130
end

--- evallua run
function M.run(opts)
  local cfg = M.config(opts)
  local start, t0 = sys.time(), sys.monotonic()
  local tasks, groups = resolve_tasks(cfg)
  require("evallua.datapull").require_present(tasks, require("evallua.docs").data_dir(cfg.data_dir),
    function(t) return runner.num_fewshot(t, cfg) end)
  if cfg.confirm_run_unsafe_code then require("evallua.sandbox").confirm_unsafe_code() end
  for _, t in ipairs(tasks) do
    if t.unsafe_code and not require("evallua.sandbox").confirmed() then
      error(string.format("task '%s' executes model-written code: rerun with --confirm_run_unsafe_code " ..
        "(or HF_ALLOW_CODE_EVAL=1) if you accept that; docs/security.md describes the sandbox", t.name), 0)
    end
  end
  local spec = model.spec(cfg)
  cfg.default_max_gen_toks = spec.max_gen_toks -- lm-eval's model arg: the default generation length
  if cfg.limit then warn("--limit %s: only for testing; scores on part of a task are not comparable", tostring(cfg.limit)) end
  local progress = not cfg.no_progress and os.getenv("EVALLUA_NO_PROGRESS") ~= "1"
  local names = {}
  for i, t in ipairs(tasks) do names[i] = t.name end
  local be = model.open(spec, progress, table.concat(names, ","), { path = cfg.cache, off = cfg.no_cache })
  local notes
  tasks, notes = runner.fit_tasks(tasks, be:kinds(), be:name(), cfg.mc_mode)
  for _, n in ipairs(notes) do warn("note: %s", n) end
  if cfg.apply_chat_template and spec.kind == "openai-completions" then
    error("--apply_chat_template needs a chat endpoint or a local model: use --model openai-chat, or --model native (the completions endpoint takes plain text; evallua has no tokenizer of the served model to render its chat template)", 0)
  end
  local built, cache = {}, {}
  for i, t in ipairs(tasks) do built[i] = runner.build_task(t, cfg, cache) end
  local requests, owners = runner.collect(built)
  local responses, fatal, interrupted = be:run(requests, task_ranges(built))
  runner.attach(owners, responses)
  local per_task = answer_counts(built)
  for _, b in ipairs(built) do runner.score_task(b, cfg) end
  local wall = sys.monotonic() - t0
  local res = results.build(built, {
    config = run_config_block(cfg, spec), start_time = start, wall_seconds = wall,
    throughput = throughput(be:stats(), wall, be:info(), per_task), groups = groups,
  })
  local stamp = os.date("!%Y-%m-%dT%H-%M-%S", math.floor(start)) .. string.format(".%03d", math.floor(start * 1000) % 1000)
  write_outputs(cfg, spec, built, res, stamp)
  io.write(string.format("%s (%s), gen_kwargs: (%s), limit: %s, num_fewshot: %s, batch_size: %s\n",
    spec.model_name, model.describe_args(cfg), cfg.gen_kwargs and json.encode(cfg.gen_kwargs) or "None",
    tostring(cfg.limit or "None"), tostring(cfg.num_fewshot or "None"), tostring(cfg.batch_size or 1)))
  io.write(results.table(built, groups, res))
  report_truncated(built)
  io.flush()
  if interrupted then return report_interrupt(responses, be:cache_path()) end
  local failed = summarize_failures(built, fatal)
  if (failed > 0 or fatal) and not cfg.allow_failures then return 1 end
  return 0
end

--- evallua list
function M.list(opts)
  local reg = registry.load(opts.include_path)
  local rows = {}
  for _, t in ipairs(reg.tasks) do
    local metrics = {}
    for _, m in ipairs(t.metric_specs) do -- the keys it reports (custom metrics may name several)
      for _, name in ipairs(m.reports or { m.report_as or m.name }) do metrics[#metrics + 1] = name end
    end
    rows[#rows + 1] = { t.name, t.output_type, table.concat(metrics, ","), tostring(t.num_fewshot),
      table.concat(t.aliases, ", ") }
  end
  local header = { "Task", "Output type", "Metrics", "n-shot", "Aliases" }
  local width = {}
  for c, h in ipairs(header) do
    width[c] = #h
    for _, r in ipairs(rows) do width[c] = math.max(width[c], utf8.len(r[c]) or #r[c]) end
  end
  local function line(cells)
    local out = {}
    for c, s in ipairs(cells) do out[c] = s .. string.rep(" ", width[c] - (utf8.len(s) or #s)) end
    return (table.concat(out, "  "):gsub("%s+$", ""))
  end
  print(line(header))
  for _, r in ipairs(rows) do print(line(r)) end
  if #reg.groups > 0 then
    print("\nGroups (a group runs all its tasks and reports their weighted average):")
    for _, g in ipairs(reg.groups) do
      local members = {}
      for i, m in ipairs(g.tasks) do members[i] = m end
      local shown = #members > 4 and (table.concat(members, ", ", 1, 3) .. string.format(", ... (%d tasks)", #members))
          or table.concat(members, ", ")
      print(string.format("  %-24s %s%s", g.name, shown, #g.aliases > 0 and ("  [" .. table.concat(g.aliases, ", ") .. "]") or ""))
    end
  end
  print(string.format("\n%d tasks, %d groups (from %s)", #rows, #reg.groups, table.concat(registry.search_path(opts.include_path), ", ")))
  return 0
end

local function show_block(label, text)
  io.write(label, ":\n", text, "\n", string.rep("-", 72), "\n")
end

--- evallua show TASK [--doc N] [--num-fewshot K]
function M.show(opts)
  local cfg = M.config({ positional = {}, include_path = opts.include_path, num_fewshot = opts.num_fewshot,
    data_dir = opts.data_dir, seed = opts.seed, system_instruction = opts.system_instruction,
    apply_chat_template = opts.apply_chat_template, fewshot_as_multiturn = opts.fewshot_as_multiturn })
  local name = opts.positional[1] or opts.tasks
  if not name then error("usage: evallua show TASK [--doc N] [--num-fewshot K]", 0) end
  local tasks = registry.resolve(registry.load(cfg.include_path), name)
  local doc_index = to_int(opts.doc or 0, "--doc")
  require("evallua.datapull").require_present(tasks, require("evallua.docs").data_dir(cfg.data_dir),
    function(t) return runner.num_fewshot(t, cfg) end)
  for _, t in ipairs(tasks) do
    cfg.limit = doc_index + 1
    local b = runner.build_task(t, cfg, {})
    local s = b.samples[doc_index + 1]
    if not s then error(string.format("task '%s' has %d documents; --doc %d is out of range", t.name, b.n_docs, doc_index), 0) end
    io.write(string.format("task %s (%s, %d-shot) from %s\ndocument %d of %d\n%s\n", t.name, t.output_type,
      b.n_shot, t.file, doc_index, b.n_docs, string.rep("=", 72)))
    for j, r in ipairs(s.requests) do
      if j == 1 or r.context ~= s.requests[1].context then show_block("context", r.context) end
      if r.messages then show_block("messages (JSON)", json.encode(r.messages, 2)) end
      if r.kind == "loglikelihood" then
        io.write(string.format("request %d: loglikelihood continuation %s\n", j, json.encode(r.continuation)))
      elseif r.kind == "generate_until" then
        io.write(string.format("request %d: generate_until until=%s max_gen_toks=%d temperature=%s\n", j,
          json.encode(json.array(r["until"])), r.max_tokens, tostring(r.temperature)))
      else
        io.write(string.format("request %d: %s\n", j, r.kind))
      end
    end
    local target = s.target
    if s.choices then target = string.format("%d (%s)", s.gold, json.encode(s.choices[s.gold + 1])) end
    io.write(string.rep("-", 72), "\ntarget: ", type(target) == "table" and json.encode(target) or tostring(target), "\n")
  end
  return 0
end

--- evallua data pull TASK... [--data-dir DIR] [--limit-rows N] [--force] [--dry-run] [--splits LIST]
function M.data(opts)
  local datapull = require "evallua.datapull"
  local sub = opts.positional[1]
  if sub ~= "pull" then
    error(sub and string.format("unknown data command '%s' (usage: evallua data pull TASK...)", sub)
      or "usage: evallua data pull TASK|GROUP|GLOB... [--data-dir DIR] (see evallua data --help)", 0)
  end
  local names = {}
  for i = 2, #opts.positional do names[#names + 1] = opts.positional[i] end
  local reg = registry.load(opts.include_path)
  return datapull.pull(names, opts, function(spec) return (registry.resolve(reg, spec)) end)
end

--- evallua exec SCRIPT [ARGS]: run a Lua script with evallua's modules.
function M.exec(opts)
  local path = opts.positional[1]
  if not path then error("usage: evallua exec SCRIPT.lua [ARGS...]", 0) end
  local argt = { [0] = path }
  for i = 2, #opts.positional do argt[i - 1] = opts.positional[i] end
  _G.arg = argt
  local chunk, err = loadfile(path)
  if not chunk then error(err, 0) end
  local rc = chunk(table.unpack(argt))
  return math.tointeger(rc) or 0
end

--- Entry point called from C: returns the exit status.
function M.main(command, opts)
  local fn = M[command]
  local tb = os.getenv("EVALLUA_TRACEBACK")
  local handler = (tb and tb ~= "" and tb ~= "0") and debug.traceback or function(e) return e end
  local ok, rc = xpcall(fn, handler, opts)
  if not ok then
    warn("evallua %s: %s", command, tostring(rc))
    return command == "exec" and 1 or 2
  end
  return rc
end

return M
