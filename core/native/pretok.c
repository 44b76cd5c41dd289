/* pretok.c — pre-tokenizer splitting by hand over code points (see pretok.h). */
#include "native/pretok.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "native/unicode.h"
#include "util/buf.h"

#define F_VALID 8u   /* added to every in-range character's flags */

/* The text as code points, with classes and byte offsets (boff[n] = total bytes). */
typedef struct cpts {
    uint32_t *cp;
    unsigned char *fl;
    size_t *boff;
    size_t n;
} cpts;

/* One piece of the text being split: code points [lo, hi); words are emitted as code
   point ends into w, then converted to byte ends by the caller. */
typedef struct piece {
    const cpts *c;
    size_t lo, hi, prev;
    pretok_words *w;
} piece;

static const struct { const char *name; pretok_kind kind; } NAMES[] = {
    {"default", PRETOK_GPT2},     {"gpt-2", PRETOK_GPT2},         {"gpt2", PRETOK_GPT2},
    {"llama3", PRETOK_LLAMA3},    {"llama-v3", PRETOK_LLAMA3},    {"llama-bpe", PRETOK_LLAMA3},
    {"qwen2", PRETOK_QWEN2},      {"starcoder", PRETOK_STARCODER}, {"refact", PRETOK_STARCODER},
    {"smollm", PRETOK_STARCODER},
};

int pretok_from_name(const char *name, pretok_kind *kind)
{
    if (!name) name = "default";
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
        if (strcmp(name, NAMES[i].name) == 0) {
            *kind = NAMES[i].kind;
            return 0;
        }
    return -1;
}

const char *pretok_names(void)
{
    return "default, gpt-2, gpt2, llama3, llama-v3, llama-bpe, qwen2, starcoder, refact, smollm";
}

static void push_end(pretok_words *w, size_t end)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->end = xrealloc(w->end, w->cap * sizeof(size_t));
    }
    w->end[w->n++] = end;
}

void pretok_words_free(pretok_words *w)
{
    free(w->end);
    memset(w, 0, sizeof *w);
}

/* Classes and code points inside the piece; 0 / UINT32_MAX outside it. */
static unsigned fl_at(const piece *p, size_t i) { return i < p->hi ? p->c->fl[i] : 0; }
static uint32_t cp_at(const piece *p, size_t i) { return i < p->hi ? p->c->cp[i] : UINT32_MAX; }

/* End the current word at code point `end` (nothing when empty). */
static void emit(piece *p, size_t end)
{
    if (end > p->prev) push_end(p->w, end);
    p->prev = end;
}

static uint32_t ascii_lower(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* 's 't 're 've 'm 'll 'd at pos (case-insensitive when ci): length matched, or 0. */
static size_t contraction(const piece *p, size_t pos, int ci)
{
    if (cp_at(p, pos) != '\'' || pos + 1 >= p->hi) return 0;
    uint32_t a = cp_at(p, pos + 1), b = pos + 2 < p->hi ? cp_at(p, pos + 2) : 0;
    if (ci) { a = ascii_lower(a); b = ascii_lower(b); }
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* \s+(?!\S) and \s+ (and for llama-3 \s*[\r\n]+ first); returns the new position. */
static size_t whitespace_run(const piece *p, size_t pos, int crlf)
{
    size_t n = 0, last_crlf = 0;
    while (fl_at(p, pos + n) & UNI_SPACE) {
        uint32_t c = cp_at(p, pos + n);
        if (crlf && (c == '\r' || c == '\n')) last_crlf = pos + n + 1;
        n++;
    }
    if (last_crlf) return last_crlf;
    if (n > 1 && pos + n < p->hi) return pos + n - 1;
    return pos + (n ? n : 1);
}

static void split_gpt2(piece *p)
{
    const unsigned LN = UNI_LETTER | UNI_NUMBER, SLN = UNI_SPACE | LN;
    for (size_t pos = p->lo; pos < p->hi;) {
        size_t k = contraction(p, pos, 0);
        if (k) { pos += k; emit(p, pos); continue; }
        uint32_t c = cp_at(p, pos);
        unsigned f2 = c == ' ' ? fl_at(p, pos + 1) : fl_at(p, pos);
        unsigned cls = f2 & UNI_LETTER ? UNI_LETTER : f2 & UNI_NUMBER ? UNI_NUMBER : 0;
        if (cls) {                                   /*  ?\p{L}+  or  ?\p{N}+ */
            pos += (c == ' ');
            while (fl_at(p, pos) & cls) pos++;
            emit(p, pos);
            continue;
        }
        if (!(f2 & SLN) && (f2 & F_VALID)) {         /*  ?[^\s\p{L}\p{N}]+ */
            pos += (c == ' ');
            while (!(fl_at(p, pos) & SLN) && (fl_at(p, pos) & F_VALID)) pos++;
            emit(p, pos);
            continue;
        }
        pos = whitespace_run(p, pos, 0);
        emit(p, pos);
    }
}

static void split_llama3(piece *p, size_t max_digits)
{
    const unsigned SLN = UNI_SPACE | UNI_LETTER | UNI_NUMBER;
    for (size_t pos = p->lo; pos < p->hi;) {
        size_t k = contraction(p, pos, 1);
        if (k) { pos += k; emit(p, pos); continue; }
        uint32_t c = cp_at(p, pos);
        unsigned f = fl_at(p, pos);
        /* [^\r\n\p{L}\p{N}]?\p{L}+ */
        if (!(c == '\r' || c == '\n' || (f & UNI_NUMBER)) &&
            ((f & UNI_LETTER) || (fl_at(p, pos + 1) & UNI_LETTER))) {
            pos++;
            while (fl_at(p, pos) & UNI_LETTER) pos++;
            emit(p, pos);
            continue;
        }
        if (f & UNI_NUMBER) {                                           /* \p{N}{1,max} */
            size_t start = pos;
            while (fl_at(p, pos) & UNI_NUMBER) {
                if (++pos - start >= max_digits) { emit(p, pos); start = pos; }
            }
            emit(p, pos);
            continue;
        }
        unsigned f2 = c == ' ' ? fl_at(p, pos + 1) : f;
        if (!(f2 & SLN) && (f & F_VALID)) {                  /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
            pos += (c == ' ');
            while (!(fl_at(p, pos) & SLN) && (fl_at(p, pos) & F_VALID)) pos++;
            while (cp_at(p, pos) == '\r' || cp_at(p, pos) == '\n') pos++;
            emit(p, pos);
            continue;
        }
        pos = whitespace_run(p, pos, 1);
        emit(p, pos);
    }
}

static void split_piece(pretok_kind kind, const cpts *c, size_t lo, size_t hi,
                        pretok_words *w)
{
    piece p = {c, lo, hi, lo, w};
    if (kind == PRETOK_LLAMA3) split_llama3(&p, 3);
    else if (kind == PRETOK_QWEN2) split_llama3(&p, 1);
    else split_gpt2(&p);
}

static void decode_text(const char *text, size_t n, cpts *c)
{
    c->cp = xmalloc((n + 1) * sizeof(uint32_t));
    c->fl = xmalloc(n + 1);
    c->boff = xmalloc((n + 1) * sizeof(size_t));
    c->n = 0;
    for (size_t off = 0; off < n;) {
        uint32_t cp;
        int len = uni_decode(text + off, n - off, &cp);
        c->cp[c->n] = cp;
        c->fl[c->n] = (unsigned char)(uni_flags(cp) | F_VALID);
        c->boff[c->n++] = off;
        off += (size_t)len;
    }
    c->boff[c->n] = n;
}

void pretok_split(pretok_kind kind, const char *text, size_t n, pretok_words *out)
{
    cpts c;
    out->n = 0;
    decode_text(text, n, &c);
    if (kind == PRETOK_STARCODER) {     /* each number on its own, then gpt-2 between them */
        size_t lo = 0;
        for (size_t i = 0; i < c.n; i++) {
            if (!(c.fl[i] & UNI_NUMBER)) continue;
            if (i > lo) split_piece(kind, &c, lo, i, out);
            push_end(out, i + 1);
            lo = i + 1;
        }
        if (c.n > lo) split_piece(kind, &c, lo, c.n, out);
    } else {
        split_piece(kind, &c, 0, c.n, out);
    }
    for (size_t i = 0; i < out->n; i++) out->end[i] = c.boff[out->end[i]];
    free(c.cp);
    free(c.fl);
    free(c.boff);
}
