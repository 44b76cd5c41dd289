/* metrics.h — lm-eval's built-in metrics, aggregations and bootstrap stderr, in C.
 *
 * Semantics follow lm-evaluation-harness (lm_eval/api/metrics.py): exact_match_hf_evaluate,
 * the multiple-choice acc/acc_norm, mean, perplexity, mean_stderr and bootstrap_stderr.
 * Strings are NUL-terminated UTF-8; "Python" below means CPython 3 str semantics.
 * Every function is thread-safe (no shared state), so callers may run them from OpenMP. */
#ifndef EVALLUA_SCORE_METRICS_H
#define EVALLUA_SCORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "score/regex.h"

/* --- text ---------------------------------------------------------------------------- */

/* Number of code points (Python len() of the str): bytes that are not UTF-8
 * continuation bytes are counted, so invalid UTF-8 is counted approximately. */
size_t utf8_len(const char *s);
/* Python str.lower(), exact (checked against CPython 3.11 code point by code point) for
 * ASCII, Latin-1, Latin Extended-A, Latin Extended Additional (Vietnamese), Greek and
 * Coptic (final sigma included, with approximate cased/case-ignorable sets), Cyrillic,
 * Armenian, Georgian, Glagolitic, Roman numerals, circled and fullwidth letters, and the
 * regular part of Latin Extended-B (Romanian, Pinyin, DZ/LJ/NJ). Not lowered: the
 * irregular Latin Extended-B letters (U+0181-U+01BC, U+023A-U+0245), polytonic Greek
 * (U+1F00-U+1FFF), Cherokee, Latin Extended-C/D, Cyrillic Extended-B and the
 * supplementary planes. Returns a malloc'd string the caller frees. */
char *text_lower(const char *s);
/* Python str.strip(): drop leading and trailing str.isspace() characters.
 * Returns a malloc'd string the caller frees. */
char *text_strip(const char *s);
/* 1 when the code point is Python str.isspace(). */
int text_is_space(uint32_t cp);

/* --- exact match ----------------------------------------------------------------------- */

typedef struct em_options {
    regex **ignore;         /* regexes_to_ignore, applied in order with re.sub(r, '', x) */
    size_t n_ignore;
    int ignore_case;        /* Python str.lower() (see text_lower) */
    int ignore_punctuation; /* delete string.punctuation (ASCII !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~) */
    int ignore_numbers;     /* delete ASCII digits 0-9 */
} em_options;

/* Apply exact_match's transforms to one string (o may be NULL: no transform).
 * Returns a malloc'd string the caller frees, or NULL when a regex hit a PCRE2 limit. */
char *metric_em_normalize(const char *s, const em_options *o);
/* metric_em_normalize reusing a thread's regex scratch (see regex_scratch_new; it may be
 * NULL only when o has no regexes_to_ignore): what bulk exact match calls per string. */
char *metric_em_normalize_sc(const char *s, const em_options *o, regex_scratch *sc);
/* lm-eval's exact_match for one pair: 1 equal after the transforms, 0 not, -1 when a
 * regex hit a PCRE2 resource limit. */
int metric_exact_match(const char *pred, const char *ref, const em_options *o);

/* --- multiple choice ------------------------------------------------------------------- */

/* numpy.argmax: first maximum; the first NaN wins if any. n == 0 gives 0. */
size_t metric_argmax(const double *x, size_t n);
/* acc = argmax(lls) == gold; acc_norm = argmax(lls[i] / utf8_len(choices[i])) == gold,
 * choices without the target delimiter. A zero-length choice divides by 1 (lm-eval
 * would divide by zero). n == 0 gives 0 for both. */
void metric_multiple_choice(const double *lls, const char *const *choices, size_t n, int gold,
                            int *acc, int *acc_norm);
/* The same with several gold indices: 1 when the argmax is any of golds[0..n_gold). */
void metric_multiple_choice_multi(const double *lls, const char *const *choices, size_t n,
                                  const int *golds, size_t n_gold, int *acc, int *acc_norm);

/* One sample's multiple-choice metrics (lm-eval's ConfigurableTask.process_results), each
 * 1 when its argmax is one of golds: acc over lls, acc_norm over lls / code points,
 * acc_bytes over lls / UTF-8 bytes of the choice (a length of 0 counts as 1), and
 * acc_mutual_info over lls - lls_uncond (0 when lls_uncond is NULL). */
typedef struct mc_scores {
    int acc, acc_norm, acc_bytes, acc_mutual_info;
} mc_scores;
void metric_mc_scores(const double *lls, const double *lls_uncond, const char *const *choices,
                      size_t n, const int *golds, size_t n_gold, mc_scores *out);
/* TruthfulQA MC2 (lm-eval's truthfulqa utils.process_results_mc2): the probability mass
 * of the true choices golds[0..n_gold) among all n, Σexp(ll_true) / (Σexp(ll_true) +
 * Σexp(ll_false)), with lm-eval's order of float operations. Indices out of range are
 * ignored. */
double metric_mc2(const double *lls, size_t n, const int *golds, size_t n_gold);

/* --- aggregation ---------------------------------------------------------------------- */

typedef enum agg_kind { AGG_MEAN, AGG_PERPLEXITY } agg_kind;

/* Arithmetic mean, summed left to right like Python's sum(); NaN when n == 0. */
double agg_mean(const double *x, size_t n);
/* lm-eval's mean_stderr: sample stddev (n-1) / sqrt(n); NaN when n < 2. */
double agg_mean_stderr(const double *x, size_t n);
/* exp(-mean(ll)); NaN when n == 0. */
double agg_perplexity(const double *ll, size_t n);
/* Aggregate x with kind (AGG_MEAN or AGG_PERPLEXITY). */
double agg_apply(agg_kind kind, const double *x, size_t n);
/* Bootstrap stderr: `iters` resamples of n items with replacement, each aggregated with
 * kind; returns the sample stddev (n-1) of the aggregates; NaN when n == 0 or iters < 2.
 * OpenMP-parallel; the result is bit-identical for any thread count (iteration i draws
 * from its own xoshiro256** stream seeded by splitmix64 from (seed, i)). */
double bootstrap_stderr(const double *x, size_t n, agg_kind kind, int iters, uint64_t seed);

#endif
