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

/* ---- rules (rules.c) -------------------------------------------------------------- */

typedef struct fo_rule {
    char *suffix;    /* matched against the end of the prompt / last user message */
    char *text;      /* generated text */
    char *reasoning; /* chat reasoning_content, or NULL */
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

typedef struct fo_server {
    const char *model;        /* --model */
    const char *require_key;  /* --require-key, or NULL */
    long fail_first, fail_every, fail_status, garbage_every, truncate_every;
    long delay_ms, retry_after; /* retry_after < 0: no header */
    fo_rules rules;
    FILE *log;                /* --log, or NULL */
    pthread_mutex_t lock;     /* serialises request numbering and log lines */
    atomic_long requests;     /* POST requests seen so far */
} fo_server;

/* An HTTP reply: status, malloc'd body (owned by the reply), content type. */
typedef struct fo_reply {
    unsigned status;
    char *body;
    size_t len;
    const char *ctype;
    long retry_after; /* >= 0: send "Retry-After: retry_after"; -1: no header */
} fo_reply;

/* Fill r with status and {"error":{"message":msg,"type":type}}. */
void fo_reply_error(fo_reply *r, unsigned status, const char *type, const char *msg);
/* Fill r with status 200 and the unformatted print of json (json is not freed). */
void fo_reply_json(fo_reply *r, const cJSON *json);

/* Start the HTTP daemon on 127.0.0.1:port; returns the opaque daemon or NULL (err set). */
void *fo_http_start(fo_server *srv, unsigned port, unsigned *bound_port, char *err, size_t errlen);
/* Stop the daemon returned by fo_http_start. */
void fo_http_stop(void *daemon);

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

/* POST /v1/completions: parse body (NUL-terminated) and fill r. n is the request number. */
void fo_handle_completions(const fo_server *srv, const char *body, long n, fo_reply *r);
/* POST /v1/chat/completions. */
void fo_handle_chat(const fo_server *srv, const char *body, long n, fo_reply *r);

#endif
