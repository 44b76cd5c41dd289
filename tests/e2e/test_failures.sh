#!/usr/bin/env bash
# End-to-end: what the network and the server can do wrong. Retries recover transient
# failures with identical scores; a rejected key, an unreachable server and a chat-only
# backend each end with a clear message and a non-zero exit, results written, no key leaked.
. "$(dirname "$0")/lib.sh"
need_server
need_data
E2E="$EVALLUA_SRC/tests/e2e"
jqv() { "$EVALLUA" exec "$E2E/jq.lua" "$@"; }
run_mc() { # NAME URL [extra args...]: arc_easy, 30 docs, 0-shot; always reaches the server
  local name=$1 url=$2
  shift 2
  "$EVALLUA" run --no-cache --model openai-completions --model_args "base_url=$url,model=fake-model,retry_base=0.01,max_retries=8$EXTRA_ARGS" \
    --tasks arc_easy --num_fewshot 0 --limit 30 --data-dir "$EVALLUA_TEST_DATA" --output "$TMP/$name.json" "$@" \
    >"$TMP/$name.out" 2>"$TMP/$name.err"
}
EXTRA_ARGS=""

# a clean run, then the same with injected 500s, garbage and truncated bodies
start_server clean
run_mc clean "$URL"
check_eq "clean exit" "$?" 0
start_server flaky --fail-every 3 --garbage-every 7 --truncate-every 11
run_mc flaky "$URL"
check_eq "flaky exit" "$?" 0
check_eq "same acc despite failures" "$(jqv "$TMP/flaky.json" "results.arc_easy.acc,none")" "$(jqv "$TMP/clean.json" "results.arc_easy.acc,none")"
check_eq "same acc_norm despite failures" "$(jqv "$TMP/flaky.json" "results.arc_easy.acc_norm,none")" "$(jqv "$TMP/clean.json" "results.arc_easy.acc_norm,none")"
retries=$(jqv "$TMP/flaky.json" throughput.retries)
check_eq "retries counted" "$([ "$retries" -gt 10 ] && echo yes)" yes
check_eq "nothing failed" "$(jqv "$TMP/flaky.json" throughput.failed)" 0

# 429 with Retry-After is honoured (requests 1-2 fail, then go through)
start_server limited --fail-first 2 --fail-status 429 --retry-after 1
run_mc limited "$URL"
check_eq "429 then success" "$?" 0

# two servers, one answering every request with a 503: it is set aside after three in a
# row (and probed at most once or twice more), the other answers everything, the scores are
# the clean run's and the results count the attempts per server
start_server live
LIVE=$URL
start_server down503 --fail-every 1 --fail-status 503
EXTRA_ARGS=",concurrency=4"
run_mc two "$LIVE|$URL"
check_eq "two servers exit" "$?" 0
EXTRA_ARGS=""
check_eq "same acc with a 503 server" "$(jqv "$TMP/two.json" "results.arc_easy.acc,none")" "$(jqv "$TMP/clean.json" "results.arc_easy.acc,none")"
cat >"$TMP/endpoints.lua" <<'LUA'
local doc = require("evallua.json").read_file(arg[1])
for _, e in ipairs(doc.throughput.endpoints) do print(e.url, e.requests, e.failures) end
LUA
"$EVALLUA" exec "$TMP/endpoints.lua" "$TMP/two.json" >"$TMP/two.endpoints"
check_eq "per-server lines" "$(wc -l <"$TMP/two.endpoints" | tr -d ' ')" 2
read -r _ live_req live_fail < <(sed -n 1p "$TMP/two.endpoints")
read -r _ down_req down_fail < <(sed -n 2p "$TMP/two.endpoints")
check_eq "live server answered all 120" "$live_req $live_fail" "120 0"
check_eq "503 server: every attempt failed" "$down_fail" "$down_req"
check_eq "503 server set aside after 3 (+ in flight, probes)" "$([ "$down_req" -ge 3 ] && [ "$down_req" -le 10 ] && echo yes)" yes
check_eq "503 server log agrees" "$(requests_logged down503)" "$down_req"

# the server rejects the key: exit 1, a clear message, the key nowhere
start_server locked --require-key right-key
EXTRA_ARGS=",api_key=wrong-key-XYZZY"
run_mc locked "$URL"
check_eq "rejected key exit" "$?" 1
check_has "rejected key message" "$(cat "$TMP/locked.err")" "API key was rejected"
check_lacks "key not in stderr" "$(cat "$TMP/locked.err" "$TMP/locked.out")" "XYZZY"
check_lacks "key not in results" "$(cat "$TMP/locked.json")" "XYZZY"
check_eq "results still written" "$(jqv "$TMP/locked.json" results.arc_easy.samples_failed)" 30
EXTRA_ARGS=",api_key=right-key"
run_mc unlocked "$URL"
check_eq "right key works" "$?" 0
EXTRA_ARGS=""

# OPENAI_API_KEY from the environment
OPENAI_API_KEY=right-key run_mc envkey "$URL"
check_eq "key from environment" "$?" 0

# nobody listening: the URL and curl's reason, exit 1, partial results written
"$EVALLUA" run --no-cache --model openai-completions --model_args "base_url=http://127.0.0.1:1/v1,model=m,max_retries=1,retry_base=0.01" \
  --tasks arc_easy --num_fewshot 0 --limit 3 --data-dir "$EVALLUA_TEST_DATA" --output "$TMP/down.json" \
  >"$TMP/down.out" 2>"$TMP/down.err"
check_eq "unreachable exit" "$?" 1
check_has "unreachable names URL" "$(cat "$TMP/down.err")" "http://127.0.0.1:1/v1/completions"
check_has "unreachable reason" "$(cat "$TMP/down.err")" "Couldn't connect"
check_eq "unreachable results written" "$(jqv "$TMP/down.json" results.arc_easy.samples_failed)" 3
"$EVALLUA" run --model openai-completions --model_args "base_url=http://127.0.0.1:1/v1,model=m,max_retries=0" \
  --tasks arc_easy --num_fewshot 0 --limit 2 --data-dir "$EVALLUA_TEST_DATA" --no-cache --allow-failures \
  >"$TMP/down2.out" 2>"$TMP/down2.err"
check_eq "--allow-failures exit" "$?" 0
check_has "--allow-failures still reports" "$(cat "$TMP/down2.err")" "2 of 2 documents failed"

# a multiple-choice task on a chat endpoint runs its generative variant (lettered choices,
# letter extracted), with a note; the expected score comes from the rules written here
expected=$("$EVALLUA" exec "$E2E/arc_gen_rules.lua" "$TMP/arc_rules.jsonl" "$EVALLUA_TEST_DATA" 12)
start_server chat --rules "$TMP/arc_rules.jsonl"
"$EVALLUA" run --model openai-chat --model_args "base_url=$URL,model=fake-model" --tasks arc_easy \
  --limit 12 --data-dir "$EVALLUA_TEST_DATA" --output "$TMP/chatmc.json" >"$TMP/chatmc.out" 2>"$TMP/chatmc.err"
check_eq "chat + multiple choice exit" "$?" 0
check_has "generative note" "$(cat "$TMP/chatmc.err")" "run as generate_until"
got=$(printf 'exact_match=%.6f' "$(jqv "$TMP/chatmc.json" "results.arc_easy.exact_match,letter")")
check_eq "generative multiple choice score" "$got" "$expected"
check_has "note in configs" "$(jqv "$TMP/chatmc.json" configs.arc_easy.note)" "generate_until"
check_eq "one request per document" "$(requests_logged chat)" 12
# forcing log-likelihoods on a chat endpoint stops before sending anything
printf 'return { mc_mode = "loglikelihood" }\n' >"$TMP/ll_suite.lua"
"$EVALLUA" run "$TMP/ll_suite.lua" --model openai-chat --model_args "base_url=$URL,model=fake-model" --tasks hellaswag \
  --limit 5 --data-dir "$EVALLUA_TEST_DATA" >"$TMP/chatll.out" 2>"$TMP/chatll.err"
check_eq "chat + forced loglikelihood exit" "$?" 2
check_has "chat + loglikelihood message" "$(cat "$TMP/chatll.err")" "task 'hellaswag'"
check_has "suggests completions" "$(cat "$TMP/chatll.err")" "openai-completions"
"$EVALLUA" run --model openai-chat --model_args "base_url=$URL,model=fake-model" --tasks lambada_openai \
  --limit 5 --data-dir "$EVALLUA_TEST_DATA" >"$TMP/chatlam.out" 2>"$TMP/chatlam.err"
check_eq "chat + loglikelihood task exit" "$?" 2
"$EVALLUA" run --model openai-chat --model_args "base_url=$URL,model=fake-model" --tasks hellaswag --mc-mode loglikelihood \
  --limit 5 --data-dir "$EVALLUA_TEST_DATA" --no-cache >"$TMP/chatll2.out" 2>"$TMP/chatll2.err"
check_eq "--mc-mode loglikelihood on chat exit" "$?" 2
check_eq "nothing more sent" "$(requests_logged chat)" 12

# Evalchemy's spelling: --model curator --model_name openai/NAME --model_args api_base=URL
"$EVALLUA" run --no-cache --model curator --model_name openai/fake-model --model_args "api_base=$URL,api_key=k" \
  --tasks gsm8k --num_fewshot 0 --limit 2 --data-dir "$EVALLUA_TEST_DATA" >"$TMP/cur.out" 2>"$TMP/cur.err"
check_eq "curator exit" "$?" 0
check_has "provider prefix stripped" "$(sed -n 13p "$TMP/chat.log")" '"model":"fake-model"'
check_has "chat messages sent" "$(sed -n 13p "$TMP/chat.log")" '"messages":[{"role":"user","content":"Question: '

# Evalchemy's --model openai with the server from OPENAI_API_BASE
OPENAI_API_BASE="$URL" "$EVALLUA" run --no-cache --model openai --model_name fake-model --tasks gsm8k \
  --num_fewshot 0 --limit 1 --data-dir "$EVALLUA_TEST_DATA" >"$TMP/env.out" 2>"$TMP/env.err"
check_eq "OPENAI_API_BASE exit" "$?" 0

finish
