/* lua_score.c — "evallua.regex", "evallua.score" and "evallua.random".
 *
 * Bulk functions copy their Lua arrays into C arrays (scratch memory is Lua userdata,
 * so a raised error leaks nothing), run the C loop (OpenMP where it pays), and only then
 * build the result tables: no Lua runs inside a parallel region. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "host/modules.h"
#include "score/metrics.h"
#include "score/pyrandom.h"
#include "score/regex.h"
#include "util/buf.h"

#define REGEX_MT "evallua.regex"
#define RANDOM_MT "evallua.random"
#define REGEX_CACHE "evallua.regex.cache" /* registry: pattern -> regex userdata */
#define REGEX_CACHE_MAX 256               /* cleared when it grows past this */
#define MATCH_LIMIT_MSG "regex '%s': matching hit a PCRE2 resource limit"

typedef struct lregex {
    regex *re; /* NULL once collected or closed */
} lregex;

/* --- helpers ------------------------------------------------------------------------- */

/* Scratch memory owned by the Lua stack (a full userdata pushed on top). */
static void *scratch(lua_State *L, size_t n, size_t size)
{
    return lua_newuserdatauv(L, (n ? n : 1) * size, 0);
}

/* Length of the array argument at arg, checked to be a table. */
static size_t check_array(lua_State *L, int arg)
{
    luaL_checktype(L, arg, LUA_TTABLE);
    return (size_t)luaL_len(L, arg);
}

/* Pointers to the strings t[1..n] of the table at arg (they stay valid while the
 * table holds them); a non-string element raises unless as_empty, which maps it to "". */
static const char **table_strings(lua_State *L, int arg, size_t n, const char *what,
                                  int as_empty)
{
    const char **out = scratch(L, n, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        int t = lua_geti(L, arg, (lua_Integer)i + 1);
        if (t == LUA_TSTRING) out[i] = lua_tostring(L, -1);
        else if (as_empty) out[i] = "";
        else luaL_error(L, "%s[%d] must be a string, not %s", what, (int)i + 1,
                        lua_typename(L, t));
        lua_pop(L, 1);
    }
    return out;
}

/* t[1..n] of the table at arg as doubles; a non-number raises naming what[i]. */
static double *table_numbers(lua_State *L, int arg, size_t *n, const char *what)
{
    *n = check_array(L, arg);
    double *out = scratch(L, *n, sizeof *out);
    for (size_t i = 0; i < *n; i++) {
        lua_geti(L, arg, (lua_Integer)i + 1);
        int ok;
        out[i] = lua_tonumberx(L, -1, &ok);
        if (!ok) luaL_error(L, "%s[%d] must be a number", what, (int)i + 1);
        lua_pop(L, 1);
    }
    return out;
}

/* Push an array of the n malloc'd strings s (freeing them; NULL entries must not occur). */
static void push_owned_strings(lua_State *L, char **s, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, s[i]);
        free(s[i]);
        s[i] = NULL;
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static void push_int_array(lua_State *L, const int *v, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushinteger(L, v[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* --- evallua.regex --------------------------------------------------------------------- */

static lregex *check_lregex(lua_State *L, int arg)
{
    lregex *lr = luaL_checkudata(L, arg, REGEX_MT);
    if (!lr->re) luaL_error(L, "regex is closed");
    return lr;
}

/* Compile pattern and push it as an evallua.regex userdata; raises the compile error. */
static regex *push_compiled(lua_State *L, const char *pattern)
{
    lregex *lr = lua_newuserdatauv(L, sizeof *lr, 0);
    lr->re = NULL;
    luaL_setmetatable(L, REGEX_MT);
    char err[512];
    lr->re = regex_compile(pattern, err, sizeof err);
    if (!lr->re) luaL_error(L, "%s", err);
    return lr->re;
}

/* The regex for the argument at arg: an evallua.regex userdata, or a pattern string
 * compiled through the per-state cache. Pushes one value that keeps it alive, so call
 * lua_settop(L, nargs) first when later arguments are read as optional. */
static regex *regex_arg(lua_State *L, int arg)
{
    if (lua_isuserdata(L, arg)) {
        lua_pushvalue(L, arg);
        return check_lregex(L, arg)->re;
    }
    const char *pattern = luaL_checkstring(L, arg);
    if (lua_getfield(L, LUA_REGISTRYINDEX, REGEX_CACHE) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, REGEX_CACHE);
    }
    if (lua_getfield(L, -1, pattern) == LUA_TUSERDATA) {
        lua_remove(L, -2);
        return ((lregex *)lua_touserdata(L, -1))->re;
    }
    lua_pop(L, 1);
    lua_rawgeti(L, -1, 0); /* cache[0] counts the entries */
    lua_Integer count = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (count >= REGEX_CACHE_MAX) { /* start over: the old entries become garbage */
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, REGEX_CACHE);
        count = 0;
    }
    regex *re = push_compiled(L, pattern);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, pattern);
    lua_pushinteger(L, count + 1);
    lua_rawseti(L, -3, 0);
    lua_remove(L, -2);
    return re;
}

static void push_matches(lua_State *L, const regex_matches *m)
{
    lua_createtable(L, (int)m->n, 0);
    for (size_t i = 0; i < m->n; i++) {
        char *const *row = m->str + i * m->width;
        if (!m->is_tuple) lua_pushstring(L, row[0]);
        else {
            lua_createtable(L, (int)m->width, 0);
            for (size_t g = 0; g < m->width; g++) {
                lua_pushstring(L, row[g]);
                lua_rawseti(L, -2, (lua_Integer)g + 1);
            }
        }
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

static int do_findall(lua_State *L, regex *re, const char *s)
{
    regex_matches m;
    char err[512];
    if (regex_findall(re, s, &m, err, sizeof err) < 0) return luaL_error(L, "%s", err);
    push_matches(L, &m);
    regex_matches_free(&m);
    return 1;
}

static int do_sub(lua_State *L, regex *re, const char *s, const char *repl)
{
    char *out = regex_sub(re, s, repl);
    if (!out) return luaL_error(L, MATCH_LIMIT_MSG, regex_pattern(re));
    lua_pushstring(L, out);
    free(out);
    return 1;
}

static int do_filter(lua_State *L, regex *re, const char *s, int arg_group)
{
    int group = (int)luaL_optinteger(L, arg_group, 0);
    const char *fallback = luaL_optstring(L, arg_group + 1, "[invalid]");
    char *out = regex_filter(re, s, group, fallback);
    if (!out) return luaL_error(L, MATCH_LIMIT_MSG, regex_pattern(re));
    lua_pushstring(L, out);
    free(out);
    return 1;
}

/* regex.compile(pattern) -> evallua.regex */
static int lregex_compile(lua_State *L)
{
    push_compiled(L, luaL_checkstring(L, 1));
    return 1;
}

/* re:findall(s) -> array (tuples as arrays of strings) */
static int lregex_findall(lua_State *L)
{
    return do_findall(L, check_lregex(L, 1)->re, luaL_checkstring(L, 2));
}

/* re:sub(s, repl) -> string (repl is literal) */
static int lregex_sub(lua_State *L)
{
    return do_sub(L, check_lregex(L, 1)->re, luaL_checkstring(L, 2), luaL_checkstring(L, 3));
}

/* re:filter(s [, group_select=0 [, fallback="[invalid]"]]) -> string */
static int lregex_filter(lua_State *L)
{
    return do_filter(L, check_lregex(L, 1)->re, luaL_checkstring(L, 2), 3);
}

/* regex.findall(pattern, s) -> array */
static int regex_mod_findall(lua_State *L)
{
    lua_settop(L, 2); /* regex_arg pushes above the arguments */
    regex *re = regex_arg(L, 1);
    return do_findall(L, re, luaL_checkstring(L, 2));
}

/* regex.sub(pattern, s, repl) -> string */
static int regex_mod_sub(lua_State *L)
{
    lua_settop(L, 3);
    regex *re = regex_arg(L, 1);
    return do_sub(L, re, luaL_checkstring(L, 2), luaL_checkstring(L, 3));
}

/* regex.filter(pattern, s [, group_select [, fallback]]) -> string */
static int regex_mod_filter(lua_State *L)
{
    lua_settop(L, 4);
    regex *re = regex_arg(L, 1);
    return do_filter(L, re, luaL_checkstring(L, 2), 3);
}

static int lregex_gc(lua_State *L)
{
    lregex *lr = luaL_checkudata(L, 1, REGEX_MT);
    regex_free(lr->re);
    lr->re = NULL;
    return 0;
}

static int lregex_tostring(lua_State *L)
{
    lregex *lr = luaL_checkudata(L, 1, REGEX_MT);
    lua_pushfstring(L, "evallua.regex(%s)", lr->re ? regex_pattern(lr->re) : "closed");
    return 1;
}

/* --- evallua.score: exact_match ------------------------------------------------------- */

/* Fill o from the options table at arg (nil: no options); regexes are kept alive by a
 * table pushed on the stack. Unknown keys raise. */
static void check_em_options(lua_State *L, int arg, em_options *o)
{
    *o = (em_options){0};
    lua_newtable(L); /* anchors the compiled regexes */
    int anchor = lua_gettop(L);
    if (lua_isnoneornil(L, arg)) return;
    luaL_checktype(L, arg, LUA_TTABLE);
    for (lua_pushnil(L); lua_next(L, arg); lua_pop(L, 1)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
        if (strcmp(k, "ignore_case") == 0) o->ignore_case = lua_toboolean(L, -1);
        else if (strcmp(k, "ignore_punctuation") == 0) o->ignore_punctuation = lua_toboolean(L, -1);
        else if (strcmp(k, "ignore_numbers") == 0) o->ignore_numbers = lua_toboolean(L, -1);
        else if (strcmp(k, "regexes_to_ignore") != 0)
            luaL_error(L, "score.exact_match: unknown option '%s'", k);
    }
    if (lua_getfield(L, arg, "regexes_to_ignore") == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    int list = lua_gettop(L);
    size_t n = check_array(L, list);
    o->ignore = scratch(L, n, sizeof *o->ignore);
    lua_rawseti(L, anchor, 0);
    for (size_t i = 0; i < n; i++) {
        if (lua_geti(L, list, (lua_Integer)i + 1) != LUA_TSTRING)
            luaL_error(L, "score.exact_match: regexes_to_ignore[%d] must be a string", (int)i + 1);
        o->ignore[i] = regex_arg(L, lua_gettop(L));
        lua_rawseti(L, anchor, (lua_Integer)i + 1);
        lua_pop(L, 1);
    }
    o->n_ignore = n;
    lua_pop(L, 1);
}

/* References flattened: sample i owns refs[off[i] .. off[i+1]). */
typedef struct em_refs {
    const char **refs;
    size_t *off; /* (n + 1) */
} em_refs;

static void check_refs(lua_State *L, int arg, size_t n, em_refs *r)
{
    r->off = scratch(L, n + 1, sizeof *r->off);
    r->off[0] = 0;
    for (size_t i = 0; i < n; i++) {
        int t = lua_geti(L, arg, (lua_Integer)i + 1);
        if (t != LUA_TSTRING && t != LUA_TTABLE)
            luaL_error(L, "score.exact_match: refs[%d] must be a string or an array of strings",
                       (int)i + 1);
        r->off[i + 1] = r->off[i] + (t == LUA_TSTRING ? 1 : (size_t)luaL_len(L, -1));
        lua_pop(L, 1);
    }
    r->refs = scratch(L, r->off[n], sizeof *r->refs);
    for (size_t i = 0; i < n; i++) {
        if (lua_geti(L, arg, (lua_Integer)i + 1) == LUA_TSTRING) {
            r->refs[r->off[i]] = lua_tostring(L, -1);
        } else {
            for (size_t j = r->off[i]; j < r->off[i + 1]; j++) {
                if (lua_geti(L, -1, (lua_Integer)(j - r->off[i]) + 1) != LUA_TSTRING)
                    luaL_error(L, "score.exact_match: refs[%d][%d] must be a string", (int)i + 1,
                               (int)(j - r->off[i]) + 1);
                r->refs[j] = lua_tostring(L, -1);
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }
}

/* 1 when pred matches any of refs[0..n), 0 if none, -1 on a regex resource error. */
static int em_any(const char *pred, const char *const *refs, size_t n, const em_options *o,
                  regex_scratch *sc)
{
    char *p = metric_em_normalize_sc(pred, o, sc);
    int hit = p ? 0 : -1;
    for (size_t j = 0; p && j < n && hit == 0; j++) {
        char *q = metric_em_normalize_sc(refs[j], o, sc);
        hit = q ? strcmp(p, q) == 0 : -1;
        free(q);
    }
    free(p);
    return hit;
}

/* score.exact_match(preds, refs, opts) -> array of 0/1 */
static int score_exact_match(lua_State *L)
{
    size_t n = check_array(L, 1), n_refs = check_array(L, 2);
    if (n_refs != n)
        return luaL_error(L, "score.exact_match: %d preds but %d refs", (int)n, (int)n_refs);
    em_options o;
    check_em_options(L, 3, &o);
    const char **preds = table_strings(L, 1, n, "score.exact_match: preds", 0);
    em_refs r;
    check_refs(L, 2, n, &r);
    int *res = scratch(L, n, sizeof *res);
#pragma omp parallel
    {
        regex_scratch *sc = regex_scratch_new(); /* NULL (out of memory): every sample fails */
#pragma omp for schedule(dynamic, 64)
        for (size_t i = 0; i < n; i++)
            res[i] = sc || !o.n_ignore ? em_any(preds[i], r.refs + r.off[i],
                                                r.off[i + 1] - r.off[i], &o, sc) : -1;
        regex_scratch_free(sc);
    }
    for (size_t i = 0; i < n; i++)
        if (res[i] < 0)
            return luaL_error(L, "score.exact_match: sample %d: a regex hit a PCRE2 resource limit",
                              (int)i + 1);
    push_int_array(L, res, n);
    return 1;
}

/* --- evallua.score: the rest -------------------------------------------------------------- */

/* score.filter_regex(responses, pattern, group_select=0, fallback="[invalid]") -> array */
static int score_filter_regex(lua_State *L)
{
    lua_settop(L, 4); /* regex_arg pushes above the arguments */
    size_t n = check_array(L, 1);
    regex *re = regex_arg(L, 2);
    int group = (int)luaL_optinteger(L, 3, 0);
    const char *fallback = luaL_optstring(L, 4, "[invalid]");
    /* lm-eval treats a response that is not a string as '' */
    const char **resp = table_strings(L, 1, n, "score.filter_regex: responses", 1);
    char **out = scratch(L, n, sizeof *out);
#pragma omp parallel
    {
        regex_scratch *sc = regex_scratch_new(); /* NULL: regex_filter_sc does without */
#pragma omp for schedule(dynamic, 64)
        for (size_t i = 0; i < n; i++) out[i] = regex_filter_sc(re, resp[i], group, fallback, sc);
        regex_scratch_free(sc);
    }
    size_t bad = n;
    for (size_t i = 0; i < n; i++)
        if (!out[i] && bad == n) bad = i;
    if (bad < n) {
        for (size_t i = 0; i < n; i++) free(out[i]);
        return luaL_error(L, "score.filter_regex: response %d: " MATCH_LIMIT_MSG, (int)bad + 1,
                          regex_pattern(re));
    }
    push_owned_strings(L, out, n);
    return 1;
}

/* Gold indices of sample i (an integer or an array of integers) into a scratch array. */
static int *check_golds(lua_State *L, int golds_arg, size_t i, size_t *n_gold)
{
    int t = lua_geti(L, golds_arg, (lua_Integer)i + 1);
    int one = t != LUA_TTABLE;
    *n_gold = one ? 1 : (size_t)luaL_len(L, -1);
    int *g = scratch(L, *n_gold, sizeof *g);
    lua_insert(L, -2); /* keep the scratch below the gold value */
    for (size_t k = 0; k < *n_gold; k++) {
        if (!one) lua_geti(L, -1, (lua_Integer)k + 1);
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        if (!ok)
            luaL_error(L, "score.multiple_choice: golds[%d] must be an integer or an array "
                          "of integers", (int)i + 1);
        g[k] = (int)v;
        if (!one) lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return g;
}

/* lls[i] (or lls_uncond[i]) of the table at arg as doubles, named for errors. */
static double *sample_lls(lua_State *L, int arg, size_t i, const char *what, size_t *n)
{
    if (lua_geti(L, arg, (lua_Integer)i + 1) != LUA_TTABLE)
        luaL_error(L, "score.multiple_choice: %s[%d] must be an array of numbers", what, (int)i + 1);
    const char *name = lua_pushfstring(L, "score.multiple_choice: %s[%d]", what, (int)i + 1);
    return table_numbers(L, lua_gettop(L) - 1, n, name);
}

/* One multiple-choice sample i: lls[i], choices[i], golds[i] (and lls_uncond[i] when the
 * 4th argument is given). */
static void mc_sample(lua_State *L, size_t i, mc_scores *out)
{
    int top = lua_gettop(L), has_uncond = !lua_isnoneornil(L, 4);
    size_t n_ll, n_un = 0, n_gold;
    double *ll = sample_lls(L, 1, i, "lls", &n_ll);
    double *un = has_uncond ? sample_lls(L, 4, i, "lls_uncond", &n_un) : NULL;
    lua_geti(L, 2, (lua_Integer)i + 1);
    const char *ch_name = lua_pushfstring(L, "score.multiple_choice: choices[%d]", (int)i + 1);
    int ch_arg = lua_gettop(L) - 1;
    size_t n_ch = check_array(L, ch_arg);
    if (n_ch != n_ll || (has_uncond && n_un != n_ll))
        luaL_error(L, "score.multiple_choice: sample %d: %d lls, %d choices, %d unconditional lls",
                   (int)i + 1, (int)n_ll, (int)n_ch, (int)n_un);
    const char **ch = table_strings(L, ch_arg, n_ch, ch_name, 0);
    int *g = check_golds(L, 3, i, &n_gold);
    metric_mc_scores(ll, un, ch, n_ll, g, n_gold, out);
    lua_settop(L, top);
}

/* score.multiple_choice(lls, choices, golds [, lls_uncond]) -> acc, acc_norm, acc_bytes
 * arrays, and acc_mutual_info when lls_uncond (the choices' unconditional lls) is given.
 * golds are 0-based indices or arrays of them. */
static int score_multiple_choice(lua_State *L)
{
    size_t n = check_array(L, 1);
    if (check_array(L, 2) != n || check_array(L, 3) != n)
        return luaL_error(L, "score.multiple_choice: lls, choices and golds differ in length");
    int has_uncond = !lua_isnoneornil(L, 4);
    if (has_uncond && check_array(L, 4) != n)
        return luaL_error(L, "score.multiple_choice: lls_uncond and lls differ in length");
    lua_settop(L, 4);
    mc_scores *s = scratch(L, n, sizeof *s);
    int *col = scratch(L, n, sizeof *col);
    for (size_t i = 0; i < n; i++) mc_sample(L, i, &s[i]);
    for (size_t i = 0; i < n; i++) col[i] = s[i].acc;
    push_int_array(L, col, n);
    for (size_t i = 0; i < n; i++) col[i] = s[i].acc_norm;
    push_int_array(L, col, n);
    for (size_t i = 0; i < n; i++) col[i] = s[i].acc_bytes;
    push_int_array(L, col, n);
    if (!has_uncond) return 3;
    for (size_t i = 0; i < n; i++) col[i] = s[i].acc_mutual_info;
    push_int_array(L, col, n);
    return 4;
}

/* score.mc2(lls, golds) -> array: TruthfulQA MC2, the probability mass of the gold
 * (true) choices per sample (golds 0-based; see metric_mc2). */
static int score_mc2(lua_State *L)
{
    size_t n = check_array(L, 1);
    if (check_array(L, 2) != n) return luaL_error(L, "score.mc2: lls and golds differ in length");
    lua_settop(L, 2);
    double *out = scratch(L, n, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        int top = lua_gettop(L);
        size_t n_ll, n_gold;
        double *ll = sample_lls(L, 1, i, "lls", &n_ll);
        int *g = check_golds(L, 2, i, &n_gold);
        for (size_t k = 0; k < n_gold; k++)
            if (g[k] < 0 || (size_t)g[k] >= n_ll)
                luaL_error(L, "score.mc2: sample %d: gold %d is not a choice index (0..%d)",
                           (int)i + 1, g[k], (int)n_ll - 1);
        out[i] = metric_mc2(ll, n_ll, g, n_gold);
        lua_settop(L, top);
    }
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushnumber(L, out[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* score.mean(values) -> mean, stderr (nil when fewer than 2 values) */
static int score_mean(lua_State *L)
{
    size_t n;
    double *x = table_numbers(L, 1, &n, "values");
    lua_pushnumber(L, agg_mean(x, n));
    if (n < 2) lua_pushnil(L);
    else lua_pushnumber(L, agg_mean_stderr(x, n));
    return 2;
}

/* score.perplexity(lls) -> exp(-mean(lls)) */
static int score_perplexity(lua_State *L)
{
    size_t n;
    double *x = table_numbers(L, 1, &n, "lls");
    lua_pushnumber(L, agg_perplexity(x, n));
    return 1;
}

/* score.bootstrap_stderr(values, kind "mean"|"perplexity", iters=100000, seed=1234) -> number */
static int score_bootstrap_stderr(lua_State *L)
{
    static const char *const kinds[] = {"mean", "perplexity", NULL};
    size_t n;
    double *x = table_numbers(L, 1, &n, "values");
    agg_kind kind = luaL_checkoption(L, 2, "mean", kinds) ? AGG_PERPLEXITY : AGG_MEAN;
    lua_Integer iters = luaL_optinteger(L, 3, 100000);
    luaL_argcheck(L, iters >= 2 && iters <= 100000000, 3, "iters must be in [2, 1e8]");
    uint64_t seed = (uint64_t)luaL_optinteger(L, 4, 1234);
    lua_pushnumber(L, bootstrap_stderr(x, n, kind, (int)iters, seed));
    return 1;
}

static int push_text(lua_State *L, char *s)
{
    lua_pushstring(L, s);
    free(s);
    return 1;
}

/* score.lower(s) -> Python str.lower() (see text_lower for coverage) */
static int score_lower(lua_State *L) { return push_text(L, text_lower(luaL_checkstring(L, 1))); }
/* score.strip(s) -> Python str.strip() */
static int score_strip(lua_State *L) { return push_text(L, text_strip(luaL_checkstring(L, 1))); }

/* --- evallua.random ------------------------------------------------------------------- */

static pyrandom *check_random(lua_State *L) { return luaL_checkudata(L, 1, RANDOM_MT); }

/* random.new(seed) -> generator identical to Python's random.Random(seed) */
static int random_new(lua_State *L)
{
    lua_Integer seed = luaL_checkinteger(L, 1);
    pyrandom *r = lua_newuserdatauv(L, sizeof *r, 0);
    pyrandom_seed(r, seed);
    luaL_setmetatable(L, RANDOM_MT);
    return 1;
}

/* r:seed(s) re-seeds in place */
static int random_seed(lua_State *L)
{
    pyrandom_seed(check_random(L), luaL_checkinteger(L, 2));
    return 0;
}

/* r:random() -> float in [0, 1) */
static int random_random(lua_State *L)
{
    lua_pushnumber(L, pyrandom_random(check_random(L)));
    return 1;
}

/* r:getrandbits(k) -> integer, 0 <= k <= 63 */
static int random_getrandbits(lua_State *L)
{
    pyrandom *r = check_random(L);
    lua_Integer k = luaL_checkinteger(L, 2);
    luaL_argcheck(L, k >= 0 && k <= 63, 2, "k must be in [0, 63]");
    lua_pushinteger(L, (lua_Integer)pyrandom_getrandbits(r, (int)k));
    return 1;
}

/* r:randbelow(n) -> integer in [0, n) (Python's _randbelow) */
static int random_randbelow(lua_State *L)
{
    pyrandom *r = check_random(L);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 1, 2, "n must be positive");
    lua_pushinteger(L, (lua_Integer)pyrandom_randbelow(r, (size_t)n));
    return 1;
}

/* r:sample(n, k) -> k distinct 1-based indices into a pool of n, in CPython's order */
static int random_sample(lua_State *L)
{
    pyrandom *r = check_random(L);
    lua_Integer n = luaL_checkinteger(L, 2), k = luaL_checkinteger(L, 3);
    luaL_argcheck(L, n >= 0, 2, "population size must be non-negative");
    luaL_argcheck(L, k >= 0 && k <= n, 3, "sample larger than population or is negative");
    size_t *idx = scratch(L, (size_t)k, sizeof *idx);
    pyrandom_sample(r, (size_t)n, (size_t)k, idx);
    lua_createtable(L, (int)k, 0);
    for (lua_Integer i = 0; i < k; i++) {
        lua_pushinteger(L, (lua_Integer)idx[i] + 1);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* r:shuffle(t) shuffles the array t in place, as CPython's shuffle does a list */
static int random_shuffle(lua_State *L)
{
    pyrandom *r = check_random(L);
    lua_Integer n = (lua_Integer)check_array(L, 2);
    for (lua_Integer i = n - 1; i >= 1; i--) {
        lua_Integer j = (lua_Integer)pyrandom_randbelow(r, (size_t)i + 1);
        lua_geti(L, 2, i + 1);
        lua_geti(L, 2, j + 1);
        lua_seti(L, 2, i + 1);
        lua_seti(L, 2, j + 1);
    }
    return 0;
}

static int random_tostring(lua_State *L)
{
    lua_pushfstring(L, "evallua.random(%p)", (void *)check_random(L));
    return 1;
}

/* --- registration ----------------------------------------------------------------------- */

static const luaL_Reg regex_methods[] = {
    {"findall", lregex_findall},
    {"sub", lregex_sub},
    {"filter", lregex_filter},
    {NULL, NULL},
};

static const luaL_Reg regex_meta[] = {
    {"__gc", lregex_gc},
    {"__close", lregex_gc},
    {"__tostring", lregex_tostring},
    {NULL, NULL},
};

static const luaL_Reg regex_funcs[] = {
    {"compile", lregex_compile},
    {"findall", regex_mod_findall},
    {"sub", regex_mod_sub},
    {"filter", regex_mod_filter},
    {NULL, NULL},
};

static const luaL_Reg score_funcs[] = {
    {"exact_match", score_exact_match},
    {"filter_regex", score_filter_regex},
    {"multiple_choice", score_multiple_choice},
    {"mc2", score_mc2},
    {"mean", score_mean},
    {"perplexity", score_perplexity},
    {"bootstrap_stderr", score_bootstrap_stderr},
    {"lower", score_lower},
    {"strip", score_strip},
    {NULL, NULL},
};

/* A pyrandom is plain memory inside the userdata: no __gc is needed. */
static const luaL_Reg random_methods[] = {
    {"seed", random_seed},
    {"random", random_random},
    {"getrandbits", random_getrandbits},
    {"randbelow", random_randbelow},
    {"sample", random_sample},
    {"shuffle", random_shuffle},
    {NULL, NULL},
};

static const luaL_Reg random_meta[] = {
    {"__tostring", random_tostring},
    {NULL, NULL},
};

static const luaL_Reg random_funcs[] = {
    {"new", random_new},
    {NULL, NULL},
};

/* Create (once per state) the metatable `name` with meta entries and __index = methods. */
static void new_metatable(lua_State *L, const char *name, const luaL_Reg *meta,
                          const luaL_Reg *methods)
{
    if (luaL_newmetatable(L, name)) {
        luaL_setfuncs(L, meta, 0);
        lua_newtable(L);
        luaL_setfuncs(L, methods, 0);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
}

int luaopen_evallua_regex(lua_State *L)
{
    new_metatable(L, REGEX_MT, regex_meta, regex_methods);
    luaL_newlib(L, regex_funcs);
    return 1;
}

int luaopen_evallua_score(lua_State *L)
{
    new_metatable(L, REGEX_MT, regex_meta, regex_methods); /* filter_regex compiles */
    luaL_newlib(L, score_funcs);
    return 1;
}

int luaopen_evallua_random(lua_State *L)
{
    new_metatable(L, RANDOM_MT, random_meta, random_methods);
    luaL_newlib(L, random_funcs);
    return 1;
}
