/* forward.h — the llama-family forward pass on the CPU, one token at a time.
 *
 * A cpu_state holds one sequence: its activations and KV cache for up to max_seq
 * positions. Feed tokens at positions 0, 1, 2, ... (re-feeding position p overwrites the
 * cache from p on, so a sequence can be rewound). The model is shared and read-only; use
 * one state per sequence. */
#ifndef EVALLUA_NATIVE_CPU_FORWARD_H
#define EVALLUA_NATIVE_CPU_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "native/model.h"

typedef struct cpu_state cpu_state;

/* A state for sequences of up to max_seq tokens (its KV cache is allocated now).
   Returns a state the caller frees with cpu_state_free. */
cpu_state *cpu_state_new(const model *m, int max_seq);
/* Release a state (NULL is fine). */
void cpu_state_free(cpu_state *s);
/* Bytes a state for max_seq tokens takes (to report or check before allocating). */
size_t cpu_state_bytes(const model *m, int max_seq);
/* Run token at position pos and return the n_vocab logits for the next token, owned by s
   and valid until the next call; NULL when token or pos is out of range. */
const float *cpu_forward(cpu_state *s, int32_t token, int pos);

#endif
