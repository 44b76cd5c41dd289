/* ifeval_punkt.c — instructions_util.count_sentences: the number of sentences nltk's Punkt
 * English tokenizer (PunktSentenceTokenizer.tokenize, realign_boundaries=True) finds.
 *
 * The algorithm is nltk 3.10's, step for step (its patterns compiled with the `regex`
 * module's character classes, NLTK_W / NLTK_S): candidate ends ([.?!] before other
 * punctuation or before whitespace and a token), the context around each candidate, the
 * Punkt word tokenizer on it, the first (type-based) and second (collocation, orthographic
 * and sentence-starter) annotation passes, the slices between breaks and the realignment
 * of closing quotes and brackets.
 *
 * The model data: abbreviation types, collocations and sentence starters are the English
 * punkt_tab model's, complete (156, 37 and 39 entries). Its orthographic context (which
 * cases each of 20,366 word types was seen in) is carried only for the 3,000 most frequent
 * words of English benchmark text that the model saw in lower case, plus the 4 types seen
 * lower case at sentence start but never upper case. That is exact for every decision
 * about a lower-case next word; a capitalised word outside the 3,000 that follows an
 * abbreviation, an ellipsis or an initial is treated as never seen in lower case (for
 * those, nltk would break after an abbreviation or ellipsis, and keep a break after an
 * initial, when its model saw the word in lower case). Measured against nltk on 24,328
 * texts (benchmark passages, and the same upper-cased, lower-cased, as numbered and
 * bulleted lists, and stuffed with abbreviations): 134 counts differ, 2 of them among the
 * 3,041 unmodified passages; with the same model data the counts are identical. */
#include "score/ifeval_impl.h"

#include <stdlib.h>
#include <string.h>

#include "score/metrics.h"
#include "score/text_metrics.h"
#include "util/buf.h"

#define NON_WORD "(?:[)\";}\\]\\*:@'\\({\\[\\x{2018}\\x{2019}\\x{201c}\\x{201d}\\x{ab}\\x{bb}?!])"
#define MULTI_CHAR "(?:\\-{2,}|\\.{2,}|(?:\\." NLTK_S "){2,}\\.)"
#define WORD_START "[^\\(\"`{\\[:;&#\\*@\\)}\\]\\-,]"

enum { ORTHO_LC = 1, ORTHO_MID_UC = 2, ORTHO_BEG_LC_ONLY = 4 };

#include "score/ifeval_punkt_data.h"

static pcre2_code *re_period_context, *re_word_tok, *re_numeric, *re_initial,
    *re_realign;

void ifv_punkt_init(void)
{
    re_period_context = ifv_re_compile(
        "[.?!](?=(?<after_tok>" NON_WORD "|" NLTK_S "+(?<next_tok>" NLTK_NS "+)))", 0);
    re_word_tok = ifv_re_compile(
        "(" MULTI_CHAR "|(?=" WORD_START ")" NLTK_NS "+?(?=" NLTK_S "|$|" NON_WORD "|" MULTI_CHAR
        "|,(?=$|" NLTK_S "|" NON_WORD "|" MULTI_CHAR "))|" NLTK_NS ")", 0);
    re_numeric = ifv_re_compile("^-?[\\.,]?\\d[\\d,\\.-]*\\.?$", 0);
    re_initial = ifv_re_compile("^[\\p{Alphabetic}\\p{M}\\p{Pc}\\x{200c}\\x{200d}]\\.$", 0);
    re_realign = ifv_re_compile(
        "[\"')\\]}\\x{2018}\\x{2019}\\x{201c}\\x{201d}\\x{ab}\\x{bb}]+?(?:" NLTK_S "+|(?=--)|$)",
        PCRE2_ANCHORED | PCRE2_MULTILINE);
}

/* --- model lookups ---------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int in_set(const char *const *set, size_t n, const char *w)
{
    return bsearch(&w, set, n, sizeof *set, cmp_str) != NULL;
}

#define IN(set, w) in_set(set, sizeof set / sizeof set[0], w)

static int ortho_context(const char *typ)
{
    if (IN(lc_common, typ)) return ORTHO_LC;
    if (IN(lc_mid_uc_common, typ)) return ORTHO_LC | ORTHO_MID_UC;
    if (IN(beg_lc_only, typ)) return ORTHO_LC | ORTHO_BEG_LC_ONLY;
    return 0;
}

/* --- tokens ----------------------------------------------------------------------------- */

typedef struct ptok {
    char *tok;         /* the token text */
    char *type;        /* tok.lower(), or "##number##" */
    int period_final, sentbreak, abbr, ellipsis;
} ptok;

typedef struct ptoks {
    ptok *v;
    size_t n, cap;
} ptoks;

static int all_dots(const char *t)
{
    size_t n = strlen(t);
    return n >= 2 && strspn(t, ".") == n;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* tok[:-1].lower() in abbrev_types, or its last '-' part is. */
static int is_abbrev(const char *tok)
{
    char *head = xstrndup(tok, strlen(tok) - 1);
    char *low = text_lower_fast(head);
    const char *dash = strrchr(low, '-');
    int yes = IN(abbrev_types, low) || (dash && IN(abbrev_types, dash + 1));
    free(low);
    free(head);
    return yes;
}

/* PunktToken(tok) after _first_pass_annotation. */
static void push_token(ptoks *l, const char *p, size_t n)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    ptok *t = &l->v[l->n++];
    memset(t, 0, sizeof *t);
    t->tok = xstrndup(p, n);
    t->type = ifv_re_search(re_numeric, t->tok, n) ? xstrdup("##number##")
                                                   : text_lower_fast(t->tok);
    t->period_final = n > 0 && t->tok[n - 1] == '.';
    if (strcmp(t->tok, ".") == 0 || strcmp(t->tok, "?") == 0 || strcmp(t->tok, "!") == 0)
        t->sentbreak = 1;
    else if (all_dots(t->tok))
        t->ellipsis = 1;
    else if (t->period_final && !ends_with(t->tok, ".."))
        *(is_abbrev(t->tok) ? &t->abbr : &t->sentbreak) = 1;
}

static void free_tokens(ptoks *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].tok);
        free(l->v[i].type);
    }
    free(l->v);
}

/* _tokenize_words: each non-blank line through the Punkt word tokenizer. */
static void tokenize_words(const char *text, ptoks *out)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re_word_tok, NULL);
    const char *line = text;
    for (;;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        size_t pos = 0;
        while (pos < len
               && pcre2_match(re_word_tok, (PCRE2_SPTR)line, len, pos, 0, md, NULL) >= 0) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            push_token(out, line + ov[0], ov[1] - ov[0]);
            pos = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
        }
        if (!nl) break;
        line = nl + 1;
    }
    pcre2_match_data_free(md);
}

/* The type with its final period removed (if it has one, and is longer than 1). */
static char *type_no_period(const ptok *t)
{
    size_t n = strlen(t->type);
    if (utf8_len(t->type) > 1 && t->type[n - 1] == '.') return xstrndup(t->type, n - 1);
    return xstrdup(t->type);
}

static char *type_no_sentperiod(const ptok *t)
{
    return t->sentbreak ? type_no_period(t) : xstrdup(t->type);
}

/* _ortho_heuristic: 1 (a sentence starter), 0 (not) or -1 ("unknown"). */
static int ortho_heuristic(const ptok *t)
{
    if (strlen(t->tok) == 1 && strchr(";:,.!?", t->tok[0])) return 0;
    char *typ = type_no_sentperiod(t);
    int ctx = ortho_context(typ);
    free(typ);
    int upper = ifv_cp_isupper(t->tok), lower = ifv_cp_islower(t->tok);
    if (upper && (ctx & ORTHO_LC) && !(ctx & ORTHO_MID_UC)) return 1;
    /* (ctx & UC) || !(ctx & BEG_LC): false only for the types seen lower case at sentence
     * start and never upper case */
    if (lower && !(ctx & ORTHO_BEG_LC_ONLY)) return 0;
    return -1;
}

static int is_collocation(const char *typ, const char *next)
{
    char *pair = xmalloc(strlen(typ) + strlen(next) + 2);
    strcpy(pair, typ);
    strcat(pair, " ");
    strcat(pair, next);
    int yes = IN(collocations, pair);
    free(pair);
    return yes;
}

/* The abbreviation / ellipsis rule of _second_pass_annotation: 1 when t1 becomes a break. */
static int abbrev_breaks(const ptok *t1, const ptok *t2, const char *next, int initial)
{
    if (!(t1->abbr || t1->ellipsis) || initial) return 0;
    return ortho_heuristic(t2) == 1 || (ifv_cp_isupper(t2->tok) && IN(sent_starters, next));
}

/* _second_pass_annotation(t1, t2): may change t1's sentbreak / abbr. */
static void second_pass(ptok *t1, const ptok *t2)
{
    if (!t1->period_final) return;
    char *typ = type_no_period(t1), *next = type_no_sentperiod(t2);
    int initial = ifv_re_search(re_initial, t1->tok, strlen(t1->tok));
    if (is_collocation(typ, next)) {
        t1->sentbreak = 0;
        t1->abbr = 1;
    } else if (abbrev_breaks(t1, t2, next, initial)) {
        t1->sentbreak = 1;
    } else if (initial || strcmp(typ, "##number##") == 0) {
        int starter = ortho_heuristic(t2);
        if (starter == 0
            || (starter == -1 && initial && ifv_cp_isupper(t2->tok)
                && !(ortho_context(next) & ORTHO_LC))) {
            t1->sentbreak = 0;
            t1->abbr = 1;
        }
    }
    free(typ);
    free(next);
}

/* text_contains_sentbreak: some token before the last one is a sentence break. */
static int contains_sentbreak(const char *context)
{
    ptoks l = {0};
    tokenize_words(context, &l);
    int found = 0;
    for (size_t i = 0; i + 1 < l.n && !found; i++) {
        second_pass(&l.v[i], &l.v[i + 1]);
        found = l.v[i].sentbreak;
    }
    free_tokens(&l);
    return found;
}

/* --- slices ----------------------------------------------------------------------------- */

typedef struct span {
    size_t start, stop;
} span;

typedef struct candidate {
    size_t end, next_tok; /* match.end(); start of next_tok or (size_t)-1 */
    char *context;
} candidate;

/* _get_last_whitespace_index over text[from, to): index within the slice, or 0. */
static size_t last_ws(const char *text, size_t from, size_t to)
{
    for (size_t i = to; i > from; i--)
        if (strchr(" \t\n\r\v\f", text[i - 1]) && text[i - 1]) return i - 1 - from;
    return 0;
}

static void add_candidate(candidate **v, size_t *n, const char *text, span word, size_t *ov)
{
    *v = xrealloc(*v, (*n + 1) * sizeof **v);
    candidate *c = &(*v)[(*n)++];
    c->end = ov[1];
    c->next_tok = ov[4] != PCRE2_UNSET ? ov[4] : (size_t)-1; /* group 2: next_tok */
    buf b = {0};
    buf_append(&b, text + word.start, word.stop - word.start);
    buf_append(&b, text + ov[0], ov[1] - ov[0]);
    buf_append(&b, text + ov[2], ov[3] - ov[2]); /* after_tok */
    c->context = buf_steal(&b);
}

/* _match_potential_end_contexts: one candidate per run of end characters, with the word
 * before it and the token after it. */
static candidate *end_contexts(const char *text, size_t *n_out)
{
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re_period_context, NULL);
    size_t len = strlen(text), pos = 0, n = 0, prev_ov[6];
    span prev = {0, 0};
    int have_prev = 0;
    candidate *v = NULL;
    while (pos < len
           && pcre2_match(re_period_context, (PCRE2_SPTR)text, len, pos, 0, md, NULL) >= 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t idx = last_ws(text, prev.stop, ov[0]);
        idx = idx ? idx + prev.stop + 1 : prev.start;
        span word = {idx, ov[0]};
        if (have_prev && prev.stop <= word.start) add_candidate(&v, &n, text, prev, prev_ov);
        for (int i = 0; i < 6; i++) prev_ov[i] = ov[i];
        have_prev = 1;
        prev = word;
        pos = ov[1];
    }
    if (have_prev) add_candidate(&v, &n, text, prev, prev_ov);
    pcre2_match_data_free(md);
    *n_out = n;
    return v;
}

/* Python len(text.rstrip()) in bytes. */
static size_t rstripped_len(const char *text)
{
    char *s = text_strip(text);
    size_t lead = 0, k;
    while (text[lead] && text_space_at(text + lead, &k)) lead += k;
    size_t n = *s ? lead + strlen(s) : 0;
    free(s);
    return n;
}

/* The rstripped length of the realignment match m (its closing punctuation). */
static size_t punct_len(const char *text, size_t start, size_t stop)
{
    char *m = xstrndup(text + start, stop - start), *t = text_strip(m);
    size_t n = strlen(t);
    free(t);
    free(m);
    return n;
}

/* _realign_boundaries over the n slices: the sentences it yields, into out (2 offsets
 * each); returns their count. */
static size_t realign(const char *text, const span *slices, size_t n, size_t *out)
{
    size_t count = 0, shift = 0;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re_realign, NULL);
    for (size_t i = 0; i < n; i++) {
        span s1 = {slices[i].start + shift, slices[i].stop};
        if (i + 1 == n) {
            if (s1.stop > s1.start) out[2 * count] = s1.start, out[2 * count++ + 1] = s1.stop;
            break;
        }
        span s2 = slices[i + 1];
        if (pcre2_match(re_realign, (PCRE2_SPTR)text, s2.stop, s2.start, 0, md, NULL) >= 0) {
            size_t end = pcre2_get_ovector_pointer(md)[1];
            out[2 * count] = s1.start;
            out[2 * count++ + 1] = s2.start + punct_len(text, s2.start, end);
            shift = end - s2.start;
        } else {
            shift = 0;
            if (s1.stop > s1.start) out[2 * count] = s1.start, out[2 * count++ + 1] = s1.stop;
        }
    }
    pcre2_match_data_free(md);
    return count;
}

size_t ifv_sentence_spans(const char *text, size_t **spans)
{
    size_t n_cand = 0, n = 0, last_break = 0;
    candidate *cand = end_contexts(text, &n_cand);
    span *slices = xmalloc((n_cand + 1) * sizeof *slices);
    for (size_t i = 0; i < n_cand; i++) {
        if (contains_sentbreak(cand[i].context)) {
            slices[n++] = (span){last_break, cand[i].end};
            last_break = cand[i].next_tok != (size_t)-1 ? cand[i].next_tok : cand[i].end;
        }
        free(cand[i].context);
    }
    free(cand);
    size_t stop = rstripped_len(text);
    slices[n++] = (span){last_break, stop > last_break ? stop : last_break};
    *spans = xmalloc(2 * n * sizeof **spans);
    size_t count = realign(text, slices, n, *spans);
    free(slices);
    return count;
}

size_t ifv_count_sentences(const char *text)
{
    size_t *spans, n = ifv_sentence_spans(text, &spans);
    free(spans);
    return n;
}
