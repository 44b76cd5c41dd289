/* test_score.c — multiple choice, aggregation, bootstrap stderr, lower/strip.
 *
 * Reference numbers were printed by CPython 3.11.7 with lm-eval's formulas, e.g.
 *   python3 -c "import math; x=[1,0,1,1,0,1,0,1,1,1]; mu=sum(x)/len(x);
 *     print((math.sqrt(sum([(v-mu)**2 for v in x])/(len(x)-1))/math.sqrt(len(x))).hex())"
 * and "x".lower() / "x".strip() for the text cases. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "score/metrics.h"

static void test_multiple_choice(void)
{
    int acc, acc_norm;
    /* lens 13, 2, 2, 23: argmax(ll) = 2, argmax(ll / len) = 0 */
    const double lls[4] = {-10.0, -12.0, -9.5, -20.0};
    const char *ch[4] = {"a long answer", "no", "ok", "a very very long answer"};
    metric_multiple_choice(lls, ch, 4, 0, &acc, &acc_norm);
    CHECK(acc == 0 && acc_norm == 1);
    metric_multiple_choice(lls, ch, 4, 2, &acc, &acc_norm);
    CHECK(acc == 1 && acc_norm == 0);

    /* ties go to the lowest index; lengths count code points, not bytes (-9/3 == -3) */
    const double tie[3] = {-6.0, -6.0, -9.0};
    const char *tie_ch[3] = {"ab", "cd", "\u00e9\u00e8\u00ea"};
    metric_multiple_choice(tie, tie_ch, 3, 0, &acc, &acc_norm);
    CHECK(acc == 1 && acc_norm == 1);
    metric_multiple_choice(tie, tie_ch, 3, 1, &acc, &acc_norm);
    CHECK(acc == 0 && acc_norm == 0);

    /* several golds */
    const int golds[2] = {1, 2};
    metric_multiple_choice_multi(lls, ch, 4, golds, 2, &acc, &acc_norm);
    CHECK(acc == 1 && acc_norm == 0);

    /* an empty choice divides by 1; numpy's argmax picks the first NaN */
    const double e[2] = {-3.0, -2.0};
    const char *e_ch[2] = {"", "xy"};
    metric_multiple_choice(e, e_ch, 2, 1, &acc, &acc_norm);
    CHECK(acc == 1 && acc_norm == 1); /* -3/1 < -2/2 */
    const double nan3[3] = {1.0, NAN, 3.0};
    CHECK(metric_argmax(nan3, 3) == 1);
    metric_multiple_choice(NULL, NULL, 0, 0, &acc, &acc_norm);
    CHECK(acc == 0 && acc_norm == 0);
}

/* acc_bytes and acc_mutual_info (lm-eval's process_results: argmax(lls / byte_length) and
 * argmax(lls - lls_unconditional)); "caf\u00e9" is 4 code points, 5 bytes. */
static void test_mc_variants(void)
{
    const double lls[3] = {-4.6, -4.2, -5.5};
    const char *ch[3] = {"caf\u00e9", "cafe", "xyz12"};
    const int gold0 = 0, gold1 = 1;
    /* raw: argmax 1; per char -1.15 -1.05 -1.1: 1; per byte -0.92 -1.05 -1.1: 0 */
    mc_scores s;
    metric_mc_scores(lls, NULL, ch, 3, &gold0, 1, &s);
    CHECK(s.acc == 0 && s.acc_norm == 0 && s.acc_bytes == 1 && s.acc_mutual_info == 0);
    metric_mc_scores(lls, NULL, ch, 3, &gold1, 1, &s);
    CHECK(s.acc == 1 && s.acc_norm == 1 && s.acc_bytes == 0);
    /* cond - uncond: -1.6 -3.2 -3.5 -> 0; with {-1, -3, -2}: -3.6 -1.2 -3.5 -> 1 */
    const double un_a[3] = {-3.0, -1.0, -2.0}, un_b[3] = {-1.0, -3.0, -2.0};
    metric_mc_scores(lls, un_a, ch, 3, &gold0, 1, &s);
    CHECK(s.acc_mutual_info == 1);
    metric_mc_scores(lls, un_b, ch, 3, &gold0, 1, &s);
    CHECK(s.acc_mutual_info == 0);
    metric_mc_scores(lls, un_b, ch, 3, &gold1, 1, &s);
    CHECK(s.acc_mutual_info == 1);
    /* NaN difference: numpy's argmax takes the first NaN */
    const double un_nan[3] = {-3.0, NAN, -2.0};
    metric_mc_scores(lls, un_nan, ch, 3, &gold1, 1, &s);
    CHECK(s.acc_mutual_info == 1);
    metric_mc_scores(NULL, NULL, NULL, 0, &gold0, 1, &s);
    CHECK(s.acc == 0 && s.acc_bytes == 0 && s.acc_mutual_info == 0);
}

/* TruthfulQA MC2 (lm-eval truthfulqa/utils.py process_results_mc2), printed by CPython 3.11:
 *   p = [math.exp(x) for x in lls]; d = sum(p[:k]) + sum(p[k:]); sum([x / d for x in p[:k]]).hex() */
static void test_mc2(void)
{
    const double lls[4] = {-1.0, -2.0, -0.5, -3.0};
    const int two[2] = {0, 1};
    CHECK(metric_mc2(lls, 4, two, 2) == 0x1.bc6570dff402bp-2);
    const double lls3[3] = {-0.25, -1.5, -0.75};
    const int one = 0;
    CHECK(metric_mc2(lls3, 3, &one, 1) == 0x1.0e770ff5e0ea3p-1);
    /* exp underflow: 0 / 0 is NaN in lm-eval too */
    const double tiny[2] = {-800.0, -900.0};
    CHECK(isnan(metric_mc2(tiny, 2, &one, 1)));
}

/* regex_sub_len (the scratch-reusing re.sub behind bulk exact_match) against CPython 3.11:
 *   re.sub('x*', '-', 'abxd') == '-a-b--d-'; re.sub(',', '', '1,234,5') == '12345';
 *   re.sub('(?s).*#### ', '', 'a\nb #### 12') == '12'; re.sub('', '-', 'ab') == '-a-b-';
 *   re.sub('q', '', 'abc') == 'abc' (no match: status 0, nothing allocated) */
static void check_sub(regex_scratch *sc, const char *pattern, const char *repl, const char *s,
                      const char *want, int want_status)
{
    char err[256];
    regex *re = regex_compile(pattern, err, sizeof err);
    CHECK(re != NULL);
    size_t len = strlen(s);
    int status;
    char *got = regex_sub_len(re, s, &len, repl, sc, &status);
    CHECK(status == want_status);
    const char *res = status ? got : s;
    CHECK(strcmp(res, want) == 0 && len == strlen(want));
    char *old = regex_sub(re, s, repl); /* the one-shot version agrees */
    CHECK(strcmp(old, want) == 0);
    free(old);
    free(got);
    regex_free(re);
}

static void test_sub_scratch(void)
{
    regex_scratch *sc = regex_scratch_new();
    CHECK(sc != NULL);
    check_sub(sc, "x*", "-", "abxd", "-a-b--d-", 1);
    check_sub(sc, ",", "", "1,234,5", "12345", 1);
    check_sub(sc, "(?s).*#### ", "", "a\nb #### 12", "12", 1);
    check_sub(sc, "", "-", "ab", "-a-b-", 1);
    check_sub(sc, "q", "", "abc", "abc", 0);
    check_sub(sc, "(a)(b)(c)", "", "xabcx", "xx", 1); /* more groups than the scratch holds */
    regex_scratch_free(sc);
    regex_scratch_free(NULL);
    /* exact_match's normalisation with and without a scratch (gsm8k's options) */
    char err[256];
    regex *ign[4] = {regex_compile(",", err, sizeof err), regex_compile("\\$", err, sizeof err),
                     regex_compile("(?s).*#### ", err, sizeof err), regex_compile("\\.$", err, sizeof err)};
    em_options o = {.ignore = ign, .n_ignore = 4, .ignore_case = 1};
    sc = regex_scratch_new();
    char *a = metric_em_normalize_sc("So $1,234.\n#### 1,234.", &o, sc);
    char *b = metric_em_normalize("So $1,234.\n#### 1,234.", &o);
    CHECK(strcmp(a, "1234") == 0 && strcmp(b, "1234") == 0);
    free(a);
    free(b);
    a = metric_em_normalize_sc("\u00c9T\u00c9 Ab", &o, sc); /* non-ASCII lower-case */
    CHECK(strcmp(a, "\u00e9t\u00e9 ab") == 0);
    free(a);
    regex_scratch_free(sc);
    for (int i = 0; i < 4; i++) regex_free(ign[i]);
}

/* regex_filter_sc (bulk filter_regex) gives regex_filter's result — lm-eval's RegexFilter —
 * for plain, one-group and tuple patterns, negative group_select, no match, out-of-range
 * selections, all-empty tuples and empty matches; the same scratch serves them in turn. */
static void test_filter_scratch(void)
{
    static const struct {
        const char *pattern, *text;
        int group;
    } cases[] = {
        {"#### (\\-?[0-9\\.\\,]+)", "so 3\n#### 1,234.", 0},
        {"#### (\\-?[0-9\\.\\,]+)", "no answer here", 0},
        {"(-?[$0-9.,]{2,})|(-?[0-9]+)", "a 7 then $12.5 then 9", -1},
        {"(-?[$0-9.,]{2,})|(-?[0-9]+)", "a 7 then $12.5 then 9", 0},
        {"(-?[$0-9.,]{2,})|(-?[0-9]+)", "a 7 then $12.5 then 9", 5},
        {"(a?)(b?)", "xyz", 0},          /* every group empty: the stripped fallback */
        {"x*", "abxd", -1},              /* empty matches */
        {"[A-D]", " answer: (C) \u00a0", 0},
        {"\\s*(\\w+)\\s*", "  word  ", 0},
    };
    regex_scratch *sc = regex_scratch_new();
    char err[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        regex *re = regex_compile(cases[i].pattern, err, sizeof err);
        CHECK(re != NULL);
        char *want = regex_filter(re, cases[i].text, cases[i].group, " [invalid] ");
        char *got = regex_filter_sc(re, cases[i].text, cases[i].group, " [invalid] ", sc);
        CHECK(want && got && strcmp(want, got) == 0);
        free(want);
        free(got);
        regex_free(re);
    }
    /* lm-eval's values for two of them: '1,234.' and the last tuple match's group, '9' */
    regex *re = regex_compile("(-?[$0-9.,]{2,})|(-?[0-9]+)", err, sizeof err);
    char *got = regex_filter_sc(re, "a 7 then $12.5 then 9", -1, "[invalid]", sc);
    CHECK(strcmp(got, "9") == 0);
    free(got);
    got = regex_filter_sc(re, "a 7 then $12.5 then 9", 1, "[invalid]", sc);
    CHECK(strcmp(got, "$12.5") == 0);
    free(got);
    regex_free(re);
    regex_scratch_free(sc);
}

static void test_aggregation(void)
{
    const double x[10] = {1, 0, 1, 1, 0, 1, 0, 1, 1, 1};
    CHECK(agg_mean(x, 10) == 0x1.6666666666666p-1);
    CHECK(agg_mean_stderr(x, 10) == 0x1.38d6509b0208ep-3); /* 0.15275252316519466 */
    const double y[5] = {0.1, 0.25, 3.5, -2.0, 7.125};
    CHECK(agg_mean(y, 5) == 0x1.cb851eb851eb8p+0);
    CHECK(agg_mean_stderr(y, 5) == 0x1.98b606694dea5p+0);
    CHECK(isnan(agg_mean_stderr(y, 1)));
    CHECK(isnan(agg_mean(y, 0)));
    const double ll[3] = {-1.5, -2.0, -0.25};
    CHECK(agg_perplexity(ll, 3) == 0x1.bec38edb0faf0p+1); /* 3.4903429574618414 */
    CHECK(agg_apply(AGG_PERPLEXITY, ll, 3) == agg_perplexity(ll, 3));
    CHECK(agg_apply(AGG_MEAN, ll, 3) == agg_mean(ll, 3));
}

/* n values from a fixed LCG: 0/1 with p ~ 0.3 (bernoulli) or log-likelihoods in [-4, 0). */
static double *make_values(size_t n, int bernoulli)
{
    double *x = malloc(n * sizeof *x);
    uint64_t s = 42;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        double u = (double)(s >> 11) / 9007199254740992.0;
        x[i] = bernoulli ? (u < 0.3) : -4.0 * u;
    }
    return x;
}

#if defined(__SANITIZE_ADDRESS__)
#define BOOT_ITERS 10000 /* sanitizer builds run ~25x slower */
#else
#define BOOT_ITERS 100000 /* lm-eval's default */
#endif

static void test_bootstrap(void)
{
    const size_t n = 5000;
    const int iters = BOOT_ITERS;
    double *x = make_values(n, 1);
    int threads = omp_get_max_threads();

    omp_set_num_threads(1);
    double t0 = omp_get_wtime();
    double b1 = bootstrap_stderr(x, n, AGG_MEAN, iters, 1234);
    double t1 = omp_get_wtime();
    omp_set_num_threads(2);
    double b2 = bootstrap_stderr(x, n, AGG_MEAN, iters, 1234);
    double t2 = omp_get_wtime();
    omp_set_num_threads(threads);
    printf("bootstrap n=%zu iters=%d: %.3f s on 1 thread, %.3f s on 2 threads\n", n, iters,
           t1 - t0, t2 - t1);
    CHECK(b1 == b2); /* bit-identical whatever the thread count */
    CHECK(bootstrap_stderr(x, n, AGG_MEAN, 1000, 1234) ==
          bootstrap_stderr(x, n, AGG_MEAN, 1000, 1234));
    CHECK(bootstrap_stderr(x, n, AGG_MEAN, 1000, 1) != bootstrap_stderr(x, n, AGG_MEAN, 1000, 2));

    /* the bootstrap agrees with the closed form within 3% (its own noise is <= 0.7%) */
    double analytic = agg_mean_stderr(x, n);
    CHECK_NEAR(b1 / analytic, 1.0, 0.03);

    /* perplexity: delta method, stderr ~ exp(-mean) * stderr(mean) */
    double *ll = make_values(n, 0);
    double bp = bootstrap_stderr(ll, n, AGG_PERPLEXITY, 20000, 7);
    CHECK_NEAR(bp / (agg_perplexity(ll, n) * agg_mean_stderr(ll, n)), 1.0, 0.03);
    CHECK(isnan(bootstrap_stderr(ll, 0, AGG_MEAN, 100, 1)));
    CHECK(isnan(bootstrap_stderr(ll, n, AGG_MEAN, 1, 1)));
    free(ll);
    free(x);
}

static void check_text(char *(*fn)(const char *), const char *in, const char *want)
{
    char *got = fn(in);
    CHECK_STR(got, want);
    free(got);
}

static void test_text(void)
{
    check_text(text_lower, "Hello WORLD 42", "hello world 42");
    check_text(text_lower, "\u00c0\u00c9\u00ce\u00d5\u00dc \u0178 \u0132\u013f\u0141\u017d",
               "\u00e0\u00e9\u00ee\u00f5\u00fc \u00ff \u0133\u0140\u0142\u017e");
    check_text(text_lower, "\u041f\u0420\u0418\u0412\u0415\u0422 \u0401\u0436",
               "\u043f\u0440\u0438\u0432\u0435\u0442 \u0451\u0436");
    check_text(text_lower, "TI\u1ebeNG VI\u1ec6T \u0218\u021a",
               "ti\u1ebfng vi\u1ec7t \u0219\u021b");
    check_text(text_lower, "\u0130STANBUL", "i\u0307stanbul");
    /* Greek final sigma: 'ΟΔΟΣ ΟΔΟΣ.'.lower(), 'Σ'.lower(), "ΑΣ'Α".lower(), "ΑΣ'".lower() */
    check_text(text_lower, "\u039f\u0394\u039f\u03a3 \u039f\u0394\u039f\u03a3.",
               "\u03bf\u03b4\u03bf\u03c2 \u03bf\u03b4\u03bf\u03c2.");
    check_text(text_lower, "\u03a3", "\u03c3");
    check_text(text_lower, "\u0391\u03a3'\u0391", "\u03b1\u03c3'\u03b1");
    check_text(text_lower, "\u0391\u03a3'", "\u03b1\u03c2'");
    check_text(text_lower, "a\xff" "B", "a\xff" "b"); /* invalid bytes pass through */
    check_text(text_strip, " \t\u3000 x y\u00a0\x1c\n", "x y");
    check_text(text_strip, "\u2003\u2003", "");
    check_text(text_strip, "", "");
    check_text(text_strip, "\xe3", "\xe3");
    CHECK(utf8_len("h\u00e9llo\u65e5\u672c") == 7);
    CHECK(utf8_len("") == 0);
    CHECK(text_is_space(0x85) && text_is_space(0x1f) && !text_is_space(0x200b));
}

int main(void)
{
    test_multiple_choice();
    test_mc_variants();
    test_mc2();
    test_sub_scratch();
    test_filter_scratch();
    test_aggregation();
    test_bootstrap();
    test_text();
    return check_summary();
}
