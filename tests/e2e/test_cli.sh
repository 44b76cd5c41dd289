#!/usr/bin/env bash
# End-to-end: the commands a user types to learn and iterate — help, version, list, show —
# and the errors for bad input (unknown task or flag, broken task file, malformed data).
. "$(dirname "$0")/lib.sh"
need_data

out=$("$EVALLUA" --help)
check_eq "--help exit" "$?" 0
check_has "--help lists run" "$out" "evallua run"
check_has "--version" "$("$EVALLUA" --version)" "evallua "
out=$("$EVALLUA" run --help)
check_has "run --help" "$out" "--num_fewshot"
check_has "run --help lm-eval spelling" "$out" "--output_path"
check_has "run --help model args" "$out" "base_url"

out=$("$EVALLUA" list)
check_eq "list exit" "$?" 0
for t in gsm8k hellaswag arc_easy arc_challenge; do check_has "list has $t" "$out" "$t"; done
check_has "list shows output type" "$out" "generate_until"

out=$("$EVALLUA" show gsm8k --doc 0 --num-fewshot 0 --data-dir "$EVALLUA_TEST_DATA")
check_eq "show exit" "$?" 0
check_has "show context" "$out" "Question: Janet"
check_has "show until" "$out" '["Question:","</s>","<|im_end|>"]'
check_has "show target" "$out" "#### 18"
out=$("$EVALLUA" show ARC-Challenge --doc 2 --data-dir "$EVALLUA_TEST_DATA")
check_has "show choices" "$out" 'loglikelihood continuation " '
check_has "show doc index" "$out" "document 2 of 1172"

# unknown task: suggestion and exit 2
out=$("$EVALLUA" run --tasks hellaswag2 --model_args base_url=http://127.0.0.1:1/v1,model=m 2>&1)
check_eq "unknown task exit" "$?" 2
check_has "unknown task suggestion" "$out" "did you mean hellaswag"
out=$("$EVALLUA" run --num-fewshots 3 2>&1)
check_eq "unknown flag exit" "$?" 2
check_has "unknown flag suggestion" "$out" "did you mean --num-fewshot"

# a task file edited between two runs: the change shows without recompiling
mkdir -p "$TMP/tasks"
cat >"$TMP/tasks/mine.lua" <<'LUA'
return {
  name = "mine",
  dataset = { path = "openai/gsm8k", name = "main", test_split = "test" },
  doc_to_text = "Q: {{question}}\nA:",
  doc_to_target = "{{answer}}",
}
LUA
out=$("$EVALLUA" show mine --include-path "$TMP/tasks" --data-dir "$EVALLUA_TEST_DATA")
check_has "custom task shown" "$out" "Q: Janet"
sed -i 's/Q: {{question}}/Problem: {{question}}/' "$TMP/tasks/mine.lua"
out=$("$EVALLUA" show mine --include-path "$TMP/tasks" --data-dir "$EVALLUA_TEST_DATA")
check_has "edited prompt picked up" "$out" "Problem: Janet"
out=$(EVALLUA_PATH="$TMP/tasks" "$EVALLUA" list)
check_has "EVALLUA_PATH" "$out" "mine"
out=$("$EVALLUA" show "$TMP/tasks/mine.lua" --data-dir "$EVALLUA_TEST_DATA")
check_has "task by file path" "$out" "Problem: Janet"

# a broken task file: file:line, exit 2
printf 'return {\n  name = "broken",\n  doc_to_text = "a" "b",\n}\n' >"$TMP/tasks/broken.lua"
out=$("$EVALLUA" list --include-path "$TMP/tasks" 2>&1)
check_eq "broken task exit" "$?" 2
check_has "broken task file:line" "$out" "$TMP/tasks/broken.lua:3:"
rm "$TMP/tasks/broken.lua"

# malformed data line: file:line
mkdir -p "$TMP/data/openai/gsm8k/main"
printf '{"question": "a", "answer": "#### 1"}\n{"question": oops}\n' >"$TMP/data/openai/gsm8k/main/test.jsonl"
out=$("$EVALLUA" show mine --include-path "$TMP/tasks" --data-dir "$TMP/data" 2>&1)
check_eq "malformed data exit" "$?" 2
check_has "malformed data file:line" "$out" "$TMP/data/openai/gsm8k/main/test.jsonl:2"
# missing split: the path expected
out=$("$EVALLUA" show hellaswag --data-dir "$TMP/data" 2>&1)
check_eq "missing data exit" "$?" 2
check_has "missing data path" "$out" "$TMP/data/Rowan/hellaswag/default/validation.jsonl"
check_has "missing data names task" "$out" "task 'hellaswag'"

# a suite file, with a flag overriding it
cat >"$TMP/suite.lua" <<'LUA'
return { model = "openai-completions", model_args = { base_url = "http://127.0.0.1:1/v1", model = "m" },
         tasks = { "gsm8k" }, limit = 2, num_fewshot = 0 }
LUA
out=$("$EVALLUA" run "$TMP/suite.lua" --data-dir "$EVALLUA_TEST_DATA" --model_args base_url=http://127.0.0.1:1/v1,model=m,max_retries=0 2>&1)
check_eq "suite run reaches the backend" "$?" 1
check_has "suite run names the URL" "$out" "127.0.0.1:1"
printf 'return { modle = "x" }\n' >"$TMP/bad_suite.lua"
out=$("$EVALLUA" run "$TMP/bad_suite.lua" 2>&1)
check_eq "bad suite exit" "$?" 2
check_has "bad suite field" "$out" "unknown suite field 'modle'"

finish
