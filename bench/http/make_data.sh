#!/usr/bin/env bash
# make_data.sh DIR N: write N synthetic documents for the bench_gen task to
# DIR/bench/synthetic/default/test.jsonl (the layout evallua reads with --data-dir DIR).
set -eu
dir=$1 n=$2
mkdir -p "$dir/bench/synthetic/default"
awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++)
  printf "{\"question\":\"What is %d plus %d?\",\"answer\":\"%d\"}\n", i, i % 7, (i % 2) ? 42 : i + i % 7 }' \
  >"$dir/bench/synthetic/default/test.jsonl"
