/* matmul_impl.h — private to matmul.c and matmul_avx2.c: one table of kernels per
 * instruction set. Weight rows are passed as raw block pointers. */
#ifndef EVALLUA_NATIVE_CPU_MATMUL_IMPL_H
#define EVALLUA_NATIVE_CPU_MATMUL_IMPL_H

#include "native/cpu/matmul.h"

/* The weight types multiplied through quantized activations, as table slots. */
enum { Q8A_Q4_0, Q8A_Q4_1, Q8A_Q5_0, Q8A_Q5_1, Q8A_Q8_0, Q8A_TYPES };

/* One weight row (nb blocks of 32) with one token's quantized activations. */
typedef float (*dot_q8a_fn)(const void *row, const block_q8a *x, int nb);
/* The same row with four tokens' activations (x, x + stride, x + 2 stride, x + 3 stride)
   into out[4]; each result identical to dot_q8a_fn's. */
typedef void (*dot4_q8a_fn)(const void *row, const block_q8a *x, size_t stride, int nb,
                            float *out);

typedef struct cpu_kernels {
    const char *name;
    void (*quantize)(const float *x, block_q8a *out, int n);
    dot_q8a_fn dot[Q8A_TYPES];
    dot4_q8a_fn dot4[Q8A_TYPES];                  /* NULL: dot four times */
    float (*dot_f32)(const float *a, const float *b, int n);
    float (*dot_f16)(const uint16_t *w, const float *x, int n);
    void (*axpy)(float *y, float a, const float *x, int n);     /* y += a x */
    /* one query head against len cached positions (see cpu_attention_head); NULL when
       the kernel has no version for head dimension hd */
    void (*attn_head)(const float *q, const float *k, const float *v, size_t stride, int len,
                      int hd, float scale, float *att, float *out);
    int attn_hd_max;                                             /* largest hd attn_head takes */
    /* cpu_attention_head_f16 for hd <= attn_hd_max, hd % 8 == 0 (NULL: portable) */
    void (*attn_head_f16)(const float *q, const uint16_t *k, const uint16_t *v, size_t stride,
                          int len, int hd, float scale, float *scratch, float *out);
    void (*swiglu)(float *a, const float *b, int n);             /* a = silu(a) * b */
    /* one K-quant block: sum over 16 groups g of sc[g] * (w . x over values 16g..16g+15),
       w an unpacked weight block (values in [-32, 31]), x a q8_K block's qs */
    int32_t (*dot_k)(const int8_t *w, const int8_t *x, const int16_t *sc);
} cpu_kernels;

/* The AVX2+FMA+F16C kernels, or NULL when this build or CPU has none. */
const cpu_kernels *cpu_kernels_avx2(void);

#endif
