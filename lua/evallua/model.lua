-- evallua.model — turns --model / --model_args / --model_name (lm-eval's and Evalchemy's
-- spellings) into a backend specification, and opens the backend.
local backend = require "evallua.backend"
local util = require "evallua.util"

local M = {}

-- Every accepted --model name -> backend kind.
M.MODELS = {
  ["openai-completions"] = "openai-completions",
  ["local-completions"] = "openai-completions",
  ["openai-chat"] = "openai-chat",
  ["openai-chat-completions"] = "openai-chat",
  ["local-chat-completions"] = "openai-chat",
  ["openai"] = "openai-chat",  -- Evalchemy
  ["curator"] = "openai-chat", -- Evalchemy (provider/model names, api_base)
  ["native"] = "native",       -- GGUF models run in-process (core/native)
  ["gguf"] = "native",
}

-- model_args of the native backend: canonical name, or false for accepted and ignored.
local NATIVE_KEYS = {
  path = "path", pretrained = "path", model = "path", threads = "threads", ctx = "ctx",
  max_length = "ctx", batch = "batch", device = "device", max_gen_toks = "max_gen_toks",
  parallel = "parallel", batch_size = false, dtype = false, trust_remote_code = false,
}

local function native_spec(name, raw)
  local spec = { kind = "native", model_name = name }
  for k, v in pairs(raw) do
    local canon = NATIVE_KEYS[k]
    if canon == nil then
      error(string.format("unknown model argument '%s' for the native backend (path, threads, ctx, batch, parallel, device)", k), 0)
    end
    if canon then spec[canon] = v end
  end
  if not spec.path or spec.path == "" then
    error("the native backend needs a model file: --model_args path=MODEL.gguf", 0)
  end
  if spec.device and spec.device ~= "cpu" and spec.device ~= "cuda" then
    error(string.format("device=%s: the native backend runs on device=cpu or device=cuda", tostring(spec.device)), 0)
  end
  for _, k in ipairs { "threads", "ctx", "batch", "parallel", "max_gen_toks" } do
    if spec[k] ~= nil then
      local n = math.tointeger(tonumber(spec[k]))
      if not n or n < 0 then error(string.format("model argument %s must be a non-negative integer, got '%s'", k, tostring(spec[k])), 0) end
      spec[k] = n
    end
  end
  spec.model = string.match(spec.path, "([^/]+)$")
  return spec
end

-- model_args keys: canonical name, or false for keys accepted and ignored.
local ARG_KEYS = {
  base_url = "base_url", api_base = "base_url", model = "model", pretrained = "model",
  api_key = "api_key", concurrency = "concurrency", num_concurrent = "concurrency",
  max_retries = "max_retries", retry_base = "retry_base", timeout = "timeout",
  rpm = "rpm", tpm = "tpm", batch_size = "batch_size", transport = "transport",
  tokenizer = false, tokenizer_backend = false, tokenized_requests = false,
  eos_string = false, max_gen_toks = "max_gen_toks", seed = false, trust_remote_code = false,
  max_length = false,
}
local KNOWN_ARGS = "base_url, model, api_key, concurrency, max_retries, retry_base, timeout, rpm, tpm, batch_size, transport"

--- base_url as the backend takes it: several servers (data-parallel replicas) are written
--- "URL1|URL2" (or space-separated) on the command line, or as a list in a suite file.
local function join_urls(v)
  if type(v) ~= "table" then return v end
  for i, u in ipairs(v) do
    if type(u) ~= "string" or u == "" then error(string.format("base_url entry %d must be a non-empty string", i), 0) end
  end
  return table.concat(v, "|")
end

local PROVIDER_PREFIXES = { "openai/", "hosted_vllm/" }

local function strip_provider(name)
  for _, p in ipairs(PROVIDER_PREFIXES) do
    if string.sub(name, 1, #p) == p then return string.sub(name, #p + 1) end
  end
  return name
end

--- Build the backend spec from run options; raises with a clear message on bad input.
function M.spec(opts)
  local name = opts.model or "openai-completions"
  local kind = M.MODELS[name]
  if not kind then
    local near = util.nearest(name, util.sorted_keys(M.MODELS), 2)
    error(string.format("unknown --model '%s'%s (known: %s)", name,
      near[1] and (" — did you mean " .. near[1] .. "?") or "",
      table.concat(util.sorted_keys(M.MODELS), ", ")), 0)
  end
  local raw = type(opts.model_args) == "table" and opts.model_args or util.parse_kv(opts.model_args, "--model_args")
  if kind == "native" then return native_spec(name, raw) end
  local spec = { kind = kind, model_name = name }
  for k, v in pairs(raw) do
    local canon = ARG_KEYS[k]
    if canon == nil then
      local near = util.nearest(k, util.sorted_keys(ARG_KEYS), 1)
      error(string.format("unknown model argument '%s'%s (%s)",
        k, near[1] and (" — did you mean " .. near[1] .. "?") or "", KNOWN_ARGS), 0)
    end
    if canon then spec[canon] = v end
  end
  if opts.model_name then spec.model = opts.model_name end
  if spec.model and (name == "curator" or name == "openai" or opts.model_name) then
    spec.model = strip_provider(spec.model)
  end
  spec.base_url = join_urls(spec.base_url) or os.getenv("OPENAI_API_BASE") or os.getenv("OPENAI_BASE_URL")
  if not spec.base_url or spec.base_url == "" then
    error("no server given: pass --model_args base_url=http://HOST:PORT/v1 (or set OPENAI_API_BASE)", 0)
  end
  if not spec.model or spec.model == "" then
    error("no model name given: pass --model_args model=NAME (or --model_name NAME)", 0)
  end
  if not spec.api_key or spec.api_key == "" then spec.api_key = os.getenv("OPENAI_API_KEY") end
  for _, k in ipairs { "concurrency", "max_retries", "retry_base", "timeout", "max_gen_toks", "rpm", "tpm" } do
    if spec[k] ~= nil then
      local n = tonumber(spec[k])
      if not n or n < 0 then error(string.format("model argument %s must be a non-negative number, got '%s'", k, tostring(spec[k])), 0) end
      spec[k] = n
    end
  end
  if spec.batch_size ~= nil then
    local n = math.tointeger(tonumber(spec.batch_size))
    if not n or n < 1 then
      error(string.format("model argument batch_size must be a positive integer (prompts per /v1/completions request), got '%s'", tostring(spec.batch_size)), 0)
    end
    spec.batch_size = n
  end
  return spec
end

--- The model_args string as recorded in results: the API key is never written.
function M.describe_args(opts)
  local raw = type(opts.model_args) == "table" and opts.model_args or util.parse_kv(opts.model_args, "--model_args")
  local parts = {}
  for _, k in ipairs(util.sorted_keys(raw)) do
    local v = raw[k]
    if k == "api_key" then v = "<redacted>" end
    if type(v) == "table" then v = table.concat(v, "|") end
    parts[#parts + 1] = k .. "=" .. tostring(v)
  end
  return table.concat(parts, ",")
end

--- Open the backend described by spec. cache (optional): { path = --cache PATH,
--- off = --no-cache }; the response cache is on by default (evallua.backend).
function M.open(spec, progress, label, cache)
  cache = cache or {}
  return backend.open {
    kind = spec.kind, base_url = spec.base_url, model = spec.model, api_key = spec.api_key,
    path = spec.path, threads = spec.threads, ctx = spec.ctx, batch = spec.batch,
    device = spec.device,
    concurrency = spec.concurrency, max_retries = spec.max_retries, retry_base = spec.retry_base,
    timeout = spec.timeout, rpm = spec.rpm, tpm = spec.tpm, batch_size = spec.batch_size,
    transport = spec.transport, -- auto | plain | curl: the HTTP client (checked in C)
    progress = progress, label = label,
    cache_path = cache.path, no_cache = cache.off and true or false,
  }
end

return M
