/* model.c — llama-family hyperparameters and weights from a GGUF file, checked up front. */
#include "native/model.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

static const char *const ARCHS[] = {"llama", "mistral", "qwen2"};

const char *model_supported_archs(void)
{
    return "llama, mistral, qwen2";
}

/* An integer hyperparameter "<arch>.<name>"; *out untouched when absent and optional. */
static int hparam_int(const gguf_file *f, const char *arch, const char *name, int required,
                      int *out, char *err, size_t errlen)
{
    char key[160];
    uint32_t v;
    snprintf(key, sizeof key, "%s.%s", arch, name);
    int rc = gguf_get_u32(f, key, &v, err, errlen);
    if (rc < 0) return -1;
    if (rc == 0)
        return required ? errf(err, errlen, "%s: missing hyperparameter %s", f->path, key) : 0;
    if (v == 0 || v > INT_MAX / 16)
        return errf(err, errlen, "%s: hyperparameter %s = %u is out of range", f->path, key, v);
    *out = (int)v;
    return 0;
}

static int hparam_float(const gguf_file *f, const char *arch, const char *name, float *out,
                        char *err, size_t errlen)
{
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    return gguf_get_f32(f, key, out, err, errlen) < 0 ? -1 : 0;
}

static int read_arch(const gguf_file *f, model_config *c, char *err, size_t errlen)
{
    const char *arch = NULL;
    if (gguf_get_str(f, "general.architecture", &arch, err, errlen) < 0) return -1;
    if (!arch) return errf(err, errlen, "%s: no general.architecture", f->path);
    for (size_t i = 0; i < sizeof ARCHS / sizeof ARCHS[0]; i++)
        if (strcmp(arch, ARCHS[i]) == 0) {
            snprintf(c->arch, sizeof c->arch, "%s", arch);
            c->rope_neox = strcmp(arch, "qwen2") == 0;
            return 0;
        }
    return errf(err, errlen, "%s: unsupported architecture '%s' (supported: %s)", f->path, arch,
                model_supported_archs());
}

static int read_rope_scaling(const gguf_file *f, model_config *c, char *err, size_t errlen)
{
    char key[160];
    const char *type = NULL;
    float factor = 0;
    snprintf(key, sizeof key, "%s.rope.scaling.type", c->arch);
    if (gguf_get_str(f, key, &type, err, errlen) < 0) return -1;
    if (hparam_float(f, c->arch, "rope.scaling.factor", &factor, err, errlen) < 0 ||
        hparam_float(f, c->arch, "rope.scale_linear", &factor, err, errlen) < 0)
        return -1;
    c->rope_scale = 1.0f;
    if (type && strcmp(type, "none") != 0 && strcmp(type, "linear") != 0)
        return errf(err, errlen, "%s: unsupported RoPE scaling '%s' (%s; supported: none, "
                    "linear)", f->path, type, key);
    if ((!type || strcmp(type, "linear") == 0) && factor > 0) c->rope_scale = factor;
    return 0;
}

static int read_config(const gguf_file *f, model_config *c, char *err, size_t errlen)
{
    if (read_arch(f, c, err, errlen) < 0) return -1;
    const char *a = c->arch;
    if (hparam_int(f, a, "context_length", 1, &c->n_ctx_train, err, errlen) < 0 ||
        hparam_int(f, a, "embedding_length", 1, &c->dim, err, errlen) < 0 ||
        hparam_int(f, a, "block_count", 1, &c->n_layers, err, errlen) < 0 ||
        hparam_int(f, a, "feed_forward_length", 1, &c->ffn_dim, err, errlen) < 0 ||
        hparam_int(f, a, "attention.head_count", 1, &c->n_heads, err, errlen) < 0)
        return -1;
    c->n_kv_heads = c->n_heads;
    c->head_dim = c->dim / c->n_heads;
    c->rms_eps = 1e-5f;
    c->rope_base = 10000.0f;
    if (hparam_int(f, a, "attention.head_count_kv", 0, &c->n_kv_heads, err, errlen) < 0 ||
        hparam_int(f, a, "attention.key_length", 0, &c->head_dim, err, errlen) < 0 ||
        hparam_float(f, a, "attention.layer_norm_rms_epsilon", &c->rms_eps, err, errlen) < 0 ||
        hparam_float(f, a, "rope.freq_base", &c->rope_base, err, errlen) < 0 ||
        read_rope_scaling(f, c, err, errlen) < 0)
        return -1;
    c->rope_dim = c->head_dim;
    if (hparam_int(f, a, "rope.dimension_count", 0, &c->rope_dim, err, errlen) < 0) return -1;
    if (c->n_heads % c->n_kv_heads || c->head_dim < 2 || c->rope_dim > c->head_dim ||
        c->rope_dim % 2)
        return errf(err, errlen, "%s: inconsistent attention shape: %d heads, %d KV heads, "
                    "head size %d, %d rotary dimensions", f->path, c->n_heads, c->n_kv_heads,
                    c->head_dim, c->rope_dim);
    return 0;
}

/* The tensor name with shape [ne0] (ne1 = 0) or [ne0, ne1]; NULL without error when it is
   absent and optional. 1-D tensors must be F32. */
static int find(const model *m, const char *name, int64_t ne0, int64_t ne1, int required,
                const gguf_tensor **out, char *err, size_t errlen)
{
    const gguf_file *f = m->file;
    const gguf_tensor *t = gguf_find_tensor(f, name);
    *out = t;
    if (!t)
        return required ? errf(err, errlen, "%s: tensor '%s' is missing", f->path, name) : 0;
    int64_t want1 = ne1 ? ne1 : 1;
    if (t->ne[0] != ne0 || t->ne[1] != want1 || t->ne[2] != 1 || t->ne[3] != 1)
        return errf(err, errlen, "%s: tensor '%s' has shape [%lld, %lld, %lld, %lld], "
                    "expected [%lld, %lld]", f->path, name, (long long)t->ne[0],
                    (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                    (long long)ne0, (long long)want1);
    if (!ne1 && t->type != GGUF_DT_F32)
        return errf(err, errlen, "%s: tensor '%s' is %s; evallua expects vectors in F32",
                    f->path, name, gguf_dtype_name(t->type));
    return 0;
}

static int find_layer(model *m, int l, char *err, size_t errlen)
{
    const model_config *c = &m->cfg;
    layer_weights *w = &m->layers[l];
    int q_dim = c->n_heads * c->head_dim, kv_dim = c->n_kv_heads * c->head_dim;
    char n[12][64];
    static const char *const parts[12] = {
        "attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight",
        "attn_q.bias", "attn_k.bias", "attn_v.bias", "attn_output.weight", "ffn_norm.weight",
        "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"};
    for (int i = 0; i < 12; i++) snprintf(n[i], sizeof n[i], "blk.%d.%s", l, parts[i]);
    if (find(m, n[0], c->dim, 0, 1, &w->attn_norm, err, errlen) < 0 ||
        find(m, n[1], c->dim, q_dim, 1, &w->wq, err, errlen) < 0 ||
        find(m, n[2], c->dim, kv_dim, 1, &w->wk, err, errlen) < 0 ||
        find(m, n[3], c->dim, kv_dim, 1, &w->wv, err, errlen) < 0 ||
        find(m, n[4], q_dim, 0, 0, &w->bq, err, errlen) < 0 ||
        find(m, n[5], kv_dim, 0, 0, &w->bk, err, errlen) < 0 ||
        find(m, n[6], kv_dim, 0, 0, &w->bv, err, errlen) < 0 ||
        find(m, n[7], q_dim, c->dim, 1, &w->wo, err, errlen) < 0 ||
        find(m, n[8], c->dim, 0, 1, &w->ffn_norm, err, errlen) < 0 ||
        find(m, n[9], c->dim, c->ffn_dim, 1, &w->w_gate, err, errlen) < 0 ||
        find(m, n[10], c->dim, c->ffn_dim, 1, &w->w_up, err, errlen) < 0 ||
        find(m, n[11], c->ffn_dim, c->dim, 1, &w->w_down, err, errlen) < 0)
        return -1;
    return 0;
}

static int find_weights(model *m, char *err, size_t errlen)
{
    model_config *c = &m->cfg;
    const gguf_tensor *emb = gguf_find_tensor(m->file, "token_embd.weight");
    if (!emb) return errf(err, errlen, "%s: tensor 'token_embd.weight' is missing", m->file->path);
    if (emb->ne[1] < 1 || emb->ne[1] > INT_MAX)
        return errf(err, errlen, "%s: token_embd.weight has %lld rows", m->file->path,
                    (long long)emb->ne[1]);
    c->n_vocab = (int)emb->ne[1];
    if (find(m, "token_embd.weight", c->dim, c->n_vocab, 1, &m->tok_embd, err, errlen) < 0 ||
        find(m, "output_norm.weight", c->dim, 0, 1, &m->output_norm, err, errlen) < 0 ||
        find(m, "output.weight", c->dim, c->n_vocab, 0, &m->output, err, errlen) < 0 ||
        find(m, "rope_freqs.weight", c->rope_dim / 2, 0, 0, &m->rope_freqs, err, errlen) < 0)
        return -1;
    if (!m->output) m->output = m->tok_embd;   /* tied embeddings */
    m->layers = xcalloc((size_t)c->n_layers, sizeof(layer_weights));
    for (int l = 0; l < c->n_layers; l++)
        if (find_layer(m, l, err, errlen) < 0) return -1;
    return 0;
}

model *model_open(const char *path, char *err, size_t errlen)
{
    model *m = xcalloc(1, sizeof *m);
    m->file = gguf_open(path, err, errlen);
    if (!m->file || read_config(m->file, &m->cfg, err, errlen) < 0 ||
        find_weights(m, err, errlen) < 0) {
        model_free(m);
        return NULL;
    }
    return m;
}

void model_free(model *m)
{
    if (!m) return;
    free(m->layers);
    gguf_close(m->file);
    free(m);
}
