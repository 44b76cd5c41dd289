#!/usr/bin/env bash
# bench/score/run.sh [DIR] — evallua's scoring against the same computations done the way
# lm-eval does them in Python (ref_lmeval.py), side by side in one run, evallua on 1 and
# 2 OpenMP threads; prints a table of times and speed-ups (docs/performance.md#scoring).
#
#   EVALLUA=build/evallua   the binary (default: build/evallua of this checkout)
#   BOOT_CHUNKS=4           lm-eval's bootstrap runs 100 chunks of 1000 iterations; the
#                           Python side runs the first N and scales its time to 100
#                           (100 = the whole thing, about 10 minutes of 2 cores)
#   ONLY=em,squad,bootstrap,pass1   a subset
#   HUMANEVAL=path          openai_humaneval test.jsonl(.gz) for the 164 programs
#                           (default: the test data; synthetic programs when absent)
# Inputs are generated once into DIR (default $TMPDIR/evallua_bench_score, ~250 MB).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
EVALLUA=${EVALLUA:-$ROOT/build/evallua}
DIR=${1:-${TMPDIR:-/tmp}/evallua_bench_score}
DATA=${EVALLUA_TEST_DATA:-$ROOT/../shared/data/hub}
HUMANEVAL=${HUMANEVAL:-$DATA/openai/openai_humaneval/openai_humaneval/test.jsonl.gz}
ONLY=${ONLY:-em,squad,bootstrap,pass1}
[ -x "$EVALLUA" ] || { echo "no evallua binary at $EVALLUA (build first, or set EVALLUA)"; exit 1; }
python3 -c 'import numpy' 2>/dev/null ||
  { echo "the Python reference needs numpy (lm-eval's exact_match uses it): pip install numpy"; exit 1; }
if [ ! -s "$DIR/programs.jsonl" ]; then
  echo "generating inputs in $DIR ..."
  python3 "$HERE/ref_lmeval.py" gen "$DIR" --humaneval "$HUMANEVAL"
fi
OUT=$(mktemp -d "${TMPDIR:-/tmp}/evallua_bench_out.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
# each computation in a fresh process on both sides: the sandbox forks the evallua process
# per program, which costs more the more memory it holds (docs/performance.md#scoring)
mkdir -p "$OUT/py" "$OUT/ev1" "$OUT/ev2"
for name in ${ONLY//,/ }; do
  OMP_NUM_THREADS=1 "$EVALLUA" exec "$HERE/bench.lua" "$DIR" "$name" >"$OUT/ev1/$name.json"
  OMP_NUM_THREADS=2 "$EVALLUA" exec "$HERE/bench.lua" "$DIR" "$name" >"$OUT/ev2/$name.json"
  py_names=$name
  [ "$name" = pass1 ] && py_names=pass1,pass1_pool
  python3 "$HERE/ref_lmeval.py" run "$DIR" --only "$py_names" --boot-chunks "${BOOT_CHUNKS:-4}" >"$OUT/py/$name.json"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "$(nproc) CPUs; load average (1, 5, 15 min) before: $load_before, after: $load_after"
"$EVALLUA" exec "$HERE/table.lua" "$OUT/py" "$OUT/ev1" "$OUT/ev2"
