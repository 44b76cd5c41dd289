/* test_cuda_gen_device.c — the GPU's generation adapter (core/native/cuda/gen_device.c) on a
 * simulated cuda_state, in every build (no GPU needed): the scheduler's passes become the
 * right cuda_forward batches (slots and positions, the last n_out rows answered, argmaxes
 * always, logits only when asked), prefix copies become cuda_copy_prefix, the slot count is
 * capped by the state and by the rows of logits one pass returns, the loglikelihood passes'
 * prefix redirections are cleared, and a device error comes back with its message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "native/cuda/cuda_forward.h"
#include "native/native_internal.h"
#include "util/buf.h"

#define VOCAB 40

/* The simulated GPU: what the last pass and copy asked for. */
struct cuda_state {
    int n_slots, max_tokens;
    int pre_slot[128], pre_len[128];
    int last_n, last_n_out, last_rows[8], last_slots[8], last_pos[8], logits_asked;
    int copy_dst, copy_src, copy_len, copies;
    int fail;
    char err[64];
};

int cuda_state_slots(const cuda_state *s) { return s->n_slots; }
int cuda_state_max_tokens(const cuda_state *s) { return s->max_tokens; }
const char *cuda_state_error(const cuda_state *s) { return s->err; }

int cuda_set_prefix(cuda_state *s, int slot, int src, int len)
{
    if (slot < 0 || slot >= s->n_slots) return -1;
    s->pre_slot[slot] = src;
    s->pre_len[slot] = src == slot ? 0 : len;
    return 0;
}

int cuda_copy_prefix(cuda_state *s, int dst, int src, int len)
{
    if (s->fail) {
        snprintf(s->err, sizeof s->err, "simulated copy failure");
        return -1;
    }
    s->copy_dst = dst;
    s->copy_src = src;
    s->copy_len = len;
    s->copies++;
    return 0;
}

int cuda_forward(cuda_state *s, const cuda_batch *b, char *err, size_t errlen)
{
    if (s->fail) return errf(err, errlen, "simulated pass failure");
    s->last_n = b->n;
    s->last_n_out = b->n_out;
    for (int i = 0; i < b->n && i < 8; i++) {
        s->last_slots[i] = b->slots[i];
        s->last_pos[i] = b->pos[i];
    }
    for (int j = 0; j < b->n_out && j < 8; j++) s->last_rows[j] = b->out_rows[j];
    s->logits_asked = b->logits != NULL;
    for (int j = 0; j < b->n_out; j++) {
        b->argmax[j] = b->tokens[b->out_rows[j]] + 1;          /* "next token" */
        for (int v = 0; b->logits && v < VOCAB; v++)
            b->logits[(size_t)j * VOCAB + v] = (float)(v == b->argmax[j]);
    }
    return 0;
}

static void test_passes(void)
{
    cuda_state gpu = {.n_slots = 6, .max_tokens = 16};
    for (int i = 0; i < 6; i++) cuda_set_prefix(&gpu, i, (i + 1) % 6, 9);   /* left by scoring */
    model m;
    memset(&m, 0, sizeof m);
    m.cfg.n_vocab = VOCAB;
    native_backend b;
    memset(&b, 0, sizeof b);
    b.m = &m;
    b.gpu = &gpu;
    gen_device dev;
    char err[128] = "";
    CHECK(cuda_gen_device_open(&b, 4, &dev, err, sizeof err) == 0);
    CHECK(dev.n_slots == 4 && dev.max_tokens == 16);
    for (int i = 0; i < 4; i++) CHECK(gpu.pre_slot[i] == i && gpu.pre_len[i] == 0);

    /* a prompt pass: 5 tokens of slot 2 from position 3, the last answered, greedy */
    int32_t toks[5] = {7, 8, 9, 10, 11}, am[5] = {0};
    int slots[5] = {2, 2, 2, 2, 2}, pos[5] = {3, 4, 5, 6, 7};
    gen_pass p = {5, toks, slots, pos, 1, 0, NULL, am};
    CHECK(dev.forward(dev.ud, &p, err, sizeof err) == 0);
    CHECK(gpu.last_n == 5 && gpu.last_n_out == 1 && gpu.last_rows[0] == 4);
    CHECK(gpu.last_slots[4] == 2 && gpu.last_pos[4] == 7 && gpu.last_pos[0] == 3);
    CHECK(am[0] == 12 && p.logits == NULL && !gpu.logits_asked);

    /* a decode step: one token of each of 3 slots, all answered, one request samples */
    int32_t dt[3] = {1, 2, 3};
    int ds[3] = {0, 3, 1}, dp[3] = {10, 4, 22};
    gen_pass d = {3, dt, ds, dp, 3, 1, NULL, am};
    CHECK(dev.forward(dev.ud, &d, err, sizeof err) == 0);
    CHECK(gpu.last_n_out == 3 && gpu.last_rows[0] == 0 && gpu.last_rows[2] == 2);
    CHECK(gpu.last_slots[1] == 3 && gpu.last_pos[2] == 22);
    CHECK(gpu.logits_asked && d.logits != NULL);
    CHECK(am[0] == 2 && am[1] == 3 && am[2] == 4);
    CHECK(d.logits && d.logits[VOCAB + 3] == 1.0f && d.logits[2 * VOCAB + 4] == 1.0f);

    CHECK(dev.copy_prefix(dev.ud, 1, 3, 17, err, sizeof err) == 0);
    CHECK(gpu.copies == 1 && gpu.copy_dst == 1 && gpu.copy_src == 3 && gpu.copy_len == 17);

    gpu.fail = 1;
    CHECK(dev.forward(dev.ud, &d, err, sizeof err) == -1);
    CHECK(strstr(err, "simulated pass failure") != NULL);
    CHECK(dev.copy_prefix(dev.ud, 1, 3, 17, err, sizeof err) == -1);
    CHECK(strstr(err, "simulated copy failure") != NULL);
    dev.close(dev.ud);

    /* slots: capped by the state's, and by the rows of logits a pass returns */
    gpu.fail = 0;
    CHECK(cuda_gen_device_open(&b, 100, &dev, err, sizeof err) == 0);
    CHECK(dev.n_slots == 6);
    dev.close(dev.ud);
    gpu.n_slots = 128;
    gpu.max_tokens = 2048;
    CHECK(cuda_gen_device_open(&b, 100, &dev, err, sizeof err) == 0);
    CHECK(dev.n_slots == CUDA_HOST_LOGITS_MAX);
    dev.close(dev.ud);
}

int main(void)
{
    test_passes();
    return check_summary();
}
