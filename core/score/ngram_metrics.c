/* ngram_metrics.c — sacreBLEU's BLEU and chrF, rouge_score's ROUGE (see ngram_metrics.h). */
#include "score/ngram_metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "score/text_metrics.h"
#include "util/buf.h"

#define NG_MAX 9 /* longest n-gram: rouge9 */
#define CHRF_ORDER 6
#define CHRF_BETA 2
#define BLEU_ORDER 4

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* --- n-grams ---------------------------------------------------------------------------------- */

/* An order-n n-gram is a row of n ids; rows are compared bytewise (any total order will
 * do: equal rows must sort together). */
typedef int (*row_cmp)(const void *, const void *);
#define ROW_CMP(N) \
    static int row_cmp##N(const void *a, const void *b) { return memcmp(a, b, N * 4); }
ROW_CMP(1) ROW_CMP(2) ROW_CMP(3) ROW_CMP(4) ROW_CMP(5) ROW_CMP(6) ROW_CMP(7) ROW_CMP(8) ROW_CMP(9)
static const row_cmp row_cmps[NG_MAX + 1] = {
    NULL, row_cmp1, row_cmp2, row_cmp3, row_cmp4, row_cmp5, row_cmp6, row_cmp7, row_cmp8, row_cmp9,
};

/* The order-n n-grams of v[0..len) as sorted rows of n ids; returns their count. Caller
 * frees *out. */
static size_t ngrams_sorted(const uint32_t *v, size_t len, int n, uint32_t **out)
{
    size_t k = len >= (size_t)n ? len - (size_t)n + 1 : 0, w = (size_t)n;
    *out = xmalloc((k ? k * w : 1) * sizeof **out);
    for (size_t i = 0; i < k; i++) memcpy(*out + i * w, v + i, w * sizeof *v);
    qsort(*out, k, w * sizeof **out, row_cmps[n]);
    return k;
}

/* Sum over the distinct n-grams of h of min(count in h, max count in refs[r]). */
static size_t clipped_matches(const uint32_t *h, size_t nh, uint32_t *const *refs,
                              const size_t *nr, size_t k, int n)
{
    size_t *pos = xcalloc(k ? k : 1, sizeof *pos), total = 0, w = (size_t)n, bytes = w * 4;
    for (size_t i = 0; i < nh;) {
        size_t j = i + 1, best = 0;
        while (j < nh && !memcmp(h + i * w, h + j * w, bytes)) j++;
        for (size_t r = 0; r < k; r++) {
            size_t c = 0;
            while (pos[r] < nr[r] && memcmp(refs[r] + pos[r] * w, h + i * w, bytes) < 0) pos[r]++;
            while (pos[r] + c < nr[r] && !memcmp(refs[r] + (pos[r] + c) * w, h + i * w, bytes)) c++;
            if (c > best) best = c;
        }
        total += j - i < best ? j - i : best;
        i = j;
    }
    free(pos);
    return total;
}

typedef struct tagged {
    text_span s;
    size_t at; /* index into the flat id array */
} tagged;

static int tagged_cmp(const void *a, const void *b)
{
    return text_span_cmp(&((const tagged *)a)->s, &((const tagged *)b)->s);
}

/* Ids for the tokens of lists[0..k): equal strings get equal ids. List l's ids are
 * flat[off[l] .. off[l+1]); *n_ids = distinct tokens. Caller frees the result. */
static uint32_t *intern(const text_spans *lists, size_t k, size_t *off, size_t *n_ids)
{
    off[0] = 0;
    for (size_t l = 0; l < k; l++) off[l + 1] = off[l] + lists[l].n;
    size_t n = off[k];
    tagged *all = xmalloc((n ? n : 1) * sizeof *all);
    for (size_t l = 0; l < k; l++)
        for (size_t i = 0; i < lists[l].n; i++)
            all[off[l] + i] = (tagged){lists[l].v[i], off[l] + i};
    qsort(all, n, sizeof *all, tagged_cmp);
    uint32_t *flat = xmalloc((n ? n : 1) * sizeof *flat), id = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && text_span_cmp(&all[i].s, &all[i - 1].s)) id++;
        flat[all[i].at] = id;
    }
    *n_ids = n ? (size_t)id + 1 : 0;
    free(all);
    return flat;
}

/* --- BLEU ------------------------------------------------------------------------------------- */

/* text_replace that consumes s. */
static char *replace_all(char *s, const char *from, const char *to)
{
    if (!strstr(s, from)) return s;
    char *out = text_replace(s, from, to);
    free(s);
    return out;
}

/* Python s.rstrip(), as a malloc'd copy. */
static char *rstrip_copy(const char *s)
{
    size_t end = 0, k;
    for (size_t i = 0; s[i]; i += k)
        if (!text_space_at(s + i, &k)) end = i + k;
    return xstrndup(s, end);
}

static int in_13a_class(char c) /* [\{-\~\[-\` -\&\(-\+\:-\@\/] */
{
    return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&')
           || (c >= '(' && c <= '+') || (c >= ':' && c <= '@') || c == '/';
}

/* The four re.sub passes of sacreBLEU's TokenizerRegexp over s (consumed). Bytes stand in
 * for code points: every pattern hinges on ASCII, and a multi-byte character plays the
 * same part ([^0-9]) whichever of its bytes a pass looks at. */
static char *regexp_passes(char *s)
{
    for (int pass = 1; pass <= 4; pass++) {
        char *out = xmalloc(3 * strlen(s) + 1), *w = out; /* a pass at most triples */
        for (const char *p = s; *p; p++) {
            char c = *p, d = p[1];
            if (pass == 1 && in_13a_class(c)) *w++ = ' ', *w++ = c, *w++ = ' ';
            else if (pass == 2 && !is_digit(c) && (d == '.' || d == ',')) {
                *w++ = c, *w++ = ' ', *w++ = d, *w++ = ' ', p++;
            } else if (pass == 3 && (c == '.' || c == ',') && d && !is_digit(d)) {
                *w++ = ' ', *w++ = c, *w++ = ' ', *w++ = d, p++;
            } else if (pass == 4 && is_digit(c) && d == '-') {
                *w++ = c, *w++ = ' ', *w++ = '-', *w++ = ' ', p++;
            } else *w++ = c;
        }
        *w = '\0';
        free(s);
        s = out;
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
    char *tokens = regexp_passes(buf_steal(&b)), *out = text_join_ws(tokens);
    free(tokens);
    return out;
}

/* BLEU._get_closest_ref_len; 0 when there is no reference. */
static long closest_ref_len(long hyp_len, const text_spans *refs, size_t k)
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
    text_spans *lists = xcalloc(k, sizeof *lists);
    size_t *off = xmalloc((k + 1) * sizeof *off), *nr = xmalloc(k * sizeof *nr);
    for (size_t l = 0; l < k; l++) {
        tok[l] = bleu_tokenize_13a(l ? refs[l - 1] : hyp);
        text_split(tok[l], &lists[l]);
    }
    uint32_t *ids = intern(lists, k, off, &n_ids);
    uint32_t **g = xmalloc(k * sizeof *g);
    st[0] = (long)lists[0].n;
    st[1] = closest_ref_len(st[0], lists + 1, n_refs);
    for (int n = 1; n <= BLEU_ORDER; n++) {
        for (size_t l = 0; l < k; l++) nr[l] = ngrams_sorted(ids + off[l], lists[l].n, n, &g[l]);
        st[1 + n] = (long)clipped_matches(g[0], nr[0], g + 1, nr + 1, n_refs, n);
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

/* --- chrF ------------------------------------------------------------------------------------- */

/* Code points of ''.join(s.split()). Caller frees; *len gets the count. */
static uint32_t *chars_no_ws(const char *s, size_t *len)
{
    uint32_t *v = xmalloc((strlen(s) + 1) * sizeof *v);
    size_t k;
    *len = 0;
    for (; *s; s += k) {
        if (!text_space_at(s, &k)) v[(*len)++] = text_utf8_decode(s, &k);
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
    uint32_t *hg[CHRF_ORDER];
    double best_f = -1.0;
    memset(best, 0, 3 * CHRF_ORDER * sizeof *best);
    for (int n = 0; n < CHRF_ORDER; n++) nh[n] = ngrams_sorted(hc, hl, n + 1, &hg[n]);
    for (size_t r = 0; r < n_refs; r++) {
        size_t rl, nr;
        uint32_t *rc = chars_no_ws(refs[r], &rl);
        long st[3 * CHRF_ORDER];
        for (int n = 0; n < CHRF_ORDER; n++) {
            uint32_t *rg;
            nr = ngrams_sorted(rc, rl, n + 1, &rg);
            st[3 * n] = nr ? (long)nh[n] : 0;
            st[3 * n + 1] = (long)nr;
            st[3 * n + 2] = (long)clipped_matches(hg[n], nh[n], &rg, &nr, 1, n + 1);
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

/* --- ROUGE ------------------------------------------------------------------------------------ */

/* rouge_score's tokenize without a stemmer: the [a-z0-9] runs of the lowered text. */
static void rouge_tokens(const char *lowered, text_spans *out)
{
    for (const char *p = lowered; *p;) {
        size_t n = 0;
        while ((p[n] >= 'a' && p[n] <= 'z') || is_digit(p[n])) n++;
        if (n) text_spans_push(out, p, n);
        p += n ? n : 1;
    }
}

/* The '\n'-separated line of each token (rougeLsum's sentences). Caller frees. */
static size_t *token_lines(const char *text, const text_spans *tok)
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
    uint32_t *tg, *pg;
    size_t a = ngrams_sorted(t, nt, n, &tg), b = ngrams_sorted(p, np, n, &pg);
    double inter = (double)clipped_matches(tg, a, &pg, &b, 1, n);
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
            uint32_t diag = t[(i - 1) * w + j - 1] + 1;
            t[i * w + j] = a[i - 1] == b[j - 1] ? diag : up > left ? up : left;
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
    char *low[2] = {text_lower_fast(target), text_lower_fast(prediction)};
    text_spans tok[2] = {{0}, {0}};
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
