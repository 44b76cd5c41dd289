/* matmul_avx2.c — the kernels of matmul_impl.h with AVX2, FMA and F16C, compiled per
 * function (target attribute) so the rest of the build needs no -mavx2; used only when
 * the CPU reports all three. Same arithmetic as the portable kernels in matmul.c. */
#include "native/cpu/matmul_impl.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "native/cpu/quant.h"

#define AVX2_FN __attribute__((target("avx2,fma,f16c")))

AVX2_FN static inline float hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2_FN static inline float half(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* 32 nibbles of 16 bytes as bytes 0..15: the low nibbles first, then the high ones. */
AVX2_FN static inline __m256i nibbles(const uint8_t *qs)
{
    __m128i t = _mm_loadu_si128((const __m128i *)qs);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0F));
}

/* Byte j = 0xFF when bit j of the 32-bit little-endian qh is set, else 0. */
AVX2_FN static inline __m256i bits32(const uint8_t *qh)
{
    uint32_t v;
    memcpy(&v, qh, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                           0x0101010101010101, 0);
    const __m256i mask = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)v), shuf);
    return _mm256_cmpeq_epi8(_mm256_and_si256(b, mask), mask);
}

/* Sums of 4 adjacent products of unsigned u (<= 127 here) and signed s bytes, as 8 int32. */
AVX2_FN static inline __m256i dot_u8i8(__m256i u, __m256i s)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* The same for two signed operands (|a| moved into the unsigned slot). */
AVX2_FN static inline __m256i dot_i8i8(__m256i a, __m256i b)
{
    return dot_u8i8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

AVX2_FN static void quantize_avx2(const float *x, block_q8a *out, int n)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int b = 0; b < n / 32; b++, x += 32) {
        __m256 v[4], a[4];
        for (int j = 0; j < 4; j++) {
            v[j] = _mm256_loadu_ps(x + 8 * j);
            a[j] = _mm256_andnot_ps(sign, v[j]);                      /* |v| */
        }
        __m256 m = _mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3]));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        const float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
        const __m256 mul = _mm256_set1_ps(id);
        __m256i q[4];
        for (int j = 0; j < 4; j++)
            q[j] = _mm256_cvtps_epi32(_mm256_round_ps(
                _mm256_mul_ps(v[j], mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        __m256i s = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        s4 = _mm_hadd_epi32(s4, s4);
        s4 = _mm_hadd_epi32(s4, s4);
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]),
                                       _mm256_packs_epi32(q[2], q[3]));
        _mm256_storeu_si256((__m256i *)out[b].qs, _mm256_permutevar8x32_epi32(p, order));
        out[b].d = half(_cvtss_sh(d, 0));
        out[b].s = half(_cvtss_sh(d * (float)_mm_cvtsi128_si32(s4), 0));
    }
}

AVX2_FN static inline __m256i load32(const int8_t *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}

/* Each weight type's block as 32 bytes (signed for the symmetric types, unsigned for those
   with an offset) and its offset m (0 for the symmetric types). */
AVX2_FN static inline __m256i bytes_q4_0(const block_q4_0 *w)
{
    return _mm256_sub_epi8(nibbles(w->qs), _mm256_set1_epi8(8));
}
AVX2_FN static inline __m256i bytes_q4_1(const block_q4_1 *w)
{
    return nibbles(w->qs);
}
AVX2_FN static inline __m256i bytes_q5_0(const block_q5_0 *w)
{   /* a clear 5th bit makes the byte nibble - 16 (0xF0 | nibble), a set one the nibble */
    return _mm256_or_si256(nibbles(w->qs),
                           _mm256_andnot_si256(bits32(w->qh), _mm256_set1_epi8((char)0xF0)));
}
AVX2_FN static inline __m256i bytes_q5_1(const block_q5_1 *w)
{
    return _mm256_or_si256(nibbles(w->qs), _mm256_and_si256(bits32(w->qh), _mm256_set1_epi8(0x10)));
}
AVX2_FN static inline __m256i bytes_q8_0(const block_q8_0 *w)
{
    return load32(w->qs);
}
#define OFFSET_NONE(w) 0.0f
#define OFFSET_M(w) half((w)->m)

/* dot_T_avx2: one row with one token's blocks; dot4_T_avx2: one row with four tokens'
   (x, x + stride, ...), decoding each weight block once. Per token both run the same
   operations in the same order, so their results are identical. */
#define DEFINE_DOTS(T, BLOCK, PRODUCT, OFFSET)                                              \
    AVX2_FN static float dot_##T##_avx2(const void *row, const block_q8a *x, int nb)         \
    {                                                                                        \
        const BLOCK *w = row;                                                                \
        __m256 acc = _mm256_setzero_ps();                                                    \
        float offs = 0;                                                                      \
        for (int i = 0; i < nb; i++) {                                                       \
            __m256 p = _mm256_cvtepi32_ps(PRODUCT(bytes_##T(&w[i]), load32(x[i].qs)));       \
            acc = _mm256_fmadd_ps(_mm256_set1_ps(half(w[i].d) * x[i].d), p, acc);           \
            offs += OFFSET(&w[i]) * x[i].s;                                                  \
        }                                                                                    \
        return hsum_ps(acc) + offs;                                                          \
    }                                                                                        \
    AVX2_FN static void dot4_##T##_avx2(const void *row, const block_q8a *x, size_t stride, \
                                        int nb, float *out)                                  \
    {                                                                                        \
        const BLOCK *w = row;                                                                \
        const block_q8a *x0 = x, *x1 = x + stride, *x2 = x + 2 * stride, *x3 = x + 3 * stride; \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                          \
        float o0 = 0, o1 = 0, o2 = 0, o3 = 0;                                                \
        for (int i = 0; i < nb; i++) {                                                       \
            const __m256i q = bytes_##T(&w[i]);                                              \
            const float d = half(w[i].d), m = OFFSET(&w[i]);                                 \
            DOT4_STEP(PRODUCT, a0, o0, x0)                                                   \
            DOT4_STEP(PRODUCT, a1, o1, x1)                                                   \
            DOT4_STEP(PRODUCT, a2, o2, x2)                                                   \
            DOT4_STEP(PRODUCT, a3, o3, x3)                                                   \
        }                                                                                    \
        out[0] = hsum_ps(a0) + o0;                                                           \
        out[1] = hsum_ps(a1) + o1;                                                           \
        out[2] = hsum_ps(a2) + o2;                                                           \
        out[3] = hsum_ps(a3) + o3;                                                           \
    }

/* One token's share of a dot4 block: the same operations as the dot kernel's loop body. */
#define DOT4_STEP(PRODUCT, acc, offs, xt)                                                    \
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d * xt[i].d),                                       \
                          _mm256_cvtepi32_ps(PRODUCT(q, load32(xt[i].qs))), acc);            \
    offs += m * xt[i].s;

DEFINE_DOTS(q4_0, block_q4_0, dot_i8i8, OFFSET_NONE)
DEFINE_DOTS(q4_1, block_q4_1, dot_u8i8, OFFSET_M)
DEFINE_DOTS(q5_0, block_q5_0, dot_i8i8, OFFSET_NONE)
DEFINE_DOTS(q5_1, block_q5_1, dot_u8i8, OFFSET_M)
DEFINE_DOTS(q8_0, block_q8_0, dot_i8i8, OFFSET_NONE)

AVX2_FN static float dot_f32_avx2(const float *a, const float *b, int n)
{
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    int i = 0;
    for (; i + 32 <= n; i += 32)
        for (int j = 0; j < 4; j++)
            acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8 * j), _mm256_loadu_ps(b + i + 8 * j),
                                     acc[j]);
    for (; i + 8 <= n; i += 8)
        acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc[0]);
    float s = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

AVX2_FN static float dot_f16_avx2(const uint16_t *w, const float *x, int n)
{
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 wv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i)));
        acc = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + i), acc);
    }
    float s = hsum_ps(acc);
    for (; i < n; i++) s += half(w[i]) * x[i];
    return s;
}

AVX2_FN static void axpy_avx2(float *y, float a, const float *x, int n)
{
    const __m256 av = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i,
                         _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

/* Attention for one head of hd <= 128 floats (hd % 8 == 0): q and the output accumulate
   in registers; softmax normalisation is applied once at the end. */
AVX2_FN static void attn_head_avx2(const float *q, const float *k, const float *v,
                                   size_t stride, int len, int hd, float scale, float *att,
                                   float *out)
{
    enum { MAXV = 16 };
    const int nv = hd / 8;
    __m256 qv[MAXV], acc[MAXV];
    for (int j = 0; j < nv; j++) {
        qv[j] = _mm256_loadu_ps(q + 8 * j);
        acc[j] = _mm256_setzero_ps();
    }
    float max = -INFINITY;
    for (int t = 0; t < len; t++) {
        const float *kt = k + (size_t)t * stride;
        __m256 s = _mm256_mul_ps(qv[0], _mm256_loadu_ps(kt));
        for (int j = 1; j < nv; j++) s = _mm256_fmadd_ps(qv[j], _mm256_loadu_ps(kt + 8 * j), s);
        att[t] = hsum_ps(s) * scale;
        max = fmaxf(max, att[t]);
    }
    double sum = 0;
    for (int t = 0; t < len; t++) sum += att[t] = expf(att[t] - max);
    for (int t = 0; t < len; t++) {
        const float *vt = v + (size_t)t * stride;
        const __m256 p = _mm256_set1_ps(att[t]);
        for (int j = 0; j < nv; j++)
            acc[j] = _mm256_fmadd_ps(p, _mm256_loadu_ps(vt + 8 * j), acc[j]);
    }
    const __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
    for (int j = 0; j < nv; j++) _mm256_storeu_ps(out + 8 * j, _mm256_mul_ps(acc[j], inv));
}

/* cpu_expf_ggml on 8 lanes (the same operations, so the same bits). */
AVX2_FN static inline __m256 expf_ggml8(__m256 x)
{
    const __m256 shift = _mm256_set1_ps(0x1.8p23f), absmask = _mm256_set1_ps(-0.0f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shift);
    const __m256 n = _mm256_sub_ps(z, shift);
    const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                      _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 p = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b,
                                        _mm256_set1_ps(0x1.573e2ep-5f)),
                        u,
                        _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b,
                                        _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
    const __m256 k = _mm256_castsi256_ps(
        _mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0f))));
    const __m256 absn = _mm256_andnot_ps(absmask, n);
    const __m256 big = _mm256_cmp_ps(absn, _mm256_set1_ps(126.0f), _CMP_GT_OQ);
    const __m256 fast = _mm256_fmadd_ps(k, p, k);
    if (!_mm256_movemask_ps(big)) return fast;
    /* 2^n out of float range in some lane: 2^n = s1 * s2 there */
    const __m256i low = _mm256_and_si256(
        _mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
        _mm256_set1_epi32((int)0x82000000u));
    const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(low, _mm256_set1_epi32(0x7f000000)));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, low));
    const __m256 huge = _mm256_cmp_ps(absn, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    const __m256 slow = _mm256_blendv_ps(_mm256_mul_ps(_mm256_fmadd_ps(s2, p, s2), s1),
                                         _mm256_mul_ps(s1, s1), huge);
    return _mm256_blendv_ps(fast, slow, big);
}

AVX2_FN static void swiglu_avx2(float *a, const float *b, int n)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(a + i);
        const __m256 e = expf_ggml8(_mm256_sub_ps(_mm256_setzero_ps(), x));
        _mm256_storeu_ps(a + i, _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(one, e)),
                                              _mm256_loadu_ps(b + i)));
    }
    for (; i < n; i++) a[i] = a[i] / (1.0f + cpu_expf_ggml(-a[i])) * b[i];
}

AVX2_FN static inline __m256 load_f16(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

AVX2_FN static inline __m256 round_f16x8(__m256 v)
{
    return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}

/* cpu_attention_head_f16 for hd <= 128, hd % 8 == 0: lanes are the AVX register's. */
AVX2_FN static void attn_head_f16_avx2(const float *q, const uint16_t *k, const uint16_t *v,
                                       size_t stride, int len, int hd, float scale,
                                       float *scratch, float *out)
{
    enum { MAXV = 16 };
    const int nv = hd / 8;
    float *att = scratch, *acc = scratch + len + 8 + hd;      /* acc: (8, hd) */
    __m256 qv[MAXV];
    for (int j = 0; j < nv; j++) qv[j] = round_f16x8(_mm256_loadu_ps(q + 8 * j));
    float max = -INFINITY;
    for (int t = 0; t < len; t++) {
        const uint16_t *kt = k + (size_t)t * stride;
        __m256 s = _mm256_mul_ps(qv[0], load_f16(kt));
        for (int j = 1; j < nv; j++) s = _mm256_fmadd_ps(qv[j], load_f16(kt + 8 * j), s);
        att[t] = hsum_ps(s) * scale;
        max = fmaxf(max, att[t]);
    }
    for (int t = len; t < ((len + 7) & ~7); t++) att[t] = -INFINITY;   /* exp gives 0 */
    double sum = 0;
    const __m256 vmax = _mm256_set1_ps(max);
    for (int g = 0; g < len; g += 8) {
        const __m256 e = expf_ggml8(_mm256_sub_ps(_mm256_loadu_ps(att + g), vmax));
        _mm256_storeu_ps(att + g, e);
        sum += hsum_ps(e);
    }
    const __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
    for (int g = 0; g < len; g += 8)
        _mm256_storeu_ps(att + g, round_f16x8(_mm256_mul_ps(_mm256_loadu_ps(att + g), inv)));
    memset(acc, 0, 8 * (size_t)hd * sizeof(float));
    for (int t = 0; t < len; t++) {
        const uint16_t *vt = v + (size_t)t * stride;
        float *a = acc + (size_t)(t & 7) * hd;
        const __m256 p = _mm256_set1_ps(att[t]);
        for (int j = 0; j < nv; j++)
            _mm256_storeu_ps(a + 8 * j, _mm256_fmadd_ps(p, load_f16(vt + 8 * j),
                                                         _mm256_loadu_ps(a + 8 * j)));
    }
    for (int j = 0; j < nv; j++) {
        __m256 l[8];
        for (int r = 0; r < 8; r++) l[r] = _mm256_loadu_ps(acc + (size_t)r * hd + 8 * j);
        const __m256 t0 = _mm256_add_ps(l[0], l[4]), t1 = _mm256_add_ps(l[1], l[5]);
        const __m256 t2 = _mm256_add_ps(l[2], l[6]), t3 = _mm256_add_ps(l[3], l[7]);
        _mm256_storeu_ps(out + 8 * j, _mm256_add_ps(_mm256_add_ps(t0, t2), _mm256_add_ps(t1, t3)));
    }
}

/* One K-quant block (see matmul_impl.h): two groups of 16 per 32-byte step, their int32
   partial sums scaled by the groups' scales in integers. */
AVX2_FN static int32_t dot_k_avx2(const int8_t *w, const int8_t *x, const int16_t *sc)
{
    __m256i acc = _mm256_setzero_si256();
    for (int g = 0; g < 16; g += 2) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(w + 16 * g));
        __m256i b = _mm256_loadu_si256((const __m256i *)(x + 16 * g));
        __m256i s = _mm256_setr_epi32(sc[g], sc[g], sc[g], sc[g], sc[g + 1], sc[g + 1],
                                      sc[g + 1], sc[g + 1]);
        acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(dot_i8i8(a, b), s));
    }
    __m128i v = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 0, 3, 2)));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(v);
}

static const cpu_kernels avx2 = {
    "avx2", quantize_avx2,
    {dot_q4_0_avx2, dot_q4_1_avx2, dot_q5_0_avx2, dot_q5_1_avx2, dot_q8_0_avx2},
    {dot4_q4_0_avx2, dot4_q4_1_avx2, dot4_q5_0_avx2, dot4_q5_1_avx2, dot4_q8_0_avx2},
    dot_f32_avx2, dot_f16_avx2, axpy_avx2, attn_head_avx2, 128, attn_head_f16_avx2,
    swiglu_avx2, dot_k_avx2};

const cpu_kernels *cpu_kernels_avx2(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("f16c"))
        return &avx2;
    return NULL;
}

#else

const cpu_kernels *cpu_kernels_avx2(void)
{
    return NULL;
}

#endif
