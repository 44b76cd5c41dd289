/* test_tokenizer.c — the tokenizers against llama.cpp's vocabulary tests
 * (ggml-vocab-*.gguf with .inp/.out: each case is the text between separator lines, the
 * newline before a separator not included; .out has one line of expected ids per case),
 * decoding round trips, special tokens, and the pre-tokenizers on hand-made strings. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "native/pretok.h"
#include "native/tokenizer.h"
#include "util/buf.h"

#define SEP "\n__ggml_vocab_test__\n"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(&b, chunk, n);
    fclose(f);
    *len = b.len;
    return buf_steal(&b);
}

/* Print s with control and non-ASCII bytes escaped, for failure reports. */
static void print_escaped(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", stderr);
        else if (c == '\t') fputs("\\t", stderr);
        else if (c < 0x20 || c >= 0x7F) fprintf(stderr, "\\x%02x", c);
        else fputc(c, stderr);
    }
}

static void print_ids(const char *label, const int32_t *ids, size_t n)
{
    fprintf(stderr, "    %s", label);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
    fputc('\n', stderr);
}

/* Parse one .out line of space-separated ids. */
static void parse_ids(const char *line, size_t n, tok_ids *out)
{
    out->n = 0;
    char *copy = xstrndup(line, n), *p = copy, *end;
    for (long v; (v = strtol(p, &end, 10)), end != p; p = end) tok_ids_push(out, (int32_t)v);
    free(copy);
}

/* One case: encode, compare, and check that decoding gives the text back. */
static int run_case(const tokenizer *t, const char *text, size_t tl, const char *line,
                    size_t ll, int idx)
{
    tok_ids want = {0}, got = {0};
    parse_ids(line, ll, &want);
    tok_encode(t, text, tl, 0, 0, &got);
    int ok = got.n == want.n && (!got.n || memcmp(got.v, want.v, got.n * sizeof(int32_t)) == 0);
    char *back = tok_decode(t, got.v, got.n, 0);
    int round = strlen(back) == tl && memcmp(back, text, tl) == 0;
    if (!ok || !round) {
        fprintf(stderr, "  case %d %s: \"", idx, ok ? "(round trip)" : "FAILED");
        print_escaped(text, tl);
        fputs("\"\n", stderr);
        print_ids("expected:", want.v, want.n);
        print_ids("got:     ", got.v, got.n);
        if (!round) {
            fputs("    decoded:  \"", stderr);
            print_escaped(back, strlen(back));
            fputs("\"\n", stderr);
        }
    }
    free(back);
    tok_ids_free(&want);
    tok_ids_free(&got);
    CHECK(ok);
    CHECK(round);
    return ok;
}

static void run_vocab(const char *dir, const char *name)
{
    char path[1024], err[512];
    size_t inl = 0, outl = 0;
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf.inp", dir, name);
    char *inp = read_file(path, &inl);
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf.out", dir, name);
    char *out = read_file(path, &outl);
    snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", dir, name);
    gguf_file *f = gguf_open(path, err, sizeof err);
    tokenizer *t = f ? tok_load(f, err, sizeof err) : NULL;
    gguf_close(f);
    CHECK(inp && out && t);
    if (!inp || !out || !t) {
        fprintf(stderr, "  %s: %s\n", name, t ? "missing .inp/.out" : err);
        goto done;
    }
    int cases = 0, passed = 0;
    const char *p = inp, *end = inp + inl, *line = out, *oend = out + outl;
    while (p < end) {
        const char *sep = strstr(p, SEP);
        size_t tl = sep ? (size_t)(sep - p) : (size_t)(end - p);
        const char *nl = memchr(line, '\n', (size_t)(oend - line));
        size_t ll = nl ? (size_t)(nl - line) : (size_t)(oend - line);
        CHECK(line < oend);
        if (line >= oend) break;
        passed += run_case(t, p, tl, line, ll, cases++);
        line += ll + (nl != NULL);
        p = sep ? sep + strlen(SEP) : end;
    }
    CHECK(line >= oend);   /* as many cases as expected lines */
    printf("vocab %-10s %d/%d cases pass\n", name, passed, cases);
done:
    tok_free(t);
    free(inp);
    free(out);
}

static tokenizer *load(const char *dir, const char *file)
{
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    gguf_file *f = gguf_open(path, err, sizeof err);
    tokenizer *t = f ? tok_load(f, err, sizeof err) : NULL;
    if (!t) fprintf(stderr, "  %s\n", err);
    gguf_close(f);
    return t;
}

static int ids_are(const tok_ids *got, const int32_t *want, size_t n)
{
    int ok = got->n == n && (!n || memcmp(got->v, want, n * sizeof(int32_t)) == 0);
    if (!ok) print_ids("got:", got->v, got->n);
    return ok;
}

static void test_specials(const char *dir)
{
    tokenizer *gpt2 = load(dir, "ggml-vocab-gpt-2.gguf");
    tokenizer *spm = load(dir, "ggml-vocab-llama-spm.gguf");
    CHECK(gpt2 && spm);
    if (!gpt2 || !spm) goto done;
    tok_ids ids = {0};
    const char *txt = "Hello<|endoftext|>";
    tok_encode(gpt2, txt, strlen(txt), 0, 1, &ids);
    CHECK(ids_are(&ids, (int32_t[]){15496, 50256}, 2));
    ids.n = 0;
    tok_encode(gpt2, txt, strlen(txt), 0, 0, &ids);       /* not parsed: plain text */
    CHECK(ids.n > 2 && ids.v[ids.n - 1] != 50256);
    char *s = tok_decode(gpt2, (int32_t[]){15496, 50256}, 2, 1);
    CHECK_STR(s, "Hello<|endoftext|>");
    free(s);
    s = tok_decode(gpt2, (int32_t[]){15496, 50256}, 2, 0);
    CHECK_STR(s, "Hello");
    free(s);
    const tok_config *c = tok_get_config(spm);
    CHECK(c->kind == TOK_SPM && c->bos == 1 && c->eos == 2 && c->add_bos && !c->add_eos);
    ids.n = 0;
    tok_encode(spm, "Hello world", 11, 1, 0, &ids);        /* BOS + the "add_bos" case */
    CHECK(ids_are(&ids, (int32_t[]){1, 15043, 3186}, 3));
    ids.n = 0;
    tok_encode(spm, "<s>Hello</s>", 12, 0, 1, &ids);       /* a space follows a special */
    CHECK(ids_are(&ids, (int32_t[]){1, 15043, 2}, 3));
    ids.n = 0;
    tok_encode(spm, "a\xff", 2, 0, 0, &ids);               /* invalid UTF-8: byte fallback */
    CHECK(ids_are(&ids, (int32_t[]){263, 0xff + 3}, 2));
    s = tok_decode(spm, ids.v, ids.n, 0);
    CHECK_STR(s, "a\xff");
    free(s);
    CHECK(tok_is_eog(spm, 2) && !tok_is_eog(spm, 1));
    tok_ids_free(&ids);
done:
    tok_free(gpt2);
    tok_free(spm);
}

/* Words of text under kind, joined with '|'. */
static char *words(pretok_kind kind, const char *text)
{
    pretok_words w = {0};
    buf b = {0};
    pretok_split(kind, text, strlen(text), &w);
    for (size_t i = 0, start = 0; i < w.n; start = w.end[i++]) {
        if (i) buf_putc(&b, '|');
        buf_append(&b, text + start, w.end[i] - start);
    }
    pretok_words_free(&w);
    return buf_steal(&b);
}

#define CHECK_WORDS(kind, text, want)        \
    do {                                     \
        char *w_ = words(kind, text);        \
        CHECK_STR(w_, want);                 \
        free(w_);                            \
    } while (0)

static void test_pretok(void)
{
    pretok_kind k;
    CHECK(pretok_from_name(NULL, &k) == 0 && k == PRETOK_GPT2);
    CHECK(pretok_from_name("smollm", &k) == 0 && k == PRETOK_STARCODER);
    CHECK(pretok_from_name("llama-bpe", &k) == 0 && k == PRETOK_LLAMA3);
    CHECK(pretok_from_name("nope", &k) == -1);
    CHECK_WORDS(PRETOK_GPT2, "Hello world's  12345 ok!?\n\n x",
                "Hello| world|'s| | 12345| ok|!?|\n\n| x");
    CHECK_WORDS(PRETOK_GPT2, "I'M here", "I|'|M| here");
    CHECK_WORDS(PRETOK_LLAMA3, "I'M here", "I|'M| here");
    CHECK_WORDS(PRETOK_LLAMA3, "x=12345,\r\n  y", "x|=|123|45|,\r\n| | y");
    CHECK_WORDS(PRETOK_LLAMA3, "(hello) world", "(hello|)| world");
    CHECK_WORDS(PRETOK_QWEN2, "abc 123", "abc| |1|2|3");
    CHECK_WORDS(PRETOK_STARCODER, "a 12b", "a| |1|2|b");
    CHECK_WORDS(PRETOK_GPT2, "caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd",
                "caf\xc3\xa9| \xe4\xbd\xa0\xe5\xa5\xbd");
    CHECK_WORDS(PRETOK_GPT2, "a\xff\xfe b", "a|\xff\xfe| b");
}

int main(void)
{
    test_pretok();
    const char *dir = getenv("EVALLUA_TEST_MODELS");
    if (!dir) dir = "/work/shared/models";
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/ggml-vocab-gpt-2.gguf", dir);
    if (access(probe, R_OK) != 0) {
        printf("skip: vocabulary files not found (%s)\n", probe);
        check_summary();
        return check_failed_ ? 1 : 77;
    }
    const char *vocabs[] = {"gpt-2", "starcoder", "refact", "llama-spm"};
    for (size_t i = 0; i < sizeof vocabs / sizeof vocabs[0]; i++) run_vocab(dir, vocabs[i]);
    test_specials(dir);
    return check_summary();
}
