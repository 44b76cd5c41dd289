/* test_math_equiv.c — \boxed{} extraction, strip_string / is_equiv, Minerva's
 * normalisation, GSM8K extraction, exact numbers, Python float, and "evallua.metrics".math.
 *
 * Expected strings were printed by CPython 3.11.7 from the reference code:
 *   MATH     lm-evaluation-harness lm_eval/tasks/hendrycks_math/utils.py @ 04bc51ff
 *            (last_boxed_only_string, remove_boxed, strip_string, is_equiv,
 *            extract_answer), e.g. python3 -c "import utils as H;
 *            print(repr(H.strip_string('\\left( 3, \\frac12 \\right)')))"; a case whose
 *            reference raises is marked NULL (is_equiv then compares the raw strings)
 *   Minerva  lm_eval/tasks/minerva_math/utils.py @ 0348ed97 (get_unnormalized_answer,
 *            normalize_final_answer with its SUBSTITUTIONS and REMOVED_EXPRESSIONS)
 *   GSM8K    lm-eval's RegexFilter and exact_match (task-formats.md §0.4, §17) with
 *            Python re: python3 -c "import re; m = re.findall(r'(-?[$0-9.,]{2,})|(-?[0-9]+)',
 *            'The answer is 42.')[-1]; print([x for x in m if x][0].strip())"
 *   numbers  Python fractions.Fraction, e.g. Fraction('0.5') == Fraction(1, 2);
 *            float(s) / repr(float(s)) for the Python float helpers
 * Besides these fixtures, strip_string, is_equiv, the boxed helpers, Minerva's two
 * functions and float()/repr() were fuzzed against the same Python code (no mismatch). */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "score/math_equiv.h"

int luaopen_evallua_metrics(lua_State *L);

/* CHECK_STR that frees got; want == NULL expects NULL (Python None or an exception). */
static void expect(char *got, const char *want)
{
    if (want) CHECK_STR(got, want);
    else CHECK(got == NULL);
    free(got);
}

static void test_boxed(void)
{
    static const char *cases[][3] = { /* input, last_boxed_only_string, remove_boxed of it */
        {"so $\\boxed{\\frac{1}{2}}$ and \\boxed{3}", "\\boxed{3}", "3"},
        {"\\boxed 5 is it$ and more", "\\boxed 5 is it", "5 is it"}, /* the space form wins */
        {"\\boxed{1}\\boxed 2$", "\\boxed 2", "2"},
        {"\\fbox{7}", "\\fbox{7}", NULL},       /* remove_boxed asserts on \fbox */
        {"\\boxed{a{b}c", NULL, NULL},          /* unbalanced: None */
        {"no box", NULL, NULL},
        {"\\boxed{}", "\\boxed{}", ""},
        {"}\\boxed{x}}", "\\boxed{x}", "x"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        expect(math_last_boxed(cases[i][0]), cases[i][1]);
        expect(math_boxed_answer(cases[i][0]), cases[i][2]);
    }
    expect(math_remove_boxed("\\boxed{"), NULL);
    expect(math_remove_boxed("x \\boxed 1"), NULL); /* has "\boxed " but does not start so */
}

static void test_strip_string(void)
{
    static const char *cases[][2] = {
        {"\\left( 3, \\frac12 \\right)", "(3,\\frac{1}{2})"},
        {"\\dfrac{3}{4}", "\\frac{3}{4}"}, {"\\tfrac{1}{3}", "\\frac{1}{3}"},
        {"90^\\circ", "90"}, {"\\$5.00", "5.00"},
        {"10 \\text{ cm}", "10"}, {"1 \\text{ cm} \\text{ m}", NULL}, /* units assertion */
        {"50\\%", "50"}, {"50%", "50%"},
        {".5", "\\frac{1}{2}"}, {"0.5", "\\frac{1}{2}"}, {" .5", "\\frac{1}{2}"}, {"{.5}", "{0.5}"},
        {"x = 7", "7"}, {"k = \\frac{1}{2}", "\\frac{1}{2}"}, {"abc = 7", "abc=7"},
        {"a=b=c", "a=b=c"},
        {"\\sqrt3", "\\sqrt{3}"}, {"\\sqrt{3}+\\sqrt2x", "\\sqrt{3}+\\sqrt{2}x"}, {"\\sqrt", NULL},
        {"3/4", "\\frac{3}{4}"}, {"-3/4", "\\frac{-3}{4}"}, {"3 / 4", "\\frac{3}{4}"},
        {"03/4", "03/4"}, {"+3/4", "+3/4"}, /* int() accepts them, but str() differs */
        {"x/4", NULL}, {"1/\\sqrt{2}", NULL}, /* int() raises ValueError */
        {"\\frac1{72}", "\\frac{1}{72}"}, {"\\frac1b", "\\frac{1}{b}"},
        {"\\frac12x", "\\frac{1}{2}x"},
        {"\\frac1", "\\frac1"}, {"\\frac", NULL},
        {"\\!1,\\!000", "1,000"}, {"1\\\\000", "1\\000"}, {"a\nb", "ab"}, {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect(math_strip_string(cases[i][0]), cases[i][1]);
}

static void test_is_equiv(void)
{
    CHECK(math_is_equiv("\\frac{1}{2}", "0.5"));
    CHECK(math_is_equiv("1/2", "\\frac12"));
    CHECK(!math_is_equiv("073", "73"));
    CHECK(math_is_equiv("x/y", "x/y"));       /* strip_string raises: raw comparison */
    CHECK(math_is_equiv("\\sqrt", "\\sqrt"));
    CHECK(!math_is_equiv("\\sqrt", "\\sqrt "));
    CHECK(math_is_equiv("10\\text{ cm}", "10"));
    CHECK(math_is_equiv("1 \\text{ m} 2 \\text{ m}", "1 \\text{ m} 2 \\text{ m}"));
    CHECK(math_is_equiv("\\dfrac{3}{4}", "3/4"));
    CHECK(math_is_equiv("90^\\circ", "90"));
    CHECK(math_is_equiv("\\$5", "5"));
    CHECK(math_is_equiv("\\left(1,2\\right)", "(1,2)"));
    CHECK(math_is_equiv(NULL, NULL) && !math_is_equiv("1", NULL) && !math_is_equiv(NULL, "1"));
}

static void test_extract(void)
{
    expect(math_hendrycks_extract("The answer is $\\frac{1}{2}$."), "\\frac{1}{2}");
    expect(math_hendrycks_extract("We get \\[ x = 5 \\] so $x$"), "x = 5");
    expect(math_hendrycks_extract("\\boxed{7} and $8$"), "7");
    expect(math_hendrycks_extract("just 42"), "just 42");
    expect(math_hendrycks_extract("one $ dollar"), "one $ dollar");
    /* lm-eval raises on an \fbox; evallua goes on to the later rules */
    expect(math_hendrycks_extract("\\fbox{3} $4$ and $5$"), "4$ and $5");
    expect(math_dollar_extract("The answer is $\\frac{1}{2}$ or $3$."), "\\frac{1}{2}$ or $3");
    expect(math_dollar_extract("\\boxed{7} and $8"), "\\boxed{7} and $8");

    expect(math_minerva_extract("Solution... Final Answer: The final answer is $24$. I hope it "
                                "is correct."), "$24$");
    expect(math_minerva_extract("Final Answer: The final answer is 5"), "[invalidanswer]");
    expect(math_minerva_extract("no final"), "[invalidanswer]");
    expect(math_minerva_extract("Final Answer: The final answer is \n5. I hope it is correct."),
           "[invalidanswer]"); /* '.' does not cross the newline */
    expect(math_minerva_extract("Final Answer: The final answer is $\\frac{2}{3}$. I hope it is "
                                "correct.\nFinal Answer: The final answer is $7$. I hope it is "
                                "correct."), "$\\frac{2}{3}$");
}

static void test_minerva_normalize(void)
{
    static const char *cases[][2] = {
        {"$24$", "24"}, {"x = \\frac23", "\\frac{2}{3}"}, {"10 \\text{ inches}", "10"},
        {"\\boxed{5}", "5"}, {"1,000,000", "1000000"}, {"1,00", "100"},
        {"\\text{(A)}", "(A)"}, {"\\$5.00", "5.00"}, {"a = \\sqrt2", "\\sqrt{2}"},
        {"5 ways", "5"}, {"\\textbf{yes}", "yes"}, {"$\\overline{12}$", "12"},
        {"\\mbox{and}", ","}, {"[2,5)", "[2,5)"}, {"\\text{ m} 3", "3"}, {"1/2", "1/2"},
        {"9 \\text{ and } 10", "910"}, {"an apple", "apple"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect(math_minerva_normalize(cases[i][0]), cases[i][1]);
    CHECK(math_minerva_equiv("\\frac{1}{2}", "0.5"));
    CHECK(math_minerva_equiv("12", "12") && !math_minerva_equiv("12", "13"));
    CHECK(!math_minerva_equiv("[invalidanswer]", "[invalidanswer]") && !math_minerva_equiv("", ""));
}

static void test_gsm8k(void)
{
    static const char *cases[][5] = { /* response, strict, flexible, and both normalised */
        {"Janet has 3 eggs... #### 1,234", "1,234", "1,234", "1234", "1234"},
        {"so she pays $18.\n#### -18.50", "-18.50", "-18.50", "-18.50", "-18.50"},
        {"The answer is 42.", "[invalid]", "42.", "[invalid]", "42"},
        {"x 7 y 8", "[invalid]", "8", "[invalid]", "8"},
        {"no numbers", "[invalid]", "[invalid]", "[invalid]", "[invalid]"},
        {"#### 5 #### 6", "5", "6", "5", "6"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int flexible = 0; flexible < 2; flexible++) {
            char *got = math_gsm8k_extract(cases[i][0], flexible);
            CHECK_STR(got, cases[i][1 + flexible]);
            expect(math_gsm8k_normalize(got), cases[i][3 + flexible]);
            free(got);
        }
    }
    expect(math_gsm8k_normalize("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72"), "72");
}

static void test_numbers(void)
{
    static const struct { const char *s; int ok; int64_t num, den; } cases[] = {
        {"0.5", 1, 1, 2}, {"1/2", 1, 1, 2}, {"\\frac{1}{2}", 1, 1, 2}, {"-\\dfrac{3}{6}", 1, -1, 2},
        {"1,234", 1, 1234, 1}, {".25", 1, 1, 4}, {"2.", 1, 2, 1}, {"\\frac12", 1, 1, 2},
        {"$3$", 1, 3, 1}, {"\\frac{0.5}{2}", 1, 1, 4}, {"-0", 1, 0, 1}, {" -7 ", 1, -7, 1},
        {"1,23", 0, 0, 0}, {"1/0", 0, 0, 0}, {"abc", 0, 0, 0}, {"12345678901234567890", 0, 0, 0},
        {"", 0, 0, 0}, {"--5", 0, 0, 0}, {"1.2.3", 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        math_rational r = {0, 0};
        int ok = math_parse_number(cases[i].s, &r);
        CHECK(ok == cases[i].ok);
        if (ok) CHECK(r.num == cases[i].num && r.den == cases[i].den);
    }
    CHECK(math_numeric_equal("0.5", "\\frac{1}{2}") == 1 && math_numeric_equal("1/2", "0.5") == 1);
    CHECK(math_numeric_equal("0.33", "1/3") == 0 && math_numeric_equal("x", "1") == -1);
}

static void test_python_float(void)
{
    static const char *cases[][2] = { /* float(s) -> repr, NULL where float() raises */
        {"1", "1.0"}, {"1e16", "1e+16"}, {"1e15", "1000000000000000.0"}, {"0.0001", "0.0001"},
        {"0.00001", "1e-05"}, {"-2.50", "-2.5"}, {" 1_000 ", "1000.0"}, {"NaN", "nan"},
        {"-Infinity", "-inf"}, {".5", "0.5"}, {"5.", "5.0"}, {"0.1", "0.1"}, {"-0", "-0.0"},
        {"123456789012345678", "1.2345678901234568e+17"}, {"1.5e-7", "1.5e-07"},
        {"1__0", NULL}, {"_1", NULL}, {"1_", NULL}, {"0x10", NULL}, {"", NULL}, {".", NULL},
        {"1e", NULL}, {"inf inity", NULL}, {"1,000", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double v;
        int ok = py_float_parse(cases[i][0], &v);
        CHECK(ok == (cases[i][1] != NULL));
        if (ok) expect(py_float_repr(v), cases[i][1]);
    }
}

static const char *lua_checks =
    "local M = require('evallua.metrics').math\n"
    "assert(M.last_boxed('a \\\\boxed{1} b \\\\boxed{2}') == '\\\\boxed{2}')\n"
    "assert(M.last_boxed('none') == nil and M.boxed_answer('\\\\fbox{1}') == nil)\n"
    "assert(M.remove_boxed('\\\\boxed{x}') == 'x' and M.boxed_answer('$\\\\boxed{4}$') == '4')\n"
    "assert(M.strip_string('\\\\dfrac12') == '\\\\frac{1}{2}' and M.strip_string('x/4') == nil)\n"
    "assert(M.is_equiv('0.5', '\\\\frac{1}{2}') == true and M.is_equiv('1', '2') == false)\n"
    "assert(M.is_equiv(nil, nil) == true and M.is_equiv('1', nil) == false)\n"
    "assert(M.is_equiv(5, '5') == true) -- str(expected_answer) as Evalchemy does\n"
    "assert(M.extract_minerva('Final Answer: The final answer is $7$. I hope it is correct.')\n"
    "  == '$7$')\n"
    "assert(M.minerva_normalize('$7$') == '7' and M.minerva_equiv('0.5', '1/2') == true)\n"
    "assert(M.hendrycks_extract('so $x$') == 'x' and M.dollar_extract('a $b$ c') == 'b')\n"
    "assert(M.numeric_equal('1/2', '0.5') == true and M.numeric_equal('a', '1') == nil)\n"
    "local n, d = M.parse_number('-\\\\frac{2}{4}'); assert(n == -1 and d == 2)\n"
    "assert(M.parse_number('x') == nil)\n"
    "assert(M.gsm8k_extract('#### 1,000') == '1,000')\n"
    "assert(M.gsm8k_extract('x 1 y 22.', 'flexible') == '22.')\n"
    "assert(M.gsm8k_normalize('$1,000.') == '1000')\n"
    "local ok, e = pcall(M.gsm8k_extract, 'x', 'loose')\n"
    "assert(not ok and e:find('invalid option'))\n"
    "ok, e = pcall(M.strip_string, {}); assert(not ok and e:find('string expected'))\n"
    "ok, e = pcall(M.minerva_equiv, 'a'); assert(not ok and e:find('string expected'))\n";

static void test_lua_module(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "evallua.metrics", luaopen_evallua_metrics, 0);
    lua_pop(L, 1);
    int rc = luaL_loadbuffer(L, lua_checks, strlen(lua_checks), "=lua_checks")
             || lua_pcall(L, 0, 0, 0);
    if (rc) fprintf(stderr, "lua: %s\n", lua_tostring(L, -1));
    CHECK(rc == 0);
    lua_close(L);
}

int main(void)
{
    test_boxed();
    test_strip_string();
    test_is_equiv();
    test_extract();
    test_minerva_normalize();
    test_gsm8k();
    test_numbers();
    test_python_float();
    test_lua_module();
    return check_summary();
}
