/* kernels.cuh — the CUDA kernels of the native backend, behind host-side launchers.
 *
 * Internal to core/native/cuda (C++). Every launcher queues work on `st` and returns at
 * once; callers check cudaGetLastError. Matrices follow GGUF: a weight has `rows` rows of
 * `n` values (ne[0]) in its quantized block format, activations are row-major
 * (token, feature) float arrays. The KV cache is F16, laid out per layer as
 * [slot][position][n_kv_heads * head_dim]. */
#ifndef EVALLUA_NATIVE_CUDA_KERNELS_CUH
#define EVALLUA_NATIVE_CUDA_KERNELS_CUH

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

/* Most token columns one matrix-vector launch handles per block row (register tile). */
#define KV_MV_COLS 8
/* Largest head size the attention kernel supports (8 dimensions per lane). */
#define KV_MAX_HEAD_DIM 256

/* A weight matrix in device memory, still in its GGUF block format. */
typedef struct dev_tensor {
    int type;               /* gguf_dtype */
    int64_t n;              /* values per row (ne[0]) */
    int64_t rows;           /* ne[1] */
    size_t row_bytes;
    const uint8_t *data;
} dev_tensor;

/* Decode rows ids[0..n_ids) of w into y (n_ids, w.n) floats: the embedding lookup. */
void k_get_rows(const dev_tensor &w, const int32_t *ids, int n_ids, float *y, cudaStream_t st);
/* Decode the whole of w into out (rows, n) halves for a GEMM. */
void k_dequant_f16(const dev_tensor &w, __half *out, cudaStream_t st);
/* Decode the whole of w into out (rows, n) floats (the FP32 GEMM path). */
void k_dequant_f32(const dev_tensor &w, float *out, cudaStream_t st);
/* y[c][r] (+)= sum_k w[r][k] x[c][k] (+ bias[r]) for c < ncols, reading w in its block
   format; x rows are w.n apart, y rows w.rows apart. */
void k_matvec(const dev_tensor &w, const float *x, int ncols, float *y, int accumulate,
              const float *bias, cudaStream_t st);

/* Up to three matrices sharing one input (Q/K/V, gate/up): one launch for all. */
#define KV_MV_JOBS 3
typedef struct mv_jobs {
    int n;                             /* 1..KV_MV_JOBS */
    dev_tensor w[KV_MV_JOBS];          /* same n (row width) */
    float *y[KV_MV_JOBS];
    const float *bias[KV_MV_JOBS];     /* NULL: none */
} mv_jobs;
/* k_matvec of every job (no accumulation) in one launch. */
void k_matvec_jobs(const mv_jobs &jobs, const float *x, int ncols, cudaStream_t st);
/* Elementwise float -> half of n values. */
void k_to_f16(const float *x, __half *y, int64_t n, cudaStream_t st);
/* y[r] += bias for rows of n values. */
void k_add_bias(float *y, const float *bias, int n, int rows, cudaStream_t st);
/* y[i] = x[rows ? rows[i] : i] / rms * weight for n_rows rows of n values. */
void k_rmsnorm(const float *x, const int32_t *rows, const float *weight, float *y, int n,
               int n_rows, float eps, cudaStream_t st);
/* RoPE in place on x (T, n_heads * head_dim) at positions pos[t] / scale (double math). */
void k_rope(float *x, int T, int n_heads, int head_dim, int rope_dim, const double *inv_freq,
            const int32_t *pos, float scale, int neox, cudaStream_t st);
/* Store k and v (T, kv_dim) of one layer into the F16 caches at (slot[t], pos[t]). */
void k_store_kv(const float *k, const float *v, __half *kc, __half *vc, const int32_t *slot,
                const int32_t *pos, int T, int kv_dim, int max_seq, cudaStream_t st);
/* Causal GQA attention of T queries q (T, n_heads * head_dim): query t sees positions
   0..pos[t] of its slot; positions below pre_len[slot] are read from slot pre_slot[slot]
   (a shared prefix computed once). out has q's shape. */
void k_attention(const float *q, const __half *kc, const __half *vc, const int32_t *slot,
                 const int32_t *pos, const int32_t *pre_slot, const int32_t *pre_len, int T,
                 int n_heads, int n_kv_heads, int head_dim, int max_seq, float *out,
                 cudaStream_t st);
/* a = silu(a) * b over n values. */
void k_swiglu(float *a, const float *b, int64_t n, cudaStream_t st);
/* For each of n_rows logit rows (n_vocab): lp[i] = log_softmax(row)[target[i]] (0 when
   target < 0) and am[i] = argmax (first index on ties). */
void k_log_softmax(const float *logits, int n_vocab, int n_rows, const int32_t *target,
                   float *lp, int32_t *am, cudaStream_t st);

#endif
