/* ngram_metrics.h — n-gram overlap metrics: BLEU and chrF as sacreBLEU computes them,
 * ROUGE as Google's rouge_score does.
 *
 * References (each test cites the exact version):
 *   BLEU/chrF  sacreBLEU 2.x corpus_bleu / sentence_bleu / corpus_chrf / sentence_chrf with
 *              their defaults (13a, smooth "exp"; chrF char order 6, word order 0, beta 2,
 *              whitespace removed); lm-eval's bleu and chrf call corpus_bleu / corpus_chrf
 *   ROUGE      rouge_score 0.1.2 RougeScorer, no stemmer (use_stemmer=False, lm-eval's
 *              truthfulqa_gen setting); a stemmer is not implemented
 *
 * Strings are NUL-terminated UTF-8 with Python str semantics. Every function is
 * thread-safe; corpus and bulk functions are OpenMP-parallel over sentences and give the
 * same numbers as a serial loop (sentence statistics are integers, summed in order). */
#ifndef EVALLUA_SCORE_NGRAM_METRICS_H
#define EVALLUA_SCORE_NGRAM_METRICS_H

#include <stddef.h>

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

#endif
