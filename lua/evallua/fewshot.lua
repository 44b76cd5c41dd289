-- evallua.fewshot — few-shot example selection, reproducing lm-eval's samplers (§0.2):
--   "random" (lm-eval's "default"): random.Random(seed).sample(pool, n), one generator
--       per task, drawn for each evaluated document in order.
--   "first_n": the first n documents of the pool.
-- When the task's fewshot_split equals its test_split — compared as configured values, so
-- two unset splits are equal too (hellaswag) — lm-eval draws n+1 and drops the evaluated
-- document; `exclude_doc` carries that condition and the RNG is consumed the same way.
-- Documents are compared by identity (lm-eval compares dicts by value: only duplicate
-- documents across splits could differ).
-- The generator is a bit-exact port of CPython's Mersenne Twister (evallua.random).
local random = require "evallua.random"

local M = {}

--- A sampler for one task: sampler:draw(doc, n) -> list of n few-shot docs.
function M.new(kind, pool, exclude_doc, seed)
  kind = kind or "random"
  if kind == "default" then kind = "random" end
  if kind ~= "random" and kind ~= "first_n" then
    error(string.format("unknown few-shot sampler '%s' (random, first_n)", kind), 0)
  end
  return {
    kind = kind,
    pool = pool,
    exclude_doc = exclude_doc,
    rng = random.new(seed or 1234),
    draw = M.draw,
  }
end

--- Draw n examples for `doc` (docs are compared by identity).
function M.draw(s, doc, n)
  if n <= 0 then return {} end
  local pool = s.pool
  if s.kind == "first_n" then
    local out = {}
    for _, d in ipairs(pool) do
      if #out == n then break end
      if not (s.exclude_doc and d == doc) then out[#out + 1] = d end
    end
    if #out < n then
      error(string.format("few-shot pool has %d documents, %d requested", #out, n), 0)
    end
    return out
  end
  local k = s.exclude_doc and n + 1 or n
  if k > #pool then
    error(string.format("few-shot pool has %d documents, %d requested%s", #pool, k,
      s.exclude_doc and string.format(" (num_fewshot %d, plus the evaluated document, which is drawn and then excluded as lm-eval does)", n) or ""), 0)
  end
  local out = {}
  for _, i in ipairs(s.rng:sample(#pool, k)) do
    local d = pool[i]
    if #out < n and not (s.exclude_doc and d == doc) then out[#out + 1] = d end
  end
  return out
end

return M
