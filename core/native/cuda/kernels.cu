/* kernels.cu — dequantization, matrix-vector, normalisation, RoPE, attention and
 * log-softmax kernels for the CUDA native backend (see kernels.cuh).
 *
 * Every quantized type is decoded by one routine, dequant32: 32 consecutive values of a
 * row (one block of the 32-value formats, one sub-block of the 256-value K formats), with
 * the same arithmetic as cpu/quant.c. The matrix-vector kernel and the dequantize-for-GEMM
 * kernel both use it, so the decode and prefill paths agree with each other and the CPU. */
#include "kernels.cuh"

#include <math.h>

#include "native/gguf.h"

#define FULL_MASK 0xffffffffu

/* ---- decoding blocks ------------------------------------------------------------------ */

__device__ __forceinline__ uint16_t ld_u16(const uint8_t *p)
{
    return *(const uint16_t *)p;       /* every block field used this way is 2-aligned */
}

__device__ __forceinline__ float half_bits(uint16_t h)
{
    return __half2float(__ushort_as_half(h));
}

__device__ __forceinline__ float bf16_bits(uint16_t h)
{
    return __uint_as_float((uint32_t)h << 16);
}

/* The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (quant_scale_min_k4). */
__device__ __forceinline__ void scale_min_k4(int j, const uint8_t *q, float *sc, float *m)
{
    if (j < 4) {
        *sc = (float)(q[j] & 63);
        *m = (float)(q[j + 4] & 63);
    } else {
        *sc = (float)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (float)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

__device__ __forceinline__ void dq_q4_0(const uint8_t *b, float *v)
{
    float d = half_bits(ld_u16(b));
    #pragma unroll
    for (int j = 0; j < 16; j++) {
        int q = b[2 + j];
        v[j] = (float)((q & 0xF) - 8) * d;
        v[j + 16] = (float)((q >> 4) - 8) * d;
    }
}

__device__ __forceinline__ void dq_q4_1(const uint8_t *b, float *v)
{
    float d = half_bits(ld_u16(b)), m = half_bits(ld_u16(b + 2));
    #pragma unroll
    for (int j = 0; j < 16; j++) {
        int q = b[4 + j];
        v[j] = (float)(q & 0xF) * d + m;
        v[j + 16] = (float)(q >> 4) * d + m;
    }
}

/* Q5_0 (has_min 0: value = d*(q-16)) and Q5_1 (value = d*q + m). */
__device__ __forceinline__ void dq_q5(const uint8_t *b, int has_min, float *v)
{
    float d = half_bits(ld_u16(b)), m = has_min ? half_bits(ld_u16(b + 2)) : 0.0f;
    const uint8_t *qhp = b + (has_min ? 4 : 2), *qs = qhp + 4;
    uint32_t qh = (uint32_t)ld_u16(qhp) | ((uint32_t)ld_u16(qhp + 2) << 16);
    #pragma unroll
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 0xF) | (int)(((qh >> j) << 4) & 0x10);
        int hi = (qs[j] >> 4) | (int)((qh >> (j + 12)) & 0x10);
        if (has_min) {
            v[j] = (float)lo * d + m;
            v[j + 16] = (float)hi * d + m;
        } else {
            v[j] = (float)(lo - 16) * d;
            v[j + 16] = (float)(hi - 16) * d;
        }
    }
}

__device__ __forceinline__ void dq_q8_0(const uint8_t *b, float *v)
{
    float d = half_bits(ld_u16(b));
    #pragma unroll
    for (int j = 0; j < 32; j++) v[j] = (float)(int8_t)b[2 + j] * d;
}

/* Sub-block j (values 32j..32j+31) of a Q4_K (qh NULL) or Q5_K block. */
__device__ __forceinline__ void dq_qk45(const uint8_t *b, int j, int five, float *v)
{
    float d = half_bits(ld_u16(b)), dmin = half_bits(ld_u16(b + 2)), sc, m;
    scale_min_k4(j, b + 4, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    const uint8_t *qh = b + 16, *qs = b + (five ? 48 : 16) + 32 * (j / 2);
    const int shift = (j & 1) * 4;
    #pragma unroll
    for (int l = 0; l < 32; l++) {
        int q = (qs[l] >> shift) & 0xF;
        if (five && (qh[l] & (1 << j))) q += 16;
        v[l] = d1 * (float)q - m1;
    }
}

/* Sub-block j (values 32j..32j+31) of a Q6_K block. */
__device__ __forceinline__ void dq_q6_k(const uint8_t *b, int j, float *v)
{
    const int half = j / 4, g = j % 4;
    const uint8_t *ql = b + 64 * half + 32 * (g & 1), *qh = b + 128 + 32 * half;
    const int8_t *sc = (const int8_t *)(b + 192) + 8 * half + 2 * g;
    const float d = half_bits(ld_u16(b + 208));
    const int nib = (g >> 1) * 4, hsh = 2 * g;
    const float d0 = d * (float)sc[0], d1 = d * (float)sc[1];
    #pragma unroll
    for (int l = 0; l < 32; l++) {
        int q = (((ql[l] >> nib) & 0xF) | (((qh[l] >> hsh) & 3) << 4)) - 32;
        v[l] = (l < 16 ? d0 : d1) * (float)q;
    }
}

/* Values 32p..32p+31 of a row of n values (past n: 0, for the float types only). */
__device__ __forceinline__ void dequant32(int type, const uint8_t *row, int64_t p, int64_t n,
                                          float *v)
{
    switch (type) {
    case GGUF_DT_Q4_0: dq_q4_0(row + 18 * p, v); return;
    case GGUF_DT_Q4_1: dq_q4_1(row + 20 * p, v); return;
    case GGUF_DT_Q5_0: dq_q5(row + 22 * p, 0, v); return;
    case GGUF_DT_Q5_1: dq_q5(row + 24 * p, 1, v); return;
    case GGUF_DT_Q8_0: dq_q8_0(row + 34 * p, v); return;
    case GGUF_DT_Q4_K: dq_qk45(row + 144 * (p / 8), (int)(p % 8), 0, v); return;
    case GGUF_DT_Q5_K: dq_qk45(row + 176 * (p / 8), (int)(p % 8), 1, v); return;
    case GGUF_DT_Q6_K: dq_q6_k(row + 210 * (p / 8), (int)(p % 8), v); return;
    default: break;
    }
    #pragma unroll
    for (int l = 0; l < 32; l++) {
        int64_t i = 32 * p + l;
        float x = 0.0f;
        if (i < n) {
            if (type == GGUF_DT_F32) x = ((const float *)row)[i];
            else if (type == GGUF_DT_F16) x = half_bits(((const uint16_t *)row)[i]);
            else x = bf16_bits(((const uint16_t *)row)[i]);
        }
        v[l] = x;
    }
}

static int64_t parts_of(int64_t n)
{
    return (n + 31) / 32;
}

static unsigned blocks_for(int64_t n, int threads)
{
    return (unsigned)((n + threads - 1) / threads);
}

/* ---- dequantization ------------------------------------------------------------------- */

__global__ void get_rows_kernel(dev_tensor w, const int32_t *ids, float *y)
{
    const int64_t parts = (w.n + 31) / 32;
    const int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= parts) return;
    const int r = blockIdx.y;
    float v[32];
    dequant32(w.type, w.data + (size_t)ids[r] * w.row_bytes, p, w.n, v);
    float *out = y + (size_t)r * w.n + 32 * p;
    #pragma unroll
    for (int l = 0; l < 32; l++)
        if (32 * p + l < w.n) out[l] = v[l];
}

void k_get_rows(const dev_tensor &w, const int32_t *ids, int n_ids, float *y, cudaStream_t st)
{
    if (n_ids <= 0) return;
    dim3 grid(blocks_for(parts_of(w.n), 128), (unsigned)n_ids);
    get_rows_kernel<<<grid, 128, 0, st>>>(w, ids, y);
}

__global__ void dequant_f16_kernel(dev_tensor w, __half *out)
{
    const int64_t parts = (w.n + 31) / 32;
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= parts * w.rows) return;
    const int64_t r = i / parts, p = i % parts;
    float v[32];
    dequant32(w.type, w.data + (size_t)r * w.row_bytes, p, w.n, v);
    __half *o = out + (size_t)r * w.n + 32 * p;
    if (32 * p + 32 <= w.n && (w.n % 2) == 0) {
        #pragma unroll
        for (int l = 0; l < 32; l += 2) *(__half2 *)(o + l) = __floats2half2_rn(v[l], v[l + 1]);
    } else {
        for (int l = 0; l < 32 && 32 * p + l < w.n; l++) o[l] = __float2half_rn(v[l]);
    }
}

void k_dequant_f16(const dev_tensor &w, __half *out, cudaStream_t st)
{
    int64_t items = parts_of(w.n) * w.rows;
    dequant_f16_kernel<<<blocks_for(items, 256), 256, 0, st>>>(w, out);
}

__global__ void dequant_f32_kernel(dev_tensor w, float *out)
{
    const int64_t parts = (w.n + 31) / 32;
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= parts * w.rows) return;
    const int64_t r = i / parts, p = i % parts;
    float v[32];
    dequant32(w.type, w.data + (size_t)r * w.row_bytes, p, w.n, v);
    float *o = out + (size_t)r * w.n + 32 * p;
    for (int l = 0; l < 32 && 32 * p + l < w.n; l++) o[l] = v[l];
}

void k_dequant_f32(const dev_tensor &w, float *out, cudaStream_t st)
{
    int64_t items = parts_of(w.n) * w.rows;
    dequant_f32_kernel<<<blocks_for(items, 256), 256, 0, st>>>(w, out);
}

/* ---- matrix-vector products on quantized weights ------------------------------------- */

__device__ __forceinline__ float warp_sum(float v)
{
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    return v;
}

/* One warp per weight row; lanes walk the row's 32-value parts. blockIdx.y picks the
   group of KV_MV_COLS token columns. */
__device__ __forceinline__ void matvec_rows(const dev_tensor &w, const float *x, int ncols,
                                            float *y, int accumulate, const float *bias)
{
    const int lane = threadIdx.x & 31;
    const int64_t r = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (r >= w.rows) return;                       /* whole warps leave together */
    const int c0 = blockIdx.y * KV_MV_COLS;
    const int nc = ncols - c0 < KV_MV_COLS ? ncols - c0 : KV_MV_COLS;
    const uint8_t *row = w.data + (size_t)r * w.row_bytes;
    const int64_t parts = (w.n + 31) / 32;
    float acc[KV_MV_COLS];
    #pragma unroll
    for (int c = 0; c < KV_MV_COLS; c++) acc[c] = 0.0f;
    for (int64_t p = lane; p < parts; p += 32) {
        float v[32];
        dequant32(w.type, row, p, w.n, v);
        const int64_t base = 32 * p;
        const int m = w.n - base < 32 ? (int)(w.n - base) : 32;
        #pragma unroll
        for (int c = 0; c < KV_MV_COLS; c++) {
            if (c >= nc) break;
            const float *xc = x + (size_t)(c0 + c) * w.n + base;
            float s = 0.0f;
            #pragma unroll
            for (int l = 0; l < 32; l++)          /* constant indices: v stays in registers */
                if (l < m) s += v[l] * xc[l];
            acc[c] += s;
        }
    }
    #pragma unroll
    for (int c = 0; c < KV_MV_COLS; c++) {
        float s = warp_sum(acc[c]);
        if (lane == 0 && c < nc) {
            float *out = y + (size_t)(c0 + c) * w.rows + r;
            if (bias) s += bias[r];
            *out = accumulate ? *out + s : s;
        }
    }
}

__global__ void matvec_kernel(dev_tensor w, const float *x, int ncols, float *y, int accumulate,
                              const float *bias)
{
    matvec_rows(w, x, ncols, y, accumulate, bias);
}

/* blockIdx.z picks the job; blocks past that job's rows leave at once. */
__global__ void matvec_jobs_kernel(mv_jobs jobs, const float *x, int ncols)
{
    const int j = blockIdx.z;
    matvec_rows(jobs.w[j], x, ncols, jobs.y[j], 0, jobs.bias[j]);
}

#define MV_WARPS 8

void k_matvec(const dev_tensor &w, const float *x, int ncols, float *y, int accumulate,
              const float *bias, cudaStream_t st)
{
    if (ncols <= 0) return;
    dim3 grid(blocks_for(w.rows, MV_WARPS), (unsigned)((ncols + KV_MV_COLS - 1) / KV_MV_COLS));
    matvec_kernel<<<grid, MV_WARPS * 32, 0, st>>>(w, x, ncols, y, accumulate, bias);
}

void k_matvec_jobs(const mv_jobs &jobs, const float *x, int ncols, cudaStream_t st)
{
    if (ncols <= 0 || jobs.n <= 0) return;
    int64_t rows = 0;
    for (int j = 0; j < jobs.n; j++) rows = jobs.w[j].rows > rows ? jobs.w[j].rows : rows;
    dim3 grid(blocks_for(rows, MV_WARPS), (unsigned)((ncols + KV_MV_COLS - 1) / KV_MV_COLS),
              (unsigned)jobs.n);
    matvec_jobs_kernel<<<grid, MV_WARPS * 32, 0, st>>>(jobs, x, ncols);
}

/* ---- elementwise ---------------------------------------------------------------------- */

__global__ void to_f16_kernel(const float *x, __half *y, int64_t n)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = __float2half_rn(x[i]);
}

void k_to_f16(const float *x, __half *y, int64_t n, cudaStream_t st)
{
    if (n > 0) to_f16_kernel<<<blocks_for(n, 256), 256, 0, st>>>(x, y, n);
}

__global__ void add_bias_kernel(float *y, const float *bias, int n, int64_t total)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total) y[i] += bias[i % n];
}

void k_add_bias(float *y, const float *bias, int n, int rows, cudaStream_t st)
{
    int64_t total = (int64_t)n * rows;
    if (total > 0) add_bias_kernel<<<blocks_for(total, 256), 256, 0, st>>>(y, bias, n, total);
}

__global__ void swiglu_kernel(float *a, const float *b, int64_t n)
{
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) a[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
}

void k_swiglu(float *a, const float *b, int64_t n, cudaStream_t st)
{
    if (n > 0) swiglu_kernel<<<blocks_for(n, 256), 256, 0, st>>>(a, b, n);
}

/* ---- RMSNorm -------------------------------------------------------------------------- */

/* Sum of v over the block (blockDim.x a multiple of 32, at most 1024); every thread gets it. */
__device__ float block_sum(float v, float *scratch)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    v = warp_sum(v);
    __syncthreads();                               /* scratch may still be read */
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = lane < nw ? scratch[lane] : 0.0f;
    return warp_sum(v);
}

__global__ void rmsnorm_kernel(const float *x, const int32_t *rows, const float *weight,
                               float *y, int n, float eps)
{
    __shared__ float scratch[32];
    const int i = blockIdx.x;
    const float *xr = x + (size_t)(rows ? rows[i] : i) * n;
    float ss = 0.0f;
    for (int k = threadIdx.x; k < n; k += blockDim.x) ss += xr[k] * xr[k];
    ss = block_sum(ss, scratch);
    const float scale = (float)(1.0 / sqrt((double)ss / n + eps));
    float *yr = y + (size_t)i * n;
    for (int k = threadIdx.x; k < n; k += blockDim.x) yr[k] = xr[k] * scale * weight[k];
}

void k_rmsnorm(const float *x, const int32_t *rows, const float *weight, float *y, int n,
               int n_rows, float eps, cudaStream_t st)
{
    if (n_rows > 0) rmsnorm_kernel<<<n_rows, 256, 0, st>>>(x, rows, weight, y, n, eps);
}

/* ---- RoPE and the KV cache ------------------------------------------------------------ */

__global__ void rope_kernel(float *x, int T, int n_heads, int head_dim, int rope_dim,
                            const double *inv_freq, const int32_t *pos, float scale, int neox)
{
    const int half = rope_dim / 2;
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)T * n_heads * half) return;
    const int f = (int)(i % half), h = (int)(i / half % n_heads), t = (int)(i / half / n_heads);
    const double a = (pos[t] / (double)scale) * inv_freq[f];
    const float c = (float)cos(a), s = (float)sin(a);
    float *v = x + ((size_t)t * n_heads + h) * head_dim;
    const int i0 = neox ? f : 2 * f, i1 = neox ? f + half : 2 * f + 1;
    const float v0 = v[i0], v1 = v[i1];
    v[i0] = v0 * c - v1 * s;
    v[i1] = v0 * s + v1 * c;
}

void k_rope(float *x, int T, int n_heads, int head_dim, int rope_dim, const double *inv_freq,
            const int32_t *pos, float scale, int neox, cudaStream_t st)
{
    int64_t items = (int64_t)T * n_heads * (rope_dim / 2);
    if (items > 0)
        rope_kernel<<<blocks_for(items, 256), 256, 0, st>>>(x, T, n_heads, head_dim, rope_dim,
                                                            inv_freq, pos, scale, neox);
}

__global__ void store_kv_kernel(const float *k, const float *v, __half *kc, __half *vc,
                                const int32_t *slot, const int32_t *pos, int T, int kv_dim,
                                int max_seq)
{
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)T * kv_dim) return;
    const int t = (int)(i / kv_dim), e = (int)(i % kv_dim);
    const size_t at = ((size_t)slot[t] * max_seq + pos[t]) * kv_dim + e;
    kc[at] = __float2half_rn(k[i]);
    vc[at] = __float2half_rn(v[i]);
}

void k_store_kv(const float *k, const float *v, __half *kc, __half *vc, const int32_t *slot,
                const int32_t *pos, int T, int kv_dim, int max_seq, cudaStream_t st)
{
    int64_t items = (int64_t)T * kv_dim;
    if (items > 0)
        store_kv_kernel<<<blocks_for(items, 256), 256, 0, st>>>(k, v, kc, vc, slot, pos, T,
                                                                kv_dim, max_seq);
}

/* ---- attention ------------------------------------------------------------------------ */

#define ATT_WARPS 4

/* One warp per (token, head), online softmax over chunks of 32 keys: lane j scores key
   k0+j, then every lane accumulates its dimensions (lane, lane+32, ...) of the weighted
   values. No shared memory depends on the sequence length, so any length runs. */
__global__ void attention_kernel(const float *q, const __half *kc, const __half *vc,
                                 const int32_t *slot, const int32_t *pos,
                                 const int32_t *pre_slot, const int32_t *pre_len, int T,
                                 int n_heads, int n_kv_heads, int hd, int max_seq, float scale,
                                 float *out)
{
    __shared__ float qs[ATT_WARPS][KV_MAX_HEAD_DIM];
    const int w = threadIdx.x / 32, lane = threadIdx.x & 31;
    const int64_t item = (int64_t)blockIdx.x * ATT_WARPS + w;
    if (item >= (int64_t)T * n_heads) return;      /* whole warps leave together */
    const int t = (int)(item / n_heads), h = (int)(item % n_heads);
    const int q_dim = n_heads * hd, kv_dim = n_kv_heads * hd;
    const int kvh = h / (n_heads / n_kv_heads);
    for (int d = lane; d < hd; d += 32) qs[w][d] = q[(size_t)t * q_dim + h * hd + d] * scale;
    __syncwarp();
    const int s = slot[t], len = pos[t] + 1, ps = pre_slot[s], pl = pre_len[s];
    const __half *k_own = kc + (size_t)s * max_seq * kv_dim + kvh * hd;
    const __half *v_own = vc + (size_t)s * max_seq * kv_dim + kvh * hd;
    const __half *k_pre = kc + (size_t)ps * max_seq * kv_dim + kvh * hd;
    const __half *v_pre = vc + (size_t)ps * max_seq * kv_dim + kvh * hd;
    float m = -INFINITY, l = 0.0f, acc[KV_MAX_HEAD_DIM / 32];
    #pragma unroll
    for (int i = 0; i < KV_MAX_HEAD_DIM / 32; i++) acc[i] = 0.0f;
    for (int k0 = 0; k0 < len; k0 += 32) {
        const int key = k0 + lane;
        float sc = -INFINITY;
        if (key < len) {
            const __half2 *kr = (const __half2 *)((key < pl ? k_pre : k_own) +
                                                  (size_t)key * kv_dim);
            float dot = 0.0f;
            for (int d = 0; d < hd / 2; d++) {
                float2 kf = __half22float2(kr[d]);
                dot += qs[w][2 * d] * kf.x + qs[w][2 * d + 1] * kf.y;
            }
            sc = dot;
        }
        const float m_new = fmaxf(m, warp_max(sc));   /* finite: key k0 < len exists */
        const float corr = expf(m - m_new);
        const float p = key < len ? expf(sc - m_new) : 0.0f;
        l = l * corr + warp_sum(p);
        #pragma unroll
        for (int i = 0; i < KV_MAX_HEAD_DIM / 32; i++) acc[i] *= corr;
        const int nk = len - k0 < 32 ? len - k0 : 32;
        for (int j = 0; j < nk; j++) {
            const float pj = __shfl_sync(FULL_MASK, p, j);
            const int kj = k0 + j;
            const __half *vr = (kj < pl ? v_pre : v_own) + (size_t)kj * kv_dim;
            #pragma unroll
            for (int i = 0; i < KV_MAX_HEAD_DIM / 32; i++) {
                const int d = lane + 32 * i;
                if (d < hd) acc[i] += pj * __half2float(vr[d]);
            }
        }
        m = m_new;
    }
    float *o = out + (size_t)t * q_dim + h * hd;
    #pragma unroll
    for (int i = 0; i < KV_MAX_HEAD_DIM / 32; i++) {
        const int d = lane + 32 * i;
        if (d < hd) o[d] = acc[i] / l;
    }
}

void k_attention(const float *q, const __half *kc, const __half *vc, const int32_t *slot,
                 const int32_t *pos, const int32_t *pre_slot, const int32_t *pre_len, int T,
                 int n_heads, int n_kv_heads, int head_dim, int max_seq, float *out,
                 cudaStream_t st)
{
    int64_t items = (int64_t)T * n_heads;
    if (items <= 0) return;
    float scale = 1.0f / sqrtf((float)head_dim);
    attention_kernel<<<blocks_for(items, ATT_WARPS), ATT_WARPS * 32, 0, st>>>(
        q, kc, vc, slot, pos, pre_slot, pre_len, T, n_heads, n_kv_heads, head_dim, max_seq,
        scale, out);
}

/* ---- log-softmax over the vocabulary --------------------------------------------------- */

#define LSM_THREADS 256

__global__ void log_softmax_kernel(const float *logits, int n_vocab, const int32_t *target,
                                   float *lp, int32_t *am)
{
    __shared__ float s_val[32];
    __shared__ int s_idx[32];
    __shared__ float scratch[32];
    const int row = blockIdx.x, lane = threadIdx.x & 31, warp = threadIdx.x / 32;
    const int nw = blockDim.x / 32;
    const float *x = logits + (size_t)row * n_vocab;
    float best = -INFINITY;
    int bi = n_vocab;                              /* larger than any index: loses ties */
    for (int i = threadIdx.x; i < n_vocab; i += blockDim.x)
        if (x[i] > best) { best = x[i]; bi = i; }  /* i grows: first index kept on ties */
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(FULL_MASK, best, o);
        int oi = __shfl_xor_sync(FULL_MASK, bi, o);
        if (ov > best || (ov == best && oi < bi)) { best = ov; bi = oi; }
    }
    if (lane == 0) { s_val[warp] = best; s_idx[warp] = bi; }
    __syncthreads();
    best = lane < nw ? s_val[lane] : -INFINITY;
    bi = lane < nw ? s_idx[lane] : n_vocab;
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(FULL_MASK, best, o);
        int oi = __shfl_xor_sync(FULL_MASK, bi, o);
        if (ov > best || (ov == best && oi < bi)) { best = ov; bi = oi; }
    }
    float sum = 0.0f;
    for (int i = threadIdx.x; i < n_vocab; i += blockDim.x) sum += expf(x[i] - best);
    sum = block_sum(sum, scratch);
    if (threadIdx.x == 0) {
        const int tg = target ? target[row] : -1;
        lp[row] = tg >= 0 ? x[tg] - best - logf(sum) : 0.0f;
        am[row] = bi;
    }
}

void k_log_softmax(const float *logits, int n_vocab, int n_rows, const int32_t *target,
                   float *lp, int32_t *am, cudaStream_t st)
{
    if (n_rows > 0)
        log_softmax_kernel<<<n_rows, LSM_THREADS, 0, st>>>(logits, n_vocab, target, lp, am);
}
