# test_data_pull.sh — `evallua data pull` against the test server's datasets-server rows API
# (tests/server/rows.c; rules in tests/server/README.md): files equal their source byte for
# byte, a killed pull resumes without fetching a written page again, faults are retried, a 404
# and a refused token are clear errors, and a missing split names its file and the command.
E2E=$(cd "$(dirname "$0")" && pwd)
. "$E2E/lib.sh"
need_server
need_data
ARC="$EVALLUA_TEST_DATA/allenai/ai2_arc/ARC-Easy/test.jsonl"
[ -f "$ARC" ] || { echo "skip: $ARC not found"; exit 77; }
jqv() { "$EVALLUA" exec "$E2E/jq.lua" "$@"; }

# The server's data: ARC-Easy's real test split (2376 rows, 24 pages) and, as the few-shot
# split arc_easy also reads, a synthetic train split of its first 150 rows (2 pages).
SRC="$TMP/src"
SRC_DIR="$SRC/allenai/ai2_arc/ARC-Easy"
mkdir -p "$SRC_DIR"
cp "$ARC" "$SRC_DIR/test.jsonl"
head -n 150 "$ARC" >"$SRC_DIR/train.jsonl"
export EVALLUA_PULL_RETRY_BASE=0.05
unset HF_TOKEN HUGGING_FACE_HUB_TOKEN

pull() { EVALLUA_HF_DATASETS_SERVER="http://127.0.0.1:$PORT" "$EVALLUA" data pull "$@"; }
# gets NAME SPLIT: the offsets of split SPLIT the server NAME answered with 200, sorted
gets() { grep "split=$2 " "$TMP/$1.log" | grep "status=200" | sed 's/.* offset=\([0-9]*\) .*/\1/' | sort -n | tr '\n' ' '; }

# --- the missing-split error names the file and the command that fetches it -----------------
OUT="$TMP/out"
out=$("$EVALLUA" show arc_easy --doc 0 --data-dir "$OUT" 2>&1)
check_eq "show without data exits 2" "$?" "2"
check_has "missing file named" "$out" "expected $OUT/allenai/ai2_arc/ARC-Easy/test.jsonl (or .jsonl.gz, .json, .csv, .tsv)"
check_has "pull command given" "$out" "evallua data pull arc_easy --data-dir $OUT"
out=$("$EVALLUA" run --model openai-completions --model-args base_url=http://127.0.0.1:9/v1,model=m \
  --tasks arc_easy --num-fewshot 1 --data-dir "$OUT" 2>&1)
check_eq "run without data exits 2" "$?" "2"
check_has "run names the few-shot file too" "$out" "$OUT/allenai/ai2_arc/ARC-Easy/train.jsonl"

# --- dry run: what would be fetched --------------------------------------------------------
start_server rows --rows-dir "$SRC" --rows-faults "500@300x1,429@100x1,reset@700x1,cut@2300"
out=$(pull arc_easy --data-dir "$OUT" --dry-run 2>&1)
check_eq "dry run exits 0" "$?" "0"
check_has "dry run lists test" "$out" "missing  allenai/ai2_arc/ARC-Easy/test  (arc_easy)  $OUT/allenai/ai2_arc/ARC-Easy/test.jsonl"
check_has "dry run lists train" "$out" "missing  allenai/ai2_arc/ARC-Easy/train  (arc_easy)"
check_eq "dry run sends nothing" "$(wc -l <"$TMP/rows.log" | tr -d ' ')" "0"

# --- a pull through injected faults: retried, files equal to their source -------------------
out=$(pull ARC-e --data-dir "$OUT" 2>&1)
check_eq "pull exits 0" "$?" "0"
check_has "test fetched" "$out" "fetched  allenai/ai2_arc/ARC-Easy/test  2376 rows -> $OUT/allenai/ai2_arc/ARC-Easy/test.jsonl"
check_has "train fetched" "$out" "fetched  allenai/ai2_arc/ARC-Easy/train  150 rows"
check_has "truncated cells reported" "$out" "allenai/ai2_arc/ARC-Easy/test: 76 rows came with truncated_cells"
cmp -s "$OUT/allenai/ai2_arc/ARC-Easy/test.jsonl" "$SRC_DIR/test.jsonl" && pass || fail "test.jsonl differs from its source"
cmp -s "$OUT/allenai/ai2_arc/ARC-Easy/train.jsonl" "$SRC_DIR/train.jsonl" && pass || fail "train.jsonl differs from its source"
check_eq "the 500 was answered" "$(grep -c 'offset=300 status=500' "$TMP/rows.log")" "1"
check_eq "the 429 was answered" "$(grep -c 'offset=100 status=429' "$TMP/rows.log")" "1"
check_eq "the reset happened" "$(grep -c 'offset=700 status=0' "$TMP/rows.log")" "1"
check_eq "every test page fetched once" "$(gets rows test)" "$(seq 0 100 2300 | tr '\n' ' ')"
check_eq "no .pull folder left" "$(ls -d "$OUT"/allenai/ai2_arc/ARC-Easy/*.pull 2>/dev/null)" ""

# the pulled files are what evallua reads: lm-eval's arc_easy prompt of document 0
head -n 1 "$ARC" >"$TMP/doc0.json"
question=$(jqv "$TMP/doc0.json" question)
out=$("$EVALLUA" show arc_easy --doc 0 --data-dir "$OUT" 2>&1)
check_eq "show on pulled data exits 0" "$?" "0"
check_has "prompt of doc 0" "$out" "Question: $question
Answer:"
check_has "document count" "$out" "document 0 of 2376"

# a second pull sends nothing
before=$(wc -l <"$TMP/rows.log" | tr -d ' ')
out=$(pull arc_easy --data-dir "$OUT" 2>&1)
check_eq "second pull exits 0" "$?" "0"
check_has "present" "$out" "present  allenai/ai2_arc/ARC-Easy/test  $OUT/allenai/ai2_arc/ARC-Easy/test.jsonl"
check_eq "second pull sends nothing" "$(wc -l <"$TMP/rows.log" | tr -d ' ')" "$before"

# --- stopped halfway (SIGTERM, then SIGKILL) and resumed: no written page fetched again ------
# every page from offset 1200 on stalls for a minute: a pull gets exactly 12 pages of test
start_server slow --rows-dir "$SRC" --rows-faults "slow@1200+" --stall-ms 60000
# stop_halfway SIGNAL DIR: start a pull of arc_easy's test split into DIR, wait for its 12
# pages, send SIGNAL; sets STOP_RC and leaves the pull's output in $TMP/stopped.out
stop_halfway() {
  local part="$2/allenai/ai2_arc/ARC-Easy/test.jsonl.pull" puller _
  EVALLUA_HF_DATASETS_SERVER="http://127.0.0.1:$PORT" "$EVALLUA" data pull arc_easy --splits test \
    --data-dir "$2" --concurrency 4 >"$TMP/stopped.out" 2>&1 &
  puller=$!
  for _ in $(seq 200); do
    [ "$(ls "$part" 2>/dev/null | grep -c '^page-.*jsonl$')" -ge 12 ] && break
    sleep 0.05
  done
  kill "-$1" "$puller"
  wait "$puller" 2>/dev/null
  STOP_RC=$?
  [ "$(ls "$part" 2>/dev/null | grep -c '^page-.*jsonl$')" -ge 12 ] || cat "$TMP/stopped.out" "$TMP/slow.err"
  check_eq "$1: 12 pages on disk" "$(ls "$part" | grep -c '^page-.*jsonl$')" "12"
  [ -e "$2/allenai/ai2_arc/ARC-Easy/test.jsonl" ] && fail "$1: a stopped pull left test.jsonl" || pass
}
# (SIGTERM is handled as Ctrl-C is; a background job of a script ignores SIGINT)
stop_halfway TERM "$TMP/out_term"
check_eq "SIGTERM exits 130" "$STOP_RC" "130"
check_has "SIGTERM reported" "$(cat "$TMP/stopped.out")" "interrupted  allenai/ai2_arc/ARC-Easy/test: 12 of 24 pages kept in $TMP/out_term/allenai/ai2_arc/ARC-Easy/test.jsonl.pull"
check_has "SIGTERM says how to resume" "$(cat "$TMP/stopped.out")" "run the same command again to resume"
OUT2="$TMP/out2"
stop_halfway KILL "$OUT2"
check_eq "SIGKILL status" "$STOP_RC" "137"
start_server resume --rows-dir "$SRC"
out=$(pull arc_easy --splits test --data-dir "$OUT2" 2>&1)
check_eq "resumed pull exits 0" "$?" "0"
check_has "resume reported" "$out" "2376 rows (12 of 24 pages resumed)"
check_eq "resume fetches only the missing pages" "$(gets resume test)" "$(seq 1200 100 2300 | tr '\n' ' ')"
cmp -s "$OUT2/allenai/ai2_arc/ARC-Easy/test.jsonl" "$SRC_DIR/test.jsonl" && pass || fail "resumed test.jsonl differs from its source"

# --- --limit-rows, then a full pull completes the same file ---------------------------------
OUT3="$TMP/out3"
out=$(pull arc_easy --splits test --data-dir "$OUT3" --limit-rows 150 2>&1)
check_eq "limited pull exits 0" "$?" "0"
check_has "limit noted" "$out" "--limit-rows 150 wrote the first 150 of 2376 rows"
cmp -s "$OUT3/allenai/ai2_arc/ARC-Easy/test.jsonl" <(head -n 150 "$ARC") && pass || fail "limited file is not the first 150 rows"
out=$("$EVALLUA" show arc_easy --data-dir "$OUT3" 2>&1)
check_has "show notes a partial file" "$out" "note: $OUT3/allenai/ai2_arc/ARC-Easy/test.jsonl may hold only part of its split"
check_has "show on a partial file" "$out" "document 0 of 150"
before=$(gets resume test | wc -w)
out=$(pull arc_easy --splits test --data-dir "$OUT3" 2>&1)
check_eq "completing pull exits 0" "$?" "0"
check_eq "completing pull fetches 22 pages" "$(($(gets resume test | wc -w) - before))" "22"
cmp -s "$OUT3/allenai/ai2_arc/ARC-Easy/test.jsonl" "$ARC" && pass || fail "completed file differs from its source"

# --- errors: 404 with the URL, a server that keeps failing, a refused token -----------------
out=$(pull hellaswag --splits validation --data-dir "$OUT" 2>&1)
check_eq "404 exits 1" "$?" "1"
check_has "404 names the URL" "$out" "HTTP 404 from http://127.0.0.1:$PORT/rows?dataset=Rowan/hellaswag&config=default&split=validation&offset=0&length=100: The dataset does not exist"
# a task file naming a split the dataset lacks: the error lists the splits /splits reports
mkdir -p "$TMP/tasks"
cat >"$TMP/tasks/arc_val.lua" <<'LUA'
return {
  name = "arc_val",
  dataset = { path = "allenai/ai2_arc", name = "ARC-Easy", test_split = "validation" },
  doc_to_text = "Question: {{question}}\nAnswer:",
  doc_to_target = "{{answerKey}}",
}
LUA
out=$(pull arc_val --include-path "$TMP/tasks" --data-dir "$OUT" 2>&1)
check_eq "unknown split exits 1" "$?" "1"
check_has "unknown split: the server's words" "$out" "split=validation&offset=0&length=100: The config or the split does not exist in the dataset; the API lists for allenai/ai2_arc (config/split): "
check_has "unknown split: what exists" "$out" "ARC-Easy/train"
start_server broken --rows-dir "$SRC" --rows-faults "503@0+"
out=$(pull arc_easy --splits train --data-dir "$TMP/out4" --max-retries 2 2>&1)
check_eq "persistent 503 exits 1" "$?" "1"
check_has "gives up after 3 attempts" "$out" "HTTP 503 from http://127.0.0.1:$PORT/rows?dataset=allenai/ai2_arc&config=ARC-Easy&split=train&offset=0&length=100: injected failure (offset 0) (gave up after 3 attempts)"
start_server gated --rows-dir "$SRC" --require-key hf_secret_token
out=$(pull arc_easy --splits train --data-dir "$TMP/out5" 2>&1)
check_eq "no token exits 1" "$?" "1"
check_has "401 hint" "$out" "HTTP 401 from"
check_has "401 names HF_TOKEN" "$out" "needs HF_TOKEN"
out=$(HF_TOKEN=hf_secret_token pull arc_easy --splits train --data-dir "$TMP/out5" 2>&1)
check_eq "token accepted" "$?" "0"
check_lacks "token never printed" "$out" "hf_secret_token"
# --force fetches a present split again; the progress display (not a terminal here) ends with
# the final state of each split
out=$(HF_TOKEN=hf_secret_token EVALLUA_NO_PROGRESS=0 pull arc_easy --data-dir "$TMP/out5" --force 2>&1)
check_eq "forced pull exits 0" "$?" "0"
check_has "forced pull fetches again" "$out" "fetched  allenai/ai2_arc/ARC-Easy/train  150 rows"
check_has "progress: split line" "$out" "allenai/ai2_arc/ARC-Easy/train  2/2 pages (100%)  150/150 rows"
check_has "progress: overall line" "$out" "all                             26/26 pages (100%)  2526/2526 rows"
check_eq "forced pull asked twice for train's first page" "$(grep -c 'split=train offset=0 status=200' "$TMP/gated.log")" "2"
out=$("$EVALLUA" data fetch arc_easy 2>&1)
check_eq "unknown data command exits 2" "$?" "2"
check_has "unknown data command" "$out" "unknown data command 'fetch'"
finish
