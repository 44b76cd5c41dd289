/* ifeval_text.c — the text primitives IFEval's checks rest on: PCRE2 helpers, Python str
 * case predicates, nltk's word counts, and a json.loads validator (see ifeval_impl.h).
 *
 * Character classes are spelt out (NLTK_W, NLTK_S, PY_S in ifeval_impl.h) so that they do
 * not depend on the PCRE2 version. */
#include "score/ifeval_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "score/text_metrics.h"
#include "util/buf.h"


/* --- PCRE2 helpers ---------------------------------------------------------------------- */

pcre2_code *ifv_re_compile(const char *pattern, uint32_t extra)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | extra,
                                   &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        fprintf(stderr, "ifeval: bad built-in regex '%s': %s at %zu\n", pattern, (char *)msg,
                (size_t)off);
        abort();
    }
    return re;
}

char *ifv_re_sub(const pcre2_code *re, const char *s, const char *repl)
{
    uint32_t opts = PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH
                  | PCRE2_SUBSTITUTE_UNSET_EMPTY;
    size_t len = strlen(s), cap = len * 2 + 64;
    for (int attempt = 0; attempt < 2; attempt++) {
        char *out = xmalloc(cap);
        PCRE2_SIZE n = cap;
        int rc = pcre2_substitute(re, (PCRE2_SPTR)s, len, 0, opts, NULL, NULL,
                                  (PCRE2_SPTR)repl, PCRE2_ZERO_TERMINATED, (PCRE2_UCHAR *)out,
                                  &n);
        if (rc >= 0) return out;
        free(out);
        if (rc != PCRE2_ERROR_NOMEMORY) break;
        cap = n + 1;
    }
    return xstrdup(s); /* a match limit: leave the text as it was */
}

int ifv_re_search(const pcre2_code *re, const char *s, size_t n)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

size_t ifv_re_count(const pcre2_code *re, const char *s)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    size_t len = strlen(s), pos = 0, count = 0;
    uint32_t opts = 0;
    while (pos <= len) {
        int rc = pcre2_match(re, (PCRE2_SPTR)s, len, pos, opts, md, NULL);
        if (rc < 0) {
            if (rc == PCRE2_ERROR_NOMATCH && opts && pos < len) { /* step past an empty match */
                size_t k;
                text_utf8_decode(s + pos, &k);
                pos += k;
                opts = 0;
                continue;
            }
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        count++;
        opts = ov[1] == ov[0] ? PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED : 0;
        pos = ov[1];
    }
    pcre2_match_data_free(md);
    return count;
}

/* --- fixed patterns --------------------------------------------------------------------- */

typedef struct sub_rule {
    const char *pattern;
    const char *repl;
    pcre2_code *re;
} sub_rule;

/* nltk's NLTKWordTokenizer (nltk/tokenize/destructive.py, 3.9/3.10) in order: starting
 * quotes, punctuation, parentheses, double dashes, (text padded with spaces), ending
 * quotes, MacIntyre contractions. Python's \1 and \g<0> are PCRE2's $1 and $0. */
static sub_rule word_rules[] = {
    {"([\\x{ab}\\x{201c}\\x{2018}\\x{201e}]|[`]+)", " $1 ", NULL},
    {"^\"", "``", NULL},
    {"(``)", " $1 ", NULL},
    {"([ \\(\\[{<])(\"|'{2})", "$1 `` ", NULL},
    {"(?i)(?<!" NLTK_W ")(')(?!(?:re|ve|ll|m|t|s|d|n)\\b)(?=" NLTK_W ")", "$1 ", NULL},
    {"([^\\.])(\\.)([\\]\\)}>\"'\\x{bb}\\x{201d}\\x{2019} ]*+)" NLTK_S "*$", "$1 $2 $3 ", NULL},
    {"([:,])([^\\d])", " $1 $2", NULL},
    {"([:,])$", " $1 ", NULL},
    {"\\.{2,}", " $0 ", NULL},
    {"[;@#$%&]", " $0 ", NULL},
    {"[\\x{2012}-\\x{2015}]", " $0 ", NULL},
    {"([^\\.])(\\.)([\\]\\)}>\"']*)" NLTK_S "*$", "$1 $2$3 ", NULL},
    {"[?!]", " $0 ", NULL},
    {"([^'])' ", "$1 ' ", NULL},
    {"[*]", " $0 ", NULL},
    {"[\\]\\[\\(\\)\\{\\}\\<\\>]", " $0 ", NULL},
    {"--", " -- ", NULL},
    {NULL, NULL, NULL}, /* here the text is padded: " " + text + " " */
    {"([\\x{bb}\\x{201d}\\x{2019}])", " $1 ", NULL},
    {"''", " '' ", NULL},
    {"\"", " '' ", NULL},
    {NLTK_S "+", " ", NULL},
    {"([^' ])('[sS]|'[mM]|'[dD]|') ", "$1 $2 ", NULL},
    {"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", "$1 $2 ", NULL},
    {"(?i)\\b(can)(not)\\b", " $1 $2 ", NULL},
    {"(?i)\\b(d)('ye)\\b", " $1 $2 ", NULL},
    {"(?i)\\b(gim)(me)\\b", " $1 $2 ", NULL},
    {"(?i)\\b(gon)(na)\\b", " $1 $2 ", NULL},
    {"(?i)\\b(got)(ta)\\b", " $1 $2 ", NULL},
    {"(?i)\\b(lem)(me)\\b", " $1 $2 ", NULL},
    {"(?i)\\b(more)('n)\\b", " $1 $2 ", NULL},
    {"(?i)\\b(wan)(na)(?=" NLTK_S ")", " $1 $2 ", NULL},
    {"(?i) ('t)(is)\\b", " $1 $2 ", NULL},
    {"(?i) ('t)(was)\\b", " $1 $2 ", NULL},
};
#define N_WORD_RULES (sizeof word_rules / sizeof word_rules[0])

static pcre2_code *re_word, *re_upper, *re_lower, *re_lower_or_title, *re_upper_or_title;

void ifv_text_init(void)
{
    for (size_t i = 0; i < N_WORD_RULES; i++)
        if (word_rules[i].pattern) word_rules[i].re = ifv_re_compile(word_rules[i].pattern, 0);
    re_word = ifv_re_compile(NLTK_W "+", 0);
    re_upper = ifv_re_compile("\\p{Uppercase}", PCRE2_ANCHORED);
    re_lower = ifv_re_compile("\\p{Lowercase}", PCRE2_ANCHORED);
    re_lower_or_title = ifv_re_compile("[\\p{Lowercase}\\p{Lt}]", 0);
    re_upper_or_title = ifv_re_compile("[\\p{Uppercase}\\p{Lt}]", 0);
}

/* --- case predicates -------------------------------------------------------------------- */

static int match_at(const pcre2_code *re, const char *p)
{
    size_t k;
    text_utf8_decode(p, &k);
    return *p && ifv_re_search(re, p, k);
}

int ifv_cp_isupper(const char *p)
{
    unsigned char c = (unsigned char)*p;
    if (c < 0x80) return c >= 'A' && c <= 'Z';
    return match_at(re_upper, p);
}

int ifv_cp_islower(const char *p)
{
    unsigned char c = (unsigned char)*p;
    if (c < 0x80) return c >= 'a' && c <= 'z';
    return match_at(re_lower, p);
}

/* s.isupper(): some cased character, none lower or title case (want_upper = 1); islower
 * the other way round. */
static int str_case(const char *s, size_t n, int want_upper)
{
    int ascii = 1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) ascii = 0;
    if (ascii) {
        int cased = 0;
        for (size_t i = 0; i < n; i++) {
            int up = s[i] >= 'A' && s[i] <= 'Z', lo = s[i] >= 'a' && s[i] <= 'z';
            if (want_upper ? lo : up) return 0;
            if (want_upper ? up : lo) cased = 1;
        }
        return cased;
    }
    if (ifv_re_search(want_upper ? re_lower_or_title : re_upper_or_title, s, n)) return 0;
    for (size_t i = 0, k; i < n; i += k) {
        text_utf8_decode(s + i, &k);
        if (want_upper ? ifv_cp_isupper(s + i) : ifv_cp_islower(s + i)) return 1;
    }
    return 0;
}

int ifv_str_isupper(const char *s, size_t n) { return str_case(s, n, 1); }
int ifv_str_islower(const char *s, size_t n) { return str_case(s, n, 0); }

int ifv_has_word_char(const char *s)
{
    return ifv_re_search(re_word, s, strlen(s));
}

/* --- word counts ------------------------------------------------------------------------ */

size_t ifv_count_words(const char *s)
{
    return ifv_re_count(re_word, s);
}

/* NLTKWordTokenizer.tokenize(s) as one " "-joined string (split it with text_split). */
static char *word_tokenize(const char *s)
{
    char *text = xstrdup(s);
    for (size_t i = 0; i < N_WORD_RULES; i++) {
        char *next;
        if (!word_rules[i].pattern) {
            size_t n = strlen(text);
            next = xmalloc(n + 3);
            next[0] = ' ';
            memcpy(next + 1, text, n);
            next[n + 1] = ' ';
            next[n + 2] = '\0';
        } else {
            next = ifv_re_sub(word_rules[i].re, text, word_rules[i].repl);
        }
        free(text);
        text = next;
    }
    return text;
}

/* nltk.word_tokenize: each Punkt sentence through NLTKWordTokenizer; tokens that are
 * Python isupper() counted. */
size_t ifv_count_capital_words(const char *s)
{
    size_t *spans, n = ifv_sentence_spans(s, &spans), count = 0;
    for (size_t i = 0; i < n; i++) {
        char *sentence = xstrndup(s + spans[2 * i], spans[2 * i + 1] - spans[2 * i]);
        char *toks = word_tokenize(sentence);
        text_spans sp = {0};
        text_split(toks, &sp);
        for (size_t j = 0; j < sp.n; j++)
            count += (size_t)ifv_str_isupper(sp.v[j].p, sp.v[j].n);
        free(sp.v);
        free(toks);
        free(sentence);
    }
    free(spans);
    return count;
}

/* --- json.loads ------------------------------------------------------------------------- */

#define JSON_MAX_DEPTH 4000

typedef struct jscan {
    const char *s;
    size_t i, n;
} jscan;

static void json_ws(jscan *j)
{
    while (j->i < j->n && strchr(" \t\n\r", j->s[j->i]) && j->s[j->i]) j->i++;
}

static int json_lit(jscan *j, const char *lit)
{
    size_t k = strlen(lit);
    if (j->n - j->i < k || memcmp(j->s + j->i, lit, k) != 0) return 0;
    j->i += k;
    return 1;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Python's NUMBER_RE: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)? (and -Infinity). */
static int json_number(jscan *j)
{
    const char *s = j->s;
    if (s[j->i] == '-') {
        if (json_lit(j, "-Infinity")) return 1;
        j->i++;
    }
    if (s[j->i] == '0') j->i++;
    else if (s[j->i] >= '1' && s[j->i] <= '9') while (is_digit(s[j->i])) j->i++;
    else return 0;
    if (s[j->i] == '.' && is_digit(s[j->i + 1])) {
        j->i++;
        while (is_digit(s[j->i])) j->i++;
    }
    if (s[j->i] == 'e' || s[j->i] == 'E') {
        size_t k = j->i + 1;
        if (s[k] == '+' || s[k] == '-') k++;
        if (is_digit(s[k])) {
            while (is_digit(s[k])) k++;
            j->i = k;
        }
    }
    return 1;
}

/* A string after its opening quote: strict mode rejects control characters. */
static int json_string(jscan *j)
{
    for (;;) {
        if (j->i >= j->n) return 0;
        unsigned char c = (unsigned char)j->s[j->i++];
        if (c == '"') return 1;
        if (c < 0x20) return 0;
        if (c != '\\') continue;
        if (j->i >= j->n) return 0;
        c = (unsigned char)j->s[j->i++];
        if (c == 'u') {
            for (int k = 0; k < 4; k++, j->i++)
                if (j->i >= j->n || !strchr("0123456789abcdefABCDEF", j->s[j->i])
                    || !j->s[j->i])
                    return 0;
        } else if (!strchr("\"\\/bfnrt", c) || !c) {
            return 0;
        }
    }
}

static int json_value(jscan *j, int depth);

/* The members of an object or the items of an array, after the opening bracket. */
static int json_container(jscan *j, int depth, char close)
{
    json_ws(j);
    if (j->i < j->n && j->s[j->i] == close) {
        j->i++;
        return 1;
    }
    for (;;) {
        if (close == '}') {
            if (j->i >= j->n || j->s[j->i] != '"') return 0;
            j->i++;
            if (!json_string(j)) return 0;
            json_ws(j);
            if (j->i >= j->n || j->s[j->i++] != ':') return 0;
            json_ws(j);
        }
        if (!json_value(j, depth + 1)) return 0;
        json_ws(j);
        if (j->i >= j->n) return 0;
        char c = j->s[j->i++];
        if (c == close) return 1;
        if (c != ',') return 0;
        json_ws(j);
    }
}

static int json_value(jscan *j, int depth)
{
    if (depth > JSON_MAX_DEPTH || j->i >= j->n) return 0;
    switch (j->s[j->i]) {
    case '"': j->i++; return json_string(j);
    case '{': j->i++; return json_container(j, depth, '}');
    case '[': j->i++; return json_container(j, depth, ']');
    case 'n': return json_lit(j, "null");
    case 't': return json_lit(j, "true");
    case 'f': return json_lit(j, "false");
    case 'N': return json_lit(j, "NaN");
    case 'I': return json_lit(j, "Infinity");
    default: return json_number(j);
    }
}

int ifv_json_loads_ok(const char *s)
{
    jscan j = {s, 0, strlen(s)};
    if (j.n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) return 0; /* "Unexpected UTF-8 BOM" */
    json_ws(&j);
    if (!json_value(&j, 0)) return 0;
    json_ws(&j);
    return j.i == j.n; /* else "Extra data" */
}
