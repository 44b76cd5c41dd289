/* test_cuda_forward.c — the CUDA native backend against a CPU reference.
 *
 * Kernels one by one (cuda_kernels.h) against cpu/quant.c, cpu/ops.c and cpu/matmul.c on
 * synthetic data: decoding of every tensor type (exact), FP16 dequantization, the quantized
 * matrix-vector kernel for 1..11 token columns, RMSNorm, RoPE (normal and NeoX, partial
 * rotary dims, scaled positions), causal GQA attention over an F16 cache, log-softmax with
 * argmax ties. Then whole models (stories260K, and SmolLM2-135M Q4_1 when fetched) against
 * a plain float forward pass written here (dequantized weights, float activations and KV):
 * per-token logprobs within 1e-2 on the prefill (cuBLAS) path, the one-token (matrix-vector
 * + CUDA graph) path, several sequences decoded in one pass, and the loglikelihood scheduler
 * with shared prefixes and small passes; identical greedy continuations. Finally the
 * backend with device=cuda against device=cpu: loglikelihoods, and generation (64 greedy
 * tokens of several prompts decoded together on the GPU: the CPU's tokens).
 *
 * The reference is itself checked against the CPU engine on stories260K in every build.
 * Skips (exit 77) in a build without CUDA and on a machine without a GPU, after checking
 * that device=cuda then fails with a message saying so. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "native/backend_native.h"
#include "native/cpu/forward.h"
#include "native/cpu/matmul.h"
#include "native/cpu/ops.h"
#include "native/cpu/quant.h"
#include "native/model.h"
#include "native/tokenizer.h"
#include "util/buf.h"
#ifdef EVALLUA_HAVE_CUDA
#include "native/cuda/cuda_forward.h"
#include "native/cuda/cuda_kernels.h"
#endif

static void stories_path(char *out, size_t n)
{
    const char *dir = getenv("EVALLUA_TEST_MODELS");
    snprintf(out, n, "%s/stories260K.gguf", dir ? dir : "../shared/models");
}

/* device=cuda where it cannot run: the error must say why. Returns the message. */
static void check_device_error(const char *needle)
{
    char path[1024], err[512] = "";
    stories_path(path, sizeof path);
    if (access(path, R_OK) != 0) return;
    native_config cfg = {.path = path, .ctx = 64, .device = "cuda"};
    backend *b = native_backend_new(&cfg, err, sizeof err);
    CHECK(b == NULL);
    if (b) b->vt->destroy(b);
    CHECK(strstr(err, needle) != NULL);
    printf("device=cuda here: %s\n", err);
}

/* ---- a float reference forward pass ---------------------------------------------------- */

/* llama2.c's forward pass with every weight dequantized to float (cpu_matvec), float
   activations and a float KV cache: the numbers the GPU should reproduce. */
typedef struct ref_state {
    const model *m;
    int max_seq;
    float *x, *xb, *q, *k, *v, *att_out, *hb, *hb2, *att, *logits, *kc, *vc;
    double *inv_freq;
} ref_state;

static ref_state *ref_new(const model *m, int max_seq)
{
    const model_config *c = &m->cfg;
    const size_t q_dim = (size_t)c->n_heads * c->head_dim;
    const size_t kv = (size_t)c->n_kv_heads * c->head_dim;
    ref_state *r = xcalloc(1, sizeof *r);
    r->m = m;
    r->max_seq = max_seq;
    r->x = xcalloc((size_t)c->dim, 4);
    r->xb = xcalloc((size_t)c->dim, 4);
    r->q = xcalloc(q_dim, 4);
    r->att_out = xcalloc(q_dim, 4);
    r->k = xcalloc(kv, 4);
    r->v = xcalloc(kv, 4);
    r->hb = xcalloc((size_t)c->ffn_dim, 4);
    r->hb2 = xcalloc((size_t)c->ffn_dim, 4);
    r->att = xcalloc((size_t)max_seq, 4);
    r->logits = xcalloc((size_t)c->n_vocab, 4);
    r->kc = xcalloc((size_t)c->n_layers * max_seq * kv, 4);
    r->vc = xcalloc((size_t)c->n_layers * max_seq * kv, 4);
    r->inv_freq = xcalloc((size_t)c->rope_dim / 2 + 1, sizeof(double));
    for (int i = 0; i < c->rope_dim / 2; i++) {
        r->inv_freq[i] = pow((double)c->rope_base, -2.0 * i / c->rope_dim);
        if (m->rope_freqs) r->inv_freq[i] /= ((const float *)m->rope_freqs->data)[i];
    }
    return r;
}

static void ref_free(ref_state *r)
{
    free(r->x); free(r->xb); free(r->q); free(r->att_out); free(r->k); free(r->v);
    free(r->hb); free(r->hb2); free(r->att); free(r->logits); free(r->kc); free(r->vc);
    free(r->inv_freq);
    free(r);
}

static void add_vec(float *y, const gguf_tensor *b, int n)
{
    if (b)
        for (int i = 0; i < n; i++) y[i] += ((const float *)b->data)[i];
}

/* The logits after token at position pos (positions fed in order). */
static const float *ref_forward(ref_state *r, int32_t token, int pos)
{
    const model *m = r->m;
    const model_config *c = &m->cfg;
    const int dim = c->dim, hd = c->head_dim, q_dim = c->n_heads * hd;
    const int kv_dim = c->n_kv_heads * hd, group = c->n_heads / c->n_kv_heads;
    cpu_get_row(m->tok_embd, token, r->x);
    for (int l = 0; l < c->n_layers; l++) {
        const layer_weights *w = &m->layers[l];
        float *kc = r->kc + (size_t)l * r->max_seq * kv_dim;
        float *vc = r->vc + (size_t)l * r->max_seq * kv_dim;
        cpu_rmsnorm(r->xb, r->x, w->attn_norm->data, dim, c->rms_eps);
        cpu_matvec(w->wq, r->xb, r->q);
        cpu_matvec(w->wk, r->xb, kc + (size_t)pos * kv_dim);
        cpu_matvec(w->wv, r->xb, vc + (size_t)pos * kv_dim);
        add_vec(r->q, w->bq, q_dim);
        add_vec(kc + (size_t)pos * kv_dim, w->bk, kv_dim);
        add_vec(vc + (size_t)pos * kv_dim, w->bv, kv_dim);
        double rpos = pos / (double)c->rope_scale;
        cpu_rope(r->q, c->n_heads, hd, c->rope_dim, r->inv_freq, rpos, c->rope_neox);
        cpu_rope(kc + (size_t)pos * kv_dim, c->n_kv_heads, hd, c->rope_dim, r->inv_freq, rpos,
                 c->rope_neox);
        for (int h = 0; h < c->n_heads; h++)
            cpu_attention_head(r->q + h * hd, kc + (h / group) * hd, vc + (h / group) * hd,
                               (size_t)kv_dim, pos + 1, hd, 1.0f / sqrtf((float)hd), r->att,
                               r->att_out + h * hd);
        cpu_matvec(w->wo, r->att_out, r->xb);
        for (int i = 0; i < dim; i++) r->x[i] += r->xb[i];
        cpu_rmsnorm(r->xb, r->x, w->ffn_norm->data, dim, c->rms_eps);
        cpu_matvec(w->w_gate, r->xb, r->hb);
        cpu_matvec(w->w_up, r->xb, r->hb2);
        cpu_swiglu(r->hb, r->hb2, c->ffn_dim);
        cpu_matvec(w->w_down, r->hb, r->xb);
        for (int i = 0; i < dim; i++) r->x[i] += r->xb[i];
    }
    cpu_rmsnorm(r->xb, r->x, m->output_norm->data, dim, c->rms_eps);
    cpu_matvec(m->output, r->xb, r->logits);
    return r->logits;
}

static double log_softmax_at(const float *x, int n, int target)
{
    double mx = x[0], sum = 0;
    for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < n; i++) sum += exp(x[i] - mx);
    return x[target] - mx - log(sum);
}

static int argmax_of(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* ---- whole models ---------------------------------------------------------------------- */

#define SEQS 3
#define MAX_TOKS 192

/* What the reference computed for the test sequences. */
typedef struct expect {
    int32_t toks[SEQS][MAX_TOKS];
    int n[SEQS], split[SEQS];
    double lp[SEQS][MAX_TOKS];      /* lp[s][p]: log p(toks[p+1] | toks[..p]) */
    double sum[SEQS];               /* over p >= split - 1 */
    int greedy[SEQS];
    int32_t gen[48];                /* greedy continuation of sequence 0's first split */
    int n_gen;
} expect;

static void reference(const model *m, expect *e, int max_seq)
{
    ref_state *r = ref_new(m, max_seq);
    const int V = m->cfg.n_vocab;
    for (int s = 0; s < SEQS; s++) {
        e->sum[s] = 0;
        e->greedy[s] = 1;
        for (int p = 0; p + 1 < e->n[s]; p++) {
            const float *lg = ref_forward(r, e->toks[s][p], p);
            e->lp[s][p] = log_softmax_at(lg, V, e->toks[s][p + 1]);
            if (p + 1 >= e->split[s]) {
                e->sum[s] += e->lp[s][p];
                if (argmax_of(lg, V) != e->toks[s][p + 1]) e->greedy[s] = 0;
            }
        }
    }
    const float *lg = NULL;
    for (int p = 0; p < e->split[0]; p++) lg = ref_forward(r, e->toks[0][p], p);
    for (int i = 0; i < e->n_gen; i++) {
        e->gen[i] = argmax_of(lg, V);
        lg = ref_forward(r, e->gen[i], e->split[0] + i);
    }
    ref_free(r);
}

/* Three sequences: a shared context with three different continuations. */
static int make_sequences(const model *m, expect *e, int n_gen)
{
    static const char *ctx = "Once upon a time, there was a little girl named Lily. She loved "
                             "to play outside in the park. One day, she saw a big tree with a "
                             "swing. She ran to it and sat down. Her brother Tom came and "
                             "pushed her high into the sky, and she laughed. Then they went "
                             "home to eat with their mom and their";
    static const char *cont[SEQS] = {" dog and her friends.", " mom.",
                                     " big red ball, every single day."};
    char err[512];
    tokenizer *tok = tok_load(m->file, err, sizeof err);
    if (!tok) {
        printf("tokenizer: %s\n", err);
        return -1;
    }
    for (int s = 0; s < SEQS; s++) {
        tok_ids c = {0}, all = {0};
        char text[512];
        snprintf(text, sizeof text, "%s%s", ctx, cont[s]);
        tok_encode(tok, ctx, strlen(ctx), 1, 0, &c);
        tok_encode(tok, text, strlen(text), 1, 0, &all);
        e->n[s] = all.n < MAX_TOKS ? (int)all.n : MAX_TOKS;
        memcpy(e->toks[s], all.v, (size_t)e->n[s] * 4);
        e->split[s] = (int)c.n < e->n[s] ? (int)c.n : e->n[s] - 1;
        tok_ids_free(&c);
        tok_ids_free(&all);
    }
    e->n_gen = n_gen;
    tok_free(tok);
    return 0;
}

/* The reference against the CPU engine (cpu_forward_batch, 8-bit activations) on
   sequence 0: it must be the same model to within the engine's rounding. */
static void check_reference(const model *m, const expect *e)
{
    const int n = e->n[0] - 1, V = m->cfg.n_vocab;
    cpu_state *st = cpu_state_new_batch(m, n, n);
    const float *lg = cpu_forward_batch(st, e->toks[0], n, 0, n);
    CHECK(lg != NULL);
    double w = 0;
    for (int p = 0; lg && p < n; p++)
        w = fmax(w, fabs(log_softmax_at(lg + (size_t)p * V, V, e->toks[0][p + 1]) - e->lp[0][p]));
    printf("float reference vs cpu_forward_batch: max |logprob difference| %.4f over %d tokens\n",
           w, n);
    CHECK(w <= 0.05);
    cpu_state_free(st);
}

/* The reference itself, on stories260K (any build). */
static void test_reference(void)
{
    char path[1024], err[512];
    stories_path(path, sizeof path);
    model *m = access(path, R_OK) == 0 ? model_open(path, err, sizeof err) : NULL;
    expect *e = xcalloc(1, sizeof *e);
    if (m && make_sequences(m, e, 8) == 0) {
        reference(m, e, 256);
        check_reference(m, e);
    }
    free(e);
    model_free(m);
}

#ifndef EVALLUA_HAVE_CUDA
int main(void)
{
    test_reference();
    check_device_error("built without CUDA");
    if (check_failed_) return check_summary();
    printf("skip: evallua was built without CUDA (EVALLUA_CUDA=OFF or no nvcc)\n");
    return 77;
}
#else

static void smollm_path(char *out, size_t n)
{
    const char *src = getenv("EVALLUA_SRC");
    snprintf(out, n, "%s/models/SmolLM2-135M-Instruct-Q4_1.gguf", src ? src : ".");
}

static float frand(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return (float)(*state >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
}

/* ---- kernels ---------------------------------------------------------------------------- */

/* A rows x n tensor of type t with random contents and sane block scales. */
static gguf_tensor make_tensor(gguf_dtype t, int64_t n, int64_t rows, uint32_t *seed)
{
    gguf_tensor w = {0};
    w.type = t;
    w.ne[0] = n;
    w.ne[1] = rows;
    w.ne[2] = w.ne[3] = 1;
    const size_t rb = gguf_row_bytes(t, n), bb = gguf_dtype_block_bytes(t);
    w.nbytes = rb * (size_t)rows;
    uint8_t *d = xmalloc(w.nbytes);
    for (size_t i = 0; i < w.nbytes; i++) d[i] = (uint8_t)(frand(seed) * 127.0f + 128.0f);
    if (t == GGUF_DT_F32)
        for (size_t i = 0; i < w.nbytes / 4; i++) ((float *)d)[i] = frand(seed);
    else if (t == GGUF_DT_F16 || t == GGUF_DT_BF16)
        for (size_t i = 0; i < w.nbytes / 2; i++) {
            float f = frand(seed);
            uint16_t h = t == GGUF_DT_F16 ? f32_to_fp16(f) : f32_to_bf16(f);
            memcpy(d + 2 * i, &h, 2);
        }
    else
        for (size_t b = 0; b < w.nbytes / bb; b++) {
            uint8_t *blk = d + b * bb;
            uint16_t s1 = f32_to_fp16(0.01f + 0.02f * frand(seed));
            uint16_t s2 = f32_to_fp16(0.01f * frand(seed));
            size_t d_at = t == GGUF_DT_Q6_K ? 208 : 0;
            memcpy(blk + d_at, &s1, 2);
            if (t == GGUF_DT_Q4_1 || t == GGUF_DT_Q5_1 || t == GGUF_DT_Q4_K || t == GGUF_DT_Q5_K)
                memcpy(blk + 2, &s2, 2);
        }
    w.data = d;
    return w;
}

static void test_types(void)
{
    static const gguf_dtype types[] = {GGUF_DT_F32, GGUF_DT_F16, GGUF_DT_BF16, GGUF_DT_Q4_0,
                                       GGUF_DT_Q4_1, GGUF_DT_Q5_0, GGUF_DT_Q5_1, GGUF_DT_Q8_0,
                                       GGUF_DT_Q4_K, GGUF_DT_Q5_K, GGUF_DT_Q6_K};
    char err[512];
    uint32_t seed = 7;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const gguf_dtype t = types[ti];
        const int64_t n = t <= GGUF_DT_F16 || t == GGUF_DT_BF16 ? 70 : 512, rows = 37;
        gguf_tensor w = make_tensor(t, n, rows, &seed);
        float *ref = xmalloc((size_t)(n * rows) * sizeof(float));
        float *got = xmalloc((size_t)(n * rows) * sizeof(float));
        for (int64_t r = 0; r < rows; r++) cpu_get_row(&w, r, ref + r * n);
        /* decoding (the embedding lookup) */
        int32_t ids[3] = {0, 5, 36};
        CHECK(cuda_kt_get_rows(&w, ids, 3, got, err, sizeof err) == 0);
        double worst = 0;
        for (int i = 0; i < 3; i++)
            for (int64_t k = 0; k < n; k++)
                worst = fmax(worst, fabs(got[i * n + k] - ref[ids[i] * n + k]) /
                                        fmax(1.0, fabs(ref[ids[i] * n + k])));
        CHECK(worst <= 1e-6);
        /* FP16 for the GEMM path */
        CHECK(cuda_kt_dequant_f16(&w, got, err, sizeof err) == 0);
        worst = 0;
        for (int64_t i = 0; i < n * rows; i++)
            worst = fmax(worst, fabs(got[i] - fp16_to_f32(f32_to_fp16(ref[i]))) /
                                    fmax(1.0, fabs(ref[i])));
        CHECK(worst <= 1e-3);
        /* matrix-vector products, 1 to 11 columns */
        for (int ncols = 1; ncols <= 11; ncols += 5) {
            float *x = xmalloc((size_t)(ncols * n) * sizeof(float));
            float *y = xmalloc((size_t)(ncols * rows) * sizeof(float));
            for (int64_t i = 0; i < ncols * n; i++) x[i] = frand(&seed);
            CHECK(cuda_kt_matvec(&w, x, ncols, y, err, sizeof err) == 0);
            double bad = 0;
            for (int c = 0; c < ncols; c++)
                for (int64_t r = 0; r < rows; r++) {
                    double s = 0, mag = 0;
                    for (int64_t k = 0; k < n; k++) {
                        s += (double)ref[r * n + k] * x[c * n + k];
                        mag += fabs((double)ref[r * n + k] * x[c * n + k]);
                    }
                    bad = fmax(bad, fabs(y[c * rows + r] - s) / (mag + 1e-9));
                }
            if (bad > 1e-5)
                printf("%s matvec x%d: relative error %g\n", gguf_dtype_name(t), ncols, bad);
            CHECK(bad <= 1e-5);
            free(x);
            free(y);
        }
        free(ref);
        free(got);
        free((void *)w.data);
    }
}

static void test_rmsnorm_rope(void)
{
    char err[512];
    uint32_t seed = 3;
    float x[300], w[100], ref[300], got[300];
    for (int i = 0; i < 300; i++) x[i] = frand(&seed) * 50.0f;
    for (int i = 0; i < 100; i++) w[i] = frand(&seed);
    for (int r = 0; r < 3; r++) cpu_rmsnorm(ref + 100 * r, x + 100 * r, w, 100, 1e-5f);
    CHECK(cuda_kt_rmsnorm(x, w, 100, 3, 1e-5f, got, err, sizeof err) == 0);
    double worst = 0;
    for (int i = 0; i < 300; i++) worst = fmax(worst, fabs(got[i] - ref[i]));
    CHECK(worst <= 1e-5);

    /* 3 tokens of 2 heads of 8, 6 rotary dims, positions scaled by 1/2 */
    double inv[3] = {1.0, 0.1, 0.001};
    int32_t pos[3] = {0, 7, 1001};
    for (int neox = 0; neox <= 1; neox++) {
        float q[48], r[48];
        for (int i = 0; i < 48; i++) q[i] = r[i] = frand(&seed);
        for (int t = 0; t < 3; t++) cpu_rope(r + 16 * t, 2, 8, 6, inv, pos[t] / 2.0, neox);
        CHECK(cuda_kt_rope(q, 3, 2, 8, 6, inv, pos, 2.0f, neox, err, sizeof err) == 0);
        worst = 0;
        for (int i = 0; i < 48; i++) worst = fmax(worst, fabs(q[i] - r[i]));
        CHECK(worst <= 1e-6);
    }
}

static void test_attention(void)
{
    enum { H = 4, KVH = 2, HD = 40, LEN = 70, T = 3 };
    char err[512];
    uint32_t seed = 11;
    static float q[T * H * HD], k[LEN * KVH * HD], v[LEN * KVH * HD], kr[LEN * KVH * HD],
        vr[LEN * KVH * HD], got[T * H * HD], ref[T * H * HD], att[LEN];
    int32_t pos[T] = {0, 33, 69};
    for (int i = 0; i < T * H * HD; i++) q[i] = frand(&seed) * 3.0f;
    for (int i = 0; i < LEN * KVH * HD; i++) {
        k[i] = frand(&seed);
        v[i] = frand(&seed);
        kr[i] = fp16_to_f32(f32_to_fp16(k[i]));    /* the cache is F16 */
        vr[i] = fp16_to_f32(f32_to_fp16(v[i]));
    }
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++)
            cpu_attention_head(q + (t * H + h) * HD, kr + (h / (H / KVH)) * HD,
                               vr + (h / (H / KVH)) * HD, KVH * HD, pos[t] + 1, HD,
                               1.0f / sqrtf(HD), att, ref + (t * H + h) * HD);
    CHECK(cuda_kt_attention(q, T, pos, k, v, LEN, H, KVH, HD, got, err, sizeof err) == 0);
    double worst = 0;
    for (int i = 0; i < T * H * HD; i++) worst = fmax(worst, fabs(got[i] - ref[i]));
    CHECK(worst <= 1e-4);
    CHECK(got[5] == got[5] && fabs(got[5] - vr[5]) <= 1e-6);   /* position 0: v_0 itself */
}

static void test_log_softmax(void)
{
    enum { V = 1007, R = 3 };
    static float logits[R * V];
    char err[512];
    uint32_t seed = 5;
    for (int i = 0; i < R * V; i++) logits[i] = frand(&seed) * 10.0f;
    logits[2 * V + 5] = logits[2 * V + 9] = 20.0f;        /* a tie: the first index wins */
    int32_t target[R] = {3, -1, 9}, am[R];
    float lp[R];
    CHECK(cuda_kt_log_softmax(logits, V, R, target, lp, am, err, sizeof err) == 0);
    for (int r = 0; r < R; r++) {
        const float *x = logits + r * V;
        int best = 0;
        double mx = x[0], sum = 0;
        for (int i = 1; i < V; i++)
            if (x[i] > x[best]) best = i, mx = x[i];
        for (int i = 0; i < V; i++) sum += exp(x[i] - mx);
        CHECK(am[r] == best);
        CHECK_NEAR(lp[r], target[r] >= 0 ? x[target[r]] - mx - log(sum) : 0.0, 1e-4);
    }
    CHECK(am[2] == 5);
}

/* Largest |GPU - reference| over positions [from, to) of sequence s given GPU logprobs. */
static double worst_diff(const expect *e, int s, const float *lp, int from, int to)
{
    double w = 0;
    for (int p = from; p < to; p++) w = fmax(w, fabs(lp[p - from] - e->lp[s][p]));
    return w;
}

/* Sequence 0 in one pass (cuBLAS prefill path), and one token per pass (matvec + graphs). */
static void check_prefill_and_decode(cuda_state *st, const model *m, const expect *e,
                                     const char *name)
{
    char err[512];
    const int n = e->n[0] - 1, V = m->cfg.n_vocab;
    int32_t slots[MAX_TOKS] = {0}, pos[MAX_TOKS], rows[MAX_TOKS], tg[MAX_TOKS], am[MAX_TOKS];
    float lp[MAX_TOKS];
    for (int p = 0; p < n; p++) pos[p] = rows[p] = p, tg[p] = e->toks[0][p + 1];
    cuda_set_prefix(st, 0, 0, 0);
    cuda_batch b = {n, e->toks[0], slots, pos, n, rows, tg, lp, am, NULL};
    CHECK(cuda_forward(st, &b, err, sizeof err) == 0);
    double w = worst_diff(e, 0, lp, 0, n);
    CHECK(n > 32);                                  /* the cuBLAS path, not matvec */
    printf("%s: prefill of %d tokens: max |logprob - reference| %.5f\n", name, n, w);
    CHECK(w <= 1e-2);
    for (int p = 0; p < n; p++) {
        cuda_batch one = {1, e->toks[0] + p, slots, pos + p, 1, rows, tg + p, lp + p, am, NULL};
        CHECK(cuda_forward(st, &one, err, sizeof err) == 0);
    }
    w = worst_diff(e, 0, lp, 0, n);
    printf("%s: one token per pass: max |logprob - reference| %.5f\n", name, w);
    CHECK(w <= 1e-2);
    /* cpu_forward_batch's contract: logits of the last rows */
    const float *lg = cuda_forward_batch(st, e->toks[0], n, 0, 2);
    CHECK(lg != NULL);
    if (lg) CHECK_NEAR(log_softmax_at(lg + V, V, e->toks[0][n]), e->lp[0][n - 1], 1e-2);
}

/* The three sequences decoded together: one token of each per pass, in slots 0..2. */
static void check_batched_decode(cuda_state *st, const expect *e, const char *name)
{
    char err[512];
    float lp[SEQS][MAX_TOKS];
    int len = MAX_TOKS;
    for (int s = 0; s < SEQS; s++) {
        len = e->n[s] - 1 < len ? e->n[s] - 1 : len;
        cuda_set_prefix(st, s, s, 0);
    }
    for (int p = 0; p < len; p++) {
        int32_t toks[SEQS], slots[SEQS] = {0, 1, 2}, pos[SEQS], rows[SEQS] = {0, 1, 2}, tg[SEQS],
                                    am[SEQS];
        float out[SEQS];
        for (int s = 0; s < SEQS; s++)
            toks[s] = e->toks[s][p], pos[s] = p, tg[s] = e->toks[s][p + 1];
        cuda_batch b = {SEQS, toks, slots, pos, SEQS, rows, tg, out, am, NULL};
        CHECK(cuda_forward(st, &b, err, sizeof err) == 0);
        for (int s = 0; s < SEQS; s++) lp[s][p] = out[s];
    }
    double w = 0;
    for (int s = 0; s < SEQS; s++) w = fmax(w, worst_diff(e, s, lp[s], 0, len));
    printf("%s: %d sequences decoded together: max |logprob - reference| %.5f\n", name, SEQS,
           w);
    CHECK(w <= 1e-2);
}

/* The loglikelihood scheduler: shared context run once, then the continuations. */
static void check_scheduler(cuda_state *st, const expect *e, const char *name)
{
    char err[512];
    cuda_seq seqs[SEQS];
    for (int s = 0; s < SEQS; s++)
        seqs[s] = (cuda_seq){e->toks[s], (size_t)e->n[s], (size_t)e->split[s], 0, 0};
    cuda_score_stats stats = {0};
    CHECK(cuda_score_sequences(st, seqs, SEQS, NULL, NULL, NULL, &stats, err, sizeof err) == 0);
    for (int s = 0; s < SEQS; s++) {
        CHECK_NEAR(seqs[s].logprob, e->sum[s], 1e-2 * (e->n[s] - e->split[s]));
        CHECK(seqs[s].greedy == e->greedy[s]);
    }
    printf("%s: scheduler (%d slots, %d tokens per pass): %lld passes, %lld positions run, "
           "%lld reused; sums %.4f %.4f %.4f vs %.4f %.4f %.4f\n", name, cuda_state_slots(st),
           cuda_state_max_tokens(st), (long long)stats.passes,
           (long long)stats.tokens_evaluated, (long long)stats.tokens_reused, seqs[0].logprob,
           seqs[1].logprob, seqs[2].logprob, e->sum[0], e->sum[1], e->sum[2]);
    CHECK(stats.tokens_reused > 0);
}

/* Greedy continuation of sequence 0's context, one token per pass. */
static void check_greedy(cuda_state *st, const model *m, const expect *e, const char *name)
{
    const float *lg = cuda_forward_batch(st, e->toks[0], e->split[0], 0, 1);
    int same = 0;
    for (int i = 0; lg && i < e->n_gen; i++) {
        int32_t next = argmax_of(lg, m->cfg.n_vocab);
        if (next != e->gen[i]) break;
        same++;
        lg = cuda_forward_batch(st, &next, 1, e->split[0] + i, 1);
    }
    printf("%s: greedy continuation: %d of %d tokens as the reference\n", name, same, e->n_gen);
    CHECK(same == e->n_gen);
}

static void test_model(const char *path, int n_gen)
{
    char err[512];
    if (access(path, R_OK) != 0) {
        printf("skip: %s is absent\n", path);
        return;
    }
    model *m = model_open(path, err, sizeof err);
    CHECK(m != NULL);
    if (!m) return;
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    expect *e = xcalloc(1, sizeof *e);
    const int max_seq = 256;
    if (make_sequences(m, e, n_gen) == 0) {
        reference(m, e, max_seq);
        cuda_options big = {.max_seq = max_seq, .n_slots = 4};
        cuda_state *st = cuda_state_new(m, &big, err, sizeof err);
        CHECK(st != NULL);
        if (!st) printf("%s\n", err);
        if (st) {
            printf("%s on %s: %.1f MiB of device memory\n", name, cuda_state_device_name(st),
                   cuda_state_bytes(st) / 1048576.0);
            check_prefill_and_decode(st, m, e, name);
            check_batched_decode(st, e, name);
            check_scheduler(st, e, name);
            check_greedy(st, m, e, name);
            cuda_state_free(st);
        }
        /* the FP32 GEMM path: how much of the prefill's error is FP16 rounding */
        cuda_options exact = {.max_seq = max_seq, .n_slots = 4, .fp32_gemm = 1};
        st = cuda_state_new(m, &exact, err, sizeof err);
        CHECK(st != NULL);
        if (st) {
            printf("%s with FP32 GEMMs:\n", name);
            check_prefill_and_decode(st, m, e, name);
            cuda_state_free(st);
        }
        /* two slots and passes of 40 tokens: several chunks, sequences split across passes */
        cuda_options tight = {.max_seq = MAX_TOKS, .n_slots = 2, .max_tokens = 40};
        st = cuda_state_new(m, &tight, err, sizeof err);
        CHECK(st != NULL);
        if (st) {
            check_scheduler(st, e, name);
            cuda_state_free(st);
        }
    }
    free(e);
    model_free(m);
}

/* The backend with device=cuda against device=cpu on loglikelihood requests. */
static void test_backend(const char *path)
{
    if (access(path, R_OK) != 0) return;
    static const char *ctx[2] = {"Once upon a time, there was a", "The cat sat on the"};
    static const char *cont[3] = {" little dog.", " big tree.", " mat."};
    eval_request reqs[6];
    eval_response cpu[6], gpu[6];
    memset(reqs, 0, sizeof reqs);
    for (int i = 0; i < 6; i++) {
        reqs[i].kind = REQ_LOGLIKELIHOOD;
        reqs[i].context = (char *)ctx[i / 3];
        reqs[i].continuation = (char *)cont[i % 3];
    }
    char err[512];
    native_config cc = {.path = path, .threads = 2, .ctx = 128};
    native_config gc = {.path = path, .ctx = 128, .device = "cuda"};
    backend *bc = native_backend_new(&cc, err, sizeof err);
    backend *bg = native_backend_new(&gc, err, sizeof err);
    CHECK(bc && bg);
    if (bc && bg) {
        CHECK(bc->vt->run(bc, reqs, cpu, 6, err, sizeof err) == 0);
        CHECK(bg->vt->run(bg, reqs, gpu, 6, err, sizeof err) == 0);
        double w = 0;
        for (int i = 0; i < 6; i++) {
            CHECK(gpu[i].status == RESP_OK);
            w = fmax(w, fabs(gpu[i].logprob - cpu[i].logprob));
        }
        /* the CPU backend rounds activations to 8 bits: a looser bound than the reference's */
        printf("backend device=cuda vs device=cpu: max |logprob difference| %.4f\n", w);
        CHECK(w <= 0.1);
    }
    for (int i = 0; bc && bg && i < 6; i++) {
        free(cpu[i].error);
        free(gpu[i].error);
    }
    if (bc) bc->vt->destroy(bc);
    if (bg) bg->vt->destroy(bg);
}

/* A generate request: greedy unless temperature > 0, no stop string. */
static eval_request gen_request(const char *prompt, int max_tokens, double temperature,
                                int64_t seed)
{
    eval_request q;
    memset(&q, 0, sizeof q);
    q.kind = REQ_GENERATE;
    q.context = (char *)prompt;
    q.gen.max_tokens = max_tokens;
    q.gen.temperature = temperature;
    q.gen.top_p = temperature > 0 ? 0.9 : -1;
    q.gen.seed = seed;
    return q;
}

/* Where texts a and b first differ (-1: equal). */
static long first_difference(const char *a, const char *b)
{
    long i = 0;
    while (a[i] && a[i] == b[i]) i++;
    return a[i] == b[i] ? -1 : i;
}

/* Generation with device=cuda against device=cpu: several prompts at once (4 slots, 7
   requests, so slots are refilled; prompts sharing a prefix, so it is copied between GPU
   slots), 64 greedy tokens each: the same tokens as the CPU's batched decoder. Two
   identical sampled requests (same seed) in different slots draw the same text from the
   logits the GPU returns. */
static void test_generation(const char *path, const char *name)
{
    if (access(path, R_OK) != 0) return;
    static const char *prompts[] = {"Once upon a time", "Once upon a time, there was a",
                                    "The cat sat on the", "Lily and Ben went to the park.",
                                    "One day, a little bird"};
    enum { NG = 5, N = NG + 2 };
    eval_request q[N];
    eval_response cpu[N], gpu[N];
    for (int i = 0; i < NG; i++) q[i] = gen_request(prompts[i], 64, 0, 0);
    q[NG] = q[NG + 1] = gen_request("Once upon a time, there was", 32, 0.8, 42);
    memset(cpu, 0, sizeof cpu);
    memset(gpu, 0, sizeof gpu);
    char err[512] = "";
    native_config cc = {.path = path, .threads = 2, .ctx = 256, .parallel = 4};
    native_config gc = {.path = path, .ctx = 256, .parallel = 4, .device = "cuda"};
    backend *bc = native_backend_new(&cc, err, sizeof err);
    backend *bg = native_backend_new(&gc, err, sizeof err);
    CHECK(bc && bg);
    if (bc && bg) {
        CHECK(bc->vt->run(bc, q, cpu, N, err, sizeof err) == 0);
        CHECK(bg->vt->run(bg, q, gpu, N, err, sizeof err) == 0);
        int same = 0;
        for (int i = 0; i < N; i++) {
            CHECK(gpu[i].status == RESP_OK && gpu[i].text != NULL);
            if (!gpu[i].text || !cpu[i].text) continue;
            if (i >= NG) continue;
            long at = first_difference(gpu[i].text, cpu[i].text);
            same += at < 0 && gpu[i].completion_tokens == cpu[i].completion_tokens;
            if (at >= 0)
                printf("%s: prompt %d differs at byte %ld:\n  cpu: %s\n  gpu: %s\n", name, i,
                       at, cpu[i].text, gpu[i].text);
        }
        printf("%s: generation device=cuda vs device=cpu: %d of %d greedy completions (64 "
               "tokens, 4 slots) identical\n", name, same, NG);
        CHECK(same == NG);
        CHECK(gpu[NG].text && gpu[NG + 1].text && strcmp(gpu[NG].text, gpu[NG + 1].text) == 0);
        CHECK(gpu[NG].completion_tokens > 0);
        native_info info;
        CHECK(native_backend_info(bg, &info) == 0 && info.decode_tokens > 0);
        printf("%s: GPU generation: %lld decode tokens, %lld prompt tokens, %lld reused\n",
               name, (long long)info.decode_tokens, (long long)info.prefill_tokens,
               (long long)info.tokens_reused);
    }
    for (int i = 0; i < N; i++) {
        free(cpu[i].text);
        free(cpu[i].error);
        free(gpu[i].text);
        free(gpu[i].error);
    }
    if (bc) bc->vt->destroy(bc);
    if (bg) bg->vt->destroy(bg);
}

int main(void)
{
    char err[512], path[1024];
    test_reference();
    if (cuda_device_check(err, sizeof err) < 0) {
        check_device_error("cudaGetDeviceCount");
        if (check_failed_) return check_summary();
        printf("skip: %s\n", err);
        return 77;
    }
    test_types();
    test_rmsnorm_rope();
    test_attention();
    test_log_softmax();
    stories_path(path, sizeof path);
    test_model(path, 48);
    test_backend(path);
    test_generation(path, "stories260K");
    smollm_path(path, sizeof path);
    test_model(path, 16);
    test_generation(path, "SmolLM2-135M");
    return check_summary();
}
#endif
