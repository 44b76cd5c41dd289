#!/usr/bin/env bash
# End-to-end: a server that misbehaves on 20% of requests — 500s, 429s with Retry-After,
# connection resets, truncated bodies and stalls past the client's timeout (fake_openai
# --faults). Every request ends answered (none lost, none answered twice in the samples) and
# the scores equal a fault-free run's, with and without batching; a run killed with SIGKILL
# halfway is resumed from the cache, sending nothing that was already answered. Both
# transports (evallua's HTTP/1.1 client and libcurl) go through the faults. (The cache
# itself, SIGINT and --no-cache are test_cache.sh's; this adds the faults.)
. "$(dirname "$0")/lib.sh"
need_server
need_data
E2E="$EVALLUA_SRC/tests/e2e"
jqv() { "$EVALLUA" exec "$E2E/jq.lua" "$@"; }
FAULTS="500:5,429:4,reset:4,truncate:4,stall:3" # 20% of requests
ARC_DOCS=30 GSM_DOCS=30 # --limit applies to both tasks
TOTAL=$((ARC_DOCS * 4 + GSM_DOCS)) # arc_easy has 4 choices per document

"$EVALLUA" exec "$E2E/gsm8k_rules.lua" "$TMP/rules.jsonl" "$EVALLUA_TEST_DATA" "$GSM_DOCS" >"$TMP/expected"
# run NAME URL EXTRA_MODEL_ARGS [flags...]: arc_easy + gsm8k 0-shot, results in $TMP/NAME/
run() {
  local name=$1 url=$2 extra=$3
  shift 3
  "$EVALLUA" run --model openai-completions \
    --model_args "base_url=$url,model=fake-model,concurrency=8,timeout=1,max_retries=12,retry_base=0.05$extra" \
    --tasks arc_easy,gsm8k --num_fewshot 0 --limit "$ARC_DOCS" --data-dir "$EVALLUA_TEST_DATA" \
    --output "$TMP/$name/r.json" --log_samples "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
}
scores() { jqv "$TMP/$1/r.json" results.arc_easy results.gsm8k; }
# every document exactly once in the samples (per filter), none failed
doc_ids() { cat "$TMP/$1"/samples_"$2"_*.jsonl | sed -n 's/.*"doc_id":\([0-9]*\).*"filter":"\([^"]*\)".*/\2 \1/p' | sort | uniq -c | awk '{print $1}' | sort -u | tr '\n' ' '; }

start_server clean --rules "$TMP/rules.jsonl"
run clean "$URL" "" --no-cache
check_eq "clean exit" "$?" 0

# single and batched go over evallua's own HTTP client (the default for http://); curl over
# libcurl, the transport of https:// servers and proxies, through the same faults
for mode in single batched curl; do
  extra=""
  [ "$mode" = batched ] && extra=",batch_size=4"
  [ "$mode" = curl ] && extra=",transport=curl"
  start_server "faulty_$mode" --rules "$TMP/rules.jsonl" --faults "$FAULTS" --fault-seed 7 \
    --retry-after 0.5 --stall-ms 3000
  t0=$(date +%s)
  run "$mode" "$URL" "$extra" --no-cache
  check_eq "$mode: exit 0 through the faults" "$?" 0
  echo "$mode: $(( $(date +%s) - t0 )) s, $(requests_logged "faulty_$mode") requests for $TOTAL, $(jqv "$TMP/$mode/r.json" throughput.retries) retries, $(jqv "$TMP/$mode/r.json" throughput.throttled) throttled"
  check_eq "$mode: same scores as without faults" "$(scores "$mode")" "$(scores clean)"
  check_eq "$mode: nothing failed" "$(jqv "$TMP/$mode/r.json" throughput.failed)" 0
  check_eq "$mode: every request answered" "$(jqv "$TMP/$mode/r.json" throughput.requests)" "$TOTAL"
  check_eq "$mode: each arc_easy document once" "$(doc_ids "$mode" arc_easy)" "1 "
  check_eq "$mode: each gsm8k document once per filter" "$(doc_ids "$mode" gsm8k)" "1 "
  check_eq "$mode: all arc_easy documents" "$(cat "$TMP/$mode"/samples_arc_easy_*.jsonl | wc -l | tr -d ' ')" "$ARC_DOCS"
  check_lacks "$mode: no failed sample" "$(cat "$TMP/$mode"/samples_*.jsonl)" '"failed":true'
  check_eq "$mode: faults were met and retried" "$([ "$(jqv "$TMP/$mode/r.json" throughput.retries)" -gt 5 ] && echo yes)" yes
done
check_has "expected gsm8k scores" "$(cat "$TMP/expected")" "strict="

# --- SIGKILL halfway through a faulty run; the rerun sends only what the cache lacks --------
start_server killed --rules "$TMP/rules.jsonl" --faults "$FAULTS" --fault-seed 11 --retry-after 0.5 \
  --stall-ms 3000 --delay-ms 30
CACHE="$TMP/k.sqlite"
( exec "$EVALLUA" run --model openai-completions \
    --model_args "base_url=$URL,model=fake-model,concurrency=4,timeout=1,max_retries=12,retry_base=0.05" \
    --tasks arc_easy,gsm8k --num_fewshot 0 --limit "$ARC_DOCS" --data-dir "$EVALLUA_TEST_DATA" \
    --cache "$CACHE" >"$TMP/k1.out" 2>"$TMP/k1.err" ) &
pid=$!
for i in $(seq 600); do [ "$(requests_logged killed)" -ge $((TOTAL / 2)) ] && break; sleep 0.05; done
kill -KILL "$pid"
wait "$pid" 2>/dev/null
first=$(requests_logged killed)
cached=$("$EVALLUA" cache stats --cache "$CACHE" | sed -n 's/^responses: *\([0-9]*\).*/\1/p')
check_eq "killed halfway" "$([ "$cached" -gt 0 ] && [ "$cached" -lt "$TOTAL" ] && echo yes)" yes
run resumed "$URL" "" --cache "$CACHE"
check_eq "resumed exit" "$?" 0
check_eq "resumed: same scores as without faults" "$(scores resumed)" "$(scores clean)"
check_eq "resumed: cached count" "$(jqv "$TMP/resumed/r.json" throughput.cached)" "$cached"
cut -f2- "$TMP/killed.log" | head -n "$first" | sort -u >"$TMP/first.bodies"
cut -f2- "$TMP/killed.log" | tail -n +"$((first + 1))" | sort -u >"$TMP/rerun.bodies"
sent_first=$(wc -l <"$TMP/first.bodies" | tr -d ' ')
check_eq "rerun sends each unanswered request" "$(wc -l <"$TMP/rerun.bodies" | tr -d ' ')" "$((TOTAL - cached))"
again=$(comm -12 "$TMP/first.bodies" "$TMP/rerun.bodies" | wc -l | tr -d ' ')
echo "SIGKILL: $sent_first distinct requests sent before the kill, $cached answered and cached, $again sent again"
check_eq "nothing answered and cached is sent again" "$([ "$again" -le $((sent_first - cached)) ] && echo yes)" yes

finish
