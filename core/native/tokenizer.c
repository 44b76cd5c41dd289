/* tokenizer.c — SentencePiece and byte-level BPE tokenizers from GGUF metadata. */
#include "native/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "native/unicode.h"

/* ---- a string -> int32 hash map over borrowed keys --------------------------------------- */

typedef struct strmap_slot {
    const char *key;     /* NULL: empty slot */
    size_t len;
    int32_t val;
} strmap_slot;

typedef struct strmap {
    strmap_slot *slots;
    size_t mask;
} strmap;

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static void strmap_init(strmap *m, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    m->slots = xcalloc(cap, sizeof(strmap_slot));
    m->mask = cap - 1;
}

static strmap_slot *strmap_find(const strmap *m, const char *k, size_t n)
{
    for (size_t i = hash_bytes(k, n) & m->mask;; i = (i + 1) & m->mask) {
        strmap_slot *s = &m->slots[i];
        if (!s->key || (s->len == n && memcmp(s->key, k, n) == 0)) return s;
    }
}

/* Insert; an existing key keeps its value unless overwrite is set. */
static void strmap_put(strmap *m, const char *k, size_t n, int32_t v, int overwrite)
{
    strmap_slot *s = strmap_find(m, k, n);
    if (s->key && !overwrite) return;
    s->key = k;
    s->len = n;
    s->val = v;
}

static int32_t strmap_get(const strmap *m, const char *k, size_t n)
{
    if (!m->slots) return -1;
    const strmap_slot *s = strmap_find(m, k, n);
    return s->key ? s->val : -1;
}

/* ---- the tokenizer --------------------------------------------------------------------- */

struct tokenizer {
    tok_config cfg;
    char **text;              /* n_vocab NUL-terminated entries, in text_arena */
    uint32_t *len;
    float *score;
    uint8_t *type;            /* tok_type */
    char *text_arena;
    strmap vocab;             /* entry -> id (the last of duplicates wins, as llama.cpp) */
    strmap merges;            /* BPE: "left right" -> rank (the first wins) */
    char *merge_arena;
    int ignore_merges;        /* llama-3: a word that is a whole token skips merging */
    int32_t byte_token[256];  /* the token for a raw byte (SPM <0xXX>, BPE its code point) */
    char byte_enc[256][2];    /* BPE: UTF-8 of each byte's GPT-2 code point */
    uint8_t byte_enc_len[256];
    int32_t *specials;        /* control / user-defined / unknown ids, longest text first */
    size_t n_specials;
};

void tok_ids_push(tok_ids *ids, int32_t id)
{
    if (ids->n == ids->cap) {
        ids->cap = ids->cap ? ids->cap * 2 : 64;
        ids->v = xrealloc(ids->v, ids->cap * sizeof(int32_t));
    }
    ids->v[ids->n++] = id;
}

void tok_ids_free(tok_ids *ids)
{
    free(ids->v);
    memset(ids, 0, sizeof *ids);
}

void tok_free(tokenizer *t)
{
    if (!t) return;
    free(t->text);
    free(t->len);
    free(t->score);
    free(t->type);
    free(t->text_arena);
    free(t->vocab.slots);
    free(t->merges.slots);
    free(t->merge_arena);
    free(t->specials);
    free(t);
}

const tok_config *tok_get_config(const tokenizer *t) { return &t->cfg; }

const char *tok_text(const tokenizer *t, int32_t id)
{
    return (id >= 0 && id < t->cfg.n_vocab) ? t->text[id] : "";
}

tok_type tok_token_type(const tokenizer *t, int32_t id)
{
    return (id >= 0 && id < t->cfg.n_vocab) ? (tok_type)t->type[id] : TOK_UNUSED;
}

int32_t tok_lookup(const tokenizer *t, const char *text, size_t n)
{
    return strmap_get(&t->vocab, text, n);
}

int tok_is_eog(const tokenizer *t, int32_t id)
{
    return id >= 0 && (id == t->cfg.eos || id == t->cfg.eot);
}

/* ---- loading ------------------------------------------------------------------------------ */

/* Copy n strings of a GGUF string array into one arena; entries get NUL terminators. */
static char *copy_strings(const gguf_array *a, char **ptrs, uint32_t *lens)
{
    size_t total = 0;
    for (uint64_t i = 0; i < a->n; i++) total += gguf_arr_str(a, i).len + 1;
    char *arena = xmalloc(total), *p = arena;
    for (uint64_t i = 0; i < a->n; i++) {
        gguf_str s = gguf_arr_str(a, i);
        memcpy(p, s.ptr, s.len);
        p[s.len] = '\0';
        if (ptrs) ptrs[i] = p;
        if (lens) lens[i] = (uint32_t)s.len;
        p += s.len + 1;
    }
    return arena;
}

/* A string array of exactly n entries (n = 0: any length), or an error. */
static int get_strings(const gguf_file *f, const char *key, uint64_t n, const gguf_array **a,
                       char *err, size_t errlen)
{
    int rc = gguf_get_arr(f, key, a, err, errlen);
    if (rc < 0) return -1;
    if (rc == 0) return errf(err, errlen, "%s: no %s in the file", f->path, key);
    if ((*a)->type != GGUF_VT_STRING)
        return errf(err, errlen, "%s: %s is an array of %s, expected strings", f->path, key,
                    gguf_vtype_name((*a)->type));
    if (n && (*a)->n != n)
        return errf(err, errlen, "%s: %s has %llu entries, the vocabulary %llu", f->path,
                    key, (unsigned long long)(*a)->n, (unsigned long long)n);
    return 0;
}

/* An optional numeric array of n entries; NULL when absent. */
static int get_numbers(const gguf_file *f, const char *key, uint64_t n, const gguf_array **a,
                       char *err, size_t errlen)
{
    int rc = gguf_get_arr(f, key, a, err, errlen);
    if (rc <= 0) {
        *a = NULL;
        return rc;
    }
    if ((*a)->type == GGUF_VT_STRING || (*a)->type == GGUF_VT_ARRAY || (*a)->n != n)
        return errf(err, errlen, "%s: %s must hold %llu numbers", f->path, key,
                    (unsigned long long)n);
    return 0;
}

static int load_vocab(tokenizer *t, const gguf_file *f, char *err, size_t errlen)
{
    const gguf_array *tokens, *scores, *types;
    if (get_strings(f, "tokenizer.ggml.tokens", 0, &tokens, err, errlen) < 0) return -1;
    if (tokens->n == 0 || tokens->n > INT32_MAX)
        return errf(err, errlen, "%s: tokenizer.ggml.tokens has %llu entries", f->path,
                    (unsigned long long)tokens->n);
    int32_t n = (int32_t)tokens->n;
    if (get_numbers(f, "tokenizer.ggml.scores", tokens->n, &scores, err, errlen) < 0 ||
        get_numbers(f, "tokenizer.ggml.token_type", tokens->n, &types, err, errlen) < 0)
        return -1;
    t->cfg.n_vocab = n;
    t->text = xmalloc((size_t)n * sizeof(char *));
    t->len = xmalloc((size_t)n * sizeof(uint32_t));
    t->score = xmalloc((size_t)n * sizeof(float));
    t->type = xmalloc((size_t)n);
    t->text_arena = copy_strings(tokens, t->text, t->len);
    strmap_init(&t->vocab, (size_t)n);
    for (int32_t i = 0; i < n; i++) {
        t->score[i] = scores ? (float)gguf_arr_float(scores, (uint64_t)i) : 0.0f;
        int64_t ty = types ? gguf_arr_int(types, (uint64_t)i) : TOK_NORMAL;
        t->type[i] = (uint8_t)(ty >= TOK_NORMAL && ty <= TOK_BYTE ? ty : TOK_NORMAL);
        strmap_put(&t->vocab, t->text[i], t->len[i], i, 1);
    }
    return 0;
}

static int load_merges(tokenizer *t, const gguf_file *f, char *err, size_t errlen)
{
    const gguf_array *m;
    if (get_strings(f, "tokenizer.ggml.merges", 0, &m, err, errlen) < 0) return -1;
    char **ptrs = xmalloc((m->n ? m->n : 1) * sizeof(char *));
    uint32_t *lens = xmalloc((m->n ? m->n : 1) * sizeof(uint32_t));
    t->merge_arena = copy_strings(m, ptrs, lens);
    strmap_init(&t->merges, m->n);
    for (uint64_t i = 0; i < m->n && i < INT32_MAX; i++)
        strmap_put(&t->merges, ptrs[i], lens[i], (int32_t)i, 0);
    free(ptrs);
    free(lens);
    return 0;
}

/* A special-token id key; ids outside the vocabulary (e.g. 0xFFFFFFFF for "none") and
   absent keys with an out-of-range default become -1. */
static int read_id(const tokenizer *t, const gguf_file *f, const char *key, int32_t *id,
                   char *err, size_t errlen)
{
    uint32_t v;
    int rc = gguf_get_u32(f, key, &v, err, errlen);
    if (rc < 0) return -1;
    if (rc == 1) *id = v < (uint32_t)t->cfg.n_vocab ? (int32_t)v : -1;
    else if (*id >= t->cfg.n_vocab) *id = -1;
    return 0;
}

static int read_flags(tokenizer *t, const gguf_file *f, char *err, size_t errlen)
{
    tok_config *c = &t->cfg;
    if (read_id(t, f, "tokenizer.ggml.bos_token_id", &c->bos, err, errlen) < 0 ||
        read_id(t, f, "tokenizer.ggml.eos_token_id", &c->eos, err, errlen) < 0 ||
        read_id(t, f, "tokenizer.ggml.eot_token_id", &c->eot, err, errlen) < 0 ||
        read_id(t, f, "tokenizer.ggml.unknown_token_id", &c->unk, err, errlen) < 0 ||
        read_id(t, f, "tokenizer.ggml.padding_token_id", &c->pad, err, errlen) < 0 ||
        gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &c->add_bos, err, errlen) < 0 ||
        gguf_get_bool(f, "tokenizer.ggml.add_eos_token", &c->add_eos, err, errlen) < 0 ||
        gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &c->add_space_prefix, err,
                      errlen) < 0)
        return -1;
    static const char *const eot_names[] = {"<|eot_id|>", "<|im_end|>", "<end_of_turn>",
                                            "<|end|>"};
    for (size_t i = 0; c->eot < 0 && i < sizeof eot_names / sizeof eot_names[0]; i++) {
        int32_t id = tok_lookup(t, eot_names[i], strlen(eot_names[i]));
        if (id >= 0 && t->type[id] == TOK_CONTROL) c->eot = id;
    }
    if (c->add_bos && c->bos < 0) c->add_bos = 0;
    if (c->add_eos && c->eos < 0) c->add_eos = 0;
    return 0;
}

/* Defaults by kind (llama.cpp's); the GGUF keys read afterwards override them. */
static int read_kind(tokenizer *t, const gguf_file *f, char *err, size_t errlen)
{
    const char *model = NULL, *pre = NULL;
    tok_config *c = &t->cfg;
    if (gguf_get_str(f, "tokenizer.ggml.model", &model, err, errlen) < 0) return -1;
    if (!model) return errf(err, errlen, "%s: no tokenizer (tokenizer.ggml.model)", f->path);
    c->bos = c->eos = c->eot = c->unk = c->pad = -1;
    if (strcmp(model, "llama") == 0) {
        c->kind = TOK_SPM;
        c->bos = 1; c->eos = 2; c->unk = 0;
        c->add_bos = 1;
        c->add_space_prefix = 1;
        return 0;
    }
    if (strcmp(model, "gpt2") != 0)
        return errf(err, errlen, "%s: unsupported tokenizer model '%s' (supported: llama, "
                    "gpt2)", f->path, model);
    c->kind = TOK_BPE;
    if (gguf_get_str(f, "tokenizer.ggml.pre", &pre, err, errlen) < 0) return -1;
    if (pretok_from_name(pre, &c->pre) < 0)
        return errf(err, errlen, "%s: unsupported pre-tokenizer '%s' (tokenizer.ggml.pre; "
                    "supported: %s)", f->path, pre, pretok_names());
    c->add_bos = c->pre == PRETOK_LLAMA3;
    t->ignore_merges = c->pre == PRETOK_LLAMA3;
    return 0;
}

static void build_byte_tables(tokenizer *t)
{
    for (int b = 0; b < 256; b++) {
        char name[8];
        if (t->cfg.kind == TOK_SPM) {
            snprintf(name, sizeof name, "<0x%02X>", b);
            t->byte_token[b] = tok_lookup(t, name, 6);
            char c = (char)b;   /* else the byte itself as a one-character entry */
            if (t->byte_token[b] < 0 && b < 0x80) t->byte_token[b] = tok_lookup(t, &c, 1);
            continue;
        }
        char enc[4];
        int n = uni_encode(uni_byte_to_cp((uint8_t)b), enc);   /* 1 or 2 bytes */
        memcpy(t->byte_enc[b], enc, 2);
        t->byte_enc_len[b] = (uint8_t)n;
        t->byte_token[b] = tok_lookup(t, enc, (size_t)n);
    }
}

typedef struct special_len {
    uint32_t len;
    int32_t id;
} special_len;

static int longest_first(const void *a, const void *b)
{
    const special_len *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static void collect_specials(tokenizer *t)
{
    special_len *sl = xmalloc((size_t)t->cfg.n_vocab * sizeof(special_len));
    size_t n = 0;
    for (int32_t i = 0; i < t->cfg.n_vocab; i++) {
        int ty = t->type[i];
        if ((ty == TOK_CONTROL || ty == TOK_USER_DEFINED || ty == TOK_UNKNOWN) && t->len[i])
            sl[n++] = (special_len){t->len[i], i};
    }
    qsort(sl, n, sizeof(special_len), longest_first);
    t->specials = xmalloc((n ? n : 1) * sizeof(int32_t));
    for (size_t i = 0; i < n; i++) t->specials[i] = sl[i].id;
    t->n_specials = n;
    free(sl);
}

tokenizer *tok_load(const gguf_file *f, char *err, size_t errlen)
{
    tokenizer *t = xcalloc(1, sizeof *t);
    if (read_kind(t, f, err, errlen) < 0 || load_vocab(t, f, err, errlen) < 0 ||
        (t->cfg.kind == TOK_BPE && load_merges(t, f, err, errlen) < 0)) {
        tok_free(t);
        return NULL;
    }
    if (read_flags(t, f, err, errlen) < 0) {
        tok_free(t);
        return NULL;
    }
    build_byte_tables(t);
    collect_specials(t);
    return t;
}

/* ---- merging: the symbol chain and priority queue both tokenizers use ------------------ */

typedef struct sym {
    size_t start, n;   /* bytes of the working text; n = 0 once merged away */
    int prev, next;
} sym;

typedef struct bigram {
    double prio;       /* SPM: the merged token's score; BPE: -rank. Higher goes first. */
    int left, right;
    size_t size;
} bigram;

typedef struct merge_run {
    const tokenizer *t;
    const char *text;  /* SPM: escaped text; BPE: the byte-encoded word */
    sym *syms;
    int n, cap;
    bigram *heap;
    size_t heap_n, heap_cap;
    buf key;           /* BPE merge key "left right" */
} merge_run;

static int bigram_before(const bigram *a, const bigram *b)
{
    return a->prio > b->prio || (a->prio == b->prio && a->left < b->left);
}

static void heap_push(merge_run *r, bigram b)
{
    if (r->heap_n == r->heap_cap) {
        r->heap_cap = r->heap_cap ? r->heap_cap * 2 : 64;
        r->heap = xrealloc(r->heap, r->heap_cap * sizeof(bigram));
    }
    size_t i = r->heap_n++;
    while (i > 0 && bigram_before(&b, &r->heap[(i - 1) / 2])) {
        r->heap[i] = r->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    r->heap[i] = b;
}

static bigram heap_pop(merge_run *r)
{
    bigram top = r->heap[0], last = r->heap[--r->heap_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= r->heap_n) break;
        if (c + 1 < r->heap_n && bigram_before(&r->heap[c + 1], &r->heap[c])) c++;
        if (!bigram_before(&r->heap[c], &last)) break;
        r->heap[i] = r->heap[c];
        i = c;
    }
    if (r->heap_n) r->heap[i] = last;
    return top;
}

/* Split the working text into UTF-8 characters, one symbol each. */
static void make_symbols(merge_run *r, size_t len)
{
    r->n = 0;
    r->heap_n = 0;
    for (size_t off = 0; off < len;) {
        size_t n = (size_t)uni_seq_len((unsigned char)r->text[off]);
        if (n > len - off) n = len - off;
        if (r->n == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 64;
            r->syms = xrealloc(r->syms, (size_t)r->cap * sizeof(sym));
        }
        r->syms[r->n] = (sym){off, n, r->n - 1, off + n < len ? r->n + 1 : -1};
        r->n++;
        off += n;
    }
}

static void try_pair(merge_run *r, int left, int right)
{
    if (left < 0 || right < 0) return;
    const tokenizer *t = r->t;
    const sym *a = &r->syms[left], *b = &r->syms[right];
    double prio;
    if (t->cfg.kind == TOK_SPM) {
        int32_t id = strmap_get(&t->vocab, r->text + a->start, a->n + b->n);
        if (id < 0) return;
        prio = t->score[id];
    } else {
        buf_clear(&r->key);
        buf_append(&r->key, r->text + a->start, a->n);
        buf_putc(&r->key, ' ');
        buf_append(&r->key, r->text + b->start, b->n);
        int32_t rank = strmap_get(&t->merges, r->key.data, r->key.len);
        if (rank < 0) return;
        prio = -(double)rank;
    }
    heap_push(r, (bigram){prio, left, right, a->n + b->n});
}

static void merge_all(merge_run *r)
{
    for (int i = 1; i < r->n; i++) try_pair(r, i - 1, i);
    while (r->heap_n) {
        bigram b = heap_pop(r);
        sym *l = &r->syms[b.left], *rt = &r->syms[b.right];
        if (!l->n || !rt->n || l->next != b.right || l->n + rt->n != b.size) continue;
        l->n += rt->n;
        rt->n = 0;
        l->next = rt->next;
        if (rt->next >= 0) r->syms[rt->next].prev = b.left;
        try_pair(r, l->prev, b.left);
        try_pair(r, b.left, l->next);
    }
}

/* Output the merged symbols; one that is not a token falls back to byte tokens. */
static void emit_symbols(merge_run *r, tok_ids *out)
{
    const tokenizer *t = r->t;
    for (int i = r->n ? 0 : -1; i >= 0; i = r->syms[i].next) {
        const sym *s = &r->syms[i];
        const char *p = r->text + s->start;
        int32_t id = strmap_get(&t->vocab, p, s->n);
        if (id >= 0) {
            tok_ids_push(out, id);
            continue;
        }
        for (size_t k = 0; k < s->n;) {
            uint32_t cp;
            int b = (unsigned char)p[k];
            int len = 1;
            if (t->cfg.kind == TOK_BPE) {   /* back from GPT-2 code points to bytes */
                len = uni_decode(p + k, s->n - k, &cp);
                b = uni_cp_to_byte(cp);
            }
            int32_t bt = b >= 0 ? t->byte_token[b] : -1;
            if (bt >= 0 || t->cfg.unk >= 0) tok_ids_push(out, bt >= 0 ? bt : t->cfg.unk);
            k += (size_t)len;
        }
    }
}

static void merge_run_free(merge_run *r)
{
    free(r->syms);
    free(r->heap);
    buf_free(&r->key);
}

/* ---- encoding ------------------------------------------------------------------------------ */

static void encode_spm(const tokenizer *t, const char *text, size_t n, int space_prefix,
                       tok_ids *out)
{
    buf esc = {0};
    if (space_prefix) buf_puts(&esc, "\xE2\x96\x81");
    for (size_t i = 0; i < n; i++) {
        if (text[i] == ' ') buf_puts(&esc, "\xE2\x96\x81");
        else buf_putc(&esc, text[i]);
    }
    merge_run r = {.t = t, .text = buf_str(&esc)};
    make_symbols(&r, esc.len);
    merge_all(&r);
    emit_symbols(&r, out);
    merge_run_free(&r);
    buf_free(&esc);
}

static void encode_bpe(const tokenizer *t, const char *text, size_t n, tok_ids *out)
{
    pretok_words w = {0};
    buf enc = {0};
    merge_run r = {.t = t};
    pretok_split(t->cfg.pre, text, n, &w);
    for (size_t i = 0, start = 0; i < w.n; start = w.end[i++]) {
        buf_clear(&enc);
        for (size_t k = start; k < w.end[i]; k++) {
            unsigned char b = (unsigned char)text[k];
            buf_append(&enc, t->byte_enc[b], t->byte_enc_len[b]);
        }
        int32_t whole = t->ignore_merges ? tok_lookup(t, buf_str(&enc), enc.len) : -1;
        if (whole >= 0) {
            tok_ids_push(out, whole);
            continue;
        }
        r.text = buf_str(&enc);
        make_symbols(&r, enc.len);
        merge_all(&r);
        emit_symbols(&r, out);
    }
    merge_run_free(&r);
    buf_free(&enc);
    pretok_words_free(&w);
}

/* A piece of the input: raw text (id < 0) or a special token matched verbatim. */
typedef struct frag {
    int32_t id;
    size_t off, len;
} frag;

typedef struct frags {
    frag *v;
    size_t n, cap;
} frags;

static void frag_push(frags *f, int32_t id, size_t off, size_t len)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 16;
        f->v = xrealloc(f->v, f->cap * sizeof(frag));
    }
    f->v[f->n++] = (frag){id, off, len};
}

/* The first occurrence of needle (nl > 0 bytes) in hay, or NULL (memmem is not C11). */
static const char *find_bytes(const char *hay, size_t hl, const char *needle, size_t nl)
{
    for (const char *end = hay + hl; (size_t)(end - hay) >= nl; hay++) {
        hay = memchr(hay, needle[0], (size_t)(end - hay) - nl + 1);
        if (!hay) return NULL;
        if (memcmp(hay, needle, nl) == 0) return hay;
    }
    return NULL;
}

/* Cut every occurrence of special token id out of the raw fragments of `in`. */
static void split_on_special(const tokenizer *t, int32_t id, const char *text,
                             const frags *in, frags *out)
{
    const char *st = t->text[id];
    size_t sl = t->len[id];
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        frag f = in->v[i];
        size_t pos = f.off, end = f.off + f.len;
        if (f.id >= 0) {
            frag_push(out, f.id, f.off, f.len);
            continue;
        }
        const char *hit;
        while (pos < end && (hit = find_bytes(text + pos, end - pos, st, sl))) {
            size_t at = (size_t)(hit - text);
            if (at > pos) frag_push(out, -1, pos, at - pos);
            frag_push(out, id, at, sl);
            pos = at + sl;
        }
        if (pos < end) frag_push(out, -1, pos, end - pos);
    }
}

static void partition(const tokenizer *t, const char *text, size_t n, int parse_special,
                      frags *out)
{
    frags tmp = {0};
    out->n = 0;
    frag_push(out, -1, 0, n);
    for (size_t s = 0; s < t->n_specials; s++) {
        int32_t id = t->specials[s];
        if (!parse_special && t->type[id] != TOK_USER_DEFINED) continue;
        split_on_special(t, id, text, out, &tmp);
        frags swap = *out;
        *out = tmp;
        tmp = swap;
    }
    free(tmp.v);
}

void tok_encode(const tokenizer *t, const char *text, size_t n, int add_special,
                int parse_special, tok_ids *out)
{
    if (add_special && t->cfg.add_bos) tok_ids_push(out, t->cfg.bos);
    if (n) {
        frags fr = {0};
        partition(t, text, n, parse_special, &fr);
        int after_special = 1;   /* SPM: the text start counts as following a special */
        for (size_t i = 0; i < fr.n; i++) {
            const frag *f = &fr.v[i];
            if (f->id >= 0) {
                tok_ids_push(out, f->id);
                after_special = 1;
                continue;
            }
            if (t->cfg.kind == TOK_SPM)
                encode_spm(t, text + f->off, f->len, after_special && t->cfg.add_space_prefix,
                           out);
            else
                encode_bpe(t, text + f->off, f->len, out);
            after_special = 0;
        }
        free(fr.v);
    }
    if (add_special && t->cfg.add_eos) tok_ids_push(out, t->cfg.eos);
}

/* ---- decoding ------------------------------------------------------------------------------ */

static void piece_normal(const tokenizer *t, const char *s, size_t n, buf *out)
{
    for (size_t i = 0; i < n;) {
        if (t->cfg.kind == TOK_SPM) {           /* U+2581 -> space */
            if (n - i >= 3 && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
                buf_putc(out, ' ');
                i += 3;
            } else {
                buf_putc(out, s[i++]);
            }
            continue;
        }
        uint32_t cp;                            /* GPT-2 code point -> byte */
        int len = uni_decode(s + i, n - i, &cp);
        int b = uni_cp_to_byte(cp);
        if (b >= 0) buf_putc(out, (char)b);
        else buf_append(out, s + i, (size_t)len);
        i += (size_t)len;
    }
}

void tok_piece(const tokenizer *t, int32_t id, int special, buf *out)
{
    if (id < 0 || id >= t->cfg.n_vocab) return;
    const char *s = t->text[id];
    size_t n = t->len[id];
    unsigned v;
    switch ((tok_type)t->type[id]) {
    case TOK_CONTROL:
    case TOK_UNKNOWN:
        if (special) buf_append(out, s, n);
        break;
    case TOK_USER_DEFINED: buf_append(out, s, n); break;
    case TOK_UNUSED: break;
    case TOK_BYTE:
        if (n == 6 && sscanf(s, "<0x%2x>", &v) == 1) buf_putc(out, (char)v);
        break;
    case TOK_NORMAL: piece_normal(t, s, n, out); break;
    }
}

char *tok_decode(const tokenizer *t, const int32_t *ids, size_t n, int special)
{
    buf out = {0};
    int strip = t->cfg.kind == TOK_SPM && t->cfg.add_space_prefix;
    for (size_t i = 0; i < n; i++) {
        size_t before = out.len;
        tok_piece(t, ids[i], special, &out);
        if (strip && out.len > before) {        /* the first visible piece only */
            if (out.data[before] == ' ' && t->type[ids[i]] == TOK_NORMAL) {
                memmove(out.data + before, out.data + before + 1, out.len - before);
                out.len--;
            }
            strip = 0;
        }
    }
    return buf_steal(&out);
}
