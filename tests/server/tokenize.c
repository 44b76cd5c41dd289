/* tokenize.c — the fake server's deterministic tokenizer and log-probability rule.
 * README.md ("Tokenizer") is the specification; keep the two in step. */
#include "fake_openai.h"

#include "util/buf.h"

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Bytes of the code point starting at s (n > 0 bytes available). A lead byte 0xC0-0xDF
 * wants 2 bytes, 0xE0-0xEF 3, 0xF0-0xFF 4; only continuation bytes (0x80-0xBF) are taken,
 * so malformed input still advances by at least one byte. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    size_t k = 1;
    while (k < want && k < n && (s[k] & 0xC0) == 0x80) k++;
    return k;
}

/* End (exclusive) of the token starting at byte i. */
static size_t token_end(const unsigned char *s, size_t n, size_t i)
{
    while (i < n && is_space(s[i])) i++;
    if (i == n) return n; /* trailing whitespace is a token of its own */
    if (is_alnum(s[i])) {
        while (i < n && is_alnum(s[i])) i++;
        return i;
    }
    if (s[i] >= 0x80) return i + utf8_len(s + i, n - i);
    return i + 1;
}

size_t fo_tokenize(const char *s, size_t n, fo_token **out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t cap = 16, count = 0;
    fo_token *toks = xmalloc(cap * sizeof *toks);
    for (size_t i = 0; i < n;) {
        size_t end = token_end(u, n, i);
        if (count == cap) {
            cap *= 2;
            toks = xrealloc(toks, cap * sizeof *toks);
        }
        toks[count].off = i;
        toks[count].len = end - i;
        count++;
        i = end;
    }
    *out = toks;
    return count;
}

size_t fo_token_count(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t count = 0;
    for (size_t i = 0; i < n; i = token_end(u, n, i)) count++;
    return count;
}

uint32_t fo_fnv1a32(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

double fo_token_lp(const char *s, size_t n)
{
    return -(1.0 + (double)(fo_fnv1a32(s, n) % 1000u)) / 200.0;
}

int fo_token_greedy(const char *s, size_t n)
{
    return fo_fnv1a32(s, n) % 4u != 0;
}

size_t fo_codepoints(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t count = 0;
    for (size_t i = 0; i < n; count++)
        i += u[i] < 0x80 ? 1 : utf8_len(u + i, n - i);
    return count;
}
