-- quasi_exact_match, HELM's metric (helm/benchmark/metrics/basic_metrics.py: quasi_exact_match
-- = exact match after normalize_text — lower case, punctuation removed, the articles a/an/the
-- removed, whitespace collapsed — max over the references). Expected values worked out by hand.
local check = dofile(os.getenv("EVALLUA_SRC") .. "/tests/lua/check.lua")
local scoring = require "evallua.scoring"

local t = { output_type = "generate_until", metric_specs = { { name = "quasi_exact_match" }, { name = "exact_match" } } }
local samples = {
  { target = "Paris" },                 -- "The  paris." -> "paris": quasi 1, exact 0
  { target = "the Eiffel Tower" },      -- "Eiffel tower!" -> "eiffel tower": 1, 0
  { target = { "4", "four" } },         -- "Four" -> "four" matches the second: 1, 0
  { target = "42" },                    -- "42" : 1, 1
  { target = "New York" },              -- "York": 0, 0
  { target = "an apple" },              -- "" : 0 ("apple" is not empty), 0
}
local filtered = { "The  paris.", "Eiffel tower!", "Four", "42", "York", "" }
local v = scoring.sample_metrics(t, samples, filtered)
check.eq(v.quasi_exact_match, { 1.0, 1.0, 1.0, 1.0, 0.0, 0.0 }, "quasi_exact_match per sample")
check.eq(v.exact_match, { 0, 0, 0, 1, 0, 0 }, "exact_match for contrast")
local mean = scoring.aggregate({ name = "quasi_exact_match", aggregation = "mean" }, v.quasi_exact_match)
check.near(mean, 4 / 6, 1e-12, "mean")
return check.summary()
