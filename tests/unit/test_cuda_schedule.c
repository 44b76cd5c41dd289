/* test_cuda_schedule.c — the GPU loglikelihood scheduler (core/native/cuda/score.c) on a
 * simulated device, in every build (no GPU needed).
 *
 * The simulated cuda_forward keeps each slot's tokens by position, applies a pass's writes
 * before its reads (as the GPU writes K/V before attention), and answers every scored row
 * with a value that hashes exactly the tokens the row can see: positions below the slot's
 * prefix length from the prefix slot, the rest from its own. The scheduler must give each
 * sequence the sum that scoring it alone gives, whatever the slot count and pass size:
 * groups sharing a prefix, chunks, segments split across passes, rolling-style sequences
 * (split 1) and partially shared prefixes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "native/cuda/cuda_forward.h"
#include "util/buf.h"

#define VOCAB 50

/* The simulated device: per slot, the token at each position (-1: never written). */
struct cuda_state {
    int n_slots, max_seq, max_tokens;
    int32_t *toks;
    int32_t *pre_slot, *pre_len;
    int passes, bad;
};

int cuda_state_slots(const cuda_state *s) { return s->n_slots; }
int cuda_state_max_seq(const cuda_state *s) { return s->max_seq; }
int cuda_state_max_tokens(const cuda_state *s) { return s->max_tokens; }

int cuda_set_prefix(cuda_state *s, int slot, int src, int len)
{
    if (slot < 0 || slot >= s->n_slots || src < 0 || src >= s->n_slots) return -1;
    s->pre_slot[slot] = len > 0 ? src : slot;
    s->pre_len[slot] = src == slot ? 0 : len;
    return 0;
}

/* What the model "predicts" after seeing ctx[0..n): a hash standing for its logits. */
static uint64_t context_hash(const int32_t *ctx, int n)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++) h = (h ^ (uint64_t)(ctx[i] + 1)) * 1099511628211ull;
    return h;
}

static float fake_logprob(uint64_t h, int32_t target)
{
    return -(float)((h ^ (uint64_t)target * 0x9E3779B97F4A7C15ull) % 1000) / 100.0f - 0.01f;
}

int cuda_forward(cuda_state *s, const cuda_batch *b, char *err, size_t errlen)
{
    if (b->n < 1 || b->n > s->max_tokens) return errf(err, errlen, "pass of %d tokens", b->n);
    s->passes++;
    for (int i = 0; i < b->n; i++) {
        if (b->slots[i] < 0 || b->slots[i] >= s->n_slots || b->pos[i] < 0 ||
            b->pos[i] >= s->max_seq)
            return errf(err, errlen, "row %d out of range", i);
        s->toks[b->slots[i] * s->max_seq + b->pos[i]] = b->tokens[i];
    }
    int32_t *ctx = xmalloc((size_t)s->max_seq * sizeof *ctx);
    for (int j = 0; j < b->n_out; j++) {
        const int r = b->out_rows[j], slot = b->slots[r], pos = b->pos[r];
        for (int p = 0; p <= pos; p++) {
            int src = p < s->pre_len[slot] ? s->pre_slot[slot] : slot;
            ctx[p] = s->toks[src * s->max_seq + p];
            if (ctx[p] < 0) s->bad++;                   /* read before written */
        }
        uint64_t h = context_hash(ctx, pos + 1);
        b->logprobs[j] = fake_logprob(h, b->targets[j]);
        b->argmax[j] = (int32_t)(h % VOCAB);
    }
    free(ctx);
    return 0;
}

/* The expected score of one sequence, position by position. */
static void expected(const cuda_seq *q, double *lp, int *greedy)
{
    *lp = 0;
    *greedy = 1;
    for (size_t p = q->split - 1; p + 1 < q->n; p++) {
        uint64_t h = context_hash(q->toks, (int)p + 1);
        *lp += fake_logprob(h, q->toks[p + 1]);
        if ((int32_t)(h % VOCAB) != q->toks[p + 1]) *greedy = 0;
    }
}

static uint32_t rnd(uint32_t *st)
{
    *st = *st * 1664525u + 1013904223u;
    return *st >> 8;
}

static int cmp_seq(const void *pa, const void *pb)
{
    const cuda_seq *a = pa, *b = pb;
    size_t n = a->n < b->n ? a->n : b->n;
    for (size_t i = 0; i < n; i++)
        if (a->toks[i] != b->toks[i]) return a->toks[i] < b->toks[i] ? -1 : 1;
    return a->n < b->n ? -1 : a->n > b->n;
}

#define NSEQ 60

/* Multiple-choice groups (4 endings), groups behind a shared preamble, rolling-style
   sequences; sorted as the backend sorts them. */
static void make_seqs(cuda_seq *seqs, int32_t (*store)[64])
{
    uint32_t st = 42;
    int32_t preamble[12];
    for (int i = 0; i < 12; i++) preamble[i] = (int32_t)(rnd(&st) % VOCAB);
    for (int s = 0; s < NSEQ;) {
        int kind = (int)(rnd(&st) % 3), ctx_len = 2 + (int)(rnd(&st) % 30);
        int32_t ctx[48];
        int from = 0;
        if (kind == 1) { memcpy(ctx, preamble, sizeof preamble); from = 12; ctx_len += 12; }
        for (int i = from; i < ctx_len; i++) ctx[i] = (int32_t)(rnd(&st) % VOCAB);
        int choices = kind == 2 ? 1 : 4;
        for (int c = 0; c < choices && s < NSEQ; c++, s++) {
            int cont = 1 + (int)(rnd(&st) % 8);
            memcpy(store[s], ctx, (size_t)ctx_len * 4);
            for (int i = 0; i < cont; i++) store[s][ctx_len + i] = (int32_t)(rnd(&st) % VOCAB);
            if (c == 1) store[s][ctx_len] = store[s - 1][ctx_len];   /* endings sharing a token */
            seqs[s].toks = store[s];
            seqs[s].n = (size_t)(ctx_len + cont);
            seqs[s].split = kind == 2 ? 1 : (size_t)ctx_len;
        }
    }
    qsort(seqs, NSEQ, sizeof *seqs, cmp_seq);
}

static void count_done(void *ud, size_t i)
{
    int *done = ud;
    done[i]++;
}

static void run_case(int n_slots, int max_tokens)
{
    static int32_t store[NSEQ][64];
    cuda_seq seqs[NSEQ];
    make_seqs(seqs, store);
    cuda_state s = {n_slots, 64, max_tokens, NULL, NULL, NULL, 0, 0};
    s.toks = xmalloc((size_t)n_slots * 64 * sizeof(int32_t));
    for (int i = 0; i < n_slots * 64; i++) s.toks[i] = -1;
    s.pre_slot = xcalloc((size_t)n_slots, sizeof(int32_t));
    s.pre_len = xcalloc((size_t)n_slots, sizeof(int32_t));
    for (int i = 0; i < n_slots; i++) s.pre_slot[i] = i;
    int done[NSEQ] = {0};
    cuda_score_stats stats = {0};
    char err[256];
    CHECK(cuda_score_sequences(&s, seqs, NSEQ, count_done, done, NULL, &stats, err,
                               sizeof err) == 0);
    int wrong = 0;
    for (int i = 0; i < NSEQ; i++) {
        double lp;
        int greedy;
        expected(&seqs[i], &lp, &greedy);
        if (fabs(seqs[i].logprob - lp) > 1e-9 || seqs[i].greedy != greedy || done[i] != 1)
            wrong++;
    }
    printf("%3d slots, passes of %4d: %d passes, %lld positions run, %lld reused, %d wrong\n",
           n_slots, max_tokens, s.passes, (long long)stats.tokens_evaluated,
           (long long)stats.tokens_reused, wrong);
    CHECK(wrong == 0);
    CHECK(s.bad == 0);
    CHECK(stats.passes == s.passes);
    if (n_slots >= 4) CHECK(stats.tokens_reused > 0);
    free(s.toks);
    free(s.pre_slot);
    free(s.pre_len);
}

int main(void)
{
    run_case(1, 8);
    run_case(2, 16);
    run_case(3, 7);
    run_case(8, 64);
    run_case(128, 2048);

    /* a sequence that does not fit is refused with a message */
    int32_t t[3] = {1, 2, 3};
    cuda_seq bad = {t, 3, 3, 0, 0};
    cuda_state s = {1, 64, 8, NULL, NULL, NULL, 0, 0};
    char err[256] = "";
    CHECK(cuda_score_sequences(&s, &bad, 1, NULL, NULL, NULL, NULL, err, sizeof err) == -1);
    CHECK(strstr(err, "sequence 0") != NULL);
    return check_summary();
}
