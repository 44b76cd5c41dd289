/* ifeval_checks.c — the 25 instructions of lm-eval's IFEval registry: how each one reads
 * its kwargs (build_description) and checks a response (check_following), in the order of
 * instructions_registry.INSTRUCTION_DICT. Each check cites the Python it reproduces. */
#include "score/ifeval_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "score/metrics.h"
#include "score/text_metrics.h"
#include "util/buf.h"

/* --- small Python str helpers -------------------------------------------------------------- */

/* 1 when s[0..n) has a character that is not Python whitespace (s.strip() != ""). */
static int has_text(const char *s, size_t n)
{
    for (size_t i = 0, k; i < n; i += k)
        if (!text_space_at(s + i, &k)) return 1;
    return 0;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static int compare(double count, const ifv_instr *in)
{
    return in->less_than ? count < in->num : count >= in->num;
}

/* Matches of re in s: count, or -1 on a PCRE2 limit (counted as not followed). */
static long findall_count(const regex *re, const char *s)
{
    regex_matches m = {0};
    if (regex_findall(re, s, &m, NULL, 0) != 0) return -1;
    long n = (long)m.n;
    regex_matches_free(&m);
    return n;
}

/* --- fixed patterns ----------------------------------------------------------------------- */

static pcre2_code *re_divider, *re_bullet_star, *re_bullet_dash;

void ifv_checks_init(void)
{
    uint32_t ml = PCRE2_MULTILINE | PCRE2_ALT_CIRCUMFLEX;
    re_divider = ifv_re_compile("[\\s\\x{1c}-\\x{1f}]?\\*\\*\\*[\\s\\x{1c}-\\x{1f}]?", 0);
    re_bullet_star = ifv_re_compile("(*LF)^[\\s\\x{1c}-\\x{1f}]*\\*[^\\*].*$", ml);
    re_bullet_dash = ifv_re_compile("(*LF)^[\\s\\x{1c}-\\x{1f}]*-.*$", ml);
}

/* --- kwargs readers for the prep functions ------------------------------------------------- */

static int prep_num(ifv_instr *in, const cJSON *kw, char *err, size_t errlen)
{
    return ifv_kw_num(in, kw, in->spec->keys, &in->num, err, errlen);
}

/* A threshold kwarg plus its relation kwarg (keys: "<number> <relation>"). */
static int prep_num_relation(ifv_instr *in, const cJSON *kw, char *err, size_t errlen)
{
    char num_key[32], rel_key[32];
    if (sscanf(in->spec->keys, "%31s %31s", num_key, rel_key) != 2) return -1;
    if (ifv_kw_num(in, kw, num_key, &in->num, err, errlen)) return -1;
    in->less_than = ifv_kw_relation(in, kw, rel_key, err, errlen);
    return in->less_than < 0 ? -1 : 0;
}

/* --- keywords ------------------------------------------------------------------------------ */

/* KeywordChecker: re.search(keyword, value, flags=re.IGNORECASE) for every keyword. */
static int prep_existence(ifv_instr *in, const cJSON *kw, char *err, size_t errlen)
{
    if (ifv_kw_words(in, kw, "keywords", 0, err, errlen)) return -1;
    for (size_t i = 0; i < in->n_words; i++) {
        char *p = xmalloc(strlen(in->words[i]) + 5);
        strcpy(p, "(?i)");
        strcat(p, in->words[i]);
        int rc = ifv_add_regex(in, p, err, errlen);
        free(p);
        if (rc) return -1;
    }
    return 0;
}

static int check_existence(const ifv_instr *in, const char *value)
{
    for (size_t i = 0; i < in->n_res; i++)
        if (findall_count(in->res[i], value) <= 0) return 0;
    return 1;
}

/* KeywordFrequencyChecker: len(re.findall(keyword, value, flags=re.IGNORECASE)). */
static int prep_frequency(ifv_instr *in, const cJSON *kw, char *err, size_t errlen)
{
    if (ifv_kw_str(in, kw, "keyword", 1, &in->str, err, errlen)) return -1;
    if (ifv_kw_num(in, kw, "frequency", &in->num, err, errlen)) return -1;
    if ((in->less_than = ifv_kw_relation(in, kw, "relation", err, errlen)) < 0) return -1;
    char *p = xmalloc(strlen(in->str) + 5);
    strcpy(p, "(?i)");
    strcat(p, in->str);
    int rc = ifv_add_regex(in, p, err, errlen);
    free(p);
    return rc;
}

static int check_frequency(const ifv_instr *in, const char *value)
{
    long n = findall_count(in->res[0], value);
    return n >= 0 && compare((double)n, in);
}

/* ForbiddenWords: re.search(r"\b" + word + r"\b", value, flags=re.IGNORECASE). */
static int prep_forbidden(ifv_instr *in, const cJSON *kw, char *err, size_t errlen)
{
    if (ifv_kw_words(in, kw, "forbidden_words", 1, err, errlen)) return -1;
    for (size_t i = 0; i < in->n_words; i++) {
        char *p = xmalloc(strlen(in->words[i]) + 11);
        sprintf(p, "(?i)\\b%s\\b", in->words[i]);
        int rc = ifv_add_regex(in, p, err, errlen);
        free(p);
        if (rc) return -1;
    }
    return 0;
}

static int check_forbidden(const ifv_instr *in, const char *value)
{
    for (size_t i = 0; i < in->n_res; i++)
        if (findall_count(in->res[i], value) != 0) return 0;
    return 1;
}

/* LetterFrequencyChecker: collections.Counter(value.lower())[letter]. lm-eval replaces a
 * letter that is not one ASCII letter by random.choice(string.ascii_letters); evallua
 * counts the character given (the dataset's '#' and '!' prompts ask for exactly that). */
static int prep_letter(ifv_instr *in, const cJSON *kw, char *err, size_t errlen)
{
    char *raw;
    if (ifv_kw_str(in, kw, "letter", 1, &raw, err, errlen)) return -1;
    in->str = text_lower_fast(raw);
    free(raw);
    if (utf8_len(in->str) != 1) {
        errf(err, errlen, "ifeval: %s: letter must be one character, not '%s'", in->spec->id,
             in->str);
        return -1;
    }
    if (ifv_kw_num(in, kw, "let_frequency", &in->num, err, errlen)) return -1;
    in->less_than = ifv_kw_relation(in, kw, "let_relation", err, errlen);
    return in->less_than < 0 ? -1 : 0;
}

static int check_letter(const ifv_instr *in, const char *value)
{
    char *low = text_lower_fast(value);
    size_t n = 0, k = strlen(in->str);
    for (const char *p = strstr(low, in->str); p; p = strstr(p + k, in->str)) n++;
    free(low);
    return compare((double)n, in);
}

/* --- language and length ------------------------------------------------------------------- */

/* ResponseLanguageChecker: langdetect.detect(value) == language; an undetectable text
 * counts as followed. */
static int prep_language(ifv_instr *in, const cJSON *kw, char *err, size_t errlen)
{
    return ifv_kw_str(in, kw, "language", 0, &in->str, err, errlen);
}

static int check_language(const ifv_instr *in, const char *value)
{
    const char *lang = ifv_detect_language(value);
    return !lang || strcmp(lang, in->str) == 0;
}

static int check_sentences(const ifv_instr *in, const char *value)
{
    return compare((double)ifv_count_sentences(value), in);
}

/* ParagraphChecker: re.split(r"\s?\*\*\*\s?", value); a blank part other than the
 * first or the last fails; the non-blank parts must number n. */
static int check_paragraphs(const ifv_instr *in, const char *value)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re_divider, NULL);
    size_t len = strlen(value), pos = 0, n_parts = 0, n_blank_ends = 0;
    int blank_inner = 0, prev_blank = 0;
    for (;;) {
        int rc = pcre2_match(re_divider, (PCRE2_SPTR)value, len, pos, 0, md, NULL);
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t stop = rc >= 0 ? ov[0] : len;
        int blank = !has_text(value + pos, stop - pos);
        if (prev_blank && n_parts > 1) blank_inner = 1; /* the previous part was inner */
        if (blank && n_parts == 0) n_blank_ends++;
        prev_blank = blank;
        n_parts++;
        if (rc < 0) break;
        pos = ov[1];
    }
    pcre2_match_data_free(md);
    if (prev_blank && n_parts > 1) n_blank_ends++; /* the last part */
    if (blank_inner) return 0;
    return (double)(n_parts - n_blank_ends) == in->num;
}

static int check_words(const ifv_instr *in, const char *value)
{
    return compare((double)ifv_count_words(value), in);
}

/* ParagraphFirstWordCheck: paragraphs split on "\n\n"; the nth (counting empty ones when
 * indexing, not when counting) must start with first_word. */
static int prep_first_word(ifv_instr *in, const cJSON *kw, char *err, size_t errlen)
{
    char *word;
    if (ifv_kw_num(in, kw, "num_paragraphs", &in->num, err, errlen)) return -1;
    if (ifv_kw_num(in, kw, "nth_paragraph", &in->nth, err, errlen)) return -1;
    if (in->nth <= 0 || in->nth > in->num || in->nth != (double)(long)in->nth) {
        errf(err, errlen, "ifeval: %s: nth_paragraph %g is not in 1..num_paragraphs (%g)",
             in->spec->id, in->nth, in->num);
        return -1;
    }
    if (ifv_kw_str(in, kw, "first_word", 0, &word, err, errlen)) return -1;
    in->str = text_lower_fast(word);
    free(word);
    return 0;
}

/* The first word of a paragraph as the check reads it: split()[0], leading quotes off,
 * up to the first of . , ? ! ' ", each character lowered. */
static char *first_word_of(const char *paragraph)
{
    text_spans sp = {0};
    text_split(paragraph, &sp);
    buf out = {0};
    const char *w = sp.n ? sp.v[0].p : "", *end = sp.n ? sp.v[0].p + sp.v[0].n : w;
    while (w < end && *w == '\'') w++;
    while (w < end && *w == '"') w++;
    for (size_t k; w < end && !strchr(".,?!'\"", *w); w += k) {
        text_utf8_decode(w, &k);
        char one[5] = {0};
        memcpy(one, w, k);
        char *low = text_lower(one);
        buf_puts(&out, low);
        free(low);
    }
    free(sp.v);
    return buf_steal(&out);
}

static int check_first_word(const ifv_instr *in, const char *value)
{
    size_t n_parts = 0, n_blank = 0, want = (size_t)in->nth;
    const char *nth = NULL, *p = value;
    size_t nth_len = 0;
    for (;;) {
        const char *sep = strstr(p, "\n\n");
        size_t len = sep ? (size_t)(sep - p) : strlen(p);
        if (++n_parts == want) nth = p, nth_len = len;
        n_blank += !has_text(p, len);
        if (!sep) break;
        p = sep + 2;
    }
    size_t num = n_parts - n_blank;
    if (want > num || !nth || !has_text(nth, nth_len)) return 0;
    char *para = xstrndup(nth, nth_len), *word = first_word_of(para);
    int ok = (double)num == in->num && strcmp(word, in->str) == 0;
    free(word);
    free(para);
    return ok;
}

/* --- detectable content and format --------------------------------------------------------- */

/* PlaceholderChecker: len(re.findall(r"\[.*?\]", value)). */
static int check_placeholders(const ifv_instr *in, const char *value)
{
    size_t n = 0;
    for (const char *p = strchr(value, '['); p; p = strchr(p, '[')) {
        const char *close = p + 1 + strcspn(p + 1, "]\n");
        if (*close == ']') n++, p = close + 1;
        else p++;
    }
    return (double)n >= in->num;
}

/* PostscriptChecker: re.findall(pattern, value.lower(), flags=re.MULTILINE). */
static int prep_postscript(ifv_instr *in, const cJSON *kw, char *err, size_t errlen)
{
    if (ifv_kw_str(in, kw, "postscript_marker", 1, &in->str, err, errlen)) return -1;
    if (strcmp(in->str, "P.P.S") == 0) return ifv_add_regex(in, "(?m)\\s*p\\.\\s?p\\.\\s?s.*$", err, errlen);
    if (strcmp(in->str, "P.S.") == 0) return ifv_add_regex(in, "(?m)\\s*p\\.\\s?s\\..*$", err, errlen);
    char *low = text_lower_fast(in->str), *p = xmalloc(strlen(low) + 16);
    sprintf(p, "(?m)\\s*%s.*$", low);
    int rc = ifv_add_regex(in, p, err, errlen);
    free(p);
    free(low);
    return rc;
}

static int check_postscript(const ifv_instr *in, const char *value)
{
    char *low = text_lower_fast(value);
    long n = findall_count(in->res[0], low);
    free(low);
    return n > 0;
}

/* BulletListChecker: lines "^\s*\*[^\*].*$" plus lines "^\s*-.*$" (MULTILINE) == n. */
static int check_bullets(const ifv_instr *in, const char *value)
{
    size_t n = ifv_re_count(re_bullet_star, value) + ifv_re_count(re_bullet_dash, value);
    return (double)n == in->num;
}

/* ConstrainedResponseChecker: one of the three options in value.strip(). */
static int check_constrained(const ifv_instr *in, const char *value)
{
    (void)in;
    return strstr(value, "My answer is yes.") || strstr(value, "My answer is no.")
        || strstr(value, "My answer is maybe.");
}

/* HighlightSectionChecker: *x* and **x** with non-blank x (findall, no newlines inside). */
static int check_highlights(const ifv_instr *in, const char *value)
{
    size_t n = 0;
    for (const char *p = strchr(value, '*'); p; p = strchr(p, '*')) {
        const char *close = p + 1 + strcspn(p + 1, "*\n");
        if (*close != '*') { p++; continue; }
        n += (size_t)has_text(p + 1, (size_t)(close - p - 1));
        p = close + 1;
    }
    for (const char *p = strstr(value, "**"); p; p = strstr(p, "**")) {
        const char *close = p + 2 + strcspn(p + 2, "*\n");
        if (close[0] != '*' || close[1] != '*') { p++; continue; }
        n += (size_t)has_text(p + 2, (size_t)(close - p - 2));
        p = close + 2;
    }
    return (double)n >= in->num;
}

/* SectionChecker: len(re.split(r"\s?" + spliter + r"\s?\d+\s?", value)) - 1 >= n. */
static int prep_sections(ifv_instr *in, const cJSON *kw, char *err, size_t errlen)
{
    if (ifv_kw_str(in, kw, "section_spliter", 1, &in->str, err, errlen)) return -1;
    if (ifv_kw_num(in, kw, "num_sections", &in->num, err, errlen)) return -1;
    char *p = xmalloc(strlen(in->str) + 16);
    sprintf(p, "\\s?%s\\s?\\d+\\s?", in->str);
    int rc = ifv_add_regex(in, p, err, errlen);
    free(p);
    return rc;
}

static int check_sections(const ifv_instr *in, const char *value)
{
    long n = findall_count(in->res[0], value);
    return n >= 0 && (double)n >= in->num;
}

/* JsonFormat: strip, drop a ```json / ```Json / ```JSON / ``` fence, strip, json.loads. */
static int check_json(const ifv_instr *in, const char *value)
{
    (void)in;
    char *s = text_strip(value);
    const char *p = s;
    static const char *const fences[] = {"```json", "```Json", "```JSON", "```"};
    for (size_t i = 0; i < 4; i++)
        if (starts_with(p, fences[i])) p += strlen(fences[i]);
    char *body = xstrdup(p);
    if (ends_with(body, "```")) body[strlen(body) - 3] = '\0';
    char *json = text_strip(body);
    int ok = ifv_json_loads_ok(json);
    free(json);
    free(body);
    free(s);
    return ok;
}

/* TitleChecker: some re.findall(r"<<[^\n]+>>") match with text inside the brackets. */
static int check_title(const ifv_instr *in, const char *value)
{
    (void)in;
    for (const char *p = strstr(value, "<<"); p; p = strstr(p, "<<")) {
        size_t line = strcspn(p, "\n");
        const char *close = NULL; /* the last ">>" on the line, after at least one char */
        for (size_t j = line; j >= 5 && !close; j--)
            if (p[j - 1] == '>' && p[j - 2] == '>') close = p + j - 2;
        if (!close) { p++; continue; }
        const char *a = p, *b = close + 2;
        while (a < b && *a == '<') a++;
        while (b > a && b[-1] == '>') b--;
        if (has_text(a, (size_t)(b - a))) return 1;
        p = close + 2;
    }
    return 0;
}

/* --- combination, start/end, case, punctuation -------------------------------------------- */

/* TwoResponsesChecker: value.split("******"): two non-blank parts that differ when
 * stripped, blank parts only at either end. */
static int check_two_responses(const ifv_instr *in, const char *value)
{
    (void)in;
    char *valid[2] = {NULL, NULL};
    size_t n_valid = 0;
    int ok = 1;
    for (const char *p = value;;) {
        const char *sep = strstr(p, "******");
        size_t len = sep ? (size_t)(sep - p) : strlen(p);
        if (has_text(p, len)) {
            if (n_valid < 2) {
                char *part = xstrndup(p, len);
                valid[n_valid] = text_strip(part);
                free(part);
            }
            n_valid++;
        } else if (p != value && sep) {
            ok = 0;
        }
        if (!sep) break;
        p = sep + 6;
    }
    ok = ok && n_valid == 2 && strcmp(valid[0], valid[1]) != 0;
    free(valid[0]);
    free(valid[1]);
    return ok;
}

/* RepeatPromptThenAnswer: value.strip().lower().startswith(prompt.strip().lower()). */
static int prep_repeat(ifv_instr *in, const cJSON *kw, char *err, size_t errlen)
{
    char *raw;
    if (ifv_kw_str(in, kw, "prompt_to_repeat", 1, &raw, err, errlen)) return -1;
    in->str = text_lower(raw);
    free(raw);
    return 0;
}

static int check_repeat(const ifv_instr *in, const char *value)
{
    char *s = text_strip(value), *low = text_lower(s);
    int ok = starts_with(low, in->str);
    free(low);
    free(s);
    return ok;
}

/* EndChecker: value.strip().strip('"').lower().endswith(end_phrase.strip().lower()). */
static int prep_end(ifv_instr *in, const cJSON *kw, char *err, size_t errlen)
{
    char *raw;
    if (ifv_kw_str(in, kw, "end_phrase", 1, &raw, err, errlen)) return -1;
    in->str = text_lower(raw);
    free(raw);
    return 0;
}

static int check_end(const ifv_instr *in, const char *value)
{
    char *s = text_strip(value), *a = s, *b = s + strlen(s);
    while (a < b && *a == '"') a++;
    while (b > a && b[-1] == '"') b--;
    *b = '\0';
    char *low = text_lower(a);
    int ok = ends_with(low, in->str);
    free(low);
    free(s);
    return ok;
}

/* CapitalWordFrequencyChecker: tokens of nltk.word_tokenize(value) with isupper(). */
static int check_capital_words(const ifv_instr *in, const char *value)
{
    return compare((double)ifv_count_capital_words(value), in);
}

/* A language check that counts an undetectable text as followed. */
static int is_english(const char *value)
{
    const char *lang = ifv_detect_language(value);
    return !lang || strcmp(lang, "en") == 0;
}

/* CapitalLettersEnglishChecker: value.isupper() and langdetect.detect(value) == "en". */
static int check_english_capital(const ifv_instr *in, const char *value)
{
    (void)in;
    return ifv_str_isupper(value, strlen(value)) && is_english(value);
}

/* LowercaseLettersEnglishChecker: value.islower() and langdetect.detect(value) == "en". */
static int check_english_lowercase(const ifv_instr *in, const char *value)
{
    (void)in;
    return ifv_str_islower(value, strlen(value)) && is_english(value);
}

/* CommaChecker: not re.search(r"\,", value). */
static int check_no_comma(const ifv_instr *in, const char *value)
{
    (void)in;
    return strchr(value, ',') == NULL;
}

/* QuotationChecker: value.strip() has 2+ characters and starts and ends with '"'. */
static int check_quotation(const ifv_instr *in, const char *value)
{
    (void)in;
    char *s = text_strip(value);
    int ok = utf8_len(s) > 1 && s[0] == '"' && s[strlen(s) - 1] == '"';
    free(s);
    return ok;
}

/* --- the registry -------------------------------------------------------------------------- */

const ifv_spec ifv_specs[] = {
    {"keywords:existence", "keywords", prep_existence, check_existence},
    {"keywords:frequency", "keyword frequency relation", prep_frequency, check_frequency},
    {"keywords:forbidden_words", "forbidden_words", prep_forbidden, check_forbidden},
    {"keywords:letter_frequency", "letter let_frequency let_relation", prep_letter,
     check_letter},
    {"language:response_language", "language", prep_language, check_language},
    {"length_constraints:number_sentences", "num_sentences relation", prep_num_relation,
     check_sentences},
    {"length_constraints:number_paragraphs", "num_paragraphs", prep_num, check_paragraphs},
    {"length_constraints:number_words", "num_words relation", prep_num_relation, check_words},
    {"length_constraints:nth_paragraph_first_word", "num_paragraphs nth_paragraph first_word",
     prep_first_word, check_first_word},
    {"detectable_content:number_placeholders", "num_placeholders", prep_num,
     check_placeholders},
    {"detectable_content:postscript", "postscript_marker", prep_postscript, check_postscript},
    {"detectable_format:number_bullet_lists", "num_bullets", prep_num, check_bullets},
    {"detectable_format:constrained_response", "", NULL, check_constrained},
    {"detectable_format:number_highlighted_sections", "num_highlights", prep_num,
     check_highlights},
    {"detectable_format:multiple_sections", "section_spliter num_sections", prep_sections,
     check_sections},
    {"detectable_format:json_format", "", NULL, check_json},
    {"detectable_format:title", "", NULL, check_title},
    {"combination:two_responses", "", NULL, check_two_responses},
    {"combination:repeat_prompt", "prompt_to_repeat", prep_repeat, check_repeat},
    {"startend:end_checker", "end_phrase", prep_end, check_end},
    {"change_case:capital_word_frequency", "capital_frequency capital_relation",
     prep_num_relation, check_capital_words},
    {"change_case:english_capital", "", NULL, check_english_capital},
    {"change_case:english_lowercase", "", NULL, check_english_lowercase},
    {"punctuation:no_comma", "", NULL, check_no_comma},
    {"startend:quotation", "", NULL, check_quotation},
};
const size_t ifv_n_specs = sizeof ifv_specs / sizeof ifv_specs[0];
