/* cuda_forward.h — the llama-family forward pass on an NVIDIA GPU (plain C interface).
 *
 * The CUDA counterpart of cpu/forward.h, over the same model (model.h). A cuda_state
 * holds the model's weights in device memory in their GGUF block formats (uploaded once),
 * an F16 KV cache of n_slots sequences ("slots") of up to max_seq positions each, and
 * scratch buffers for up to max_tokens tokens per pass.
 *
 * One pass (cuda_forward) runs a ragged batch: any tokens of any slots, each at its own
 * position, e.g. the suffixes of 64 multiple-choice items, or one new token of each of 32
 * sequences being decoded. A token at position p of slot s attends to positions 0..p of s,
 * whose K/V must already be cached or be written by the same pass. A slot can read its
 * first `len` positions from another slot (cuda_set_prefix, a reference: a shared context is
 * computed once and read by every continuation) or take a copy of them (cuda_copy_prefix:
 * generation, where the source slot moves on to another request).
 *
 * Passes of up to 32 tokens multiply the quantized weights directly (matrix-vector
 * kernels) and, when every token is scored, are replayed from CUDA graphs; larger passes
 * dequantize each weight to FP16 into a scratch buffer and multiply with cuBLAS (tensor
 * cores, FP32 accumulation). Results are log-softmax values and argmaxes of chosen rows, computed on the
 * device; full logits come back to the host only when asked for (sampling).
 *
 * Without a GPU, or in a build without CUDA (EVALLUA_HAVE_CUDA unset), nothing here is
 * compiled: callers check cuda_device_check first. */
#ifndef EVALLUA_NATIVE_CUDA_FORWARD_H
#define EVALLUA_NATIVE_CUDA_FORWARD_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "native/model.h"

typedef struct cuda_state cuda_state;

/* Most rows whose full logits one pass returns to the host. */
#define CUDA_HOST_LOGITS_MAX 64

/* Sizes of a state; 0 fields take defaults (cuda_state_new). */
typedef struct cuda_options {
    int max_seq;       /* positions per slot (required) */
    int n_slots;       /* sequences held at once; 0: as many as fit, at most 128 */
    int max_tokens;    /* tokens per pass (longer sequences take several); 0: 2048; at
                          most 16384 */
    int device;        /* CUDA device ordinal */
    int fp32_gemm;     /* 1: passes over 32 tokens multiply in FP32 (no tensor cores; twice
                          the weight scratch), for checking the FP16 path's rounding */
} cuda_options;

/* One pass. tokens/slots/pos have n entries; out_rows (n_out entries, each < n) picks the
   rows whose next-token distribution is wanted; targets (n_out, or NULL) the token whose
   log-probability to return for each. Outputs, each NULL when not wanted: logprobs and
   argmax (n_out), logits (n_out * n_vocab floats, n_out <= CUDA_HOST_LOGITS_MAX). */
typedef struct cuda_batch {
    int n;
    const int32_t *tokens, *slots, *pos;
    int n_out;
    const int32_t *out_rows, *targets;
    float *logprobs;
    int32_t *argmax;
    float *logits;
} cuda_batch;

/* 0 when a CUDA device can be used; -1 with err saying why (the CUDA runtime's answer to
   cudaGetDeviceCount, or no device). */
int cuda_device_check(char *err, size_t errlen);

/* Upload m's weights and allocate the cache and scratch buffers. Returns a state the caller
   frees with cuda_state_free, or NULL with err (unsupported shape, out of device memory
   with the sizes involved, or the failing CUDA call with file and line). */
cuda_state *cuda_state_new(const model *m, const cuda_options *opt, char *err, size_t errlen);
/* Release a state and its device memory (NULL is fine). */
void cuda_state_free(cuda_state *s);

/* Device bytes the state holds (weights, cache, scratch). */
size_t cuda_state_bytes(const cuda_state *s);
/* The state's slot count, positions per slot and tokens per pass. */
int cuda_state_slots(const cuda_state *s);
int cuda_state_max_seq(const cuda_state *s);
int cuda_state_max_tokens(const cuda_state *s);
/* "NAME (N GiB, sm_XY)" of the device in use (static to the state). */
const char *cuda_state_device_name(const cuda_state *s);

/* Slot `slot` reads its positions below len from slot src (len 0 or src == slot: its own
   cache). Takes effect from the next pass. Returns 0, or -1 when out of range. */
int cuda_set_prefix(cuda_state *s, int slot, int src, int len);

/* Copy positions 0..len-1 of slot src's K/V into slot dst, which reads its own cache from
   then on (its prefix redirection is cleared): unlike cuda_set_prefix, src may be
   overwritten afterwards. Ordered with the passes (asynchronous, on the state's stream).
   Returns 0, or -1 when out of range or when the copy could not start (cuda_state_error). */
int cuda_copy_prefix(cuda_state *s, int dst, int src, int len);

/* Run a pass (see cuda_batch). Returns 0, or -1 with err (a bad token, slot, position or
   row, named; or the failing CUDA call). */
int cuda_forward(cuda_state *s, const cuda_batch *b, char *err, size_t errlen);

/* cpu_forward_batch's contract on slot 0: run n tokens at positions pos..pos+n-1 (slot 0
   reads only its own cache) and return the logits of the last n_out (<= CUDA_HOST_LOGITS_MAX)
   of them, owned by s until the next call; NULL when out of range or when the device failed (the reason is
   in cuda_state_error). */
const float *cuda_forward_batch(cuda_state *s, const int32_t *tokens, int n, int pos,
                                int n_out);
/* The message of the last failed call on s ("" when none). */
const char *cuda_state_error(const cuda_state *s);

/* ---- loglikelihood scheduling (score.c) ---------------------------------------------- */

/* One scored sequence: toks[0..n) with toks[split..] scored (1 <= split < n), as the CPU
   backend's ll_item. The pass fills logprob (sum of log p(toks[i] | toks[..i]) for i >=
   split) and greedy (every scored token was the argmax). */
typedef struct cuda_seq {
    const int32_t *toks;
    size_t n, split;
    double logprob;
    int greedy;
} cuda_seq;

/* Counters of a cuda_score_sequences run. */
typedef struct cuda_score_stats {
    int64_t tokens_evaluated;   /* positions run through the model */
    int64_t tokens_reused;      /* positions read from a shared prefix instead */
    int64_t passes;
} cuda_score_stats;

/* Score seqs (best sorted so that sequences sharing a prefix are adjacent): consecutive
   sequences sharing a prefix form a group whose prefix runs once, then every member's rest
   runs in its own slot reading the prefix; groups are packed into passes of max_tokens.
   done(ud, i) is called as sequence i is scored; *stop (when not NULL) is polled between
   passes. Returns 0, -1 with err, or -2 when stopped. */
int cuda_score_sequences(cuda_state *s, cuda_seq *seqs, size_t n,
                         void (*done)(void *ud, size_t i), void *ud,
                         const volatile sig_atomic_t *stop, cuda_score_stats *stats, char *err,
                         size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
