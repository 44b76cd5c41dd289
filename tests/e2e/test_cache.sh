#!/usr/bin/env bash
# End-to-end: the response cache and Ctrl-C. A rerun is answered from the cache with
# identical results; a run killed with SIGKILL or stopped with SIGINT resumes by sending only
# what was never answered; --no-cache sends everything; `evallua cache stats|clear`; the API
# key never reaches the cache file. Request counts come from the fake server's log.
. "$(dirname "$0")/lib.sh"
need_server
need_data
E2E="$EVALLUA_SRC/tests/e2e"
jqv() { "$EVALLUA" exec "$E2E/jq.lua" "$@"; }
KEY="sk-cache-SECRET-4242"
TOTAL=120 # arc_easy, 30 documents, 4 choices each

# run_arc NAME URL [flags...]: arc_easy 0-shot, 30 docs; results in $TMP/NAME/r.json
run_arc() {
  local name=$1 url=$2
  shift 2
  "$EVALLUA" run --model openai-completions --model_args "base_url=$url,model=fake-model,api_key=$KEY,concurrency=4" \
    --tasks arc_easy --num_fewshot 0 --limit 30 --data-dir "$EVALLUA_TEST_DATA" \
    --output "$TMP/$name/r.json" --log_samples "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
}
# bg_arc NAME URL [flags...]: run_arc in the background, PID = evallua's own pid (exec), with
# SIGINT not ignored (a script's background jobs inherit it ignored)
bg_arc() {
  local name=$1 url=$2
  shift 2
  ( trap - INT; exec "$EVALLUA" run --model openai-completions \
      --model_args "base_url=$url,model=fake-model,api_key=$KEY,concurrency=4" --tasks arc_easy \
      --num_fewshot 0 --limit 30 --data-dir "$EVALLUA_TEST_DATA" --output "$TMP/$name/r.json" \
      --log_samples "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" ) &
  PID=$!
}
cache_rows() { "$EVALLUA" cache stats --cache "$1" | sed -n 's/^responses: *\([0-9]*\).*/\1/p'; }
scores() { jqv "$TMP/$1/r.json" results.arc_easy; }
samples() { cat "$TMP/$1"/samples_arc_easy_*.jsonl; }
now_ms() { date +%s%3N; }
# wait_logged NAME N: until server NAME has logged N requests (at most 30 s)
wait_logged() {
  local i
  for i in $(seq 600); do [ "$(requests_logged "$1")" -ge "$2" ] && return 0; sleep 0.05; done
  return 1
}

# --- a cold run fills the cache; the rerun sends nothing and gives identical results --------
start_server main
MAIN_URL=$URL
CACHE="$TMP/c/responses.sqlite"
run_arc cold "$MAIN_URL" --cache "$CACHE"
check_eq "cold exit" "$?" 0
check_eq "cold run sends every request" "$(requests_logged main)" "$TOTAL"
check_eq "cold: nothing cached" "$(jqv "$TMP/cold/r.json" throughput.cached)" 0
check_eq "cache rows after the cold run" "$(cache_rows "$CACHE")" "$TOTAL"
run_arc warm "$MAIN_URL" --cache "$CACHE"
check_eq "warm exit" "$?" 0
check_eq "warm run sends nothing" "$(requests_logged main)" "$TOTAL"
check_eq "warm: all cached" "$(jqv "$TMP/warm/r.json" throughput.cached)" "$TOTAL"
check_eq "warm: requests counted" "$(jqv "$TMP/warm/r.json" throughput.requests)" "$TOTAL"
check_eq "identical scores" "$(scores warm)" "$(scores cold)"
check_eq "identical samples" "$(samples warm)" "$(samples cold)"
# the key is not in the file (nor in its WAL while one exists)
if grep -aq "SECRET-4242" "$CACHE"*; then fail "API key found in the cache file"; else pass; fi
check_eq "the cache file exists" "$([ -s "$CACHE" ] && echo yes)" yes

# --- another URL and another key: the same model answers the same (all hits) ----------------
start_server other
KEY="sk-another-KEY-1" run_arc otherurl "$URL" --cache "$CACHE"
check_eq "other URL exit" "$?" 0
check_eq "other URL and key: nothing sent" "$(requests_logged other)" 0
check_eq "other URL and key: all cached" "$(jqv "$TMP/otherurl/r.json" throughput.cached)" "$TOTAL"

# --- --no-cache sends everything and leaves the cache alone ----------------------------------
run_arc nocache "$MAIN_URL" --cache "$CACHE" --no-cache
check_eq "no-cache exit" "$?" 0
check_eq "no-cache sends everything" "$(requests_logged main)" $((2 * TOTAL))
check_eq "no-cache: nothing cached" "$(jqv "$TMP/nocache/r.json" throughput.cached)" 0
check_eq "no-cache: same scores" "$(scores nocache)" "$(scores cold)"
check_eq "no-cache: default cache untouched" "$([ -e "$XDG_CACHE_HOME/evallua/responses.sqlite" ] && echo yes || echo no)" no

# --- the default location: $XDG_CACHE_HOME, else ~/.cache -----------------------------------
run_arc xdg "$MAIN_URL"
check_eq "default cache exit" "$?" 0
check_eq "default cache under XDG_CACHE_HOME" "$(cache_rows "$XDG_CACHE_HOME/evallua/responses.sqlite")" "$TOTAL"
mkdir -p "$TMP/home"
(unset XDG_CACHE_HOME; HOME="$TMP/home" "$EVALLUA" run --model openai-completions \
  --model_args "base_url=$MAIN_URL,model=fake-model" --tasks arc_easy --num_fewshot 0 --limit 2 \
  --data-dir "$EVALLUA_TEST_DATA" >"$TMP/home.out" 2>"$TMP/home.err")
check_eq "HOME fallback exit" "$?" 0
check_eq "cache under ~/.cache" "$(cache_rows "$TMP/home/.cache/evallua/responses.sqlite")" 8

# --- a cache that cannot be opened: an explicit --cache is an error, the default only warns ---
touch "$TMP/plainfile"
run_arc badcache "$MAIN_URL" --cache "$TMP/plainfile/x.sqlite"
check_eq "unopenable --cache exit" "$?" 2
check_has "unopenable --cache names the path" "$(cat "$TMP/badcache.err")" "$TMP/plainfile"
XDG_CACHE_HOME="$TMP/plainfile" run_arc baddefault "$MAIN_URL"
check_eq "unopenable default cache still runs" "$?" 0
check_has "unopenable default cache warns" "$(cat "$TMP/baddefault.err")" "running without the response cache"

# --- evallua cache stats | clear ------------------------------------------------------------
out=$("$EVALLUA" cache stats --cache "$CACHE")
check_eq "cache stats exit" "$?" 0
check_has "stats names the file" "$out" "cache:     $CACHE"
check_has "stats counts" "$out" "responses: $TOTAL"
check_has "stats size" "$out" "bytes on disk"
check_has "stats per model" "$out" "fake-model"
check_has "stats per endpoint" "$out" "openai-completions"
out=$(XDG_CACHE_HOME="$TMP/cache" "$EVALLUA" cache stats)
check_has "stats: default path" "$out" "$TMP/cache/evallua/responses.sqlite"
out=$("$EVALLUA" cache stats --cache "$TMP/none/x.sqlite")
check_has "stats: no file yet" "$out" "no cache file yet"
check_eq "stats does not create the file" "$([ -e "$TMP/none" ] && echo yes || echo no)" no
out=$("$EVALLUA" cache frobnicate 2>&1)
check_eq "unknown subcommand exit" "$?" 2
check_has "unknown subcommand usage" "$out" "stats|clear"
check_has "cache --help" "$("$EVALLUA" cache --help)" "--cache PATH"
out=$("$EVALLUA" cache clear --cache "$CACHE")
check_eq "cache clear exit" "$?" 0
check_has "clear reports" "$out" "removed $TOTAL responses"
check_eq "rows after clear" "$(cache_rows "$CACHE")" 0
before=$(requests_logged main)
run_arc cleared "$MAIN_URL" --cache "$CACHE"
check_eq "after clear everything is sent" "$(( $(requests_logged main) - before ))" "$TOTAL"

# --- SIGKILL mid-run; the rerun sends only what the cache lacks --------------------------------
start_server slow --delay-ms 50
KCACHE="$TMP/k.sqlite"
bg_arc killed "$URL" --cache "$KCACHE"
pid=$PID
wait_logged slow 40
kill -KILL "$pid"
wait "$pid" 2>/dev/null
first=$(requests_logged slow)
answered=$(cache_rows "$KCACHE")
check_eq "killed mid-way" "$([ "$answered" -gt 0 ] && [ "$answered" -lt "$TOTAL" ] && echo yes)" yes
echo "SIGKILL: the server received $first requests, the cache kept $answered (in flight or lost: $((first - answered)))"
# 4 in flight, plus at most 100 ms of answers at 80/s (8), plus scheduling slack
check_eq "at most in-flight + 100 ms of answers lost" "$([ $((first - answered)) -le 16 ] && echo yes)" yes
run_arc resumed "$URL" --cache "$KCACHE"
check_eq "resumed exit" "$?" 0
resent=$(( $(requests_logged slow) - first ))
check_eq "answered + resent == total" "$((answered + resent))" "$TOTAL"
check_eq "resumed: cached count" "$(jqv "$TMP/resumed/r.json" throughput.cached)" "$answered"
check_eq "resumed scores equal a clean run's" "$(scores resumed)" "$(scores cold)"
check_eq "resumed samples equal a clean run's" "$(samples resumed)" "$(samples cold)"
cut -f2- "$TMP/slow.log" | head -n "$first" | sort >"$TMP/first.bodies"
cut -f2- "$TMP/slow.log" | tail -n +"$((first + 1))" | sort >"$TMP/rerun.bodies"
again=$(comm -12 "$TMP/first.bodies" "$TMP/rerun.bodies" | wc -l | tr -d ' ')
check_eq "nothing answered is sent again" "$([ "$again" -le $((first - answered)) ] && echo yes)" yes

# --- SIGINT mid-run: exit 130, partial results, how to resume -----------------------------------
start_server int --delay-ms 50
ICACHE="$TMP/i.sqlite"
bg_arc interrupted "$URL" --cache "$ICACHE"
pid=$PID
wait_logged int 40
kill -INT "$pid"
wait "$pid"
check_eq "SIGINT exit status" "$?" 130
err=$(cat "$TMP/interrupted.err")
check_has "resume hint" "$err" "rerun the same command to resume"
n=$(printf '%s' "$err" | sed -n "s/.*interrupted: \([0-9]*\) of $TOTAL requests answered and cached.*/\1/p")
check_eq "message counts what the cache holds" "$n" "$(cache_rows "$ICACHE")"
failed=$(jqv "$TMP/interrupted/r.json" results.arc_easy.samples_failed)
check_eq "partial results written" "$([ "$failed" -gt 0 ] && [ "$failed" -lt 30 ] && echo yes)" yes
check_eq "samples for the answered documents" "$(samples interrupted | grep -vc '"failed":true')" "$((30 - failed))"
first=$(requests_logged int)
run_arc int_resumed "$URL" --cache "$ICACHE"
check_eq "resume after SIGINT exit" "$?" 0
check_eq "resume sends only the rest" "$(( $(requests_logged int) - first ))" "$((TOTAL - n))"
check_eq "resumed after SIGINT: same scores" "$(scores int_resumed)" "$(scores cold)"

# --- in-flight requests are abandoned promptly; SIGTERM too -----------------------------------------
start_server stall --delay-ms 3000
bg_arc stalled "$URL" --no-cache
pid=$PID
wait_logged stall 4
t0=$(now_ms)
kill -INT "$pid"
wait "$pid"
rc=$?
took=$(( $(now_ms) - t0 ))
check_eq "stalled: exit 130" "$rc" 130
check_eq "stalled: stops within a second (${took} ms)" "$([ "$took" -lt 1000 ] && echo yes)" yes
check_has "stalled: nothing answered, cache off" "$(cat "$TMP/stalled.err")" "interrupted: 0 of $TOTAL requests answered; the cache is off"
bg_arc termed "$URL" --no-cache
pid=$PID
wait_logged stall 8
kill -TERM "$pid"
wait "$pid"
check_eq "SIGTERM exit status" "$?" 130
# a second Ctrl-C quits at once: here evallua is stuck opening a suite file that is a FIFO
# nobody writes, where the first one cannot stop it
mkfifo "$TMP/stuck.lua"
( trap - INT; exec "$EVALLUA" run "$TMP/stuck.lua" >"$TMP/stuck.out" 2>"$TMP/stuck.err" ) &
pid=$!
# wait until it blocks opening the FIFO (openat: 257 on x86-64, 56 on arm64), by then its
# Ctrl-C handler is in place; a loaded machine can take over a second to get there
for _ in $(seq 200); do
  case "$(cut -d' ' -f1 "/proc/$pid/syscall" 2>/dev/null)" in 257 | 56) break ;; esac
  sleep 0.05
done
kill -INT "$pid"
sleep 0.3
check_eq "first Ctrl-C asks to stop" "$(kill -0 "$pid" 2>/dev/null && echo running)" running
check_has "first Ctrl-C says so" "$(cat "$TMP/stuck.err")" "Ctrl-C again to quit at once"
kill -INT "$pid"
wait "$pid"
check_eq "second Ctrl-C exits 130" "$?" 130

finish
