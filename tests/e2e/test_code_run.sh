#!/usr/bin/env bash
# End-to-end: HumanEval through the fake server and the code-execution sandbox. Without
# consent the run stops before sending anything; with --confirm_run_unsafe_code the
# canonical solutions pass and wrong bodies fail (expected pass@1 from the rules written here).
. "$(dirname "$0")/lib.sh"
need_server
need_data
command -v python3 >/dev/null || { echo "skip: python3 (the interpreter of model code) not found"; exit 77; }
E2E="$EVALLUA_SRC/tests/e2e"
jqv() { "$EVALLUA" exec "$E2E/jq.lua" "$@"; }
expected=$("$EVALLUA" exec "$E2E/code_rules.lua" "$TMP/rules.jsonl" "$EVALLUA_TEST_DATA" 6)
start_server code --rules "$TMP/rules.jsonl"
"$EVALLUA" run --model openai-completions --model_args "base_url=$URL,model=m" --tasks humaneval --limit 6 \
  --data-dir "$EVALLUA_TEST_DATA" >"$TMP/noconsent.out" 2>"$TMP/noconsent.err"
check_eq "no consent exit" "$?" 2
check_has "no consent message" "$(cat "$TMP/noconsent.err")" "--confirm_run_unsafe_code"
check_eq "nothing sent without consent" "$(requests_logged code)" 0
"$EVALLUA" run --model openai-completions --model_args "base_url=$URL,model=m" --tasks HumanEval --limit 6 \
  --data-dir "$EVALLUA_TEST_DATA" --confirm_run_unsafe_code --output "$TMP/he.json" >"$TMP/he.out" 2>"$TMP/he.err"
check_eq "humaneval exit" "$?" 0
got=$(printf 'pass@1=%.6f' "$(jqv "$TMP/he.json" "results.humaneval.pass@1,create_test")")
check_eq "humaneval pass@1" "$got" "$expected"
finish
