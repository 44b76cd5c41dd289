#!/usr/bin/env bash
# End-to-end: `evallua run --model native` on the real tiny llama in ../shared/models
# (stories260K.gguf): multiple choice, loglikelihood and generation through the in-process
# backend, the throughput block, and clear errors for a missing file or device=cuda.
# (The numbers themselves are checked against a direct forward pass in unit.native_backend.)
. "$(dirname "$0")/lib.sh"
need_data
MODEL="${EVALLUA_TEST_MODELS:-}/stories260K.gguf"
if [ ! -f "$MODEL" ]; then echo "skip: $MODEL not found"; exit 77; fi
jqv() { "$EVALLUA" exec "$EVALLUA_SRC/tests/e2e/jq.lua" "$@"; }

"$EVALLUA" run --model native --model_args "path=$MODEL,threads=2" --tasks hellaswag,lambada_openai,gsm8k \
  --num_fewshot 0 --limit 8 --gen_kwargs max_gen_toks=16 --data-dir "$EVALLUA_TEST_DATA" \
  --output "$TMP/native.json" --log_samples >"$TMP/native.out" 2>"$TMP/native.err"
check_eq "native run exit" "$?" 0
acc=$(jqv "$TMP/native.json" "results.hellaswag.acc,none")
check_eq "hellaswag acc is a fraction of 8" "$(awk -v a="$acc" 'BEGIN { x = a * 8; print (x == int(x) && a >= 0 && a <= 1) ? "yes" : "no" }')" yes
ppl=$(jqv "$TMP/native.json" "results.lambada_openai.perplexity,none")
check_eq "lambada perplexity > 1" "$(awk -v p="$ppl" 'BEGIN { print (p > 1) ? "yes" : "no" }')" yes
check_has "gsm8k scored" "$(jqv "$TMP/native.json" "results.gsm8k.exact_match,strict-match")" "0"
check_eq "native throughput block" "$(jqv "$TMP/native.json" throughput.native.arch)" llama
check_lacks "peak memory recorded" "$(jqv "$TMP/native.json" throughput.native.peak_rss_bytes)" "<missing>"
check_eq "requests" "$(jqv "$TMP/native.json" throughput.requests)" $((8 * 4 + 8 + 8))
samples=$(ls "$TMP"/samples_gsm8k_*.jsonl | head -1)
check_has "generation recorded" "$(head -1 "$samples")" '"resps":[["'
# the second run is answered from the cache
"$EVALLUA" run --model native --model_args "path=$MODEL,threads=2" --tasks hellaswag --num_fewshot 0 --limit 8 \
  --data-dir "$EVALLUA_TEST_DATA" --output "$TMP/native2.json" >/dev/null 2>&1
check_eq "cached rerun" "$(jqv "$TMP/native2.json" throughput.cached)" 32
check_eq "same acc from the cache" "$(jqv "$TMP/native2.json" "results.hellaswag.acc,none")" "$acc"

out=$("$EVALLUA" run --model native --model_args path=/nonexistent.gguf --tasks hellaswag --limit 1 --data-dir "$EVALLUA_TEST_DATA" 2>&1)
check_eq "missing model exit" "$?" 2
check_has "missing model message" "$out" "/nonexistent.gguf"
# documents longer than ctx: cut from the left (lm-eval's rule), counted per task
"$EVALLUA" run --model native --model_args "path=$MODEL,threads=2,ctx=72" --tasks hellaswag --num_fewshot 0 \
  --limit 4 --no-cache --data-dir "$EVALLUA_TEST_DATA" --output "$TMP/short.json" >"$TMP/short.out" 2>&1
check_eq "short ctx exit" "$?" 0
check_eq "per-task truncated documents" "$(jqv "$TMP/short.json" "results.hellaswag.samples_context_truncated")" 2
check_eq "truncated requests" "$(jqv "$TMP/short.json" throughput.native.truncated)" 5
check_has "truncation reported" "$(cat "$TMP/short.out")" "hellaswag: 2 of 4 documents were longer than the context length"
printf 'not a model\n' >"$TMP/fake.gguf"
out=$("$EVALLUA" run --model native --model_args "path=$TMP/fake.gguf" --tasks hellaswag --limit 1 --data-dir "$EVALLUA_TEST_DATA" 2>&1)
check_eq "non-GGUF exit" "$?" 2
check_has "non-GGUF message" "$out" "fake.gguf: not a GGUF file"
out=$("$EVALLUA" run --model native --model_args "path=$MODEL,device=cuda" --tasks hellaswag --limit 1 --data-dir "$EVALLUA_TEST_DATA" 2>&1)
rc=$?
if [ "$rc" -ne 0 ]; then   # no GPU here, or built without CUDA (with a GPU the run succeeds)
  check_eq "device=cuda exit" "$rc" 2
  check_has "device=cuda message" "$out" "device=cuda"
fi
out=$("$EVALLUA" run --model native --model_args "path=$MODEL,device=tpu" --tasks hellaswag --limit 1 --data-dir "$EVALLUA_TEST_DATA" 2>&1)
check_eq "device=tpu exit" "$?" 2
check_has "device=tpu message" "$out" "device=tpu"
finish
