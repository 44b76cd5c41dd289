/* openai_json.h — the pure half of the OpenAI-compatible backend: endpoint URL, request
 * bodies, response parsing and server error text. No I/O and no state; openai.c does the
 * transport, tests/unit/test_http.c tests this directly. The rules are in openai.h. */
#ifndef EVALLUA_HTTP_OPENAI_JSON_H
#define EVALLUA_HTTP_OPENAI_JSON_H

#include <stddef.h>

#include "request/request.h"
#include "util/buf.h"

/* What to do with a response body. */
typedef enum oai_verdict {
    OAI_OK = 0,    /* the response is filled */
    OAI_RETRY = 1, /* not JSON, or expected fields missing (e.g. truncated): try again */
    OAI_FAIL = 2   /* well-formed but unusable; retrying would give the same answer */
} oai_verdict;

/* Why a body was not usable. The transport writes "<head> from <url>[ (after N attempts)]"
   followed by ": <detail>" when detail is not empty. */
typedef struct oai_problem {
    char head[64];     /* e.g. "non-JSON response", "malformed response" */
    char detail[320];  /* e.g. the body's first 100 bytes, or the missing field */
} oai_problem;

/* The endpoint for base_url: base + "/completions" or "/chat/completions" (trailing '/'
   dropped), or base_url itself when it already ends in one of them. malloc'd; NULL with err
   filled when base_url is empty or names the other kind of endpoint. */
char *oai_endpoint_url(const char *base_url, int chat, char *err, size_t errlen);

/* The JSON body for one request (malloc'd), or NULL with err filled (bad messages_json,
   non-finite temperature, a kind the endpoint cannot serve). */
char *oai_build_body(const eval_request *r, const char *model, int chat, char *err, size_t errlen);
/* Append that body to out instead; 0, or -1 with err filled (out then holds a partial body). */
int oai_write_body(buf *out, const eval_request *r, const char *model, int chat, char *err,
                   size_t errlen);
/* 1 when a and b may share one /v1/completions body: both log-likelihood kinds (echo, one
   logprob), or both generate with the same max_tokens, temperature, top_p, seed and until
   list, neither with messages. */
int oai_batchable(const eval_request *a, const eval_request *b);
/* Append one /v1/completions body whose "prompt" is the list of the n (>= 1) prompts of
   reqs[idx[0..n)] (pairwise oai_batchable), the other fields from reqs[idx[0]]; 0 or -1. */
int oai_write_batch_body(buf *out, const eval_request *reqs, const size_t *idx, size_t n,
                         const char *model, char *err, size_t errlen);

/* Parse a 2xx body of len bytes for request r. On OAI_OK fills out's logprob, is_greedy or
   truncated, text, reasoning, prompt_tokens, completion_tokens and sets status RESP_OK (out's
   old strings are not freed: pass a clean response); otherwise fills why and leaves out
   alone. */
oai_verdict oai_parse_response(const eval_request *r, int chat, const char *body, size_t len,
                               eval_response *out, oai_problem *why);
/* Parse a 2xx body answering the n requests reqs[idx[0..n)] (a batch body, or one request
   when n is 1). The choices are matched to the prompts by their "index" (else by position).
   Returns OAI_OK when the body could be read — each[k] and why[k] then say how request k
   fared (OAI_OK: resps[idx[k]] is filled as by oai_parse_response; a choice missing from the
   body is OAI_RETRY) — or the verdict for the whole body, with why[0] filled. The usage of a
   batch is shared out in proportion to each prompt's and answer's bytes. */
oai_verdict oai_parse_batch(const eval_request *reqs, const size_t *idx, size_t n, int chat,
                            const char *body, size_t len, eval_response *resps, oai_verdict *each,
                            oai_problem *why);

/* 1 when a server's error message says the prompt does not fit its context window. */
int oai_is_context_error(const char *msg);
/* 1 when a server's error message is about the logprobs or echo parameters. */
int oai_is_logprobs_error(const char *msg);

/* The server's error text in an error body: error.message, error (a string), message or
   detail, else the body itself; control characters become spaces, cut at max bytes on a
   UTF-8 boundary (with "..." appended when cut). malloc'd, never NULL. */
char *oai_server_message(const char *body, size_t len, size_t max);

/* Parse one raw header line; 1 and *seconds set when it is "Retry-After: <seconds>" (a
   number, possibly fractional) or "Retry-After: <HTTP-date>" (RFC 9110: the seconds from
   now, the wall clock, until that date; 0 for a date in the past), else 0. */
int oai_retry_after(const char *line, size_t n, double *seconds);

/* Number of Unicode code points in n bytes of UTF-8 (Python str length). A lead byte takes
   only the continuation bytes that follow it, so malformed input counts one per stray byte. */
size_t oai_utf8_codepoints(const char *s, size_t n);

/* Length of text once cut at the earliest occurrence of any non-empty until string. */
size_t oai_cut_at_stop(const char *text, size_t len, char *const *until, size_t n_until);

#endif
