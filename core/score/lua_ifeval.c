/* lua_ifeval.c — "evallua.ifeval": IFEval's instruction checks (ifeval.h) for Lua.
 *
 *   ifeval.check(instruction_ids, kwargs_list, prompt, response)
 *       -> { strict = {true|false, ...}, loose = {true|false, ...} }
 *      one boolean per instruction, in order. kwargs_list[i] is the document's kwargs
 *      object for instruction i (a table; json.null values and falsy values are dropped,
 *      as lm-eval does); nil or a missing entry means no kwargs.
 *   ifeval.instructions() -> { "keywords:existence", ... }   the 25 ids lm-eval knows
 *
 * An unknown id or unusable kwargs raise an error naming the instruction. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>

#include "host/json_lua.h"
#include "host/modules.h"
#include "score/ifeval.h"


/* Release the kwargs trees of a check call (a userdata's __gc and __close). */
typedef struct kw_list {
    cJSON **v;
    size_t n;
} kw_list;

static int kw_list_gc(lua_State *L)
{
    kw_list *k = lua_touserdata(L, 1);
    for (size_t i = 0; i < k->n; i++) cJSON_Delete(k->v[i]);
    free(k->v);
    k->v = NULL;
    k->n = 0;
    return 0;
}

/* Push a userdata owning n NULL kwargs slots (freed by the GC even when an error is raised). */
static kw_list *new_kw_list(lua_State *L, size_t n)
{
    kw_list *k = lua_newuserdatauv(L, sizeof *k, 0);
    k->v = NULL;
    k->n = 0;
    if (luaL_newmetatable(L, "evallua.ifeval.kwargs")) {
        lua_pushcfunction(L, kw_list_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    k->v = calloc(n ? n : 1, sizeof *k->v);
    if (!k->v) luaL_error(L, "ifeval.check: out of memory");
    k->n = n;
    return k;
}

static void push_bools(lua_State *L, const int *v, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushboolean(L, v[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* The ids (arg 1) as C strings; scratch memory owned by a userdata on the stack. */
static const char **check_ids(lua_State *L, size_t n)
{
    const char **ids = lua_newuserdatauv(L, (n ? n : 1) * sizeof *ids, 0);
    for (size_t i = 0; i < n; i++) {
        if (lua_geti(L, 1, (lua_Integer)i + 1) != LUA_TSTRING)
            luaL_error(L, "ifeval.check: instruction_ids[%d] must be a string, not %s",
                       (int)i + 1, luaL_typename(L, -1));
        ids[i] = lua_tostring(L, -1); /* kept alive by the ids table */
        lua_pop(L, 1);
    }
    return ids;
}

/* kwargs_list (arg 2) converted to cJSON objects, one per instruction. */
static kw_list *check_kwargs(lua_State *L, size_t n)
{
    kw_list *k = new_kw_list(L, n);
    for (size_t i = 0; i < n; i++) {
        int t = lua_geti(L, 2, (lua_Integer)i + 1);
        if (t == LUA_TTABLE) {
            char err[256];
            k->v[i] = json_lua_to_cjson(L, -1, err, sizeof err);
            if (!k->v[i]) luaL_error(L, "ifeval.check: kwargs_list[%d]: %s", (int)i + 1, err);
        } else if (t != LUA_TNIL && !json_lua_is_null(L, -1)) {
            luaL_error(L, "ifeval.check: kwargs_list[%d] must be a table, not %s", (int)i + 1,
                       luaL_typename(L, -1));
        }
        lua_pop(L, 1);
    }
    return k;
}

/* ifeval.check(instruction_ids, kwargs_list, prompt, response) -> {strict=, loose=} */
static int l_check(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    const char *prompt = luaL_optstring(L, 3, "");
    const char *response = luaL_checkstring(L, 4);
    size_t n = (size_t)luaL_len(L, 1);
    const char **ids = check_ids(L, n);
    kw_list *k = check_kwargs(L, n);
    int *strict = lua_newuserdatauv(L, (n ? n : 1) * sizeof *strict, 0);
    int *loose = lua_newuserdatauv(L, (n ? n : 1) * sizeof *loose, 0);
    char err[512];
    if (ifeval_check_all(ids, (const cJSON *const *)k->v, n, prompt, response, strict, loose,
                         err, sizeof err) != 0)
        return luaL_error(L, "%s", err);
    lua_createtable(L, 0, 2);
    push_bools(L, strict, n);
    lua_setfield(L, -2, "strict");
    push_bools(L, loose, n);
    lua_setfield(L, -2, "loose");
    return 1;
}

/* ifeval.instructions() -> the instruction ids, in lm-eval's registry order */
static int l_instructions(lua_State *L)
{
    size_t n = ifeval_n_instructions();
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, ifeval_instruction_id(i));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

static const luaL_Reg ifeval_funcs[] = {
    {"check", l_check},
    {"instructions", l_instructions},
    {NULL, NULL},
};

int luaopen_evallua_ifeval(lua_State *L)
{
    luaL_newlib(L, ifeval_funcs);
    return 1;
}
