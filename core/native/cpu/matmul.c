/* matmul.c — quantized-activation products: portable kernels, run-time dispatch, and the
 * OpenMP driver over output rows. */
#include "native/cpu/matmul.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "native/cpu/matmul_impl.h"
#include "native/cpu/quant.h"
#include "util/buf.h"

/* Below this many multiply-adds a product runs on one thread. */
#define PARALLEL_MIN_MACS (1 << 16)

/* ---- portable kernels ------------------------------------------------------------------ */

static void quantize_portable(const float *x, block_q8a *out, int n)
{
    for (int b = 0; b < n / 32; b++, x += 32) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            int q = (int)nearbyintf(x[j] * id);
            out[b].qs[j] = (int8_t)q;
            sum += q;
        }
        out[b].d = fp16_to_f32(f32_to_fp16(d));
        out[b].s = fp16_to_f32(f32_to_fp16(d * (float)sum));
    }
}

static float dot_q4_0_portable(const void *row, const block_q8a *x, int nb)
{
    const block_q4_0 *w = row;
    float sum = 0;
    for (int i = 0; i < nb; i++) {
        int s = 0;
        for (int j = 0; j < 16; j++)
            s += ((w[i].qs[j] & 0xF) - 8) * x[i].qs[j] + ((w[i].qs[j] >> 4) - 8) * x[i].qs[j + 16];
        sum += fp16_to_f32(w[i].d) * x[i].d * (float)s;
    }
    return sum;
}

static float dot_q4_1_portable(const void *row, const block_q8a *x, int nb)
{
    const block_q4_1 *w = row;
    float sum = 0;
    for (int i = 0; i < nb; i++) {
        int s = 0;
        for (int j = 0; j < 16; j++)
            s += (w[i].qs[j] & 0xF) * x[i].qs[j] + (w[i].qs[j] >> 4) * x[i].qs[j + 16];
        sum += fp16_to_f32(w[i].d) * x[i].d * (float)s + fp16_to_f32(w[i].m) * x[i].s;
    }
    return sum;
}

/* The 5-bit values of a Q5 block (nibble | qh bit << 4), minus `bias`. */
static int dot_q5_block(const uint8_t qh_bytes[4], const uint8_t qs[16], const int8_t *y, int bias)
{
    uint32_t qh;
    memcpy(&qh, qh_bytes, 4);
    int s = 0;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
        int hi = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
        s += (lo - bias) * y[j] + (hi - bias) * y[j + 16];
    }
    return s;
}

static float dot_q5_0_portable(const void *row, const block_q8a *x, int nb)
{
    const block_q5_0 *w = row;
    float sum = 0;
    for (int i = 0; i < nb; i++)
        sum += fp16_to_f32(w[i].d) * x[i].d * (float)dot_q5_block(w[i].qh, w[i].qs, x[i].qs, 16);
    return sum;
}

static float dot_q5_1_portable(const void *row, const block_q8a *x, int nb)
{
    const block_q5_1 *w = row;
    float sum = 0;
    for (int i = 0; i < nb; i++)
        sum += fp16_to_f32(w[i].d) * x[i].d * (float)dot_q5_block(w[i].qh, w[i].qs, x[i].qs, 0) +
               fp16_to_f32(w[i].m) * x[i].s;
    return sum;
}

static float dot_q8_0_portable(const void *row, const block_q8a *x, int nb)
{
    const block_q8_0 *w = row;
    float sum = 0;
    for (int i = 0; i < nb; i++) {
        int s = 0;
        for (int j = 0; j < 32; j++) s += w[i].qs[j] * x[i].qs[j];
        sum += fp16_to_f32(w[i].d) * x[i].d * (float)s;
    }
    return sum;
}

static float dot_f32_portable(const float *a, const float *b, int n)
{
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    float s = 0;
    for (; i < n; i++) s += a[i] * b[i];
    for (int j = 0; j < 8; j++) s += acc[j];
    return s;
}

static float dot_f16_portable(const uint16_t *w, const float *x, int n)
{
    float s = 0;
    for (int i = 0; i < n; i++) s += fp16_to_f32(w[i]) * x[i];
    return s;
}

static void axpy_portable(float *y, float a, const float *x, int n)
{
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

static void attn_head_portable(const float *q, const float *k, const float *v, size_t stride,
                               int len, int hd, float scale, float *att, float *out)
{
    float max = -INFINITY;
    for (int t = 0; t < len; t++) {
        att[t] = dot_f32_portable(q, k + (size_t)t * stride, hd) * scale;
        max = fmaxf(max, att[t]);
    }
    double sum = 0;
    for (int t = 0; t < len; t++) sum += att[t] = expf(att[t] - max);
    const float inv = (float)(1.0 / sum);
    memset(out, 0, (size_t)hd * sizeof(float));
    for (int t = 0; t < len; t++) axpy_portable(out, att[t] * inv, v + (size_t)t * stride, hd);
}

static const cpu_kernels portable = {
    "portable", quantize_portable,
    {dot_q4_0_portable, dot_q4_1_portable, dot_q5_0_portable, dot_q5_1_portable,
     dot_q8_0_portable},
    {NULL, NULL, NULL, NULL, NULL},
    dot_f32_portable, dot_f16_portable, axpy_portable, attn_head_portable, 1 << 30};

/* ---- dispatch ------------------------------------------------------------------------ */

static const cpu_kernels *active;
static int force_portable = -1;   /* -1: read EVALLUA_NO_AVX2 once */

static const cpu_kernels *kernels(void)
{
    const cpu_kernels *k = active;
    if (k) return k;
    if (force_portable < 0) {
        const char *e = getenv("EVALLUA_NO_AVX2");
        force_portable = e && *e && strcmp(e, "0") != 0;
    }
    k = force_portable ? NULL : cpu_kernels_avx2();
    active = k ? k : &portable;
    return active;
}

const char *cpu_kernels_name(void)
{
    return kernels()->name;
}

void cpu_kernels_force_portable(int on)
{
    force_portable = on ? 1 : -1;
    active = NULL;
}

/* The table slot of weight type t, or -1 when t multiplies in float. */
static int q8a_slot(gguf_dtype t)
{
    switch (t) {
    case GGUF_DT_Q4_0: return Q8A_Q4_0;
    case GGUF_DT_Q4_1: return Q8A_Q4_1;
    case GGUF_DT_Q5_0: return Q8A_Q5_0;
    case GGUF_DT_Q5_1: return Q8A_Q5_1;
    case GGUF_DT_Q8_0: return Q8A_Q8_0;
    default: return -1;
    }
}

int cpu_type_uses_q8a(gguf_dtype t)
{
    return q8a_slot(t) >= 0;
}

float cpu_dot_f32(const float *a, const float *b, int n)
{
    return kernels()->dot_f32(a, b, n);
}

void cpu_axpy(float *y, float a, const float *x, int n)
{
    kernels()->axpy(y, a, x, n);
}

void cpu_attention_head(const float *q, const float *k, const float *v, size_t stride, int len,
                        int hd, float scale, float *att, float *out)
{
    const cpu_kernels *kn = kernels();
    if (kn->attn_head && hd <= kn->attn_hd_max && hd % 8 == 0)
        kn->attn_head(q, k, v, stride, len, hd, scale, att, out);
    else
        attn_head_portable(q, k, v, stride, len, hd, scale, att, out);
}

void cpu_quantize_q8a(const float *x, block_q8a *out, int n)
{
    kernels()->quantize(x, out, n);
}

float cpu_dot_q8a(gguf_dtype t, const void *row, const block_q8a *x, int n)
{
    int slot = q8a_slot(t);
    return slot >= 0 ? kernels()->dot[slot](row, x, n / 32) : 0.0f;
}

/* ---- the driver ---------------------------------------------------------------------- */

/* Rows through quantized activations: each weight row is read once for all n_tok rows. */
static void matmul_q8a(const cpu_kernels *k, const gguf_tensor *w, const float *x, int n_tok,
                       float *y)
{
    const int n = (int)w->ne[0], nb = n / 32;
    const int64_t rows = w->ne[1];
    const size_t rb = gguf_row_bytes(w->type, n);
    const char *base = w->data;
    const dot_q8a_fn dot = k->dot[q8a_slot(w->type)];
    const dot4_q8a_fn dot4 = k->dot4[q8a_slot(w->type)];
    const size_t stride = (size_t)nb;
    block_q8a *xq = xmalloc((size_t)n_tok * (size_t)nb * sizeof *xq);
    const int parallel = (int64_t)n * rows * n_tok >= PARALLEL_MIN_MACS;
    #pragma omp parallel if (parallel)
    {
        #pragma omp for schedule(static)
        for (int t = 0; t < n_tok; t++) k->quantize(x + (size_t)t * n, xq + (size_t)t * nb, n);
        #pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const void *row = base + r * rb;
            int t = 0;
            float out[4];
            for (; dot4 && t + 4 <= n_tok; t += 4) {
                dot4(row, xq + (size_t)t * stride, stride, nb, out);
                for (int j = 0; j < 4; j++) y[(size_t)(t + j) * rows + r] = out[j];
            }
            for (; t < n_tok; t++) y[(size_t)t * rows + r] = dot(row, xq + (size_t)t * stride, nb);
        }
    }
    free(xq);
}

/* Rows in float: F32 as stored, F16 converted on the fly, others decoded once per row. */
static void matmul_float(const cpu_kernels *k, const gguf_tensor *w, const float *x, int n_tok,
                         float *y)
{
    const int n = (int)w->ne[0];
    const int64_t rows = w->ne[1];
    const size_t rb = gguf_row_bytes(w->type, n);
    const char *base = w->data;
    const int parallel = (int64_t)n * rows * n_tok >= PARALLEL_MIN_MACS;
    #pragma omp parallel if (parallel)
    {
        float *tmp = w->type == GGUF_DT_F32 || w->type == GGUF_DT_F16
                         ? NULL : xmalloc((size_t)n * sizeof(float));
        #pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const void *row = base + r * rb;
            if (tmp) quant_dequant_row(w->type, row, tmp, n);
            for (int t = 0; t < n_tok; t++) {
                const float *xt = x + (size_t)t * n;
                y[(size_t)t * rows + r] = w->type == GGUF_DT_F16 ? k->dot_f16(row, xt, n)
                                          : k->dot_f32(tmp ? tmp : row, xt, n);
            }
        }
        free(tmp);
    }
}

void cpu_matmul(const gguf_tensor *w, const float *x, int n_tok, float *y)
{
    const cpu_kernels *k = kernels();
    if (n_tok <= 0) return;
    if (q8a_slot(w->type) >= 0) matmul_q8a(k, w, x, n_tok, y);
    else matmul_float(k, w, x, n_tok, y);
}
