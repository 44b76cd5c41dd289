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
 *       client-side at the first occurrence of any until string; finish_reason "length" sets
 *       the response's truncated flag. Chat responses also give reasoning from
 *       message.reasoning_content (or message.reasoning); a null or missing content is "".
 *
 * Batching (batch_size > 1, completions only): up to batch_size consecutive requests that can
 * share a body (both log-likelihood kinds, or generate with the same generation arguments)
 * go in one request with "prompt" as a list; the choices come back matched by "index". The
 * batch's usage is shared out in proportion to bytes. A batch answered 400/413/422 is split
 * and its prompts sent one by one, so the one the server refuses fails alone.
 *
 * Several endpoints: base_url may list several servers separated by '|' or whitespace
 * (data-parallel replicas of one model); each attempt goes to the one with the fewest in
 * flight, and one that stops answering is set aside and probed again later (endpoints.h).
 *
 * Rate limits: rpm and tpm cap requests and tokens per minute client-wide (ratelimit.h);
 * a 429 pauses its endpoint for the Retry-After (or a backoff) and halves the attempts it may
 * have in flight, so the whole client slows down (endpoints.h).
 *
 * Retries: connection errors, timeouts, HTTP 5xx, HTTP 429 (a Retry-After in seconds, on a
 * 429 or 503, is honoured up to 60 s) and unusable bodies (not JSON, or missing fields) are
 * retried with exponential backoff and full jitter; other 4xx fail the request at once —
 * a prompt over the server's context limit is reported as such — and so do curl errors that
 * would repeat (malformed URL, TLS verification, a response over 256 MiB). HTTP 401/403
 * stops the run, and so does a server that refuses echo=true with logprobs (it cannot score
 * log-likelihoods; the message quotes its answer).
 * The API key is sent only in the Authorization header; it never appears in a message.
 *
 * Transport: `concurrency` transfers in flight over reused keep-alive connections, driven by
 * epoll (transport.h): plain HTTP/1.1 for http:// servers, libcurl multi for https://, behind
 * a proxy, or when `transport` says curl; no Lua and no per-request allocation beyond the
 * answer itself.
 *
 * curl_global_init runs once per process (pthread_once) from openai_backend_new; it is
 * never cleaned up (the process exit does that). */
#ifndef EVALLUA_HTTP_OPENAI_H
#define EVALLUA_HTTP_OPENAI_H

#include <stddef.h>
#include <stdint.h>

#include "report/progress.h"
#include "request/request.h"

typedef struct openai_config {
    int chat;              /* 0: POST {base}/completions ; 1: POST {base}/chat/completions */
    const char *base_url;  /* e.g. "http://127.0.0.1:8000/v1"; trailing '/' tolerated. If it
                              already ends in /completions or /chat/completions it is used as
                              the full URL. Several, separated by '|' or whitespace: replicas. */
    const char *model;     /* "model" field of every body (required) */
    const char *api_key;   /* NULL or "" = no Authorization header; else "Authorization: Bearer
                              KEY". Never printed, logged, or put in any error message. */
    int concurrency;       /* transfers in flight (over all endpoints), default 32 when <= 0 */
    int max_retries;       /* retries after the first attempt, default 5 when < 0 */
    double retry_base_s;   /* first backoff delay, default 0.5 when <= 0; doubles per attempt,
                              full jitter, capped at 30 s */
    double timeout_s;      /* total seconds per attempt, default 300 when <= 0;
                              connect timeout = min(timeout_s, 30) */
    double rpm, tpm;       /* requests / tokens per minute at most; <= 0: no limit */
    int batch_size;        /* prompts per /v1/completions request, default 1 (chat: always 1) */
    int progress;          /* 1: show progress on stderr when no meter is set (see below) */
    const char *label;     /* progress label, e.g. the task name(s); may be NULL */
    const char *transport; /* "auto" (NULL too), "plain" or "curl": see transport.h */
} openai_config;

/* Counters beyond backend_stats, over all run() calls. */
typedef struct openai_counters {
    int64_t http_requests;   /* HTTP attempts sent (a batch counts once) */
    int64_t batched;         /* request attempts that went in a body with others */
    int64_t throttled;       /* HTTP 429 answers */
    int64_t splits;          /* batches split after a 4xx */
} openai_counters;

/* One endpoint's counters, for the results' throughput block. */
typedef struct openai_endpoint_stats {
    const char *url;         /* owned by the backend */
    int64_t requests;        /* attempts sent to it */
    int64_t failures;        /* attempts that failed (HTTP >= 400 or no answer) */
    int64_t throttled;       /* of them, 429s */
    double mean_latency_s;   /* over the attempts it answered; 0 when none */
} openai_endpoint_stats;

/* Create an OpenAI-compatible backend; NULL with err filled on bad config. The config's
   strings are copied. Free with b->vt->destroy(b). vt->run() overwrites every response
   it is given (pass zeroed or response_free'd ones) and returns -1 only when the run had to
   stop (API key rejected, a server without echo + logprobs, Ctrl-C, or libcurl failed); the
   unfinished responses then carry that reason. One run() at a time per backend (it is not
   thread-safe). */
backend *openai_backend_new(const openai_config *cfg, char *err, size_t errlen);
/* 1 when b was made by openai_backend_new. */
int openai_backend_is(const backend *b);
/* Report the progress of later runs to p (per task: request.task; NULL: none, or the
   backend's own single-line meter when cfg.progress). p is not owned; the run reports the
   requests it is given as sent and all others of p's totals as cached. */
void openai_backend_set_progress(backend *b, progress *p);
/* The counters of b (owned by b). */
const openai_counters *openai_backend_counters(const backend *b);
/* Fill out with up to max endpoints' counters; returns the number of endpoints. */
size_t openai_backend_endpoints(const backend *b, openai_endpoint_stats *out, size_t max);

#endif
