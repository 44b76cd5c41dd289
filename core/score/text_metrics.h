/* text_metrics.h — token-level string metrics of generation tasks: SQuAD v2, DROP, and
 * F1 / Matthews correlation over class labels; plus the Python str helpers they share
 * with ngram_metrics.h (BLEU, chrF, ROUGE).
 *
 * References (each test cites the exact version):
 *   SQuAD v2   the official evaluate-v2.0.py (HF evaluate "squad_v2" wraps the same code)
 *   DROP       lm-eval lm_eval/tasks/drop/utils.py (process_results, get_metrics)
 *   F1, MCC    scikit-learn f1_score (average="binary", pos_label=1, as lm-eval's
 *              f1_score calls it; "macro" on request) and matthews_corrcoef
 * triviaqa and nq_open need nothing here: lm-eval scores them with exact_match
 * (ignore_case, ignore_punctuation, regexes_to_ignore), which metrics.h provides.
 *
 * Strings are NUL-terminated UTF-8 with Python str semantics (lower(), split(), \b are
 * Unicode-aware as in CPython). Every function is thread-safe; *_bulk functions are
 * OpenMP-parallel over samples and give the same numbers as a serial loop. */
#ifndef EVALLUA_SCORE_TEXT_METRICS_H
#define EVALLUA_SCORE_TEXT_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Decode the code point at s (NUL-terminated UTF-8); *n = bytes used. An invalid byte is
 * returned as 0x110000 + byte with *n = 1, so it never equals a real code point. */
uint32_t text_utf8_decode(const char *s, size_t *n);

/* A slice of a string (not NUL-terminated). */
typedef struct text_span {
    const char *p;
    size_t n;
} text_span;

/* A growable array of spans; the caller releases it with free(list.v). */
typedef struct text_spans {
    text_span *v;
    size_t n, cap;
} text_spans;

/* Python s.lower(): text_lower (metrics.h) with a fast path for ASCII-only text, same
 * result. Returns a malloc'd string the caller frees. */
char *text_lower_fast(const char *s);
/* 1 when the code point at p is Python whitespace (str.isspace); *k = its bytes. */
int text_space_at(const char *p, size_t *k);
/* Append the span p[0..n) to l. */
void text_spans_push(text_spans *l, const char *p, size_t n);
/* Python s.split(): append the runs of non-whitespace (str.isspace) of s to out; the spans
 * point into s. */
void text_split(const char *s, text_spans *out);
/* " ".join(s.split()). Returns a malloc'd string the caller frees. */
char *text_join_ws(const char *s);
/* Python s.replace(old, new) for a non-empty old. Returns a malloc'd string the caller
 * frees. */
char *text_replace(const char *s, const char *old, const char *new_);
/* qsort comparator of two text_span: bytewise, a prefix first (code point order). */
int text_span_cmp(const void *a, const void *b);

/* --- SQuAD v2 ---------------------------------------------------------------------------- */

/* normalize_answer: lower(), delete string.punctuation, \b(a|an|the)\b -> " ", then
 * " ".join(split()). Returns a malloc'd string the caller frees; NULL only when PCRE2 hits
 * a resource limit (never for ordinary text). */
char *squad_normalize(const char *s);
/* One prediction against golds[0..n_golds): the max of compute_exact and of compute_f1
 * over the golds that normalise to something non-empty; with none (no-answer question)
 * the only gold is "". *exact is 0 or 1, *f1 in [0, 1]. */
void squad_score(const char *pred, const char *const *golds, size_t n_golds,
                 double *exact, double *f1);
/* squad_score over n samples; sample i has golds[off[i] .. off[i+1]). OpenMP. */
void squad_score_bulk(const char *const *preds, const char *const *golds, const size_t *off,
                      size_t n, double *exact, double *f1);

/* The corpus numbers of the official script / HF evaluate squad_v2 (percentages). */
typedef struct squad_v2_summary {
    double exact, f1;                 /* after the no-answer threshold */
    size_t total;
    double has_ans_exact, has_ans_f1; /* NaN when there are no answerable questions */
    size_t has_ans_total;
    double no_ans_exact, no_ans_f1;   /* NaN when every question has an answer */
    size_t no_ans_total;
    double best_exact, best_exact_thresh, best_f1, best_f1_thresh;
} squad_v2_summary;

/* Summarise per-sample raw scores (from squad_score): has_ans[i] = the question has gold
 * answers, na_prob[i] = no-answer probability (NULL: all 0.0), thresh = na_prob_thresh
 * (1.0 in the script and in HF evaluate); preds[i] decides "answered" for best_*. n > 0. */
void squad_v2_summarize(const char *const *preds, const double *exact, const double *f1,
                        const int *has_ans, const double *na_prob, size_t n, double thresh,
                        squad_v2_summary *out);

/* --- DROP ---------------------------------------------------------------------------------- */

/* One gold answer: a tuple of spans (a number or a date is one span). */
typedef struct drop_answer {
    const char *const *spans;
    size_t n_spans;
} drop_answer;

/* _normalize of one span (tokens split on ' ' and '-', lower, punctuation unless a
 * number, numbers as str(float(x)), articles, whitespace). Caller frees; NULL on a PCRE2
 * resource limit. */
char *drop_normalize(const char *span);
/* get_metrics(predicted spans, gold spans): *em 0/1, *f1 rounded to 2 decimals (NaN, as
 * numpy's mean of nothing, when both lists are empty). */
void drop_get_metrics(const char *const *pred, size_t n_pred, const char *const *gold,
                      size_t n_gold, double *em, double *f1);
/* process_results: prediction pred (one span) against each gold whose first span is not
 * blank; *em and *f1 are the maxima (0 when no gold qualifies). */
void drop_score(const char *pred, const drop_answer *golds, size_t n_golds, double *em,
                double *f1);
/* drop_score over n samples; sample i has golds[off[i] .. off[i+1]). OpenMP. */
void drop_score_bulk(const char *const *preds, const drop_answer *golds, const size_t *off,
                     size_t n, double *em, double *f1);

/* --- classification ------------------------------------------------------------------------- */

/* sklearn f1_score(golds, preds): macro = 0 is average="binary" with pos_label=1, which
 * fails (returns -1, err filled) when more than two labels occur or two occur without 1;
 * macro = 1 averages the per-label F1 over the sorted labels present. 0 division -> 0.0
 * as sklearn's default. Returns 0 and *out on success. */
int metric_f1(const int64_t *golds, const int64_t *preds, size_t n, int macro, double *out,
              char *err, size_t errlen);
/* sklearn matthews_corrcoef(golds, preds) (multiclass form; 0.0 when undefined; NaN for
 * n == 0, where sklearn raises). */
double metric_mcc(const int64_t *golds, const int64_t *preds, size_t n);

#endif
