-- check_ll.lua RESULTS.json SAMPLES.jsonl TASK — recompute a loglikelihood task's
-- perplexity (exp of minus the mean log-likelihood) and acc (greedy) from the requests
-- evallua sent, with the fake server's rules; compare with the results file.
local check = dofile(os.getenv("EVALLUA_SRC") .. "/tests/lua/check.lua")
local fake = dofile(os.getenv("EVALLUA_SRC") .. "/tests/e2e/fake_model.lua")
local json = require "evallua.json"
local sys = require "evallua.sys"

local results = json.read_file(arg[1])
local task = arg[3]
local sum_ll, greedy, n = 0, 0, 0
for line in assert(sys.read_file(arg[2])):gmatch("[^\n]+") do
  local rec = json.decode(line)
  local a = rec.arguments.gen_args_0
  local ll, g = fake.loglikelihood(a.arg_0, a.arg_1)
  check.near(rec.perplexity, ll, 1e-9, "per-sample log-likelihood of doc " .. rec.doc_id)
  sum_ll, n = sum_ll + ll, n + 1
  if g then greedy = greedy + 1 end
end
local r = results.results[task]
check.near(r["perplexity,none"], math.exp(-sum_ll / n), 1e-9 * math.exp(-sum_ll / n), task .. " perplexity")
check.near(r["acc,none"], greedy / n, 1e-12, task .. " acc")
local se = r["perplexity_stderr,none"]
check.ok(type(se) == "number" and se > 0 and se < r["perplexity,none"], "bootstrap stderr is a positive number")
check.eq(results.higher_is_better[task].perplexity, false)
io.stderr:write(string.format("%s: %d docs, perplexity %.4f ± %.4f, acc %.4f\n", task, n, r["perplexity,none"], se, r["acc,none"]))
return check.summary()
