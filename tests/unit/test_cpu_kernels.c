/* test_cpu_kernels.c — the quantized-activation kernels (matmul.h): the AVX2 and portable
 * implementations against each other and against a double-precision product, for every
 * weight type; and cpu_forward_batch against token-by-token cpu_forward on stories260K
 * (identical logits however the sequence is split into batches). */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "native/cpu/forward.h"
#include "native/cpu/matmul.h"
#include "native/cpu/ops.h"
#include "native/cpu/quant.h"
#include "native/model.h"
#include "util/buf.h"

enum { COLS = 512, ROWS = 96, NTOK = 5 };

static uint32_t rng = 12345;
static uint32_t next_u32(void)
{
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}
static float frand(void)   /* [-1, 1) */
{
    return (float)next_u32() / (float)(1u << 24) * 2.0f - 1.0f;
}

/* Random bytes for a weight matrix of type t, with sane half-float scales. */
static void *random_weights(gguf_dtype t, gguf_tensor *w)
{
    size_t rb = gguf_row_bytes(t, COLS), bb = gguf_dtype_block_bytes(t);
    uint8_t *data = xmalloc(rb * ROWS);
    for (size_t i = 0; i < rb * ROWS; i++) data[i] = (uint8_t)next_u32();
    size_t nblocks = rb * ROWS / bb;
    for (size_t b = 0; b < nblocks; b++) {
        uint8_t *blk = data + b * bb;
        uint16_t d = f32_to_fp16(0.01f + 0.02f * (frand() + 1)), m = f32_to_fp16(frand() * 0.1f);
        switch (t) {
        case GGUF_DT_F32: case GGUF_DT_F16: case GGUF_DT_BF16: break;
        case GGUF_DT_Q6_K: memcpy(blk + bb - 2, &d, 2); break;          /* d is last */
        default:
            memcpy(blk, &d, 2);
            if (t == GGUF_DT_Q4_1 || t == GGUF_DT_Q5_1 || t == GGUF_DT_Q4_K || t == GGUF_DT_Q5_K)
                memcpy(blk + 2, &m, 2);
        }
    }
    if (t == GGUF_DT_F32 || t == GGUF_DT_F16 || t == GGUF_DT_BF16)
        for (int i = 0; i < COLS * ROWS; i++) {
            float v = frand();
            if (t == GGUF_DT_F32) memcpy(data + 4 * (size_t)i, &v, 4);
            else {
                uint16_t h = t == GGUF_DT_F16 ? f32_to_fp16(v) : f32_to_bf16(v);
                memcpy(data + 2 * (size_t)i, &h, 2);
            }
        }
    *w = (gguf_tensor){.n_dims = 2, .ne = {COLS, ROWS, 1, 1}, .type = t, .data = data};
    return data;
}

/* The worst |y - exact| / scale of a product, exact computed in double from the decoded
   rows and the given activations. */
static double worst_error(const gguf_tensor *w, const float *x, const float *y)
{
    double worst = 0;
    float row[COLS];
    for (int r = 0; r < ROWS; r++) {
        cpu_get_row(w, r, row);
        for (int t = 0; t < NTOK; t++) {
            double exact = 0, scale = 0;
            for (int i = 0; i < COLS; i++) {
                exact += (double)row[i] * x[t * COLS + i];
                scale += fabs((double)row[i] * x[t * COLS + i]);
            }
            worst = fmax(worst, fabs(exact - y[t * ROWS + r]) / (scale + 1e-9));
        }
    }
    return worst;
}

static void test_type(gguf_dtype t, const char *best)
{
    gguf_tensor w;
    void *data = random_weights(t, &w);
    static float x[NTOK * COLS], xd[NTOK * COLS], y[NTOK * ROWS], yp[NTOK * ROWS];
    for (int i = 0; i < NTOK * COLS; i++) x[i] = frand() * (i % 7 == 0 ? 3.0f : 1.0f);
    cpu_matmul(&w, x, NTOK, y);
    cpu_kernels_force_portable(1);
    cpu_matmul(&w, x, NTOK, yp);
    cpu_kernels_force_portable(0);
    double err, perr;
    if (cpu_type_uses_q8a(t)) {
        block_q8a q[COLS / 32];
        for (int k = 0; k < NTOK; k++) {                 /* the activations as quantized */
            cpu_quantize_q8a(x + k * COLS, q, COLS);
            for (int i = 0; i < COLS; i++) xd[k * COLS + i] = q[i / 32].d * q[i / 32].qs[i % 32];
        }
        err = worst_error(&w, xd, y);
        perr = worst_error(&w, xd, yp);
        double qerr = worst_error(&w, x, y);
        if (qerr > 2e-2) fprintf(stderr, "  %s: quantization error %g\n", gguf_dtype_name(t), qerr);
        CHECK(qerr <= 2e-2);
    } else if (cpu_type_uses_q8k(t)) {
        static block_q8k q[COLS / 256];                  /* ggml's q8_K, blocks of 256 */
        for (int k = 0; k < NTOK; k++) {
            cpu_quantize_q8k(x + k * COLS, q, COLS);
            for (int i = 0; i < COLS; i++) xd[k * COLS + i] = q[i / 256].d * q[i / 256].qs[i % 256];
            for (int b = 0; b < COLS / 256; b++)
                for (int g = 0; g < 16; g++) {
                    int sum = 0;
                    for (int l = 0; l < 16; l++) sum += q[b].qs[16 * g + l];
                    CHECK(q[b].bsums[g] == sum);
                }
        }
        err = worst_error(&w, xd, y);
        perr = worst_error(&w, xd, yp);
        double qerr = worst_error(&w, x, y);
        if (qerr > 2e-2) fprintf(stderr, "  %s: quantization error %g\n", gguf_dtype_name(t), qerr);
        CHECK(qerr <= 2e-2);
    } else {
        err = worst_error(&w, x, y);
        perr = worst_error(&w, x, yp);
    }
    if (err > 3e-5 || perr > 3e-5)
        fprintf(stderr, "  %s: relative error %s %g, portable %g\n", gguf_dtype_name(t), best,
                err, perr);
    CHECK(err <= 3e-5);
    CHECK(perr <= 3e-5);
    /* each token on its own gives bit-identical results (batches never change a number) */
    int differ = 0;
    for (int k = 0; k < NTOK; k++) {
        cpu_matmul(&w, x + k * COLS, 1, yp);
        for (int r = 0; r < ROWS; r++) differ += yp[r] != y[k * ROWS + r];
    }
    CHECK(differ == 0);
    free(data);
}

static void test_quantize_same(void)
{
    float x[COLS];
    block_q8a a[COLS / 32], p[COLS / 32];
    for (int i = 0; i < COLS; i++) x[i] = frand() * 5;
    x[3] = 0.5f * 127.0f / 5;                            /* exact ties round to even */
    for (int i = 64; i < 96; i++) x[i] = 0;              /* an all-zero block */
    cpu_quantize_q8a(x, a, COLS);
    cpu_kernels_force_portable(1);
    cpu_quantize_q8a(x, p, COLS);
    cpu_kernels_force_portable(0);
    CHECK(memcmp(a, p, sizeof a) == 0);
    CHECK(a[2].d == 0 && a[2].s == 0 && a[2].qs[5] == 0);
    int sum = 0;
    for (int j = 0; j < 32; j++) sum += p[1].qs[j];
    CHECK_NEAR(p[1].s, p[1].d * sum, fabs(p[1].d * sum) * 1e-3 + 1e-6);
}

/* Logits of a sequence fed one token at a time and in uneven batches are identical. */
static void test_batches(const char *path)
{
    char err[512];
    model *m = model_open(path, err, sizeof err);
    CHECK(m != NULL);
    if (!m) return;
    enum { N = 23 };
    int32_t toks[N];
    for (int i = 0; i < N; i++) toks[i] = (int32_t)(1 + (next_u32() % 500));
    const int V = m->cfg.n_vocab;
    cpu_state *one = cpu_state_new(m, 32), *many = cpu_state_new_batch(m, 32, 8);
    float *want = xmalloc((size_t)N * V * sizeof(float));
    for (int p = 0; p < N; p++) memcpy(want + (size_t)p * V, cpu_forward(one, toks[p], p), V * 4);
    int bad = 0;
    for (int p0 = 0, step = 1; p0 < N; p0 += step, step = step * 3 % 8 + 1) {
        int n = p0 + step > N ? N - p0 : step;
        const float *lg = cpu_forward_batch(many, toks + p0, n, p0, n);
        CHECK(lg != NULL);
        if (lg) bad += memcmp(lg, want + (size_t)p0 * V, (size_t)n * V * 4) != 0;
    }
    CHECK(bad == 0);
    const float *last = cpu_forward_batch(many, toks, 5, 0, 2);   /* only the last 2 */
    CHECK(last && memcmp(last, want + 3 * (size_t)V, 2 * (size_t)V * 4) == 0);
    CHECK(!cpu_forward_batch(many, toks, 9, 0, 1) && !cpu_forward_batch(many, toks, 4, 30, 1));
    CHECK(!cpu_forward_batch(many, toks, 2, 0, 3));

    /* two sequences in the slots of one state, a token of each per step (and one of them
       alone for a step), give the logits of each sequence fed on its own */
    enum { M = 7 };
    int32_t other[M];
    for (int i = 0; i < M; i++) other[i] = (int32_t)(1 + (next_u32() % 500));
    cpu_state *solo = cpu_state_new(m, 32), *slots = cpu_state_new_slots(m, 32, 4, 3);
    float *want2 = xmalloc((size_t)M * V * sizeof(float));
    for (int p = 0; p < M; p++) memcpy(want2 + (size_t)p * V, cpu_forward(solo, other[p], p), V * 4);
    int bad2 = 0;
    const float *lg = cpu_forward_multi(slots, toks, (int[]){2}, (int[]){0}, 1, 1);
    bad2 += !lg || memcmp(lg, want, (size_t)V * 4) != 0;
    for (int p = 0; p < M; p++) {
        int32_t step[2] = {other[p], toks[p + 1]};
        lg = cpu_forward_multi(slots, step, (int[]){0, 2}, (int[]){p, p + 1}, 2, 2);
        bad2 += !lg || memcmp(lg, want2 + (size_t)p * V, (size_t)V * 4) != 0 ||
                memcmp(lg + V, want + (size_t)(p + 1) * V, (size_t)V * 4) != 0;
    }
    CHECK(bad2 == 0);
    cpu_state_copy_prefix(slots, 1, 0, 4);       /* slot 1 takes slot 0's first 4 positions */
    lg = cpu_forward_multi(slots, &other[4], (int[]){1}, (int[]){4}, 1, 1);
    CHECK(lg && memcmp(lg, want2 + 4 * (size_t)V, (size_t)V * 4) == 0);
    CHECK(!cpu_forward_multi(slots, toks, (int[]){3}, (int[]){0}, 1, 1));   /* no slot 3 */
    free(want2);
    cpu_state_free(solo);
    cpu_state_free(slots);
    free(want);
    cpu_state_free(one);
    cpu_state_free(many);
    model_free(m);
}

int main(void)
{
    const char *best = cpu_kernels_name();
    printf("kernels: %s\n", best);
    test_quantize_same();
    const gguf_dtype types[] = {GGUF_DT_F32, GGUF_DT_F16, GGUF_DT_BF16, GGUF_DT_Q4_0,
                                GGUF_DT_Q4_1, GGUF_DT_Q5_0, GGUF_DT_Q5_1, GGUF_DT_Q8_0,
                                GGUF_DT_Q4_K, GGUF_DT_Q5_K, GGUF_DT_Q6_K};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) test_type(types[i], best);
    const char *dir = getenv("EVALLUA_TEST_MODELS");
    char path[1024];
    snprintf(path, sizeof path, "%s/stories260K.gguf", dir ? dir : "/work/shared/models");
    if (access(path, R_OK) == 0) test_batches(path);
    else printf("skip: batch checks need %s\n", path);
    return check_summary();
}
