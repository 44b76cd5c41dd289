/* ops.h — the CPU kernels of the forward pass. Vectors are float; weight matrices stay in
 * their GGUF type and rows are decoded on the fly (quant.h). OpenMP parallelises over
 * output rows where the work is large enough to pay for the threads. */
#ifndef EVALLUA_NATIVE_CPU_OPS_H
#define EVALLUA_NATIVE_CPU_OPS_H

#include <stdint.h>

#include "native/gguf.h"

/* Dot product of n floats. */
float cpu_dot(const float *a, const float *b, int n);
/* y = x / rms(x) * weight, n elements (y may be x). */
void cpu_rmsnorm(float *y, const float *x, const float *weight, int n, float eps);
/* y = W x: W has ne[1] rows of ne[0] values (any supported type), x has ne[0], y ne[1]. */
void cpu_matvec(const gguf_tensor *w, const float *x, float *y);
/* Decode row `row` of tensor t (ne[0] values) into y. */
void cpu_get_row(const gguf_tensor *t, int64_t row, float *y);
/* Rotate n_heads heads of head_dim values at position `pos` in place: the first rope_dim
   dimensions of each head, pair i turned by pos * inv_freq[i]. neox pairs (i, i+rope_dim/2),
   otherwise (2i, 2i+1). */
void cpu_rope(float *x, int n_heads, int head_dim, int rope_dim, const double *inv_freq,
              double pos, int neox);
/* In-place softmax of n values. */
void cpu_softmax(float *x, int n);
/* a = silu(a) * b, n elements (SwiGLU). */
void cpu_swiglu(float *a, const float *b, int n);

#endif
