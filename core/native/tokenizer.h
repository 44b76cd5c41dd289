/* tokenizer.h — text <-> token ids from a GGUF file's tokenizer.ggml.* metadata.
 *
 * Two vocabulary kinds, matching llama.cpp's behaviour token for token:
 *   TOK_SPM  ("llama")  SentencePiece: spaces become U+2581, a space is prefixed to the
 *            text (add_space_prefix), pieces merge by score, unknown bytes fall back to
 *            <0xXX> tokens.
 *   TOK_BPE  ("gpt2")   byte-level BPE: a pre-tokenizer (pretok.h, from
 *            tokenizer.ggml.pre) splits the text into words; each word's bytes map to
 *            GPT-2's printable code points and merge by rank (tokenizer.ggml.merges).
 * Special tokens (control, user-defined) in the text are matched verbatim before either
 * runs: user-defined ones always, control ones only when parse_special is set.
 *
 * A tokenizer copies what it needs: the gguf_file may be closed afterwards. It is
 * read-only after tok_load, so threads may share one. */
#ifndef EVALLUA_NATIVE_TOKENIZER_H
#define EVALLUA_NATIVE_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "native/gguf.h"
#include "native/pretok.h"
#include "util/buf.h"

typedef enum tok_kind { TOK_SPM = 1, TOK_BPE = 2 } tok_kind;

/* tokenizer.ggml.token_type values. */
typedef enum tok_type {
    TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_USER_DEFINED = 4,
    TOK_UNUSED = 5, TOK_BYTE = 6
} tok_type;

/* What a caller may need to know about the vocabulary; ids are -1 when absent. */
typedef struct tok_config {
    tok_kind kind;
    pretok_kind pre;         /* TOK_BPE only */
    int32_t n_vocab;
    int32_t bos, eos, eot, unk, pad;
    int add_bos, add_eos;    /* what add_special adds */
    int add_space_prefix;    /* TOK_SPM */
} tok_config;

typedef struct tokenizer tokenizer;

/* A growable array of token ids; zero-initialise, release with tok_ids_free. */
typedef struct tok_ids {
    int32_t *v;
    size_t n, cap;
} tok_ids;

/* Build the tokenizer of f. Returns one the caller frees with tok_free, or NULL with err
   naming the file and the missing or bad key. */
tokenizer *tok_load(const gguf_file *f, char *err, size_t errlen);
/* Release a tokenizer (NULL is fine). */
void tok_free(tokenizer *t);
/* Vocabulary facts; owned by t. */
const tok_config *tok_get_config(const tokenizer *t);

/* Append the ids of n bytes of text to out. add_special: BOS/EOS as the vocabulary asks
   (add_bos/add_eos). parse_special: control tokens written in the text become their ids. */
void tok_encode(const tokenizer *t, const char *text, size_t n, int add_special,
                int parse_special, tok_ids *out);
/* Append the text of token id to out (control tokens only when special is set). */
void tok_piece(const tokenizer *t, int32_t id, int special, buf *out);
/* The text of n ids as a malloc'd string the caller frees; like SentencePiece, an SPM
   vocabulary's leading space (the one add_space_prefix put there) is dropped. */
char *tok_decode(const tokenizer *t, const int32_t *ids, size_t n, int special);
/* The raw vocabulary entry of id (as stored, NUL-terminated; "" when out of range). */
const char *tok_text(const tokenizer *t, int32_t id);
/* The tok_type of id (TOK_UNUSED when out of range). */
tok_type tok_token_type(const tokenizer *t, int32_t id);
/* The id of a vocabulary entry spelled exactly as stored, or -1. */
int32_t tok_lookup(const tokenizer *t, const char *text, size_t n);
/* 1 when id ends generation (eos, eot), else 0. */
int tok_is_eog(const tokenizer *t, int32_t id);

/* Append one id. */
void tok_ids_push(tok_ids *ids, int32_t id);
/* Release the array; *ids is empty and reusable afterwards. */
void tok_ids_free(tok_ids *ids);

#endif
