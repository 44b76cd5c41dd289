/* regex.h — regular expressions with Python `re` semantics, on PCRE2.
 *
 * Patterns are the ones lm-eval tasks write for Python's `re` (str patterns): compiled
 * as UTF-8 with PCRE2_UTF | PCRE2_UCP, so \d \w \s \b are Unicode-aware as in Python 3.
 * Python-only syntax is translated first: \Z -> \z, x{,n} -> x{0,n}, \uXXXX and
 * \UXXXXXXXX -> \x{...}, and \s / \S also cover U+001C..U+001F as Python's do (except
 * \S inside a [class]). (?P<name>...) and (?P=name) are native to PCRE2.
 * Not Python: the (?a) (?u) (?L) flags are rejected; [[:alpha:]] is a POSIX class here;
 * PCRE2's default match limit (10^7 steps) turns catastrophic backtracking into an error
 * where Python would run on.
 * Scanning (findall, sub) follows Python 3.7+: after an empty match the next match may
 * not be empty at the same position; an empty match may directly follow a non-empty one.
 *
 * A compiled regex is read-only after regex_compile: any number of threads may match
 * with it at once (match data are per call). Subjects are NUL-terminated UTF-8; invalid
 * UTF-8 never crashes (PCRE2_MATCH_INVALID_UTF) but can only match as unknown bytes. */
#ifndef EVALLUA_SCORE_REGEX_H
#define EVALLUA_SCORE_REGEX_H

#include <stddef.h>

typedef struct regex regex;

/* The result of regex_findall: n matches of `width` strings each.
 * width is 1 when the pattern has 0 groups (the whole match) or 1 group (that group);
 * otherwise it is the group count and each match is a Python tuple (unmatched groups
 * are ""). Owns every string; release with regex_matches_free. */
typedef struct regex_matches {
    size_t n;      /* number of matches */
    size_t width;  /* strings per match */
    int is_tuple;  /* 1 when the pattern has >= 2 groups (findall yields tuples) */
    char **str;    /* n * width strings; match i is str[i*width .. i*width+width-1] */
} regex_matches;

/* Compile a Python-syntax pattern. Returns NULL and fills err with
 * "bad regex 'PATTERN': MESSAGE at offset N" on error. Caller frees with regex_free. */
regex *regex_compile(const char *pattern, char *err, size_t errlen);
/* Release a compiled regex (NULL is fine). */
void regex_free(regex *re);
/* The pattern text as given to regex_compile; owned by re. */
const char *regex_pattern(const regex *re);
/* Number of capture groups in the pattern. */
size_t regex_groups(const regex *re);

/* Python re.findall(pattern, s). Fills *out (caller frees with regex_matches_free);
 * returns 0, or -1 with err set when PCRE2 hits a resource limit (out is then empty). */
int regex_findall(const regex *re, const char *s, regex_matches *out, char *err, size_t errlen);
/* Release the strings of a regex_matches and zero it. */
void regex_matches_free(regex_matches *m);

/* Python re.sub(pattern, repl, s) with repl taken literally (no \1 or \g<> expansion).
 * Returns a malloc'd string the caller frees, or NULL when PCRE2 hits a resource limit. */
char *regex_sub(const regex *re, const char *s, const char *repl);

/* Match scratch for one thread's repeated regex_sub_len calls (PCRE2 match data that
 * fits any pattern's whole-match span). NULL only when out of memory. Free with
 * regex_scratch_free (NULL is fine). Never share one between threads. */
typedef struct regex_scratch regex_scratch;
regex_scratch *regex_scratch_new(void);
void regex_scratch_free(regex_scratch *sc);
/* regex_sub on s[0..*len) reusing sc: returns NULL with *status 0 when nothing matched (s
 * is the result as it is), a malloc'd string with *status 1 and *len its length, or NULL
 * with *status -1 when PCRE2 hits a resource limit. */
char *regex_sub_len(const regex *re, const char *s, size_t *len, const char *repl,
                    regex_scratch *sc, int *status);

/* lm-eval's RegexFilter on one response: findall; no match -> fallback; take
 * match[group_select] (negative counts from the end; out of range -> fallback); a tuple
 * gives its first non-empty group (all empty -> fallback); then Python str.strip().
 * Returns a malloc'd string the caller frees, or NULL when PCRE2 hits a resource limit. */
char *regex_filter(const regex *re, const char *response, int group_select, const char *fallback);

/* regex_filter reusing a thread's scratch (no copies of the matches it does not pick);
 * the same result. Falls back to regex_filter when sc is NULL or the pattern has more than
 * 31 groups. */
char *regex_filter_sc(const regex *re, const char *response, int group_select,
                      const char *fallback, regex_scratch *sc);

#endif
