/* native_internal.h — what backend_native.c shares with generate.c: the backend's state,
 * one run's context, and the helpers both use. Not a public interface. */
#ifndef EVALLUA_NATIVE_INTERNAL_H
#define EVALLUA_NATIVE_INTERNAL_H

#include "native/backend_native.h"
#include "native/chat_template.h"
#include "native/cpu/forward.h"
#include "native/model.h"
#include "native/tokenizer.h"
#include "report/progress.h"

#define DEFAULT_CTX_CAP 4096
#define DEFAULT_BATCH 64
#define DEFAULT_MAX_TOKENS 256
#define DEFAULT_PARALLEL 8

typedef struct native_backend {
    backend base;
    char *path, *label;
    int threads, ctx, batch, progress;
    int parallel;               /* generate requests decoded together */
    double mem_limit;           /* bytes the model and states may take (0: unknown) */
    model *m;
    tokenizer *tok;
    chat_template *chat;        /* NULL when the template was not recognised: chat_err */
    char chat_err[512];
    int32_t prefix_token;       /* BOS, else EOS: the token before an empty context */
    cpu_state *st;              /* device=cpu */
    struct cuda_state *gpu;     /* device=cuda (NULL otherwise) */
    tok_ids cached;             /* the tokens whose K/V the state holds, positions 0.. */
    native_info info;
} native_backend;

/* What one run() is doing: its requests, responses, progress and counters. */
typedef struct run_ctx {
    native_backend *b;
    const eval_request *reqs;
    eval_response *resps;
    size_t n;
    int *pending;               /* per response: items still to score */
    unsigned char *final;       /* per response: done and reported */
    progress *prog;
    size_t done, failed;
    int64_t tokens;
} run_ctx;

/* Seconds on the monotonic clock. */
double native_now_s(void);
/* Response i is final: count it, update the progress, call the backend's on_response. */
void native_resp_done(run_ctx *rc, size_t i);
/* Mark response i failed with msg (once; later items of the same response are skipped). */
void native_resp_fail(run_ctx *rc, size_t i, const char *msg);
/* Tokens of s[0..n) with the model's tokenizer (special tokens parsed). */
void native_encode(const native_backend *b, const char *s, size_t n, int add_bos, tok_ids *out);
/* Index of the largest of v[0..n) (the first on ties). */
int native_argmax(const float *v, int n);
/* Generate every generate_until request of rc (generate.c). */
void native_run_generations(run_ctx *rc);

#endif
