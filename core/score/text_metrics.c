/* text_metrics.c — Python str helpers, SQuAD v2, DROP, F1 and MCC (see text_metrics.h). */
#include "score/text_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "score/math_equiv.h"
#include "score/metrics.h"
#include "score/regex.h"
#include "util/buf.h"

#define BAD_BYTE 0x110000u /* invalid UTF-8 byte b decodes to BAD_BYTE + b */

/* --- UTF-8 and Python str.split() ---------------------------------------------------------- */

uint32_t text_utf8_decode(const char *str, size_t *n)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned char c = s[0];
    *n = 1;
    if (c < 0x80) return c;
    size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    unsigned char lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
    unsigned char hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
    if (!len || s[1] < lo || s[1] > hi) return BAD_BYTE + c;
    uint32_t cp = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return BAD_BYTE + c;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    *n = len;
    return cp;
}

static int all_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80) return 0;
    return 1;
}

char *text_lower_fast(const char *s)
{
    if (!all_ascii(s)) return text_lower(s);
    char *out = xstrdup(s);
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p + 32);
    return out;
}

static inline int space_at(const char *p, size_t *k)
{
    unsigned char c = (unsigned char)*p;
    if (c < 0x80) {
        *k = 1;
        return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
    }
    return text_is_space(text_utf8_decode(p, k));
}

int text_space_at(const char *p, size_t *k) { return space_at(p, k); }

void text_spans_push(text_spans *l, const char *p, size_t n)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = (text_span){p, n};
}

void text_split(const char *s, text_spans *out)
{
    const char *start = NULL;
    size_t k;
    for (const char *p = s;; p += k) {
        int space = !*p || space_at(p, &k);
        if (!space && !start) start = p;
        if (space && start) text_spans_push(out, start, (size_t)(p - start)), start = NULL;
        if (!*p) return;
    }
}

char *text_join_ws(const char *s)
{
    text_spans t = {0};
    text_split(s, &t);
    buf b = {0};
    for (size_t i = 0; i < t.n; i++) {
        if (i) buf_putc(&b, ' ');
        buf_append(&b, t.v[i].p, t.v[i].n);
    }
    free(t.v);
    return buf_steal(&b);
}

char *text_replace(const char *s, const char *old, const char *new_)
{
    const char *p = s, *q = strstr(s, old);
    buf b = {0};
    for (size_t len = strlen(old); q; p = q + len, q = strstr(p, old)) {
        buf_append(&b, p, (size_t)(q - p));
        buf_puts(&b, new_);
    }
    buf_puts(&b, p);
    return buf_steal(&b);
}

/* text_join_ws that consumes s. */
static char *ws_fix(char *s)
{
    char *out = text_join_ws(s);
    free(s);
    return out;
}

int text_span_cmp(const void *a, const void *b)
{
    const text_span *x = a, *y = b;
    int c = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* Sort v and drop duplicates (a Python set of tokens, in a canonical order). */
static void spans_set(text_spans *l)
{
    if (!l->n) return;
    qsort(l->v, l->n, sizeof *l->v, text_span_cmp);
    size_t k = 1;
    for (size_t i = 1; i < l->n; i++)
        if (text_span_cmp(&l->v[i], &l->v[k - 1])) l->v[k++] = l->v[i];
    l->n = k;
}

/* Size of the intersection of two sorted lists (multisets or sets). */
static size_t common_sorted(const text_spans *a, const text_spans *b)
{
    size_t i = 0, j = 0, n = 0;
    while (i < a->n && j < b->n) {
        int c = text_span_cmp(&a->v[i], &b->v[j]);
        if (c == 0) n++, i++, j++;
        else if (c < 0) i++;
        else j++;
    }
    return n;
}

/* --- normalisation shared by SQuAD and DROP ------------------------------------------------ */

static regex *re_articles;
static pthread_once_t re_once = PTHREAD_ONCE_INIT;

static void re_init(void)
{
    char err[256];
    re_articles = regex_compile("\\b(a|an|the)\\b", err, sizeof err);
}

static int is_word_ascii(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* The regex below on ASCII-only text, in place: \w is [A-Za-z0-9_] there, so every
 * maximal word run that is exactly a, an or the becomes one space. */
static char *remove_articles_ascii(char *s)
{
    char *w = s;
    for (const char *r = s; *r;) {
        if (!is_word_ascii(*r)) {
            *w++ = *r++;
            continue;
        }
        size_t n = 0;
        while (is_word_ascii(r[n])) n++;
        if ((n == 1 && r[0] == 'a') || (n == 2 && !strncmp(r, "an", 2))
            || (n == 3 && !strncmp(r, "the", 3))) *w++ = ' ';
        else memmove(w, r, n), w += n;
        r += n;
    }
    *w = '\0';
    return s;
}

/* re.sub(r"\b(a|an|the)\b", " ", s) with re.UNICODE. Consumes s; NULL on a PCRE2 limit. */
static char *remove_articles(char *s)
{
    if (all_ascii(s)) return remove_articles_ascii(s);
    pthread_once(&re_once, re_init);
    char *out = re_articles ? regex_sub(re_articles, s, " ") : NULL;
    free(s);
    return out;
}

static int is_punct(unsigned char c)
{
    return c < 0x80 && c > ' ' && c != 0x7F && !(c >= '0' && c <= '9')
           && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z');
}

/* Delete string.punctuation from s in place. */
static char *remove_punct(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++)
        if (!is_punct((unsigned char)*r)) *w++ = *r;
    *w = '\0';
    return s;
}

/* --- SQuAD v2 -------------------------------------------------------------------------------- */

/* normalize_answer(s).split(): the tokens point into the returned buffer, which the
 * caller frees with toks->v; NULL (no tokens) on a PCRE2 limit. */
static char *squad_tokens(const char *s, text_spans *toks)
{
    char *t = remove_articles(remove_punct(text_lower_fast(s)));
    if (t) text_split(t, toks);
    return t;
}

char *squad_normalize(const char *s)
{
    char *t = remove_articles(remove_punct(text_lower_fast(s)));
    return t ? ws_fix(t) : NULL;
}

static int spans_equal(const text_spans *a, const text_spans *b)
{
    if (a->n != b->n) return 0;
    for (size_t i = 0; i < a->n; i++)
        if (text_span_cmp(&a->v[i], &b->v[i])) return 0;
    return 1;
}

/* Sort a token list (insertion sort for the short lists answers make). */
static void spans_sort(text_spans *l)
{
    if (l->n > 16) {
        qsort(l->v, l->n, sizeof *l->v, text_span_cmp);
        return;
    }
    for (size_t i = 1; i < l->n; i++) {
        text_span x = l->v[i];
        size_t j = i;
        for (; j > 0 && text_span_cmp(&l->v[j - 1], &x) > 0; j--) l->v[j] = l->v[j - 1];
        l->v[j] = x;
    }
}

/* compute_f1 on two sorted token lists. */
static double squad_f1_sorted(const text_spans *g, const text_spans *p)
{
    if (!g->n || !p->n) return g->n == p->n;
    size_t same = common_sorted(g, p);
    double prec = 1.0 * (double)same / (double)p->n, rec = 1.0 * (double)same / (double)g->n;
    return same ? (2 * prec * rec) / (prec + rec) : 0;
}

void squad_score(const char *pred, const char *const *golds, size_t n_golds, double *exact,
                 double *f1)
{
    text_spans p = {0}, ps = {0};
    char *pbuf = squad_tokens(pred, &p);
    size_t used = 0;
    *exact = *f1 = 0;
    for (size_t i = 0; i < p.n; i++) text_spans_push(&ps, p.v[i].p, p.v[i].n);
    spans_sort(&ps);
    for (size_t i = 0; pbuf && (i < n_golds || !used); i++) { /* no usable gold: "" is it */
        text_spans g = {0};
        char *gbuf = i < n_golds ? squad_tokens(golds[i], &g) : NULL;
        if (g.n || i >= n_golds) {
            used++;
            *exact = fmax(*exact, spans_equal(&p, &g));
            spans_sort(&g);
            *f1 = fmax(*f1, squad_f1_sorted(&g, &ps));
        }
        free(gbuf);
        free(g.v);
    }
    free(pbuf);
    free(p.v);
    free(ps.v);
}

void squad_score_bulk(const char *const *preds, const char *const *golds, const size_t *off,
                      size_t n, double *exact, double *f1)
{
#pragma omp parallel for schedule(dynamic, 16)
    for (size_t i = 0; i < n; i++)
        squad_score(preds[i], golds + off[i], off[i + 1] - off[i], &exact[i], &f1[i]);
}

/* A sample index keyed by its no-answer probability; ties keep index order (Python's
 * stable sorted()). */
typedef struct keyed {
    double key;
    size_t idx;
} keyed;

static int keyed_cmp(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* find_best_thresh of the official script; *thresh gets the best threshold. */
static double best_thresh(const char *const *preds, const double *raw, const int *has_ans,
                          const double *na_prob, const size_t *order, size_t n, double *thresh)
{
    double cur = 0, best;
    for (size_t i = 0; i < n; i++) cur += !has_ans[i];
    best = cur;
    *thresh = 0.0;
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        cur += has_ans[i] ? raw[i] : (preds[i][0] ? -1 : 0);
        if (cur > best) best = cur, *thresh = na_prob ? na_prob[i] : 0.0;
    }
    return 100.0 * best / (double)n;
}

/* make_eval_dict over samples with has_ans == want (-1: all), after the threshold. */
static void eval_dict(const double *exact, const double *f1, const int *has_ans,
                      const double *na_prob, size_t n, double thresh, int want, double *ex,
                      double *f, size_t *total)
{
    double se = 0, sf = 0;
    *total = 0;
    for (size_t i = 0; i < n; i++) {
        if (want >= 0 && !has_ans[i] != !want) continue;
        int pred_na = na_prob && na_prob[i] > thresh;
        se += pred_na ? (double)!has_ans[i] : exact[i];
        sf += pred_na ? (double)!has_ans[i] : f1[i];
        (*total)++;
    }
    *ex = *total ? 100.0 * se / (double)*total : NAN;
    *f = *total ? 100.0 * sf / (double)*total : NAN;
}

void squad_v2_summarize(const char *const *preds, const double *exact, const double *f1,
                        const int *has_ans, const double *na_prob, size_t n, double thresh,
                        squad_v2_summary *out)
{
    eval_dict(exact, f1, has_ans, na_prob, n, thresh, -1, &out->exact, &out->f1, &out->total);
    eval_dict(exact, f1, has_ans, na_prob, n, thresh, 1, &out->has_ans_exact, &out->has_ans_f1,
              &out->has_ans_total);
    eval_dict(exact, f1, has_ans, na_prob, n, thresh, 0, &out->no_ans_exact, &out->no_ans_f1,
              &out->no_ans_total);
    keyed *k = xmalloc((n ? n : 1) * sizeof *k);
    size_t *order = xmalloc((n ? n : 1) * sizeof *order);
    for (size_t i = 0; i < n; i++) k[i] = (keyed){na_prob ? na_prob[i] : 0.0, i};
    qsort(k, n, sizeof *k, keyed_cmp);
    for (size_t i = 0; i < n; i++) order[i] = k[i].idx;
    free(k);
    out->best_exact = best_thresh(preds, exact, has_ans, na_prob, order, n,
                                  &out->best_exact_thresh);
    out->best_f1 = best_thresh(preds, f1, has_ans, na_prob, order, n, &out->best_f1_thresh);
    free(order);
}

/* --- DROP ------------------------------------------------------------------------------------- */

/* One token of _normalize: lower, punctuation (unless a number), str(float()), articles,
 * whitespace. Returns a malloc'd string, NULL on a PCRE2 limit. */
static char *drop_token(const char *tok, size_t n)
{
    char *t = xstrndup(tok, n), *lo = text_lower_fast(t);
    double v;
    free(t);
    if (!py_float_parse(lo, &v)) remove_punct(lo);
    if (py_float_parse(lo, &v)) {
        free(lo);
        lo = py_float_repr(v);
    }
    t = remove_articles(lo);
    return t ? ws_fix(t) : NULL;
}

char *drop_normalize(const char *span_text)
{
    buf b = {0};
    const char *p = span_text;
    for (;;) {
        size_t n = strcspn(p, " -");
        char *t = drop_token(p, n);
        if (!t) return buf_free(&b), NULL;
        if (*t) {
            if (b.len) buf_putc(&b, ' ');
            buf_puts(&b, t);
        }
        free(t);
        if (!p[n]) break;
        p += n + 1;
    }
    return buf_steal(&b);
}

/* Normalised text_spans and their token bags (sets). */
typedef struct drop_bags {
    char **norm;
    text_spans *bag;
    size_t n;
} drop_bags;

static void drop_bags_make(const char *const *raw, size_t n, drop_bags *b)
{
    b->n = n;
    b->norm = xcalloc(n ? n : 1, sizeof *b->norm);
    b->bag = xcalloc(n ? n : 1, sizeof *b->bag);
    for (size_t i = 0; i < n; i++) {
        b->norm[i] = drop_normalize(raw[i]);
        if (!b->norm[i]) b->norm[i] = xstrdup(raw[i]); /* PCRE2 limit: keep the raw span */
        text_split(b->norm[i], &b->bag[i]);
        spans_set(&b->bag[i]);
    }
}

static void drop_bags_free(drop_bags *b)
{
    for (size_t i = 0; i < b->n; i++) free(b->norm[i]), free(b->bag[i].v);
    free(b->norm);
    free(b->bag);
}

static int span_is_number(const text_span *s)
{
    char *t = xstrndup(s->p, s->n);
    double v;
    int ok = py_float_parse(t, &v);
    free(t);
    return ok;
}

/* _match_numbers_if_present: the gold bag has no number or shares one with pred. */
static int numbers_match(const text_spans *gold, const text_spans *pred)
{
    int gold_has = 0;
    for (size_t i = 0; i < gold->n; i++) {
        if (!span_is_number(&gold->v[i])) continue;
        gold_has = 1;
        for (size_t j = 0; j < pred->n; j++)
            if (!text_span_cmp(&gold->v[i], &pred->v[j])) return 1;
    }
    return !gold_has;
}

/* _compute_f1 of two bags. */
static double bag_f1(const text_spans *pred, const text_spans *gold)
{
    double inter = (double)common_sorted(gold, pred);
    double prec = pred->n ? inter / (double)pred->n : 1.0;
    double rec = gold->n ? inter / (double)gold->n : 1.0;
    return prec == 0.0 && rec == 0.0 ? 0.0 : (2 * prec * rec) / (prec + rec);
}

/* Maximum-weight assignment of the r rows of w (r x c, r <= c, row-major) to distinct
 * columns, into col_of[r]: the Hungarian algorithm (potentials, O(r^2 c)) on cost -w. */
static void assign_max(const double *w, size_t r, size_t c, size_t *col_of)
{
    double *u = xcalloc(r + 1, sizeof *u), *v = xcalloc(c + 1, sizeof *v);
    double *minv = xmalloc((c + 1) * sizeof *minv);
    size_t *p = xcalloc(c + 1, sizeof *p), *way = xcalloc(c + 1, sizeof *way);
    char *used = xmalloc(c + 1);
    for (size_t i = 1; i <= r; i++) {
        size_t j0 = 0;
        p[0] = i;
        for (size_t j = 0; j <= c; j++) minv[j] = INFINITY, used[j] = 0;
        do {
            size_t i0 = p[j0], j1 = 0;
            double delta = INFINITY;
            used[j0] = 1;
            for (size_t j = 1; j <= c; j++) {
                if (used[j]) continue;
                double cur = -w[(i0 - 1) * c + j - 1] - u[i0] - v[j];
                if (cur < minv[j]) minv[j] = cur, way[j] = j0;
                if (minv[j] < delta) delta = minv[j], j1 = j;
            }
            for (size_t j = 0; j <= c; j++) {
                if (used[j]) u[p[j]] += delta, v[j] -= delta;
                else minv[j] -= delta;
            }
            j0 = j1;
        } while (p[j0] != 0);
        do {
            size_t j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
    for (size_t j = 1; j <= c; j++)
        if (p[j]) col_of[p[j] - 1] = j - 1;
    free(u), free(v), free(minv), free(p), free(way), free(used);
}

/* _align_bags: mean over max(#gold, #pred) of the optimally aligned bag F1s. */
static double align_bags(const drop_bags *pred, const drop_bags *gold)
{
    size_t ng = gold->n, np = pred->n, r = ng < np ? ng : np, c = ng < np ? np : ng;
    if (!c) return NAN; /* numpy's mean of nothing */
    double *w = xcalloc(r * c + 1, sizeof *w), *best = xcalloc(c, sizeof *best);
    size_t *col = xcalloc(r + 1, sizeof *col);
    for (size_t g = 0; g < ng; g++)
        for (size_t q = 0; q < np; q++) {
            double s = numbers_match(&gold->bag[g], &pred->bag[q])
                           ? bag_f1(&pred->bag[q], &gold->bag[g]) : 0.0;
            w[ng <= np ? g * c + q : q * c + g] = s; /* rows are the shorter side */
        }
    assign_max(w, r, c, col);
    for (size_t k = 0; k < r; k++) {
        size_t g = ng <= np ? k : col[k];
        double s = w[k * c + col[k]];
        if (s > best[g]) best[g] = s;
    }
    double sum = 0;
    for (size_t k = 0; k < c; k++) sum += best[k];
    free(w), free(best), free(col);
    return sum / (double)c;
}

/* Python round(x, 2): correctly rounded, ties to even on the exact binary value. */
static double round2(double x)
{
    char t[64];
    if (!isfinite(x)) return x;
    snprintf(t, sizeof t, "%.2f", x);
    return strtod(t, NULL);
}

void drop_get_metrics(const char *const *pred, size_t n_pred, const char *const *gold,
                      size_t n_gold, double *em, double *f1)
{
    drop_bags p, g;
    drop_bags_make(pred, n_pred, &p);
    drop_bags_make(gold, n_gold, &g);
    text_spans sp = {0}, sg = {0}; /* set(normalised text_spans) */
    for (size_t i = 0; i < n_pred; i++) text_spans_push(&sp, p.norm[i], strlen(p.norm[i]));
    for (size_t i = 0; i < n_gold; i++) text_spans_push(&sg, g.norm[i], strlen(g.norm[i]));
    spans_set(&sp);
    spans_set(&sg);
    int same = sp.n == sg.n && common_sorted(&sp, &sg) == sp.n;
    *em = same && n_pred == n_gold ? 1.0 : 0.0;
    *f1 = round2(align_bags(&p, &g));
    free(sp.v), free(sg.v);
    drop_bags_free(&p);
    drop_bags_free(&g);
}

void drop_score(const char *pred, const drop_answer *golds, size_t n_golds, double *em,
                double *f1)
{
    *em = *f1 = 0;
    for (size_t i = 0; i < n_golds; i++) {
        if (!golds[i].n_spans) continue;
        char *first = text_strip(golds[i].spans[0]);
        int blank = !*first;
        free(first);
        if (blank) continue;
        double e, f;
        drop_get_metrics(&pred, 1, golds[i].spans, golds[i].n_spans, &e, &f);
        if (e > *em) *em = e;
        if (f > *f1) *f1 = f;
    }
}

void drop_score_bulk(const char *const *preds, const drop_answer *golds, const size_t *off,
                     size_t n, double *em, double *f1)
{
#pragma omp parallel for schedule(dynamic, 8)
    for (size_t i = 0; i < n; i++)
        drop_score(preds[i], golds + off[i], off[i + 1] - off[i], &em[i], &f1[i]);
}

/* --- F1 and MCC ------------------------------------------------------------------------------- */

static int i64_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The sorted distinct labels of golds and preds. Caller frees. */
static int64_t *labels_of(const int64_t *g, const int64_t *p, size_t n, size_t *k)
{
    int64_t *lab = xmalloc((2 * n + 1) * sizeof *lab);
    memcpy(lab, g, n * sizeof *lab);
    memcpy(lab + n, p, n * sizeof *lab);
    qsort(lab, 2 * n, sizeof *lab, i64_cmp);
    *k = 0;
    for (size_t i = 0; i < 2 * n; i++)
        if (!*k || lab[i] != lab[*k - 1]) lab[(*k)++] = lab[i];
    return lab;
}

int metric_f1(const int64_t *golds, const int64_t *preds, size_t n, int macro, double *out,
              char *err, size_t errlen)
{
    if (!n) return errf(err, errlen, "f1: no samples");
    size_t k;
    int64_t *lab = labels_of(golds, preds, n, &k);
    int rc = 0;
    if (!macro && (k > 2 || (k == 2 && lab[0] != 1 && lab[1] != 1))) {
        rc = errf(err, errlen, "f1: average='binary' needs labels within {0, 1} with pos_label 1"
                  " (got %zu distinct labels); use macro", k);
    } else {
        double sum = 0;
        size_t n_avg = macro ? k : 1;
        for (size_t c = 0; c < n_avg; c++) {
            int64_t pos = macro ? lab[c] : 1;
            size_t tp = 0, t = 0, pr = 0;
            for (size_t i = 0; i < n; i++) {
                t += golds[i] == pos, pr += preds[i] == pos;
                tp += golds[i] == pos && preds[i] == pos;
            }
            sum += t + pr ? 2.0 * (double)tp / ((double)t + (double)pr) : 0.0;
        }
        *out = sum / (double)n_avg;
    }
    free(lab);
    return rc;
}

double metric_mcc(const int64_t *golds, const int64_t *preds, size_t n)
{
    if (!n) return NAN;
    size_t k;
    int64_t *lab = labels_of(golds, preds, n, &k);
    double *ts = xcalloc(k, sizeof *ts), *ps = xcalloc(k, sizeof *ps), correct = 0;
    for (size_t i = 0; i < n; i++) {
        size_t a = (size_t)((int64_t *)bsearch(&golds[i], lab, k, sizeof *lab, i64_cmp) - lab);
        size_t b = (size_t)((int64_t *)bsearch(&preds[i], lab, k, sizeof *lab, i64_cmp) - lab);
        ts[a]++, ps[b]++, correct += a == b;
    }
    double ns = 0, tp = 0, pp = 0, tt = 0;
    for (size_t c = 0; c < k; c++) {
        ns += ps[c], tp += ts[c] * ps[c];
        pp += ps[c] * ps[c], tt += ts[c] * ts[c];
    }
    double cov_ytyp = correct * ns - tp, cov_ypyp = ns * ns - pp, cov_ytyt = ns * ns - tt;
    double prod = cov_ypyp * cov_ytyt;
    free(lab), free(ts), free(ps);
    return prod == 0 ? 0.0 : cov_ytyp / sqrt(prod);
}
