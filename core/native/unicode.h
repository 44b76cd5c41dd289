/* unicode.h — the little Unicode a tokenizer needs: UTF-8 decoding/encoding, the
 * letter / number / whitespace classes the pre-tokenizer regexes use, and GPT-2's
 * byte-to-unicode mapping.
 *
 * Coverage: \p{L} (Lu Ll Lt Lm Lo) and \p{N} (Nd Nl No) come from a range table generated
 * from Unicode 14.0 (Python's unicodedata); whitespace is the White_Space property (the
 * set llama.cpp uses). Unassigned code points count as "other", like punctuation. */
#ifndef EVALLUA_NATIVE_UNICODE_H
#define EVALLUA_NATIVE_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum {
    UNI_LETTER = 1,   /* \p{L} */
    UNI_NUMBER = 2,   /* \p{N} */
    UNI_SPACE = 4     /* \s */
};

/* A byte that is not valid UTF-8 decodes to UNI_INVALID_BASE + the byte value. */
#define UNI_INVALID_BASE 0x110000u

/* Decode the UTF-8 sequence at s (n > 0 bytes left) into *cp; returns its length in bytes
   (1-4). An invalid or truncated sequence yields one byte and UNI_INVALID_BASE + byte. */
int uni_decode(const char *s, size_t n, uint32_t *cp);
/* Encode cp (< 0x110000) as UTF-8 into out; returns the length (1-4). */
int uni_encode(uint32_t cp, char out[4]);
/* Length of the UTF-8 sequence that starts with byte c, judged by that byte alone (1-4). */
int uni_seq_len(unsigned char c);
/* UNI_LETTER / UNI_NUMBER / UNI_SPACE bits of cp (0 for everything else). */
unsigned uni_flags(uint32_t cp);
/* GPT-2 byte-level BPE: the code point that stands for byte b. */
uint32_t uni_byte_to_cp(uint8_t b);
/* The inverse: the byte code point cp stands for, or -1 when cp is not in the mapping. */
int uni_cp_to_byte(uint32_t cp);

#endif
