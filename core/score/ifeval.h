/* ifeval.h — IFEval's instruction checks (Zhou et al., 2023), as lm-evaluation-harness runs
 * them (lm_eval/tasks/ifeval: instructions.py, instructions_registry.py,
 * instructions_util.py, utils.py).
 *
 * An instruction is an id such as "length_constraints:number_words" and its kwargs, the
 * JSON object of the dataset's `kwargs` list for it. As lm-eval does, every falsy kwarg
 * (null, 0, "", [], false) is dropped before the instruction is built.
 *
 * Strict: the instruction is followed when response.strip() is non-empty and the check
 * passes. Loose: the same for any of 8 variants of the response — itself, without its
 * first line, without its last line, without both (each stripped), and those four with
 * every '*' removed.
 *
 * Where lm-eval depends on other libraries, evallua carries its own equivalent (documented
 * in ifeval.c and the files it names): nltk's Punkt sentence splitter (ifeval_punkt.c, the
 * English model's abbreviations, collocations and sentence starters built in), nltk's
 * word_tokenize (ifeval_text.c, exact), langdetect (ifeval_lang.c, a script and
 * function-word detector). Where lm-eval would draw a random value (a kwarg missing or
 * out of range), evallua reports an error instead, except for keywords:letter_frequency
 * with a non-letter `letter` (the dataset's '!' and '#'), which counts that character.
 *
 * Thread-safe: any number of threads may call these functions at once. */
#ifndef EVALLUA_SCORE_IFEVAL_H
#define EVALLUA_SCORE_IFEVAL_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Number of instruction ids lm-eval's registry knows (25). */
size_t ifeval_n_instructions(void);
/* The i-th instruction id (static string), in the registry's order; NULL past the end. */
const char *ifeval_instruction_id(size_t i);

/* Check one instruction on one response. kwargs: a JSON object or NULL (no kwargs);
 * prompt: the document's prompt (no registered instruction reads it; kept for the
 * reference's signature); loose: 0 strict, 1 loose. Returns 1 followed, 0 not followed,
 * -1 with err filled for an unknown id or unusable kwargs. Nothing to free. */
int ifeval_check(const char *instruction_id, const cJSON *kwargs, const char *prompt,
                 const char *response, int loose, char *err, size_t errlen);

/* Check all n instructions of one document at once (the loose variants are built once):
 * strict[i] and loose[i] get 1 or 0. Returns 0, or -1 with err naming the failing
 * instruction (strict and loose are then incomplete). kwargs[i] may be NULL. */
int ifeval_check_all(const char *const *ids, const cJSON *const *kwargs, size_t n,
                     const char *prompt, const char *response, int *strict, int *loose,
                     char *err, size_t errlen);

#endif
