/* math_equiv.h — answer extraction and equivalence for math benchmarks, in C.
 *
 * Which task uses what (lm-evaluation-harness and Evalchemy; task-formats.md §17-19, 35-36):
 *   hendrycks_math   output -> math_hendrycks_extract (current lm-eval) or math_dollar_extract
 *                    (task-formats.md §19, older lm-eval); gold -> math_boxed_answer(solution);
 *                    score = math_is_equiv (MATH's strip_string equality).
 *   AIME24, MATH500  math_boxed_answer(output) (NULL -> "") and math_is_equiv against the
 *   (Evalchemy)      expected answer.
 *   minerva_math     output -> math_minerva_extract -> math_minerva_normalize; gold ->
 *                    math_minerva_normalize(math_boxed_answer(solution)); lm-eval then asks
 *                    sympy whether a - b simplifies to 0. evallua has no sympy:
 *                    math_minerva_equiv is string equality or exact numeric equality of
 *                    integers/decimals/fractions, a documented approximation (see there).
 *   gsm8k, gsm8k_cot math_gsm8k_extract (strict or flexible filter) then math_gsm8k_normalize
 *                    on prediction and gold, compared with strcmp (lm-eval's exact_match).
 *   math_numeric_equal is an extra check no reference task applies on its own.
 *
 * Strings are NUL-terminated UTF-8; "Python" means CPython 3 str semantics, indices and
 * lengths in code points. Returned strings are malloc'd and owned by the caller (free()).
 * Every function is thread-safe; the few compiled regexes are built once (pthread_once). */
#ifndef EVALLUA_SCORE_MATH_EQUIV_H
#define EVALLUA_SCORE_MATH_EQUIV_H

#include <stdint.h>

/* --- \boxed{} (lm_eval/tasks/hendrycks_math/utils.py) ------------------------------- */

/* last_boxed_only_string: the last "\boxed{...}" (or "\fbox{...}" when there is no
 * \boxed) with balanced braces, or "\boxed " + the text after the last "\boxed " up to
 * its first '$'. Returns a malloc'd string the caller frees, NULL where Python gives None. */
char *math_last_boxed(const char *s);
/* remove_boxed: strip "\boxed " or "\boxed{" ... "}". Returns a malloc'd string the
 * caller frees, or NULL where the reference fails an assertion. */
char *math_remove_boxed(const char *boxed);
/* remove_boxed(last_boxed_only_string(s)); NULL where the reference raises (no box, an
 * \fbox, unbalanced braces). Caller frees. */
char *math_boxed_answer(const char *s);

/* --- MATH's strip_string / is_equiv ---------------------------------------------------- */

/* strip_string(s), every step of task-formats.md "strip_string". Returns a malloc'd
 * string the caller frees, or NULL where the reference raises (units assertion, empty
 * \sqrt or \frac piece, a/b whose sides are not Python ints). */
char *math_strip_string(const char *s);
/* is_equiv(a, b): 1 when strip_string(a) == strip_string(b); when either raises, a == b.
 * NULL stands for Python None: both NULL -> 1, one NULL -> 0. */
int math_is_equiv(const char *a, const char *b);

/* --- extracting the answer from a model output ------------------------------------------ */

/* hendrycks_math per task-formats.md §19: with two or more '$', the text strictly between
 * the first and the last '$'; otherwise the whole output. Caller frees. */
char *math_dollar_extract(const char *output);
/* hendrycks_math extract_answer of current lm-eval: the boxed answer if a box parses, else
 * the first \[ ... \] (stripped), else math_dollar_extract. Caller frees; NULL only when
 * PCRE2 hits a resource limit. */
char *math_hendrycks_extract(const char *output);
/* Minerva get_unnormalized_answer: the stripped X of "Final Answer: The final answer is X.
 * I hope it is correct." (that sentence appended once to the text first), else
 * "[invalidanswer]". Caller frees; NULL only when PCRE2 hits a resource limit. */
char *math_minerva_extract(const char *text);
/* Minerva normalize_final_answer (Lewkowycz et al. 2022, App. D, as lm-eval's minerva_math
 * utils.py): last '='-part, SUBSTITUTIONS, REMOVED_EXPRESSIONS, $..$, \text{}, \textbf{},
 * \overline{}, \boxed{} unwrapping, \frac/\sqrt shorthand, '$' removal, "1,000" -> "1000".
 * Caller frees. */
char *math_minerva_normalize(const char *s);
/* Equivalence of two Minerva-normalised answers: 1 when the strings are equal or
 * math_numeric_equal says 1. Approximates lm-eval's sympy check, which also equates
 * algebraically equal expressions ("x+1" vs "1+x") that this returns 0 for. */
int math_minerva_equiv(const char *a, const char *b);

/* GSM8K filters: strict "#### (\-?[0-9\.\,]+)" (first match) or, when flexible, the last
 * match of "(-?[$0-9.,]{2,})|(-?[0-9]+)"; "[invalid]" when nothing matches. Caller frees;
 * NULL only when PCRE2 hits a resource limit. */
char *math_gsm8k_extract(const char *response, int flexible);
/* GSM8K exact_match transforms: re.sub of ",", "\$", "(?s).*#### ", "\.$" then lower().
 * Apply to both prediction and gold and compare. Caller frees; NULL on a PCRE2 limit. */
char *math_gsm8k_normalize(const char *s);

/* --- numbers ------------------------------------------------------------------------------- */

/* An exact rational num/den in lowest terms, den > 0. */
typedef struct math_rational {
    int64_t num;
    int64_t den;
} math_rational;

/* Parse an integer ("-12", "1,234"), decimal ("0.5", ".5", "2."), a/b of those, or
 * \frac{a}{b} / \dfrac / \tfrac (also \frac12) with an optional sign, after trimming
 * whitespace and '$' at both ends. Returns 1 and fills *out, or 0 when s is not such a
 * number or does not fit in int64. */
int math_parse_number(const char *s, math_rational *out);
/* 1 when a and b parse (math_parse_number) to the same rational, 0 when both parse to
 * different values, -1 when either is not a number. */
int math_numeric_equal(const char *a, const char *b);

/* Python float(s) for a str: 1 and *out on success, 0 where Python raises ValueError.
 * ASCII digits only (Python also accepts other Unicode decimal digits). */
int py_float_parse(const char *s, double *out);
/* Python repr(x) / str(x) of a float ("1.0", "1e+16", "nan", "-inf"). Caller frees. */
char *py_float_repr(double x);

#endif
