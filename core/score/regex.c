/* regex.c — Python `re` semantics on PCRE2 (see regex.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "score/regex.h"

#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "score/metrics.h"
#include "util/buf.h"

struct regex {
    pcre2_code *code;  /* read-only after compile; shared by all threads */
    char *pattern;     /* as the caller wrote it */
    size_t groups;     /* capture groups */
};

/* --- Python -> PCRE2 pattern translation ------------------------------------------------ */

typedef struct xlat {
    buf out;     /* translated pattern */
    size_t *map; /* map[i] = offset in the original pattern of translated byte i */
    size_t orig; /* original offset of what is being emitted */
} xlat;

static void xlat_emit(xlat *x, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) x->map[x->out.len + i] = x->orig;
    buf_append(&x->out, s, n);
}

static int is_hex_run(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i]) return 0;
    return 1;
}

/* Translate the escape at p (p[0] == '\\'); returns the bytes of p consumed. */
static size_t xlat_escape(xlat *x, const char *p, int in_class)
{
    if (p[1] == 'Z' && !in_class) {
        xlat_emit(x, "\\z", 2);
        return 2;
    }
    /* Python's \s also matches U+001C..U+001F (str.isspace), PCRE2's does not. */
    if (p[1] == 's' || (p[1] == 'S' && !in_class)) {
        const char *s = in_class ? "\\s\\x1c-\\x1f"
                      : p[1] == 's' ? "[\\s\\x1c-\\x1f]" : "[^\\s\\x1c-\\x1f]";
        xlat_emit(x, s, strlen(s));
        return 2;
    }
    size_t digits = p[1] == 'u' ? 4 : p[1] == 'U' ? 8 : 0;
    if (digits && strlen(p + 2) >= digits && is_hex_run(p + 2, digits)) {
        xlat_emit(x, "\\x{", 3);
        xlat_emit(x, p + 2, digits);
        xlat_emit(x, "}", 1);
        return 2 + digits;
    }
    xlat_emit(x, p, p[1] ? 2 : 1);
    return p[1] ? 2 : 1;
}

/* 1 when p starts "{,DIGITS}" (Python's {,n} quantifier, which PCRE2 10.42 reads as text). */
static int is_open_lower_bound(const char *p)
{
    if (p[0] != '{' || p[1] != ',' || p[2] < '0' || p[2] > '9') return 0;
    size_t i = 2;
    while (p[i] >= '0' && p[i] <= '9') i++;
    return p[i] == '}';
}

/* Fill x with the PCRE2 form of a Python pattern. */
static void xlat_pattern(xlat *x, const char *p)
{
    size_t len = strlen(p);
    x->map = xmalloc((8 * len + 2) * sizeof *x->map); /* \S (2 bytes) becomes 15 */
    x->out = (buf){0};
    int in_class = 0;
    size_t class_first = 0; /* a ']' here is literal: "[]a]" and "[^]a]" */
    size_t i = 0;
    while (i < len) {
        x->orig = i;
        if (p[i] == '\\') {
            i += xlat_escape(x, p + i, in_class);
            continue;
        }
        if (in_class) {
            if (p[i] == ']' && i != class_first) in_class = 0;
        } else if (p[i] == '[') {
            in_class = 1;
            class_first = i + 1 + (p[i + 1] == '^');
        } else if (is_open_lower_bound(p + i)) {
            xlat_emit(x, "{0", 2);
            i++;
            continue;
        }
        xlat_emit(x, p + i, 1);
        i++;
    }
    x->map[x->out.len] = len;
}

/* --- compile ------------------------------------------------------------------------- */

regex *regex_compile(const char *pattern, char *err, size_t errlen)
{
    xlat x;
    xlat_pattern(&x, pattern);
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (!cc) {
        free(x.map);
        buf_free(&x.out);
        errf(err, errlen, "bad regex '%s': out of memory", pattern);
        return NULL;
    }
    pcre2_set_newline(cc, PCRE2_NEWLINE_LF); /* Python: only \n ends a line for . and $ */
    int code_err;
    PCRE2_SIZE off;
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)buf_str(&x.out), x.out.len, opts, &code_err,
                                     &off, cc);
    pcre2_compile_context_free(cc);
    regex *re = NULL;
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code_err, msg, sizeof msg);
        size_t at = off <= x.out.len ? x.map[off] : strlen(pattern);
        errf(err, errlen, "bad regex '%s': %s at offset %zu", pattern, (char *)msg, at);
        goto cleanup;
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* optional: the interpreter is the fallback */
    re = xcalloc(1, sizeof *re);
    re->code = code;
    re->pattern = xstrdup(pattern);
    uint32_t groups = 0;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &groups);
    re->groups = groups;
cleanup:
    free(x.map);
    buf_free(&x.out);
    return re;
}

void regex_free(regex *re)
{
    if (!re) return;
    pcre2_code_free(re->code);
    free(re->pattern);
    free(re);
}

const char *regex_pattern(const regex *re) { return re->pattern; }

size_t regex_groups(const regex *re) { return re->groups; }

/* --- scanning (Python 3.7+ rules) ------------------------------------------------------- */

typedef struct scan {
    const regex *re;
    const char *s;
    size_t len;
    size_t pos;            /* where the next search starts */
    int after_empty;       /* last match was empty: no empty match at pos now */
    int rc;                /* pcre2_match's count of set groups for the current match */
    pcre2_match_data *md;
    PCRE2_SIZE *ov;        /* ovector of the current match */
} scan;

static void scan_init(scan *sc, const regex *re, const char *s)
{
    *sc = (scan){.re = re, .s = s, .len = strlen(s)};
    sc->md = pcre2_match_data_create_from_pattern(re->code, NULL);
    if (!sc->md) {
        fputs("evallua: out of memory (PCRE2 match data)\n", stderr);
        abort();
    }
    sc->ov = pcre2_get_ovector_pointer(sc->md);
}

static void scan_done(scan *sc) { pcre2_match_data_free(sc->md); }

/* Next match: 1 found (sc->ov holds it), 0 none left, -1 PCRE2 error (err filled). */
static int scan_next(scan *sc, char *err, size_t errlen)
{
    if (sc->pos > sc->len) return 0;
    uint32_t opts = sc->after_empty ? PCRE2_NOTEMPTY_ATSTART : 0;
    int rc = pcre2_match(sc->re->code, (PCRE2_SPTR)sc->s, sc->len, sc->pos, opts, sc->md, NULL);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(sc->re->code, (PCRE2_SPTR)sc->s, sc->len, sc->pos, opts | PCRE2_NO_JIT,
                         sc->md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        return errf(err, errlen, "regex '%s': %s", sc->re->pattern, (char *)msg);
    }
    if (sc->ov[1] < sc->ov[0]) sc->ov[1] = sc->ov[0]; /* \K in a lookahead; not Python */
    sc->rc = rc == 0 ? 1 : rc;
    sc->after_empty = sc->ov[0] == sc->ov[1];
    sc->pos = sc->ov[1];
    return 1;
}

/* Copy of group g of the current match; "" when the group did not take part. */
static char *scan_group(const scan *sc, size_t g)
{
    if ((int)g >= sc->rc || sc->ov[2 * g] == PCRE2_UNSET) return xstrdup("");
    return xstrndup(sc->s + sc->ov[2 * g], sc->ov[2 * g + 1] - sc->ov[2 * g]);
}

int regex_findall(const regex *re, const char *s, regex_matches *out, char *err, size_t errlen)
{
    *out = (regex_matches){.width = re->groups <= 1 ? 1 : re->groups,
                           .is_tuple = re->groups >= 2};
    size_t first = re->groups == 0 ? 0 : 1; /* whole match, or groups from 1 */
    size_t cap = 0;
    scan sc;
    scan_init(&sc, re, s);
    int rc;
    while ((rc = scan_next(&sc, err, errlen)) == 1) {
        if ((out->n + 1) * out->width > cap) {
            cap = cap ? 2 * cap : 8 * out->width;
            out->str = xrealloc(out->str, cap * sizeof *out->str);
        }
        for (size_t g = 0; g < out->width; g++)
            out->str[out->n * out->width + g] = scan_group(&sc, first + g);
        out->n++;
    }
    scan_done(&sc);
    if (rc < 0) {
        regex_matches_free(out);
        return -1;
    }
    return 0;
}

void regex_matches_free(regex_matches *m)
{
    for (size_t i = 0; i < m->n * m->width; i++) free(m->str[i]);
    free(m->str);
    *m = (regex_matches){0};
}

char *regex_sub(const regex *re, const char *s, const char *repl)
{
    buf out = {0};
    size_t last = 0, repl_len = strlen(repl);
    scan sc;
    scan_init(&sc, re, s);
    int rc;
    while ((rc = scan_next(&sc, NULL, 0)) == 1) {
        buf_append(&out, s + last, sc.ov[0] - last);
        buf_append(&out, repl, repl_len);
        last = sc.ov[1];
    }
    scan_done(&sc);
    if (rc < 0) {
        buf_free(&out);
        return NULL;
    }
    buf_append(&out, s + last, sc.len - last);
    return buf_steal(&out);
}

#define SCRATCH_PAIRS 32 /* the whole match and up to 31 groups */

struct regex_scratch {
    pcre2_match_data *md; /* SCRATCH_PAIRS ovector pairs */
    size_t *spans;        /* regex_filter_sc: (start, end) per group per match */
    size_t cap;           /* size_t entries in spans */
};

regex_scratch *regex_scratch_new(void)
{
    regex_scratch *sc = xcalloc(1, sizeof *sc);
    sc->md = pcre2_match_data_create(SCRATCH_PAIRS, NULL);
    if (!sc->md) {
        free(sc);
        return NULL;
    }
    return sc;
}

void regex_scratch_free(regex_scratch *sc)
{
    if (!sc) return;
    pcre2_match_data_free(sc->md);
    free(sc->spans);
    free(sc);
}

/* One search of re in s[0..len) from pos with scan's rules: 1 found ([*start, *end)),
 * 0 none, -1 PCRE2 error. An ovector too small for the groups still gives group 0. */
static int match_once(const regex *re, const char *s, size_t len, size_t pos, uint32_t opts,
                      pcre2_match_data *md, size_t *start, size_t *end)
{
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, pos, opts, md, NULL);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, pos, opts | PCRE2_NO_JIT, md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) return -1;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    *start = ov[0];
    *end = ov[1] < ov[0] ? ov[0] : ov[1];
    return 1;
}

char *regex_sub_len(const regex *re, const char *s, size_t *len, const char *repl,
                    regex_scratch *sc, int *status)
{
    size_t pos = 0, last = 0, start, end, repl_len = strlen(repl);
    uint32_t opts = 0;
    buf out = {0};
    int rc = 0;
    *status = 0;
    while (pos <= *len && (rc = match_once(re, s, *len, pos, opts, sc->md, &start, &end)) == 1) {
        buf_append(&out, s + last, start - last);
        buf_append(&out, repl, repl_len);
        last = pos = end;
        opts = start == end ? PCRE2_NOTEMPTY_ATSTART : 0;
        *status = 1;
    }
    if (pos <= *len && rc < 0) {
        buf_free(&out);
        *status = -1;
        return NULL;
    }
    if (!*status) return NULL;
    buf_append(&out, s + last, *len - last);
    *len = out.len;
    return buf_steal(&out);
}

/* The chosen match of a findall result as lm-eval's RegexFilter sees it, or NULL. */
static const char *filter_pick(const regex_matches *m, int group_select, int *all_empty)
{
    long long idx = group_select < 0 ? (long long)m->n + group_select : group_select;
    *all_empty = 0;
    if (idx < 0 || idx >= (long long)m->n) return NULL;
    char *const *tuple = m->str + (size_t)idx * m->width;
    if (!m->is_tuple) return tuple[0];
    for (size_t g = 0; g < m->width; g++)
        if (tuple[g][0]) return tuple[g];
    *all_empty = 1;
    return NULL;
}

char *regex_filter(const regex *re, const char *response, int group_select, const char *fallback)
{
    regex_matches m;
    if (regex_findall(re, response, &m, NULL, 0) < 0) return NULL;
    int all_empty;
    const char *pick = m.n ? filter_pick(&m, group_select, &all_empty) : NULL;
    char *res;
    if (pick) res = text_strip(pick);
    else if (m.n && all_empty) res = text_strip(fallback); /* lm-eval strips this one */
    else res = xstrdup(fallback);
    regex_matches_free(&m);
    return res;
}

/* Group g of the current match as a span in sc->spans at k (start = end = SIZE_MAX when the
 * group did not take part: Python's ""). */
static void span_put(regex_scratch *sc, size_t k, const scan *m, size_t g)
{
    if (k + 2 > sc->cap) {
        sc->cap = sc->cap ? 2 * sc->cap : 64;
        sc->spans = xrealloc(sc->spans, sc->cap * sizeof *sc->spans);
    }
    int unset = (int)g >= m->rc || m->ov[2 * g] == PCRE2_UNSET;
    sc->spans[k] = unset ? SIZE_MAX : m->ov[2 * g];
    sc->spans[k + 1] = unset ? SIZE_MAX : m->ov[2 * g + 1];
}

char *regex_filter_sc(const regex *re, const char *response, int group_select,
                      const char *fallback, regex_scratch *sc)
{
    if (!sc || re->groups + 1 > SCRATCH_PAIRS)
        return regex_filter(re, response, group_select, fallback);
    size_t width = re->groups <= 1 ? 1 : re->groups, first = re->groups == 0 ? 0 : 1, n = 0;
    scan m = {.re = re, .s = response, .len = strlen(response), .md = sc->md,
              .ov = pcre2_get_ovector_pointer(sc->md)};
    int rc;
    while ((rc = scan_next(&m, NULL, 0)) == 1) {
        for (size_t g = 0; g < width; g++) span_put(sc, 2 * (n * width + g), &m, first + g);
        n++;
    }
    if (rc < 0) return NULL;
    long long idx = group_select < 0 ? (long long)n + group_select : group_select;
    if (n == 0 || idx < 0 || idx >= (long long)n) return xstrdup(fallback);
    const size_t *t = sc->spans + 2 * (size_t)idx * width;
    for (size_t g = 0; g < width; g++) { /* a tuple: its first non-empty group */
        size_t a = t[2 * g], b = t[2 * g + 1];
        if (width == 1 || (a != SIZE_MAX && b > a)) {
            char *pick = a == SIZE_MAX ? xstrdup("") : xstrndup(response + a, b - a);
            char *res = text_strip(pick);
            free(pick);
            return res;
        }
    }
    return text_strip(fallback); /* every group empty: lm-eval strips the fallback */
}
