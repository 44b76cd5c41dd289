/* quant.c — F16/BF16 conversions and row dequantizers in ggml's block formats. */
#include "native/cpu/quant.h"

#include <math.h>
#include <string.h>

_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 layout");
_Static_assert(sizeof(block_q4_1) == 20, "block_q4_1 layout");
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0 layout");
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1 layout");
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 layout");
_Static_assert(sizeof(block_q4_k) == 144, "block_q4_k layout");
_Static_assert(sizeof(block_q5_k) == 176, "block_q5_k layout");
_Static_assert(sizeof(block_q6_k) == 210, "block_q6_k layout");

float fp16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    if (exp == 0) { /* zero or subnormal: mant * 2^-24 */
        float f = (float)mant * 5.9604644775390625e-8f;
        return sign ? -f : f;
    }
    if (exp == 31) return bits_to_f32(sign | 0x7F800000u | (mant << 13));
    return bits_to_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t f32_to_fp16(float f)
{
    uint32_t x = f32_to_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u) return sign | 0x7E00;          /* NaN */
    if (ax >= 0x477FF000u) return sign | 0x7C00;         /* >= 65520 rounds to infinity */
    if (ax < 0x38800000u) {                               /* below 2^-14: subnormal */
        float units = bits_to_f32(ax) * 16777216.0f;      /* in units of 2^-24, exact */
        return sign | (uint16_t)lrintf(units);            /* ties to even */
    }
    uint32_t h = ((((ax >> 23) - 112) << 10) | ((ax >> 13) & 0x3FF));
    uint32_t rest = ax & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
    return sign | (uint16_t)h;
}

float bf16_to_f32(uint16_t h)
{
    return bits_to_f32((uint32_t)h << 16);
}

uint16_t f32_to_bf16(float f)
{
    uint32_t x = f32_to_bits(f);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((x >> 16) | 0x40);
    return (uint16_t)((x + 0x7FFF + ((x >> 16) & 1)) >> 16);
}

void quant_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

static void dequant_q4_0(const block_q4_0 *x, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += 32) {
        float d = fp16_to_f32(x[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((x[i].qs[j] & 0xF) - 8) * d;
            y[j + 16] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void dequant_q4_1(const block_q4_1 *x, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += 32) {
        float d = fp16_to_f32(x[i].d), m = fp16_to_f32(x[i].m);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(x[i].qs[j] & 0xF) * d + m;
            y[j + 16] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

/* The 5-bit values of a Q5_0/Q5_1 block: nibbles plus the bits of qh. */
static void unpack_q5(const uint8_t qh_bytes[4], const uint8_t qs[16], int q[32])
{
    uint32_t qh;
    memcpy(&qh, qh_bytes, 4);
    for (int j = 0; j < 16; j++) {
        q[j] = (qs[j] & 0xF) | (int)(((qh >> j) << 4) & 0x10);
        q[j + 16] = (qs[j] >> 4) | (int)((qh >> (j + 12)) & 0x10);
    }
}

static void dequant_q5_0(const block_q5_0 *x, float *y, int64_t nb)
{
    int q[32];
    for (int64_t i = 0; i < nb; i++, y += 32) {
        float d = fp16_to_f32(x[i].d);
        unpack_q5(x[i].qh, x[i].qs, q);
        for (int j = 0; j < 32; j++) y[j] = (float)(q[j] - 16) * d;
    }
}

static void dequant_q5_1(const block_q5_1 *x, float *y, int64_t nb)
{
    int q[32];
    for (int64_t i = 0; i < nb; i++, y += 32) {
        float d = fp16_to_f32(x[i].d), m = fp16_to_f32(x[i].m);
        unpack_q5(x[i].qh, x[i].qs, q);
        for (int j = 0; j < 32; j++) y[j] = (float)q[j] * d + m;
    }
}

static void dequant_q8_0(const block_q8_0 *x, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++, y += 32) {
        float d = fp16_to_f32(x[i].d);
        for (int j = 0; j < 32; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

static void dequant_q4_k(const block_q4_k *x, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *q = x[i].qs;
        float d = fp16_to_f32(x[i].d), dmin = fp16_to_f32(x[i].dmin);
        for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, q += 32) {
            uint8_t sc, m;
            quant_scale_min_k4(is, x[i].scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            quant_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

static void dequant_q5_k(const block_q5_k *x, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *ql = x[i].qs, *qh = x[i].qh;
        float d = fp16_to_f32(x[i].d), dmin = fp16_to_f32(x[i].dmin);
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
            uint8_t sc, m;
            quant_scale_min_k4(is, x[i].scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            quant_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

static void dequant_q6_k(const block_q6_k *x, float *y, int64_t nb)
{
    for (int64_t i = 0; i < nb; i++) {
        float d = fp16_to_f32(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int n = 0; n < QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * (float)sc[is] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}

static void dequant_half(const uint16_t *x, float *y, int64_t n, int bf16)
{
    for (int64_t i = 0; i < n; i++) y[i] = bf16 ? bf16_to_f32(x[i]) : fp16_to_f32(x[i]);
}

void quant_dequant_row(gguf_dtype t, const void *src, float *dst, int64_t n)
{
    switch (t) {
    case GGUF_DT_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case GGUF_DT_F16: dequant_half(src, dst, n, 0); break;
    case GGUF_DT_BF16: dequant_half(src, dst, n, 1); break;
    case GGUF_DT_Q4_0: dequant_q4_0(src, dst, n / 32); break;
    case GGUF_DT_Q4_1: dequant_q4_1(src, dst, n / 32); break;
    case GGUF_DT_Q5_0: dequant_q5_0(src, dst, n / 32); break;
    case GGUF_DT_Q5_1: dequant_q5_1(src, dst, n / 32); break;
    case GGUF_DT_Q8_0: dequant_q8_0(src, dst, n / 32); break;
    case GGUF_DT_Q4_K: dequant_q4_k(src, dst, n / QK_K); break;
    case GGUF_DT_Q5_K: dequant_q5_k(src, dst, n / QK_K); break;
    case GGUF_DT_Q6_K: dequant_q6_k(src, dst, n / QK_K); break;
    }
}
