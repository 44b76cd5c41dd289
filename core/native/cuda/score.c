/* score.c — loglikelihood sequences scheduled onto the GPU's slots (cuda_forward.h).
 *
 * Sequences arrive sorted, so a multiple-choice question's choices are adjacent and share
 * their context. Consecutive sequences sharing a prefix form a group: the prefix runs once
 * in the leader's slot (phase 1), then every member runs the rest of its tokens in its own
 * slot, reading the prefix from the leader's (phase 2). As many groups as there are slots go
 * into one chunk; each phase's tokens are packed into passes of max_tokens, so the GPU sees
 * thousands of tokens per pass. Every token's result is the same as running its sequence
 * alone: each sees exactly its own preceding tokens. */
#include "native/cuda/cuda_forward.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

typedef struct group {
    size_t first, count;    /* seqs[first .. first+count) */
    size_t prefix;          /* positions shared by every member, run once */
} group;

/* The pass being filled and what the scheduler needs to hand results back. */
typedef struct sched {
    cuda_state *s;
    cuda_seq *seqs;
    int max_tokens;
    int n, n_out;
    int32_t *tokens, *slots, *pos, *out_rows, *targets, *argmax;
    float *logprobs;
    size_t *out_seq;        /* the sequence each scored row adds to */
    const volatile sig_atomic_t *stop;
    cuda_score_stats *stats;
    char *err;
    size_t errlen;
} sched;

static size_t common_prefix(const cuda_seq *a, const cuda_seq *b)
{
    size_t n = a->n < b->n ? a->n : b->n, i = 0;
    while (i < n && a->toks[i] == b->toks[i]) i++;
    return i;
}

/* Run the filled pass and add its scores to their sequences. 0, -1 (err) or -2 (stop). */
static int flush(sched *q)
{
    if (q->n == 0) return 0;
    if (q->stop && *q->stop) return -2;
    cuda_batch b = {q->n, q->tokens, q->slots, q->pos, q->n_out, q->out_rows, q->targets,
                    q->logprobs, q->argmax, NULL};
    if (cuda_forward(q->s, &b, q->err, q->errlen) < 0) return -1;
    for (int j = 0; j < q->n_out; j++) {
        cuda_seq *sq = &q->seqs[q->out_seq[j]];
        sq->logprob += q->logprobs[j];
        if (q->argmax[j] != q->targets[j]) sq->greedy = 0;
    }
    q->stats->tokens_evaluated += q->n;
    q->stats->passes++;
    q->n = q->n_out = 0;
    return 0;
}

/* Queue positions [from, to) of sequence si in slot, scoring those at or after split-1
   when score is set; full passes run on the way. */
static int add_segment(sched *q, int slot, size_t si, size_t from, size_t to, int score)
{
    const cuda_seq *sq = &q->seqs[si];
    for (size_t p = from; p < to; p++) {
        if (q->n == q->max_tokens) {
            int rc = flush(q);
            if (rc < 0) return rc;
        }
        const int i = q->n++;
        q->tokens[i] = sq->toks[p];
        q->slots[i] = slot;
        q->pos[i] = (int32_t)p;
        if (score && p + 1 >= sq->split) {
            q->out_rows[q->n_out] = i;
            q->targets[q->n_out] = sq->toks[p + 1];
            q->out_seq[q->n_out++] = si;
        }
    }
    return 0;
}

/* Fill groups with sequences from `first` on, until the slots or a pass's worth of phase-2
   tokens are used; returns the number of groups. */
static size_t plan_chunk(const sched *q, size_t first, size_t n, int n_slots, group *groups)
{
    size_t ng = 0, j = first, rest_tokens = 0;
    int used = 0;
    while (j < n && used < n_slots) {
        size_t prefix = q->seqs[j].split - 1, k = j + 1;
        while (k < n && used + (int)(k - j) < n_slots) {
            size_t m = common_prefix(&q->seqs[k], &q->seqs[k - 1]);
            if (m > q->seqs[k].split - 1) m = q->seqs[k].split - 1;
            if (m > prefix) m = prefix;
            if (m == 0 || 2 * m < prefix) break;     /* too little shared: a new group */
            prefix = m;
            k++;
        }
        size_t rest = 0;
        for (size_t i = j; i < k; i++) rest += q->seqs[i].n - 1 - prefix;
        if (ng > 0 && rest_tokens + rest > (size_t)q->max_tokens) break;
        groups[ng].first = j;
        groups[ng].count = k - j;
        groups[ng++].prefix = prefix;
        used += (int)(k - j);
        rest_tokens += rest;
        j = k;
    }
    return ng;
}

/* Run one chunk of groups: prefixes, then every member's rest. */
static int run_chunk(sched *q, const group *groups, size_t ng)
{
    int slot = 0, rc = 0;
    for (size_t g = 0; g < ng; g++) {
        const int leader = slot;
        for (size_t i = 0; i < groups[g].count; i++, slot++)
            cuda_set_prefix(q->s, slot, leader, i == 0 ? 0 : (int)groups[g].prefix);
        q->stats->tokens_reused += (int64_t)(groups[g].prefix * (groups[g].count - 1));
    }
    slot = 0;
    for (size_t g = 0; g < ng && rc == 0; g++) {
        rc = add_segment(q, slot, groups[g].first, 0, groups[g].prefix, 0);
        slot += (int)groups[g].count;
    }
    if (rc == 0) rc = flush(q);
    slot = 0;
    for (size_t g = 0; g < ng && rc == 0; g++)
        for (size_t i = 0; i < groups[g].count && rc == 0; i++, slot++) {
            const size_t si = groups[g].first + i;
            rc = add_segment(q, slot, si, groups[g].prefix, q->seqs[si].n - 1, 1);
        }
    if (rc == 0) rc = flush(q);
    return rc;
}

static void sched_free(sched *q)
{
    free(q->tokens); free(q->slots); free(q->pos); free(q->out_rows); free(q->targets);
    free(q->argmax); free(q->logprobs); free(q->out_seq);
}

int cuda_score_sequences(cuda_state *s, cuda_seq *seqs, size_t n,
                         void (*done)(void *ud, size_t i), void *ud,
                         const volatile sig_atomic_t *stop, cuda_score_stats *stats, char *err,
                         size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (seqs[i].split < 1 || seqs[i].split >= seqs[i].n ||
            seqs[i].n - 1 > (size_t)cuda_state_max_seq(s))
            return errf(err, errlen, "sequence %zu: %zu tokens scored from %zu do not fit "
                        "(at most %d positions)", i, seqs[i].n, seqs[i].split,
                        cuda_state_max_seq(s));
        seqs[i].logprob = 0;
        seqs[i].greedy = 1;
    }
    const int T = cuda_state_max_tokens(s), n_slots = cuda_state_slots(s);
    sched q = {s, seqs, T, 0, 0, xcalloc((size_t)T, 4), xcalloc((size_t)T, 4),
               xcalloc((size_t)T, 4), xcalloc((size_t)T, 4), xcalloc((size_t)T, 4),
               xcalloc((size_t)T, 4), xcalloc((size_t)T, sizeof(float)),
               xcalloc((size_t)T, sizeof(size_t)), stop, stats, err, errlen};
    group *groups = xcalloc((size_t)n_slots, sizeof *groups);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        size_t ng = plan_chunk(&q, i, n, n_slots, groups);
        rc = run_chunk(&q, groups, ng);
        size_t end = groups[ng - 1].first + groups[ng - 1].count;
        for (; rc == 0 && i < end; i++)
            if (done) done(ud, i);
    }
    for (int slot = 0; slot < n_slots; slot++) cuda_set_prefix(s, slot, slot, 0);
    free(groups);
    sched_free(&q);
    return rc;
}
