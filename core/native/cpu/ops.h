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
   dimensions of each head, pair i turned by pos * inv_freq[i] computed in double. neox pairs
   (i, i+rope_dim/2), otherwise (2i, 2i+1). A reference for tests; the forward pass uses
   cpu_rope_angles and cpu_rope_rotate. */
void cpu_rope(float *x, int n_heads, int head_dim, int rope_dim, const double *inv_freq,
              double pos, int neox);
/* The cosine and sine (interleaved, rope_dim values) of the rope_dim/2 RoPE angles at
   position pos, as ggml computes them: theta starts at pos and is multiplied by
   freq_base^(-2/rope_dim) in float from one pair to the next; pair i's angle is
   freq_scale * theta / factors[i] (factors NULL: 1). */
void cpu_rope_angles(float *cos_sin, int rope_dim, float pos, float freq_base,
                     float freq_scale, const float *factors);
/* Rotate n_heads heads of head_dim values in place as cpu_rope does, pair i turned by the
   angle whose cosine and sine are cos_sin[2i], cos_sin[2i+1] (cpu_rope_angles), rounded as
   ggml's CPU build rounds it (a fused multiply-add per output). */
void cpu_rope_rotate(float *x, int n_heads, int head_dim, int rope_dim, const float *cos_sin,
                     int neox);
/* In-place softmax of n values. */
void cpu_softmax(float *x, int n);
/* a = silu(a) * b, n elements (SwiGLU), with cpu_expf_ggml: a / (1 + exp(-a)) * b
   (defined with the kernels in matmul.c). */
void cpu_swiglu(float *a, const float *b, int n);

#endif
