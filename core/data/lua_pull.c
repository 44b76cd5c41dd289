/* lua_pull.c — the "evallua.pull" module: one call runs a whole `evallua data pull` in C (every
 * HTTP event is handled there; Lua only says which splits and gets the outcome back). */
#include "data/pull.h"
#include "host/lua_fields.h"
#include "host/modules.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[] = {"fetched", "present", "failed", "interrupted"};

/* Integer field `key` of the table at idx (dflt when absent), at least min. */
static lua_Integer opt_int_field(lua_State *L, int idx, const char *key, lua_Integer dflt, lua_Integer min)
{
    lua_getfield(L, idx, key);
    lua_Integer v = lua_isnil(L, -1) ? dflt : luaL_checkinteger(L, -1);
    lua_pop(L, 1);
    if (v < min) luaL_error(L, "pull option '%s' must be at least %d", key, (int)min);
    return v;
}

/* String field `key` of the table at idx, or NULL; the string stays referenced by the table. */
static const char *opt_str_field(lua_State *L, int idx, const char *key)
{
    lua_getfield(L, idx, key);
    const char *s = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
    lua_pop(L, 1);
    return s;
}

static void read_opts(lua_State *L, int idx, pull_opts *o)
{
    pull_opts_init(o);
    o->data_dir = opt_str_field(L, idx, "data_dir");
    o->endpoint = opt_str_field(L, idx, "endpoint");
    if (!o->data_dir || !o->endpoint) luaL_error(L, "pull options need data_dir and endpoint");
    o->limit_rows = (size_t)opt_int_field(L, idx, "limit_rows", 0, 0);
    o->concurrency = (int)opt_int_field(L, idx, "concurrency", o->concurrency, 1);
    o->max_retries = (int)opt_int_field(L, idx, "max_retries", o->max_retries, 0);
    lua_getfield(L, idx, "retry_base");
    if (!lua_isnil(L, -1)) o->retry_base_s = luaL_checknumber(L, -1);
    lua_getfield(L, idx, "force");
    o->force = lua_toboolean(L, -1);
    lua_getfield(L, idx, "progress");
    o->progress = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_pop(L, 3);
    /* the token comes from the environment straight into C: never through a Lua value */
    const char *tok = getenv("HF_TOKEN");
    if (!tok || !*tok) tok = getenv("HUGGING_FACE_HUB_TOKEN");
    o->token = tok && *tok ? tok : NULL;
}

/* Read splits[i] = {dataset=, config=, split=} (strings stay referenced by the argument). */
static pull_split *read_splits(lua_State *L, int idx, size_t *n)
{
    *n = (size_t)lua_rawlen(L, idx);
    pull_split *s = lua_newuserdatauv(L, (*n ? *n : 1) * sizeof *s, 0); /* freed by the GC */
    memset(s, 0, (*n ? *n : 1) * sizeof *s);
    for (size_t i = 0; i < *n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i + 1);
        luaL_checktype(L, -1, LUA_TTABLE);
        s[i].dataset = opt_str_field(L, -1, "dataset");
        s[i].config = opt_str_field(L, -1, "config");
        s[i].split = opt_str_field(L, -1, "split");
        lua_pop(L, 1);
        if (!s[i].dataset || !s[i].split) luaL_error(L, "split %d needs dataset and split", (int)i + 1);
    }
    return s;
}

/* Push the outcome of one split as a table. */
static void push_result(lua_State *L, const pull_split *s)
{
    lua_createtable(L, 0, 12);
    lua_pushstring(L, status_names[s->status]);
    lua_setfield(L, -2, "status");
    lua_pushstring(L, s->path ? s->path : "");
    lua_setfield(L, -2, "path");
    if (s->error) {
        lua_pushstring(L, s->error);
        lua_setfield(L, -2, "error");
    }
    set_int(L, "rows", s->rows);
    set_int(L, "rows_total", s->rows_total);
    set_int(L, "pages", s->pages);
    set_int(L, "pages_resumed", s->pages_resumed);
    set_int(L, "pages_done", s->pages_done);
    set_int(L, "requests", s->requests);
    set_int(L, "truncated_rows", s->truncated_rows);
    lua_pushboolean(L, s->partial);
    lua_setfield(L, -2, "partial");
}

/* pull.run(splits, opts) -> array of results, in the order of splits; raises when the pull
   cannot start. opts: data_dir, endpoint, limit_rows, force, concurrency, max_retries,
   retry_base, progress. HF_TOKEN (else HUGGING_FACE_HUB_TOKEN) is read here. */
static int l_run(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    pull_opts o;
    read_opts(L, 2, &o);
    size_t n;
    pull_split *s = read_splits(L, 1, &n);
    char err[1024];
    int rc = pull_run(&o, s, n, err, sizeof err);
    if (rc != 0) {
        for (size_t i = 0; i < n; i++) pull_split_free(&s[i]);
        return luaL_error(L, "%s", err);
    }
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        push_result(L, &s[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
        pull_split_free(&s[i]);
    }
    return 1;
}

static const luaL_Reg pull_funcs[] = {
    {"run", l_run},
    {NULL, NULL},
};

int luaopen_evallua_pull(lua_State *L)
{
    luaL_newlib(L, pull_funcs);
    return 1;
}
