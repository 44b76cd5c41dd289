/* math_equiv.c — \boxed{} extraction, MATH's strip_string / is_equiv, Minerva's
 * normalize_final_answer, GSM8K extraction and exact numbers (see math_equiv.h). */
#include "score/math_equiv.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "score/metrics.h"
#include "score/regex.h"
#include "score/text_metrics.h"
#include "util/buf.h"

/* --- string helpers (Python str methods) ------------------------------------------------ */

/* text_replace that consumes s (and skips the copy when from does not occur). */
static char *rep(char *s, const char *from, const char *to)
{
    if (!strstr(s, from)) return s;
    char *out = text_replace(s, from, to);
    free(s);
    return out;
}

/* Python s.count(needle): non-overlapping occurrences. */
static size_t count_of(const char *s, const char *needle)
{
    size_t n = 0, len = strlen(needle);
    for (const char *p = strstr(s, needle); p; p = strstr(p + len, needle)) n++;
    return n;
}

/* Python s.rfind(needle) as a pointer, NULL when absent. */
static const char *rfind(const char *s, const char *needle)
{
    const char *last = NULL;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) last = p;
    return last;
}

/* Bytes of the code point at p (1 for an invalid byte, 0 at the NUL). */
static size_t cp_len(const char *p)
{
    size_t n;
    if (!*p) return 0;
    text_utf8_decode(p, &n);
    return n;
}

/* Python whitespace (str.isspace) around s[0..n): *b = first kept byte, *e = end. */
static void py_strip_bounds(const char *s, size_t n, size_t *b, size_t *e)
{
    size_t i = 0, k;
    while (i < n && text_is_space(text_utf8_decode(s + i, &k))) i += k;
    *b = i;
    size_t end = i;
    while (i < n) {
        uint32_t cp = text_utf8_decode(s + i, &k);
        i += k;
        if (!text_is_space(cp)) end = i;
    }
    *e = end;
}

static char *strip_copy(const char *s, size_t n)
{
    size_t b, e;
    py_strip_bounds(s, n, &b, &e);
    return xstrndup(s + b, e - b);
}

/* --- \boxed{} ------------------------------------------------------------------------------ */

char *math_last_boxed(const char *s)
{
    const char *sp = rfind(s, "\\boxed ");
    if (sp) {
        buf b = {0};
        buf_puts(&b, "\\boxed ");
        buf_append(&b, sp + 7, strcspn(sp + 7, "$"));
        return buf_steal(&b);
    }
    const char *idx = rfind(s, "\\boxed");
    if (!idx) idx = rfind(s, "\\fbox");
    if (!idx) return NULL;
    int open = 0;
    for (const char *p = idx; *p; p++) {
        if (*p == '{') open++;
        if (*p == '}' && --open == 0) return xstrndup(idx, (size_t)(p - idx) + 1);
    }
    return NULL;
}

char *math_remove_boxed(const char *b)
{
    if (strstr(b, "\\boxed ")) return strncmp(b, "\\boxed ", 7) ? NULL : xstrdup(b + 7);
    size_t n = strlen(b);
    if (strncmp(b, "\\boxed{", 7) != 0 || b[n - 1] != '}') return NULL;
    return xstrndup(b + 7, n - 8); /* n >= 8: a bare "\\boxed{" ends in a brace */
}

char *math_boxed_answer(const char *s)
{
    char *boxed = math_last_boxed(s);
    if (!boxed) return NULL;
    char *out = math_remove_boxed(boxed);
    free(boxed);
    return out;
}

/* --- strip_string -------------------------------------------------------------------------- */

/* Python int(s[0..n)) for a str: -1 ValueError, 0 valid but str(int(x)) != x, 1 canonical. */
static int py_int_check(const char *s, size_t n)
{
    size_t b, e;
    py_strip_bounds(s, n, &b, &e);
    const char *q = s + b;
    size_t m = e - b, digits = 0;
    if (m == 0) return -1;
    size_t i = q[0] == '+' || q[0] == '-';
    int after_digit = 0, underscores = 0;
    for (; i < m; i++) {
        if (q[i] >= '0' && q[i] <= '9') digits++, after_digit = 1;
        else if (q[i] == '_' && after_digit) after_digit = 0, underscores++;
        else return -1;
    }
    if (!digits || !after_digit) return -1;
    const char *d = q + (q[0] == '-' || q[0] == '+');
    int canonical = b == 0 && e == n && q[0] != '+' && !underscores
                    && (d[0] != '0' || (digits == 1 && q[0] != '-'));
    return canonical;
}

/* fix_sqrt: "\sqrt3" -> "\sqrt{3}". Consumes s; NULL where Python raises IndexError. */
static char *fix_sqrt(char *s)
{
    const char *p = strstr(s, "\\sqrt");
    if (!p) return s;
    buf b = {0};
    buf_append(&b, s, (size_t)(p - s));
    while (p) {
        const char *piece = p + 5, *next = strstr(piece, "\\sqrt");
        size_t len = next ? (size_t)(next - piece) : strlen(piece);
        if (len == 0) {
            buf_free(&b);
            free(s);
            return NULL;
        }
        if (piece[0] != '{') {
            size_t c = cp_len(piece);
            buf_puts(&b, "\\sqrt{");
            buf_append(&b, piece, c);
            buf_putc(&b, '}');
            buf_append(&b, piece + c, len - c);
        } else {
            buf_puts(&b, "\\sqrt");
            buf_append(&b, piece, len);
        }
        p = next;
    }
    free(s);
    return buf_steal(&b);
}

/* fix_fracs: "\frac12" -> "\frac{1}{2}", "\frac1{72}" -> "\frac{1}{72}". Consumes s;
 * NULL where Python raises (an empty piece); s itself when a piece is one character. */
static char *fix_fracs(char *s)
{
    const char *p = strstr(s, "\\frac");
    if (!p) return s;
    buf b = {0};
    buf_append(&b, s, (size_t)(p - s));
    for (; p; ) {
        const char *piece = p + 5, *next = strstr(piece, "\\frac");
        size_t len = next ? (size_t)(next - piece) : strlen(piece), c1 = cp_len(piece);
        buf_puts(&b, "\\frac");
        if (len == 0 || (piece[0] != '{' && c1 >= len)) { /* IndexError, or fewer than 2 */
            buf_free(&b);
            if (len == 0) free(s);
            return len == 0 ? NULL : s;
        }
        if (piece[0] == '{') buf_append(&b, piece, len);
        else {
            size_t c2 = cp_len(piece + c1);
            buf_putc(&b, '{');
            buf_append(&b, piece, c1);
            buf_putc(&b, '}');
            if (piece[c1] != '{') buf_putc(&b, '{');
            buf_append(&b, piece + c1, c2);
            if (piece[c1] != '{') buf_putc(&b, '}');
            buf_append(&b, piece + c1 + c2, len - c1 - c2);
        }
        p = next;
    }
    free(s);
    return buf_steal(&b);
}

/* fix_a_slash_b: "3/4" -> "\frac{3}{4}". Consumes s; NULL where int() raises. */
static char *fix_a_slash_b(char *s)
{
    if (count_of(s, "/") != 1) return s;
    const char *slash = strchr(s, '/');
    int ca = py_int_check(s, (size_t)(slash - s)), cb = py_int_check(slash + 1, strlen(slash + 1));
    if (ca < 0 || cb < 0) {
        free(s);
        return NULL;
    }
    if (!ca || !cb) return s;
    buf b = {0};
    buf_printf(&b, "\\frac{%.*s}{%s}", (int)(slash - s), s, slash + 1);
    free(s);
    return buf_steal(&b);
}

/* Steps 1-10 of strip_string: literal replacements and the units split. */
static char *strip_replacements(char *s)
{
    static const char *const reps[][2] = {
        {"\n", ""}, {"\\!", ""}, {"\\\\", "\\"}, {"tfrac", "frac"}, {"dfrac", "frac"},
        {"\\left", ""}, {"\\right", ""}, {"^{\\circ}", ""}, {"^\\circ", ""}, {"\\$", ""},
    };
    for (size_t i = 0; i < sizeof reps / sizeof reps[0]; i++) s = rep(s, reps[i][0], reps[i][1]);
    char *units = strstr(s, "\\text{ ");
    if (units) {
        if (count_of(s, "\\text{ ") != 1) {
            free(s);
            return NULL;
        }
        *units = '\0';
    }
    s = rep(s, "\\%", "");
    s = rep(s, " .", " 0.");
    return rep(s, "{.", "{0.");
}

char *math_strip_string(const char *in)
{
    char *s = strip_replacements(xstrdup(in));
    if (!s || !*s) return s;
    if (s[0] == '.') {
        char *t = xmalloc(strlen(s) + 2);
        t[0] = '0';
        strcpy(t + 1, s);
        free(s);
        s = t;
    }
    char *eq = strchr(s, '=');
    if (eq && count_of(s, "=") == 1) {
        *eq = '\0';
        if (utf8_len(s) <= 2) memmove(s, eq + 1, strlen(eq + 1) + 1);
        else *eq = '=';
    }
    s = fix_sqrt(s);
    if (!s) return NULL;
    s = fix_fracs(rep(s, " ", ""));
    if (s && strcmp(s, "0.5") == 0) {
        free(s);
        s = xstrdup("\\frac{1}{2}");
    }
    return s ? fix_a_slash_b(s) : NULL;
}

int math_is_equiv(const char *a, const char *b)
{
    if (!a || !b) return !a && !b;
    char *sa = math_strip_string(a), *sb = sa ? math_strip_string(b) : NULL;
    int eq = sa && sb ? strcmp(sa, sb) == 0 : strcmp(a, b) == 0;
    free(sa);
    free(sb);
    return eq;
}

/* --- compiled regexes (built once) ---------------------------------------------------------- */

static regex *re_minerva, *re_gsm_strict, *re_gsm_flex, *re_gsm_ignore[4];
static pthread_once_t re_once = PTHREAD_ONCE_INIT;

static void re_init(void)
{
    char err[256];
    static const char *const ignore[4] = {",", "\\$", "(?s).*#### ", "\\.$"};
    re_minerva = regex_compile("Final Answer: The final answer is(.*?). I hope it is correct.",
                               err, sizeof err);
    re_gsm_strict = regex_compile("#### (\\-?[0-9\\.\\,]+)", err, sizeof err);
    re_gsm_flex = regex_compile("(-?[$0-9.,]{2,})|(-?[0-9]+)", err, sizeof err);
    for (int i = 0; i < 4; i++) re_gsm_ignore[i] = regex_compile(ignore[i], err, sizeof err);
}

/* --- extraction ------------------------------------------------------------------------------ */

char *math_dollar_extract(const char *out)
{
    const char *first = strchr(out, '$'), *last = strrchr(out, '$');
    if (!first || first == last) return xstrdup(out);
    return xstrndup(first + 1, (size_t)(last - first - 1));
}

char *math_hendrycks_extract(const char *out)
{
    char *boxed = math_last_boxed(out);
    if (boxed) { /* lm-eval raises on an \fbox here; evallua goes on to the next rules */
        char *ans = math_remove_boxed(boxed);
        free(boxed);
        if (ans) return ans;
    }
    const char *open = strstr(out, "\\[");
    if (open && open[2]) { /* re.search(r"\\\[(.+?)\\\]", output, re.DOTALL) */
        const char *body = open + 2, *close = strstr(body + cp_len(body), "\\]");
        if (close) return strip_copy(body, (size_t)(close - body));
    }
    return math_dollar_extract(out);
}

char *math_minerva_extract(const char *text)
{
    pthread_once(&re_once, re_init);
    if (!re_minerva) return NULL;
    buf b = {0};
    buf_puts(&b, text);
    buf_puts(&b, "I hope it is correct.");
    regex_matches m;
    int rc = regex_findall(re_minerva, buf_str(&b), &m, NULL, 0);
    buf_free(&b);
    if (rc < 0) return NULL;
    char *out = m.n ? text_strip(m.str[0]) : xstrdup("[invalidanswer]");
    regex_matches_free(&m);
    return out;
}

char *math_gsm8k_extract(const char *response, int flexible)
{
    pthread_once(&re_once, re_init);
    regex *re = flexible ? re_gsm_flex : re_gsm_strict;
    return re ? regex_filter(re, response, flexible ? -1 : 0, "[invalid]") : NULL;
}

char *math_gsm8k_normalize(const char *s)
{
    pthread_once(&re_once, re_init);
    for (int i = 0; i < 4; i++)
        if (!re_gsm_ignore[i]) return NULL;
    em_options o = {.ignore = re_gsm_ignore, .n_ignore = 4, .ignore_case = 1};
    return metric_em_normalize(s, &o);
}

/* --- Minerva normalize_final_answer --------------------------------------------------------- */

static const char *const minerva_subst[][2] = {
    {"an ", ""}, {"a ", ""}, {".$", "$"}, {"\\$", ""}, {"\\ ", ""}, {" ", ""},
    {"mbox", "text"}, {",\\text{and}", ","}, {"\\text{and}", ","}, {"\\text{m}", "\\text{}"},
};

static const char *const minerva_removed[] = {
    "square", "ways", "integers", "dollars", "mph", "inches", "ft", "hours", "km", "units",
    "\\ldots", "sue", "points", "feet", "minutes", "digits", "cents", "degrees", "cm", "gm",
    "pounds", "meters", "meals", "edges", "students", "childrentickets", "multiples",
    "\\text{s}", "\\text{.}", "\\text{\ns}", "\\text{}^2", "\\text{}^3", "\\text{\n}",
    "\\text{}", "\\mathrm{th}", "^\\circ", "^{\\circ}", "\\;", ",\\!", "{,}", "\"", "\\dots",
};

/* re.sub(r"(.*?)(\$)(.*?)(\$)(.*)", "$\\3$", s): each line with two '$' or more becomes
 * '$' + the text between its first two '$' + '$' ('.' stops at '\n'). Consumes s. */
static char *sub_dollar_lines(char *s)
{
    buf b = {0};
    for (const char *line = s; ; ) {
        size_t len = strcspn(line, "\n");
        const char *d1 = memchr(line, '$', len);
        const char *d2 = d1 ? memchr(d1 + 1, '$', len - (size_t)(d1 + 1 - line)) : NULL;
        if (d2) {
            buf_putc(&b, '$');
            buf_append(&b, d1 + 1, (size_t)(d2 - d1 - 1));
            buf_putc(&b, '$');
        } else buf_append(&b, line, len);
        if (!line[len]) break;
        buf_putc(&b, '\n');
        line += len + 1;
    }
    free(s);
    return buf_steal(&b);
}

/* re.sub(r"(OPEN)(.*?)(\})", "\\2", s), or (.*) when greedy: OPEN ... '}' on one line
 * becomes what is between them. Consumes s. */
static char *sub_unwrap(char *s, const char *open, int greedy)
{
    size_t ol = strlen(open);
    buf b = {0};
    for (const char *p = s; *p; ) {
        const char *close = NULL;
        if (strncmp(p, open, ol) == 0) {
            size_t len = strcspn(p + ol, "\n");
            for (size_t i = 0; i < len && (greedy || !close); i++)
                if (p[ol + i] == '}') close = p + ol + i;
        }
        if (close) {
            buf_append(&b, p + ol, (size_t)(close - p - ol));
            p = close + 1;
        } else buf_putc(&b, *p++);
    }
    free(s);
    return buf_steal(&b);
}

/* re.sub(r"(frac)([^{])(.)", "frac{\\2}{\\3}") when two, re.sub(r"(sqrt)([^{])",
 * "sqrt{\\2}") when one: shorthand arguments get braces. Consumes s. */
static char *sub_shorthand(char *s, const char *word, int nargs)
{
    size_t wl = strlen(word);
    buf b = {0};
    for (const char *p = s; *p; ) {
        const char *a = p + wl;
        size_t c1 = strncmp(p, word, wl) == 0 && *a != '{' ? cp_len(a) : 0;
        size_t c2 = c1 && nargs == 2 && a[c1] != '\n' ? cp_len(a + c1) : 0;
        if (!c1 || (nargs == 2 && !c2)) {
            buf_putc(&b, *p++);
            continue;
        }
        buf_printf(&b, "%s{%.*s}", word, (int)c1, a);
        if (nargs == 2) buf_printf(&b, "{%.*s}", (int)c2, a + c1);
        p = a + c1 + c2;
    }
    free(s);
    return buf_steal(&b);
}

/* Python s.replace(",", "").isdigit(), ASCII digits only. */
static int digits_and_commas(const char *s)
{
    int digits = 0;
    for (; *s; s++) {
        if (*s >= '0' && *s <= '9') digits = 1;
        else if (*s != ',') return 0;
    }
    return digits;
}

char *math_minerva_normalize(const char *in)
{
    const char *eq = strrchr(in, '=');
    char *s = xstrdup(eq ? eq + 1 : in);
    for (size_t i = 0; i < sizeof minerva_subst / sizeof minerva_subst[0]; i++)
        s = rep(s, minerva_subst[i][0], minerva_subst[i][1]);
    for (size_t i = 0; i < sizeof minerva_removed / sizeof minerva_removed[0]; i++)
        s = rep(s, minerva_removed[i], "");
    s = sub_dollar_lines(s);
    s = sub_unwrap(s, "\\text{", 0);
    s = sub_unwrap(s, "\\textbf{", 0);
    s = sub_unwrap(s, "\\overline{", 0);
    s = sub_unwrap(s, "\\boxed{", 1);
    s = sub_shorthand(s, "frac", 2);
    s = sub_shorthand(s, "sqrt", 1);
    s = rep(s, "$", "");
    if (digits_and_commas(s)) s = rep(s, ",", "");
    return s;
}

int math_minerva_equiv(const char *a, const char *b)
{
    /* sympy's parse_latex fails on "" and on the invalid marker: never equal */
    if (!*a || !*b || strcmp(a, "[invalidanswer]") == 0) return 0;
    return strcmp(a, b) == 0 || math_numeric_equal(a, b) == 1;
}

/* --- Python float ----------------------------------------------------------------------------- */

/* Scan digit ("_"? digit)* at s[*i]; copies digits to out. Returns the digit count, or
 * -1 on a misplaced underscore. */
static int scan_digits(const char *s, size_t *i, buf *out)
{
    int n = 0;
    while ((s[*i] >= '0' && s[*i] <= '9') || (s[*i] == '_' && n > 0)) {
        if (s[*i] == '_' && !(s[*i + 1] >= '0' && s[*i + 1] <= '9')) return -1;
        if (s[*i] != '_') buf_putc(out, s[*i]), n++;
        (*i)++;
    }
    return n;
}

/* Validate the Python float grammar on t and copy it without underscores to out. */
static int float_grammar(const char *t, buf *out)
{
    size_t i = 0;
    if (t[i] == '+' || t[i] == '-') buf_putc(out, t[i++]);
    static const char *const words[] = {"infinity", "inf", "nan"};
    for (int w = 0; w < 3; w++)
        if (strcasecmp(t + i, words[w]) == 0) return buf_puts(out, words[w]), 1;
    int ip = scan_digits(t, &i, out), fp = 0;
    if (ip < 0) return 0;
    if (t[i] == '.') {
        buf_putc(out, t[i++]);
        if ((fp = scan_digits(t, &i, out)) < 0) return 0;
    }
    if (ip + fp == 0) return 0;
    if (t[i] == 'e' || t[i] == 'E') {
        buf_putc(out, t[i++]);
        if (t[i] == '+' || t[i] == '-') buf_putc(out, t[i++]);
        if (scan_digits(t, &i, out) <= 0) return 0;
    }
    return t[i] == '\0';
}

int py_float_parse(const char *s, double *out)
{
    char *t = strip_copy(s, strlen(s));
    buf clean = {0};
    int ok = float_grammar(t, &clean);
    if (ok) *out = strtod(buf_str(&clean), NULL);
    buf_free(&clean);
    free(t);
    return ok;
}

char *py_float_repr(double x)
{
    if (isnan(x)) return xstrdup("nan");
    if (isinf(x)) return xstrdup(x < 0 ? "-inf" : "inf");
    if (x == 0) return xstrdup(signbit(x) ? "-0.0" : "0.0");
    char e[48], d[24];
    for (int prec = 1; prec <= 17; prec++) { /* the shortest repr that round-trips */
        snprintf(e, sizeof e, "%.*e", prec - 1, x);
        if (strtod(e, NULL) == x) break;
    }
    int nd = 0;
    const char *p = e + (e[0] == '-');
    for (; *p != 'e'; p++)
        if (*p != '.') d[nd++] = *p;
    while (nd > 1 && d[nd - 1] == '0') nd--;
    int exp10 = atoi(p + 1), decpt = exp10 + 1;
    buf b = {0};
    if (x < 0) buf_putc(&b, '-');
    if (decpt <= -4 || decpt > 16) {
        buf_printf(&b, "%c%s%.*se%c%02d", d[0], nd > 1 ? "." : "", nd - 1, d + 1,
                   exp10 < 0 ? '-' : '+', abs(exp10));
    } else if (decpt <= 0) {
        buf_puts(&b, "0.");
        for (int i = 0; i < -decpt; i++) buf_putc(&b, '0');
        buf_append(&b, d, (size_t)nd);
    } else if (decpt >= nd) {
        buf_append(&b, d, (size_t)nd);
        for (int i = nd; i < decpt; i++) buf_putc(&b, '0');
        buf_puts(&b, ".0");
    } else {
        buf_printf(&b, "%.*s.%.*s", decpt, d, nd - decpt, d + decpt);
    }
    return buf_steal(&b);
}

/* --- exact numbers ------------------------------------------------------------------------- */

/* Reduce num/den (den != 0) into r; 0 when it does not fit in int64. */
static int make_rational(__int128 num, __int128 den, math_rational *r)
{
    if (den == 0) return 0;
    if (den < 0) num = -num, den = -den;
    __int128 a = num < 0 ? -num : num, b = den;
    while (b) {
        __int128 t = a % b;
        a = b;
        b = t;
    }
    if (a > 1) num /= a, den /= a;
    if (num > INT64_MAX || num < -INT64_MAX || den > INT64_MAX) return 0;
    r->num = (int64_t)num;
    r->den = (int64_t)den;
    return 1;
}

/* The integer part at s[*i]: digits, or 1-3 digits then ",ddd" groups. Fills *v, *nd. */
static int parse_int_part(const char *s, size_t *i, int64_t *v, int *nd)
{
    size_t j = *i, run = 0, groups = 0;
    int64_t x = 0;
    for (; (s[j] >= '0' && s[j] <= '9') || (s[j] == ',' && run > 0); j++) {
        if (s[j] == ',') {
            if ((groups ? run != 3 : run > 3) || !(s[j + 1] >= '0' && s[j + 1] <= '9')) return 0;
            groups++, run = 0;
            continue;
        }
        if (__builtin_mul_overflow(x, 10, &x) || __builtin_add_overflow(x, s[j] - '0', &x))
            return 0;
        run++, (*nd)++;
    }
    if (groups && run != 3) return 0;
    *v = x;
    *i = j;
    return 1;
}

/* [+-]? (INT | INT? '.' DIGITS | INT '.') at s[*i]. */
static int parse_decimal(const char *s, size_t *i, math_rational *r)
{
    int neg = s[*i] == '-', nd = 0, fd = 0;
    if (s[*i] == '-' || s[*i] == '+') (*i)++;
    int64_t num = 0, den = 1;
    if (!parse_int_part(s, i, &num, &nd)) return 0;
    if (s[*i] == '.') {
        for ((*i)++; s[*i] >= '0' && s[*i] <= '9'; (*i)++, fd++)
            if (__builtin_mul_overflow(num, 10, &num)
                || __builtin_add_overflow(num, s[*i] - '0', &num)
                || __builtin_mul_overflow(den, 10, &den))
                return 0;
    }
    if (nd + fd == 0) return 0;
    return make_rational(neg ? -(__int128)num : num, den, r);
}

/* a / b into r. */
static int divide(math_rational a, math_rational b, math_rational *r)
{
    return make_rational((__int128)a.num * b.den, (__int128)a.den * b.num, r);
}

/* \frac{A}{B} or \fracAB (single digits) at s[*i], after the command name. */
static int parse_frac_args(const char *s, size_t *i, math_rational *r)
{
    math_rational a, b;
    if (s[*i] != '{') {
        if (!(s[*i] >= '0' && s[*i] <= '9' && s[*i + 1] >= '0' && s[*i + 1] <= '9')) return 0;
        a = (math_rational){s[*i] - '0', 1}, b = (math_rational){s[*i + 1] - '0', 1};
        *i += 2;
        return divide(a, b, r);
    }
    (*i)++;
    if (!parse_decimal(s, i, &a) || s[*i] != '}' || s[*i + 1] != '{') return 0;
    *i += 2;
    if (!parse_decimal(s, i, &b) || s[*i] != '}') return 0;
    (*i)++;
    return divide(a, b, r);
}

int math_parse_number(const char *s, math_rational *out)
{
    size_t b, e;
    py_strip_bounds(s, strlen(s), &b, &e);
    while (b < e && (s[b] == '$' || s[b] == ' ')) b++;
    while (e > b && (s[e - 1] == '$' || s[e - 1] == ' ')) e--;
    char *t = xstrndup(s + b, e - b);
    size_t i = 0;
    int neg = 0, ok = 0;
    if ((t[0] == '-' || t[0] == '+') && t[1] == '\\') neg = t[i++] == '-';
    math_rational r, d;
    static const char *const fracs[] = {"\\frac", "\\dfrac", "\\tfrac"};
    for (int k = 0; k < 3 && !ok; k++)
        if (strncmp(t + i, fracs[k], strlen(fracs[k])) == 0) {
            i += strlen(fracs[k]);
            ok = parse_frac_args(t, &i, &r) ? 1 : -1;
        }
    if (!ok && parse_decimal(t, &i, &r)) {
        ok = 1;
        if (t[i] == '/') {
            i++;
            ok = parse_decimal(t, &i, &d) && divide(r, d, &r);
        }
    }
    ok = ok == 1 && t[i] == '\0';
    free(t);
    if (ok) *out = (math_rational){neg ? -r.num : r.num, r.den};
    return ok;
}

int math_numeric_equal(const char *a, const char *b)
{
    math_rational x, y;
    if (!math_parse_number(a, &x) || !math_parse_number(b, &y)) return -1;
    return x.num == y.num && x.den == y.den;
}
