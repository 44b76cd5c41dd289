/* matmul.h — the weight × activation products of the forward pass, as llama.cpp computes
 * them: for the 32-value block types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) each activation row is
 * quantized to 8 bits in blocks of 32 (scale d rounded to half precision like ggml's
 * q8_0/q8_1, plus s = d * sum for the types with an offset) and each block's dot product is
 * an integer sum scaled once. The K-quants (Q4_K, Q5_K, Q6_K) multiply activations quantized
 * like ggml's q8_K (blocks of 256, float scale, sums per 16): each weight row is unpacked once
 * per batch into 8-bit values and per-16 scales/mins, then every 16-value group is an
 * integer dot product, scaled per group in integers and per block in float, as ggml does.
 * F32/F16/BF16 multiply in float.
 *
 * Two implementations with the same arithmetic: AVX2+FMA+F16C (chosen at run time when the
 * CPU has them) and portable C. Integer block sums are exact in both; for the 32-value types
 * and the F16-cache attention the portable kernels also sum in the AVX2 (and ggml) lane order,
 * so both give the same bits; elsewhere only the float accumulation order differs.
 * EVALLUA_NO_AVX2=1 forces the portable kernels. OpenMP splits the output rows across
 * threads. */
#ifndef EVALLUA_NATIVE_CPU_MATMUL_H
#define EVALLUA_NATIVE_CPU_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "native/gguf.h"

/* One quantized block of 32 activations: value ≈ d * qs[i]; s = d * sum(qs). */
typedef struct block_q8a {
    float d, s;
    int8_t qs[32];
} block_q8a;

/* One block of 256 activations for the K-quant types (ggml's q8_K): value ≈ d * qs[i],
   d = max / -127 for the value of largest magnitude max; bsums[g] = sum of qs[16g..16g+15]. */
typedef struct block_q8k {
    float d;
    int8_t qs[256];
    int16_t bsums[16];
} block_q8k;

/* y = x W^T for n_tok rows: x is (n_tok, ne[0]) row-major, y is (n_tok, ne[1]). */
void cpu_matmul(const gguf_tensor *w, const float *x, int n_tok, float *y);

/* Quantize n activations (n a multiple of 32) into n/32 blocks. */
void cpu_quantize_q8a(const float *x, block_q8a *out, int n);
/* Dot product of one weight row of type t (n values) with quantized activations; t must be
   one of Q4_0, Q4_1, Q5_0, Q5_1, Q8_0. */
float cpu_dot_q8a(gguf_dtype t, const void *row, const block_q8a *x, int n);
/* 1 when t multiplies through cpu_dot_q8a (quantized activations), else 0. */
int cpu_type_uses_q8a(gguf_dtype t);
/* Quantize n activations (n a multiple of 256) into n/256 q8_K blocks. */
void cpu_quantize_q8k(const float *x, block_q8k *out, int n);
/* 1 when t (Q4_K, Q5_K, Q6_K) multiplies through q8_K activations, else 0. */
int cpu_type_uses_q8k(gguf_dtype t);

/* Dot product of n floats and y += a x over n floats, with the kernels in use (attention). */
float cpu_dot_f32(const float *a, const float *b, int n);
void cpu_axpy(float *y, float a, const float *x, int n);

/* One attention head: att[t] = softmax_t(scale * q . k_t) over t < len and
   out = sum_t att[t] v_t, where k_t = k + t * stride and v_t = v + t * stride (hd floats
   each); att is scratch of len floats. */
void cpu_attention_head(const float *q, const float *k, const float *v, size_t stride, int len,
                        int hd, float scale, float *att, float *out);

/* One attention head over an F16 KV cache, computed as llama.cpp's CPU backend computes
   it for a batch of tokens (F16 cache, no flash attention): q is rounded to F16; each score
   scale * q . k_t is a float FMA chain over 8 lanes (lane j takes dimensions j, j+8, ...)
   then summed across lanes; softmax with cpu_expf_ggml, its sum in groups of 8 positions
   added in double, each weight e_t * (float)(1/sum) rounded to F16; out[d] is the same
   8-lane chain over positions (lane j takes positions j, j+8, ...) of weight_t * v_t[d].
   k_t = k + t * stride and v_t = v + t * stride (hd halves each), t < len; scratch holds
   cpu_attention_f16_scratch(len, hd) floats. */
void cpu_attention_head_f16(const float *q, const uint16_t *k, const uint16_t *v,
                            size_t stride, int len, int hd, float scale, float *scratch,
                            float *out);
/* Floats of scratch cpu_attention_head_f16 needs for len positions of head dimension hd. */
size_t cpu_attention_f16_scratch(int len, int hd);

/* exp(x) as ggml's vectorised CPU expf computes it, which llama.cpp's softmax and SiLU use:
   x = n ln2 + b (n integer, ln2 in two parts), a degree-5 polynomial for e^b - 1, 2^n built
   from exponent bits (within 2 ulp of exp; 0 below about -103, infinity above 88.7). The
   AVX2 and portable kernels give the same bits. */
float cpu_expf_ggml(float x);

/* Name of the kernels in use: "avx2" or "portable". */
const char *cpu_kernels_name(void);
/* Force the portable kernels (1), or go back to the default choice (0: the best the CPU
   has unless EVALLUA_NO_AVX2 is set); for tests and benchmarks. Not thread-safe. */
void cpu_kernels_force_portable(int on);

#endif
