#!/usr/bin/env bash
# End-to-end: bad input at scoring time. A scorer that raises on one document and a filter
# that leaves a non-string response each fail only their own metric: the run reports the
# task, metric, document (and the scorer's file:line) on stderr, writes the results with
# that metric null and every other metric and task scored, and exits 1. A metric name that
# exists nowhere stops the run before any request, naming the task and the metric.
. "$(dirname "$0")/lib.sh"
need_server
E2E="$EVALLUA_SRC/tests/e2e"
jqv() { "$EVALLUA" exec "$E2E/jq.lua" "$@"; }

mkdir -p "$TMP/tasks" "$TMP/data/me/qa/default"
for i in 0 1 2 3; do echo "{\"q\": \"question $i\", \"a\": \"answer $i\"}"; done >"$TMP/data/me/qa/default/test.jsonl"
cat >"$TMP/tasks/scoring_bad.lua" <<'EOF'
local base = { dataset = { path = "me/qa", test_split = "test" }, doc_to_text = "Q: {{q}}\nA:",
  doc_to_target = "{{a}}", generation_kwargs = { ["until"] = { "\n" }, max_gen_toks = 8 } }
local function task(name, extra)
  local t = { name = name }
  for k, v in pairs(base) do t[k] = v end
  for k, v in pairs(extra) do t[k] = v end
  return t
end
return {
  task("scoring_boom", { metrics = { "exact_match",
    { "boom", score = function(doc, response)
        if doc.q == "question 1" then error("cannot score " .. doc.q) end
        return 1
      end } } }),
  task("scoring_nonstring", {
    filters = { { name = "num", function(resps, doc) return { doc.q == "question 2" and 7 or resps[1] } end } },
    metrics = { "exact_match" } }),
  task("scoring_fine", { metrics = { "exact_match" } }),
}
EOF

start_server srv
"$EVALLUA" run --no-cache --model openai-completions --model_args "base_url=$URL,model=fake-model" \
  --include-path "$TMP/tasks" --tasks scoring_boom,scoring_nonstring,scoring_fine --data-dir "$TMP/data" \
  --output "$TMP/run.json" --log_samples >"$TMP/run.out" 2>"$TMP/run.err"
check_eq "a failed metric makes the run exit 1" "$?" 1
err=$(cat "$TMP/run.err")
check_has "scorer error: task, metric, document, file:line" "$err" \
  "task 'scoring_boom', metric 'boom', document 1: $TMP/tasks/scoring_bad.lua:12: cannot score question 1"
check_has "non-string response: task, metric, document, filter" "$err" \
  "task 'scoring_nonstring', metric 'exact_match', document 2: the response after filter 'num' is number, not a string"
check_has "failed metric is null" "$(tr -d ' \n' <"$TMP/run.json")" '"boom,none":null' 
check_has "error kept in the results" "$(jqv "$TMP/run.json" results.scoring_boom.errors)" "document 1"
check_eq "same task, other metric kept" "$(jqv "$TMP/run.json" "results.scoring_boom.exact_match,none" | grep -c '^[0-9.]*$')" 1
check_eq "other task kept" "$(jqv "$TMP/run.json" "results.scoring_fine.exact_match,none" | grep -c '^[0-9.]*$')" 1
check_has "terminal table still printed" "$(cat "$TMP/run.out")" "scoring_fine"
check_eq "samples written" "$(ls "$TMP"/samples_scoring_fine_*.jsonl 2>/dev/null | wc -l | tr -d ' ')" 1

# an unknown metric: refused before any request, naming the task and the metric
cat >"$TMP/tasks/scoring_typo.lua" <<'EOF'
return { name = "scoring_typo", dataset = { path = "me/qa", test_split = "test" }, doc_to_text = "{{q}}",
  doc_to_target = "{{a}}", metrics = { "exact_macth" } }
EOF
before=$(requests_logged srv)
"$EVALLUA" run --no-cache --model openai-completions --model_args "base_url=$URL,model=fake-model" \
  --include-path "$TMP/tasks" --tasks scoring_typo,scoring_fine --data-dir "$TMP/data" \
  --output "$TMP/typo.json" >"$TMP/typo.out" 2>"$TMP/typo.err"
check_eq "unknown metric exit (a configuration error)" "$?" 2
check_has "unknown metric named with its task" "$(cat "$TMP/typo.err")" "metric 'exact_macth' of task 'scoring_typo'"
check_eq "no request sent" "$(requests_logged srv)" "$before"
finish
