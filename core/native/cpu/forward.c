/* forward.c — the transformer, llama2.c style: one token through every layer. */
#include "native/cpu/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "native/cpu/ops.h"
#include "util/buf.h"

struct cpu_state {
    const model *m;
    int max_seq;
    float *x;            /* (dim) the residual stream */
    float *xb;           /* (dim) normalised input of a sub-layer */
    float *xb2;          /* (dim) a sub-layer's output */
    float *q;            /* (n_heads * head_dim) */
    float *att;          /* (n_heads, max_seq) attention scores */
    float *att_out;      /* (n_heads * head_dim) attention output, before wo */
    float *hb;           /* (ffn_dim) gate, then silu(gate) * up */
    float *hb2;          /* (ffn_dim) up */
    float *logits;       /* (n_vocab) */
    float *key_cache;    /* (n_layers, max_seq, n_kv_heads * head_dim) */
    float *value_cache;  /* (n_layers, max_seq, n_kv_heads * head_dim) */
    double *inv_freq;    /* (rope_dim / 2) RoPE frequencies */
};

size_t cpu_state_bytes(const model *m, int max_seq)
{
    const model_config *c = &m->cfg;
    size_t kv = (size_t)c->n_layers * (size_t)max_seq * (size_t)(c->n_kv_heads * c->head_dim);
    size_t acts = 3 * (size_t)c->dim + 2 * (size_t)(c->n_heads * c->head_dim) +
                  (size_t)c->n_heads * (size_t)max_seq + 2 * (size_t)c->ffn_dim +
                  (size_t)c->n_vocab;
    return (2 * kv + acts) * sizeof(float) + (size_t)c->rope_dim / 2 * sizeof(double);
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

cpu_state *cpu_state_new(const model *m, int max_seq)
{
    const model_config *c = &m->cfg;
    size_t q_dim = (size_t)(c->n_heads * c->head_dim);
    size_t kv_dim = (size_t)(c->n_kv_heads * c->head_dim);
    size_t cache = (size_t)c->n_layers * (size_t)max_seq * kv_dim;
    cpu_state *s = xcalloc(1, sizeof *s);
    s->m = m;
    s->max_seq = max_seq;
    s->x = xcalloc((size_t)c->dim, sizeof(float));
    s->xb = xcalloc((size_t)c->dim, sizeof(float));
    s->xb2 = xcalloc((size_t)c->dim, sizeof(float));
    s->q = xcalloc(q_dim, sizeof(float));
    s->att = xcalloc((size_t)c->n_heads * (size_t)max_seq, sizeof(float));
    s->att_out = xcalloc(q_dim, sizeof(float));
    s->hb = xcalloc((size_t)c->ffn_dim, sizeof(float));
    s->hb2 = xcalloc((size_t)c->ffn_dim, sizeof(float));
    s->logits = xcalloc((size_t)c->n_vocab, sizeof(float));
    s->key_cache = xcalloc(cache, sizeof(float));
    s->value_cache = xcalloc(cache, sizeof(float));
    s->inv_freq = xcalloc((size_t)c->rope_dim / 2 + 1, sizeof(double));
    init_rope(s);
    return s;
}

void cpu_state_free(cpu_state *s)
{
    if (!s) return;
    free(s->x); free(s->xb); free(s->xb2); free(s->q); free(s->att); free(s->att_out);
    free(s->hb); free(s->hb2); free(s->logits); free(s->key_cache); free(s->value_cache);
    free(s->inv_freq);
    free(s);
}

static void add_bias(float *y, const gguf_tensor *b, int n)
{
    if (!b) return;
    const float *v = b->data;
    for (int i = 0; i < n; i++) y[i] += v[i];
}

/* Grouped-query attention of the current query against positions 0..pos of one layer. */
static void attention(cpu_state *s, const float *kc, const float *vc, int pos)
{
    const model_config *c = &s->m->cfg;
    const int hd = c->head_dim, kv_dim = c->n_kv_heads * hd, group = c->n_heads / c->n_kv_heads;
    const float scale = 1.0f / sqrtf((float)hd);
    #pragma omp parallel for schedule(static) if (pos >= 64)
    for (int h = 0; h < c->n_heads; h++) {
        const float *q = s->q + h * hd;
        float *att = s->att + (size_t)h * s->max_seq;     /* (pos + 1) scores */
        float *out = s->att_out + h * hd;                  /* (head_dim) */
        const int kvh = h / group;
        for (int t = 0; t <= pos; t++)
            att[t] = cpu_dot(q, kc + (size_t)t * kv_dim + kvh * hd, hd) * scale;
        cpu_softmax(att, pos + 1);
        memset(out, 0, (size_t)hd * sizeof(float));
        for (int t = 0; t <= pos; t++) {
            const float *v = vc + (size_t)t * kv_dim + kvh * hd;
            for (int i = 0; i < hd; i++) out[i] += att[t] * v[i];
        }
    }
}

const float *cpu_forward(cpu_state *s, int32_t token, int pos)
{
    const model *m = s->m;
    const model_config *c = &m->cfg;
    if (token < 0 || token >= c->n_vocab || pos < 0 || pos >= s->max_seq) return NULL;
    const int dim = c->dim, hd = c->head_dim;
    const int q_dim = c->n_heads * hd, kv_dim = c->n_kv_heads * hd;
    const double rpos = pos / (double)c->rope_scale;
    float *x = s->x;

    cpu_get_row(m->tok_embd, token, x);
    for (int l = 0; l < c->n_layers; l++) {
        const layer_weights *w = &m->layers[l];
        float *kc = s->key_cache + (size_t)l * s->max_seq * kv_dim;     /* (max_seq, kv_dim) */
        float *vc = s->value_cache + (size_t)l * s->max_seq * kv_dim;
        float *k = kc + (size_t)pos * kv_dim, *v = vc + (size_t)pos * kv_dim;

        /* attention: x += wo(attn(rope(wq xn), rope(wk xn), wv xn)) with xn = rmsnorm(x) */
        cpu_rmsnorm(s->xb, x, w->attn_norm->data, dim, c->rms_eps);
        cpu_matvec(w->wq, s->xb, s->q);
        cpu_matvec(w->wk, s->xb, k);
        cpu_matvec(w->wv, s->xb, v);
        add_bias(s->q, w->bq, q_dim);
        add_bias(k, w->bk, kv_dim);
        add_bias(v, w->bv, kv_dim);
        cpu_rope(s->q, c->n_heads, hd, c->rope_dim, s->inv_freq, rpos, c->rope_neox);
        cpu_rope(k, c->n_kv_heads, hd, c->rope_dim, s->inv_freq, rpos, c->rope_neox);
        attention(s, kc, vc, pos);
        cpu_matvec(w->wo, s->att_out, s->xb2);
        for (int i = 0; i < dim; i++) x[i] += s->xb2[i];

        /* feed-forward: x += w_down(silu(w_gate xn) * w_up xn) with xn = rmsnorm(x) */
        cpu_rmsnorm(s->xb, x, w->ffn_norm->data, dim, c->rms_eps);
        cpu_matvec(w->w_gate, s->xb, s->hb);
        cpu_matvec(w->w_up, s->xb, s->hb2);
        cpu_swiglu(s->hb, s->hb2, c->ffn_dim);
        cpu_matvec(w->w_down, s->hb, s->xb2);
        for (int i = 0; i < dim; i++) x[i] += s->xb2[i];
    }
    cpu_rmsnorm(s->xb, x, m->output_norm->data, dim, c->rms_eps);
    cpu_matvec(m->output, s->xb, s->logits);
    return s->logits;
}
