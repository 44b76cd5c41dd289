/* openai_json.h — the pure half of the OpenAI-compatible backend: endpoint URL, request
 * bodies, response parsing and server error text. No I/O and no state; openai.c does the
 * transport, tests/unit/test_http.c tests this directly. The rules are in openai.h. */
#ifndef EVALLUA_HTTP_OPENAI_JSON_H
#define EVALLUA_HTTP_OPENAI_JSON_H

#include <stddef.h>

#include "request/request.h"

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

/* Parse a 2xx body of len bytes for request r. On OAI_OK fills out's logprob, is_greedy,
   text, reasoning, prompt_tokens, completion_tokens and sets status RESP_OK (out's old
   strings are not freed: pass a clean response); otherwise fills why and leaves out alone. */
oai_verdict oai_parse_response(const eval_request *r, int chat, const char *body, size_t len,
                               eval_response *out, oai_problem *why);

/* The server's error text in an error body: error.message, error (a string), message or
   detail, else the body itself; control characters become spaces, cut at max bytes on a
   UTF-8 boundary (with "..." appended when cut). malloc'd, never NULL. */
char *oai_server_message(const char *body, size_t len, size_t max);

/* Parse one raw header line; 1 and *seconds set when it is "Retry-After: <seconds>"
   (a number, possibly fractional), else 0 (HTTP dates are not honoured). */
int oai_retry_after(const char *line, size_t n, double *seconds);

/* Number of Unicode code points in n bytes of UTF-8 (Python str length). A lead byte takes
   only the continuation bytes that follow it, so malformed input counts one per stray byte. */
size_t oai_utf8_codepoints(const char *s, size_t n);

/* Length of text once cut at the earliest occurrence of any non-empty until string. */
size_t oai_cut_at_stop(const char *text, size_t len, char *const *until, size_t n_until);

#endif
