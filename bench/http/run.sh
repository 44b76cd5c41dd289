#!/usr/bin/env bash
# bench/http/run.sh [BUILD_DIR] — the HTTP benchmark of docs/performance.md, against the
# project's own test server (tests/server) on loopback. Not a test: it prints numbers.
#   (a) 200k generate requests through the whole pipeline (`evallua run` of the bench_gen
#       task, response cache on, results written), zero-latency server; the same requests
#       with batch_size=16; and the aiohttp comparison client (aiohttp_client.py) on the
#       same requests. Requests/s and client CPU-microseconds per request.
#   (b) a server with 50 ms latency, 20k requests at concurrency 1024: the HTTP phase's wall
#       time against the ideal N*L/C (ratio and percent over), the whole run's (process start
#       to exit: Lua, data, connections, results included), client and server CPU per request.
#   (c) peak RSS with 1M requests queued in one b:run (queue_rss.lua).
# In (a) and (b) loadgen.c, a minimal keep-alive C client, measures the server alone: what
# no client could beat on this machine at this moment.
# Knobs: N (200000), QUEUE_N (1000000), CONC (64), REPEAT (1: run each client that many
# times, alternating, and report every run), SKIP_A=1 (run (b) and (c) only), SKIP_B=1,
# SKIP_AIOHTTP=1, SKIP_RSS=1; for (b): B_N (20000), B_CONC (1024), B_DELAY_MS (50).
# PRIO="chrt -f 10" (needs root) runs the servers and clients at real-time priority: on a
# machine shared with other work it approximates a quiet one (the others wait while the
# benchmark runs); say so next to numbers taken that way.
# Needs the build's evallua and fake_openai, a C compiler, and python3 with aiohttp for the
# comparison (pip install aiohttp); the machine should be otherwise idle — on a shared one,
# use REPEAT=3 and compare the best run of each client (say so with the numbers, with the
# load average printed before each section).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$(cd "${1:-$HERE/../../build}" && pwd)
EVALLUA=$BUILD/evallua
FAKE=$BUILD/tests/fake_openai
N=${N:-200000} QUEUE_N=${QUEUE_N:-1000000} CONC=${CONC:-64} REPEAT=${REPEAT:-1}
B_N=${B_N:-20000} B_CONC=${B_CONC:-1024} B_DELAY_MS=${B_DELAY_MS:-50}
PRIO=${PRIO:-} # e.g. "chrt -f 10": see the header
TMP=$(mktemp -d "${TMPDIR:-/tmp}/evallua_bench.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
export EVALLUA_NO_PROGRESS=1 XDG_CACHE_HOME=$TMP/cache

# start NAME ARGS...: a fake_openai; sets URL and SPID
start() {
  local name=$1
  shift
  $PRIO "$FAKE" --port 0 --port-file "$TMP/$name.port" --lifetime 3600 "$@" 2>"$TMP/$name.err" &
  SPID=$!
  PIDS+=("$SPID")
  for _ in $(seq 100); do [ -s "$TMP/$name.port" ] && break; sleep 0.05; done
  URL="http://127.0.0.1:$(cat "$TMP/$name.port")/v1"
}
server_cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # clock ticks
now_s() { date +%s.%N; }
ticks=$(getconf CLK_TCK)
jqv() { "$EVALLUA" exec "$HERE/../../tests/e2e/jq.lua" "$@"; }

# pipeline NAME EXTRA_MODEL_ARGS: evallua run of bench_gen; prints the figures
pipeline() {
  local name=$1 extra=$2 s0 s1
  rm -f "$TMP/$name.sqlite"* # every repeat starts with an empty cache
  s0=$(server_cpu "$SPID")
  $PRIO /usr/bin/time -f "%U %S %M" -o "$TMP/$name.time" "$EVALLUA" run --model openai-completions \
    --model_args "base_url=$URL,model=fake-model,concurrency=$CONC$extra" --tasks bench_gen \
    --include-path "$HERE/tasks" --data-dir "$TMP/data" --cache "$TMP/$name.sqlite" \
    --output "$TMP/$name.json" >"$TMP/$name.out" 2>"$TMP/$name.err"
  s1=$(server_cpu "$SPID")
  read -r user sys rss <"$TMP/$name.time"
  local wall backend
  wall=$(jqv "$TMP/$name.json" throughput.wall_seconds)
  backend=$(jqv "$TMP/$name.json" throughput.backend_seconds)
  awk -v n="$N" -v w="$wall" -v b="$backend" -v u="$user" -v s="$sys" -v rss="$rss" \
      -v sc="$((s1 - s0))" -v tk="$ticks" -v name="$name" 'BEGIN {
    printf "%-22s whole run %6.2f s = %6.0f req/s | HTTP phase (cache included) %6.2f s = %6.0f req/s | client %5.1f CPU-us/req | server %4.1f CPU-us/req | peak RSS %4.0f MiB\n",
      name, w, n / w, b, n / b, (u + s) * 1e6 / n, sc / tk * 1e6 / n, rss / 1024 }'
}


[ "${SKIP_A:-0}" = 1 ] || "$HERE/make_data.sh" "$TMP/data" "$N"
[ "${SKIP_B:-0}" = 1 ] || "$HERE/make_data.sh" "$TMP/bdata" "$B_N" # (b) reads only its own documents
${CC:-cc} -O2 -std=c11 -o "$TMP/loadgen" "$HERE/loadgen.c"
port_of() { sed 's|.*:\([0-9]*\)/v1$|\1|' <<<"$1"; }
# server_line S0 S1 N: the server's CPU-microseconds per request between two server_cpu readings
server_line() { awk -v sc="$(($2 - $1))" -v tk="$ticks" -v n="$3" 'BEGIN { printf "server %.1f CPU-us/req", sc / tk * 1e6 / n }'; }

section_a() {
  echo "== (a) $N generate requests, zero-latency server, concurrency $CONC, $(nproc) cores; load: $(uptime | sed 's/.*load/load/')"
  for _ in $(seq "$REPEAT"); do
    pipeline "evallua" ""
    pipeline "evallua batch_size=16" ",batch_size=16"
    $PRIO "$EVALLUA" exec "$HERE/queue_rss.lua" "$URL" "$N" "$CONC" | sed 's/^/engine alone (no cache): /'
    if [ "${SKIP_AIOHTTP:-0}" != 1 ]; then
      s0=$(server_cpu "$SPID")
      $PRIO python3 "$HERE/aiohttp_client.py" "$URL" "$N" "$CONC"
      s1=$(server_cpu "$SPID")
      echo "  ($(server_line "$s0" "$s1" "$N"))"
    fi
    s0=$(server_cpu "$SPID")
    $PRIO "$TMP/loadgen" "$(port_of "$URL")" "$N" "$CONC" | sed 's/^/server alone: /'
    s1=$(server_cpu "$SPID")
    echo "  ($(server_line "$s0" "$s1" "$N"))"
  done
}

# b_evallua: one evallua run of (b); prints the HTTP phase and the whole run against the ideal
b_evallua() {
  local s0 s1 t0 t1
  s0=$(server_cpu "$SPID")
  t0=$(now_s)
  $PRIO /usr/bin/time -f "%U %S" -o "$TMP/b.time" "$EVALLUA" run --no-cache --model openai-completions \
    --model_args "base_url=$URL,model=fake-model,concurrency=$B_CONC" --tasks bench_gen \
    --include-path "$HERE/tasks" --data-dir "$TMP/bdata" --output "$TMP/b.json" \
    >"$TMP/b.out" 2>"$TMP/b.err"
  t1=$(now_s)
  s1=$(server_cpu "$SPID")
  read -r user sys <"$TMP/b.time"
  awk -v b="$(jqv "$TMP/b.json" throughput.backend_seconds)" -v t0="$t0" -v t1="$t1" \
      -v n="$B_N" -v c="$B_CONC" -v l="$B_DELAY_MS" -v u="$user" -v s="$sys" -v srv="$(server_line "$s0" "$s1" "$B_N")" 'BEGIN {
    whole = t1 - t0; ideal = n * l / 1000 / c; rounds = int((n + c - 1) / c)
    printf "evallua: HTTP phase %.3f s = %.3f x ideal N*L/C %.3f s (%+.1f%%; %d rounds: %.3f s, %+.1f ms per round over L); whole run %.3f s = %.3f x ideal | client %.1f CPU-us/req (whole process) | %s\n",
      b, b / ideal, ideal, (b / ideal - 1) * 100, rounds, rounds * l / 1000, (b - rounds * l / 1000) / rounds * 1000, whole, whole / ideal, (u + s) * 1e6 / n, srv }'
}

section_b() {
  echo "== (b) $B_N requests, $B_DELAY_MS ms server latency, concurrency $B_CONC; load: $(uptime | sed 's/.*load/load/')"
  start slow --threads 1 --delay-ms "$B_DELAY_MS"
  for _ in $(seq "$REPEAT"); do
    b_evallua
    s0=$(server_cpu "$SPID")
    $PRIO "$TMP/loadgen" "$(port_of "$URL")" "$B_N" "$B_CONC" "$B_DELAY_MS" | sed 's/^/server alone: /'
    s1=$(server_cpu "$SPID")
    echo "  ($(server_line "$s0" "$s1" "$B_N"); load: $(cut -d' ' -f1-3 /proc/loadavg))"
  done
}

start zero --threads 1
ZERO_URL=$URL
[ "${SKIP_A:-0}" = 1 ] || section_a
[ "${SKIP_B:-0}" = 1 ] || section_b

if [ "${SKIP_RSS:-0}" != 1 ]; then
  echo "== (c) $QUEUE_N requests queued in one b:run"
  "$EVALLUA" exec "$HERE/queue_rss.lua" "$ZERO_URL" "$QUEUE_N" "$CONC"
fi
