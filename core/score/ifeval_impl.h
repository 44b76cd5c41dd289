/* ifeval_impl.h — internals shared by the IFEval files (ifeval.c, ifeval_text.c,
 * ifeval_punkt.c, ifeval_lang.c); not part of the public API (see ifeval.h).
 *
 * Every function is thread-safe once ifv_init() has run (ifeval_check runs it through
 * pthread_once): the compiled regular expressions are read-only and match data are per
 * call. Strings are NUL-terminated UTF-8; "Python" means CPython 3 str semantics. */
#ifndef EVALLUA_SCORE_IFEVAL_IMPL_H
#define EVALLUA_SCORE_IFEVAL_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "score/regex.h"

/* Character classes of nltk 3.10's patterns, which it compiles with the `regex` module:
 * \w is Alphabetic, marks, decimal digits, connector punctuation and the joiners (Python's
 * re has letters and numbers only), \s is White_Space (re adds U+001C..U+001F). */
#define NLTK_W "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200c}\\x{200d}]"
#define NLTK_S "\\p{White_Space}"
#define NLTK_NS "\\P{White_Space}"
/* Python re's \s (str patterns). */
#define PY_S "[\\s\\x{1c}-\\x{1f}]"

/* Compile every fixed pattern of the IFEval files, once per process (thread-safe). */
void ifv_init(void);
void ifv_text_init(void);
void ifv_punkt_init(void);
void ifv_lang_init(void);
void ifv_checks_init(void);

/* --- instructions (ifeval.c, ifeval_checks.c) ------------------------------------------ */

typedef struct ifv_spec ifv_spec;

/* One built instruction: its spec and what build_description made of its kwargs. */
typedef struct ifv_instr {
    const ifv_spec *spec;
    double num;      /* the threshold: num_words, frequency, num_sections, ... */
    double nth;      /* nth_paragraph */
    int less_than;   /* relation "less than" (else "at least") */
    char *str;       /* the string kwarg: keyword, letter, end_phrase, language, ... */
    char **words;    /* keywords / forbidden_words, sorted */
    size_t n_words;
    regex **res;     /* compiled patterns, one per word (or one) */
    size_t n_res;
} ifv_instr;

/* Build in from the kwargs (falsy values already dropped by the caller's view: see
 * ifv_kw_*). Returns 0, or -1 with err set. */
typedef int (*ifv_prep_fn)(ifv_instr *in, const cJSON *kw, char *err, size_t errlen);
/* check_following(value): 1 or 0. */
typedef int (*ifv_check_fn)(const ifv_instr *in, const char *value);

struct ifv_spec {
    const char *id;
    const char *keys; /* the kwargs build_description takes, space-separated */
    ifv_prep_fn prep; /* NULL: no kwargs */
    ifv_check_fn check;
};

/* The registry, in instructions_registry.INSTRUCTION_DICT's order. */
extern const ifv_spec ifv_specs[];
extern const size_t ifv_n_specs;

/* Truthy kwarg `name` of kw (Python truthiness), or NULL. */
const cJSON *ifv_kw(const cJSON *kw, const char *name);
/* A required number kwarg (>= 0): 0, or -1 with err set. */
int ifv_kw_num(const ifv_instr *in, const cJSON *kw, const char *name, double *out, char *err,
               size_t errlen);
/* A required string kwarg, copied (and Python-.strip()ped when strip): 0 or -1. */
int ifv_kw_str(const ifv_instr *in, const cJSON *kw, const char *name, int strip, char **out,
               char *err, size_t errlen);
/* A required relation kwarg: "less than" (1) or "at least" (0); -1 with err otherwise. */
int ifv_kw_relation(const ifv_instr *in, const cJSON *kw, const char *name, char *err,
                    size_t errlen);
/* A required list-of-strings kwarg into in->words (sorted; deduplicated when dedup). */
int ifv_kw_words(ifv_instr *in, const cJSON *kw, const char *name, int dedup, char *err,
                 size_t errlen);
/* Compile a Python pattern into in->res (appended); 0 or -1 with err. */
int ifv_add_regex(ifv_instr *in, const char *pattern, char *err, size_t errlen);

/* --- regular expressions (ifeval_text.c) ------------------------------------------------ */

/* Compile a PCRE2 pattern with UTF | UCP | extra; aborts on a bad pattern (the patterns
 * are constants of this module). */
pcre2_code *ifv_re_compile(const char *pattern, uint32_t extra);
/* pcre2_substitute over all matches ($1, $0 in repl). Returns a malloc'd string. */
char *ifv_re_sub(const pcre2_code *re, const char *s, const char *repl);
/* 1 when re matches anywhere in s[0..n), 0 when not. */
int ifv_re_search(const pcre2_code *re, const char *s, size_t n);
/* Number of non-overlapping matches of re in s (Python len(re.findall)). */
size_t ifv_re_count(const pcre2_code *re, const char *s);

/* --- Python str predicates (ifeval_text.c) ---------------------------------------------- */

/* Python ch.isupper() / ch.islower() of the code point at p (Unicode Uppercase /
 * Lowercase properties, as CPython's unicodedb). */
int ifv_cp_isupper(const char *p);
int ifv_cp_islower(const char *p);
/* Python s.isupper() / s.islower() of n bytes at s. */
int ifv_str_isupper(const char *s, size_t n);
int ifv_str_islower(const char *s, size_t n);
/* 1 when s has a Python \w character (letter, number or '_'). */
int ifv_has_word_char(const char *s);

/* --- counts ------------------------------------------------------------------------------ */

/* instructions_util.count_words: nltk RegexpTokenizer(r"\w+") token count. */
size_t ifv_count_words(const char *s);
/* CapitalWordFrequencyChecker: tokens of nltk.word_tokenize(s) with tok.isupper(). */
size_t ifv_count_capital_words(const char *s);
/* instructions_util.count_sentences: sentences of nltk's Punkt English tokenizer
 * (ifeval_punkt.c; see there for the model data it carries). */
size_t ifv_count_sentences(const char *s);
/* The same sentences as byte spans: *spans (malloc'd, caller frees) gets 2 * count
 * offsets, start and stop of each sentence of s; returns count. */
size_t ifv_sentence_spans(const char *s, size_t **spans);
/* 1 when Python json.loads(s) succeeds (strict, as the json module's defaults). */
int ifv_json_loads_ok(const char *s);

/* --- language (ifeval_lang.c) ----------------------------------------------------------- */

/* langdetect.detect(s) as an ISO 639-1 code ("en", "hi", "zh-cn", ...), or NULL where
 * langdetect raises LangDetectException ("No features in text"). Static string. */
const char *ifv_detect_language(const char *s);

#endif
