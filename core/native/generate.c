/* generate.c — the native backend's generate_until requests: prompts in lexicographic order,
 * up to `parallel` sequences decoded together in KV cache slots (continuous batching,
 * shared-prefix copies between slots), greedy or seeded temperature/top-p sampling, stop
 * strings. One scheduler for every device: it drives a gen_device (native_internal.h), which
 * only runs forward passes over tokens of any slots and copies cached prefixes between slots
 * — the CPU's forward pass (below), the GPU's (cuda/gen_device.c), or a simulated one in the
 * tests (tests/unit/test_gen_schedule.c). */
#include "native/native_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* ---- generation ------------------------------------------------------------------ */

/* xorshift64* seeded through splitmix64: small, fast and the same on every platform. */
static uint64_t rng_seed(int64_t seed)
{
    uint64_t z = (uint64_t)seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return z ? z : 0x2545F4914F6CDD1Dull;
}

static double rng_uniform(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-53;
}

typedef struct cand {
    int id;
    double p;
} cand;

static int cmp_cand(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;
    if (a->p != b->p) return a->p > b->p ? -1 : 1;
    return a->id - b->id;
}

/* Draw a token from softmax(logits / temperature), within the top_p nucleus when
   0 < top_p < 1. Tokens under 1e-12 of the most likely one are never drawn. */
static int sample(const float *logits, int n, double temperature, double top_p, uint64_t *rng,
                  cand *c)
{
    int best = native_argmax(logits, n), k = 0;
    double total = 0;
    for (int i = 0; i < n; i++) {
        double p = exp(((double)logits[i] - logits[best]) / temperature);
        if (p < 1e-12) continue;
        c[k].id = i;
        c[k++].p = p;
        total += p;
    }
    qsort(c, (size_t)k, sizeof *c, cmp_cand);
    if (top_p > 0 && top_p < 1) {
        double cum = 0;
        int keep = 0;
        while (keep < k && cum < top_p * total) cum += c[keep++].p;
        k = keep;
        total = cum;
    }
    double u = rng_uniform(rng) * total;
    for (int i = 0; i < k; i++) {
        u -= c[i].p;
        if (u < 0) return c[i].id;
    }
    return c[k - 1].id;
}

/* The first stop string in text (its offset, or -1); only matches ending at or after
   `from` are new. */
static long find_stop(const gen_args *g, const char *text, size_t len, size_t from)
{
    long best = -1;
    for (size_t i = 0; i < g->n_until; i++) {
        const char *u = g->until[i];
        size_t ul = u ? strlen(u) : 0;
        if (!ul || ul > len) continue;
        size_t start = from >= ul ? from - ul + 1 : 0;
        for (size_t off = start; off + ul <= len; off++)
            if (memcmp(text + off, u, ul) == 0) {
                if (best < 0 || (long)off < best) best = (long)off;
                break;
            }
    }
    return best;
}

/* The prompt of a generate request as tokens, left-truncated to leave room for max_gen
   (*truncated set when cut). Thread-safe: reads b only. */
static int gen_prompt(const native_backend *b, const eval_request *q, int max_gen, tok_ids *out,
                      int *truncated, char *msg, size_t msglen)
{
    const char *text = q->context ? q->context : "";
    char *rendered = NULL;
    int add_bos = 1;
    if (q->messages_json) {
        if (!b->chat) return errf(msg, msglen, "%s", b->chat_err);
        if (!(rendered = chat_render(b->chat, q->messages_json, msg, msglen))) return -1;
        text = rendered;
        add_bos = !(b->chat->bos[0] && strncmp(text, b->chat->bos, strlen(b->chat->bos)) == 0);
    }
    tok_ids all = {0};
    native_encode(b, text, strlen(text), add_bos, &all);
    free(rendered);
    if (all.n == 0) tok_ids_push(&all, b->prefix_token);
    size_t keep = (size_t)(b->ctx - max_gen), from = all.n > keep ? all.n - keep : 0;
    *truncated = from > 0;
    out->n = 0;
    for (size_t i = from; i < all.n; i++) tok_ids_push(out, all.v[i]);
    tok_ids_free(&all);
    return 0;
}

/* Drop an incomplete UTF-8 sequence at the end of text (a byte token cut by max_tokens). */
static void trim_partial_utf8(buf *text)
{
    size_t n = text->len, back = 0;
    while (back < 4 && back < n && ((unsigned char)text->data[n - 1 - back] & 0xC0) == 0x80)
        back++;
    if (back == n) return;
    unsigned char lead = (unsigned char)text->data[n - 1 - back];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (need > back + 1) {
        text->len = n - 1 - back;
        text->data[text->len] = '\0';
    }
}

/* One generate request: its prompt, then its state while it decodes in a slot. */
typedef struct gen_job {
    size_t resp;                /* request index */
    int max_gen;
    int prompt_failed;          /* the prompt could not be built: msg says why */
    int truncated;              /* the prompt was cut from the left */
    char *msg;
    tok_ids toks;               /* prompt, then the generated tokens to feed */
    buf text;                   /* the completion so far */
    uint64_t rng;
} gen_job;

/* One KV cache of the generation state. */
typedef struct gen_slot {
    gen_job *job;               /* the request decoding here; NULL when free */
    tok_ids held;               /* the tokens whose K/V the slot holds, positions 0.. */
} gen_slot;

/* Several generate requests decoding together, one token each per forward step. */
typedef struct gen_run {
    run_ctx *rc;
    gen_device *dev;
    gen_slot *slots;
    int n_slots;
    int32_t *step_tok;          /* (max(max_tokens, n_slots)) one pass's tokens, slots, positions */
    int *step_slot, *step_pos;
    int32_t *argmax;            /* (n_slots) the pass's most likely next tokens */
    cand *cands;                /* (n_vocab) sampling scratch */
    char err[512];              /* why the last pass failed */
} gen_run;

/* 1 when job j draws its tokens (temperature > 0) and so needs the whole distribution. */
static int gen_samples(const gen_run *g, const gen_job *j)
{
    return g->rc->reqs[j->resp].gen.temperature > 0;
}

/* The next token of job j: the device's argmax, or a draw from logits with its own
   generator. */
static int gen_choose(gen_run *g, gen_job *j, const float *logits, int32_t argmax)
{
    const gen_args *a = &g->rc->reqs[j->resp].gen;
    const int vocab = g->rc->b->m->cfg.n_vocab;
    return gen_samples(g, j) ? sample(logits, vocab, a->temperature, a->top_p, &j->rng, g->cands)
                             : argmax;
}

/* Take token next for job j: 1 when it is to be fed (decoding goes on), 0 when the job is
   complete (end-of-generation token, a stop string, or max_gen tokens). */
static int gen_accept(gen_run *g, gen_job *j, int next)
{
    native_backend *b = g->rc->b;
    eval_response *r = &g->rc->resps[j->resp];
    if (tok_is_eog(b->tok, next)) return 0;
    r->completion_tokens++;
    size_t before = j->text.len;
    tok_piece(b->tok, next, 0, &j->text);
    long stop = find_stop(&g->rc->reqs[j->resp].gen, buf_str(&j->text), j->text.len, before);
    if (stop >= 0) {
        j->text.len = (size_t)stop;
        j->text.data[stop] = '\0';
        return 0;
    }
    if (r->completion_tokens >= j->max_gen) {
        r->truncated = 1;                           /* finish_reason "length" */
        if (j->text.len) trim_partial_utf8(&j->text);
        return 0;
    }
    tok_ids_push(&j->toks, next);
    return 1;
}

/* Report job j: its text, or the failure fr (-1: the device failed, g->err says why). */
static void gen_finish(gen_run *g, gen_job *j, int fr)
{
    run_ctx *rc = g->rc;
    eval_response *r = &rc->resps[j->resp];
    if (fr == -1) native_resp_fail(rc, j->resp, g->err);
    else r->text = buf_steal(&j->text);
    rc->tokens += r->prompt_tokens + r->completion_tokens;
    native_resp_done(rc, j->resp);
    buf_free(&j->text);
    tok_ids_free(&j->toks);
}

/* Make slot s hold the longest prefix of toks[0..n-1) that any slot holds (copying K/V
   from that slot); returns its length, or -1 when the copy failed. */
static long gen_reuse_prefix(gen_run *g, int s, const tok_ids *toks)
{
    size_t best = 0, limit = toks->n - 1;
    int from = s;
    for (int k = 0; k < g->n_slots; k++) {
        const tok_ids *h = &g->slots[k].held;
        size_t l = 0;
        while (l < limit && l < h->n && h->v[l] == toks->v[l]) l++;
        if (l > best || (l == best && k == s)) { best = l; from = k; }
    }
    if (from != s &&
        g->dev->copy_prefix(g->dev->ud, s, from, (int)best, g->err, sizeof g->err) < 0)
        return -1;
    tok_ids *held = &g->slots[s].held;
    held->n = 0;
    for (size_t i = 0; i < best; i++) tok_ids_push(held, toks->v[i]);
    return (long)best;
}

/* Run one pass of n tokens (step_*) whose last n_out are answered; NULL-safe logits. Returns
   0 or -1 (g->err). */
static int gen_pass_run(gen_run *g, int n, int n_out, int want_logits, const float **logits)
{
    gen_pass p = {n, g->step_tok, g->step_slot, g->step_pos, n_out, want_logits, NULL,
                  g->argmax};
    if (g->dev->forward(g->dev->ud, &p, g->err, sizeof g->err) < 0) return -1;
    *logits = p.logits;
    return 0;
}

/* Start job j in slot s: run its prompt (after the reused prefix) and take its first token.
   Returns 1 when it goes on decoding, 0 when complete, -1 when the device failed, -2 when
   interrupted. */
static int gen_start(gen_run *g, int s, gen_job *j)
{
    native_backend *b = g->rc->b;
    const size_t n = j->toks.n;
    long reused = gen_reuse_prefix(g, s, &j->toks);
    if (reused < 0) return -1;
    size_t p0 = (size_t)reused;
    b->info.tokens_reused += (int64_t)p0;
    double t0 = native_now_s();
    const float *logits = NULL;
    for (size_t start = p0; start < n;) {
        if (backend_interrupted) return -2;
        size_t room = (size_t)g->dev->max_tokens;
        int m = n - start > room ? (int)room : (int)(n - start);
        for (int i = 0; i < m; i++) {
            g->step_tok[i] = j->toks.v[start + (size_t)i];
            g->step_slot[i] = s;
            g->step_pos[i] = (int)start + i;
        }
        start += (size_t)m;
        int last = start == n;
        if (gen_pass_run(g, m, last, last && gen_samples(g, j), &logits) < 0) return -1;
        for (int i = 0; i < m; i++) tok_ids_push(&g->slots[s].held, g->step_tok[i]);
    }
    b->info.prefill_seconds += native_now_s() - t0;
    b->info.prefill_tokens += (int64_t)(n - p0);
    b->info.tokens_evaluated += (int64_t)(n - p0);
    return gen_accept(g, j, gen_choose(g, j, logits, g->argmax[0]));
}

/* One decode step: every active job's last token through one forward pass; jobs that
   complete (or fail) leave their slot. Full logits come back only when a job samples. */
static void gen_step(gen_run *g)
{
    native_backend *b = g->rc->b;
    int n = 0, want_logits = 0;
    for (int s = 0; s < g->n_slots; s++) {
        gen_job *j = g->slots[s].job;
        if (!j) continue;
        want_logits |= gen_samples(g, j);
        g->step_tok[n] = j->toks.v[j->toks.n - 1];
        g->step_slot[n] = s;
        g->step_pos[n++] = (int)j->toks.n - 1;
    }
    double t0 = native_now_s();
    const float *logits = NULL;
    int fr = gen_pass_run(g, n, n, want_logits, &logits);
    b->info.decode_seconds += native_now_s() - t0;
    b->info.decode_tokens += n;
    b->info.tokens_evaluated += n;
    for (int i = 0; i < n; i++) {
        gen_slot *sl = &g->slots[g->step_slot[i]];
        gen_job *j = sl->job;
        if (fr == 0) {
            tok_ids_push(&sl->held, g->step_tok[i]);
            const float *row = logits ? logits + (size_t)i * b->m->cfg.n_vocab : NULL;
            if (gen_accept(g, j, gen_choose(g, j, row, g->argmax[i]))) continue;
        }
        gen_finish(g, j, fr);
        sl->job = NULL;
        if (fr < 0) sl->held.n = 0;                 /* its cache is in doubt */
    }
}

/* Put jobs[*next..] into free slots until every slot is busy or no job is left. */
static void gen_fill(gen_run *g, gen_job *jobs, size_t n_jobs, size_t *next)
{
    for (int s = 0; s < g->n_slots && !backend_interrupted; s++) {
        while (!g->slots[s].job && *next < n_jobs && !backend_interrupted) {
            gen_job *j = &jobs[(*next)++];
            if (j->prompt_failed) {
                native_resp_fail(g->rc, j->resp, j->msg);
                native_resp_done(g->rc, j->resp);
                continue;
            }
            g->rc->resps[j->resp].prompt_tokens = (int)j->toks.n;
            int fr = gen_start(g, s, j);
            if (fr == 1) g->slots[s].job = j;
            else if (fr != -2) gen_finish(g, j, fr);
            if (fr == -1) g->slots[s].held.n = 0;      /* its cache is in doubt */
        }
    }
}

/* Jobs in lexicographic order of their prompt tokens (neighbours share prefixes). */
static int cmp_jobs(const void *pa, const void *pb)
{
    const gen_job *a = pa, *b = pb;
    size_t n = a->toks.n < b->toks.n ? a->toks.n : b->toks.n;
    for (size_t i = 0; i < n; i++)
        if (a->toks.v[i] != b->toks.v[i]) return a->toks.v[i] < b->toks.v[i] ? -1 : 1;
    if (a->toks.n != b->toks.n) return a->toks.n < b->toks.n ? -1 : 1;
    return a->resp < b->resp ? -1 : a->resp > b->resp;
}

/* Tokenize every generate request (in parallel) into jobs, sorted by prompt. */
static gen_job *gen_prepare(run_ctx *rc, size_t *n_jobs)
{
    native_backend *b = rc->b;
    size_t n = 0;
    for (size_t i = 0; i < rc->n; i++) n += rc->reqs[i].kind == REQ_GENERATE;
    gen_job *jobs = xcalloc(n + 1, sizeof *jobs);
    for (size_t i = 0, k = 0; i < rc->n; i++)
        if (rc->reqs[i].kind == REQ_GENERATE) jobs[k++].resp = i;
    #pragma omp parallel for schedule(dynamic, 8)
    for (size_t k = 0; k < n; k++) {
        gen_job *j = &jobs[k];
        const eval_request *q = &rc->reqs[j->resp];
        char msg[512] = "";
        j->max_gen = q->gen.max_tokens > 0 ? q->gen.max_tokens : DEFAULT_MAX_TOKENS;
        if (j->max_gen > b->ctx - 1) j->max_gen = b->ctx - 1;
        j->rng = rng_seed(q->gen.seed >= 0 ? q->gen.seed : 0);
        j->prompt_failed = gen_prompt(b, q, j->max_gen, &j->toks, &j->truncated, msg,
                                      sizeof msg) < 0;
        if (j->prompt_failed) j->msg = xstrdup(msg);
    }
    for (size_t k = 0; k < n; k++) {
        b->info.truncated += jobs[k].truncated;
        rc->resps[jobs[k].resp].context_truncated = jobs[k].truncated;
    }
    qsort(jobs, n, sizeof *jobs, cmp_jobs);
    *n_jobs = n;
    return jobs;
}

/* Generate the jobs on g's device, refilling slots as jobs finish, until every job is done
   or the run is interrupted. */
static void gen_schedule(gen_run *g, gen_job *jobs, size_t n_jobs)
{
    size_t next = 0;
    for (;;) {
        gen_fill(g, jobs, n_jobs, &next);
        int active = 0;
        for (int s = 0; s < g->n_slots; s++) active += g->slots[s].job != NULL;
        if (!active || backend_interrupted) break;
        gen_step(g);                    /* a failed step fails its requests */
    }
}

/* Run the prepared jobs on dev, up to dev->n_slots of them decoding together. */
static void gen_run_jobs(run_ctx *rc, gen_job *jobs, size_t n_jobs, gen_device *dev)
{
    gen_run g = {.rc = rc, .dev = dev};
    g.n_slots = dev->n_slots < (int)n_jobs ? dev->n_slots : (int)n_jobs;
    size_t width = (size_t)(dev->max_tokens > g.n_slots ? dev->max_tokens : g.n_slots);
    g.slots = xcalloc((size_t)g.n_slots, sizeof *g.slots);
    g.step_tok = xcalloc(width, sizeof *g.step_tok);
    g.step_slot = xcalloc(width, sizeof *g.step_slot);
    g.step_pos = xcalloc(width, sizeof *g.step_pos);
    g.argmax = xcalloc(width, sizeof *g.argmax);
    g.cands = xmalloc((size_t)rc->b->m->cfg.n_vocab * sizeof *g.cands);
    gen_schedule(&g, jobs, n_jobs);
    for (int s = 0; s < g.n_slots; s++) tok_ids_free(&g.slots[s].held);
    free(g.slots); free(g.step_tok); free(g.step_slot); free(g.step_pos); free(g.argmax);
    free(g.cands);
}

/* ---- the CPU device ------------------------------------------------------------------ */

/* The CPU forward pass behind the scheduler's device interface. */
typedef struct cpu_gen {
    cpu_state *st;
    int vocab;
} cpu_gen;

static int cpu_gen_forward(void *ud, gen_pass *p, char *err, size_t errlen)
{
    cpu_gen *c = ud;
    const float *logits = cpu_forward_multi(c->st, p->tokens, p->slots, p->pos, p->n, p->n_out);
    if (!logits) return errf(err, errlen, "the forward pass rejected a token (id out of range)");
    for (int i = 0; i < p->n_out; i++)
        p->argmax[i] = native_argmax(logits + (size_t)i * c->vocab, c->vocab);
    p->logits = logits;
    return 0;
}

static int cpu_gen_copy_prefix(void *ud, int dst, int src, int len, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    cpu_state_copy_prefix(((cpu_gen *)ud)->st, dst, src, len);
    return 0;
}

static void cpu_gen_close(void *ud)
{
    cpu_gen *c = ud;
    cpu_state_free(c->st);
    free(c);
}

/* Positions a slot needs for the jobs: the longest prompt plus its max_gen, within ctx. */
static int gen_max_len(const native_backend *b, const gen_job *jobs, size_t n_jobs)
{
    size_t len = 2;
    for (size_t k = 0; k < n_jobs; k++)
        if (!jobs[k].prompt_failed && jobs[k].toks.n + (size_t)jobs[k].max_gen > len)
            len = jobs[k].toks.n + (size_t)jobs[k].max_gen;
    return len > (size_t)b->ctx ? b->ctx : (int)len;
}

/* A CPU device: min(parallel, jobs) caches of len positions, fewer when they would not fit
   in memory beside the model. */
static void cpu_gen_open(native_backend *b, int len, int want_slots, gen_device *out)
{
    int slots = want_slots < 1 ? 1 : want_slots;
    double mem = b->mem_limit;
    double have = mem - (double)b->m->file->map_size - (double)b->info.state_bytes;
    while (mem > 0 && slots > 1 &&
           (double)cpu_state_bytes_slots(b->m, len, b->batch, slots) > have)
        slots /= 2;
    cpu_gen *c = xcalloc(1, sizeof *c);
    int max_batch = b->batch > slots ? b->batch : slots;
    c->st = cpu_state_new_slots(b->m, len, max_batch, slots);
    c->vocab = b->m->cfg.n_vocab;
    *out = (gen_device){c, slots, max_batch, cpu_gen_forward, cpu_gen_copy_prefix,
                        cpu_gen_close};
}

void native_backend_set_gen_device(backend *base, gen_device *dev)
{
    ((native_backend *)base)->gen_dev = dev;
}

/* Fail every generate request of rc with msg (the device could not be opened). */
static void gen_fail_all(run_ctx *rc, const char *msg)
{
    for (size_t i = 0; i < rc->n; i++)
        if (rc->reqs[i].kind == REQ_GENERATE) {
            native_resp_fail(rc, i, msg);
            native_resp_done(rc, i);
        }
}

/* Open the device the jobs run on: the test's, the GPU's or a CPU state sized for them.
   0, or -1 with err. */
static int gen_open(native_backend *b, const gen_job *jobs, size_t n_jobs, gen_device *dev,
                    char *err, size_t errlen)
{
    int want = b->parallel < (int)n_jobs ? b->parallel : (int)n_jobs;
    if (b->gen_dev) {
        *dev = *b->gen_dev;
        dev->close = NULL;              /* the test's to release */
        if (dev->n_slots > want) dev->n_slots = want;
        return 0;
    }
#ifdef EVALLUA_HAVE_CUDA
    if (b->gpu) return cuda_gen_device_open(b, want, dev, err, errlen);
#else
    (void)err;
    (void)errlen;
#endif
    cpu_gen_open(b, gen_max_len(b, jobs, n_jobs), want, dev);
    return 0;
}

/* Generate every generate request, up to `parallel` of them decoding together (one token
   each per forward step, continuous batching: a finished request's slot takes the next
   prompt), on the backend's device (CPU or GPU: same scheduler). Prompts go in lexicographic
   order, each starting from the longest prefix a slot already holds (few-shot preambles are
   computed once). */
void native_run_generations(run_ctx *rc)
{
    native_backend *b = rc->b;
    size_t n_jobs = 0;
    gen_job *jobs = gen_prepare(rc, &n_jobs);
    gen_device dev;
    char err[512] = "";
    if (n_jobs && !backend_interrupted) {
        if (gen_open(b, jobs, n_jobs, &dev, err, sizeof err) < 0) {
            gen_fail_all(rc, err);
        } else {
            gen_run_jobs(rc, jobs, n_jobs, &dev);
            if (dev.close) dev.close(dev.ud);
            if (b->gpu) b->cached.n = 0;        /* slot 0's cache was overwritten */
        }
    }
    for (size_t k = 0; k < n_jobs; k++) {         /* not run (failed device, interrupt) */
        buf_free(&jobs[k].text);
        tok_ids_free(&jobs[k].toks);
        free(jobs[k].msg);
        jobs[k].msg = NULL;
    }
    free(jobs);
}
