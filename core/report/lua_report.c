/* lua_report.c — "evallua.report": render the terminal results table from Lua rows.
 *
 *   report.table({ {task=, version=, filter=, n_shot=, metric=, arrow=, value=, stderr=}, ... }
 *                [, first_header]) -> string
 */
#include "host/modules.h"
#include "table.h"
#include "util/buf.h"

#include <lauxlib.h>
#include <stdlib.h>

/* The row's field as a string; the converted value is stored back in the row so that the
   returned pointer stays valid while the row table is referenced. */
static const char *row_field(lua_State *L, int t, const char *key)
{
    lua_getfield(L, t, key);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return "";
    }
    luaL_tolstring(L, -1, NULL);
    lua_remove(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, t, key);
    const char *s = lua_tostring(L, -1);
    lua_pop(L, 1);
    return s;
}

/* report.table(rows [, first_header]) -> the rendered table as a string */
static int report_table(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *first_header = luaL_optstring(L, 2, NULL);
    size_t n = (size_t)lua_rawlen(L, 1);
    table_row *rows = xcalloc(n ? n : 1, sizeof *rows);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, 1, (lua_Integer)i + 1);
        int t = lua_gettop(L);
        if (!lua_istable(L, t)) {
            free(rows);
            return luaL_error(L, "report.table: row %d is not a table", (int)i + 1);
        }
        rows[i].task = row_field(L, t, "task");
        rows[i].version = row_field(L, t, "version");
        rows[i].filter = row_field(L, t, "filter");
        rows[i].n_shot = row_field(L, t, "n_shot");
        rows[i].metric = row_field(L, t, "metric");
        rows[i].arrow = row_field(L, t, "arrow");
        rows[i].value = row_field(L, t, "value");
        rows[i].stderr_ = row_field(L, t, "stderr");
        lua_pop(L, 1); /* the row stays referenced by the argument table */
    }
    buf out = {0};
    table_render(rows, n, first_header, &out);
    free(rows);
    lua_pushlstring(L, buf_str(&out), out.len);
    buf_free(&out);
    return 1;
}

static const luaL_Reg report_funcs[] = {
    {"table", report_table},
    {NULL, NULL},
};

int luaopen_evallua_report(lua_State *L)
{
    luaL_newlib(L, report_funcs);
    return 1;
}
