#!/usr/bin/env bash
# bench/native/run.sh [BUILD_DIR] — the native-backend benchmark of docs/performance.md.
# Not a test: it prints numbers.
#   (a) SmolLM2-135M-Instruct Q4_1, evallua's native backend and llama.cpp (llama-cpp-python)
#       side by side on the same file, texts and thread count, at 1 and 2 threads:
#       prefill (loglikelihood) tokens/s over 8 texts of ~250 tokens, decode tokens/s over 8
#       greedy generations of 128 tokens one at a time, and evallua's decode with the 8
#       decoded together (parallel=8). The two programs alternate, REPEATS (2) times, and
#       the best run of each counts (the machine may be shared).
#   (b) end-to-end: `evallua run --model native` on HS_LIMIT (1000) HellaSwag documents,
#       2 threads, cache off: wall time and documents/s (needs the data in DATA_DIR).
# Knobs: MODEL (models/SmolLM2-135M-Instruct-Q4_1.gguf), THREADS ("1 2"), DECODE (128),
#        REPEATS (2), HS_LIMIT (1000), DATA_DIR (../shared/data/hub), SKIP_LLAMA_CPP=1,
#        SKIP_HELLASWAG=1; on a machine shared with other busy processes, OMP_WAIT_POLICY=passive
#        (else evallua's OpenMP threads spin away each other's time slices).
# Needs: the build's evallua; python3 with llama-cpp-python and numpy for the comparison
# (pip install llama-cpp-python numpy — it compiles llama.cpp when PyPI has no wheel).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
EVALLUA=$BUILD/evallua
MODEL=${MODEL:-$ROOT/models/SmolLM2-135M-Instruct-Q4_1.gguf}
THREADS=${THREADS:-1 2} DECODE=${DECODE:-128} REPEATS=${REPEATS:-2}
HS_LIMIT=${HS_LIMIT:-1000} DATA_DIR=${DATA_DIR:-$ROOT/../shared/data/hub}
TEXTS=$HERE/texts.json
TMP=$(mktemp -d "${TMPDIR:-/tmp}/evallua_native_bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export EVALLUA_NO_PROGRESS=1

[ -f "$MODEL" ] || { echo "no model at $MODEL (scripts/fetch-model)" >&2; exit 1; }
llama_ok=1
if [ "${SKIP_LLAMA_CPP:-0}" = 1 ] || ! python3 -c 'import llama_cpp, numpy' 2>/dev/null; then
  llama_ok=0
  echo "llama.cpp comparison skipped (SKIP_LLAMA_CPP=1, or: pip install llama-cpp-python numpy)"
fi
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# best FILE NAME: among the runs' NAME lines, the tokens, the best tokens/s of the wall
# clock and the best tokens per CPU-second ("- - -" when none)
best() {
  awk -v n="$2" '$1 == n && $3 > 0 { r = $2 / $3; if (r > b) { b = r; t = $2 }
      if ($4 > 0 && $2 / $4 > c) c = $2 / $4 }
    END { if (b) printf "%d %.1f %.1f", t, b, c; else printf "- - -" }' "$1"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a + 0 > 0) printf "%.2fx", a / b; else print "-" }'; }

for t in $THREADS; do
  for _ in $(seq "$REPEATS"); do
    "$EVALLUA" exec "$HERE/native_bench.lua" "$MODEL" "$t" "$TEXTS" "$DECODE" >>"$TMP/evallua.$t"
    if [ $llama_ok = 1 ]; then
      python3 "$HERE/llama_cpp_bench.py" "$MODEL" "$t" "$TEXTS" "$DECODE" >>"$TMP/llama.$t"
    fi
  done
done

printf '\n%-7s %-7s | %-26s | %-26s | %-6s %-6s\n' threads phase \
  "evallua tokens tok/s tok/CPU-s" "llama.cpp tokens tok/s tok/CPU-s" ratio "CPU ratio"
for t in $THREADS; do
  for phase in prefill decode1 decode8; do
    read -r et er ec <<<"$(best "$TMP/evallua.$t" $phase)"
    lt=- lr=- lc=-
    [ -f "$TMP/llama.$t" ] && read -r lt lr lc <<<"$(best "$TMP/llama.$t" $phase)"
    printf '%-7s %-7s | %6s %8s %10s | %6s %8s %10s | %-6s %-6s\n' "$t" "$phase" "$et" "$er" "$ec" \
      "$lt" "$lr" "$lc" "$(ratio "$er" "$lr")" "$(ratio "$ec" "$lc")"
  done
done
echo "(tok/s: forward-pass wall clock; tok/CPU-s: per CPU-second of the process, all threads;"
echo " decode1: one sequence at a time; decode8: evallua's 8 sequences per forward step;"
echo " ratio: evallua / llama.cpp)"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "${SKIP_HELLASWAG:-0}" != 1 ]; then
  if [ -d "$DATA_DIR/Rowan/hellaswag" ]; then
    start=$(date +%s.%N)
    "$EVALLUA" run --model native --model_args "path=$MODEL,threads=2" --tasks hellaswag \
      --limit "$HS_LIMIT" --data-dir "$DATA_DIR" --no-cache --output "$TMP/hs.json" >"$TMP/hs.out"
    end=$(date +%s.%N)
    awk -v s="$start" -v e="$end" -v n="$HS_LIMIT" \
      'BEGIN { printf "\nHellaSwag, %d documents, 2 threads: %.1f s end to end (%.2f documents/s)\n", n, e - s, n / (e - s) }'
    grep -E 'acc' "$TMP/hs.out" | head -3
    echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
  else
    echo "HellaSwag skipped: no $DATA_DIR/Rowan/hellaswag"
  fi
fi
