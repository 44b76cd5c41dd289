/* matmul_impl.h — private to matmul.c and matmul_avx2.c: one table of kernels per
 * instruction set. Weight rows are passed as raw block pointers. */
#ifndef EVALLUA_NATIVE_CPU_MATMUL_IMPL_H
#define EVALLUA_NATIVE_CPU_MATMUL_IMPL_H

#include "native/cpu/matmul.h"

typedef float (*dot_q8a_fn)(const void *row, const block_q8a *x, int nb);

typedef struct cpu_kernels {
    const char *name;
    void (*quantize)(const float *x, block_q8a *out, int n);
    dot_q8a_fn q4_0, q4_1, q5_0, q5_1, q8_0;     /* nb blocks of 32 */
    float (*dot_f32)(const float *a, const float *b, int n);
    float (*dot_f16)(const uint16_t *w, const float *x, int n);
} cpu_kernels;

/* The AVX2+FMA+F16C kernels, or NULL when this build or CPU has none. */
const cpu_kernels *cpu_kernels_avx2(void);

#endif
