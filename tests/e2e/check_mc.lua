-- check_mc.lua RESULTS.json SAMPLES.jsonl TASK — recompute a multiple-choice task's acc and
-- acc_norm from the prompts evallua sent (its samples file) with the fake server's rules
-- (fake_model.lua), and compare with the results file. Exit 0 when everything matches.
local check = dofile(os.getenv("EVALLUA_SRC") .. "/tests/lua/check.lua")
local fake = dofile(os.getenv("EVALLUA_SRC") .. "/tests/e2e/fake_model.lua")
local json = require "evallua.json"
local sys = require "evallua.sys"

local results = json.read_file(arg[1])
local task = arg[3]
local acc, acc_norm, n = {}, {}, 0
for line in assert(sys.read_file(arg[2])):gmatch("[^\n]+") do
  local rec = json.decode(line)
  n = n + 1
  local best, best_norm, bi, bni = -math.huge, -math.huge, nil, nil
  for j = 0, 99 do
    local a = rec.arguments["gen_args_" .. j]
    if not a then break end
    local ll, greedy = fake.loglikelihood(a.arg_0, a.arg_1)
    check.near(rec.resps[j + 1][1][1], ll, 1e-9, "loglikelihood of doc " .. rec.doc_id .. " choice " .. j)
    check.eq(rec.resps[j + 1][1][2], greedy, "is_greedy of doc " .. rec.doc_id .. " choice " .. j)
    local norm = ll / utf8.len(a.arg_1:sub(2))
    if ll > best then best, bi = ll, j end
    if norm > best_norm then best_norm, bni = norm, j end
  end
  acc[n] = (bi == rec.target) and 1 or 0
  acc_norm[n] = (bni == rec.target) and 1 or 0
  check.eq(rec.acc, acc[n], "acc of doc " .. rec.doc_id)
end
local function mean_se(v)
  local s = 0
  for _, x in ipairs(v) do s = s + x end
  local m = s / #v
  local ss = 0
  for _, x in ipairs(v) do ss = ss + (x - m) ^ 2 end
  return m, math.sqrt(ss / (#v - 1)) / math.sqrt(#v)
end
local r = results.results[task]
local m, se = mean_se(acc)
check.near(r["acc,none"], m, 1e-12, task .. " acc")
check.near(r["acc_stderr,none"], se, 1e-12, task .. " acc stderr")
m, se = mean_se(acc_norm)
check.near(r["acc_norm,none"], m, 1e-12, task .. " acc_norm")
check.near(r["acc_norm_stderr,none"], se, 1e-12, task .. " acc_norm stderr")
check.eq(results["n-samples"][task].effective, n)
io.stderr:write(string.format("%s: %d docs, acc %.4f, acc_norm %.4f\n", task, n, r["acc,none"], r["acc_norm,none"]))
return check.summary()
