/* backend_native.c — the native CPU backend: tokenization, prefix-sharing scheduling and
 * the three request kinds over cpu_forward (see backend_native.h for the rules). */
#include "native/backend_native.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "native/chat_template.h"
#include "native/cpu/forward.h"
#ifdef EVALLUA_HAVE_CUDA
#include "native/cuda/cuda_forward.h"
#endif
#include "native/model.h"
#include "native/tokenizer.h"
#include "report/progress.h"
#include "util/buf.h"

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

/* One scored sequence: a loglikelihood pair or one window of a rolling request. */
typedef struct ll_item {
    size_t resp;                /* index of the response it adds to */
    tok_ids toks;               /* context tokens then continuation tokens, truncated */
    size_t split;               /* toks[split..] are scored (split >= 1) */
} ll_item;

typedef struct ll_list {
    ll_item *v;
    size_t n, cap;
} ll_list;

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

/* The memory the model and its state may take, 0 when unknown, and where the figure comes
   from: cfg_limit (mem_limit) when set, else the smaller of physical memory and the cgroup's
   memory.max. */
static double memory_limit(size_t cfg_limit, const char **source)
{
    if (cfg_limit > 0) {
        *source = "mem_limit";
        return (double)cfg_limit;
    }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    double have = pages > 0 && page > 0 ? (double)pages * (double)page : 0;
    *source = "physical memory";
    FILE *f = fopen("/sys/fs/cgroup/memory.max", "r");
    double cg = 0;
    if (f) {
        if (fscanf(f, "%lf", &cg) == 1 && cg > 0 && (have <= 0 || cg < have)) {
            have = cg;
            *source = "the cgroup's memory.max";
        }
        fclose(f);
    }
    return have;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- responses and progress ---------------------------------------------------------- */

static void resp_done(run_ctx *rc, size_t i)
{
    eval_response *r = &rc->resps[i];
    if (rc->final[i]) return;
    if (r->status == RESP_PENDING) r->status = RESP_OK;
    rc->final[i] = 1;
    rc->done++;
    if (r->status == RESP_FAILED) rc->failed++;
    progress_update(rc->prog, rc->done, rc->failed, 0, rc->tokens);
    if (rc->b->base.on_response) rc->b->base.on_response(rc->b->base.on_response_ud, i, r);
}

/* Mark response i failed with msg (once; later items of the same response are skipped). */
static void resp_fail(run_ctx *rc, size_t i, const char *msg)
{
    eval_response *r = &rc->resps[i];
    if (r->status == RESP_FAILED) return;
    r->status = RESP_FAILED;
    free(r->error);
    r->error = xstrdup(msg);
}

/* ---- the forward pass over a token sequence, reusing the cached prefix --------------- */

typedef void (*logits_fn)(void *ud, size_t pos, const float *logits);

/* cpu_forward_batch on the backend's device. */
static const float *forward_batch(native_backend *b, const int32_t *toks, int n, int pos,
                                  int n_out)
{
#ifdef EVALLUA_HAVE_CUDA
    if (b->gpu) return cuda_forward_batch(b->gpu, toks, n, pos, n_out);
#endif
    return cpu_forward_batch(b->st, toks, n, pos, n_out);
}

/* Run toks[0..n) through the state: positions shared with the cached sequence are kept
   (at least toks[first_out..] are run), and fn sees the logits of every position from
   first_out on. Returns 0, -1 when the forward pass rejects a token, -2 when the run was
   interrupted (backend_interrupted). */
static int feed(native_backend *b, const int32_t *toks, size_t n, size_t first_out,
                logits_fn fn, void *ud, int decode)
{
    size_t lcp = 0;
    while (lcp < n && lcp < b->cached.n && b->cached.v[lcp] == toks[lcp]) lcp++;
    size_t start = lcp < first_out ? lcp : first_out;
    b->info.tokens_reused += (int64_t)start;
    b->cached.n = start;
    double t0 = now_s();
    const int vocab = b->m->cfg.n_vocab;
    for (size_t p0 = start; p0 < n;) {
        if (backend_interrupted) return -2;
        size_t p1 = n - p0 > (size_t)b->batch ? p0 + (size_t)b->batch : n;
        size_t out_from = first_out > p0 ? first_out : p0;
        int n_out = p1 > out_from ? (int)(p1 - out_from) : 0;
        const float *logits = forward_batch(b, toks + p0, (int)(p1 - p0), (int)p0, n_out);
        if (!logits) return -1;
        for (size_t p = p0; p < p1; p++) tok_ids_push(&b->cached, toks[p]);
        for (int j = 0; j < n_out && fn; j++)
            fn(ud, out_from + (size_t)j, logits + (size_t)j * vocab);
        p0 = p1;
    }
    double dt = now_s() - t0;
    int64_t fed = (int64_t)(n - start);
    b->info.tokens_evaluated += fed;
    if (decode) { b->info.decode_seconds += dt; b->info.decode_tokens += fed; }
    else { b->info.prefill_seconds += dt; b->info.prefill_tokens += fed; }
    return 0;
}

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

static double log_softmax_at(const float *v, int n, int target)
{
    float max = v[0];
    for (int i = 1; i < n; i++) max = v[i] > max ? v[i] : max;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += exp((double)v[i] - max);
    return (double)v[target] - max - log(sum);
}

/* ---- tokenization (lm-eval's rules) ------------------------------------------------ */

static void encode(const native_backend *b, const char *s, size_t n, int add_bos, tok_ids *out)
{
    tok_encode(b->tok, s, n, add_bos, 1, out);
}

/* Build the scored sequence of a loglikelihood pair into it; -1 with msg on failure. */
static int ll_tokens(native_backend *b, const char *context, const char *cont, ll_item *it,
                     int *truncated, char *msg, size_t msglen)
{
    size_t nctx = strlen(context), ncont = strlen(cont);
    while (nctx && strchr(" \t\n\r\f\v", context[nctx - 1])) nctx--;   /* spaces move on */
    tok_ids ctx_enc = {0}, cont_enc = {0};
    if (nctx == 0 && nctx == strlen(context)) {
        tok_ids_push(&ctx_enc, b->prefix_token);
        encode(b, cont, ncont, 0, &cont_enc);
    } else {
        tok_ids whole = {0};
        char *joined = xmalloc(strlen(context) + ncont + 1);
        memcpy(joined, context, strlen(context));
        memcpy(joined + strlen(context), cont, ncont + 1);
        encode(b, context, nctx, 1, &ctx_enc);
        encode(b, joined, strlen(joined), 1, &whole);
        for (size_t i = ctx_enc.n; i < whole.n; i++) tok_ids_push(&cont_enc, whole.v[i]);
        if (cont_enc.n == 0 && strlen(joined) > nctx)   /* merged into the context: */
            encode(b, joined + nctx, strlen(joined + nctx), 0, &cont_enc);  /* on its own */
        free(joined);
        tok_ids_free(&whole);
        if (ctx_enc.n == 0) tok_ids_push(&ctx_enc, b->prefix_token);   /* no BOS: prefix */
    }
    int rc = 0;
    size_t max = (size_t)b->ctx + 1, total = ctx_enc.n + cont_enc.n;
    if (cont_enc.n > (size_t)b->ctx) {
        rc = errf(msg, msglen, "continuation of %zu tokens does not fit the context length %d",
                  cont_enc.n, b->ctx);
    } else {
        size_t drop = total > max ? total - max : 0;
        *truncated = drop > 0;
        for (size_t i = drop; i < ctx_enc.n; i++) tok_ids_push(&it->toks, ctx_enc.v[i]);
        it->split = it->toks.n;
        for (size_t i = 0; i < cont_enc.n; i++) tok_ids_push(&it->toks, cont_enc.v[i]);
    }
    tok_ids_free(&ctx_enc);
    tok_ids_free(&cont_enc);
    return rc;
}

/* Append the disjoint rolling windows of text to list (lm-eval's get_rolling_token_windows
   with context_len = 1, then make_disjoint_window). */
static void rolling_windows(native_backend *b, const char *text, size_t resp, ll_list *list,
                            int *count)
{
    tok_ids t = {0};
    encode(b, text, strlen(text), 0, &t);
    const size_t L = (size_t)b->ctx;
    size_t predicted = 0;
    *count = 0;
    while (predicted < t.n) {
        size_t pred_len = t.n - predicted < L ? t.n - predicted : L;
        size_t end = predicted + pred_len;
        if (list->n == list->cap) {
            list->cap = list->cap ? 2 * list->cap : 64;
            list->v = xrealloc(list->v, list->cap * sizeof *list->v);
        }
        ll_item *it = &list->v[list->n++];
        memset(it, 0, sizeof *it);
        it->resp = resp;
        /* window input a = t[end-L-1 .. end-1) (or [prefix] + t[..end-1) at the start);
           keeping len(a) - (pred_len - 1) of it as context leaves the tokens before
           t[end - pred_len] */
        size_t ctx_from = predicted == 0 ? 0 : (end > L + 1 ? end - L - 1 : 0);
        if (predicted == 0) tok_ids_push(&it->toks, b->prefix_token);
        for (size_t i = ctx_from; i < end - pred_len; i++) tok_ids_push(&it->toks, t.v[i]);
        it->split = it->toks.n;
        for (size_t i = end - pred_len; i < end; i++) tok_ids_push(&it->toks, t.v[i]);
        predicted = end;
        (*count)++;
    }
    tok_ids_free(&t);
}

/* ---- loglikelihood and rolling ----------------------------------------------------- */

/* Accumulates one item's score while feed() walks its positions. */
typedef struct score_acc {
    const ll_item *it;
    int n_vocab;
    double logprob;
    int greedy;
} score_acc;

static void score_position(void *ud, size_t pos, const float *logits)
{
    score_acc *a = ud;
    int32_t target = a->it->toks.v[pos + 1];
    a->logprob += log_softmax_at(logits, a->n_vocab, target);
    if (argmax(logits, a->n_vocab) != target) a->greedy = 0;
}

static void score_item(run_ctx *rc, const ll_item *it)
{
    native_backend *b = rc->b;
    eval_response *r = &rc->resps[it->resp];
    if (r->status != RESP_FAILED && it->split < it->toks.n) {
        score_acc a = {it, b->m->cfg.n_vocab, 0.0, 1};
        int fr = feed(b, it->toks.v, it->toks.n - 1, it->split - 1, score_position, &a, 0);
        if (fr == -2) return;                       /* interrupted: left unfinished */
        if (fr < 0) {
            resp_fail(rc, it->resp, "the forward pass rejected a token (id out of range)");
        } else {
            r->logprob += a.logprob;
            r->is_greedy = r->is_greedy && a.greedy;
        }
        rc->tokens += (int64_t)it->toks.n;
    }
    r->prompt_tokens += (int)it->toks.n;
    if (--rc->pending[it->resp] == 0) resp_done(rc, it->resp);
}

static int cmp_items(const void *pa, const void *pb)
{
    const ll_item *a = pa, *b = pb;
    size_t n = a->toks.n < b->toks.n ? a->toks.n : b->toks.n;
    for (size_t i = 0; i < n; i++)
        if (a->toks.v[i] != b->toks.v[i]) return a->toks.v[i] < b->toks.v[i] ? -1 : 1;
    if (a->toks.n != b->toks.n) return a->toks.n < b->toks.n ? -1 : 1;
    return a->resp < b->resp ? -1 : a->resp > b->resp;
}

#ifdef EVALLUA_HAVE_CUDA
/* What the GPU scheduler's callback needs to finish an item. */
typedef struct gpu_score_ctx {
    run_ctx *rc;
    const ll_item **items;      /* per scheduled sequence */
    const cuda_seq *seqs;
    unsigned char *finished;
} gpu_score_ctx;

/* An item's bookkeeping once it is scored (or skipped): score_item's tail. */
static void finish_item(run_ctx *rc, const ll_item *it)
{
    rc->resps[it->resp].prompt_tokens += (int)it->toks.n;
    if (--rc->pending[it->resp] == 0) resp_done(rc, it->resp);
}

static void gpu_item_done(void *ud, size_t i)
{
    gpu_score_ctx *g = ud;
    const ll_item *it = g->items[i];
    eval_response *r = &g->rc->resps[it->resp];
    if (r->status != RESP_FAILED) {
        r->logprob += g->seqs[i].logprob;
        r->is_greedy = r->is_greedy && g->seqs[i].greedy;
    }
    g->rc->tokens += (int64_t)it->toks.n;
    g->finished[i] = 1;
    finish_item(g->rc, it);
}

/* Score the sorted items on the GPU, many sequences per pass (cuda_score_sequences). */
static void score_items_gpu(run_ctx *rc, const ll_list *list)
{
    native_backend *b = rc->b;
    gpu_score_ctx g = {rc, xcalloc(list->n + 1, sizeof(ll_item *)),
                       NULL, xcalloc(list->n + 1, 1)};
    cuda_seq *seqs = xcalloc(list->n + 1, sizeof *seqs);
    size_t m = 0;
    for (size_t k = 0; k < list->n; k++) {
        const ll_item *it = &list->v[k];
        if (rc->resps[it->resp].status == RESP_FAILED || it->split >= it->toks.n) {
            finish_item(rc, it);
            continue;
        }
        seqs[m] = (cuda_seq){it->toks.v, it->toks.n, it->split, 0.0, 1};
        g.items[m++] = it;
    }
    g.seqs = seqs;
    cuda_score_stats st = {0};
    char err[512] = "";
    double t0 = now_s();
    int r = cuda_score_sequences(b->gpu, seqs, m, gpu_item_done, &g, &backend_interrupted, &st,
                                 err, sizeof err);
    for (size_t i = 0; r == -1 && i < m; i++)
        if (!g.finished[i]) {
            resp_fail(rc, g.items[i]->resp, err);
            finish_item(rc, g.items[i]);
        }
    b->info.tokens_evaluated += st.tokens_evaluated;
    b->info.tokens_reused += st.tokens_reused;
    b->info.prefill_tokens += st.tokens_evaluated;
    b->info.prefill_seconds += now_s() - t0;
    b->cached.n = 0;                        /* slot 0's cache was overwritten */
    free(seqs);
    free(g.items);
    free(g.finished);
}
#else
static void score_items_gpu(run_ctx *rc, const ll_list *list)
{
    (void)rc;
    (void)list;
}
#endif

/* Tokenize every loglikelihood request (in parallel) into one item each. */
static void ll_prepare(run_ctx *rc, ll_list *list, size_t *idx, size_t n_ll)
{
    native_backend *b = rc->b;
    list->v = xcalloc(n_ll ? n_ll : 1, sizeof *list->v);
    list->n = list->cap = n_ll;
    char (*msgs)[256] = xcalloc(n_ll ? n_ll : 1, sizeof *msgs);
    int *trunc = xcalloc(n_ll ? n_ll : 1, sizeof *trunc);
    #pragma omp parallel for schedule(dynamic, 8)
    for (size_t k = 0; k < n_ll; k++) {
        const eval_request *q = &rc->reqs[idx[k]];
        list->v[k].resp = idx[k];
        if (ll_tokens(b, q->context ? q->context : "", q->continuation ? q->continuation : "",
                      &list->v[k], &trunc[k], msgs[k], sizeof msgs[k]) < 0)
            list->v[k].split = 0;
    }
    for (size_t k = 0; k < n_ll; k++) {
        rc->pending[idx[k]] = 1;
        if (list->v[k].split == 0) resp_fail(rc, idx[k], msgs[k]);
        b->info.truncated += trunc[k];
        rc->resps[idx[k]].context_truncated = trunc[k];
    }
    free(msgs);
    free(trunc);
}

/* Score every loglikelihood and rolling request of the run. */
static void run_loglikelihoods(run_ctx *rc)
{
    ll_list list = {0};
    size_t *idx = xcalloc(rc->n + 1, sizeof *idx), n_ll = 0;
    for (size_t i = 0; i < rc->n; i++)
        if (rc->reqs[i].kind == REQ_LOGLIKELIHOOD) idx[n_ll++] = i;
    ll_prepare(rc, &list, idx, n_ll);
    for (size_t i = 0; i < rc->n; i++) {
        if (rc->reqs[i].kind != REQ_LOGLIKELIHOOD_ROLLING) continue;
        const char *text = rc->reqs[i].context ? rc->reqs[i].context : "";
        rolling_windows(rc->b, text, i, &list, &rc->pending[i]);
        if (rc->pending[i] == 0) resp_done(rc, i);      /* empty text: logprob 0 */
    }
    qsort(list.v, list.n, sizeof *list.v, cmp_items);
    if (rc->b->gpu) score_items_gpu(rc, &list);
    for (size_t k = 0; k < list.n; k++) {
        if (!rc->b->gpu && !backend_interrupted) score_item(rc, &list.v[k]);
        tok_ids_free(&list.v[k].toks);
    }
    free(list.v);
    free(idx);
}

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
    int best = argmax(logits, n), k = 0;
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
    encode(b, text, strlen(text), add_bos, &all);
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
    cpu_state *st;
    gen_slot *slots;
    int n_slots;
    int32_t *step_tok;          /* (max(batch, n_slots)) one step's tokens, slots, positions */
    int *step_slot, *step_pos;
    cand *cands;                /* (n_vocab) sampling scratch */
} gen_run;

/* The next token of job j from its logits: argmax, or a draw from its own generator. */
static int gen_choose(gen_run *g, gen_job *j, const float *logits)
{
    const gen_args *a = &g->rc->reqs[j->resp].gen;
    const int vocab = g->rc->b->m->cfg.n_vocab;
    return a->temperature > 0 ? sample(logits, vocab, a->temperature, a->top_p, &j->rng, g->cands)
                              : argmax(logits, vocab);
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

/* Report job j: its text, or the failure fr (-1: the forward pass rejected a token). */
static void gen_finish(gen_run *g, gen_job *j, int fr)
{
    run_ctx *rc = g->rc;
    eval_response *r = &rc->resps[j->resp];
    if (fr == -1) resp_fail(rc, j->resp, "the forward pass rejected a token (id out of range)");
    else r->text = buf_steal(&j->text);
    rc->tokens += r->prompt_tokens + r->completion_tokens;
    resp_done(rc, j->resp);
    buf_free(&j->text);
    tok_ids_free(&j->toks);
}

/* Make slot s hold the longest prefix of toks[0..n-1) that any slot holds (copying K/V
   from that slot); returns its length. */
static size_t gen_reuse_prefix(gen_run *g, int s, const tok_ids *toks)
{
    size_t best = 0, limit = toks->n - 1;
    int from = s;
    for (int k = 0; k < g->n_slots; k++) {
        const tok_ids *h = &g->slots[k].held;
        size_t l = 0;
        while (l < limit && l < h->n && h->v[l] == toks->v[l]) l++;
        if (l > best || (l == best && k == s)) { best = l; from = k; }
    }
    if (from != s) cpu_state_copy_prefix(g->st, s, from, (int)best);
    tok_ids *held = &g->slots[s].held;
    held->n = 0;
    for (size_t i = 0; i < best; i++) tok_ids_push(held, toks->v[i]);
    return best;
}

/* Start job j in slot s: run its prompt (after the reused prefix) and take its first token.
   Returns 1 when it goes on decoding, 0 when complete, -1 when the forward pass failed,
   -2 when interrupted. */
static int gen_start(gen_run *g, int s, gen_job *j)
{
    native_backend *b = g->rc->b;
    const size_t n = j->toks.n;
    size_t p0 = gen_reuse_prefix(g, s, &j->toks);
    b->info.tokens_reused += (int64_t)p0;
    double t0 = now_s();
    const float *logits = NULL;
    for (size_t start = p0; start < n;) {
        if (backend_interrupted) return -2;
        int m = n - start > (size_t)b->batch ? b->batch : (int)(n - start);
        for (int i = 0; i < m; i++) {
            g->step_tok[i] = j->toks.v[start + (size_t)i];
            g->step_slot[i] = s;
            g->step_pos[i] = (int)start + i;
        }
        start += (size_t)m;
        logits = cpu_forward_multi(g->st, g->step_tok, g->step_slot, g->step_pos, m,
                                   start == n ? 1 : 0);
        if (!logits) return -1;
        for (int i = 0; i < m; i++) tok_ids_push(&g->slots[s].held, g->step_tok[i]);
    }
    b->info.prefill_seconds += now_s() - t0;
    b->info.prefill_tokens += (int64_t)(n - p0);
    b->info.tokens_evaluated += (int64_t)(n - p0);
    return gen_accept(g, j, gen_choose(g, j, logits));
}

/* One decode step: every active job's last token through one forward pass; jobs that
   complete (or fail) leave their slot. */
static void gen_step(gen_run *g)
{
    native_backend *b = g->rc->b;
    int n = 0;
    for (int s = 0; s < g->n_slots; s++) {
        gen_job *j = g->slots[s].job;
        if (!j) continue;
        g->step_tok[n] = j->toks.v[j->toks.n - 1];
        g->step_slot[n] = s;
        g->step_pos[n++] = (int)j->toks.n - 1;
    }
    double t0 = now_s();
    const float *logits = cpu_forward_multi(g->st, g->step_tok, g->step_slot, g->step_pos, n, n);
    b->info.decode_seconds += now_s() - t0;
    b->info.decode_tokens += n;
    b->info.tokens_evaluated += n;
    for (int i = 0; i < n; i++) {
        gen_slot *sl = &g->slots[g->step_slot[i]];
        gen_job *j = sl->job;
        int fr = logits ? 0 : -1;
        if (logits) tok_ids_push(&sl->held, g->step_tok[i]);
        if (logits && gen_accept(g, j, gen_choose(g, j, logits + (size_t)i * b->m->cfg.n_vocab)))
            continue;
        gen_finish(g, j, fr);
        sl->job = NULL;
    }
}

/* Put jobs[*next..] into free slots until every slot is busy or no job is left. */
static void gen_fill(gen_run *g, gen_job *jobs, size_t n_jobs, size_t *next)
{
    for (int s = 0; s < g->n_slots && !backend_interrupted; s++) {
        while (!g->slots[s].job && *next < n_jobs && !backend_interrupted) {
            gen_job *j = &jobs[(*next)++];
            if (j->prompt_failed) {
                resp_fail(g->rc, j->resp, j->msg);
                resp_done(g->rc, j->resp);
                continue;
            }
            g->rc->resps[j->resp].prompt_tokens = (int)j->toks.n;
            int fr = gen_start(g, s, j);
            if (fr == 1) g->slots[s].job = j;
            else if (fr != -2) gen_finish(g, j, fr);
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

/* Slots and positions for the jobs: min(parallel, jobs) caches of the longest prompt plus
   its max_gen, fewer when they would not fit in memory beside the model. */
static cpu_state *gen_state(native_backend *b, const gen_job *jobs, size_t n_jobs, int *n_slots,
                            int *max_batch)
{
    size_t len = 2;
    for (size_t k = 0; k < n_jobs; k++)
        if (!jobs[k].prompt_failed && jobs[k].toks.n + (size_t)jobs[k].max_gen > len)
            len = jobs[k].toks.n + (size_t)jobs[k].max_gen;
    if (len > (size_t)b->ctx) len = (size_t)b->ctx;
    int slots = b->parallel < (int)n_jobs ? b->parallel : (int)n_jobs;
    if (slots < 1) slots = 1;
    double mem = b->mem_limit;
    double have = mem - (double)b->m->file->map_size - (double)b->info.state_bytes;
    while (mem > 0 && slots > 1 && (double)cpu_state_bytes_slots(b->m, (int)len, b->batch, slots) > have)
        slots /= 2;
    *n_slots = slots;
    *max_batch = b->batch > slots ? b->batch : slots;
    return cpu_state_new_slots(b->m, (int)len, *max_batch, slots);
}

/* Generate every generate request, up to `parallel` of them decoding together (one token
   each per forward step, continuous batching: a finished request's slot takes the next
   prompt). Prompts go in lexicographic order, each starting from the longest prefix a slot
   already holds (few-shot preambles are computed once). */
static void run_generations(run_ctx *rc)
{
    native_backend *b = rc->b;
    size_t n_jobs = 0, next = 0;
    gen_job *jobs = gen_prepare(rc, &n_jobs);
    gen_run g = {.rc = rc};
    int max_batch = 1;
    if (n_jobs) {
        g.st = gen_state(b, jobs, n_jobs, &g.n_slots, &max_batch);
        g.slots = xcalloc((size_t)g.n_slots, sizeof *g.slots);
        g.step_tok = xcalloc((size_t)max_batch, sizeof *g.step_tok);
        g.step_slot = xcalloc((size_t)max_batch, sizeof *g.step_slot);
        g.step_pos = xcalloc((size_t)max_batch, sizeof *g.step_pos);
        g.cands = xmalloc((size_t)b->m->cfg.n_vocab * sizeof *g.cands);
    }
    for (;;) {
        gen_fill(&g, jobs, n_jobs, &next);
        int active = 0;
        for (int s = 0; s < g.n_slots; s++) active += g.slots[s].job != NULL;
        if (!active || backend_interrupted) break;
        gen_step(&g);                   /* a failed step fails its requests */
    }
    for (size_t k = 0; k < n_jobs; k++) {     /* left unfinished by an interrupt */
        buf_free(&jobs[k].text);
        tok_ids_free(&jobs[k].toks);
        free(jobs[k].msg);
    }
    for (int s = 0; s < g.n_slots; s++) tok_ids_free(&g.slots[s].held);
    cpu_state_free(g.st);
    free(g.slots); free(g.step_tok); free(g.step_slot); free(g.step_pos); free(g.cands);
    free(jobs);
}

/* ---- the backend ------------------------------------------------------------------- */

static void add_stats(native_backend *b, const run_ctx *rc, double seconds)
{
    backend_stats *s = &b->base.stats;
    s->requests += (int64_t)rc->n;
    s->failed += (int64_t)rc->failed;
    for (size_t i = 0; i < rc->n; i++) {
        s->prompt_tokens += rc->resps[i].prompt_tokens;
        s->completion_tokens += rc->resps[i].completion_tokens;
    }
    s->wall_seconds += seconds;
}

static int native_run(backend *base, const eval_request *reqs, eval_response *resps, size_t n,
                      char *err, size_t errlen)
{
    native_backend *b = (native_backend *)base;
    double t0 = now_s();
    int saved_threads = omp_get_max_threads();
    if (b->threads > 0) omp_set_num_threads(b->threads);
    run_ctx rc = {.b = b, .reqs = reqs, .resps = resps, .n = n};
    rc.pending = xcalloc(n + 1, sizeof *rc.pending);
    rc.final = xcalloc(n + 1, 1);
    if (n) memset(resps, 0, n * sizeof *resps);
    if (b->progress && n) rc.prog = progress_new(b->label ? b->label : "native", n, stderr);
    for (size_t i = 0; i < n; i++) {
        req_kind k = reqs[i].kind;
        resps[i].attempts = 1;
        if (k == REQ_LOGLIKELIHOOD || k == REQ_LOGLIKELIHOOD_ROLLING) resps[i].is_greedy = 1;
        else if (k != REQ_GENERATE) {
            resp_fail(&rc, i, "unknown request kind");
            resp_done(&rc, i);
        }
    }
    run_loglikelihoods(&rc);
    run_generations(&rc);
    int stopped = 0;
    for (size_t i = 0; i < n; i++) {               /* left unfinished by an interrupt */
        if (rc.final[i]) continue;
        resp_fail(&rc, i, "interrupted");
        resp_done(&rc, i);
        stopped = 1;
    }
    progress_finish(rc.prog);
    progress_free(rc.prog);
    free(rc.pending);
    free(rc.final);
    add_stats(b, &rc, now_s() - t0);
    omp_set_num_threads(saved_threads);
    return stopped ? errf(err, errlen, "interrupted") : 0;
}

static void native_destroy(backend *base)
{
    native_backend *b = (native_backend *)base;
    if (!b) return;
    cpu_state_free(b->st);
#ifdef EVALLUA_HAVE_CUDA
    cuda_state_free(b->gpu);
#endif
    tok_ids_free(&b->cached);
    chat_template_free(b->chat);
    tok_free(b->tok);
    model_free(b->m);
    free(b->path);
    free(b->label);
    free(b);
}

static const backend_vtable native_vt = {
    "native", REQ_LOGLIKELIHOOD | REQ_LOGLIKELIHOOD_ROLLING | REQ_GENERATE, native_run,
    native_destroy};

/* The chat template of the model (b->chat), or the reason there is none (b->chat_err). */
static void load_chat(native_backend *b)
{
    const char *tmpl = NULL;
    const tok_config *tc = tok_get_config(b->tok);
    gguf_get_str(b->m->file, "tokenizer.chat_template", &tmpl, NULL, 0);
    const char *bos = tc->bos >= 0 ? tok_text(b->tok, tc->bos) : "";
    const char *eos = tc->eos >= 0 ? tok_text(b->tok, tc->eos) : "";
    b->chat = chat_template_new(tmpl, bos, eos, b->path, b->chat_err, sizeof b->chat_err);
    b->info.chat_format = chat_format_name(b->chat ? b->chat->format : CHAT_UNKNOWN);
}

/* The forward state on cfg->device: a CPU state, or the model uploaded to the GPU. */
static int open_device(native_backend *b, const native_config *cfg, char *err, size_t errlen)
{
    const char *dev = cfg->device && *cfg->device ? cfg->device : "cpu";
    if (strcmp(dev, "cpu") == 0) {
        b->st = cpu_state_new_batch(b->m, b->ctx, b->batch);
        return 0;
    }
    if (strcmp(dev, "cuda") != 0)
        return errf(err, errlen, "device=%s: unknown device (cpu, cuda)", dev);
#ifdef EVALLUA_HAVE_CUDA
    if (cuda_device_check(err, errlen) < 0) return -1;
    cuda_options o = {.max_seq = b->ctx, .max_tokens = b->batch > 2048 ? b->batch : 0};
    char msg[512];
    if (!(b->gpu = cuda_state_new(b->m, &o, msg, sizeof msg)))
        return errf(err, errlen, "%s: device=cuda: %s", b->path, msg);
    b->info.state_bytes = cuda_state_bytes(b->gpu);
    return 0;
#else
    return errf(err, errlen, "device=cuda: this evallua was built without CUDA (configure "
                "with -DEVALLUA_CUDA=ON on a machine with nvcc)");
#endif
}

/* Choose ctx and check that the KV cache fits in memory. */
static int size_state(native_backend *b, const native_config *cfg, char *err, size_t errlen)
{
    int train = b->m->cfg.n_ctx_train > 0 ? b->m->cfg.n_ctx_train : DEFAULT_CTX_CAP;
    b->ctx = cfg->ctx > 0 ? cfg->ctx : (train < DEFAULT_CTX_CAP ? train : DEFAULT_CTX_CAP);
    if (b->ctx > train) b->ctx = train;
    if (b->ctx < 2) b->ctx = 2;
    size_t need = cpu_state_bytes(b->m, b->ctx, b->batch);
    const char *source = "";
    double have = memory_limit(cfg->mem_limit, &source);
    if (have > 0 && (double)need + (double)b->m->file->map_size > have)
        return errf(err, errlen, "%s: not enough memory for ctx=%d: the model (%.0f MiB) and "
                    "its KV cache and activations (%.0f MiB) need %.0f MiB, %s is %.0f MiB; "
                    "a smaller ctx= needs less", b->path, b->ctx,
                    b->m->file->map_size / 1048576.0, need / 1048576.0,
                    ((double)need + (double)b->m->file->map_size) / 1048576.0, source,
                    have / 1048576.0);
    b->mem_limit = have;
    b->info.state_bytes = need;
    return 0;
}

backend *native_backend_new(const native_config *cfg, char *err, size_t errlen)
{
    if (!cfg || !cfg->path || !*cfg->path) {
        errf(err, errlen, "native backend: no model path (path=MODEL.gguf)");
        return NULL;
    }
    double t0 = now_s();
    native_backend *b = xcalloc(1, sizeof *b);
    b->base.vt = &native_vt;
    b->path = xstrdup(cfg->path);
    b->label = cfg->label ? xstrdup(cfg->label) : NULL;
    b->threads = cfg->threads;
    b->batch = cfg->batch > 0 ? cfg->batch : DEFAULT_BATCH;
    b->parallel = cfg->parallel > 0 ? cfg->parallel : DEFAULT_PARALLEL;
    b->progress = cfg->progress;
    if (!(b->m = model_open(cfg->path, err, errlen))) goto fail;
    if (!(b->tok = tok_load(b->m->file, err, errlen))) goto fail;
    const tok_config *tc = tok_get_config(b->tok);
    if (tc->n_vocab > b->m->cfg.n_vocab) {
        errf(err, errlen, "%s: the vocabulary has %d tokens but the model only %d", b->path,
             (int)tc->n_vocab, b->m->cfg.n_vocab);
        goto fail;
    }
    b->prefix_token = tc->bos >= 0 ? tc->bos : tc->eos >= 0 ? tc->eos : tc->eot;
    if (b->prefix_token < 0) {
        errf(err, errlen, "%s: the vocabulary has neither BOS nor EOS", b->path);
        goto fail;
    }
    if (size_state(b, cfg, err, errlen) < 0 || open_device(b, cfg, err, errlen) < 0) goto fail;
    load_chat(b);
    snprintf(b->info.arch, sizeof b->info.arch, "%s", b->m->cfg.arch);
    b->info.ctx = b->ctx;
    b->info.threads = b->threads > 0 ? b->threads : omp_get_max_threads();
    b->info.model_bytes = b->m->file->map_size;
    b->info.load_seconds = now_s() - t0;
    return &b->base;
fail:
    native_destroy(&b->base);
    return NULL;
}

int native_backend_info(const backend *base, native_info *out)
{
    if (!base || base->vt != &native_vt) return -1;
    const native_backend *b = (const native_backend *)base;
    *out = b->info;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) out->peak_rss_bytes = (size_t)ru.ru_maxrss * 1024;
    return 0;
}

char *native_backend_apply_chat(const backend *base, const char *messages_json, char *err,
                                size_t errlen)
{
    if (!base || base->vt != &native_vt) {
        errf(err, errlen, "chat templates need the native backend");
        return NULL;
    }
    const native_backend *b = (const native_backend *)base;
    if (!b->chat) {
        errf(err, errlen, "%s", b->chat_err);
        return NULL;
    }
    return chat_render(b->chat, messages_json, err, errlen);
}
