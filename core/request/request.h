/* request.h — the requests every backend answers, and the backend interface.
 *
 * Lua builds an array of eval_request in bulk; a backend fills the matching array of
 * eval_response. The three kinds mirror lm-evaluation-harness:
 *   loglikelihood(context, continuation) -> (logprob, is_greedy)
 *   loglikelihood_rolling(text)          -> logprob
 *   generate(prompt, until, max_tokens, ...) -> text
 * All strings in a request are owned by the request (request_free releases them); all
 * strings in a response are owned by the response (response_free). */
#ifndef EVALLUA_REQUEST_H
#define EVALLUA_REQUEST_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

typedef enum req_kind {
    REQ_LOGLIKELIHOOD = 1,
    REQ_LOGLIKELIHOOD_ROLLING = 2,
    REQ_GENERATE = 4
} req_kind;

/* Generation arguments (lm-eval's generation_kwargs). */
typedef struct gen_args {
    char **until;        /* stop sequences, n_until of them (may be 0) */
    size_t n_until;
    int max_tokens;      /* max_gen_toks; default 256 */
    double temperature;  /* 0 = greedy */
    double top_p;        /* < 0: not sent */
    int64_t seed;        /* < 0: not sent */
} gen_args;

typedef struct eval_request {
    req_kind kind;
    char *context;       /* loglikelihood: context; rolling: the text; generate: the prompt */
    char *continuation;  /* loglikelihood only, else NULL */
    char *messages_json; /* generate on a chat endpoint: a JSON array of {role, content};
                            NULL means one user message holding `context` */
    gen_args gen;        /* generate only */
    int repeat;          /* which sample of a sampled request (temperature > 0) this is, 0..;
                            part of the cache key only when sampling (cache/cache.h) */
    int task;            /* which task of the run the request serves (0-based), for progress
                            and per-task counts; never part of a cache key */
} eval_request;

typedef enum resp_status {
    RESP_PENDING = 0,
    RESP_OK = 1,
    RESP_FAILED = 2
} resp_status;

typedef struct eval_response {
    resp_status status;
    double logprob;        /* loglikelihood and rolling: natural-log sum */
    union {
        int is_greedy;     /* loglikelihood: every continuation token was the argmax */
        int truncated;     /* generate: the server stopped at max_tokens (finish_reason
                              "length"); shares is_greedy's storage, so caches keep it */
    };
    char *text;            /* generate: the completion, cut at the first stop sequence */
    char *reasoning;       /* generate: the server's reasoning_content, when sent; else NULL */
    char *error;           /* FAILED: the reason, naming the URL / HTTP status; else NULL */
    int prompt_tokens;     /* from the server's usage block, 0 when absent */
    int completion_tokens;
    int attempts;          /* HTTP attempts made (1 = no retry) */
    int context_truncated; /* native: the input was cut from the left to fit the context
                              length (lm-eval's rule); not kept by the response cache */
} eval_response;

/* Counters a backend keeps across run() calls (reported in the results' throughput). */
typedef struct backend_stats {
    int64_t requests;          /* responses produced (ok + failed) */
    int64_t cached;            /* answered from a cache without a backend call */
    int64_t failed;
    int64_t retries;           /* attempts beyond the first, summed */
    int64_t prompt_tokens;
    int64_t completion_tokens;
    double wall_seconds;       /* time spent inside run() */
} backend_stats;

typedef struct backend backend;

typedef struct backend_vtable {
    const char *name;      /* e.g. "openai-completions" */
    unsigned kinds;        /* bitmask of req_kind this backend serves */
    /* Answer n requests; every response ends RESP_OK or RESP_FAILED with a reason.
       Returns 0 when the batch was processed (individual failures are in the responses),
       -1 with err filled when nothing could be attempted or the run must stop (e.g. the
       API key was rejected: the remaining responses are marked FAILED with that reason). */
    int (*run)(backend *b, const eval_request *reqs, eval_response *resps, size_t n,
               char *err, size_t errlen);
    void (*destroy)(backend *b);
} backend_vtable;

struct backend {
    const backend_vtable *vt;
    backend_stats stats;
    /* Optional, set by the caller before run(): called once per response the moment it is
       final (RESP_OK or RESP_FAILED), with its index in that run's arrays, on the thread
       that called run(). It must not call into the backend. The cache uses it to store each
       answer as it arrives, so a killed run keeps everything answered. */
    void (*on_response)(void *ud, size_t index, const eval_response *r);
    void *on_response_ud;
};

/* Set nonzero by the SIGINT/SIGTERM handler (cli/main.c). A backend's run() that sees it
   starts nothing more, abandons what is in flight within a second, marks every unfinished
   response RESP_FAILED "interrupted" and returns -1 with err "interrupted". */
extern volatile sig_atomic_t backend_interrupted;

/* Release the strings a request owns (not the struct itself). */
void request_free(eval_request *r);
/* Release the strings a response owns and reset it to RESP_PENDING. */
void response_free(eval_response *r);
/* Human name of a request kind ("loglikelihood", ...). */
const char *req_kind_name(req_kind k);

#endif
