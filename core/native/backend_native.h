/* backend_native.h — the "native" backend: GGUF models run in-process on the CPU.
 *
 * Serves the three request kinds of request.h the way lm-evaluation-harness's HF model does:
 *
 *   loglikelihood(context, continuation)
 *       Trailing whitespace of the context moves to the front of the continuation; then
 *       context_enc = encode(context) and continuation_enc = encode(context + continuation)
 *       minus its first len(context_enc) tokens (lm-eval's _encode_pair), both encoded with
 *       BOS when the vocabulary's add_bos says so and special tokens parsed. An empty context
 *       becomes [prefix] (BOS, or EOS when the vocabulary has no BOS) and the continuation is
 *       encoded on its own without special tokens. The forward pass runs over
 *       (context_enc + continuation_enc)[-(ctx+1):][:-1] — truncation from the left when the
 *       pair exceeds ctx, counted in native_info.truncated and flagged in the response's
 *       context_truncated; a continuation of ctx tokens or more fails the request. logprob sums log-softmax(logits)[token] over the continuation,
 *       is_greedy says each continuation token was the argmax (first index on ties).
 *   loglikelihood_rolling(text)
 *       lm-eval's get_rolling_token_windows(encode(text) without special tokens, prefix,
 *       max_seq_len=ctx, context_len=1) + make_disjoint_window; each window is scored as a
 *       loglikelihood pair and the logprobs are summed.
 *   generate(prompt, until, max_tokens, temperature, top_p, seed)
 *       The prompt is encoded with BOS per add_bos and special tokens parsed; messages_json,
 *       when set, is rendered with the model's chat template (chat_template.h) first (BOS is
 *       then added only when the rendered text does not start with it). max_tokens <= 0
 *       means 256, at most ctx-1; the prompt keeps its last ctx - max_tokens tokens
 *       (lm-eval's rule, counted as a truncation). temperature == 0 decodes greedily, else
 *       samples softmax(logits / temperature), restricted to the top_p nucleus when
 *       0 < top_p < 1, from a xorshift generator seeded with the request's seed (0 when
 *       unset) — the same request always gives the same text. Generation stops at an
 *       end-of-generation token (EOS/EOT, not part of the text), when the detokenized text
 *       contains an `until` string (the text is cut before it) or after max_tokens tokens
 *       (then `truncated` is set, finish_reason "length"). prompt_tokens / completion_tokens
 *       are filled. Up to `parallel` requests decode together: each has its own KV cache slot
 *       and every step runs one token of each through one forward pass (cpu_forward_multi);
 *       a finished request's slot takes the next prompt (continuous batching), starting from
 *       the longest prefix any slot holds. The texts are identical to parallel=1.
 *
 * Scheduling: requests are tokenized in parallel, then evaluated in lexicographic order of
 * their token sequences, each one reusing the KV cache of the longest prefix it shares with
 * the sequence evaluated before it — a multiple-choice question's context (and a few-shot
 * preamble shared across documents) runs through the model once. Results are bit-identical
 * to evaluating each request on its own. Responses land at their request's index.
 * Token sequences run through cpu_forward_batch `batch` tokens at a time (logits only for
 * the positions that are scored); weights multiply 8-bit-quantized activations as in
 * llama.cpp (cpu/matmul.h). Parallelism is inside the kernels (OpenMP, `threads` threads).
 * base.on_response, when set, is called as each response becomes final. backend_interrupted
 * stops the run within one forward step: unfinished responses fail with "interrupted" and
 * run() returns -1.
 *
 * Agreement with llama.cpp: same tokens; logprobs agree to llama.cpp's own spread on models
 * with massive activations (SmolLM2: llama.cpp's batched and one-token paths differ by up to
 * ~0.3 nats on single tokens, median 0.007; evallua vs llama.cpp: median ~0.05, sums within
 * 0.3%), because 8-bit activation rounding amplifies float-order differences. */
#ifndef EVALLUA_NATIVE_BACKEND_NATIVE_H
#define EVALLUA_NATIVE_BACKEND_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#include "request/request.h"

typedef struct native_config {
    const char *path;    /* the .gguf file (required) */
    int threads;         /* OpenMP threads for the kernels; <= 0: OpenMP's default */
    int ctx;             /* max sequence length (lm-eval's max_length); <= 0: the model's
                            context_length capped at 4096; larger values are capped at the
                            model's context_length */
    int batch;           /* tokens per prefill step; <= 0: 64 */
    int progress;        /* 1: progress meter on stderr (report/progress.h) */
    const char *label;   /* progress label; NULL: "native" */
    const char *device;  /* "cpu" (NULL too) or "cuda": weights, KV cache and kernels on the
                            GPU (native/cuda/cuda_forward.h); an error in a build without
                            CUDA or on a machine without a GPU */
    int parallel;        /* generate requests decoded together (one forward pass per token
                            step over all of them); <= 0: 8 */
    size_t mem_limit;    /* bytes the model and its KV cache may take; 0: physical memory,
                            or the cgroup's memory.max when lower */
} native_config;

/* Load-time and running facts for the results' throughput block. */
typedef struct native_info {
    char arch[32];              /* general.architecture */
    const char *chat_format;    /* chat_format_name of the model's template ("unknown") */
    int ctx;                    /* the sequence length in use */
    int threads;                /* threads the kernels use */
    double load_seconds;        /* model + tokenizer + state set-up */
    size_t model_bytes;         /* the mapped GGUF file */
    size_t state_bytes;         /* KV cache and activations */
    size_t peak_rss_bytes;      /* the process's peak resident memory so far */
    int64_t truncated;          /* requests cut from the left to fit ctx */
    int64_t tokens_evaluated;   /* positions run through the forward pass */
    int64_t tokens_reused;      /* positions answered from a shared prefix's KV cache */
    double prefill_seconds;     /* forward time for prompts/contexts/continuations */
    int64_t prefill_tokens;
    double decode_seconds;      /* forward time for generated tokens */
    int64_t decode_tokens;
} native_info;

/* Load the model and tokenizer of cfg->path (strings in cfg are copied). Returns a backend
   the caller frees with b->vt->destroy(b), or NULL with err naming the file and the problem
   (missing, not GGUF, unsupported architecture with the supported list, too big for
   memory with the size needed). One run() at a time per backend. */
backend *native_backend_new(const native_config *cfg, char *err, size_t errlen);

/* Fill *out for a backend made by native_backend_new; -1 for any other backend. */
int native_backend_info(const backend *b, native_info *out);

/* Render messages_json with the model's chat template (for --apply_chat_template).
   Returns a malloc'd prompt the caller frees, or NULL with err (unrecognised template,
   bad JSON, or b not native). */
char *native_backend_apply_chat(const backend *b, const char *messages_json, char *err,
                                size_t errlen);

#endif
