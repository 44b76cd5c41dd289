/* pretok.h — the pre-tokenizers of byte-level BPE vocabularies: split text into the words
 * BPE then merges within, exactly as llama.cpp's hand-written versions of these regexes:
 *
 *   gpt-2     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   llama-3   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}
 *             | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   qwen2     as llama-3 with \p{N} (digits one at a time)
 *   starcoder every \p{N} split off singly first, then gpt-2 within each piece
 *             (also refact and smollm)
 *
 * Character classes come from unicode.h. Invalid UTF-8 bytes stay single "other"
 * characters, so the words always cover the input bytes exactly. */
#ifndef EVALLUA_NATIVE_PRETOK_H
#define EVALLUA_NATIVE_PRETOK_H

#include <stddef.h>

typedef enum pretok_kind {
    PRETOK_GPT2,
    PRETOK_LLAMA3,
    PRETOK_QWEN2,
    PRETOK_STARCODER
} pretok_kind;

/* Word boundaries: word i is bytes [i ? end[i-1] : 0, end[i]) of the text. */
typedef struct pretok_words {
    size_t *end;
    size_t n, cap;
} pretok_words;

/* The kind for a tokenizer.ggml.pre value; returns 0, or -1 when the name is unknown.
   NULL and "default" mean gpt-2. */
int pretok_from_name(const char *name, pretok_kind *kind);
/* Comma-separated names pretok_from_name accepts (static string, for error messages). */
const char *pretok_names(void);
/* Split n bytes of text into words, replacing the contents of *out. */
void pretok_split(pretok_kind kind, const char *text, size_t n, pretok_words *out);
/* Free the boundary array. */
void pretok_words_free(pretok_words *w);

#endif
