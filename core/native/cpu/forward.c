/* forward.c — the transformer, llama2.c style, over a batch of tokens: every weight matrix
 * is read once per batch (cpu_matmul), attention runs per token and head. */
#include "native/cpu/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "native/cpu/matmul.h"
#include "native/cpu/ops.h"
#include "util/buf.h"

struct cpu_state {
    const model *m;
    int max_seq, max_batch;
    float *x;            /* (max_batch, dim) the residual stream */
    float *xb;           /* (max_batch, dim) normalised input of a sub-layer */
    float *xb2;          /* (max_batch, dim) a sub-layer's output */
    float *q;            /* (max_batch, n_heads * head_dim) */
    float *att_out;      /* (max_batch, n_heads * head_dim) attention output, before wo */
    float *hb;           /* (max_batch, ffn_dim) gate, then silu(gate) * up */
    float *hb2;          /* (max_batch, ffn_dim) up */
    float *logits;       /* (max_batch, n_vocab) */
    float *key_cache;    /* (n_layers, max_seq, n_kv_heads * head_dim) */
    float *value_cache;  /* (n_layers, max_seq, n_kv_heads * head_dim) */
    double *inv_freq;    /* (rope_dim / 2) RoPE frequencies */
};

size_t cpu_state_bytes(const model *m, int max_seq, int max_batch)
{
    const model_config *c = &m->cfg;
    size_t kv = (size_t)c->n_layers * (size_t)max_seq * (size_t)(c->n_kv_heads * c->head_dim);
    size_t acts = 3 * (size_t)c->dim + 2 * (size_t)(c->n_heads * c->head_dim) +
                  2 * (size_t)c->ffn_dim + (size_t)c->n_vocab;
    return (2 * kv + acts * (size_t)max_batch) * sizeof(float) +
           (size_t)c->rope_dim / 2 * sizeof(double);
}

static void init_rope(cpu_state *s)
{
    const model_config *c = &s->m->cfg;
    const float *factors = s->m->rope_freqs ? s->m->rope_freqs->data : NULL;
    for (int i = 0; i < c->rope_dim / 2; i++) {
        double f = pow((double)c->rope_base, -2.0 * i / c->rope_dim);
        if (factors) f /= factors[i];
        s->inv_freq[i] = f;
    }
}

cpu_state *cpu_state_new_batch(const model *m, int max_seq, int max_batch)
{
    const model_config *c = &m->cfg;
    const size_t B = (size_t)(max_batch > 0 ? max_batch : 1);
    size_t q_dim = (size_t)(c->n_heads * c->head_dim);
    size_t kv_dim = (size_t)(c->n_kv_heads * c->head_dim);
    size_t cache = (size_t)c->n_layers * (size_t)max_seq * kv_dim;
    cpu_state *s = xcalloc(1, sizeof *s);
    s->m = m;
    s->max_seq = max_seq;
    s->max_batch = (int)B;
    s->x = xcalloc(B * (size_t)c->dim, sizeof(float));
    s->xb = xcalloc(B * (size_t)c->dim, sizeof(float));
    s->xb2 = xcalloc(B * (size_t)c->dim, sizeof(float));
    s->q = xcalloc(B * q_dim, sizeof(float));
    s->att_out = xcalloc(B * q_dim, sizeof(float));
    s->hb = xcalloc(B * (size_t)c->ffn_dim, sizeof(float));
    s->hb2 = xcalloc(B * (size_t)c->ffn_dim, sizeof(float));
    s->logits = xcalloc(B * (size_t)c->n_vocab, sizeof(float));
    s->key_cache = xcalloc(cache, sizeof(float));
    s->value_cache = xcalloc(cache, sizeof(float));
    s->inv_freq = xcalloc((size_t)c->rope_dim / 2 + 1, sizeof(double));
    init_rope(s);
    return s;
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
    free(s->inv_freq);
    free(s);
}

static void add_bias(float *y, const gguf_tensor *b, int n, int rows, size_t stride)
{
    if (!b) return;
    const float *v = b->data;
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < n; i++) y[(size_t)r * stride + i] += v[i];
}

/* Grouped-query attention of n queries (positions pos..pos+n-1) against the cached keys
   and values of one layer, each query seeing positions 0..its own. */
static void attention(cpu_state *s, const float *kc, const float *vc, int n, int pos)
{
    const model_config *c = &s->m->cfg;
    const int hd = c->head_dim, kv_dim = c->n_kv_heads * hd, group = c->n_heads / c->n_kv_heads;
    const int q_dim = c->n_heads * hd, items = n * c->n_heads;
    const float scale = 1.0f / sqrtf((float)hd);
    #pragma omp parallel if ((int64_t)items * (pos + n) >= 2048)
    {
        float *att = xmalloc((size_t)(pos + n) * sizeof(float));    /* (pos + n) scores */
        #pragma omp for schedule(dynamic, 1)
        for (int it = 0; it < items; it++) {
            const int b = it / c->n_heads, h = it % c->n_heads, len = pos + b + 1;
            const int kvh = h / group;
            cpu_attention_head(s->q + (size_t)b * q_dim + h * hd, kc + kvh * hd, vc + kvh * hd,
                               (size_t)kv_dim, len, hd, scale, att,
                               s->att_out + (size_t)b * q_dim + h * hd);
        }
        free(att);
    }
}

const float *cpu_forward_batch(cpu_state *s, const int32_t *tokens, int n, int pos, int n_out)
{
    const model *m = s->m;
    const model_config *c = &m->cfg;
    if (n < 1 || n > s->max_batch || n_out < 0 || n_out > n || pos < 0 || pos + n > s->max_seq)
        return NULL;
    for (int b = 0; b < n; b++)
        if (tokens[b] < 0 || tokens[b] >= c->n_vocab) return NULL;
    const int dim = c->dim, hd = c->head_dim, ffn = c->ffn_dim;
    const int q_dim = c->n_heads * hd, kv_dim = c->n_kv_heads * hd;
    float *x = s->x;                                                   /* (n, dim) */

    for (int b = 0; b < n; b++) cpu_get_row(m->tok_embd, tokens[b], x + (size_t)b * dim);
    for (int l = 0; l < c->n_layers; l++) {
        const layer_weights *w = &m->layers[l];
        float *kc = s->key_cache + (size_t)l * s->max_seq * kv_dim;     /* (max_seq, kv_dim) */
        float *vc = s->value_cache + (size_t)l * s->max_seq * kv_dim;
        float *k = kc + (size_t)pos * kv_dim, *v = vc + (size_t)pos * kv_dim;  /* (n, kv_dim) */

        /* attention: x += wo(attn(rope(wq xn), rope(wk xn), wv xn)) with xn = rmsnorm(x) */
        for (int b = 0; b < n; b++)
            cpu_rmsnorm(s->xb + (size_t)b * dim, x + (size_t)b * dim, w->attn_norm->data, dim,
                        c->rms_eps);
        cpu_matmul(w->wq, s->xb, n, s->q);
        cpu_matmul(w->wk, s->xb, n, k);
        cpu_matmul(w->wv, s->xb, n, v);
        add_bias(s->q, w->bq, q_dim, n, (size_t)q_dim);
        add_bias(k, w->bk, kv_dim, n, (size_t)kv_dim);
        add_bias(v, w->bv, kv_dim, n, (size_t)kv_dim);
        for (int b = 0; b < n; b++) {
            const double rpos = (pos + b) / (double)c->rope_scale;
            cpu_rope(s->q + (size_t)b * q_dim, c->n_heads, hd, c->rope_dim, s->inv_freq, rpos,
                     c->rope_neox);
            cpu_rope(k + (size_t)b * kv_dim, c->n_kv_heads, hd, c->rope_dim, s->inv_freq, rpos,
                     c->rope_neox);
        }
        attention(s, kc, vc, n, pos);
        cpu_matmul(w->wo, s->att_out, n, s->xb2);
        for (size_t i = 0; i < (size_t)n * dim; i++) x[i] += s->xb2[i];

        /* feed-forward: x += w_down(silu(w_gate xn) * w_up xn) with xn = rmsnorm(x) */
        for (int b = 0; b < n; b++)
            cpu_rmsnorm(s->xb + (size_t)b * dim, x + (size_t)b * dim, w->ffn_norm->data, dim,
                        c->rms_eps);
        cpu_matmul(w->w_gate, s->xb, n, s->hb);
        cpu_matmul(w->w_up, s->xb, n, s->hb2);
        cpu_swiglu(s->hb, s->hb2, n * ffn);
        cpu_matmul(w->w_down, s->hb, n, s->xb2);
        for (size_t i = 0; i < (size_t)n * dim; i++) x[i] += s->xb2[i];
    }
    /* logits only for the last n_out tokens */
    const float *last = x + (size_t)(n - n_out) * dim;
    for (int b = 0; b < n_out; b++)
        cpu_rmsnorm(s->xb + (size_t)b * dim, last + (size_t)b * dim, m->output_norm->data, dim,
                    c->rms_eps);
    cpu_matmul(m->output, s->xb, n_out, s->logits);
    return s->logits;
}

const float *cpu_forward(cpu_state *s, int32_t token, int pos)
{
    return cpu_forward_batch(s, &token, 1, pos, 1);
}
