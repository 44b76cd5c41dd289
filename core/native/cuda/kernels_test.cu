/* kernels_test.cu — the single-kernel entry points of cuda_kernels.h. */
#include "native/cuda/cuda_kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.cuh"

/* Device buffers of one call, freed together. */
typedef struct kt_ctx {
    void *p[16];
    int n;
    char *err;
    size_t errlen;
} kt_ctx;

#define KT_CHECK(ctx, expr)                                                                \
    do {                                                                                   \
        cudaError_t e_ = (expr);                                                           \
        if (e_ != cudaSuccess) {                                                           \
            snprintf((ctx)->err, (ctx)->errlen, "CUDA call failed at %s:%d: %s: %s",        \
                     __FILE__, __LINE__, #expr, cudaGetErrorString(e_));                    \
            return -1;                                                                     \
        }                                                                                  \
    } while (0)

static int kt_done(kt_ctx *c, int rc)
{
    for (int i = 0; i < c->n; i++) cudaFree(c->p[i]);
    return rc;
}

/* A device copy of bytes at host (or zeroed space when host is NULL). */
static int kt_upload(kt_ctx *c, void **dev, const void *host, size_t bytes)
{
    KT_CHECK(c, cudaMalloc(dev, bytes ? bytes : 1));
    c->p[c->n++] = *dev;
    if (host) KT_CHECK(c, cudaMemcpy(*dev, host, bytes, cudaMemcpyHostToDevice));
    else KT_CHECK(c, cudaMemset(*dev, 0, bytes ? bytes : 1));
    return 0;
}

static int kt_finish(kt_ctx *c, void *host, const void *dev, size_t bytes)
{
    KT_CHECK(c, cudaGetLastError());
    KT_CHECK(c, cudaDeviceSynchronize());
    if (host) KT_CHECK(c, cudaMemcpy(host, dev, bytes, cudaMemcpyDeviceToHost));
    return 0;
}

static int kt_tensor(kt_ctx *c, const gguf_tensor *w, dev_tensor *d)
{
    void *data;
    if (kt_upload(c, &data, w->data, w->nbytes) < 0) return -1;
    d->type = (int)w->type;
    d->n = w->ne[0];
    d->rows = w->ne[1];
    d->row_bytes = gguf_row_bytes(w->type, w->ne[0]);
    d->data = (const uint8_t *)data;
    return 0;
}

extern "C" int cuda_kt_get_rows(const gguf_tensor *w, const int32_t *ids, int n_ids, float *y,
                                char *err, size_t errlen)
{
    kt_ctx c = {{0}, 0, err, errlen};
    dev_tensor d;
    void *dids, *dy;
    size_t ybytes = (size_t)n_ids * w->ne[0] * 4;
    if (kt_tensor(&c, w, &d) < 0 || kt_upload(&c, &dids, ids, (size_t)n_ids * 4) < 0 ||
        kt_upload(&c, &dy, NULL, ybytes) < 0)
        return kt_done(&c, -1);
    k_get_rows(d, (const int32_t *)dids, n_ids, (float *)dy, 0);
    return kt_done(&c, kt_finish(&c, y, dy, ybytes));
}

extern "C" int cuda_kt_dequant_f16(const gguf_tensor *w, float *y, char *err, size_t errlen)
{
    kt_ctx c = {{0}, 0, err, errlen};
    dev_tensor d;
    void *dh;
    size_t count = (size_t)w->ne[0] * w->ne[1];
    if (kt_tensor(&c, w, &d) < 0 || kt_upload(&c, &dh, NULL, count * 2) < 0)
        return kt_done(&c, -1);
    k_dequant_f16(d, (__half *)dh, 0);
    __half *h = (__half *)malloc(count * sizeof(__half));
    int rc = kt_finish(&c, h, dh, count * 2);
    for (size_t i = 0; rc == 0 && i < count; i++) y[i] = __half2float(h[i]);
    free(h);
    return kt_done(&c, rc);
}

extern "C" int cuda_kt_matvec(const gguf_tensor *w, const float *x, int ncols, float *y,
                              char *err, size_t errlen)
{
    kt_ctx c = {{0}, 0, err, errlen};
    dev_tensor d;
    void *dx, *dy;
    size_t ybytes = (size_t)ncols * w->ne[1] * 4;
    if (kt_tensor(&c, w, &d) < 0 ||
        kt_upload(&c, &dx, x, (size_t)ncols * w->ne[0] * 4) < 0 ||
        kt_upload(&c, &dy, NULL, ybytes) < 0)
        return kt_done(&c, -1);
    k_matvec(d, (const float *)dx, ncols, (float *)dy, 0, NULL, 0);
    int rc = kt_finish(&c, y, dy, ybytes);
    /* the multi-matrix launch (Q/K/V) must give the same numbers for each of its jobs */
    void *dy2, *dy3;
    if (rc < 0 || kt_upload(&c, &dy2, NULL, ybytes) < 0 || kt_upload(&c, &dy3, NULL, ybytes) < 0)
        return kt_done(&c, -1);
    mv_jobs jobs = {2, {d, d, d}, {(float *)dy2, (float *)dy3, NULL}, {NULL, NULL, NULL}};
    k_matvec_jobs(jobs, (const float *)dx, ncols, 0);
    float *y2 = (float *)malloc(ybytes), *y3 = (float *)malloc(ybytes);
    rc = kt_finish(&c, y2, dy2, ybytes);
    if (rc == 0) rc = kt_finish(&c, y3, dy3, ybytes);
    if (rc == 0 && (memcmp(y, y2, ybytes) != 0 || memcmp(y, y3, ybytes) != 0)) {
        snprintf(err, errlen, "k_matvec_jobs differs from k_matvec");
        rc = -1;
    }
    free(y2);
    free(y3);
    return kt_done(&c, rc);
}

extern "C" int cuda_kt_rmsnorm(const float *x, const float *weight, int n, int rows, float eps,
                               float *y, char *err, size_t errlen)
{
    kt_ctx c = {{0}, 0, err, errlen};
    void *dx, *dw, *dy;
    size_t bytes = (size_t)n * rows * 4;
    if (kt_upload(&c, &dx, x, bytes) < 0 || kt_upload(&c, &dw, weight, (size_t)n * 4) < 0 ||
        kt_upload(&c, &dy, NULL, bytes) < 0)
        return kt_done(&c, -1);
    k_rmsnorm((const float *)dx, NULL, (const float *)dw, (float *)dy, n, rows, eps, 0);
    return kt_done(&c, kt_finish(&c, y, dy, bytes));
}

extern "C" int cuda_kt_rope(float *x, int T, int n_heads, int head_dim, int rope_dim,
                            const double *inv_freq, const int32_t *pos, float scale, int neox,
                            char *err, size_t errlen)
{
    kt_ctx c = {{0}, 0, err, errlen};
    void *dx, *df, *dp;
    size_t bytes = (size_t)T * n_heads * head_dim * 4;
    if (kt_upload(&c, &dx, x, bytes) < 0 ||
        kt_upload(&c, &df, inv_freq, (size_t)(rope_dim / 2) * sizeof(double)) < 0 ||
        kt_upload(&c, &dp, pos, (size_t)T * 4) < 0)
        return kt_done(&c, -1);
    k_rope((float *)dx, T, n_heads, head_dim, rope_dim, (const double *)df,
           (const int32_t *)dp, scale, neox, 0);
    return kt_done(&c, kt_finish(&c, x, dx, bytes));
}

extern "C" int cuda_kt_attention(const float *q, int T, const int32_t *pos, const float *k,
                                 const float *v, int len, int n_heads, int n_kv_heads,
                                 int head_dim, float *out, char *err, size_t errlen)
{
    kt_ctx c = {{0}, 0, err, errlen};
    const int kv_dim = n_kv_heads * head_dim;
    const size_t qbytes = (size_t)T * n_heads * head_dim * 4, kv = (size_t)len * kv_dim;
    void *dq, *dk, *dv, *dkc, *dvc, *dslot, *dpos, *dps, *dpl, *dout;
    int32_t zero = 0;
    const int n_slot_ids = len > T ? len : T;
    int32_t *seq_pos = (int32_t *)malloc((size_t)len * 4);
    int32_t *slots = (int32_t *)calloc((size_t)n_slot_ids, 4);
    for (int i = 0; i < len; i++) seq_pos[i] = i;
    int rc = kt_upload(&c, &dq, q, qbytes) < 0 || kt_upload(&c, &dk, k, kv * 4) < 0 ||
             kt_upload(&c, &dv, v, kv * 4) < 0 || kt_upload(&c, &dkc, NULL, kv * 2) < 0 ||
             kt_upload(&c, &dvc, NULL, kv * 2) < 0 ||
             kt_upload(&c, &dslot, slots, (size_t)n_slot_ids * 4) < 0 ||
             kt_upload(&c, &dpos, seq_pos, (size_t)len * 4) < 0 ||
             kt_upload(&c, &dps, &zero, 4) < 0 || kt_upload(&c, &dpl, &zero, 4) < 0 ||
             kt_upload(&c, &dout, NULL, qbytes) < 0 ? -1 : 0;
    free(seq_pos);
    free(slots);
    if (rc < 0) return kt_done(&c, -1);
    /* the cache of slot 0 written by the same kernel the forward pass uses */
    k_store_kv((const float *)dk, (const float *)dv, (__half *)dkc, (__half *)dvc,
               (const int32_t *)dslot, (const int32_t *)dpos, len, kv_dim, len, 0);
    if (kt_upload(&c, &dpos, pos, (size_t)T * 4) < 0) return kt_done(&c, -1);
    k_attention((const float *)dq, (const __half *)dkc, (const __half *)dvc,
                (const int32_t *)dslot, (const int32_t *)dpos, (const int32_t *)dps,
                (const int32_t *)dpl, T, n_heads, n_kv_heads, head_dim, len, (float *)dout, 0);
    return kt_done(&c, kt_finish(&c, out, dout, qbytes));
}

extern "C" int cuda_kt_log_softmax(const float *logits, int n_vocab, int rows,
                                   const int32_t *target, float *lp, int32_t *am, char *err,
                                   size_t errlen)
{
    kt_ctx c = {{0}, 0, err, errlen};
    void *dl, *dt, *dlp, *dam;
    if (kt_upload(&c, &dl, logits, (size_t)rows * n_vocab * 4) < 0 ||
        kt_upload(&c, &dt, target, (size_t)rows * 4) < 0 ||
        kt_upload(&c, &dlp, NULL, (size_t)rows * 4) < 0 ||
        kt_upload(&c, &dam, NULL, (size_t)rows * 4) < 0)
        return kt_done(&c, -1);
    k_log_softmax((const float *)dl, n_vocab, rows, (const int32_t *)dt, (float *)dlp,
                  (int32_t *)dam, 0);
    int rc = kt_finish(&c, lp, dlp, (size_t)rows * 4);
    if (rc == 0) rc = kt_finish(&c, am, dam, (size_t)rows * 4);
    return kt_done(&c, rc);
}
