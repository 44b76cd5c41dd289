/* gen_device.c — generation on the GPU: the scheduler's device interface (native_internal.h,
 * gen_device) over a cuda_state. Each generation slot is a KV slot of the state; a pass is
 * one ragged cuda_forward (a prompt's tokens at prefill, one token of every active slot at
 * decode). What comes back to the host per answered row is its argmax, plus its full row of
 * logits only when a request in the pass samples (temperature > 0). Prefixes shared between
 * requests are copied on the device (cuda_copy_prefix), never re-run. Plain C. */
#include "native/native_internal.h"

#include <stdlib.h>
#include <string.h>

#include "native/cuda/cuda_forward.h"
#include "util/buf.h"

typedef struct cuda_gen {
    cuda_state *s;
    int vocab;
    int32_t *slots, *pos, *rows;        /* (max_tokens) one pass's inputs as int32 */
    float *logits;                      /* (n_slots, vocab) host rows for sampling */
} cuda_gen;

static int cuda_gen_forward(void *ud, gen_pass *p, char *err, size_t errlen)
{
    cuda_gen *c = ud;
    for (int i = 0; i < p->n; i++) {
        c->slots[i] = p->slots[i];
        c->pos[i] = p->pos[i];
    }
    for (int i = 0; i < p->n_out; i++) c->rows[i] = p->n - p->n_out + i;
    cuda_batch b = {p->n, p->tokens, c->slots, c->pos, p->n_out, c->rows, NULL, NULL,
                    p->argmax, p->want_logits ? c->logits : NULL};
    if (cuda_forward(c->s, &b, err, errlen) < 0) return -1;
    p->logits = p->want_logits ? c->logits : NULL;
    return 0;
}

static int cuda_gen_copy_prefix(void *ud, int dst, int src, int len, char *err, size_t errlen)
{
    cuda_gen *c = ud;
    if (cuda_copy_prefix(c->s, dst, src, len) == 0) return 0;
    return errf(err, errlen, "%s", cuda_state_error(c->s));
}

static void cuda_gen_close(void *ud)
{
    cuda_gen *c = ud;
    free(c->slots);
    free(c->pos);
    free(c->rows);
    free(c->logits);
    free(c);
}

int cuda_gen_device_open(native_backend *b, int want_slots, gen_device *out, char *err,
                         size_t errlen)
{
    cuda_state *s = b->gpu;
    int slots = want_slots < 1 ? 1 : want_slots;
    if (slots > cuda_state_slots(s)) slots = cuda_state_slots(s);
    if (slots > CUDA_HOST_LOGITS_MAX) slots = CUDA_HOST_LOGITS_MAX;   /* rows one pass returns */
    const int max_tokens = cuda_state_max_tokens(s);
    if (max_tokens < slots) slots = max_tokens;
    for (int i = 0; i < slots; i++)          /* the loglikelihood passes' redirections go */
        if (cuda_set_prefix(s, i, i, 0) < 0)
            return errf(err, errlen, "device=cuda: slot %d of %d cannot be reset", i, slots);
    cuda_gen *c = xcalloc(1, sizeof *c);
    c->s = s;
    c->vocab = b->m->cfg.n_vocab;
    c->slots = xcalloc((size_t)max_tokens, sizeof *c->slots);
    c->pos = xcalloc((size_t)max_tokens, sizeof *c->pos);
    c->rows = xcalloc((size_t)max_tokens, sizeof *c->rows);
    c->logits = xmalloc((size_t)slots * (size_t)c->vocab * sizeof *c->logits);
    *out = (gen_device){c, slots, max_tokens, cuda_gen_forward, cuda_gen_copy_prefix,
                        cuda_gen_close};
    return 0;
}
