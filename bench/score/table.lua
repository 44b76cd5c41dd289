-- bench/score/table.lua PY EV1 EV2 — the table run.sh prints: seconds of the Python
-- (lm-eval's way) side and of evallua on 1 and 2 threads, the speed-ups, how evallua
-- scales from 1 to 2 threads, and whether the two sides computed the same value. Each
-- argument is a JSON file, or a folder of <computation>.json files (merged).
local json = require "evallua.json"

local function load(path)
  local f = io.open(path .. "/.", "r")
  if not f then return json.read_file(path) end
  f:close()
  local out = {}
  for _, name in ipairs { "em", "squad", "bootstrap", "pass1" } do
    local g = io.open(path .. "/" .. name .. ".json", "r")
    if g then
      g:close()
      for k, v in pairs(json.read_file(path .. "/" .. name .. ".json")) do out[k] = v end
    end
  end
  return out
end

local py, ev1, ev2 = load(arg[1]), load(arg[2]), load(arg[3])

local ROWS = {
  { key = "em", what = "regex filter + exact_match", size = "1M responses", target = 50,
    same = function(a, b) return a == b end },
  { key = "squad", what = "SQuAD v2 EM/F1 (+HasAns/NoAns, best thresh)", size = "100k", target = 50,
    same = function(a, b) return math.abs(a - b) < 1e-9 end },
  { key = "bootstrap", what = "bootstrap stderr (perplexity)", size = "100k iters x 10k", target = 10,
    same = function(a, b) return math.abs(a - b) / b < 0.05 end }, -- different random streams
  { key = "pass1", what = "pass@1, sandboxed execution", size = "164 programs",
    same = function(a, b) return a == b end },
}

local function secs(v) return v and string.format("%.3f", v) or "-" end
local function ratio(a, b) return (a and b and b > 0) and string.format("%.1fx", a / b) or "-" end

local lines = {
  "| computation | size | Python, lm-eval's way (s) | evallua 1 thread (s) | evallua 2 threads (s) | speed-up 1 thr | speed-up 2 thr | 1 -> 2 threads | target | same value |",
  "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
}
for _, r in ipairs(ROWS) do
  local p, a, b = py[r.key], ev1[r.key], ev2[r.key]
  if p or a or b then
    local pt = p and p.seconds
    local same = (p and b) and (r.same(p.value, b.value) and "yes" or string.format("NO (%s vs %s)", p.value, b.value)) or "-"
    local size = r.size
    if r.key == "bootstrap" and p and p.chunks < p.of_chunks then
      size = size .. string.format(" (Python: %d of %d chunks, time scaled)", p.chunks, p.of_chunks)
    end
    lines[#lines + 1] = string.format("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", r.what, size,
      secs(pt), secs(a and a.seconds), secs(b and b.seconds), ratio(pt, a and a.seconds), ratio(pt, b and b.seconds),
      ratio(a and a.seconds, b and b.seconds), r.target and (r.target .. "x") or "-", same)
    if r.key == "pass1" and py.pass1_pool then
      local q = py.pass1_pool.seconds
      lines[#lines + 1] = string.format("| pass@1, code_eval over all 164 at once | 164 programs | %s | %s | %s | %s | %s | | - | %s |",
        secs(q), secs(a and a.seconds), secs(b and b.seconds), ratio(q, a and a.seconds), ratio(q, b and b.seconds),
        (b and py.pass1_pool.value == b.value) and "yes" or "-")
    end
  end
end
print(table.concat(lines, "\n"))
