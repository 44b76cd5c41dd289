/* openai.h — the OpenAI-compatible HTTP backend ("openai-completions", "openai-chat").
 *
 * Serves the request kinds of request.h against a server speaking OpenAI's legacy
 * /v1/completions API as vLLM and SGLang serve it, or /v1/chat/completions:
 *
 *   loglikelihood(context, continuation)  POST /completions with prompt=context+continuation,
 *       echo=true, logprobs=1, max_tokens=1, temperature=0. The server echoes the prompt's
 *       tokens with token_logprobs, top_logprobs and text_offset (in Unicode code points,
 *       i.e. Python str indices). A token belongs to the continuation when it ends after
 *       the context's last code point and starts before the prompt's end (the one generated
 *       token is thereby dropped). A token that straddles the context/continuation
 *       boundary counts as a continuation token: its logprob is included in the sum and
 *       its top_logprobs in is_greedy. A continuation token without a logprob (e.g. the
 *       prompt's first token when the context is empty) fails the request.
 *       is_greedy: for every continuation token its logprob is the largest value in its
 *       top_logprobs dict (lm-eval 0.4's rule); a missing dict means "not greedy".
 *   loglikelihood_rolling(text)  the same request with prompt=text; logprob is the sum of
 *       the non-null token_logprobs of the echoed tokens (is_greedy is left 0). The first
 *       token has no logprob: unlike lm-eval, no end-of-text token is prepended (we have no
 *       tokenizer), so the first token's probability is not counted.
 *   generate  /completions: prompt=context; /chat/completions: messages_json verbatim or one
 *       user message holding context. max_tokens (256 when <= 0), temperature, stop (the
 *       until list, omitted when empty), top_p (when >= 0), seed (when >= 0). The text is cut
 *       client-side at the first occurrence of any until string. Chat responses also give
 *       reasoning from message.reasoning_content (or message.reasoning).
 *
 * Transport: libcurl multi, `concurrency` transfers in flight over reused connections.
 * Connection errors, timeouts, HTTP 5xx, HTTP 429 (a Retry-After in seconds, on a 429 or
 * 503, is honoured up to 60 s) and unusable bodies (not JSON, or missing fields) are retried with exponential
 * backoff and full jitter; other 4xx fail the request at once, and so do curl errors that
 * would repeat (malformed URL, TLS verification, a response over 256 MiB). HTTP 401/403
 * stops the run.
 * The API key is sent only in the Authorization header; it never appears in a message.
 *
 * curl_global_init runs once per process (pthread_once) from openai_backend_new; it is
 * never cleaned up (the process exit does that). */
#ifndef EVALLUA_HTTP_OPENAI_H
#define EVALLUA_HTTP_OPENAI_H

#include <stddef.h>

#include "request/request.h"

typedef struct openai_config {
    int chat;              /* 0: POST {base}/completions ; 1: POST {base}/chat/completions */
    const char *base_url;  /* e.g. "http://127.0.0.1:8000/v1"; trailing '/' tolerated. If it
                              already ends in /completions or /chat/completions it is used as
                              the full URL. */
    const char *model;     /* "model" field of every body (required) */
    const char *api_key;   /* NULL or "" = no Authorization header; else "Authorization: Bearer
                              KEY". Never printed, logged, or put in any error message. */
    int concurrency;       /* transfers in flight, default 32 when <= 0 */
    int max_retries;       /* retries after the first attempt, default 5 when < 0 */
    double retry_base_s;   /* first backoff delay, default 0.5 when <= 0; doubles per attempt,
                              full jitter, capped at 30 s */
    double timeout_s;      /* total seconds per attempt, default 300 when <= 0;
                              connect timeout = min(timeout_s, 30) */
    int progress;          /* 1: show progress on stderr (report/progress.h) */
    const char *label;     /* progress label, e.g. the task name(s); may be NULL */
} openai_config;

/* Create an OpenAI-compatible backend; NULL with err filled on bad config. The config's
   strings are copied. Free with b->vt->destroy(b). vt->run() overwrites every response
   it is given (pass zeroed or response_free'd ones) and returns -1 only when the run had to
   stop (API key rejected, or libcurl's multi interface failed); the unfinished responses
   then carry that reason. One run() at a time per backend (it is not thread-safe); the
   progress meter's tok/s counts prompt + completion tokens. */
backend *openai_backend_new(const openai_config *cfg, char *err, size_t errlen);

#endif
