/* matmul.c — quantized-activation products: portable kernels, run-time dispatch, and the
 * OpenMP driver over output rows. */
#include "native/cpu/matmul.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "native/cpu/matmul_impl.h"
#include "native/cpu/ops.h"
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

/* The float arithmetic of the AVX2 kernels (and of ggml's), so both kernel sets give the
   same bits: 8 lanes, lane j taking per block the exact integer sum of the products of values
   4j..4j+3, scaled by d (the weight block's d times the activations' d) with an FMA; the
   lanes summed at the end (hsum8), then the offset terms m * s summed in block order. */
static void block_lanes(const int *w, const int8_t *x, float d, float *acc)
{
    for (int j = 0; j < 8; j++) {
        int s = 0;
        for (int k = 4 * j; k < 4 * j + 4; k++) s += w[k] * x[k];
        acc[j] = fmaf(d, (float)s, acc[j]);
    }
}

/* The 32 values of a block of 16 nibble bytes, minus bias: low nibbles are values 0-15. */
static void unpack_nibbles(const uint8_t *qs, int bias, int *w)
{
    for (int j = 0; j < 16; j++) {
        w[j] = (qs[j] & 0xF) - bias;
        w[j + 16] = (qs[j] >> 4) - bias;
    }
}

/* The 32 5-bit values of a Q5 block (nibble | qh bit << 4), minus bias. */
static void unpack_q5_values(const uint8_t qh_bytes[4], const uint8_t *qs, int bias, int *w)
{
    uint32_t qh;
    memcpy(&qh, qh_bytes, 4);
    for (int j = 0; j < 16; j++) {
        w[j] = ((qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4)) - bias;
        w[j + 16] = ((qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4)) - bias;
    }
}

static float hsum8(const float *l);

static float dot_q4_0_portable(const void *row, const block_q8a *x, int nb)
{
    const block_q4_0 *w = row;
    float acc[8] = {0};
    int v[32];
    for (int i = 0; i < nb; i++) {
        unpack_nibbles(w[i].qs, 8, v);
        block_lanes(v, x[i].qs, fp16_to_f32(w[i].d) * x[i].d, acc);
    }
    return hsum8(acc);
}

static float dot_q4_1_portable(const void *row, const block_q8a *x, int nb)
{
    const block_q4_1 *w = row;
    float acc[8] = {0}, offs = 0;
    int v[32];
    for (int i = 0; i < nb; i++) {
        unpack_nibbles(w[i].qs, 0, v);
        block_lanes(v, x[i].qs, fp16_to_f32(w[i].d) * x[i].d, acc);
        offs += fp16_to_f32(w[i].m) * x[i].s;
    }
    return hsum8(acc) + offs;
}

static float dot_q5_0_portable(const void *row, const block_q8a *x, int nb)
{
    const block_q5_0 *w = row;
    float acc[8] = {0};
    int v[32];
    for (int i = 0; i < nb; i++) {
        unpack_q5_values(w[i].qh, w[i].qs, 16, v);
        block_lanes(v, x[i].qs, fp16_to_f32(w[i].d) * x[i].d, acc);
    }
    return hsum8(acc);
}

static float dot_q5_1_portable(const void *row, const block_q8a *x, int nb)
{
    const block_q5_1 *w = row;
    float acc[8] = {0}, offs = 0;
    int v[32];
    for (int i = 0; i < nb; i++) {
        unpack_q5_values(w[i].qh, w[i].qs, 0, v);
        block_lanes(v, x[i].qs, fp16_to_f32(w[i].d) * x[i].d, acc);
        offs += fp16_to_f32(w[i].m) * x[i].s;
    }
    return hsum8(acc) + offs;
}

static float dot_q8_0_portable(const void *row, const block_q8a *x, int nb)
{
    const block_q8_0 *w = row;
    float acc[8] = {0};
    int v[32];
    for (int i = 0; i < nb; i++) {
        for (int j = 0; j < 32; j++) v[j] = w[i].qs[j];
        block_lanes(v, x[i].qs, fp16_to_f32(w[i].d) * x[i].d, acc);
    }
    return hsum8(acc);
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

/* ---- llama.cpp's attention and SiLU arithmetic ------------------------------------------ */

float cpu_expf_ggml(float x)
{
    const float shift = 0x1.8p23f;                      /* adding it rounds to an integer */
    const float z = fmaf(x, 0x1.715476p+0f, shift);     /* shift + n, n = round(x / ln2) */
    const float n = z - shift;
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));   /* x - n ln2 */
    const uint32_t e = f32_to_bits(z) << 23;          /* n in the exponent field */
    const float u = b * b;
    const float p = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                              fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                         u, 0x1.ffffecp-1f * b);       /* e^b - 1 */
    if (fabsf(n) <= 126.0f) {
        const float k = bits_to_f32(e + f32_to_bits(1.0f));     /* 2^n */
        return fmaf(k, p, k);
    }
    /* 2^n out of float range: 2^n = s1 * s2 */
    const uint32_t low = n <= 0.0f ? 0x82000000u : 0u;
    const float s1 = bits_to_f32(0x7f000000u + low), s2 = bits_to_f32(e - low);
    if (fabsf(n) > 192.0f) return s1 * s1;
    return fmaf(s2, p, s2) * s1;
}

static void swiglu_portable(float *a, const float *b, int n)
{
    for (int i = 0; i < n; i++) a[i] = a[i] / (1.0f + cpu_expf_ggml(-a[i])) * b[i];
}

/* The sum of 8 lanes in the order of an AVX horizontal add: halves, then pairs. */
static float hsum8(const float *l)
{
    const float t0 = l[0] + l[4], t1 = l[1] + l[5], t2 = l[2] + l[6], t3 = l[3] + l[7];
    return (t0 + t2) + (t1 + t3);
}

static float round_f16(float x)
{
    return fp16_to_f32(f32_to_fp16(x));
}

size_t cpu_attention_f16_scratch(int len, int hd)
{
    return (size_t)(len + 8) + 9 * (size_t)(hd > 0 ? hd : 0);
}

/* Softmax of the scores att[0..len) as ggml computes it, each weight rounded to F16; the
   scores are padded with zeros to a multiple of 8. */
static void softmax_ggml_f16(float *att, int len)
{
    float max = -INFINITY;
    for (int t = 0; t < len; t++) max = fmaxf(max, att[t]);
    double sum = 0;
    for (int g = 0; g < len; g += 8) {
        float lane[8] = {0};
        for (int j = 0; j < 8 && g + j < len; j++)
            lane[j] = att[g + j] = cpu_expf_ggml(att[g + j] - max);
        sum += hsum8(lane);
    }
    const float inv = (float)(1.0 / sum);
    for (int t = 0; t < len; t++) att[t] = round_f16(att[t] * inv);
}

static void attn_head_f16_portable(const float *q, const uint16_t *k, const uint16_t *v,
                                   size_t stride, int len, int hd, float scale, float *scratch,
                                   float *out)
{
    float *att = scratch, *qh = scratch + len + 8, *acc = qh + hd;    /* acc: (8, hd) */
    for (int i = 0; i < hd; i++) qh[i] = round_f16(q[i]);
    for (int t = 0; t < len; t++) {
        const uint16_t *kt = k + (size_t)t * stride;
        float lane[8] = {0};
        for (int i = 0; i < hd; i++) lane[i % 8] = fmaf(qh[i], fp16_to_f32(kt[i]), lane[i % 8]);
        att[t] = hsum8(lane) * scale;
    }
    softmax_ggml_f16(att, len);
    memset(acc, 0, 8 * (size_t)hd * sizeof(float));
    for (int t = 0; t < len; t++) {
        const uint16_t *vt = v + (size_t)t * stride;
        float *a = acc + (size_t)(t % 8) * hd;
        for (int d = 0; d < hd; d++) a[d] = fmaf(att[t], fp16_to_f32(vt[d]), a[d]);
    }
    for (int d = 0; d < hd; d++) {
        float lane[8];
        for (int j = 0; j < 8; j++) lane[j] = acc[(size_t)j * hd + d];
        out[d] = hsum8(lane);
    }
}

static int32_t dot_k_portable(const int8_t *w, const int8_t *x, const int16_t *sc)
{
    int32_t sum = 0;
    for (int g = 0; g < 16; g++, w += 16, x += 16) {
        int32_t s = 0;
        for (int l = 0; l < 16; l++) s += w[l] * x[l];
        sum += sc[g] * s;
    }
    return sum;
}

static const cpu_kernels portable = {
    "portable", quantize_portable,
    {dot_q4_0_portable, dot_q4_1_portable, dot_q5_0_portable, dot_q5_1_portable,
     dot_q8_0_portable},
    {NULL, NULL, NULL, NULL, NULL},
    dot_f32_portable, dot_f16_portable, axpy_portable, attn_head_portable, 1 << 30,
    attn_head_f16_portable, swiglu_portable, dot_k_portable};

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

void cpu_attention_head_f16(const float *q, const uint16_t *k, const uint16_t *v,
                            size_t stride, int len, int hd, float scale, float *scratch,
                            float *out)
{
    const cpu_kernels *kn = kernels();
    if (kn->attn_head_f16 && hd <= kn->attn_hd_max && hd % 8 == 0)
        kn->attn_head_f16(q, k, v, stride, len, hd, scale, scratch, out);
    else
        attn_head_f16_portable(q, k, v, stride, len, hd, scale, scratch, out);
}

void cpu_swiglu(float *a, const float *b, int n)
{
    kernels()->swiglu(a, b, n);
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

/* ---- K-quants through q8_K activations ------------------------------------------------ */

int cpu_type_uses_q8k(gguf_dtype t)
{
    return t == GGUF_DT_Q4_K || t == GGUF_DT_Q5_K || t == GGUF_DT_Q6_K;
}

/* ggml's quantize_row_q8_K_ref: scale -127 / (the value of largest magnitude). */
void cpu_quantize_q8k(const float *x, block_q8k *out, int n)
{
    for (int b = 0; b < n / QK_K; b++, x += QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; j++)
            if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
        memset(&out[b], 0, sizeof out[b]);
        if (amax == 0) continue;
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++) {
            int v = (int)nearbyintf(iscale * x[j]);
            out[b].qs[j] = (int8_t)(v < 127 ? v : 127);
            out[b].bsums[j / 16] = (int16_t)(out[b].bsums[j / 16] + out[b].qs[j]);
        }
        out[b].d = 1.0f / iscale;
    }
}

/* A K-quant weight row unpacked for integer products: per block of 256 its values, per
   group of 16 its scale and min, per block the float multipliers of both. */
typedef struct krow {
    int8_t *q;           /* (n) values: 0..15 (Q4_K), 0..31 (Q5_K), -32..31 (Q6_K) */
    int16_t *sc, *mn;    /* (n / 16) */
    float *d, *dmin;     /* (n / 256); dmin 0 for Q6_K */
} krow;

static void unpack_q45_k(const void *blk, int five, krow *r, int i)
{
    const block_q4_k *b4 = blk;
    const block_q5_k *b5 = blk;
    const uint8_t *qs = five ? b5->qs : b4->qs, *scales = five ? b5->scales : b4->scales;
    int8_t *q = r->q + (size_t)i * QK_K;
    r->d[i] = fp16_to_f32(b4->d);                  /* d and dmin lead both layouts */
    r->dmin[i] = fp16_to_f32(b4->dmin);
    for (int j = 0; j < 8; j++) {                   /* sub-blocks of 32 = groups 2j, 2j+1 */
        uint8_t sc, m;
        quant_scale_min_k4(j, scales, &sc, &m);
        r->sc[i * 16 + 2 * j] = r->sc[i * 16 + 2 * j + 1] = sc;
        r->mn[i * 16 + 2 * j] = r->mn[i * 16 + 2 * j + 1] = m;
    }
    for (int c = 0; c < 4; c++, qs += 32, q += 64)  /* 64 values per 32 bytes */
        for (int l = 0; l < 32; l++) {
            q[l] = (int8_t)(qs[l] & 0xF);
            q[l + 32] = (int8_t)(qs[l] >> 4);
            if (five) {
                q[l] = (int8_t)(q[l] + ((b5->qh[l] >> (2 * c)) & 1) * 16);
                q[l + 32] = (int8_t)(q[l + 32] + ((b5->qh[l] >> (2 * c + 1)) & 1) * 16);
            }
        }
}

static void unpack_q6_k(const block_q6_k *b, krow *r, int i)
{
    const uint8_t *ql = b->ql, *qh = b->qh;
    int8_t *q = r->q + (size_t)i * QK_K;
    r->d[i] = fp16_to_f32(b->d);
    r->dmin[i] = 0;
    for (int g = 0; g < 16; g++) {
        r->sc[i * 16 + g] = b->scales[g];
        r->mn[i * 16 + g] = 0;
    }
    for (int n = 0; n < QK_K; n += 128, q += 128, ql += 64, qh += 32)
        for (int l = 0; l < 32; l++) {
            q[l] = (int8_t)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
            q[l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
            q[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            q[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
}

static void unpack_k_row(gguf_dtype t, const void *row, int nb, krow *r)
{
    const size_t bb = gguf_dtype_block_bytes(t);
    for (int i = 0; i < nb; i++) {
        const char *blk = (const char *)row + (size_t)i * bb;
        if (t == GGUF_DT_Q6_K) unpack_q6_k((const block_q6_k *)blk, r, i);
        else unpack_q45_k(blk, t == GGUF_DT_Q5_K, r, i);
    }
}

/* One unpacked row with one token's q8_K activations (nb blocks). */
static float dot_krow(const cpu_kernels *k, const krow *r, const block_q8k *x, int nb)
{
    float sum = 0;
    for (int i = 0; i < nb; i++) {
        int32_t isum = k->dot_k(r->q + (size_t)i * QK_K, x[i].qs, r->sc + i * 16), imin = 0;
        if (r->dmin[i] != 0)
            for (int g = 0; g < 16; g++) imin += r->mn[i * 16 + g] * x[i].bsums[g];
        sum += r->d[i] * x[i].d * (float)isum - r->dmin[i] * x[i].d * (float)imin;
    }
    return sum;
}

/* Rows of a K-quant type: activations quantized once, each row unpacked once per batch. */
static void matmul_q8k(const cpu_kernels *k, const gguf_tensor *w, const float *x, int n_tok,
                       float *y)
{
    const int n = (int)w->ne[0], nb = n / QK_K;
    const int64_t rows = w->ne[1];
    const size_t rb = gguf_row_bytes(w->type, n);
    const char *base = w->data;
    block_q8k *xq = xmalloc((size_t)n_tok * (size_t)nb * sizeof *xq);
    const int parallel = (int64_t)n * rows * n_tok >= PARALLEL_MIN_MACS;
    #pragma omp parallel if (parallel)
    {
        krow r = {xmalloc((size_t)n), xmalloc((size_t)n / 16 * sizeof(int16_t)),
                  xmalloc((size_t)n / 16 * sizeof(int16_t)), xmalloc((size_t)nb * sizeof(float)),
                  xmalloc((size_t)nb * sizeof(float))};
        #pragma omp for schedule(static)
        for (int t = 0; t < n_tok; t++) cpu_quantize_q8k(x + (size_t)t * n, xq + (size_t)t * nb, n);
        #pragma omp for schedule(static)
        for (int64_t row = 0; row < rows; row++) {
            unpack_k_row(w->type, base + row * rb, nb, &r);
            for (int t = 0; t < n_tok; t++)
                y[(size_t)t * rows + row] = dot_krow(k, &r, xq + (size_t)t * nb, nb);
        }
        free(r.q); free(r.sc); free(r.mn); free(r.d); free(r.dmin);
    }
    free(xq);
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

/* Rows in float: F32 as stored, F16 converted on the fly, BF16 decoded once per row. */
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
    else if (cpu_type_uses_q8k(w->type)) matmul_q8k(k, w, x, n_tok, y);
    else matmul_float(k, w, x, n_tok, y);
}
