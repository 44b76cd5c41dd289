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
    struct gen_device *gen_dev; /* generation on this device instead (tests); not owned */
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
/* Generate every generate_until request of rc (generate.c) on the backend's device. */
void native_run_generations(run_ctx *rc);

/* ---- the generation scheduler's device (generate.c) ----------------------------------- */

/* One forward pass of a generation: tokens[i] goes to position pos[i] of KV slot slots[i]
   and sees that slot's positions 0..pos[i]. The device answers for the last n_out tokens:
   argmax (always) and, when want_logits, their n_out rows of n_vocab logits. */
typedef struct gen_pass {
    int n;
    const int32_t *tokens;
    const int *slots, *pos;
    int n_out;
    int want_logits;            /* 1 when a sampled request needs the whole distribution */
    const float *logits;        /* out: (n_out, n_vocab) when want_logits, owned by the device
                                   until its next call */
    int32_t *argmax;            /* out: (n_out) the most likely next token, first on ties */
} gen_pass;

/* Where generation runs: the scheduler (slots, prefill, decode steps, sampling, stops) is the
   same for every device; a device only runs passes and copies cached prefixes. */
typedef struct gen_device {
    void *ud;
    int n_slots;                /* KV caches */
    int max_tokens;             /* tokens per pass (>= n_slots) */
    /* Run pass p (see gen_pass). 0, or -1 with err. */
    int (*forward)(void *ud, gen_pass *p, char *err, size_t errlen);
    /* Slot dst holds positions 0..len-1 of slot src from now on (its later positions are
       to be written). 0, or -1 with err. */
    int (*copy_prefix)(void *ud, int dst, int src, int len, char *err, size_t errlen);
    /* Release the device (NULL when the device is not the scheduler's to release). */
    void (*close)(void *ud);
} gen_device;

/* Generation of the backend b (a native backend) runs on dev from now on (NULL: its own
   device again), with min(parallel, dev->n_slots) slots; dev stays the caller's. For tests:
   a simulated device behind the real scheduler. */
void native_backend_set_gen_device(backend *b, gen_device *dev);
/* A device over the GPU state b->gpu with up to want_slots slots (the GPU's generation
   adapter, cuda/gen_device.c; built with CUDA, and in tests on a simulated GPU). 0, or -1
   with err. */
int cuda_gen_device_open(native_backend *b, int want_slots, gen_device *out, char *err,
                         size_t errlen);

#endif
