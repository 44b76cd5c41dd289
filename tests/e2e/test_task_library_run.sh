#!/usr/bin/env bash
# End-to-end: every shipped task family with data runs 20 documents against the fake
# OpenAI server and reports the metrics it declares. One representative per family with
# data in $EVALLUA_TEST_DATA (the real files), then the tasks whose data is synthetic
# (tests/fixtures/data), where server rules make the expected scores computable by hand.
. "$(dirname "$0")/lib.sh"
need_server
need_data
E2E="$EVALLUA_SRC/tests/e2e"
FIX="$EVALLUA_SRC/tests/fixtures/data"
jqv() { "$EVALLUA" exec "$E2E/jq.lua" "$@"; }
num() { printf '%.6f' "$1"; }

# --- every family with real data: 20 documents each, declared metrics present and sane ------
HUB_TASKS="arc_easy arc_challenge hellaswag winogrande piqa boolq copa rte wsc273 truthfulqa_mc1
truthfulqa_gen openbookqa lambada_openai gsm8k gsm8k_cot gsm8k_cot_llama gsm8k_cot_zeroshot
hendrycks_math_algebra hendrycks_math500 minerva_math_algebra minerva_math500 math500 aime24 mathqa
medqa_4options medmcqa pubmedqa logiqa triviaqa nq_open ifeval bbh_cot_fewshot_boolean_expressions
bbh_fewshot_boolean_expressions mmlu_abstract_algebra humaneval mbpp"
start_server main
"$EVALLUA" run --model openai-completions --model-args "base_url=$URL,model=fake-model" \
  --tasks "$(echo $HUB_TASKS | tr ' ' ',')" --limit 20 --data-dir "$EVALLUA_TEST_DATA" \
  --confirm_run_unsafe_code --no-progress --output "$TMP/hub.json" >"$TMP/hub.out" 2>"$TMP/hub.err"
check_eq "library run exit status" "$?" 0
"$EVALLUA" exec "$E2E/check_library.lua" "$TMP/hub.json" 20 $HUB_TASKS >"$TMP/hub.check" 2>&1
check_eq "every task reports its declared metrics ($(tail -1 "$TMP/hub.check"))" "$?" 0
grep FAIL "$TMP/hub.check" || true
check_eq "aime24: 10 repeats per document" "$(jqv "$TMP/hub.json" 'results.aime24.accuracy_per_repeat,boxed' | tr -cd ',' | wc -c | tr -d ' ')" 9

# --- tasks on synthetic fixtures: scores worked out from the rules below -------------------
cat >"$TMP/rules.jsonl" <<'RULES'
{"suffix": "In what country is Normandy located?\n\nAnswer:", "text": " France\nQuestion: next"}
{"suffix": "How many points did the Bears score in the first half?", "text": " 17 points. More text"}
{"suffix": "Q: Where does she work?\n\nA:", "text": " at the bakery\nQ: next"}
{"suffix": "Question: Where was she born?\nAnswer:", "text": " London, England\n\nmore"}
{"suffix": "Statute: The agency shall publish a report.\nAnswer:", "text": "  No.\nStatute: x"}
RULES
start_server fix --rules "$TMP/rules.jsonl"
FIX_TASKS="commonsense_qa race drop coqa squadv2 quac legalbench_abercrombie legalbench_corporate_lobbying
legalbench_function_of_decision_section legalbench_international_citizenship_questions legalbench_proa"
"$EVALLUA" run --model openai-completions --model-args "base_url=$URL,model=fake-model" \
  --tasks CommonsenseQA,RACE,DROP,CoQA,SQuAD2,QuAC,LegalBench --limit 20 --data-dir "$FIX" \
  --no-progress --output "$TMP/fix.json" >"$TMP/fix.out" 2>"$TMP/fix.err"
check_eq "fixture run exit status" "$?" 0
"$EVALLUA" exec "$E2E/check_library.lua" "$TMP/fix.json" 20 $FIX_TASKS >"$TMP/fix.check" 2>&1
check_eq "fixture tasks report their declared metrics ($(tail -1 "$TMP/fix.check"))" "$?" 0
grep FAIL "$TMP/fix.check" || true
# squadv2: doc 0 "France" right (100), the other two wrong -> 100/3 for exact and f1
check_eq "squadv2 exact" "$(num "$(jqv "$TMP/fix.json" 'results.squadv2.exact,none')")" "33.333333"
check_eq "squadv2 f1" "$(num "$(jqv "$TMP/fix.json" 'results.squadv2.f1,none')")" "33.333333"
# HasAns: docs 0 (right) and 2 (wrong) -> 50; NoAns: doc 1 answered with text -> 0; no stderr
check_eq "squadv2 HasAns_exact" "$(num "$(jqv "$TMP/fix.json" 'results.squadv2.HasAns_exact,none')")" "50.000000"
check_eq "squadv2 HasAns_f1" "$(num "$(jqv "$TMP/fix.json" 'results.squadv2.HasAns_f1,none')")" "50.000000"
check_eq "squadv2 NoAns_exact" "$(num "$(jqv "$TMP/fix.json" 'results.squadv2.NoAns_exact,none')")" "0.000000"
check_eq "squadv2 HasAns stderr" "$(jqv "$TMP/fix.json" 'results.squadv2.HasAns_exact_stderr,none')" "N/A"
# drop: " 17 points" (cut at ".") -> em 0, f1 0.67 on doc 0; 0 elsewhere
check_eq "drop em" "$(num "$(jqv "$TMP/fix.json" 'results.drop.em,none')")" "0.000000"
check_eq "drop f1" "$(num "$(jqv "$TMP/fix.json" 'results.drop.f1,none')")" "0.223333"
# coqa: "at the bakery" -> em 3/4, f1 11/12 (leave-one-out over 4 golds); doc 1 wrong
check_eq "coqa em" "$(num "$(jqv "$TMP/fix.json" 'results.coqa.em,none')")" "0.375000"
check_eq "coqa f1" "$(num "$(jqv "$TMP/fix.json" 'results.coqa.f1,none')")" "0.458333"
# quac: "London, England" -> best f1 2/3 on doc 0; doc 1 wrong
check_eq "quac f1" "$(num "$(jqv "$TMP/fix.json" 'results.quac.f1,none')")" "0.333333"
# legalbench: proa's one document "  No." -> "No." matches "No" (case, punctuation ignored);
# the group is the unweighted mean of the five tasks
check_eq "legalbench_proa" "$(num "$(jqv "$TMP/fix.json" 'results.legalbench_proa.exact_match,get-answer')")" "1.000000"
check_eq "legalbench group" "$(num "$(jqv "$TMP/fix.json" 'results.legalbench.exact_match,get-answer')")" "0.200000"
check_eq "race n-samples" "$(jqv "$TMP/fix.json" n-samples.race.effective)" 2

# --- names users type are listed, and show renders a fixture document ---------------------
"$EVALLUA" list >"$TMP/list.out" 2>&1
for alias in MMLU HellaSwag ARC-c ARC-Challenge ARC-e MATH500 AIME24 HumanEval TruthfulQA \
    CommonsenseQA SQuAD2 SQuADv2 DROP CoQA QuAC RACE LegalBench; do
  check_has "evallua list shows $alias" "$(cat "$TMP/list.out")" "$alias"
done
"$EVALLUA" show SQuADv2 --doc 0 --data-dir "$FIX" >"$TMP/show.out" 2>&1
check_has "show squadv2 doc 0" "$(cat "$TMP/show.out")" "$(printf 'context:\nTitle: Normans\n\nBackground: The Normans gave their name to Normandy, a region in France.\n\nQuestion: In what country is Normandy located?\n\nAnswer:\n---')"
"$EVALLUA" show commonsense_qa --doc 0 --num-fewshot 1 --data-dir "$FIX" >"$TMP/show2.out" 2>&1
check_has "show commonsense_qa 1-shot" "$(cat "$TMP/show2.out")" "$(printf 'Answer: D\n\nQuestion: Where would you put a plate after washing it?\nA. oven')"
# --- bad data stops the run before any request is sent ----------------------------------------
mkdir -p "$TMP/bad/tau/commonsense_qa/default"
cp "$FIX/tau/commonsense_qa/default/validation.jsonl" "$TMP/bad/tau/commonsense_qa/default/validation.jsonl"
echo '{"id": "x", "question": "Q", "choices": {"label": ["A"], "text": ["a", "b", "c", "d", "e"]}, "answerKey": "G"}' \
  >>"$TMP/bad/tau/commonsense_qa/default/validation.jsonl"
start_server bad
"$EVALLUA" run --model openai-completions --model-args "base_url=$URL,model=fake-model" \
  --tasks commonsense_qa --data-dir "$TMP/bad" --no-progress --output "$TMP/bad.json" >"$TMP/bad.out" 2>"$TMP/bad.err"
check_eq "bad document: exit status 2" "$?" 2
check_has "bad document: named" "$(cat "$TMP/bad.err")" "document 3: target 'G' is not one of the choices ($TMP/bad/tau/commonsense_qa/default/validation.jsonl:4)"
check_eq "bad document: no request sent" "$(requests_logged bad)" 0
finish
