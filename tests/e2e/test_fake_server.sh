#!/usr/bin/env bash
# test_fake_server.sh — smoke test of the fake OpenAI server (tests/server) through curl.
# Needs FAKE_OPENAI=/path/to/fake_openai (ctest sets it); exits 77 (skip) without it.
# Expected values follow the rules in tests/server/README.md.
set -u

if [ -z "${FAKE_OPENAI:-}" ] || [ ! -x "${FAKE_OPENAI}" ]; then
    echo "skip: FAKE_OPENAI is not set to an executable fake_openai binary"
    exit 77
fi
if ! command -v curl >/dev/null 2>&1; then
    echo "skip: curl not found"
    exit 77
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/fake_server_test.XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT

PASS=0
FAIL=0
pass() { PASS=$((PASS + 1)); }
fail() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }
check_eq() { # name got want
    if [ "$2" == "$3" ]; then pass; else fail "$1: got '$2', want '$3'"; fi
}
check_has() { # name haystack needle
    if [[ "$2" == *"$3"* ]]; then pass; else fail "$1: '$3' not in '$2'"; fi
}
check_lacks() { # name haystack needle
    if [[ "$2" != *"$3"* ]]; then pass; else fail "$1: '$3' unexpectedly in '$2'"; fi
}

# start_server NAME ARGS... : sets PORT and PID; waits at most 5 s for the port file.
start_server() {
    local name=$1 i
    shift
    "$FAKE_OPENAI" --port 0 --port-file "$TMP/$name.port" --lifetime 60 "$@" 2>"$TMP/$name.err" &
    PID=$!
    PIDS+=("$PID")
    PORT=
    for i in $(seq 50); do
        if [ -s "$TMP/$name.port" ]; then PORT=$(cat "$TMP/$name.port"); return 0; fi
        sleep 0.1
    done
    fail "server $name did not write its port file within 5 s: $(cat "$TMP/$name.err")"
    return 1
}

# post PATH JSON [curl args...] : sets CODE, BODY and HEADERS.
post() {
    local path=$1 data=$2
    shift 2
    CODE=$(curl -s -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary "$data" "$@" "http://127.0.0.1:$PORT$path")
    BODY=$(cat "$TMP/body")
    HEADERS=$(tr -d '\r' <"$TMP/headers")
}

# Standard 32-bit FNV-1a over the bytes of $1, in bash arithmetic (64-bit, masked).
fnv1a() {
    local h=2166136261 b
    for b in $(printf '%s' "$1" | od -An -v -tu1); do
        h=$(( ((h ^ b) * 16777619) & 0xFFFFFFFF ))
    done
    echo "$h"
}
# lp(t) = -(1 + fnv1a(t) % 1000) / 200, printed the way cJSON prints it (%.15g).
lp_of() {
    awk -v m="$(( $(fnv1a "$1") % 1000 ))" 'BEGIN { printf "%.15g", -(1 + m) / 200 }'
}
json_array() { # json key -> the array's contents, e.g. "null,-1.27,..."
    printf '%s' "$1" | sed -n "s/.*\"$2\":\[\([^]]*\)\].*/\1/p"
}

# --- CLI errors exit 2 ----------------------------------------------------------------
"$FAKE_OPENAI" --port abc 2>/dev/null; check_eq "bad --port exits 2" "$?" 2
"$FAKE_OPENAI" --bogus 2>/dev/null; check_eq "unknown option exits 2" "$?" 2

# --- a server that stops by itself after --lifetime ------------------------------------
"$FAKE_OPENAI" --port 0 --lifetime 1 2>/dev/null &
LIFE_PID=$!
PIDS+=("$LIFE_PID")

# --- main server: rules file, models, completions, chat -------------------------------
cat >"$TMP/rules.jsonl" <<'EOF'
{"suffix": "2+2?", "text": "4\nDone", "reasoning": "thinking"}

{"suffix": "capital of France?", "text": "Paris"}
EOF
start_server main --model test-model --rules "$TMP/rules.jsonl" || exit 1

BODY=$(curl -s "http://127.0.0.1:$PORT/v1/models")
check_eq "models" "$BODY" '{"object":"list","data":[{"id":"test-model","object":"model"}]}'

CONNECTS=$(curl -s -o /dev/null -o /dev/null -w '%{num_connects} ' \
    "http://127.0.0.1:$PORT/v1/models" "http://127.0.0.1:$PORT/v1/models")
check_eq "keep-alive reuses the connection" "$CONNECTS" "1 0 "

post /v1/completions '{"model":"m","prompt":"Question: 2+2?\nAnswer: 4","max_tokens":1,"echo":true,"logprobs":1}'
check_eq "echo status" "$CODE" 200
check_has "echo text" "$BODY" '"text":"Question: 2+2?\nAnswer: 4 the"'
check_has "echo tokens" "$BODY" '"tokens":["Question",":"," 2","+","2","?","\nAnswer",":"," 4"," the"]'
check_has "echo first logprob null" "$BODY" '"token_logprobs":[null,'
check_has "echo first top null" "$BODY" '"top_logprobs":[null,'
check_has "echo last token is fixed" "$BODY" '{" the":-1}]'
check_has "echo text_offset" "$BODY" '"text_offset":[0,8,9,11,12,13,14,21,22,24]'
check_has "echo usage" "$BODY" '"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}'
# Every prompt token after the first has lp = -(1 + fnv1a(t) % 1000) / 200.
TOKENS=("Question" ":" " 2" "+" "2" "?" $'\nAnswer' ":" " 4")
IFS=, read -r -a LPS <<<"$(json_array "$BODY" token_logprobs)"
for i in 1 2 3 4 5 6 7 8; do
    check_eq "lp of token $i" "${LPS[$i]}" "$(lp_of "${TOKENS[$i]}")"
done

# text_offset counts code points: "é" is 2 bytes but 1 offset step.
post /v1/completions '{"prompt":"café au lait","max_tokens":1,"echo":true,"logprobs":0}'
check_has "utf-8 tokens" "$BODY" '"tokens":["caf","é"," au"," lait"," the"]'
check_has "utf-8 text_offset" "$BODY" '"text_offset":[0,3,4,7,12]'

# Default text "The answer is 42.\n\nQuestion: ignored"; "The" is not greedy (fnv1a % 4 == 0).
post /v1/completions '{"prompt":"x","max_tokens":3,"logprobs":1}'
check_has "max_tokens cut" "$BODY" '"text":"The answer is","logprobs":{"tokens":["The"," answer"," is"]'
check_has "length finish" "$BODY" '"finish_reason":"length"'
check_eq "The is not greedy" "$(( $(fnv1a The) % 4 ))" 0
check_has "non-greedy top_logprobs" "$BODY" "\"top_logprobs\":[{\"<alt>\":-0.001,\"The\":$(lp_of The)},"
post /v1/completions '{"prompt":"x","stop":["\n\n","answer"]}'
check_has "stop earliest" "$BODY" '"text":"The ","logprobs":null,"finish_reason":"stop"'
post /v1/completions '{"prompt":"x","stop":"\n\n"}'
check_has "stop string" "$BODY" '"text":"The answer is 42.","logprobs":null,"finish_reason":"stop"'

post /v1/completions '{"prompt":["What is 2+2?","The capital of France?"],"max_tokens":16}'
check_has "rule match 0" "$BODY" '{"index":0,"text":"4\nDone","logprobs":null,"finish_reason":"stop"}'
check_has "rule match 1" "$BODY" '{"index":1,"text":"Paris","logprobs":null,"finish_reason":"stop"}'

post /v1/chat/completions '{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"What is 2+2?"}]}'
check_has "chat id" "$BODY" '"object":"chat.completion","created":0,"model":"test-model"'
check_has "chat rule + reasoning" "$BODY" \
    '"message":{"role":"assistant","content":"4\nDone","reasoning_content":"thinking"},"finish_reason":"stop"'
post /v1/chat/completions '{"messages":[{"role":"user","content":"What is 2+2?"},{"role":"assistant","content":"4"},{"role":"user","content":"Thanks"}],"max_tokens":2}'
check_has "chat last user message" "$BODY" '"content":"The answer"},"finish_reason":"length"'

post /v1/completions 'not json'
check_eq "bad json 400" "$CODE" 400
check_has "bad json error type" "$BODY" '"type":"invalid_request_error"'
post /v1/completions '{"model":"m"}'
check_eq "missing prompt 400" "$CODE" 400
post /v1/nowhere '{}'
check_eq "unknown path 404" "$CODE" 404

# --delay-ms must not serialise concurrent requests: 4 x 400 ms in parallel.
start_server slow --delay-ms 400 || exit 1
T0=$(date +%s%N)
CURLS=()
for i in 1 2 3 4; do
    curl -s -o /dev/null --data-binary '{"prompt":"x"}' "http://127.0.0.1:$PORT/v1/completions" &
    CURLS+=($!)
done
wait "${CURLS[@]}"
ELAPSED_MS=$(( ($(date +%s%N) - T0) / 1000000 ))
if [ "$ELAPSED_MS" -lt 1400 ]; then pass; else fail "4 delayed requests took ${ELAPSED_MS} ms (serialised?)"; fi

# --- failure injection ------------------------------------------------------------------
start_server failfirst --fail-first 2 --log "$TMP/requests.log" || exit 1
CODES=
for i in 1 2 3; do post /v1/completions '{"prompt":"x"}'; CODES="$CODES$CODE "; done
check_eq "--fail-first 2" "$CODES" "500 500 200 "
check_eq "log lines" "$(cut -f1 "$TMP/requests.log" | tr '\n' ,)" "1 /v1/completions,2 /v1/completions,3 /v1/completions,"
check_eq "log body" "$(sed -n 3p "$TMP/requests.log" | cut -f2)" '{"prompt":"x"}'

start_server key --require-key sekrit-123 || exit 1
post /v1/completions '{"prompt":"x"}'
check_eq "no key 401" "$CODE" 401
post /v1/completions '{"prompt":"x"}' -H 'Authorization: Bearer wrong-key'
check_eq "wrong key 401" "$CODE" 401
check_has "401 message" "$BODY" '"message":"Incorrect API key provided"'
check_lacks "401 does not echo the key" "$BODY" wrong-key
post /v1/completions '{"prompt":"x"}' -H 'Authorization: Bearer sekrit-123'
check_eq "right key 200" "$CODE" 200

# Request n: 1, 2 normal; 3 injected 503 (3 % 3); 4 garbage (4 % 4); 5 truncated (5 % 5).
start_server mixed --fail-every 3 --fail-status 503 --retry-after 7 --garbage-every 4 --truncate-every 5 || exit 1
post /v1/completions '{"prompt":"x"}'
FULL=$BODY
check_eq "request 1 ok" "$CODE" 200
post /v1/completions '{"prompt":"x"}'
check_lacks "no Retry-After on success" "$HEADERS" 'Retry-After'
post /v1/completions '{"prompt":"x"}'
check_eq "--fail-every status" "$CODE" 503
check_has "Retry-After header" "$HEADERS" 'Retry-After: 7'
post /v1/completions '{"prompt":"x"}'
check_eq "garbage status" "$CODE" 200
check_eq "garbage body" "$BODY" '<html>upstream hiccup</html>'
post /v1/completions '{"prompt":"x"}'
check_eq "truncated status" "$CODE" 200
check_eq "truncated length" "$(wc -c <"$TMP/body")" "$(( ${#FULL} / 2 ))"
FULL5=${FULL/cmpl-1/cmpl-5}
check_eq "truncated prefix" "$BODY" "${FULL5:0:$(( ${#FULL5} / 2 ))}"

# --- resets, stalls, the --faults mix, quirks, context limit, arrival times ------------------
start_server quirky --reset-every 2 --stall-every 3 --stall-ms 1500 --log "$TMP/quirky.log" --log-times 1 || exit 1
post /v1/completions '{"prompt":"x"}'
check_eq "request 1 normal" "$CODE" 200
post /v1/completions '{"prompt":"x"}'
check_eq "--reset-every: no reply" "$CODE" 000
T0=$(date +%s%N)
post /v1/completions '{"prompt":"x"}' --max-time 0.5
check_eq "--stall-every: no reply within the client's timeout" "$CODE" 000
check_eq "stall really waited" "$(( ($(date +%s%N) - T0) / 1000000 >= 450 ))" 1
check_has "--log-times: arrival ms before the tab" "$(sed -n 1p "$TMP/quirky.log")" "1 /v1/completions "
check_eq "--log-times: the body after the tab" "$(sed -n 1p "$TMP/quirky.log" | cut -f2)" '{"prompt":"x"}'
"$FAKE_OPENAI" --faults "500:60,429:50" 2>"$TMP/faults.err"; check_eq "--faults over 100% exits 2" "$?" 2
check_has "--faults message" "$(cat "$TMP/faults.err")" "more than 100"
"$FAKE_OPENAI" --faults "boom:5" 2>/dev/null; check_eq "--faults unknown fault exits 2" "$?" 2
"$FAKE_OPENAI" --quirks "odd" 2>/dev/null; check_eq "--quirks unknown exits 2" "$?" 2
start_server mix --faults "429:100" --retry-after 0.5 || exit 1
post /v1/completions '{"prompt":"x"}'
check_eq "--faults 429" "$CODE" 429
check_has "fractional Retry-After" "$HEADERS" 'Retry-After: 0.5'
start_server qbool --quirks logprobs-bool,no-echo-logprobs --max-context 8 || exit 1
post /v1/completions '{"prompt":"x","echo":true,"logprobs":1}'
check_eq "logprobs-bool: an integer is refused" "$CODE" 400
check_has "logprobs-bool message" "$BODY" "Input should be a valid boolean"
post /v1/completions '{"prompt":"x","echo":true,"logprobs":true,"max_tokens":1}'
check_has "no-echo-logprobs message" "$BODY" "echo is not supported together with logprobs"
post /v1/completions '{"prompt":"x","logprobs":true,"max_tokens":2}'
check_eq "logprobs true without echo" "$CODE" 200
post /v1/completions '{"prompt":"one two three four five six seven","max_tokens":2}'
check_eq "--max-context: over the limit" "$CODE" 400
check_has "context length message" "$BODY" "maximum context length is 8 tokens. However, you requested 9 tokens (7 in the messages, 2 in the completion)"
post /v1/completions '{"prompt":["a","one two three four five six seven eight"],"max_tokens":1}'
check_eq "--max-context: one prompt of a list fails the request" "$CODE" 400
printf '{"suffix":"hmm","text":null,"reasoning":"deep thought"}\n' >"$TMP/null_rules.jsonl"
start_server nulltext --rules "$TMP/null_rules.jsonl" || exit 1
post /v1/chat/completions '{"messages":[{"role":"user","content":"hmm"}]}'
check_has "null content" "$BODY" '"content":null,"reasoning_content":"deep thought"'
post /v1/completions '{"prompt":"hmm"}'
check_has "null text is empty on completions" "$BODY" '"text":""'

# --- HTTP details (tests/server/README.md): raw requests over bash's /dev/tcp ---------------------
# raw TEXT: send TEXT (printf format) on a new connection to the last server; RAW gets what came
# back until the server closed the connection or 2 s passed.
raw() {
    RAW=$(exec 3<>"/dev/tcp/127.0.0.1/$PORT" && printf "$1" >&3 && timeout 2 cat <&3 | tr -d '\r')
}
start_server http --log "$TMP/http.log" || exit 1
REQ='POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n\r\n{"prompt":"x"}'
raw "$REQ$REQ${REQ/HTTP\/1.1/HTTP/1.0}"
check_eq "pipelined: three answers in order" "$(grep -o 'cmpl-[0-9]*' <<<"$RAW" | tr '\n' ' ')" "cmpl-1 cmpl-2 cmpl-3 "
check_eq "HTTP/1.0 closes after its answer" "$(grep -c '^Connection: close$' <<<"$RAW")" 1
raw 'POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n{"pro\r\n9\r\nmpt":"y"}\r\n0\r\n\r\n'
check_has "chunked body" "$RAW" '"id":"cmpl-4"'
check_eq "chunked body logged decoded" "$(sed -n 4p "$TMP/http.log" | cut -f2)" '{"prompt":"y"}'
# Expect: 100-continue — the body goes only after the interim answer (the server may skip it
# when the body is already there, so the head goes alone first)
RAW=$(exec 3<>"/dev/tcp/127.0.0.1/$PORT" &&
    printf 'POST /v1/completions HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 14\r\nConnection: close\r\n\r\n' >&3 &&
    IFS= read -r -t 2 first <&3 && printf '%s\n' "$first" && printf '{"prompt":"x"}' >&3 && timeout 2 cat <&3 | tr -d '\r')
check_eq "Expect: 100-continue" "$(grep -o '^HTTP/1.1 [0-9]*' <<<"$RAW" | tr '\n' ' ')" "HTTP/1.1 100 HTTP/1.1 200 "
raw 'GET /v1/models?x=1 HTTP/1.1\r\nConnection: close\r\n\r\n'
check_has "query string ignored" "$RAW" '"object":"list"'
raw 'NONSENSE\r\n\r\n'
check_has "malformed request: 400" "$RAW" 'HTTP/1.1 400 Bad Request'

# --- stopping ---------------------------------------------------------------------------
kill -TERM "$PID"
for i in $(seq 30); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$PID" 2>/dev/null; then fail "server still running 3 s after SIGTERM"; else
    wait "$PID"; check_eq "SIGTERM exit status" "$?" 0
fi
for i in $(seq 30); do kill -0 "$LIFE_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$LIFE_PID" 2>/dev/null; then fail "--lifetime 1 server still running"; else pass; fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
