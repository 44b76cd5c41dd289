#!/usr/bin/env bash
# End-to-end: `evallua run` against the fake OpenAI server on the completions endpoint.
# Expected scores are computed here, from the server's documented rules (fake_model.lua)
# and the rules this test writes — not copied from an earlier run.
. "$(dirname "$0")/lib.sh"
need_server
need_data
E2E="$EVALLUA_SRC/tests/e2e"
jqv() { "$EVALLUA" exec "$E2E/jq.lua" "$@"; }

# --- gsm8k, default 5-shot, generation with both of lm-eval's filters -------------------
expected=$("$EVALLUA" exec "$E2E/gsm8k_rules.lua" "$TMP/rules.jsonl" "$EVALLUA_TEST_DATA" 12)
start_server main --rules "$TMP/rules.jsonl"
"$EVALLUA" run --model openai-completions --model_args "base_url=$URL,model=fake-model,api_key=sk-test-SECRET-123" \
  --tasks GSM8K --limit 12 --data-dir "$EVALLUA_TEST_DATA" --output "$TMP/gsm8k.json" --log_samples \
  >"$TMP/gsm8k.out" 2>"$TMP/gsm8k.err"
check_eq "gsm8k exit status" "$?" 0
strict=$(jqv "$TMP/gsm8k.json" "results.gsm8k.exact_match,strict-match")
flex=$(jqv "$TMP/gsm8k.json" "results.gsm8k.exact_match,flexible-extract")
got=$(printf 'strict=%.6f flexible=%.6f' "$strict" "$flex")
check_eq "gsm8k scores" "$got" "$expected"
check_eq "gsm8k n-shot" "$(jqv "$TMP/gsm8k.json" n-shot.gsm8k)" 5
check_eq "gsm8k n-samples" "$(jqv "$TMP/gsm8k.json" n-samples.gsm8k.effective n-samples.gsm8k.original | tr '\n' ' ')" "12 1319 "
check_eq "gsm8k version" "$(jqv "$TMP/gsm8k.json" versions.gsm8k)" 3
check_eq "gsm8k higher_is_better" "$(jqv "$TMP/gsm8k.json" higher_is_better.gsm8k.exact_match)" true
check_eq "throughput requests" "$(jqv "$TMP/gsm8k.json" throughput.requests)" 12
check_eq "requests sent" "$(requests_logged main)" 12
for key in results groups configs versions n-shot higher_is_better n-samples config date total_evaluation_time_seconds throughput; do
  check_lacks "results has $key" "$(jqv "$TMP/gsm8k.json" "$key")" "<missing>"
done
check_has "stderr key" "$(jqv "$TMP/gsm8k.json" "results.gsm8k.exact_match_stderr,strict-match")" "0."
check_has "table header" "$(cat "$TMP/gsm8k.out")" "|Tasks|Version|"
check_has "table row" "$(cat "$TMP/gsm8k.out")" "|gsm8k"
check_has "table filter" "$(cat "$TMP/gsm8k.out")" "flexible-extract"
# stop sequences and generation arguments reached the server
check_has "stop sent" "$(head -1 "$TMP/main.log")" '"stop":["Question:","</s>","<|im_end|>"]'
check_has "max_tokens sent" "$(head -1 "$TMP/main.log")" '"max_tokens":256'
# the API key is never written anywhere
check_lacks "key not in results" "$(cat "$TMP/gsm8k.json")" "SECRET"
check_lacks "key not in samples" "$(cat "$TMP"/samples_gsm8k_*.jsonl)" "SECRET"
check_lacks "key not on stdout/stderr" "$(cat "$TMP/gsm8k.out" "$TMP/gsm8k.err")" "SECRET"
samples=$(ls "$TMP"/samples_gsm8k_*.jsonl | head -1)
check_eq "sample lines (12 docs x 2 filters)" "$(wc -l <"$samples" | tr -d ' ')" 24
check_has "sample fields" "$(head -1 "$samples")" '"filtered_resps":'
check_has "sample resps" "$(head -1 "$samples")" '"resps":[[" Let me compute. #### 18\n\n"]]'

# --- hellaswag and arc_easy, multiple choice through echo + logprobs ---------------------
"$EVALLUA" run --model local-completions --model-args "base_url=$URL,model=fake-model" \
  --tasks hellaswag,ARC-e --num-fewshot 0 --limit 25 --data-dir "$EVALLUA_TEST_DATA" \
  --output "$TMP/mc" --log-samples >"$TMP/mc.out" 2>"$TMP/mc.err"
check_eq "mc exit status" "$?" 0
res=$(ls "$TMP"/mc/fake-model/results_*.json | head -1)
check_has "results file in <dir>/<model>/" "$res" "/mc/fake-model/results_"
"$EVALLUA" exec "$E2E/check_mc.lua" "$res" "$(ls "$TMP"/mc/fake-model/samples_hellaswag_*.jsonl)" hellaswag >"$TMP/check1.out" 2>&1
check_eq "hellaswag acc/acc_norm recomputed" "$?" 0
"$EVALLUA" exec "$E2E/check_mc.lua" "$res" "$(ls "$TMP"/mc/fake-model/samples_arc_easy_*.jsonl)" arc_easy >"$TMP/check2.out" 2>&1
check_eq "arc_easy acc/acc_norm recomputed" "$?" 0
cat "$TMP/check1.out" "$TMP/check2.out" | grep -E "FAIL|failed|acc " || true
check_has "echo request" "$(grep -m1 '"echo":true' "$TMP/main.log")" '"logprobs":1'

# --- lambada_openai: loglikelihood, perplexity with a bootstrap stderr, greedy acc --------
"$EVALLUA" run --model openai-completions --model-args "base_url=$URL,model=fake-model" \
  --tasks lambada_openai --limit 40 --data-dir "$EVALLUA_TEST_DATA" \
  --output "$TMP/ll.json" --log-samples >"$TMP/ll.out" 2>"$TMP/ll.err"
check_eq "lambada exit status" "$?" 0
"$EVALLUA" exec "$E2E/check_ll.lua" "$TMP/ll.json" "$(ls "$TMP"/samples_lambada_openai_*.jsonl)" lambada_openai >"$TMP/check3.out" 2>&1
check_eq "lambada perplexity/acc recomputed" "$?" 0
cat "$TMP/check3.out" | grep -E "FAIL|failed|perplexity " || true

finish
