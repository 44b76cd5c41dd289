/* bench_cuda.c — throughput of the CUDA native backend (scripts/gpu-check runs it).
 *
 *   bench_cuda MODEL.gguf [HELLASWAG.jsonl] [DOCS]
 *
 * 1. loglikelihood: DOCS (1000) HellaSwag documents x 4 endings through the backend with
 *    device=cuda (tokenization, prefix sharing, scheduling included); without the data file,
 *    synthetic documents of ~80-token contexts and 4 ~20-token endings. Reports request
 *    tokens/s (context + continuation tokens of every request, as lm-eval counts them) and
 *    evaluated positions/s (shared contexts counted once).
 * 2. decode: greedy steps of batch 1 and 32 (one token per sequence per pass, CUDA graphs),
 *    tokens/s, and batch 1 against the HBM roofline: weight bytes read per step x steps/s /
 *    peak bandwidth (from the GPU's name: H200 4.8 TB/s, H100 SXM 3.35, H100 PCIe 2.0,
 *    A100 2.0).
 * 3. prefill: one pass of max_tokens positions (8 sequences), as a fraction of the tensor
 *    cores' dense FP16 peak (H100/H200 SXM 989 TFLOP/s, H100 PCIe 756, A100 312), counting
 *    2 x weights FLOPs per token (attention excluded).
 * Prints "key: value" lines. The HellaSwag texts use lm-eval's context/continuation shape
 * (activity label, ctx_a, capitalised ctx_b; " " + ending) without its bracket clean-up. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "native/backend_native.h"
#include "native/cuda/cuda_forward.h"
#include "native/model.h"
#include "util/buf.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- loglikelihood ------------------------------------------------------------------- */

typedef struct doc_set {
    char **ctx, **cont;     /* 4 requests per document */
    size_t n;               /* requests */
} doc_set;

static void add_req(doc_set *d, char *ctx, char *cont)
{
    d->ctx = xrealloc(d->ctx, (d->n + 1) * sizeof *d->ctx);
    d->cont = xrealloc(d->cont, (d->n + 1) * sizeof *d->cont);
    d->ctx[d->n] = ctx;
    d->cont[d->n++] = cont;
}

/* HellaSwag documents from a JSON-lines file; 0 documents when it cannot be read. */
static size_t load_hellaswag(const char *path, size_t want, doc_set *d)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) return 0;
    char *line = NULL;
    size_t cap = 0, docs = 0;
    while (docs < want && getline(&line, &cap, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        const char *label = cJSON_GetStringValue(cJSON_GetObjectItem(j, "activity_label"));
        const char *a = cJSON_GetStringValue(cJSON_GetObjectItem(j, "ctx_a"));
        const char *b = cJSON_GetStringValue(cJSON_GetObjectItem(j, "ctx_b"));
        cJSON *ends = cJSON_GetObjectItem(j, "endings");
        if (label && a && b && cJSON_GetArraySize(ends) == 4) {
            buf ctx = {0};
            buf_printf(&ctx, "%s: %s ", label, a);
            if (b[0]) buf_printf(&ctx, "%c%s", b[0] >= 'a' && b[0] <= 'z' ? b[0] - 32 : b[0],
                                 b + 1);
            for (int e = 0; e < 4; e++) {
                buf cont = {0};
                buf_printf(&cont, " %s", cJSON_GetStringValue(cJSON_GetArrayItem(ends, e)));
                add_req(d, xstrdup(buf_str(&ctx)), buf_steal(&cont));
            }
            buf_free(&ctx);
            docs++;
        }
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    return docs;
}

/* Synthetic documents: ~80-word contexts and 4 endings of ~20 words (fixed seed). */
static size_t synthetic_docs(size_t want, doc_set *d)
{
    static const char *words[] = {"the", "man", "walks", "to", "a", "large", "red", "barn",
                                  "and", "opens", "door", "while", "his", "dog", "runs",
                                  "around", "field", "she", "then", "picks", "up", "small",
                                  "ball", "throws", "it", "across", "river", "children",
                                  "laugh", "watch", "from", "bench"};
    uint32_t seed = 12345;
    for (size_t i = 0; i < want; i++) {
        buf ctx = {0};
        for (int w = 0; w < 70; w++) {
            seed = seed * 1664525u + 1013904223u;
            buf_printf(&ctx, "%s%s", w ? " " : "", words[(seed >> 16) % 32]);
        }
        for (int e = 0; e < 4; e++) {
            buf cont = {0};
            for (int w = 0; w < 18; w++) {
                seed = seed * 1664525u + 1013904223u;
                buf_printf(&cont, " %s", words[(seed >> 16) % 32]);
            }
            add_req(d, xstrdup(buf_str(&ctx)), buf_steal(&cont));
        }
        buf_free(&ctx);
    }
    return want;
}

static int bench_loglikelihood(const char *path, const char *data, size_t want)
{
    doc_set d = {0};
    size_t docs = load_hellaswag(data, want, &d);
    const char *source = "hellaswag";
    if (docs == 0) {
        docs = synthetic_docs(want, &d);
        source = "synthetic (no HellaSwag data found)";
    }
    eval_request *reqs = xcalloc(d.n, sizeof *reqs);
    eval_response *resps = xcalloc(d.n, sizeof *resps);
    for (size_t i = 0; i < d.n; i++) {
        reqs[i].kind = REQ_LOGLIKELIHOOD;
        reqs[i].context = d.ctx[i];
        reqs[i].continuation = d.cont[i];
    }
    char err[512];
    native_config cfg = {.path = path, .ctx = 2048, .device = "cuda"};
    backend *b = native_backend_new(&cfg, err, sizeof err);
    if (!b) {
        fprintf(stderr, "bench_cuda: %s\n", err);
        return -1;
    }
    size_t warm = d.n < 200 ? d.n : 200;              /* graphs, cuBLAS heuristics */
    b->vt->run(b, reqs, resps, warm, err, sizeof err);
    for (size_t i = 0; i < warm; i++) free(resps[i].error);
    native_info before, after;
    native_backend_info(b, &before);
    double t0 = now_s();
    int rc = b->vt->run(b, reqs, resps, d.n, err, sizeof err);
    double dt = now_s() - t0;
    native_backend_info(b, &after);
    long long tokens = 0, failed = 0;
    for (size_t i = 0; i < d.n; i++) {
        tokens += resps[i].prompt_tokens;
        failed += resps[i].status != RESP_OK;
        if (resps[i].error && failed == 1) fprintf(stderr, "bench_cuda: %s\n", resps[i].error);
        free(resps[i].error);
    }
    printf("ll_source: %s\n", source);
    printf("ll_docs: %zu\nll_requests: %zu\nll_failed: %lld\n", docs, d.n, failed);
    printf("ll_seconds: %.3f\n", dt);
    printf("ll_request_tokens_per_s: %.0f\n", tokens / dt);
    printf("ll_evaluated_positions_per_s: %.0f\n",
           (after.tokens_evaluated - before.tokens_evaluated) / dt);
    printf("ll_positions_reused: %lld\n", (long long)(after.tokens_reused - before.tokens_reused));
    b->vt->destroy(b);
    for (size_t i = 0; i < d.n; i++) {
        free(d.ctx[i]);
        free(d.cont[i]);
    }
    free(d.ctx);
    free(d.cont);
    free(reqs);
    free(resps);
    return rc;
}

/* ---- decode and prefill on the forward pass directly ---------------------------------- */

/* Bytes of every matrix read per decode step, and the matrices' parameter count. */
static void weight_sizes(const model *m, double *bytes, double *params)
{
    *bytes = (double)m->output->nbytes;
    *params = (double)m->output->ne[0] * (double)m->output->ne[1];
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const layer_weights *w = &m->layers[l];
        const gguf_tensor *t[7] = {w->wq, w->wk, w->wv, w->wo, w->w_gate, w->w_up, w->w_down};
        for (int i = 0; i < 7; i++) {
            *bytes += (double)t[i]->nbytes;
            *params += (double)t[i]->ne[0] * (double)t[i]->ne[1];
        }
    }
}

/* Peak HBM bandwidth (B/s) and dense FP16 tensor throughput (FLOP/s) by GPU name; 0 when
   unknown. */
static void gpu_peaks(const char *name, double *bw, double *flops)
{
    *bw = *flops = 0;
    if (strstr(name, "H200")) { *bw = 4.8e12; *flops = 989e12; }
    else if (strstr(name, "H100") && strstr(name, "PCIe")) { *bw = 2.0e12; *flops = 756e12; }
    else if (strstr(name, "H100")) { *bw = 3.35e12; *flops = 989e12; }
    else if (strstr(name, "A100")) { *bw = 2.0e12; *flops = 312e12; }
}

/* steps greedy decode steps of `batch` sequences; returns tokens/s or -1. */
static double bench_decode(cuda_state *st, const model *m, int batch, int steps)
{
    char err[512];
    int32_t toks[64], slots[64], pos[64], rows[64], am[64];
    for (int i = 0; i < batch; i++) {
        toks[i] = (int32_t)((i * 7919 + 1) % m->cfg.n_vocab);
        slots[i] = i;
        rows[i] = i;
        pos[i] = 0;
        cuda_set_prefix(st, i, i, 0);
    }
    double t0 = 0;
    for (int s = 0; s < steps + 4; s++) {           /* 4 warm-up steps (graph capture) */
        if (s == 4) t0 = now_s();
        cuda_batch b = {batch, toks, slots, pos, batch, rows, NULL, NULL, am, NULL};
        if (cuda_forward(st, &b, err, sizeof err) < 0) {
            fprintf(stderr, "bench_cuda: decode: %s\n", err);
            return -1;
        }
        for (int i = 0; i < batch; i++) {
            toks[i] = am[i];
            pos[i]++;
        }
    }
    return (double)batch * steps / (now_s() - t0);
}

/* One pass of max_tokens positions over 8 sequences; returns positions/s or -1. */
static double bench_prefill(cuda_state *st, const model *m, int reps)
{
    char err[512];
    const int T = cuda_state_max_tokens(st), per = T / 8;
    int32_t *toks = xcalloc((size_t)T, 4), *slots = xcalloc((size_t)T, 4);
    int32_t *pos = xcalloc((size_t)T, 4), row = T - 1, am;
    for (int i = 0; i < T; i++) {
        toks[i] = (int32_t)((i * 104729 + 3) % m->cfg.n_vocab);
        slots[i] = i / per < 8 ? i / per : 7;
        pos[i] = i - slots[i] * per;
    }
    for (int s = 0; s < 8; s++) cuda_set_prefix(st, s, s, 0);
    double t0 = 0, rate = -1;
    for (int r = 0; r < reps + 1; r++) {
        if (r == 1) t0 = now_s();
        cuda_batch b = {T, toks, slots, pos, 1, &row, NULL, NULL, &am, NULL};
        if (cuda_forward(st, &b, err, sizeof err) < 0) {
            fprintf(stderr, "bench_cuda: prefill: %s\n", err);
            goto done;
        }
    }
    rate = (double)T * reps / (now_s() - t0);
done:
    free(toks);
    free(slots);
    free(pos);
    return rate;
}

static int bench_forward(const char *path)
{
    char err[512];
    model *m = model_open(path, err, sizeof err);
    if (!m) {
        fprintf(stderr, "bench_cuda: %s\n", err);
        return -1;
    }
    cuda_options o = {.max_seq = 1024, .n_slots = 32, .max_tokens = 4096};
    cuda_state *st = cuda_state_new(m, &o, err, sizeof err);
    if (!st) {
        fprintf(stderr, "bench_cuda: %s\n", err);
        model_free(m);
        return -1;
    }
    double bytes, params, bw, flops;
    weight_sizes(m, &bytes, &params);
    gpu_peaks(cuda_state_device_name(st), &bw, &flops);
    printf("gpu: %s\n", cuda_state_device_name(st));
    printf("weight_bytes_per_step: %.0f\nmatrix_params: %.0f\n", bytes, params);
    double d1 = bench_decode(st, m, 1, 256), d32 = bench_decode(st, m, 32, 128);
    printf("decode_b1_tokens_per_s: %.1f\n", d1);
    printf("decode_b32_tokens_per_s: %.1f\n", d32);
    if (bw > 0 && d1 > 0)
        printf("decode_b1_roofline_fraction: %.3f (%.0f GB/s of %.0f GB/s)\n", bytes * d1 / bw,
               bytes * d1 / 1e9, bw / 1e9);
    double pf = bench_prefill(st, m, 5);
    printf("prefill_tokens_per_s: %.0f (passes of %d positions)\n", pf,
           cuda_state_max_tokens(st));
    if (flops > 0 && pf > 0)
        printf("prefill_tensor_core_fraction: %.3f (%.1f TFLOP/s of %.0f)\n",
               2 * params * pf / flops, 2 * params * pf / 1e12, flops / 1e12);
    cuda_state_free(st);
    model_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_cuda MODEL.gguf [HELLASWAG.jsonl] [DOCS]\n");
        return 2;
    }
    char err[512];
    if (cuda_device_check(err, sizeof err) < 0) {
        fprintf(stderr, "bench_cuda: %s\n", err);
        return 1;
    }
    size_t docs = argc > 3 ? (size_t)atol(argv[3]) : 1000;
    int rc = bench_forward(argv[1]);
    if (bench_loglikelihood(argv[1], argc > 2 ? argv[2] : NULL, docs) < 0) rc = -1;
    return rc < 0 ? 1 : 0;
}
