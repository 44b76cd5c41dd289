/* answer_scan.c — the fast reader of answer_scan.h: one validating pass over the body. Every
 * function returns 0 on success and -1 when the body is not something it reads exactly as
 * cJSON would (the caller then falls back to cJSON). */
#include "answer_scan.h"

#include <stdlib.h>
#include <string.h>

#define SCAN_KEY_MAX 32 /* keys longer than this are none of ours */

typedef struct scanner {
    const char *p, *end;
    int depth;
} scanner;

static void skip_ws(scanner *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) s->p++;
}

static int expect(scanner *s, char c)
{
    skip_ws(s);
    if (s->p >= s->end || *s->p != c) return -1;
    s->p++;
    return 0;
}

static int peek(scanner *s)
{
    skip_ws(s);
    return s->p < s->end ? (unsigned char)*s->p : -1;
}

static int literal(scanner *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) return -1;
    s->p += n;
    return 0;
}

static int digits(scanner *s)
{
    const char *start = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') s->p++;
    return s->p > start ? 0 : -1;
}

/* A number in JSON's grammar; *out its value when out is not NULL — then only an integer
   (the fields read are counts and indices; a fraction or an exponent goes to cJSON, which
   reads them whatever the locale's decimal point). */
static int number(scanner *s, double *out)
{
    const char *start = s->p;
    if (s->p < s->end && *s->p == '-') s->p++;
    if (s->p < s->end && *s->p == '0') s->p++;
    else if (digits(s) != 0) return -1;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (digits(s) != 0) return -1;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-')) s->p++;
        if (digits(s) != 0) return -1;
    }
    char tmp[64];
    size_t n = (size_t)(s->p - start);
    if (n >= sizeof tmp) return -1;
    if (out && memchr(start, '.', n)) return -1;
    if (out && (memchr(start, 'e', n) || memchr(start, 'E', n))) return -1;
    if (out) {
        memcpy(tmp, start, n);
        tmp[n] = '\0';
        *out = strtod(tmp, NULL);
    }
    return 0;
}

/* A string, decoded into out (appended) when out is not NULL; no \u escapes, no raw control
   characters. */
static int string(scanner *s, buf *out)
{
    if (expect(s, '"') != 0) return -1;
    for (;;) {
        const char *run = s->p;
        while (s->p < s->end && *s->p != '"' && *s->p != '\\' && (unsigned char)*s->p >= 0x20) s->p++;
        if (out && s->p > run) buf_append(out, run, (size_t)(s->p - run));
        if (s->p >= s->end || (unsigned char)*s->p < 0x20) return -1;
        if (*s->p++ == '"') return 0;
        if (s->p >= s->end) return -1;
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *e = memchr(from, *s->p, sizeof from - 1);
        if (!e) return -1; /* \u and invalid escapes: the general parser's business */
        if (out) buf_putc(out, to[e - from]);
        s->p++;
    }
}

/* A key into key_out, and its colon; a key of SCAN_KEY_MAX bytes or more becomes "" (none of
   ours). */
static int key(scanner *s, buf *scratch, char key_out[SCAN_KEY_MAX])
{
    buf_clear(scratch);
    if (string(s, scratch) != 0 || expect(s, ':') != 0) return -1;
    size_t n = scratch->len < SCAN_KEY_MAX ? scratch->len : 0;
    if (n) memcpy(key_out, scratch->data, n);
    key_out[n] = '\0';
    return 0;
}

/* After a value in a container: ',' (1: more follow), the closing character (0), else -1. */
static int next_or_close(scanner *s, char close)
{
    int c = peek(s);
    if (c != ',' && c != close) return -1;
    s->p++;
    return c == ',';
}

static int skip_value(scanner *s);

/* The members or elements after an opening '{' or '[' up to the closing one. */
static int skip_container(scanner *s, char close, int object)
{
    if (++s->depth > ANSWER_SCAN_DEPTH) return -1;
    if (peek(s) == close) {
        s->p++;
        s->depth--;
        return 0;
    }
    for (int more = 1; more;) {
        if (object && (string(s, NULL) != 0 || expect(s, ':') != 0)) return -1;
        if (skip_value(s) != 0 || (more = next_or_close(s, close)) < 0) return -1;
    }
    s->depth--;
    return 0;
}

static int skip_value(scanner *s)
{
    int c = peek(s);
    if (c == '{' || c == '[') {
        s->p++;
        return skip_container(s, c == '{' ? '}' : ']', c == '{');
    }
    if (c == '"') return string(s, NULL);
    if (c == 't') return literal(s, "true");
    if (c == 'f') return literal(s, "false");
    if (c == 'n') return literal(s, "null");
    if (c == '-' || (c >= '0' && c <= '9')) return number(s, NULL);
    return -1;
}

/* Members of an object (after its '{'), each handed to member(ctx, key) which reads its value. */
static int members(scanner *s, buf *scratch, int (*member)(scanner *, void *, const char *), void *ctx)
{
    if (++s->depth > ANSWER_SCAN_DEPTH) return -1;
    char k[SCAN_KEY_MAX];
    if (peek(s) == '}') {
        s->p++;
        s->depth--;
        return 0;
    }
    for (int more = 1; more;) {
        if (key(s, scratch, k) != 0 || member(s, ctx, k) != 0) return -1;
        if ((more = next_or_close(s, '}')) < 0) return -1;
    }
    s->depth--;
    return 0;
}

/* ---- the fields we read (the first occurrence of a key counts, as in cJSON) ------------ */

typedef struct choice_ctx {
    scan_answer *a;
    scan_choice *c;
    buf *scratch;
    int seen_index, seen_text, seen_finish;
} choice_ctx;

static int choice_member(scanner *s, void *ud, const char *k)
{
    choice_ctx *x = ud;
    int c = peek(s);
    if (strcmp(k, "index") == 0 && !x->seen_index) {
        x->seen_index = 1;
        if (c == '-' || (c >= '0' && c <= '9')) {
            x->c->has_index = 1;
            return number(s, &x->c->index);
        }
    } else if (strcmp(k, "text") == 0 && !x->seen_text) {
        x->seen_text = 1;
        if (c == '"') {
            x->c->has_text = 1;
            x->c->text_off = x->a->strings.len;
            if (string(s, &x->a->strings) != 0) return -1;
            x->c->text_len = x->a->strings.len - x->c->text_off;
            buf_putc(&x->a->strings, '\0');
            return 0;
        }
    } else if (strcmp(k, "finish_reason") == 0 && !x->seen_finish) {
        x->seen_finish = 1;
        if (c == '"') {
            buf_clear(x->scratch);
            if (string(s, x->scratch) != 0) return -1;
            x->c->finish_length = x->scratch->len == 6 && memcmp(x->scratch->data, "length", 6) == 0;
            return 0;
        }
    }
    return skip_value(s);
}

static scan_choice *new_choice(scan_answer *a)
{
    if (a->n_choices == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 4;
        a->choices = xrealloc(a->choices, a->cap * sizeof *a->choices);
    }
    scan_choice *c = &a->choices[a->n_choices++];
    memset(c, 0, sizeof *c);
    return c;
}

static int choices(scanner *s, scan_answer *a, buf *scratch)
{
    if (expect(s, '[') != 0 || ++s->depth > ANSWER_SCAN_DEPTH) return -1;
    if (peek(s) == ']') return -1; /* no choices[0]: the general parser says why */
    for (int more = 1; more;) {
        scan_choice *c = new_choice(a);
        if (peek(s) == '{') {
            s->p++;
            c->is_object = 1;
            choice_ctx x = {a, c, scratch, 0, 0, 0};
            if (members(s, scratch, choice_member, &x) != 0) return -1;
        } else if (skip_value(s) != 0) {
            return -1;
        }
        if ((more = next_or_close(s, ']')) < 0) return -1;
    }
    s->depth--;
    return a->choices[0].is_object ? 0 : -1;
}

typedef struct usage_ctx {
    scan_answer *a;
    int seen_pt, seen_ct;
} usage_ctx;

static int usage_member(scanner *s, void *ud, const char *k)
{
    usage_ctx *x = ud;
    int c = peek(s), is_num = c == '-' || (c >= '0' && c <= '9');
    if (strcmp(k, "prompt_tokens") == 0 && !x->seen_pt) {
        x->seen_pt = 1;
        if (is_num) {
            x->a->has_pt = 1;
            return number(s, &x->a->pt);
        }
    } else if (strcmp(k, "completion_tokens") == 0 && !x->seen_ct) {
        x->seen_ct = 1;
        if (is_num) {
            x->a->has_ct = 1;
            return number(s, &x->a->ct);
        }
    }
    return skip_value(s);
}

typedef struct root_ctx {
    scan_answer *a;
    buf *scratch;
    int seen_choices, seen_usage;
} root_ctx;

static int root_member(scanner *s, void *ud, const char *k)
{
    root_ctx *x = ud;
    if (strcmp(k, "choices") == 0 && !x->seen_choices) {
        x->seen_choices = 1;
        return choices(s, x->a, x->scratch); /* not an array: the general parser says why */
    }
    if (strcmp(k, "usage") == 0 && !x->seen_usage) {
        x->seen_usage = 1;
        if (peek(s) == '{') {
            s->p++;
            usage_ctx u = {x->a, 0, 0};
            return members(s, x->scratch, usage_member, &u);
        }
    }
    return skip_value(s);
}

int answer_scan(scan_answer *a, const char *body, size_t len)
{
    memset(a, 0, sizeof *a);
    if (!body) return 0;
    scanner s = {body, body + len, 0};
    buf scratch = {0};
    root_ctx x = {a, &scratch, 0, 0};
    int rc = expect(&s, '{') == 0 && members(&s, &scratch, root_member, &x) == 0 && x.seen_choices;
    skip_ws(&s);
    buf_free(&scratch);
    return rc && s.p == s.end;
}

void answer_scan_free(scan_answer *a)
{
    free(a->choices);
    buf_free(&a->strings);
    memset(a, 0, sizeof *a);
}
