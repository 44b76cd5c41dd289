/* lua_metrics.c — "evallua.metrics": string metrics over whole arrays of samples, and the
 * math answer checks in metrics.math.
 *
 * Bulk functions copy their Lua arrays into C arrays (scratch memory is Lua userdata, so a
 * raised error leaks nothing), run the C loop (OpenMP inside text_metrics / ngram_metrics),
 * and only then build the result tables: no Lua runs inside a parallel region.
 *
 *   metrics.squad(preds, golds)              -> {exact = {0|1...}, f1 = {0..1...}}
 *   metrics.squad_v2(preds, golds [, na_probs [, thresh=1.0]])
 *                                            -> {exact=, f1=, total=, HasAns_exact=, ...,
 *                                                best_exact=, best_f1=, ...} (percentages)
 *   metrics.drop(preds, golds)               -> {em = {...}, f1 = {...}}
 *   metrics.bleu(preds, refs), metrics.chrf(preds, refs)             -> corpus score 0..100
 *   metrics.sentence_bleu(preds, refs), metrics.sentence_chrf(...)   -> array of scores
 *   metrics.rouge(preds, refs)               -> {rouge1=, rouge2=, rougeL=, rougeLsum=} arrays
 *   metrics.f1(preds, golds [, "binary"|"macro"]), metrics.mcc(preds, golds) -> number
 *   metrics.squad_normalize(s), metrics.drop_normalize(s), metrics.tokenize_13a(s)
 *   metrics.math.*                           see the luaL_Reg table at the end
 * golds[i] for squad: an array of answer strings ({} = unanswerable); for drop: an array of
 * answers, each a string or an array of spans; refs[i]: a string or an array of strings. */
#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/lua_fields.h"
#include "host/modules.h"
#include "score/math_equiv.h"
#include "score/ngram_metrics.h"
#include "score/text_metrics.h"
#include "util/buf.h"


#define PCRE_LIMIT_MSG "%s: a regular expression hit a PCRE2 resource limit"

/* --- argument helpers ------------------------------------------------------------------- */

/* Scratch memory owned by the Lua stack (a full userdata pushed on top). */
static void *scratch(lua_State *L, size_t n, size_t size)
{
    return lua_newuserdatauv(L, (n ? n : 1) * size, 0);
}

/* Length of the array argument at arg (raises unless it is a table). */
static size_t check_array(lua_State *L, int arg)
{
    luaL_checktype(L, arg, LUA_TTABLE);
    return (size_t)luaL_len(L, arg);
}

/* The strings t[1..n] of the table at index t (valid while the table holds them). */
static const char **check_strings(lua_State *L, int t, size_t n, const char *fn,
                                  const char *what)
{
    t = lua_absindex(L, t);
    const char **out = scratch(L, n, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        int type = lua_geti(L, t, (lua_Integer)i + 1);
        if (type != LUA_TSTRING)
            luaL_error(L, "%s: %s[%d] must be a string, not %s", fn, what, (int)i + 1,
                       lua_typename(L, type));
        out[i] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    return out;
}

/* A list of string lists flattened: item i owns s[off[i] .. off[i+1]). */
typedef struct flat {
    const char **s;
    size_t *off; /* (n + 1) */
} flat;

/* Element i of the array at arg: a string (one item, when one_ok) or an array of strings. */
static void check_lists(lua_State *L, int arg, size_t n, const char *fn, const char *what,
                        int one_ok, flat *f)
{
    f->off = scratch(L, n + 1, sizeof *f->off);
    f->off[0] = 0;
    for (size_t i = 0; i < n; i++) {
        int t = lua_geti(L, arg, (lua_Integer)i + 1);
        if (t != LUA_TTABLE && !(one_ok && t == LUA_TSTRING))
            luaL_error(L, "%s: %s[%d] must be %san array of strings, not %s", fn, what,
                       (int)i + 1, one_ok ? "a string or " : "", lua_typename(L, t));
        f->off[i + 1] = f->off[i] + (t == LUA_TSTRING ? 1 : (size_t)luaL_len(L, -1));
        lua_pop(L, 1);
    }
    f->s = scratch(L, f->off[n], sizeof *f->s);
    for (size_t i = 0; i < n; i++) {
        if (lua_geti(L, arg, (lua_Integer)i + 1) == LUA_TSTRING) {
            f->s[f->off[i]] = lua_tostring(L, -1);
        } else {
            const char *name = lua_pushfstring(L, "%s[%d]", what, (int)i + 1);
            const char **items = check_strings(L, -2, f->off[i + 1] - f->off[i], fn, name);
            memcpy(f->s + f->off[i], items, (f->off[i + 1] - f->off[i]) * sizeof *items);
            lua_pop(L, 2);
        }
        lua_pop(L, 1);
    }
}

/* preds (arg 1, strings) and the per-sample lists at arg 2, of the same length. */
static const char **check_pairs(lua_State *L, const char *fn, const char *what, int one_ok,
                                size_t *n, flat *f)
{
    *n = check_array(L, 1);
    size_t m = check_array(L, 2);
    if (m != *n) luaL_error(L, "%s: %d preds but %d %s", fn, (int)*n, (int)m, what);
    const char **preds = check_strings(L, 1, *n, fn, "preds");
    check_lists(L, 2, *n, fn, what, one_ok, f);
    return preds;
}

static void push_numbers(lua_State *L, const double *v, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushnumber(L, v[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* t[name] = array of v[0..n) for the table on top. */
static void set_numbers(lua_State *L, const char *name, const double *v, size_t n)
{
    push_numbers(L, v, n);
    lua_setfield(L, -2, name);
}

/* --- SQuAD and DROP --------------------------------------------------------------------------- */

/* metrics.squad(preds, golds) -> {exact = array, f1 = array} */
static int m_squad(lua_State *L)
{
    size_t n;
    flat g;
    const char **preds = check_pairs(L, "metrics.squad", "golds", 0, &n, &g);
    double *ex = scratch(L, n, sizeof *ex), *f1 = scratch(L, n, sizeof *f1);
    squad_score_bulk(preds, g.s, g.off, n, ex, f1);
    lua_createtable(L, 0, 2);
    set_numbers(L, "exact", ex, n);
    set_numbers(L, "f1", f1, n);
    return 1;
}

/* Fill the summary table on top with the keys HF evaluate's squad_v2 returns. */
static void push_squad_v2(lua_State *L, const squad_v2_summary *s)
{
    lua_createtable(L, 0, 13);
    set_number(L, "exact", s->exact);
    set_number(L, "f1", s->f1);
    set_number(L, "total", (double)s->total);
    if (s->has_ans_total) {
        set_number(L, "HasAns_exact", s->has_ans_exact);
        set_number(L, "HasAns_f1", s->has_ans_f1);
        set_number(L, "HasAns_total", (double)s->has_ans_total);
    }
    if (s->no_ans_total) {
        set_number(L, "NoAns_exact", s->no_ans_exact);
        set_number(L, "NoAns_f1", s->no_ans_f1);
        set_number(L, "NoAns_total", (double)s->no_ans_total);
    }
    set_number(L, "best_exact", s->best_exact);
    set_number(L, "best_exact_thresh", s->best_exact_thresh);
    set_number(L, "best_f1", s->best_f1);
    set_number(L, "best_f1_thresh", s->best_f1_thresh);
}

/* metrics.squad_v2(preds, golds [, na_probs [, thresh=1.0]]) -> summary table */
static int m_squad_v2(lua_State *L)
{
    lua_settop(L, 4);
    size_t n;
    flat g;
    const char **preds = check_pairs(L, "metrics.squad_v2", "golds", 0, &n, &g);
    luaL_argcheck(L, n > 0, 1, "no samples");
    double thresh = luaL_optnumber(L, 4, 1.0), *na = NULL;
    if (!lua_isnil(L, 3)) {
        luaL_argcheck(L, check_array(L, 3) == n, 3, "na_probs must have one number per pred");
        na = scratch(L, n, sizeof *na);
        for (size_t i = 0; i < n; i++) {
            int ok;
            lua_geti(L, 3, (lua_Integer)i + 1);
            na[i] = lua_tonumberx(L, -1, &ok);
            if (!ok) luaL_error(L, "metrics.squad_v2: na_probs[%d] must be a number", (int)i + 1);
            lua_pop(L, 1);
        }
    }
    double *ex = scratch(L, n, sizeof *ex), *f1 = scratch(L, n, sizeof *f1);
    int *has = scratch(L, n, sizeof *has);
    for (size_t i = 0; i < n; i++) has[i] = g.off[i + 1] > g.off[i];
    squad_score_bulk(preds, g.s, g.off, n, ex, f1);
    squad_v2_summary s;
    squad_v2_summarize(preds, ex, f1, has, na, n, thresh, &s);
    push_squad_v2(L, &s);
    return 1;
}

/* The spans of golds[i][j] (a string or an array of strings) into sp (NULL: count only). */
static size_t drop_spans(lua_State *L, size_t i, size_t j, const char **sp)
{
    int t = lua_type(L, -1);
    if (t == LUA_TSTRING) {
        if (sp) sp[0] = lua_tostring(L, -1);
        return 1;
    }
    if (t != LUA_TTABLE)
        luaL_error(L, "metrics.drop: golds[%d][%d] must be a string or an array of spans, not %s",
                   (int)i + 1, (int)j + 1, lua_typename(L, t));
    size_t k = (size_t)luaL_len(L, -1);
    for (size_t s = 0; sp && s < k; s++) {
        if ((t = lua_geti(L, -1, (lua_Integer)s + 1)) != LUA_TSTRING)
            luaL_error(L, "metrics.drop: golds[%d][%d][%d] must be a string, not %s", (int)i + 1,
                       (int)j + 1, (int)s + 1, lua_typename(L, t));
        sp[s] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    return k;
}

/* golds (arg 2) of metrics.drop: answers of sample i are a[off[i] .. off[i+1]). Two passes:
 * count, then point into the strings the golds table holds. */
static drop_answer *check_drop_golds(lua_State *L, size_t n, size_t **off)
{
    size_t n_spans = 0, at = 0;
    *off = scratch(L, n + 1, sizeof **off);
    (*off)[0] = 0;
    for (int pass = 0; pass < 2; pass++) {
        drop_answer *a = pass ? scratch(L, (*off)[n], sizeof *a) : NULL;
        const char **sp = pass ? scratch(L, n_spans, sizeof *sp) : NULL;
        for (size_t i = 0; i < n; i++) {
            if (lua_geti(L, 2, (lua_Integer)i + 1) != LUA_TTABLE)
                luaL_error(L, "metrics.drop: golds[%d] must be an array of answers", (int)i + 1);
            size_t k = (size_t)luaL_len(L, -1);
            if (!pass) (*off)[i + 1] = (*off)[i] + k;
            for (size_t j = 0; j < k; j++) {
                lua_geti(L, -1, (lua_Integer)j + 1);
                size_t m = drop_spans(L, i, j, pass ? sp + at : NULL);
                if (pass) a[(*off)[i] + j] = (drop_answer){sp + at, m}, at += m;
                else n_spans += m;
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
        if (pass) return a;
    }
    return NULL;
}

/* metrics.drop(preds, golds) -> {em = array, f1 = array} */
static int m_drop(lua_State *L)
{
    size_t n = check_array(L, 1), *off;
    if (check_array(L, 2) != n)
        return luaL_error(L, "metrics.drop: %d preds but %d golds", (int)n, (int)luaL_len(L, 2));
    const char **preds = check_strings(L, 1, n, "metrics.drop", "preds");
    drop_answer *golds = check_drop_golds(L, n, &off);
    double *em = scratch(L, n, sizeof *em), *f1 = scratch(L, n, sizeof *f1);
    drop_score_bulk(preds, golds, off, n, em, f1);
    lua_createtable(L, 0, 2);
    set_numbers(L, "em", em, n);
    set_numbers(L, "f1", f1, n);
    return 1;
}

/* --- BLEU, chrF, ROUGE ------------------------------------------------------------------------ */

typedef double (*corpus_fn)(const char *const *, const char *const *, const size_t *, size_t);
typedef double (*sentence_fn)(const char *, const char *const *, size_t);

static int corpus_metric(lua_State *L, const char *fn, corpus_fn score)
{
    size_t n;
    flat r;
    const char **preds = check_pairs(L, fn, "refs", 1, &n, &r);
    lua_pushnumber(L, score(preds, r.s, r.off, n));
    return 1;
}

static int sentence_metric(lua_State *L, const char *fn, sentence_fn score)
{
    size_t n;
    flat r;
    const char **preds = check_pairs(L, fn, "refs", 1, &n, &r);
    double *v = scratch(L, n, sizeof *v);
#pragma omp parallel for schedule(dynamic, 16)
    for (size_t i = 0; i < n; i++) v[i] = score(preds[i], r.s + r.off[i], r.off[i + 1] - r.off[i]);
    push_numbers(L, v, n);
    return 1;
}

/* metrics.bleu(preds, refs) -> sacreBLEU corpus_bleu score */
static int m_bleu(lua_State *L) { return corpus_metric(L, "metrics.bleu", bleu_corpus); }
/* metrics.chrf(preds, refs) -> sacreBLEU corpus_chrf score */
static int m_chrf(lua_State *L) { return corpus_metric(L, "metrics.chrf", chrf_corpus); }
/* metrics.sentence_bleu(preds, refs) -> array of sentence_bleu scores */
static int m_sentence_bleu(lua_State *L)
{
    return sentence_metric(L, "metrics.sentence_bleu", bleu_sentence);
}
/* metrics.sentence_chrf(preds, refs) -> array of sentence_chrf scores */
static int m_sentence_chrf(lua_State *L)
{
    return sentence_metric(L, "metrics.sentence_chrf", chrf_sentence);
}

/* metrics.rouge(preds, refs) -> {rouge1 =, rouge2 =, rougeL =, rougeLsum =} arrays */
static int m_rouge(lua_State *L)
{
    size_t n;
    flat r;
    const char **preds = check_pairs(L, "metrics.rouge", "refs", 1, &n, &r);
    rouge_scores *s = scratch(L, n, sizeof *s);
    double *v = scratch(L, n, sizeof *v);
    rouge_score_bulk(preds, r.s, r.off, n, s);
    lua_createtable(L, 0, 4);
    for (size_t i = 0; i < n; i++) v[i] = s[i].rouge1;
    set_numbers(L, "rouge1", v, n);
    for (size_t i = 0; i < n; i++) v[i] = s[i].rouge2;
    set_numbers(L, "rouge2", v, n);
    for (size_t i = 0; i < n; i++) v[i] = s[i].rougeL;
    set_numbers(L, "rougeL", v, n);
    for (size_t i = 0; i < n; i++) v[i] = s[i].rougeLsum;
    set_numbers(L, "rougeLsum", v, n);
    return 1;
}

/* --- F1 and MCC ------------------------------------------------------------------------------ */

static int64_t *check_labels(lua_State *L, int arg, size_t n, const char *fn, const char *what)
{
    int64_t *v = scratch(L, n, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        int ok;
        lua_geti(L, arg, (lua_Integer)i + 1);
        v[i] = (int64_t)lua_tointegerx(L, -1, &ok);
        if (!ok) luaL_error(L, "%s: %s[%d] must be an integer label", fn, what, (int)i + 1);
        lua_pop(L, 1);
    }
    return v;
}

/* The (preds, golds) label arrays of f1 / mcc; lm-eval passes (gold, pred) pairs. */
static void check_label_pairs(lua_State *L, const char *fn, int64_t **p, int64_t **g, size_t *n)
{
    *n = check_array(L, 1);
    if (check_array(L, 2) != *n)
        luaL_error(L, "%s: %d preds but %d golds", fn, (int)*n, (int)luaL_len(L, 2));
    if (*n == 0) luaL_error(L, "%s: no samples", fn);
    *p = check_labels(L, 1, *n, fn, "preds");
    *g = check_labels(L, 2, *n, fn, "golds");
}

/* metrics.f1(preds, golds [, "binary"|"macro"]) -> sklearn f1_score(golds, preds) */
static int m_f1(lua_State *L)
{
    static const char *const modes[] = {"binary", "macro", NULL};
    int macro = luaL_checkoption(L, 3, "binary", modes);
    int64_t *p, *g;
    size_t n;
    check_label_pairs(L, "metrics.f1", &p, &g, &n);
    char err[256];
    double f;
    if (metric_f1(g, p, n, macro, &f, err, sizeof err)) return luaL_error(L, "metrics.%s", err);
    lua_pushnumber(L, f);
    return 1;
}

/* metrics.mcc(preds, golds) -> sklearn matthews_corrcoef(golds, preds) */
static int m_mcc(lua_State *L)
{
    int64_t *p, *g;
    size_t n;
    check_label_pairs(L, "metrics.mcc", &p, &g, &n);
    lua_pushnumber(L, metric_mcc(g, p, n));
    return 1;
}

/* --- single strings ------------------------------------------------------------------------- */

/* Push s (malloc'd; freed) or nil for NULL. */
static int push_owned(lua_State *L, char *s)
{
    if (s) lua_pushstring(L, s);
    else lua_pushnil(L);
    free(s);
    return 1;
}

/* Push s (malloc'd; freed); NULL means a PCRE2 resource limit: raise naming fn. */
static int push_owned_or_raise(lua_State *L, char *s, const char *fn)
{
    if (!s) return luaL_error(L, PCRE_LIMIT_MSG, fn);
    return push_owned(L, s);
}

/* A Lua function of one string argument returning the malloc'd result of fn. */
#define STRING_FN(name, fn, may_fail)                                                       \
    static int name(lua_State *L)                                                          \
    {                                                                                      \
        char *out = fn(luaL_checkstring(L, 1));                                            \
        return may_fail ? push_owned_or_raise(L, out, #fn) : push_owned(L, out);            \
    }

/* metrics.squad_normalize(s), metrics.drop_normalize(s), metrics.tokenize_13a(s) */
STRING_FN(m_squad_normalize, squad_normalize, 1)
STRING_FN(m_drop_normalize, drop_normalize, 1)
STRING_FN(m_tokenize_13a, bleu_tokenize_13a, 0)

/* --- metrics.math ---------------------------------------------------------------------------- */

/* math.last_boxed(s) -> string | nil */
STRING_FN(mm_last_boxed, math_last_boxed, 0)
/* math.remove_boxed(s) -> string | nil (nil where the reference fails an assertion) */
STRING_FN(mm_remove_boxed, math_remove_boxed, 0)
/* math.boxed_answer(s) -> remove_boxed(last_boxed_only_string(s)) | nil */
STRING_FN(mm_boxed_answer, math_boxed_answer, 0)
/* math.strip_string(s) -> string | nil (nil where the reference raises) */
STRING_FN(mm_strip_string, math_strip_string, 0)
/* math.dollar_extract(s) -> text between the first and last '$', or s */
STRING_FN(mm_dollar_extract, math_dollar_extract, 0)
/* math.hendrycks_extract(output) -> string */
STRING_FN(mm_hendrycks_extract, math_hendrycks_extract, 1)
/* math.extract_minerva(text) -> answer or "[invalidanswer]" */
STRING_FN(mm_extract_minerva, math_minerva_extract, 1)
/* math.minerva_normalize(s) -> string */
STRING_FN(mm_minerva_normalize, math_minerva_normalize, 0)
/* math.gsm8k_normalize(s) -> s with gsm8k's regexes_to_ignore applied, lower-cased */
STRING_FN(mm_gsm8k_normalize, math_gsm8k_normalize, 1)

/* math.is_equiv(a, b) -> boolean; nil stands for Python None */
static int mm_is_equiv(lua_State *L)
{
    const char *a = lua_isnoneornil(L, 1) ? NULL : luaL_checkstring(L, 1);
    const char *b = lua_isnoneornil(L, 2) ? NULL : luaL_checkstring(L, 2);
    lua_pushboolean(L, math_is_equiv(a, b));
    return 1;
}

/* math.minerva_equiv(a, b) -> boolean (normalised strings; see math_equiv.h) */
static int mm_minerva_equiv(lua_State *L)
{
    lua_pushboolean(L, math_minerva_equiv(luaL_checkstring(L, 1), luaL_checkstring(L, 2)));
    return 1;
}

/* math.numeric_equal(a, b) -> boolean, or nil when either is not a number */
static int mm_numeric_equal(lua_State *L)
{
    int eq = math_numeric_equal(luaL_checkstring(L, 1), luaL_checkstring(L, 2));
    if (eq < 0) lua_pushnil(L);
    else lua_pushboolean(L, eq);
    return 1;
}

/* math.parse_number(s) -> numerator, denominator (lowest terms) | nil */
static int mm_parse_number(lua_State *L)
{
    math_rational r;
    if (!math_parse_number(luaL_checkstring(L, 1), &r)) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushinteger(L, (lua_Integer)r.num);
    lua_pushinteger(L, (lua_Integer)r.den);
    return 2;
}

/* math.gsm8k_extract(response [, "strict"|"flexible"]) -> string ("[invalid]" on no match) */
static int mm_gsm8k_extract(lua_State *L)
{
    static const char *const modes[] = {"strict", "flexible", NULL};
    const char *s = luaL_checkstring(L, 1);
    int flexible = luaL_checkoption(L, 2, "strict", modes);
    return push_owned_or_raise(L, math_gsm8k_extract(s, flexible), "math_gsm8k_extract");
}

/* --- registration ---------------------------------------------------------------------------- */

static const luaL_Reg math_funcs[] = {
    {"last_boxed", mm_last_boxed},
    {"remove_boxed", mm_remove_boxed},
    {"boxed_answer", mm_boxed_answer},
    {"strip_string", mm_strip_string},
    {"is_equiv", mm_is_equiv},
    {"dollar_extract", mm_dollar_extract},
    {"hendrycks_extract", mm_hendrycks_extract},
    {"extract_minerva", mm_extract_minerva},
    {"minerva_normalize", mm_minerva_normalize},
    {"minerva_equiv", mm_minerva_equiv},
    {"numeric_equal", mm_numeric_equal},
    {"parse_number", mm_parse_number},
    {"gsm8k_extract", mm_gsm8k_extract},
    {"gsm8k_normalize", mm_gsm8k_normalize},
    {NULL, NULL},
};

static const luaL_Reg metrics_funcs[] = {
    {"squad", m_squad},
    {"squad_v2", m_squad_v2},
    {"drop", m_drop},
    {"bleu", m_bleu},
    {"sentence_bleu", m_sentence_bleu},
    {"chrf", m_chrf},
    {"sentence_chrf", m_sentence_chrf},
    {"rouge", m_rouge},
    {"f1", m_f1},
    {"mcc", m_mcc},
    {"squad_normalize", m_squad_normalize},
    {"drop_normalize", m_drop_normalize},
    {"tokenize_13a", m_tokenize_13a},
    {NULL, NULL},
};

int luaopen_evallua_metrics(lua_State *L)
{
    luaL_newlib(L, metrics_funcs);
    luaL_newlib(L, math_funcs);
    lua_setfield(L, -2, "math");
    return 1;
}
