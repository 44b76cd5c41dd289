/* text_metrics.h — string metrics of generation tasks: SQuAD v2, DROP, BLEU, chrF, ROUGE,
 * and F1 / Matthews correlation over class labels.
 *
 * References (each test cites the exact version):
 *   SQuAD v2   the official evaluate-v2.0.py (HF evaluate "squad_v2" wraps the same code)
 *   DROP       lm-eval lm_eval/tasks/drop/utils.py (process_results, get_metrics)
 *   BLEU/chrF  sacreBLEU 2.x corpus_bleu / sentence_bleu / corpus_chrf / sentence_chrf with
 *              their defaults (13a, smooth "exp"; chrF char order 6, word order 0, beta 2)
 *   ROUGE      Google rouge_score 0.1.2 RougeScorer, no stemmer (use_stemmer=False)
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
/* get_metrics(predicted spans, gold spans): *em 0/1, *f1 rounded to 2 decimals. */
void drop_get_metrics(const char *const *pred, size_t n_pred, const char *const *gold,
                      size_t n_gold, double *em, double *f1);
/* process_results: prediction pred (one span) against each gold whose first span is not
 * blank; *em and *f1 are the maxima (0 when no gold qualifies). */
void drop_score(const char *pred, const drop_answer *golds, size_t n_golds, double *em,
                double *f1);
/* drop_score over n samples; sample i has golds[off[i] .. off[i+1]). OpenMP. */
void drop_score_bulk(const char *const *preds, const drop_answer *golds, const size_t *off,
                     size_t n, double *em, double *f1);

/* --- BLEU and chrF (sacreBLEU) ------------------------------------------------------------ */

/* sacreBLEU's 13a tokenizer (after BLEU's rstrip()): tokens joined by single spaces.
 * Caller frees. */
char *bleu_tokenize_13a(const char *s);
/* corpus_bleu(hyps, refs).score: sample i has refs[off[i] .. off[i+1]) (any count, as
 * sacreBLEU's None-padded reference streams). 0..100. OpenMP over sentences. */
double bleu_corpus(const char *const *hyps, const char *const *refs, const size_t *off,
                   size_t n);
/* sentence_bleu(hyp, refs).score (use_effective_order=True, smooth "exp"). */
double bleu_sentence(const char *hyp, const char *const *refs, size_t n_refs);
/* corpus_chrf(hyps, refs).score, same layout as bleu_corpus. 0..100. OpenMP. */
double chrf_corpus(const char *const *hyps, const char *const *refs, const size_t *off,
                   size_t n);
/* sentence_chrf(hyp, refs).score. */
double chrf_sentence(const char *hyp, const char *const *refs, size_t n_refs);

/* --- ROUGE (rouge_score) ----------------------------------------------------------------- */

/* F-measures in [0, 1]. rougeLsum splits both texts into sentences on '\n' (lm-eval's
 * truthfulqa first turns " . " into ".\n"; do that before calling). */
typedef struct rouge_scores {
    double rouge1, rouge2, rougeL, rougeLsum;
} rouge_scores;

/* RougeScorer(["rouge1","rouge2","rougeL","rougeLsum"]).score(target, prediction), the
 * fmeasure of each. Note the order: the reference comes first, as in rouge_score. */
void rouge_score(const char *target, const char *prediction, rouge_scores *out);
/* Sample i against targets[off[i] .. off[i+1]): per type the score of the target with the
 * highest fmeasure (score_multi); all 0 when a sample has no target. OpenMP. */
void rouge_score_bulk(const char *const *preds, const char *const *targets, const size_t *off,
                      size_t n, rouge_scores *out);

/* --- classification ------------------------------------------------------------------------- */

/* sklearn f1_score(golds, preds): macro = 0 is average="binary" with pos_label=1, which
 * fails (returns -1, err filled) when more than two labels occur or two occur without 1;
 * macro = 1 averages the per-label F1 over the sorted labels present. 0 division -> 0.0
 * as sklearn's default. Returns 0 and *out on success. */
int metric_f1(const int64_t *golds, const int64_t *preds, size_t n, int macro, double *out,
              char *err, size_t errlen);
/* sklearn matthews_corrcoef(golds, preds) (multiclass form; 0.0 when undefined). */
double metric_mcc(const int64_t *golds, const int64_t *preds, size_t n);

#endif
