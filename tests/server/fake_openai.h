/* fake_openai.h — internal contract of the deterministic OpenAI-compatible test server.
 *
 * The rules every function here implements are written out in tests/server/README.md;
 * tests compute expected values from that text, so the two must change together.
 * Everything leaving a file is prefixed fo_ so nothing clashes with evallua_core. */
#ifndef EVALLUA_TESTS_FAKE_OPENAI_H
#define EVALLUA_TESTS_FAKE_OPENAI_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>

#include <cjson/cJSON.h>

#include "util/buf.h"

/* ---- rules (rules.c) -------------------------------------------------------------- */

typedef struct fo_rule {
    char *suffix;    /* matched against the end of the prompt / last user message */
    char *text;      /* generated text ("" when the rule's text is null) */
    char *reasoning; /* chat reasoning_content, or NULL */
    int text_null;   /* the rule's "text" is null: chat content is sent as null */
} fo_rule;

typedef struct fo_rules {
    fo_rule *items;
    size_t count;
} fo_rules;

/* Load a JSONL rules file; on error fill err (naming file:line) and return -1. */
int fo_rules_load(fo_rules *rules, const char *path, char *err, size_t errlen);
/* Free every rule. */
void fo_rules_free(fo_rules *rules);
/* First rule whose suffix `prompt` ends with, or NULL (caller uses the default text). */
const fo_rule *fo_rules_match(const fo_rules *rules, const char *prompt);

/* ---- server configuration and state (main.c fills it, http.c reads it) ---------------- */

/* What the fault injection does to one POST request (faults.c). */
typedef enum fo_fault {
    FO_FAULT_NONE = 0,
    FO_FAULT_STATUS,   /* the failure status (--fail-status, or 500/429 from --faults) */
    FO_FAULT_GARBAGE,  /* 200 with a non-JSON body */
    FO_FAULT_TRUNCATE, /* 200 with half the real body */
    FO_FAULT_RESET,    /* the connection is reset, no reply */
    FO_FAULT_STALL     /* the reply waits --stall-ms */
} fo_fault;

/* --faults: percentages of requests (0-100 in all) that get each fault, chosen by hashing
   the request number with --fault-seed. */
typedef struct fo_fault_mix {
    long p500, p429, reset, truncate, stall; /* percent */
    long seed;
} fo_fault_mix;

/* --quirks: behaviours of real servers that clients must cope with. */
typedef struct fo_quirks {
    int logprobs_bool;    /* "logprobs-bool": /v1/completions wants logprobs as a boolean */
    int no_echo_logprobs; /* "no-echo-logprobs": echo together with logprobs is rejected */
} fo_quirks;

/* --rows-dir, --rows-faults: the datasets-server rows API (rows.c). */
typedef enum fo_rows_kind { FO_ROWS_STATUS, FO_ROWS_RESET, FO_ROWS_SLOW, FO_ROWS_CUT } fo_rows_kind;

typedef struct fo_rows_fault {
    fo_rows_kind kind;
    unsigned status;  /* FO_ROWS_STATUS */
    long offset;      /* the page's offset, or the first one with open_ended */
    int open_ended;   /* "OFFSET+": every page from offset on */
    long times;       /* hits before it stops applying; 0: always */
    atomic_long hits;
} fo_rows_fault;

typedef struct fo_rows {
    const char *dir;  /* hub layout: DIR/<dataset id>/<config>/<split>.jsonl */
    fo_rows_fault *faults;
    size_t n_faults;
} fo_rows;

typedef struct fo_server {
    const char *model;        /* --model */
    const char *require_key;  /* --require-key, or NULL */
    long fail_first, fail_every, fail_status, garbage_every, truncate_every;
    long reset_every, stall_every, stall_ms;
    long delay_ms;            /* --delay-ms */
    double retry_after;       /* --retry-after seconds; < 0: no header */
    long retry_after_date;    /* --retry-after-date 1: send it as an HTTP-date */
    long max_context;         /* --max-context tokens; 0: no limit */
    long threads;             /* --threads: worker threads of the daemon */
    fo_fault_mix faults;      /* --faults, --fault-seed */
    fo_quirks quirks;         /* --quirks */
    fo_rules rules;
    FILE *log;                /* --log, or NULL */
    long log_times;           /* --log-times 1: each log line carries the arrival time */
    double start_ms;          /* when the server started (monotonic ms) */
    pthread_mutex_t lock;     /* serialises request numbering and log lines */
    atomic_long requests;     /* POST requests seen so far */
    fo_rows *rows;            /* the rows API, or NULL */
} fo_server;

/* An HTTP reply. Each connection keeps one and reuses it for every request it carries, so
   the body's allocation is made once per connection, not once per request. */
typedef struct fo_reply {
    unsigned status;
    buf body;           /* the body; its allocation outlives the request */
    const char *ctype;
    double retry_after; /* >= 0: send "Retry-After: retry_after"; -1: no header */
    int retry_as_date;  /* send it as the HTTP-date retry_after seconds from now instead */
} fo_reply;

/* One parsed HTTP request as the routes see it. http.c fills it; every pointer points into
   the connection's input buffer and is valid only during the route call. */
#define FO_MAX_QUERY_ARGS 16
typedef struct fo_request {
    const char *method;
    const char *path;      /* percent-decoded, without the query string */
    const char *auth;      /* the Authorization header, or NULL */
    const char *body;      /* body_len bytes, NUL-terminated */
    size_t body_len;
    int too_large;         /* the body was over the 64 MiB limit and was dropped */
    size_t n_args;         /* query arguments, percent-decoded, in order */
    const char *arg_key[FO_MAX_QUERY_ARGS];
    const char *arg_value[FO_MAX_QUERY_ARGS];
} fo_request;

/* The value of query argument `key` (the first one when repeated), or NULL. */
const char *fo_request_arg(const fo_request *rq, const char *key);

/* Parse the --faults spec ("500:5,429:5,reset:4,truncate:3,stall:3"); -1 with err. */
int fo_faults_parse(fo_fault_mix *mix, const char *spec, char *err, size_t errlen);
/* Parse the --quirks list ("logprobs-bool,no-echo-logprobs"); -1 with err. */
int fo_quirks_parse(fo_quirks *q, const char *spec, char *err, size_t errlen);
/* The fault for POST request n; *status gets the status of an FO_FAULT_STATUS. */
fo_fault fo_fault_for(const fo_server *srv, long n, unsigned *status);

/* Fill r with status and {"error":{"message":msg,"type":type}}. */
void fo_reply_error(fo_reply *r, unsigned status, const char *type, const char *msg);
/* Fill r with status 200 and the unformatted print of json (json is not freed). */
void fo_reply_json(fo_reply *r, const cJSON *json);
/* Fill r with status 200 and the JSON text in *out (taken: *out is left empty). */
void fo_reply_buf(fo_reply *r, buf *out);
/* Empty r's body and make r a 200 application/json reply; returns the body to write into. */
buf *fo_reply_start(fo_reply *r);
/* Forget the previous request's reply (keeping the body's allocation). */
void fo_reply_reset(fo_reply *r);
/* Free the body. */
void fo_reply_free(fo_reply *r);
/* Decide the reply to one complete request (route.c): fills r, sets *wait_ms (how long it
   waits before going out: --delay-ms, stalls) and *reset (answer with a TCP reset). */
void fo_route(fo_server *srv, const fo_request *rq, fo_reply *r, double *wait_ms, int *reset);

/* Start the HTTP server on 127.0.0.1:port with --threads workers (http.c); returns the
   opaque daemon or NULL (err set). */
void *fo_http_start(fo_server *srv, unsigned port, unsigned *bound_port, char *err, size_t errlen);
/* Stop the daemon returned by fo_http_start: every connection is closed (a parked reply is
   dropped without being sent) and the workers are joined. */
void fo_http_stop(void *daemon);

/* Parse --rows-faults ("500@100x2,slow@300+,reset@0,cut@200"); -1 with err. */
int fo_rows_faults_parse(fo_rows *rows, const char *spec, char *err, size_t errlen);
/* Answer GET /rows and /splits when --rows-dir is set: fills r (or sets *reset, or *wait_ms
   for a slow page), logs the request, and returns 1; 0 for any other path. */
int fo_rows_route(fo_server *srv, const fo_request *rq, fo_reply *r, double *wait_ms, int *reset);

/* ---- parked replies (park.c): a min-heap of due times per worker ------------------------ */

/* A reply waiting for its time (--delay-ms, stalls), embedded in the connection. */
typedef struct fo_timer {
    double due_ms; /* monotonic milliseconds */
    size_t slot;   /* 1 + its index in the heap; 0 when not queued */
} fo_timer;

typedef struct fo_timer_heap {
    fo_timer **items; /* min-heap on due_ms */
    size_t len, cap;
} fo_timer_heap;

/* Queue t to be due at due_ms. */
void fo_timer_add(fo_timer_heap *h, fo_timer *t, double due_ms);
/* Take t out of the heap if it is queued. */
void fo_timer_remove(fo_timer_heap *h, fo_timer *t);
/* Remove and return the earliest timer if it is due at now_ms, else NULL. */
fo_timer *fo_timer_pop_due(fo_timer_heap *h, double now_ms);
/* The earliest due time, or -1 when the heap is empty. */
double fo_timer_next(const fo_timer_heap *h);
/* Free the heap's array. */
void fo_timer_heap_free(fo_timer_heap *h);
/* Monotonic milliseconds. */
double fo_now_ms(void);

/* ---- tokenizer (tokenize.c) ------------------------------------------------------- */

typedef struct fo_token {
    size_t off; /* byte offset in the text */
    size_t len; /* bytes */
} fo_token;

/* Split n bytes of s into tokens; *out is malloc'd (caller frees), returns the count. */
size_t fo_tokenize(const char *s, size_t n, fo_token **out);
/* Number of tokens in n bytes of s. */
size_t fo_token_count(const char *s, size_t n);
/* Standard 32-bit FNV-1a of n bytes. */
uint32_t fo_fnv1a32(const char *s, size_t n);
/* lp(t) = -(1 + fnv1a32(t) % 1000) / 200. */
double fo_token_lp(const char *s, size_t n);
/* 1 when fnv1a32(t) % 4 != 0. */
int fo_token_greedy(const char *s, size_t n);
/* Number of code points in n bytes of s (README's lenient UTF-8 rule). */
size_t fo_codepoints(const char *s, size_t n);

/* ---- generation (generate.c) ------------------------------------------------------ */

typedef struct fo_stops {
    char **items; /* owned copies; empty strings are dropped */
    size_t count;
} fo_stops;

typedef struct fo_gen {
    char *text;         /* malloc'd generated text after max_tokens and stop */
    size_t len;
    const char *finish; /* "stop" or "length" (static) */
} fo_gen;

/* Read body["stop"] (absent/null, string or list of strings); -1 with err on bad type. */
int fo_stops_parse(fo_stops *stops, const cJSON *body, char *err, size_t errlen);
/* Free the stop strings. */
void fo_stops_free(fo_stops *stops);
/* Read body[key] as a token limit: absent/null gives dflt; -1 with err when invalid. */
int fo_parse_max_tokens(const cJSON *body, const char *key, long dflt, long *out,
                        char *err, size_t errlen);
/* Apply max_tokens (< 0: unlimited) and stop strings to src, like vLLM. */
void fo_generate(const char *src, long max_tokens, const fo_stops *stops, fo_gen *out);
/* The rule text for `prompt`, or the default text. */
const char *fo_generated_source(const fo_server *srv, const char *prompt, const fo_rule **rule);

/* ---- endpoints (completions.c, chat.c) -------------------------------------------- */

/* The 400 a server with a context limit gives (vLLM's wording); 1 when r was filled because
   prompt_tokens + max_tokens is over --max-context. */
int fo_context_check(const fo_server *srv, size_t prompt_tokens, long max_tokens, fo_reply *r);
/* POST /v1/completions: parse body (NUL-terminated) and fill r. n is the request number. */
void fo_handle_completions(const fo_server *srv, const char *body, long n, fo_reply *r);
/* POST /v1/chat/completions. */
void fo_handle_chat(const fo_server *srv, const char *body, long n, fo_reply *r);

#endif
