/* test_regex.c — Python `re` semantics on PCRE2: findall, sub, lm-eval's RegexFilter,
 * and exact_match with gsm8k's regexes_to_ignore.
 *
 * Expected values were printed by CPython 3.11.7, e.g.
 *   python3 -c "import re; print(re.findall('a*', 'baaa'))"
 * and, for the filter, lm-eval's RegexFilter logic (findall, match[group_select], first
 * non-empty group of a tuple, strip) run on the same strings. */
#include <stdlib.h>

#include "check.h"
#include "score/metrics.h"
#include "score/regex.h"

static regex *compile_ok(const char *pattern)
{
    char err[256] = "";
    regex *re = regex_compile(pattern, err, sizeof err);
    if (!re) fprintf(stderr, "compile failed: %s\n", err);
    CHECK(re != NULL);
    return re;
}

/* findall(pattern, s) must give n matches of `width` strings, flattened in want. */
static void check_findall(const char *pattern, const char *s, size_t n, size_t width,
                          const char *const *want)
{
    regex *re = compile_ok(pattern);
    if (!re) return;
    regex_matches m;
    char err[256];
    CHECK(regex_findall(re, s, &m, err, sizeof err) == 0);
    CHECK(m.n == n && m.width == width);
    if (m.n != n || m.width != width)
        fprintf(stderr, "  findall('%s'): %zu x %zu, expected %zu x %zu\n", pattern, m.n,
                m.width, n, width);
    for (size_t i = 0; i < m.n * m.width && i < n * width; i++) CHECK_STR(m.str[i], want[i]);
    regex_matches_free(&m);
    regex_free(re);
}

static void test_findall_groups(void)
{
    check_findall("\\d+", "ab 12 c\u0663\u0664 5", 3, 1,
                  (const char *[]){"12", "\u0663\u0664", "5"}); /* Arabic-Indic digits */
    check_findall("(\\w+)=(\\d*)", "a=1 b= c=33", 3, 2,
                  (const char *[]){"a", "1", "b", "", "c", "33"});
    check_findall("(a)|b", "ab", 2, 1, (const char *[]){"a", ""});
    check_findall("([a-z])?\\d", "a1 2", 2, 1, (const char *[]){"a", ""});
    check_findall("(?P<n>\\d)(?P=n)", "1123344", 3, 1, (const char *[]){"1", "3", "4"});
    check_findall("zzz", "abc", 0, 1, NULL);
}

static void test_findall_empty(void)
{
    check_findall("a*", "baaa", 3, 1, (const char *[]){"", "aaa", ""});
    check_findall("x*", "abxd", 5, 1, (const char *[]){"", "", "x", "", ""});
    check_findall("", "abc", 4, 1, (const char *[]){"", "", "", ""});
    check_findall("\\b", "ab cd", 4, 1, (const char *[]){"", "", "", ""});
    check_findall("^|\\w+", "two words", 3, 1, (const char *[]){"", "two", "words"});
    check_findall("x{,2}", "xxx", 3, 1, (const char *[]){"xx", "x", ""}); /* Python's {,n} */
}

static void test_findall_python_syntax(void)
{
    check_findall("\\w+", "h\u00e9llo w\u00f6rld_1 \u65e5\u672c", 3, 1,
                  (const char *[]){"h\u00e9llo", "w\u00f6rld_1", "\u65e5\u672c"});
    check_findall("\\s+", "a\u00a0b\u2003c\x1c" "d", 3, 1,
                  (const char *[]){"\u00a0", "\u2003", "\x1c"});
    check_findall("[\\s]+", "a\x1d b", 1, 1, (const char *[]){"\x1d "});
    check_findall("\\S+", "a\x1d" "b c", 3, 1, (const char *[]){"a", "b", "c"});
    check_findall("^\\d", "1\n2", 1, 1, (const char *[]){"1"});
    check_findall("\\d$", "1\n2\n", 1, 1, (const char *[]){"2"});
    check_findall("\\d\\Z", "1\n2\n", 0, 1, NULL);
    check_findall(".", "a\nb", 2, 1, (const char *[]){"a", "b"});
    check_findall("[\\u00e9-\\u00ff]+", "caf\u00e9\u00fc", 1, 1, (const char *[]){"\u00e9\u00fc"});
    check_findall("\\U0001F600", "x\U0001F600", 1, 1, (const char *[]){"\U0001F600"});
    check_findall("(?i)stra\u00dfe", "STRASSE Stra\u00dfe", 1, 1, (const char *[]){"Stra\u00dfe"});
    check_findall("[]a]+", "x]a]", 1, 1, (const char *[]){"]a]"});
    check_findall("b", "a\xff" "b", 1, 1, (const char *[]){"b"}); /* invalid UTF-8 subject */
}

static void test_compile_errors(void)
{
    char err[256] = "";
    CHECK(regex_compile("a(b", err, sizeof err) == NULL);
    CHECK(strstr(err, "bad regex 'a(b': ") == err);
    CHECK(strstr(err, "at offset 3") != NULL);
    CHECK(regex_compile("\\u00e9(", err, sizeof err) == NULL); /* offset maps back */
    CHECK(strstr(err, "at offset 7") != NULL);
    regex *re = compile_ok("(a)(b)(c)?");
    CHECK(regex_groups(re) == 3);
    CHECK_STR(regex_pattern(re), "(a)(b)(c)?");
    regex_free(re);
}

static void check_sub(const char *pattern, const char *s, const char *repl, const char *want)
{
    regex *re = compile_ok(pattern);
    if (!re) return;
    char *got = regex_sub(re, s, repl);
    CHECK_STR(got, want);
    free(got);
    regex_free(re);
}

static void test_sub(void)
{
    check_sub("x*", "abxd", "-", "-a-b--d-");
    check_sub("", "abc", "-", "-a-b-c-");
    check_sub("\\s+", "a  b\n\tc", " ", "a b c");
    check_sub("\u00e9", "caf\u00e9 caf\u00e9", "e", "cafe cafe");
    check_sub("(?s).*#### ", "blah\n#### 1,234", "", "1,234");
    check_sub("\\.$", "12.\n", "", "12\n");
    check_sub("(b)", "abc", "\\1", "a\\1c"); /* repl is literal (no group expansion) */
}

#define STRICT "#### (\\-?[0-9\\.\\,]+)"
#define FLEX "(-?[$0-9.,]{2,})|(-?[0-9]+)"

static void check_filter(const char *pattern, int group, const char *response, const char *want)
{
    regex *re = compile_ok(pattern);
    if (!re) return;
    char *got = regex_filter(re, response, group, "[invalid]");
    CHECK_STR(got, want);
    free(got);
    regex_free(re);
}

static void test_filter_gsm8k(void)
{
    const char *r1 = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72";
    check_filter(STRICT, 0, r1, "72");
    check_filter(FLEX, -1, r1, "72");
    check_filter(STRICT, 0, "The answer is $1,234.5 eggs", "[invalid]");
    check_filter(FLEX, -1, "The answer is $1,234.5 eggs", "$1,234.5");
    check_filter(FLEX, -1, "She has 5 apples and 3 pears, so 8.", "8.");
    check_filter(FLEX, -1, "No numbers here.", "[invalid]");
    check_filter(STRICT, 0, "#### -3.5\nThen #### 7", "-3.5");
    check_filter(FLEX, -1, "#### -3.5\nThen #### 7", "7");
    check_filter(FLEX, -1, "It costs $18.", "$18.");
    check_filter(FLEX, -1, "total: 1,000,000 dollars; 2 left", "2");
    check_filter(FLEX, 0, "total: 1,000,000 dollars; 2 left", "1,000,000");
    check_filter(FLEX, 5, "x = 7", "[invalid]");        /* out of range -> fallback */
    check_filter("(a)|(b)", 0, "c", "[invalid]");         /* no match */
    check_filter("(a?)(b?)x", 0, "x", "[invalid]");       /* tuple of empty groups */
    check_filter("answer:(.*)", 0, "answer: \u3000 42 \n", "42"); /* Unicode strip */
}

static void test_filter_fallback_strip(void)
{
    regex *re = compile_ok("(a?)(b?)x");
    char *got = regex_filter(re, "x", 0, "  none ");
    CHECK_STR(got, "none"); /* lm-eval strips the fallback only in the all-empty-tuple case */
    free(got);
    got = regex_filter(re, "zzz", 0, "  none ");
    CHECK_STR(got, "  none ");
    free(got);
    regex_free(re);
}

/* exact_match with gsm8k's options:
 * ignore_case, regexes_to_ignore [",", "\$", "(?s).*#### ", "\.$"] */
static void test_exact_match_gsm8k(void)
{
    const char *pats[4] = {",", "\\$", "(?s).*#### ", "\\.$"};
    regex *res[4];
    for (int i = 0; i < 4; i++) res[i] = compile_ok(pats[i]);
    em_options o = {.ignore = res, .n_ignore = 4, .ignore_case = 1};
    char *norm = metric_em_normalize("blah\n#### 1,234", &o);
    CHECK_STR(norm, "1234");
    free(norm);
    CHECK(metric_exact_match("1234", "blah\n#### 1,234", &o) == 1);
    CHECK(metric_exact_match("$1,234.", "Natalia... <<a=b>>\nmore\n#### 1,234", &o) == 1);
    CHECK(metric_exact_match("1234.5", "#### 1234.5", &o) == 1);
    CHECK(metric_exact_match("18.", "#### 18", &o) == 1);
    CHECK(metric_exact_match("[invalid]", "#### 18", &o) == 0);
    CHECK(metric_exact_match("17", "#### 18", &o) == 0);
    for (int i = 0; i < 4; i++) regex_free(res[i]);
}

static void test_exact_match_options(void)
{
    em_options o = {.ignore_case = 1, .ignore_punctuation = 1, .ignore_numbers = 1};
    CHECK(metric_exact_match("Hello, World! 42", "hello world", &o) == 0); /* space stays */
    CHECK(metric_exact_match("Hello, World!42", "hello world", &o) == 1);
    CHECK(metric_exact_match("\u00c9T\u00c9", "\u00e9t\u00e9", &o) == 1);
    CHECK(metric_exact_match("A", "a", NULL) == 0);
    em_options none = {0};
    CHECK(metric_exact_match("a.", "a", &none) == 0);
}

/* One compiled regex used from several OpenMP threads gives the serial results. */
static void test_threads(void)
{
    enum { N = 2000 };
    regex *re = compile_ok(FLEX);
    char *text[N], *serial[N], *parallel[N];
    for (int i = 0; i < N; i++) {
        char t[96];
        snprintf(t, sizeof t, "Step %d: %d * 3 = %d, so the answer is $%d,%03d.", i, i, 3 * i,
                 i % 7, i);
        text[i] = strdup(t);
        serial[i] = regex_filter(re, text[i], -1, "[invalid]");
    }
#pragma omp parallel for schedule(dynamic, 8)
    for (int i = 0; i < N; i++) parallel[i] = regex_filter(re, text[i], -1, "[invalid]");
    int same = 1;
    for (int i = 0; i < N; i++) {
        same &= serial[i] && parallel[i] && strcmp(serial[i], parallel[i]) == 0;
        free(text[i]), free(serial[i]), free(parallel[i]);
    }
    CHECK(same);
    regex_free(re);
}

int main(void)
{
    test_findall_groups();
    test_findall_empty();
    test_findall_python_syntax();
    test_compile_errors();
    test_sub();
    test_filter_gsm8k();
    test_filter_fallback_strip();
    test_exact_match_gsm8k();
    test_exact_match_options();
    test_threads();
    return check_summary();
}
