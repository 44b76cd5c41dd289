/* cuda_kernels.h — single CUDA kernels run over host arrays, for unit tests against the
 * CPU reference (tests/unit/test_cuda_forward.c). Each call copies its inputs to the
 * device, runs one kernel, copies the result back and returns 0, or -1 with err naming the
 * failing CUDA call (file and line). Only built with CUDA (EVALLUA_HAVE_CUDA). */
#ifndef EVALLUA_NATIVE_CUDA_KERNELS_H
#define EVALLUA_NATIVE_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "native/gguf.h"

/* Rows ids[0..n_ids) of w decoded to floats: y is (n_ids, ne[0]). */
int cuda_kt_get_rows(const gguf_tensor *w, const int32_t *ids, int n_ids, float *y, char *err,
                     size_t errlen);
/* All of w dequantized to FP16 for the GEMM path, returned as floats (ne[1], ne[0]). */
int cuda_kt_dequant_f16(const gguf_tensor *w, float *y, char *err, size_t errlen);
/* y (ncols, ne[1]) = x (ncols, ne[0]) times w^T with the quantized matrix-vector kernel;
   -1 also when the multi-matrix launch (k_matvec_jobs) gives other numbers. */
int cuda_kt_matvec(const gguf_tensor *w, const float *x, int ncols, float *y, char *err,
                   size_t errlen);
/* y = rmsnorm(x) * weight for rows rows of n. */
int cuda_kt_rmsnorm(const float *x, const float *weight, int n, int rows, float eps, float *y,
                    char *err, size_t errlen);
/* RoPE in place on x (T, n_heads * head_dim) at positions pos[t] / scale. */
int cuda_kt_rope(float *x, int T, int n_heads, int head_dim, int rope_dim,
                 const double *inv_freq, const int32_t *pos, float scale, int neox, char *err,
                 size_t errlen);
/* Attention of T queries (T, n_heads * head_dim) at positions pos[t] over one sequence's
   keys and values (len, n_kv_heads * head_dim), stored as F16 first; len > every pos. */
int cuda_kt_attention(const float *q, int T, const int32_t *pos, const float *k,
                      const float *v, int len, int n_heads, int n_kv_heads, int head_dim,
                      float *out, char *err, size_t errlen);
/* Per row of logits (rows, n_vocab): lp = log_softmax[target] (0 for target -1), am = argmax. */
int cuda_kt_log_softmax(const float *logits, int n_vocab, int rows, const int32_t *target,
                        float *lp, int32_t *am, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
