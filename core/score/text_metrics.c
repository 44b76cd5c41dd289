/* text_metrics.c — SQuAD v2, DROP, BLEU, chrF, ROUGE, F1 and MCC (see text_metrics.h). */
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
#define NG_MAX 9           /* longest n-gram: rouge9 */
#define CHRF_ORDER 6
#define CHRF_BETA 2
#define BLEU_ORDER 4

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

typedef struct span {
    const char *p;
    size_t n;
} span;

typedef struct spans {
    span *v;
    size_t n, cap;
} spans;

static void spans_push(spans *l, const char *p, size_t n)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = (span){p, n};
}

/* Python s.split(): the runs of non-whitespace of s, appended to out. */
static void split_ws(const char *s, spans *out)
{
    const char *start = NULL;
    size_t k;
    for (const char *p = s;; p += k) {
        int space = !*p || text_is_space(text_utf8_decode(p, &k));
        if (!space && !start) start = p;
        if (space && start) spans_push(out, start, (size_t)(p - start)), start = NULL;
        if (!*p) return;
    }
}

/* " ".join(s.split()). Consumes s. */
static char *ws_fix(char *s)
{
    spans t = {0};
    split_ws(s, &t);
    buf b = {0};
    for (size_t i = 0; i < t.n; i++) {
        if (i) buf_putc(&b, ' ');
        buf_append(&b, t.v[i].p, t.v[i].n);
    }
    free(t.v);
    free(s);
    return buf_steal(&b);
}

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    int c = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* Sort v and drop duplicates (a Python set of tokens, in a canonical order). */
static void spans_set(spans *l)
{
    if (!l->n) return;
    qsort(l->v, l->n, sizeof *l->v, span_cmp);
    size_t k = 1;
    for (size_t i = 1; i < l->n; i++)
        if (span_cmp(&l->v[i], &l->v[k - 1])) l->v[k++] = l->v[i];
    l->n = k;
}

/* Size of the intersection of two sorted lists (multisets or sets). */
static size_t common_sorted(const spans *a, const spans *b)
{
    size_t i = 0, j = 0, n = 0;
    while (i < a->n && j < b->n) {
        int c = span_cmp(&a->v[i], &b->v[j]);
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

/* re.sub(r"\b(a|an|the)\b", " ", s) with re.UNICODE. Consumes s; NULL on a PCRE2 limit. */
static char *remove_articles(char *s)
{
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

char *squad_normalize(const char *s)
{
    char *t = remove_articles(remove_punct(text_lower(s)));
    return t ? ws_fix(t) : NULL;
}

/* compute_f1 on two normalised strings. */
static double squad_f1_norm(const char *gold, const char *pred)
{
    spans g = {0}, p = {0};
    split_ws(gold, &g);
    split_ws(pred, &p);
    double f1;
    if (!g.n || !p.n) f1 = g.n == p.n;
    else {
        qsort(g.v, g.n, sizeof *g.v, span_cmp);
        qsort(p.v, p.n, sizeof *p.v, span_cmp);
        size_t same = common_sorted(&g, &p);
        double prec = 1.0 * (double)same / (double)p.n, rec = 1.0 * (double)same / (double)g.n;
        f1 = same ? (2 * prec * rec) / (prec + rec) : 0;
    }
    free(g.v);
    free(p.v);
    return f1;
}

void squad_score(const char *pred, const char *const *golds, size_t n_golds, double *exact,
                 double *f1)
{
    char *p = squad_normalize(pred);
    size_t used = 0;
    *exact = *f1 = 0;
    for (size_t i = 0; p && (i < n_golds || !used); i++) { /* no usable gold: "" is the gold */
        char *g = i < n_golds ? squad_normalize(golds[i]) : xstrdup("");
        if (g && (*g || i >= n_golds)) {
            used++;
            *exact = fmax(*exact, strcmp(g, p) == 0);
            *f1 = fmax(*f1, squad_f1_norm(g, p));
        }
        free(g);
    }
    free(p);
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
    out->best_exact = best_thresh(preds, exact, has_ans, na_prob, order, n, &out->best_exact_thresh);
    out->best_f1 = best_thresh(preds, f1, has_ans, na_prob, order, n, &out->best_f1_thresh);
    free(order);
}

/* --- DROP -------------------------------------------------------------------------------------- */

/* One token of _normalize: lower, punctuation (unless a number), str(float()), articles,
 * whitespace. Returns a malloc'd string, NULL on a PCRE2 limit. */
static char *drop_token(const char *tok, size_t n)
{
    char *t = xstrndup(tok, n), *lo = text_lower(t);
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

/* Normalised spans and their token bags (sets). */
typedef struct drop_bags {
    char **norm;
    spans *bag;
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
        split_ws(b->norm[i], &b->bag[i]);
        spans_set(&b->bag[i]);
    }
}

static void drop_bags_free(drop_bags *b)
{
    for (size_t i = 0; i < b->n; i++) free(b->norm[i]), free(b->bag[i].v);
    free(b->norm);
    free(b->bag);
}

static int span_is_number(const span *s)
{
    char *t = xstrndup(s->p, s->n);
    double v;
    int ok = py_float_parse(t, &v);
    free(t);
    return ok;
}

/* _match_numbers_if_present: the gold bag has no number or shares one with pred. */
static int numbers_match(const spans *gold, const spans *pred)
{
    int gold_has = 0;
    for (size_t i = 0; i < gold->n; i++) {
        if (!span_is_number(&gold->v[i])) continue;
        gold_has = 1;
        for (size_t j = 0; j < pred->n; j++)
            if (!span_cmp(&gold->v[i], &pred->v[j])) return 1;
    }
    return !gold_has;
}

/* _compute_f1 of two bags. */
static double bag_f1(const spans *pred, const spans *gold)
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
    spans sp = {0}, sg = {0}; /* set(normalised spans) */
    for (size_t i = 0; i < n_pred; i++) spans_push(&sp, p.norm[i], strlen(p.norm[i]));
    for (size_t i = 0; i < n_gold; i++) spans_push(&sg, g.norm[i], strlen(g.norm[i]));
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

/* --- n-grams ------------------------------------------------------------------------------------ */

typedef struct ngram {
    uint32_t t[NG_MAX]; /* unused slots are UINT32_MAX */
} ngram;

static int ngram_cmp(const void *a, const void *b) { return memcmp(a, b, sizeof(ngram)); }

/* The order-n n-grams of v[0..len), sorted (any total order will do); returns their count.
 * Caller frees *out. */
static size_t ngrams_sorted(const uint32_t *v, size_t len, int n, ngram **out)
{
    size_t k = len >= (size_t)n ? len - (size_t)n + 1 : 0;
    *out = xmalloc((k ? k : 1) * sizeof **out);
    for (size_t i = 0; i < k; i++) {
        memset((*out)[i].t, 0xFF, sizeof (*out)[i].t);
        memcpy((*out)[i].t, v + i, (size_t)n * sizeof *v);
    }
    qsort(*out, k, sizeof **out, ngram_cmp);
    return k;
}

/* Sum over the distinct n-grams of h of min(count in h, max count in refs[r]). */
static size_t clipped_matches(const ngram *h, size_t nh, ngram *const *refs, const size_t *nr,
                              size_t k)
{
    size_t *pos = xcalloc(k ? k : 1, sizeof *pos), total = 0;
    for (size_t i = 0; i < nh;) {
        size_t j = i + 1, best = 0;
        while (j < nh && !ngram_cmp(&h[i], &h[j])) j++;
        for (size_t r = 0; r < k; r++) {
            size_t c = 0;
            while (pos[r] < nr[r] && ngram_cmp(&refs[r][pos[r]], &h[i]) < 0) pos[r]++;
            while (pos[r] + c < nr[r] && !ngram_cmp(&refs[r][pos[r] + c], &h[i])) c++;
            if (c > best) best = c;
        }
        total += j - i < best ? j - i : best;
        i = j;
    }
    free(pos);
    return total;
}

typedef struct tagged {
    span s;
    size_t at; /* index into the flat id array */
} tagged;

static int tagged_cmp(const void *a, const void *b)
{
    return span_cmp(&((const tagged *)a)->s, &((const tagged *)b)->s);
}

/* Ids for the tokens of lists[0..k): equal strings get equal ids. List l's ids are
 * flat[off[l] .. off[l+1]); *n_ids = distinct tokens. Caller frees the result. */
static uint32_t *intern(const spans *lists, size_t k, size_t *off, size_t *n_ids)
{
    off[0] = 0;
    for (size_t l = 0; l < k; l++) off[l + 1] = off[l] + lists[l].n;
    size_t n = off[k];
    tagged *all = xmalloc((n ? n : 1) * sizeof *all);
    for (size_t l = 0; l < k; l++)
        for (size_t i = 0; i < lists[l].n; i++) all[off[l] + i] = (tagged){lists[l].v[i], off[l] + i};
    qsort(all, n, sizeof *all, tagged_cmp);
    uint32_t *flat = xmalloc((n ? n : 1) * sizeof *flat), id = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && span_cmp(&all[i].s, &all[i - 1].s)) id++;
        flat[all[i].at] = id;
    }
    *n_ids = n ? (size_t)id + 1 : 0;
    free(all);
    return flat;
}

/* --- BLEU ----------------------------------------------------------------------------------------- */

/* Python s.replace(from, to). Consumes s. */
static char *replace_all(char *s, const char *from, const char *to)
{
    const char *p = s, *q = strstr(s, from);
    if (!q) return s;
    buf b = {0};
    for (size_t fl = strlen(from); q; p = q + fl, q = strstr(p, from)) {
        buf_append(&b, p, (size_t)(q - p));
        buf_puts(&b, to);
    }
    buf_puts(&b, p);
    free(s);
    return buf_steal(&b);
}

/* Python s.rstrip(), as a malloc'd copy. */
static char *rstrip_copy(const char *s)
{
    size_t end = 0, k;
    for (size_t i = 0; s[i]; i += k)
        if (!text_is_space(text_utf8_decode(s + i, &k))) end = i + k;
    return xstrndup(s, end);
}

static int in_13a_class(char c) /* [\{-\~\[-\` -\&\(-\+\:-\@\/] */
{
    return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&')
           || (c >= '(' && c <= '+') || (c >= ':' && c <= '@') || c == '/';
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* The four re.sub passes of sacreBLEU's TokenizerRegexp over s (consumed). Bytes stand in
 * for code points: every pattern hinges on ASCII, and a multi-byte character plays the
 * same part ([^0-9]) whichever of its bytes a pass looks at. */
static char *regexp_passes(char *s)
{
    for (int pass = 1; pass <= 4; pass++) {
        buf b = {0};
        for (const char *p = s; *p; p++) {
            char c = *p, d = p[1];
            if (pass == 1 && in_13a_class(c)) buf_putc(&b, ' '), buf_putc(&b, c), buf_putc(&b, ' ');
            else if (pass == 2 && !is_digit(c) && (d == '.' || d == ',')) {
                buf_putc(&b, c), buf_putc(&b, ' '), buf_putc(&b, d), buf_putc(&b, ' '), p++;
            } else if (pass == 3 && (c == '.' || c == ',') && d && !is_digit(d)) {
                buf_putc(&b, ' '), buf_putc(&b, c), buf_putc(&b, ' '), buf_putc(&b, d), p++;
            } else if (pass == 4 && is_digit(c) && d == '-') {
                buf_putc(&b, c), buf_puts(&b, " - "), p++;
            } else buf_putc(&b, c);
        }
        free(s);
        s = buf_steal(&b);
    }
    return s;
}

char *bleu_tokenize_13a(const char *in)
{
    char *s = replace_all(rstrip_copy(in), "<skipped>", "");
    s = replace_all(replace_all(s, "-\n", ""), "\n", " ");
    if (strchr(s, '&')) {
        s = replace_all(replace_all(s, "&quot;", "\""), "&amp;", "&");
        s = replace_all(replace_all(s, "&lt;", "<"), "&gt;", ">");
    }
    buf b = {0};
    buf_putc(&b, ' ');
    buf_puts(&b, s);
    buf_putc(&b, ' ');
    free(s);
    return ws_fix(regexp_passes(buf_steal(&b)));
}

/* BLEU._get_closest_ref_len; 0 when there is no reference. */
static long closest_ref_len(long hyp_len, const spans *refs, size_t k)
{
    long best_diff = -1, best = 0;
    for (size_t r = 0; r < k; r++) {
        long len = (long)refs[r].n, diff = labs(hyp_len - len);
        if (best_diff == -1 || diff < best_diff) best_diff = diff, best = len;
        else if (diff == best_diff && len < best) best = len;
    }
    return best;
}

/* Sentence statistics: st = [hyp_len, ref_len, correct[4], total[4]]. */
static void bleu_stats(const char *hyp, const char *const *refs, size_t n_refs, long *st)
{
    size_t k = n_refs + 1, n_ids;
    char **tok = xmalloc(k * sizeof *tok);
    spans *lists = xcalloc(k, sizeof *lists);
    size_t *off = xmalloc((k + 1) * sizeof *off), *nr = xmalloc(k * sizeof *nr);
    for (size_t l = 0; l < k; l++) {
        tok[l] = bleu_tokenize_13a(l ? refs[l - 1] : hyp);
        split_ws(tok[l], &lists[l]);
    }
    uint32_t *ids = intern(lists, k, off, &n_ids);
    ngram **g = xmalloc(k * sizeof *g);
    st[0] = (long)lists[0].n;
    st[1] = closest_ref_len(st[0], lists + 1, n_refs);
    for (int n = 1; n <= BLEU_ORDER; n++) {
        for (size_t l = 0; l < k; l++) nr[l] = ngrams_sorted(ids + off[l], lists[l].n, n, &g[l]);
        st[1 + n] = (long)clipped_matches(g[0], nr[0], g + 1, nr + 1, n_refs);
        st[1 + BLEU_ORDER + n] = (long)nr[0];
        for (size_t l = 0; l < k; l++) free(g[l]);
    }
    for (size_t l = 0; l < k; l++) free(tok[l]), free(lists[l].v);
    free(tok), free(lists), free(off), free(nr), free(ids), free(g);
}

static double my_log(double x) { return x == 0.0 ? -9999999999.0 : log(x); }

/* BLEU.compute_bleu with smooth_method "exp" over st (see bleu_stats). */
static double bleu_compute(const long *st, int effective_order)
{
    long sys_len = st[0], ref_len = st[1];
    const long *correct = st + 2, *total = st + 2 + BLEU_ORDER;
    double bp = 1.0, prec[BLEU_ORDER] = {0}, smooth = 1.0, sum = 0;
    if (sys_len < ref_len) bp = sys_len > 0 ? exp(1 - (double)ref_len / (double)sys_len) : 0.0;
    int any = 0, eff = BLEU_ORDER;
    for (int n = 0; n < BLEU_ORDER; n++) any |= correct[n] != 0;
    if (!any) return 0.0;
    for (int n = 1; n <= BLEU_ORDER; n++) {
        if (total[n - 1] == 0) break;
        if (effective_order) eff = n;
        if (correct[n - 1] == 0) {
            smooth *= 2;
            prec[n - 1] = 100. / (smooth * (double)total[n - 1]);
        } else prec[n - 1] = 100. * (double)correct[n - 1] / (double)total[n - 1];
    }
    for (int n = 0; n < eff; n++) sum += my_log(prec[n]);
    return bp * exp(sum / eff);
}

typedef void (*stats_fn)(const char *hyp, const char *const *refs, size_t n_refs, long *st);

/* Sentence statistics (w longs each) in parallel, then summed in sample order into sum. */
static void corpus_stats(stats_fn fn, size_t w, const char *const *hyps,
                         const char *const *refs, const size_t *off, size_t n, long *sum)
{
    long *st = xcalloc(n ? n * w : 1, sizeof *st);
#pragma omp parallel for schedule(dynamic, 16)
    for (size_t i = 0; i < n; i++) fn(hyps[i], refs + off[i], off[i + 1] - off[i], st + i * w);
    memset(sum, 0, w * sizeof *sum);
    for (size_t i = 0; i < n * w; i++) sum[i % w] += st[i];
    free(st);
}

double bleu_corpus(const char *const *hyps, const char *const *refs, const size_t *off, size_t n)
{
    long sum[2 + 2 * BLEU_ORDER];
    corpus_stats(bleu_stats, 2 + 2 * BLEU_ORDER, hyps, refs, off, n, sum);
    return bleu_compute(sum, 0);
}

double bleu_sentence(const char *hyp, const char *const *refs, size_t n_refs)
{
    long st[2 + 2 * BLEU_ORDER];
    bleu_stats(hyp, refs, n_refs, st);
    return bleu_compute(st, 1);
}

/* --- chrF ------------------------------------------------------------------------------------------- */

/* Code points of ''.join(s.split()). Caller frees; *len gets the count. */
static uint32_t *chars_no_ws(const char *s, size_t *len)
{
    uint32_t *v = xmalloc((strlen(s) + 1) * sizeof *v);
    size_t k;
    *len = 0;
    for (; *s; s += k) {
        uint32_t cp = text_utf8_decode(s, &k);
        if (!text_is_space(cp)) v[(*len)++] = cp;
    }
    return v;
}

/* CHRF._compute_f_score (eps_smoothing off) over [hyp, ref, match] x CHRF_ORDER. */
static double chrf_f(const long *st)
{
    const double eps = 1e-16, factor = CHRF_BETA * CHRF_BETA;
    double score = 0.0, avg_prec = 0.0, avg_rec = 0.0;
    int eff = 0;
    for (int i = 0; i < CHRF_ORDER; i++) {
        long n_hyp = st[3 * i], n_ref = st[3 * i + 1], n_match = st[3 * i + 2];
        double prec = n_hyp > 0 ? (double)n_match / (double)n_hyp : eps;
        double rec = n_ref > 0 ? (double)n_match / (double)n_ref : eps;
        double denom = factor * prec + rec;
        score += denom > 0 ? (1 + factor) * prec * rec / denom : eps;
        if (n_hyp > 0 && n_ref > 0) avg_prec += prec, avg_rec += rec, eff++;
    }
    if (eff == 0) avg_prec = avg_rec = 0.0;
    else avg_prec /= eff, avg_rec /= eff;
    if (avg_prec + avg_rec == 0) return 0.0;
    score = (1 + factor) * avg_prec * avg_rec;
    score /= (factor * avg_prec) + avg_rec;
    return 100 * score;
}

/* Sentence statistics against the best reference (highest chrF, first on ties). */
static void chrf_stats(const char *hyp, const char *const *refs, size_t n_refs, long *best)
{
    size_t hl, nh[CHRF_ORDER];
    uint32_t *hc = chars_no_ws(hyp, &hl);
    ngram *hg[CHRF_ORDER];
    double best_f = -1.0;
    memset(best, 0, 3 * CHRF_ORDER * sizeof *best);
    for (int n = 0; n < CHRF_ORDER; n++) nh[n] = ngrams_sorted(hc, hl, n + 1, &hg[n]);
    for (size_t r = 0; r < n_refs; r++) {
        size_t rl, nr;
        uint32_t *rc = chars_no_ws(refs[r], &rl);
        long st[3 * CHRF_ORDER];
        for (int n = 0; n < CHRF_ORDER; n++) {
            ngram *rg;
            nr = ngrams_sorted(rc, rl, n + 1, &rg);
            st[3 * n] = nr ? (long)nh[n] : 0;
            st[3 * n + 1] = (long)nr;
            st[3 * n + 2] = (long)clipped_matches(hg[n], nh[n], &rg, &nr, 1);
            free(rg);
        }
        double f = chrf_f(st);
        if (f > best_f) best_f = f, memcpy(best, st, sizeof st);
        free(rc);
    }
    for (int n = 0; n < CHRF_ORDER; n++) free(hg[n]);
    free(hc);
}

double chrf_corpus(const char *const *hyps, const char *const *refs, const size_t *off, size_t n)
{
    long sum[3 * CHRF_ORDER];
    corpus_stats(chrf_stats, 3 * CHRF_ORDER, hyps, refs, off, n, sum);
    return chrf_f(sum);
}

double chrf_sentence(const char *hyp, const char *const *refs, size_t n_refs)
{
    long st[3 * CHRF_ORDER];
    chrf_stats(hyp, refs, n_refs, st);
    return chrf_f(st);
}

/* --- ROUGE -------------------------------------------------------------------------------------- */

/* rouge_score's tokenize without a stemmer: the [a-z0-9] runs of the lowered text. */
static void rouge_tokens(const char *lowered, spans *out)
{
    for (const char *p = lowered; *p;) {
        size_t n = 0;
        while ((p[n] >= 'a' && p[n] <= 'z') || is_digit(p[n])) n++;
        if (n) spans_push(out, p, n);
        p += n ? n : 1;
    }
}

/* The '\n'-separated line of each token (rougeLsum's sentences). Caller frees. */
static size_t *token_lines(const char *text, const spans *tok)
{
    size_t *line = xmalloc((tok->n ? tok->n : 1) * sizeof *line), ln = 0;
    const char *p = text;
    for (size_t i = 0; i < tok->n; i++) {
        for (; p < tok->v[i].p; p++) ln += *p == '\n';
        line[i] = ln;
    }
    return line;
}

static double fmeasure(double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0.0; }

/* _score_ngrams of target t and prediction p. */
static double rouge_n(const uint32_t *t, size_t nt, const uint32_t *p, size_t np, int n)
{
    ngram *tg, *pg;
    size_t a = ngrams_sorted(t, nt, n, &tg), b = ngrams_sorted(p, np, n, &pg);
    double inter = (double)clipped_matches(tg, a, &pg, &b, 1);
    free(tg), free(pg);
    return fmeasure(inter / (double)(b > 1 ? b : 1), inter / (double)(a > 1 ? a : 1));
}

/* _lcs_table: (na + 1) x (nb + 1), row-major. Caller frees. */
static uint32_t *lcs_table(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    size_t w = nb + 1;
    uint32_t *t = xcalloc((na + 1) * w, sizeof *t);
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            uint32_t up = t[(i - 1) * w + j], left = t[i * w + j - 1];
            t[i * w + j] = a[i - 1] == b[j - 1] ? t[(i - 1) * w + j - 1] + 1 : up > left ? up : left;
        }
    return t;
}

static double rouge_l(const uint32_t *t, size_t nt, const uint32_t *p, size_t np)
{
    if (!nt || !np) return 0.0;
    uint32_t *tab = lcs_table(t, nt, p, np);
    double lcs = tab[nt * (np + 1) + np];
    free(tab);
    return fmeasure(lcs / (double)np, lcs / (double)nt);
}

/* Mark in mark[] the ref indices of the LCS that _backtrack_norec finds. */
static void lcs_mark(const uint32_t *ref, size_t nr, const uint32_t *can, size_t nc, char *mark)
{
    uint32_t *t = lcs_table(ref, nr, can, nc);
    size_t i = nr, j = nc, w = nc + 1;
    while (i > 0 && j > 0) {
        if (ref[i - 1] == can[j - 1]) mark[--i] = 1, j--;
        else if (t[i * w + j - 1] > t[(i - 1) * w + j]) j--;
        else i--;
    }
    free(t);
}

/* _summary_level_lcs over the line-grouped tokens (lines without tokens add nothing). */
static double rouge_lsum(const uint32_t *t, const size_t *tl, size_t nt, const uint32_t *p,
                         const size_t *pl, size_t np, size_t n_ids)
{
    if (!nt || !np) return 0.0;
    long *cr = xcalloc(n_ids, sizeof *cr), *cc = xcalloc(n_ids, sizeof *cc);
    char *mark = xcalloc(nt, 1);
    size_t hits = 0;
    for (size_t i = 0; i < nt; i++) cr[t[i]]++;
    for (size_t j = 0; j < np; j++) cc[p[j]]++;
    for (size_t rs = 0, re; rs < nt; rs = re) {
        for (re = rs; re < nt && tl[re] == tl[rs]; re++) {}
        for (size_t cs = 0, ce; cs < np; cs = ce) {
            for (ce = cs; ce < np && pl[ce] == pl[cs]; ce++) {}
            lcs_mark(t + rs, re - rs, p + cs, ce - cs, mark + rs);
        }
        for (size_t i = rs; i < re; i++)
            if (mark[i] && cc[t[i]] > 0 && cr[t[i]] > 0) hits++, cc[t[i]]--, cr[t[i]]--;
    }
    free(cr), free(cc), free(mark);
    return fmeasure((double)hits / (double)np, (double)hits / (double)nt);
}

void rouge_score(const char *target, const char *prediction, rouge_scores *out)
{
    char *low[2] = {text_lower(target), text_lower(prediction)};
    spans tok[2] = {{0}, {0}};
    size_t off[3], n_ids, *line[2];
    for (int k = 0; k < 2; k++) rouge_tokens(low[k], &tok[k]);
    for (int k = 0; k < 2; k++) line[k] = token_lines(low[k], &tok[k]);
    uint32_t *ids = intern(tok, 2, off, &n_ids);
    const uint32_t *t = ids, *p = ids + off[1];
    size_t nt = tok[0].n, np = tok[1].n;
    out->rouge1 = rouge_n(t, nt, p, np, 1);
    out->rouge2 = rouge_n(t, nt, p, np, 2);
    out->rougeL = rouge_l(t, nt, p, np);
    out->rougeLsum = rouge_lsum(t, line[0], nt, p, line[1], np, n_ids);
    for (int k = 0; k < 2; k++) free(low[k]), free(tok[k].v), free(line[k]);
    free(ids);
}

void rouge_score_bulk(const char *const *preds, const char *const *targets, const size_t *off,
                      size_t n, rouge_scores *out)
{
#pragma omp parallel for schedule(dynamic, 8)
    for (size_t i = 0; i < n; i++) {
        rouge_scores best = {0, 0, 0, 0}, s;
        for (size_t j = off[i]; j < off[i + 1]; j++) {
            rouge_score(targets[j], preds[i], &s);
            best = (rouge_scores){fmax(best.rouge1, s.rouge1), fmax(best.rouge2, s.rouge2),
                                  fmax(best.rougeL, s.rougeL), fmax(best.rougeLsum, s.rougeLsum)};
        }
        out[i] = best;
    }
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
    for (size_t c = 0; c < k; c++) ns += ps[c], tp += ts[c] * ps[c], pp += ps[c] * ps[c], tt += ts[c] * ts[c];
    double cov_ytyp = correct * ns - tp, cov_ypyp = ns * ns - pp, cov_ytyt = ns * ns - tt;
    double prod = cov_ypyp * cov_ytyt;
    free(lab), free(ts), free(ps);
    return prod == 0 ? 0.0 : cov_ytyp / sqrt(prod);
}
