/* openai_internal.h — what the files of the OpenAI backend share (not for other modules):
 * the backend object (openai.c), one run (engine.c) and how an attempt is judged
 * (classify.c). */
#ifndef EVALLUA_HTTP_OPENAI_INTERNAL_H
#define EVALLUA_HTTP_OPENAI_INTERNAL_H

#include <stdint.h>

#include "endpoints.h"
#include "openai.h"
#include "openai_json.h"
#include "ratelimit.h"
#include "report/progress.h"
#include "transport.h"
#include "util/buf.h"

#define OAI_BACKOFF_CAP_S 30.0
#define OAI_RETRY_AFTER_CAP_S 60.0
#define OAI_CONNECT_CAP_S 30.0
#define OAI_POLL_MS 100 /* longest wait: backend_interrupted is checked this often */
#define OAI_SERVER_MSG_MAX 300
#define OAI_KEY_HINT "set api_key= in --model_args or OPENAI_API_KEY"

typedef struct oai_backend {
    backend base;          /* first member: a backend * is an oai_backend * */
    int chat;
    char *model, *api_key, *label; /* api_key NULL when none */
    int concurrency, max_retries, batch_size, progress;
    double retry_base_s, timeout_s;
    endpoint_set eps;
    rate_limiter limiter;
    transport *tr;
    uint64_t rng;          /* xorshift64* state for the jitter */
    progress *prog;        /* set by openai_backend_set_progress (not owned), or NULL */
    openai_counters counters;
} oai_backend;

/* What one attempt came to. The final message of a request is msg, then " (after N
   attempts)" for retryable kinds, then tail. */
typedef enum attempt_kind { ATT_OK, ATT_RETRY, ATT_FAIL, ATT_STOP, ATT_SPLIT } attempt_kind;
typedef struct attempt {
    attempt_kind kind;     /* of the whole attempt; ATT_OK: see each[] */
    buf msg, tail;
    double min_delay;      /* Retry-After seconds, -1 when none */
    int conn_error;        /* failed at the connection level (endpoint health) */
    long status;           /* HTTP status, 0 when none */
} attempt;

/* Judge the attempt of x for the n requests reqs[idx[..]] sent to url: on ATT_OK the body was
   read and each[k]/why[k] (n of them) say how request k fared, its response filled. */
void oai_classify(const oai_backend *b, const xfer *x, CURLcode cc, const char *url,
                  const eval_request *reqs, const size_t *idx, size_t n, eval_response *resps,
                  oai_verdict *each, oai_problem *why, attempt *a);

/* Answer n requests (vt->run of the backend; engine.c). */
int oai_engine_run(oai_backend *b, const eval_request *reqs, eval_response *resps, size_t n,
                   char *err, size_t errlen);

/* Uniform in [0, 1) from the backend's generator. */
double oai_rand01(oai_backend *b);
/* Monotonic seconds. */
double oai_now(void);

#endif
