# lib.sh — helpers for end-to-end tests: checks, a temp dir, and the fake OpenAI server.
# Source it; it sets TMP and cleans up servers and files on exit.
set -u
if [ -z "${EVALLUA:-}" ] || [ ! -x "$EVALLUA" ]; then echo "skip: EVALLUA is not set"; exit 77; fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/evallua_e2e.XXXXXX")
# each test gets its own response cache (and never touches the user's); runs of one test
# share it, so a run that must reach the server passes --no-cache or its own --cache PATH
export XDG_CACHE_HOME="$TMP/cache"
SERVER_PIDS=()
e2e_cleanup() {
  local p
  for p in "${SERVER_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${SERVER_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap e2e_cleanup EXIT

PASS=0
FAIL=0
pass() { PASS=$((PASS + 1)); }
fail() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }
check_eq() { if [ "$2" == "$3" ]; then pass; else fail "$1: got '$2', want '$3'"; fi; }
check_has() { if [[ "$2" == *"$3"* ]]; then pass; else fail "$1: '$3' not in: $2"; fi; }
check_lacks() { if [[ "$2" != *"$3"* ]]; then pass; else fail "$1: '$3' unexpectedly in: $2"; fi; }
finish() { echo "$PASS passed, $FAIL failed"; [ "$FAIL" -eq 0 ]; exit $?; }

need_server() {
  if [ -z "${FAKE_OPENAI:-}" ] || [ ! -x "$FAKE_OPENAI" ]; then echo "skip: FAKE_OPENAI not built"; exit 77; fi
}
need_data() {
  if [ -z "${EVALLUA_TEST_DATA:-}" ] || [ ! -d "$EVALLUA_TEST_DATA" ]; then
    echo "skip: benchmark data not found (EVALLUA_TEST_DATA=${EVALLUA_TEST_DATA:-unset})"; exit 77
  fi
}

# start_server NAME [fake_openai args...]: sets PORT and URL (http://127.0.0.1:PORT/v1).
start_server() {
  local name=$1 i
  shift
  "$FAKE_OPENAI" --port 0 --port-file "$TMP/$name.port" --lifetime 300 --log "$TMP/$name.log" "$@" \
    2>"$TMP/$name.err" &
  SERVER_PIDS+=("$!")
  for i in $(seq 100); do
    if [ -s "$TMP/$name.port" ]; then
      PORT=$(cat "$TMP/$name.port")
      URL="http://127.0.0.1:$PORT/v1"
      return 0
    fi
    sleep 0.05
  done
  echo "server $name did not start: $(cat "$TMP/$name.err")"
  exit 1
}

# requests_logged NAME: how many POSTs the server NAME received
requests_logged() { if [ -f "$TMP/$1.log" ]; then wc -l <"$TMP/$1.log" | tr -d ' '; else echo 0; fi; }
