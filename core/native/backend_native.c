/* backend_native.c — the native backend: loading, tokenization (lm-eval's rules), loglikelihood
 * and rolling requests with prefix sharing, on the CPU or the GPU (see backend_native.h for the
 * rules); generation is in generate.c. */
#include "native/backend_native.h"
#include "util/clock.h"
#include "native/native_internal.h"

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

double native_now_s(void)
{
    return mono_seconds();
}

/* ---- responses and progress ---------------------------------------------------------- */

void native_resp_done(run_ctx *rc, size_t i)
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
void native_resp_fail(run_ctx *rc, size_t i, const char *msg)
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
    double t0 = native_now_s();
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
    double dt = native_now_s() - t0;
    int64_t fed = (int64_t)(n - start);
    b->info.tokens_evaluated += fed;
    if (decode) { b->info.decode_seconds += dt; b->info.decode_tokens += fed; }
    else { b->info.prefill_seconds += dt; b->info.prefill_tokens += fed; }
    return 0;
}

int native_argmax(const float *v, int n)
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

void native_encode(const native_backend *b, const char *s, size_t n, int add_bos, tok_ids *out)
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
        native_encode(b, cont, ncont, 0, &cont_enc);
    } else {
        tok_ids whole = {0};
        char *joined = xmalloc(strlen(context) + ncont + 1);
        memcpy(joined, context, strlen(context));
        memcpy(joined + strlen(context), cont, ncont + 1);
        native_encode(b, context, nctx, 1, &ctx_enc);
        native_encode(b, joined, strlen(joined), 1, &whole);
        for (size_t i = ctx_enc.n; i < whole.n; i++) tok_ids_push(&cont_enc, whole.v[i]);
        if (cont_enc.n == 0 && strlen(joined) > nctx)   /* merged into the context: */
            native_encode(b, joined + nctx, strlen(joined + nctx), 0, &cont_enc);  /* on its own */
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
    native_encode(b, text, strlen(text), 0, &t);
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
    if (native_argmax(logits, a->n_vocab) != target) a->greedy = 0;
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
            native_resp_fail(rc, it->resp, "the forward pass rejected a token (id out of range)");
        } else {
            r->logprob += a.logprob;
            r->is_greedy = r->is_greedy && a.greedy;
        }
        rc->tokens += (int64_t)it->toks.n;
    }
    r->prompt_tokens += (int)it->toks.n;
    if (--rc->pending[it->resp] == 0) native_resp_done(rc, it->resp);
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
    if (--rc->pending[it->resp] == 0) native_resp_done(rc, it->resp);
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
    double t0 = native_now_s();
    int r = cuda_score_sequences(b->gpu, seqs, m, gpu_item_done, &g, &backend_interrupted, &st,
                                 err, sizeof err);
    for (size_t i = 0; r == -1 && i < m; i++)
        if (!g.finished[i]) {
            native_resp_fail(rc, g.items[i]->resp, err);
            finish_item(rc, g.items[i]);
        }
    b->info.tokens_evaluated += st.tokens_evaluated;
    b->info.tokens_reused += st.tokens_reused;
    b->info.prefill_tokens += st.tokens_evaluated;
    b->info.prefill_seconds += native_now_s() - t0;
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
        if (list->v[k].split == 0) native_resp_fail(rc, idx[k], msgs[k]);
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
        if (rc->pending[i] == 0) native_resp_done(rc, i);      /* empty text: logprob 0 */
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
    double t0 = native_now_s();
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
            native_resp_fail(&rc, i, "unknown request kind");
            native_resp_done(&rc, i);
        }
    }
    run_loglikelihoods(&rc);
    native_run_generations(&rc);
    int stopped = 0;
    for (size_t i = 0; i < n; i++) {               /* left unfinished by an interrupt */
        if (rc.final[i]) continue;
        native_resp_fail(&rc, i, "interrupted");
        native_resp_done(&rc, i);
        stopped = 1;
    }
    progress_finish(rc.prog);
    progress_free(rc.prog);
    free(rc.pending);
    free(rc.final);
    add_stats(b, &rc, native_now_s() - t0);
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
    double t0 = native_now_s();
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
    b->info.load_seconds = native_now_s() - t0;
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
