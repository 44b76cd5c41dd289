/* forward.h — the llama-family forward pass on the CPU, a batch of tokens at a time.
 *
 * A cpu_state holds activations for up to max_batch tokens and n_slots KV caches (one per
 * sequence, slot 0 for the single-sequence calls) of up to max_seq positions each. Feed a
 * sequence's tokens at positions 0, 1, 2, ... (re-feeding position p overwrites the cache
 * from p on, so a sequence can be rewound). A token's result does not depend on how the
 * sequence was split into batches nor on which other sequences share its step: every
 * product is computed per token with the same kernels (matmul.h), attention per token
 * against its own slot. The model is shared and read-only. */
#ifndef EVALLUA_NATIVE_CPU_FORWARD_H
#define EVALLUA_NATIVE_CPU_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "native/model.h"

typedef struct cpu_state cpu_state;

/* A state for sequences of up to max_seq tokens, one token per step (cpu_state_new_batch
   with max_batch 1). The caller frees it with cpu_state_free. */
cpu_state *cpu_state_new(const model *m, int max_seq);
/* A state for up to max_seq tokens fed up to max_batch at a time (KV cache allocated now).
   Returns a state the caller frees with cpu_state_free. */
cpu_state *cpu_state_new_batch(const model *m, int max_seq, int max_batch);
/* A state with n_slots KV caches of max_seq tokens, fed up to max_batch tokens per step
   (cpu_forward_multi). Returns a state the caller frees with cpu_state_free. */
cpu_state *cpu_state_new_slots(const model *m, int max_seq, int max_batch, int n_slots);
/* 1 when states of model m keep their KV cache in F16, as llama.cpp does by default: models
   whose matrices multiply through 8-bit activations (quantized models) follow llama.cpp's
   arithmetic. 0 for float models (F32/F16/BF16 matrices), whose caches stay in float as in
   llama2.c. */
int cpu_kv_cache_f16(const model *m);
/* A callback handed intermediate tensors of the forward pass: `rows` rows (tokens) of
   `width` floats named as llama.cpp names them (attn_norm, Qcur after RoPE, kqv_out,
   ffn_out, l_out, ...), of layer `layer` (-1 for embd, result_norm, result_output). The data
   is valid during the call only. */
typedef void (*cpu_trace_fn)(void *user, const char *name, int layer, const float *data,
                             int rows, int width);
/* Have s call fn(user, ...) with its intermediate tensors on every step (NULL: stop). For
   comparing the forward pass against another implementation; costs nothing when unset. */
void cpu_state_set_trace(cpu_state *s, cpu_trace_fn fn, void *user);
/* Release a state (NULL is fine). */
void cpu_state_free(cpu_state *s);
/* Bytes a state for max_seq tokens and batches of max_batch takes. */
size_t cpu_state_bytes(const model *m, int max_seq, int max_batch);
/* Bytes a state of n_slots caches of max_seq tokens and batches of max_batch takes. */
size_t cpu_state_bytes_slots(const model *m, int max_seq, int max_batch, int n_slots);
/* Number of KV caches (slots) of s. */
int cpu_state_slots(const cpu_state *s);
/* Copy positions 0..n-1 of slot src's KV cache into slot dst (a shared prompt prefix). */
void cpu_state_copy_prefix(cpu_state *s, int dst, int src, int n);
/* Run token at position pos and return the n_vocab logits for the next token, owned by s
   and valid until the next call; NULL when token or pos is out of range. */
const float *cpu_forward(cpu_state *s, int32_t token, int pos);
/* Run n tokens (1 <= n <= max_batch) at positions pos .. pos+n-1 and return the logits of
   the last n_out of them (0 <= n_out <= n): n_out rows of n_vocab, owned by s and valid
   until the next call. NULL when a token, a position or n/n_out is out of range. Slot 0. */
const float *cpu_forward_batch(cpu_state *s, const int32_t *tokens, int n, int pos, int n_out);
/* One step over n tokens of any slots (1 <= n <= max_batch): tokens[i] goes to position
   pos[i] of slot slot[i], and sees that slot's positions 0..pos[i] (earlier positions must
   have been fed, in this step or before; no two tokens may share a slot and position).
   Returns the logits of the last n_out tokens as cpu_forward_batch does; NULL when a
   token, slot, position or n/n_out is out of range. */
const float *cpu_forward_multi(cpu_state *s, const int32_t *tokens, const int *slot,
                               const int *pos, int n, int n_out);

#endif
