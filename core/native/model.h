/* model.h — a llama-family transformer as stored in a GGUF file: its hyperparameters and
 * where each weight lives. Backend-neutral: the CPU forward pass (cpu/forward.h) and a
 * GPU one read the same model; nothing here computes.
 *
 * Architectures: llama (also mistral and SmolLM, which llama.cpp stores as llama) and
 * qwen2 (Q/K/V biases, NeoX RoPE). Hyperparameters come from "<arch>.*" keys. Weight
 * matrices keep GGUF's layout: ne[0] is the input width (a row), ne[1] the output rows. */
#ifndef EVALLUA_NATIVE_MODEL_H
#define EVALLUA_NATIVE_MODEL_H

#include <stddef.h>

#include "native/gguf.h"

typedef struct model_config {
    char arch[32];        /* general.architecture */
    int n_vocab;          /* rows of token_embd */
    int n_ctx_train;      /* <arch>.context_length */
    int dim;              /* <arch>.embedding_length */
    int n_layers;         /* <arch>.block_count */
    int n_heads;          /* <arch>.attention.head_count */
    int n_kv_heads;       /* <arch>.attention.head_count_kv (default n_heads) */
    int head_dim;         /* <arch>.attention.key_length (default dim / n_heads) */
    int ffn_dim;          /* <arch>.feed_forward_length */
    int rope_dim;         /* <arch>.rope.dimension_count (default head_dim): dims rotated */
    float rms_eps;        /* <arch>.attention.layer_norm_rms_epsilon (default 1e-5) */
    float rope_base;      /* <arch>.rope.freq_base (default 10000) */
    float rope_scale;     /* positions are divided by this: rope.scaling.factor when the
                             scaling type is linear, else 1 */
    int rope_neox;        /* 1: rotate pairs (i, i + rope_dim/2) (qwen2); 0: (2i, 2i+1) */
} model_config;

/* One transformer block. Matrices map the row width ne[0] to ne[1] outputs. */
typedef struct layer_weights {
    const gguf_tensor *attn_norm;          /* (dim) F32 */
    const gguf_tensor *wq, *wk, *wv;       /* dim -> n_heads*head_dim, n_kv_heads*head_dim */
    const gguf_tensor *bq, *bk, *bv;       /* biases of wq/wk/wv (qwen2), else NULL; F32 */
    const gguf_tensor *wo;                 /* n_heads*head_dim -> dim */
    const gguf_tensor *ffn_norm;           /* (dim) F32 */
    const gguf_tensor *w_gate, *w_up;      /* dim -> ffn_dim */
    const gguf_tensor *w_down;             /* ffn_dim -> dim */
} layer_weights;

typedef struct model {
    gguf_file *file;                       /* owns the mapping every tensor points into */
    model_config cfg;
    const gguf_tensor *tok_embd;           /* dim -> n_vocab rows: row t embeds token t */
    const gguf_tensor *output_norm;        /* (dim) F32 */
    const gguf_tensor *output;             /* dim -> n_vocab; tok_embd when tied */
    const gguf_tensor *rope_freqs;         /* optional (rope_dim/2) F32 frequency divisors */
    layer_weights *layers;                 /* n_layers */
} model;

/* Open and check a model: architecture, hyperparameters, every tensor's presence and shape.
   Returns a model the caller frees with model_free, or NULL with err naming the file and
   the key or tensor at fault. */
model *model_open(const char *path, char *err, size_t errlen);
/* Release the model and its mapping (NULL is fine). */
void model_free(model *m);
/* Comma-separated architectures model_open accepts (static string). */
const char *model_supported_archs(void);

#endif
