/* cuda_forward.cu — the CUDA forward pass: weights, KV cache and scratch in device memory,
 * one ragged batch of tokens per pass (see cuda_forward.h). Mirrors cpu/forward.c step by
 * step; the kernels are in kernels.cu. */
#include "native/cuda/cuda_forward.h"

#include <cublas_v2.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.cuh"

/* Passes of up to this many tokens use the quantized matrix-vector kernels (and graphs). */
#define MV_MAX_T 32
/* Rows of logits computed at once for the LM head. */
#define LM_CHUNK 512
/* Most slots a state allocates by default. */
#define DEFAULT_MAX_SLOTS 128
#define BLAS_WORKSPACE (32u << 20)
/* Tokens per pass by default, and at most (grid limits, scratch size). */
#define DEFAULT_MAX_TOKENS 2048
#define MAX_TOKENS_CAP 16384

/* Record the failing call in s->err and return -1 from the enclosing function. */
#define CUDA_CHECK(s, expr)                                                                \
    do {                                                                                   \
        cudaError_t e_ = (expr);                                                           \
        if (e_ != cudaSuccess)                                                             \
            return fail((s), #expr, __FILE__, __LINE__, cudaGetErrorString(e_));           \
    } while (0)
#define CUBLAS_CHECK(s, expr)                                                              \
    do {                                                                                   \
        cublasStatus_t e_ = (expr);                                                        \
        if (e_ != CUBLAS_STATUS_SUCCESS)                                                   \
            return fail((s), #expr, __FILE__, __LINE__, (s)->blas_api.status_string(e_));  \
    } while (0)

/* cuBLAS, opened with dlopen when a state is created instead of linked: libcublasLt's static
   initialisers cost ~0.2 s of page faults at every process start, which every evallua command
   would pay, GPU or not. The handle is never closed (closing CUDA libraries while the runtime
   lives is not safe); dlopen counts references, so each state's open is cheap. */
typedef struct cublas_api {
    decltype(&cublasCreate_v2) create;
    decltype(&cublasDestroy_v2) destroy;
    decltype(&cublasSetStream_v2) set_stream;
    decltype(&cublasSetWorkspace_v2) set_workspace;
    cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int,
                              int, const void *, const void *, cudaDataType, int, const void *,
                              cudaDataType, int, const void *, void *, cudaDataType, int,
                              cublasComputeType_t, cublasGemmAlgo_t); /* C++ overloads it */
    decltype(&cublasGetStatusString) status_string;
} cublas_api;

typedef struct dev_layer {
    dev_tensor wq, wk, wv, wo, w_gate, w_up, w_down;
    const float *attn_norm, *ffn_norm, *bq, *bk, *bv;     /* bq/bk/bv NULL when absent */
} dev_layer;

/* Device pointers of one pass's inputs, packed in s->d_in by pack_inputs. */
typedef struct pass_io {
    const int32_t *tokens, *slots, *pos, *out_rows, *targets, *pre_slot, *pre_len;
} pass_io;

struct cuda_state {
    const model *m;
    model_config c;
    int device, max_seq, n_slots, max_tokens;
    int fp32_gemm;                     /* cuda_options.fp32_gemm */
    char name[320];
    char err[512];
    cudaStream_t stream;
    cublas_api blas_api;               /* the cuBLAS functions, from load_cublas */
    cublasHandle_t blas;
    void *blas_ws;
    size_t bytes;                      /* device memory held */
    uint8_t *weights;                  /* every tensor, 256-byte aligned */
    dev_tensor tok_embd, output;
    const float *output_norm;
    dev_layer *layers;
    double *inv_freq;                  /* (rope_dim / 2) */
    __half *kc, *vc;                   /* (n_layers, n_slots, max_seq, kv_dim) */
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2;   /* (max_tokens, width) activations */
    float *logits;                     /* (LM_CHUNK, n_vocab) */
    __half *xh;                        /* FP16 activations */
    void *wh;                          /* one dequantized weight, FP16 (or FP32) */
    int32_t *d_in, *h_in;              /* packed pass inputs (5 * max_tokens + 2 * n_slots) */
    float *d_lp, *h_lp;                /* (max_tokens) log-probabilities */
    int32_t *d_am, *h_am;              /* (max_tokens) argmaxes */
    float *h_logits;                   /* (CUDA_HOST_LOGITS_MAX, n_vocab) pinned */
    int32_t *pre_slot, *pre_len;       /* (n_slots) prefix redirections, host side */
    cudaGraphExec_t graph[MV_MAX_T + 1];   /* pass of T tokens, all scored */
};

static int fail(cuda_state *s, const char *expr, const char *file, int line, const char *why)
{
    snprintf(s->err, sizeof s->err, "CUDA call failed at %s:%d: %s: %s", file, line, expr,
             why);
    return -1;
}

static int failf(cuda_state *s, const char *msg)
{
    snprintf(s->err, sizeof s->err, "%s", msg);
    return -1;
}

/* ---- device discovery ---------------------------------------------------------------- */

extern "C" int cuda_device_check(char *err, size_t errlen)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        snprintf(err, errlen, "device=cuda: no usable GPU: cudaGetDeviceCount returned %d (%s: "
                 "%s)", (int)e, cudaGetErrorName(e), cudaGetErrorString(e));
        return -1;
    }
    if (n == 0) {
        snprintf(err, errlen, "device=cuda: no GPU: cudaGetDeviceCount found 0 devices");
        return -1;
    }
    return 0;
}

/* ---- allocation and upload ----------------------------------------------------------- */

static int dev_alloc(cuda_state *s, void **p, size_t bytes, const char *what)
{
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        size_t free_b = 0, total = 0;
        cudaGetLastError();
        cudaMemGetInfo(&free_b, &total);
        snprintf(s->err, sizeof s->err, "out of GPU memory: %s needs %.1f MiB, %.1f MiB of "
                 "%.1f MiB free (%s)", what, bytes / 1048576.0, free_b / 1048576.0,
                 total / 1048576.0, cudaGetErrorString(e));
        return -1;
    }
    s->bytes += bytes;
    return 0;
}

static size_t align256(size_t n)
{
    return (n + 255) & ~(size_t)255;
}

/* Every tensor the forward pass reads, in a fixed order (output may be tok_embd). */
static int list_tensors(const model *m, const gguf_tensor **out)
{
    int k = 0;
    out[k++] = m->tok_embd;
    out[k++] = m->output_norm;
    if (m->output != m->tok_embd) out[k++] = m->output;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const layer_weights *w = &m->layers[l];
        const gguf_tensor *t[12] = {w->attn_norm, w->wq, w->wk, w->wv, w->bq, w->bk,
                                    w->bv, w->wo, w->ffn_norm, w->w_gate, w->w_up, w->w_down};
        for (int i = 0; i < 12; i++)
            if (t[i]) out[k++] = t[i];
    }
    return k;
}

/* Device address of tensor t once uploaded (offsets as upload_weights lays them out). */
typedef struct upload_map {
    const gguf_tensor **t;
    size_t *off;
    int n;
} upload_map;

static const uint8_t *dev_addr(const cuda_state *s, const upload_map *u, const gguf_tensor *t)
{
    if (!t) return NULL;
    for (int i = 0; i < u->n; i++)
        if (u->t[i] == t) return s->weights + u->off[i];
    return NULL;
}

static dev_tensor dev_of(const cuda_state *s, const upload_map *u, const gguf_tensor *t)
{
    dev_tensor d;
    d.type = (int)t->type;
    d.n = t->ne[0];
    d.rows = t->ne[1];
    d.row_bytes = gguf_row_bytes(t->type, t->ne[0]);
    d.data = dev_addr(s, u, t);
    return d;
}

static int upload_weights(cuda_state *s)
{
    const model *m = s->m;
    int cap = 3 + 12 * m->cfg.n_layers;
    upload_map u;
    u.t = (const gguf_tensor **)calloc((size_t)cap, sizeof *u.t);
    u.off = (size_t *)calloc((size_t)cap, sizeof *u.off);
    u.n = list_tensors(m, u.t);
    size_t total = 0;
    for (int i = 0; i < u.n; i++) {
        u.off[i] = total;
        total += align256(u.t[i]->nbytes);
    }
    int rc = dev_alloc(s, (void **)&s->weights, total, "the model's weights");
    for (int i = 0; rc == 0 && i < u.n; i++) {
        cudaError_t e = cudaMemcpy(s->weights + u.off[i], u.t[i]->data, u.t[i]->nbytes,
                                   cudaMemcpyHostToDevice);
        if (e != cudaSuccess) rc = fail(s, "cudaMemcpy(weights)", __FILE__, __LINE__,
                                        cudaGetErrorString(e));
    }
    if (rc == 0) {
        s->tok_embd = dev_of(s, &u, m->tok_embd);
        s->output = dev_of(s, &u, m->output);
        s->output_norm = (const float *)dev_addr(s, &u, m->output_norm);
        for (int l = 0; l < m->cfg.n_layers; l++) {
            const layer_weights *w = &m->layers[l];
            dev_layer *d = &s->layers[l];
            d->wq = dev_of(s, &u, w->wq);
            d->wk = dev_of(s, &u, w->wk);
            d->wv = dev_of(s, &u, w->wv);
            d->wo = dev_of(s, &u, w->wo);
            d->w_gate = dev_of(s, &u, w->w_gate);
            d->w_up = dev_of(s, &u, w->w_up);
            d->w_down = dev_of(s, &u, w->w_down);
            d->attn_norm = (const float *)dev_addr(s, &u, w->attn_norm);
            d->ffn_norm = (const float *)dev_addr(s, &u, w->ffn_norm);
            d->bq = (const float *)dev_addr(s, &u, w->bq);
            d->bk = (const float *)dev_addr(s, &u, w->bk);
            d->bv = (const float *)dev_addr(s, &u, w->bv);
        }
    }
    free(u.t);
    free(u.off);
    return rc;
}

static int upload_rope(cuda_state *s)
{
    const model_config *c = &s->c;
    const int half = c->rope_dim / 2;
    double *f = (double *)calloc((size_t)half + 1, sizeof *f);
    const float *factors = s->m->rope_freqs ? (const float *)s->m->rope_freqs->data : NULL;
    for (int i = 0; i < half; i++) {                 /* as cpu/forward.c's init_rope */
        f[i] = pow((double)c->rope_base, -2.0 * i / c->rope_dim);
        if (factors) f[i] /= factors[i];
    }
    int rc = dev_alloc(s, (void **)&s->inv_freq, ((size_t)half + 1) * sizeof(double),
                       "RoPE frequencies");
    if (rc == 0) {
        cudaError_t e = cudaMemcpy(s->inv_freq, f, (size_t)half * sizeof(double),
                                   cudaMemcpyHostToDevice);
        if (e != cudaSuccess) rc = fail(s, "cudaMemcpy(inv_freq)", __FILE__, __LINE__,
                                        cudaGetErrorString(e));
    }
    free(f);
    return rc;
}

/* Largest rows * n and n over every matrix (FP16 scratch sizes). */
static void matrix_extents(const cuda_state *s, size_t *max_elems, size_t *max_n)
{
    const dev_tensor *all[2] = {&s->output, &s->tok_embd};
    *max_elems = 0;
    *max_n = 0;
    for (int i = 0; i < 2; i++) {
        size_t e = (size_t)all[i]->rows * (size_t)all[i]->n;
        if (e > *max_elems) *max_elems = e;
        if ((size_t)all[i]->n > *max_n) *max_n = (size_t)all[i]->n;
    }
    for (int l = 0; l < s->c.n_layers; l++) {
        const dev_layer *d = &s->layers[l];
        const dev_tensor *w[7] = {&d->wq, &d->wk, &d->wv, &d->wo, &d->w_gate, &d->w_up,
                                  &d->w_down};
        for (int i = 0; i < 7; i++) {
            size_t e = (size_t)w[i]->rows * (size_t)w[i]->n;
            if (e > *max_elems) *max_elems = e;
            if ((size_t)w[i]->n > *max_n) *max_n = (size_t)w[i]->n;
        }
    }
}

static int alloc_scratch(cuda_state *s)
{
    const model_config *c = &s->c;
    const size_t T = (size_t)s->max_tokens, q_dim = (size_t)c->n_heads * c->head_dim;
    const size_t kv_dim = (size_t)c->n_kv_heads * c->head_dim;
    size_t max_elems, max_n;
    matrix_extents(s, &max_elems, &max_n);
    const size_t n_in = 5 * T + 2 * (size_t)s->n_slots;
    if (dev_alloc(s, (void **)&s->x, T * c->dim * 4, "activations") < 0 ||
        dev_alloc(s, (void **)&s->xb, T * c->dim * 4, "activations") < 0 ||
        dev_alloc(s, (void **)&s->q, T * q_dim * 4, "activations") < 0 ||
        dev_alloc(s, (void **)&s->att, T * q_dim * 4, "activations") < 0 ||
        dev_alloc(s, (void **)&s->k, T * kv_dim * 4, "activations") < 0 ||
        dev_alloc(s, (void **)&s->v, T * kv_dim * 4, "activations") < 0 ||
        dev_alloc(s, (void **)&s->hb, T * c->ffn_dim * 4, "activations") < 0 ||
        dev_alloc(s, (void **)&s->hb2, T * c->ffn_dim * 4, "activations") < 0 ||
        dev_alloc(s, (void **)&s->logits, (size_t)LM_CHUNK * c->n_vocab * 4, "logits") < 0 ||
        dev_alloc(s, (void **)&s->xh, T * max_n * 2, "FP16 activations") < 0 ||
        dev_alloc(s, &s->wh, max_elems * (s->fp32_gemm ? 4 : 2), "a dequantized weight") < 0 ||
        dev_alloc(s, (void **)&s->d_in, n_in * 4, "pass inputs") < 0 ||
        dev_alloc(s, (void **)&s->d_lp, T * 4, "log-probabilities") < 0 ||
        dev_alloc(s, (void **)&s->d_am, T * 4, "argmaxes") < 0 ||
        dev_alloc(s, &s->blas_ws, BLAS_WORKSPACE, "the cuBLAS workspace") < 0)
        return -1;
    CUDA_CHECK(s, cudaMallocHost((void **)&s->h_in, n_in * 4));
    CUDA_CHECK(s, cudaMallocHost((void **)&s->h_lp, T * 4));
    CUDA_CHECK(s, cudaMallocHost((void **)&s->h_am, T * 4));
    CUDA_CHECK(s, cudaMallocHost((void **)&s->h_logits,
                                 (size_t)CUDA_HOST_LOGITS_MAX * c->n_vocab * 4));
    return 0;
}

/* The KV cache: the requested slots, or as many as fit in 90% of free memory (at most
   DEFAULT_MAX_SLOTS). */
static int alloc_cache(cuda_state *s, int want)
{
    const model_config *c = &s->c;
    const size_t per_slot = (size_t)c->n_layers * s->max_seq * c->n_kv_heads * c->head_dim * 2;
    if (want <= 0) {
        size_t free_b = 0, total = 0;
        CUDA_CHECK(s, cudaMemGetInfo(&free_b, &total));
        size_t fit = (size_t)(free_b * 0.9) / (2 * per_slot);
        want = fit > DEFAULT_MAX_SLOTS ? DEFAULT_MAX_SLOTS : (int)fit;
        if (want < 1) {
            snprintf(s->err, sizeof s->err, "out of GPU memory: one sequence of %d positions "
                     "needs a %.1f MiB KV cache, %.1f MiB are free", s->max_seq,
                     2 * per_slot / 1048576.0, free_b / 1048576.0);
            return -1;
        }
    }
    s->n_slots = want;
    if (dev_alloc(s, (void **)&s->kc, per_slot * want, "the KV cache (keys)") < 0 ||
        dev_alloc(s, (void **)&s->vc, per_slot * want, "the KV cache (values)") < 0)
        return -1;
    s->pre_slot = (int32_t *)calloc((size_t)want, sizeof(int32_t));
    s->pre_len = (int32_t *)calloc((size_t)want, sizeof(int32_t));
    for (int i = 0; i < want; i++) s->pre_slot[i] = i;
    return 0;
}

static int check_shape(cuda_state *s)
{
    const model_config *c = &s->c;
    if (c->head_dim > KV_MAX_HEAD_DIM || c->head_dim % 2) {
        snprintf(s->err, sizeof s->err, "%s: head size %d is not supported on CUDA (even, at "
                 "most %d)", s->m->file->path, c->head_dim, KV_MAX_HEAD_DIM);
        return -1;
    }
    return 0;
}

#define CUBLAS_SONAME_(major) "libcublas.so." #major
#define CUBLAS_SONAME(major) CUBLAS_SONAME_(major)

/* Open cuBLAS (the toolkit's copy found at build time first, then the loader's search path)
   and resolve the functions used; 0, or -1 with s->err naming what is missing. */
static int load_cublas(cuda_state *s)
{
    const char *names[] = {EVALLUA_CUBLAS_DIR "/" CUBLAS_SONAME(CUBLAS_VER_MAJOR),
                           CUBLAS_SONAME(CUBLAS_VER_MAJOR)};
    void *lib = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !lib; i++)
        lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(s->err, sizeof s->err, "device=cuda: cannot load cuBLAS (%s): %s",
                 CUBLAS_SONAME(CUBLAS_VER_MAJOR), dlerror());
        return -1;
    }
    struct { void **fn; const char *name; } syms[] = {
        {(void **)&s->blas_api.create, "cublasCreate_v2"},
        {(void **)&s->blas_api.destroy, "cublasDestroy_v2"},
        {(void **)&s->blas_api.set_stream, "cublasSetStream_v2"},
        {(void **)&s->blas_api.set_workspace, "cublasSetWorkspace_v2"},
        {(void **)&s->blas_api.gemm_ex, "cublasGemmEx"},
        {(void **)&s->blas_api.status_string, "cublasGetStatusString"},
    };
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        if (!(*syms[i].fn = dlsym(lib, syms[i].name))) {
            snprintf(s->err, sizeof s->err, "device=cuda: %s lacks %s",
                     CUBLAS_SONAME(CUBLAS_VER_MAJOR), syms[i].name);
            return -1;
        }
    }
    return 0;
}

static int init_device(cuda_state *s)
{
    cudaDeviceProp p;
    CUDA_CHECK(s, cudaSetDevice(s->device));
    CUDA_CHECK(s, cudaGetDeviceProperties(&p, s->device));
    snprintf(s->name, sizeof s->name, "%s (%.0f GiB, sm_%d%d)", p.name,
             p.totalGlobalMem / 1073741824.0, p.major, p.minor);
    CUDA_CHECK(s, cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
    if (load_cublas(s) < 0) return -1;
    CUBLAS_CHECK(s, s->blas_api.create(&s->blas));
    CUBLAS_CHECK(s, s->blas_api.set_stream(s->blas, s->stream));
    return 0;
}

extern "C" cuda_state *cuda_state_new(const model *m, const cuda_options *opt, char *err,
                                      size_t errlen)
{
    cuda_state *s = (cuda_state *)calloc(1, sizeof *s);
    s->m = m;
    s->c = m->cfg;
    s->device = opt->device;
    s->fp32_gemm = opt->fp32_gemm;
    s->max_seq = opt->max_seq > 0 ? opt->max_seq : 1;
    s->max_tokens = opt->max_tokens > 0 ? opt->max_tokens : DEFAULT_MAX_TOKENS;
    if (s->max_tokens > MAX_TOKENS_CAP) s->max_tokens = MAX_TOKENS_CAP;
    s->layers = (dev_layer *)calloc((size_t)m->cfg.n_layers, sizeof(dev_layer));
    if (check_shape(s) < 0 || init_device(s) < 0 || upload_weights(s) < 0 ||
        upload_rope(s) < 0)
        goto fail;
    /* scratch first (it depends on n_slots only through the inputs: bound it by the max) */
    s->n_slots = opt->n_slots > 0 ? opt->n_slots : DEFAULT_MAX_SLOTS;
    if (alloc_scratch(s) < 0 || alloc_cache(s, opt->n_slots) < 0) goto fail;
    if (s->blas_api.set_workspace(s->blas, s->blas_ws, BLAS_WORKSPACE) !=
        CUBLAS_STATUS_SUCCESS) {
        failf(s, "cublasSetWorkspace failed");
        goto fail;
    }
    return s;
fail:
    snprintf(err, errlen, "%s", s->err);
    cuda_state_free(s);
    return NULL;
}

extern "C" void cuda_state_free(cuda_state *s)
{
    if (!s) return;
    for (int i = 0; i <= MV_MAX_T; i++)
        if (s->graph[i]) cudaGraphExecDestroy(s->graph[i]);
    void *dev[] = {s->weights, s->inv_freq, s->kc, s->vc, s->x, s->xb, s->q, s->k, s->v,
                   s->att, s->hb, s->hb2, s->logits, s->xh, s->wh, s->d_in, s->d_lp,
                   s->d_am, s->blas_ws};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (dev[i]) cudaFree(dev[i]);
    void *host[] = {s->h_in, s->h_lp, s->h_am, s->h_logits};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
        if (host[i]) cudaFreeHost(host[i]);
    if (s->blas) s->blas_api.destroy(s->blas);
    if (s->stream) cudaStreamDestroy(s->stream);
    free(s->pre_slot);
    free(s->pre_len);
    free(s->layers);
    free(s);
}

extern "C" size_t cuda_state_bytes(const cuda_state *s) { return s->bytes; }
extern "C" int cuda_state_slots(const cuda_state *s) { return s->n_slots; }
extern "C" int cuda_state_max_seq(const cuda_state *s) { return s->max_seq; }
extern "C" int cuda_state_max_tokens(const cuda_state *s) { return s->max_tokens; }
extern "C" const char *cuda_state_device_name(const cuda_state *s) { return s->name; }
extern "C" const char *cuda_state_error(const cuda_state *s) { return s->err; }

extern "C" int cuda_set_prefix(cuda_state *s, int slot, int src, int len)
{
    if (slot < 0 || slot >= s->n_slots || src < 0 || src >= s->n_slots || len < 0 ||
        len > s->max_seq)
        return -1;
    s->pre_slot[slot] = len > 0 ? src : slot;
    s->pre_len[slot] = src == slot ? 0 : len;
    return 0;
}

extern "C" int cuda_copy_prefix(cuda_state *s, int dst, int src, int len)
{
    if (dst < 0 || dst >= s->n_slots || src < 0 || src >= s->n_slots || len < 0 ||
        len > s->max_seq) {
        char msg[160];
        snprintf(msg, sizeof msg, "cuda_copy_prefix: slot %d from slot %d, %d positions: out "
                 "of range (%d slots of %d)", dst, src, len, s->n_slots, s->max_seq);
        return failf(s, msg);
    }
    s->pre_slot[dst] = dst;
    s->pre_len[dst] = 0;
    if (len == 0 || dst == src) return 0;
    const size_t kv_dim = (size_t)s->c.n_kv_heads * s->c.head_dim;
    const size_t slot_elems = (size_t)s->max_seq * kv_dim;
    const size_t layer_elems = (size_t)s->n_slots * slot_elems, bytes = len * kv_dim * 2;
    for (int l = 0; l < s->c.n_layers; l++) {
        const size_t base = (size_t)l * layer_elems;
        CUDA_CHECK(s, cudaMemcpyAsync(s->kc + base + dst * slot_elems,
                                      s->kc + base + src * slot_elems, bytes,
                                      cudaMemcpyDeviceToDevice, s->stream));
        CUDA_CHECK(s, cudaMemcpyAsync(s->vc + base + dst * slot_elems,
                                      s->vc + base + src * slot_elems, bytes,
                                      cudaMemcpyDeviceToDevice, s->stream));
    }
    return 0;
}

/* ---- the pass -------------------------------------------------------------------------- */

/* y (+)= W x for T rows of x: quantized matrix-vector kernels for small T, otherwise W
   dequantized to FP16 and a cuBLAS GEMM with FP32 accumulation. */
static int matmul(cuda_state *s, const dev_tensor &w, const float *x, int T, float *y,
                  int accumulate, const float *bias)
{
    if (T <= MV_MAX_T) {
        k_matvec(w, x, T, y, accumulate, bias, s->stream);
        return 0;
    }
    const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    const void *xin = x;
    cudaDataType_t type = CUDA_R_32F;
    if (s->fp32_gemm) {
        k_dequant_f32(w, (float *)s->wh, s->stream);
    } else {
        k_to_f16(x, s->xh, (int64_t)T * w.n, s->stream);
        k_dequant_f16(w, (__half *)s->wh, s->stream);
        xin = s->xh;
        type = CUDA_R_16F;
    }
    /* column-major view: y^T (rows x T) = W^T (rows x n) * x^T (n x T) */
    CUBLAS_CHECK(s, s->blas_api.gemm_ex(s->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)w.rows, T, (int)w.n,
                                 &alpha, s->wh, type, (int)w.n, xin, type, (int)w.n, &beta, y,
                                 CUDA_R_32F, (int)w.rows, CUBLAS_COMPUTE_32F,
                                 CUBLAS_GEMM_DEFAULT));
    if (bias) k_add_bias(y, bias, (int)w.rows, T, s->stream);
    return 0;
}

/* y_j = W_j x (+ bias_j) for up to three matrices of the same input: one launch for small
   passes, one GEMM each otherwise. */
static int matmul_jobs(cuda_state *s, const mv_jobs &jobs, const float *x, int T)
{
    if (T <= MV_MAX_T) {
        k_matvec_jobs(jobs, x, T, s->stream);
        return 0;
    }
    for (int j = 0; j < jobs.n; j++)
        if (matmul(s, jobs.w[j], x, T, jobs.y[j], 0, jobs.bias[j]) < 0) return -1;
    return 0;
}

/* One transformer block over the pass's n tokens (x updated in place). */
static int layer_forward(cuda_state *s, int l, int n, const pass_io *io)
{
    const model_config *c = &s->c;
    const dev_layer *w = &s->layers[l];
    const int kv_dim = c->n_kv_heads * c->head_dim;
    const size_t layer_cache = (size_t)s->n_slots * s->max_seq * kv_dim;
    __half *kc = s->kc + (size_t)l * layer_cache, *vc = s->vc + (size_t)l * layer_cache;
    cudaStream_t st = s->stream;

    /* attention: x += wo(attn(rope(wq xn), rope(wk xn), wv xn)) with xn = rmsnorm(x) */
    k_rmsnorm(s->x, NULL, w->attn_norm, s->xb, c->dim, n, c->rms_eps, st);
    const mv_jobs qkv = {3, {w->wq, w->wk, w->wv}, {s->q, s->k, s->v}, {w->bq, w->bk, w->bv}};
    if (matmul_jobs(s, qkv, s->xb, n) < 0) return -1;
    k_rope(s->q, n, c->n_heads, c->head_dim, c->rope_dim, s->inv_freq, io->pos, c->rope_scale,
           c->rope_neox, st);
    k_rope(s->k, n, c->n_kv_heads, c->head_dim, c->rope_dim, s->inv_freq, io->pos,
           c->rope_scale, c->rope_neox, st);
    k_store_kv(s->k, s->v, kc, vc, io->slots, io->pos, n, kv_dim, s->max_seq, st);
    k_attention(s->q, kc, vc, io->slots, io->pos, io->pre_slot, io->pre_len, n, c->n_heads,
                c->n_kv_heads, c->head_dim, s->max_seq, s->att, st);
    if (matmul(s, w->wo, s->att, n, s->x, 1, NULL) < 0) return -1;

    /* feed-forward: x += w_down(silu(w_gate xn) * w_up xn) with xn = rmsnorm(x) */
    k_rmsnorm(s->x, NULL, w->ffn_norm, s->xb, c->dim, n, c->rms_eps, st);
    const mv_jobs gate_up = {2, {w->w_gate, w->w_up, w->w_up}, {s->hb, s->hb2, s->hb2},
                             {NULL, NULL, NULL}};
    if (matmul_jobs(s, gate_up, s->xb, n) < 0) return -1;
    k_swiglu(s->hb, s->hb2, (int64_t)n * c->ffn_dim, st);
    if (matmul(s, w->w_down, s->hb, n, s->x, 1, NULL) < 0) return -1;
    CUDA_CHECK(s, cudaGetLastError());
    return 0;
}

/* Every kernel of a pass (no host synchronisation: it can be captured into a graph). */
static int pass_body(cuda_state *s, int n, int n_out, const pass_io *io)
{
    const model_config *c = &s->c;
    k_get_rows(s->tok_embd, io->tokens, n, s->x, s->stream);
    for (int l = 0; l < c->n_layers; l++)
        if (layer_forward(s, l, n, io) < 0) return -1;
    /* the scored rows only: final norm gathered into xb, then the LM head in chunks */
    k_rmsnorm(s->x, io->out_rows, s->output_norm, s->xb, c->dim, n_out, c->rms_eps,
              s->stream);
    for (int r0 = 0; r0 < n_out; r0 += LM_CHUNK) {
        const int rows = n_out - r0 < LM_CHUNK ? n_out - r0 : LM_CHUNK;
        if (matmul(s, s->output, s->xb + (size_t)r0 * c->dim, rows, s->logits, 0, NULL) < 0)
            return -1;
        k_log_softmax(s->logits, c->n_vocab, rows, io->targets + r0, s->d_lp + r0,
                      s->d_am + r0, s->stream);
    }
    CUDA_CHECK(s, cudaGetLastError());
    return 0;
}

/* Check a batch against the state's sizes; -1 with s->err naming the first bad entry. */
static int check_batch(cuda_state *s, const cuda_batch *b)
{
    char msg[256];
    if (b->n < 1 || b->n > s->max_tokens || b->n_out < 0 || b->n_out > b->n)
        snprintf(msg, sizeof msg, "pass of %d tokens with %d scored rows (at most %d tokens)",
                 b->n, b->n_out, s->max_tokens);
    else if (b->logits && b->n_out > CUDA_HOST_LOGITS_MAX)
        snprintf(msg, sizeof msg, "%d rows of logits asked for (at most %d)", b->n_out,
                 CUDA_HOST_LOGITS_MAX);
    else {
        for (int i = 0; i < b->n; i++) {
            if (b->tokens[i] < 0 || b->tokens[i] >= s->c.n_vocab) {
                snprintf(msg, sizeof msg, "token %d (row %d) is outside the vocabulary of %d",
                         b->tokens[i], i, s->c.n_vocab);
                return failf(s, msg);
            }
            if (b->slots[i] < 0 || b->slots[i] >= s->n_slots || b->pos[i] < 0 ||
                b->pos[i] >= s->max_seq) {
                snprintf(msg, sizeof msg, "row %d: slot %d position %d out of range (%d slots "
                         "of %d)", i, b->slots[i], b->pos[i], s->n_slots, s->max_seq);
                return failf(s, msg);
            }
        }
        for (int i = 0; i < b->n_out; i++)
            if (b->out_rows[i] < 0 || b->out_rows[i] >= b->n ||
                (b->targets && (b->targets[i] < -1 || b->targets[i] >= s->c.n_vocab))) {
                snprintf(msg, sizeof msg, "scored row %d: row %d or target %d out of range", i,
                         b->out_rows[i], b->targets ? b->targets[i] : -1);
                return failf(s, msg);
            }
        return 0;
    }
    return failf(s, msg);
}

/* Copy the batch into the pinned input block and start its upload; io gets the device
   addresses (fixed for a given n and n_out, which graphs rely on). */
static int pack_inputs(cuda_state *s, const cuda_batch *b, pass_io *io)
{
    const int n = b->n, no = b->n_out, S = s->n_slots;
    int32_t *h = s->h_in;
    memcpy(h, b->tokens, (size_t)n * 4);
    memcpy(h + n, b->slots, (size_t)n * 4);
    memcpy(h + 2 * n, b->pos, (size_t)n * 4);
    memcpy(h + 3 * n, b->out_rows, (size_t)no * 4);
    for (int i = 0; i < no; i++) h[3 * n + no + i] = b->targets ? b->targets[i] : -1;
    memcpy(h + 3 * n + 2 * no, s->pre_slot, (size_t)S * 4);
    memcpy(h + 3 * n + 2 * no + S, s->pre_len, (size_t)S * 4);
    const int32_t *d = s->d_in;
    io->tokens = d;
    io->slots = d + n;
    io->pos = d + 2 * n;
    io->out_rows = d + 3 * n;
    io->targets = d + 3 * n + no;
    io->pre_slot = d + 3 * n + 2 * no;
    io->pre_len = d + 3 * n + 2 * no + S;
    CUDA_CHECK(s, cudaMemcpyAsync(s->d_in, h, (size_t)(3 * n + 2 * no + 2 * S) * 4,
                                  cudaMemcpyHostToDevice, s->stream));
    return 0;
}

/* Run the pass from a graph captured the first time a pass of n tokens, all scored, ran. */
static int run_graph(cuda_state *s, int n, const pass_io *io)
{
    if (!s->graph[n]) {
        cudaGraph_t g = NULL;
        CUDA_CHECK(s, cudaStreamBeginCapture(s->stream, cudaStreamCaptureModeThreadLocal));
        int rc = pass_body(s, n, n, io);
        cudaError_t e = cudaStreamEndCapture(s->stream, &g);
        if (rc < 0) {
            if (g) cudaGraphDestroy(g);
            return -1;
        }
        CUDA_CHECK(s, e);
        cudaError_t ei = cudaGraphInstantiate(&s->graph[n], g, 0);
        cudaGraphDestroy(g);
        CUDA_CHECK(s, ei);
    }
    CUDA_CHECK(s, cudaGraphLaunch(s->graph[n], s->stream));
    return 0;
}

extern "C" int cuda_forward(cuda_state *s, const cuda_batch *b, char *err, size_t errlen)
{
    pass_io io;
    s->err[0] = '\0';
    int rc = check_batch(s, b) < 0 || pack_inputs(s, b, &io) < 0 ? -1 : 0;
    if (rc == 0)
        rc = b->n <= MV_MAX_T && b->n_out == b->n ? run_graph(s, b->n, &io)
                                                   : pass_body(s, b->n, b->n_out, &io);
    if (rc == 0 && b->n_out > 0) {
        const size_t no = (size_t)b->n_out;
        cudaStream_t st = s->stream;
        if (b->logprobs) CUDA_CHECK(s, cudaMemcpyAsync(s->h_lp, s->d_lp, no * 4,
                                                       cudaMemcpyDeviceToHost, st));
        if (b->argmax) CUDA_CHECK(s, cudaMemcpyAsync(s->h_am, s->d_am, no * 4,
                                                     cudaMemcpyDeviceToHost, st));
        if (b->logits) CUDA_CHECK(s, cudaMemcpyAsync(s->h_logits, s->logits,
                                                     no * s->c.n_vocab * 4,
                                                     cudaMemcpyDeviceToHost, st));
    }
    if (rc == 0) {
        CUDA_CHECK(s, cudaStreamSynchronize(s->stream));
        const size_t no = (size_t)b->n_out;
        if (b->logprobs) memcpy(b->logprobs, s->h_lp, no * 4);
        if (b->argmax) memcpy(b->argmax, s->h_am, no * 4);
        if (b->logits && b->logits != s->h_logits)
            memcpy(b->logits, s->h_logits, no * s->c.n_vocab * 4);
    }
    if (rc < 0) snprintf(err, errlen, "%s", s->err);
    return rc;
}

extern "C" const float *cuda_forward_batch(cuda_state *s, const int32_t *tokens, int n, int pos,
                                           int n_out)
{
    if (n < 1 || n > s->max_tokens || n_out < 0 || n_out > n ||
        n_out > CUDA_HOST_LOGITS_MAX || pos < 0 || pos + n > s->max_seq) {
        failf(s, "cuda_forward_batch: tokens, position or n_out out of range");
        return NULL;
    }
    int32_t *slots = (int32_t *)calloc((size_t)n, sizeof(int32_t));
    int32_t *p = (int32_t *)malloc((size_t)n * sizeof(int32_t));
    int32_t *rows = (int32_t *)malloc((size_t)(n_out ? n_out : 1) * sizeof(int32_t));
    for (int i = 0; i < n; i++) p[i] = pos + i;
    for (int i = 0; i < n_out; i++) rows[i] = n - n_out + i;
    cuda_set_prefix(s, 0, 0, 0);
    cuda_batch b = {n, tokens, slots, p, n_out, rows, NULL, NULL, NULL, NULL};
    b.logits = n_out ? s->h_logits : NULL;          /* cuda_forward leaves them in place */
    char err[512];
    int rc = cuda_forward(s, &b, err, sizeof err);
    free(slots);
    free(p);
    free(rows);
    return rc == 0 ? s->h_logits : NULL;
}
