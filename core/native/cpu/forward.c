/* forward.c — the transformer, llama2.c style, over a batch of tokens: every weight matrix
 * is read once per batch (cpu_matmul), attention runs per token and head against the KV
 * cache of the token's own sequence (slot). The arithmetic is llama.cpp's CPU backend's for
 * a batch of tokens (F16 KV cache, no flash attention), rounding for rounding where it can
 * be: see docs/performance.md, "Agreement with llama.cpp on SmolLM2". */
#include "native/cpu/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "native/cpu/matmul.h"
#include "native/cpu/ops.h"
#include "native/cpu/quant.h"
#include "util/buf.h"

struct cpu_state {
    const model *m;
    int max_seq, max_batch, n_slots;
    float *x;            /* (max_batch, dim) the residual stream */
    float *xb;           /* (max_batch, dim) normalised input of a sub-layer */
    float *xb2;          /* (max_batch, dim) a sub-layer's output */
    float *q;            /* (max_batch, n_heads * head_dim) */
    float *att_out;      /* (max_batch, n_heads * head_dim) attention output, before wo */
    float *hb;           /* (max_batch, ffn_dim) gate, then silu(gate) * up */
    float *hb2;          /* (max_batch, ffn_dim) up */
    float *k, *v;        /* (max_batch, n_kv_heads * head_dim) this step's keys and values */
    float *logits;       /* (max_batch, n_vocab) */
    int kv_f16;          /* 1: the caches hold F16 values, 0: float (cpu_kv_cache_f16) */
    size_t kv_elem;      /* bytes per cached value: 2 or 4 */
    char *key_cache;     /* (n_layers, n_slots, max_seq, n_kv_heads * head_dim) */
    char *value_cache;   /* (n_layers, n_slots, max_seq, n_kv_heads * head_dim) */
    float *rope_cs;      /* (max_batch, rope_dim) each token's RoPE cosines and sines */
    int *slot_of, *pos_of;   /* (max_batch) scratch for cpu_forward_batch */
    cpu_trace_fn trace;      /* NULL, or called with intermediate tensors (debugging) */
    void *trace_user;
};

void cpu_state_set_trace(cpu_state *s, cpu_trace_fn fn, void *user)
{
    s->trace = fn;
    s->trace_user = user;
}

/* Hand rows x width values named `name` of layer l (-1: none) to the trace callback. */
static void trace(const cpu_state *s, const char *name, int l, const float *x, int rows,
                  int width)
{
    if (s->trace) s->trace(s->trace_user, name, l, x, rows, width);
}

size_t cpu_state_bytes_slots(const model *m, int max_seq, int max_batch, int n_slots)
{
    const model_config *c = &m->cfg;
    const size_t kv_dim = (size_t)(c->n_kv_heads * c->head_dim);
    size_t kv = (size_t)c->n_layers * (size_t)n_slots * (size_t)max_seq * kv_dim;
    size_t acts = 3 * (size_t)c->dim + 2 * (size_t)(c->n_heads * c->head_dim) + 2 * kv_dim +
                  2 * (size_t)c->ffn_dim + (size_t)c->n_vocab;
    return 2 * kv * (cpu_kv_cache_f16(m) ? sizeof(uint16_t) : sizeof(float)) +
           acts * (size_t)max_batch * sizeof(float) +
           (size_t)max_batch * ((size_t)c->rope_dim * sizeof(float) + 2 * sizeof(int));
}

size_t cpu_state_bytes(const model *m, int max_seq, int max_batch)
{
    return cpu_state_bytes_slots(m, max_seq, max_batch, 1);
}

/* The cached keys (or values) of layer l, slot `slot`, from position pos on. */
static void *cache_at(const cpu_state *s, char *cache, int l, int slot, int pos)
{
    const model_config *c = &s->m->cfg;
    const size_t kv_dim = (size_t)(c->n_kv_heads * c->head_dim);
    return cache + (((size_t)l * s->n_slots + (size_t)slot) * s->max_seq + (size_t)pos) * kv_dim *
                       s->kv_elem;
}

int cpu_kv_cache_f16(const model *m)
{
    if (m->cfg.n_layers < 1 || !m->layers) return 0;
    const gguf_dtype t = m->layers[0].wq->type;
    return cpu_type_uses_q8a(t) || cpu_type_uses_q8k(t);
}

cpu_state *cpu_state_new_slots(const model *m, int max_seq, int max_batch, int n_slots)
{
    const model_config *c = &m->cfg;
    const size_t B = (size_t)(max_batch > 0 ? max_batch : 1);
    const size_t S = (size_t)(n_slots > 0 ? n_slots : 1);
    size_t q_dim = (size_t)(c->n_heads * c->head_dim);
    size_t kv_dim = (size_t)(c->n_kv_heads * c->head_dim);
    size_t cache = (size_t)c->n_layers * S * (size_t)max_seq * kv_dim;
    cpu_state *s = xcalloc(1, sizeof *s);
    s->m = m;
    s->max_seq = max_seq;
    s->max_batch = (int)B;
    s->n_slots = (int)S;
    s->k = xcalloc(B * kv_dim, sizeof(float));
    s->v = xcalloc(B * kv_dim, sizeof(float));
    s->slot_of = xcalloc(B, sizeof(int));
    s->pos_of = xcalloc(B, sizeof(int));
    s->x = xcalloc(B * (size_t)c->dim, sizeof(float));
    s->xb = xcalloc(B * (size_t)c->dim, sizeof(float));
    s->xb2 = xcalloc(B * (size_t)c->dim, sizeof(float));
    s->q = xcalloc(B * q_dim, sizeof(float));
    s->att_out = xcalloc(B * q_dim, sizeof(float));
    s->hb = xcalloc(B * (size_t)c->ffn_dim, sizeof(float));
    s->hb2 = xcalloc(B * (size_t)c->ffn_dim, sizeof(float));
    s->logits = xcalloc(B * (size_t)c->n_vocab, sizeof(float));
    s->kv_f16 = cpu_kv_cache_f16(m);
    s->kv_elem = s->kv_f16 ? sizeof(uint16_t) : sizeof(float);
    s->key_cache = xcalloc(cache, s->kv_elem);
    s->value_cache = xcalloc(cache, s->kv_elem);
    s->rope_cs = xcalloc(B * (size_t)c->rope_dim + 2, sizeof(float));
    return s;
}

cpu_state *cpu_state_new_batch(const model *m, int max_seq, int max_batch)
{
    return cpu_state_new_slots(m, max_seq, max_batch, 1);
}

cpu_state *cpu_state_new(const model *m, int max_seq)
{
    return cpu_state_new_batch(m, max_seq, 1);
}

void cpu_state_free(cpu_state *s)
{
    if (!s) return;
    free(s->x); free(s->xb); free(s->xb2); free(s->q); free(s->att_out);
    free(s->hb); free(s->hb2); free(s->logits); free(s->key_cache); free(s->value_cache);
    free(s->rope_cs); free(s->k); free(s->v); free(s->slot_of); free(s->pos_of);
    free(s);
}

static void add_bias(float *y, const gguf_tensor *b, int n, int rows, size_t stride)
{
    if (!b) return;
    const float *v = b->data;
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < n; i++) y[(size_t)r * stride + i] += v[i];
}

/* Grouped-query attention of the n queries of this step against the cached keys and values
   of layer l, query b seeing positions 0..pos[b] of its own slot. */
static void attention(cpu_state *s, int l, const int *slot, const int *pos, int n)
{
    const model_config *c = &s->m->cfg;
    const int hd = c->head_dim, kv_dim = c->n_kv_heads * hd, group = c->n_heads / c->n_kv_heads;
    const int q_dim = c->n_heads * hd, items = n * c->n_heads;
    const float scale = 1.0f / sqrtf((float)hd);
    int max_len = 0;
    for (int b = 0; b < n; b++) max_len = pos[b] + 1 > max_len ? pos[b] + 1 : max_len;
    #pragma omp parallel if ((int64_t)items * max_len >= 2048)
    {
        float *scratch = xmalloc(cpu_attention_f16_scratch(max_len, hd) * sizeof(float));
        #pragma omp for schedule(dynamic, 1)
        for (int it = 0; it < items; it++) {
            const int b = it / c->n_heads, h = it % c->n_heads, kvh = h / group;
            const void *kc = cache_at(s, s->key_cache, l, slot[b], 0);
            const void *vc = cache_at(s, s->value_cache, l, slot[b], 0);
            const float *q = s->q + (size_t)b * q_dim + h * hd;
            float *out = s->att_out + (size_t)b * q_dim + h * hd;
            if (s->kv_f16)
                cpu_attention_head_f16(q, (const uint16_t *)kc + kvh * hd,
                                       (const uint16_t *)vc + kvh * hd, (size_t)kv_dim,
                                       pos[b] + 1, hd, scale, scratch, out);
            else
                cpu_attention_head(q, (const float *)kc + kvh * hd, (const float *)vc + kvh * hd,
                                   (size_t)kv_dim, pos[b] + 1, hd, scale, scratch, out);
        }
        free(scratch);
    }
}

/* Store n values in the cache, as F16 (llama.cpp's default cache type) or float. */
static void store_kv(const cpu_state *s, void *dst, const float *src, int n)
{
    if (!s->kv_f16) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    uint16_t *h = dst;
    for (int i = 0; i < n; i++) h[i] = f32_to_fp16(src[i]);
}

/* 1 when every token, slot and position of a step is in range. */
static int step_ok(const cpu_state *s, const int32_t *tokens, const int *slot, const int *pos,
                   int n, int n_out)
{
    if (n < 1 || n > s->max_batch || n_out < 0 || n_out > n) return 0;
    for (int b = 0; b < n; b++)
        if (tokens[b] < 0 || tokens[b] >= s->m->cfg.n_vocab || slot[b] < 0 ||
            slot[b] >= s->n_slots || pos[b] < 0 || pos[b] >= s->max_seq)
            return 0;
    return 1;
}

const float *cpu_forward_multi(cpu_state *s, const int32_t *tokens, const int *slot,
                               const int *pos, int n, int n_out)
{
    const model *m = s->m;
    const model_config *c = &m->cfg;
    if (!step_ok(s, tokens, slot, pos, n, n_out)) return NULL;
    const int dim = c->dim, hd = c->head_dim, ffn = c->ffn_dim;
    const int q_dim = c->n_heads * hd, kv_dim = c->n_kv_heads * hd;
    float *x = s->x;                                                   /* (n, dim) */
    const float *rope_factors = m->rope_freqs ? m->rope_freqs->data : NULL;

    for (int b = 0; b < n; b++) {
        cpu_get_row(m->tok_embd, tokens[b], x + (size_t)b * dim);
        cpu_rope_angles(s->rope_cs + (size_t)b * c->rope_dim, c->rope_dim, (float)pos[b],
                        c->rope_base, 1.0f / c->rope_scale, rope_factors);
    }
    trace(s, "embd", -1, x, n, dim);
    for (int l = 0; l < c->n_layers; l++) {
        const layer_weights *w = &m->layers[l];

        /* attention: x += wo(attn(rope(wq xn), rope(wk xn), wv xn)) with xn = rmsnorm(x) */
        for (int b = 0; b < n; b++)
            cpu_rmsnorm(s->xb + (size_t)b * dim, x + (size_t)b * dim, w->attn_norm->data, dim,
                        c->rms_eps);
        trace(s, "attn_norm", l, s->xb, n, dim);
        cpu_matmul(w->wq, s->xb, n, s->q);
        cpu_matmul(w->wk, s->xb, n, s->k);
        cpu_matmul(w->wv, s->xb, n, s->v);
        add_bias(s->q, w->bq, q_dim, n, (size_t)q_dim);
        add_bias(s->k, w->bk, kv_dim, n, (size_t)kv_dim);
        add_bias(s->v, w->bv, kv_dim, n, (size_t)kv_dim);
        trace(s, "Vcur", l, s->v, n, kv_dim);
        for (int b = 0; b < n; b++) {                 /* rotate, then store in the slot */
            float *kb = s->k + (size_t)b * kv_dim, *vb = s->v + (size_t)b * kv_dim;
            const float *cs = s->rope_cs + (size_t)b * c->rope_dim;
            cpu_rope_rotate(s->q + (size_t)b * q_dim, c->n_heads, hd, c->rope_dim, cs,
                            c->rope_neox);
            cpu_rope_rotate(kb, c->n_kv_heads, hd, c->rope_dim, cs, c->rope_neox);
            store_kv(s, cache_at(s, s->key_cache, l, slot[b], pos[b]), kb, kv_dim);
            store_kv(s, cache_at(s, s->value_cache, l, slot[b], pos[b]), vb, kv_dim);
        }
        trace(s, "Qcur", l, s->q, n, q_dim);
        trace(s, "Kcur", l, s->k, n, kv_dim);
        attention(s, l, slot, pos, n);
        trace(s, "kqv_out", l, s->att_out, n, q_dim);
        cpu_matmul(w->wo, s->att_out, n, s->xb2);
        trace(s, "attn_out", l, s->xb2, n, dim);
        for (size_t i = 0; i < (size_t)n * dim; i++) x[i] += s->xb2[i];
        trace(s, "ffn_inp", l, x, n, dim);

        /* feed-forward: x += w_down(silu(w_gate xn) * w_up xn) with xn = rmsnorm(x) */
        for (int b = 0; b < n; b++)
            cpu_rmsnorm(s->xb + (size_t)b * dim, x + (size_t)b * dim, w->ffn_norm->data, dim,
                        c->rms_eps);
        trace(s, "ffn_norm", l, s->xb, n, dim);
        cpu_matmul(w->w_gate, s->xb, n, s->hb);
        cpu_matmul(w->w_up, s->xb, n, s->hb2);
        trace(s, "ffn_gate", l, s->hb, n, ffn);
        trace(s, "ffn_up", l, s->hb2, n, ffn);
        cpu_swiglu(s->hb, s->hb2, n * ffn);
        trace(s, "ffn_swiglu", l, s->hb, n, ffn);
        cpu_matmul(w->w_down, s->hb, n, s->xb2);
        trace(s, "ffn_out", l, s->xb2, n, dim);
        for (size_t i = 0; i < (size_t)n * dim; i++) x[i] += s->xb2[i];
        trace(s, "l_out", l, x, n, dim);
    }
    /* logits only for the last n_out tokens */
    const float *last = x + (size_t)(n - n_out) * dim;
    for (int b = 0; b < n_out; b++)
        cpu_rmsnorm(s->xb + (size_t)b * dim, last + (size_t)b * dim, m->output_norm->data, dim,
                    c->rms_eps);
    trace(s, "result_norm", -1, s->xb, n_out, dim);
    cpu_matmul(m->output, s->xb, n_out, s->logits);
    trace(s, "result_output", -1, s->logits, n_out, c->n_vocab);
    return s->logits;
}

const float *cpu_forward_batch(cpu_state *s, const int32_t *tokens, int n, int pos, int n_out)
{
    if (n < 1 || n > s->max_batch || pos < 0) return NULL;
    for (int b = 0; b < n; b++) {
        s->slot_of[b] = 0;
        s->pos_of[b] = pos + b;
    }
    return cpu_forward_multi(s, tokens, s->slot_of, s->pos_of, n, n_out);
}

void cpu_state_copy_prefix(cpu_state *s, int dst, int src, int n)
{
    const model_config *c = &s->m->cfg;
    const size_t bytes = (size_t)n * (size_t)(c->n_kv_heads * c->head_dim) * s->kv_elem;
    if (dst == src || n <= 0 || n > s->max_seq || dst < 0 || src < 0 || dst >= s->n_slots ||
        src >= s->n_slots)
        return;
    for (int l = 0; l < c->n_layers; l++) {
        memcpy(cache_at(s, s->key_cache, l, dst, 0), cache_at(s, s->key_cache, l, src, 0), bytes);
        memcpy(cache_at(s, s->value_cache, l, dst, 0), cache_at(s, s->value_cache, l, src, 0),
               bytes);
    }
}

int cpu_state_slots(const cpu_state *s)
{
    return s->n_slots;
}

const float *cpu_forward(cpu_state *s, int32_t token, int pos)
{
    return cpu_forward_batch(s, &token, 1, pos, 1);
}
