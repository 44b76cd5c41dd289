/* lua_fields.h — set one field of the table on top of the Lua stack: t[key] = value. The
 * C modules that build result tables (backend stats, pull results, sandbox results,
 * metric summaries) share these instead of each writing its own. */
#ifndef EVALLUA_HOST_LUA_FIELDS_H
#define EVALLUA_HOST_LUA_FIELDS_H

#include <lua.h>
#include <stddef.h>

static inline void set_int(lua_State *L, const char *key, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, key);
}

static inline void set_number(lua_State *L, const char *key, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, key);
}

static inline void set_bool(lua_State *L, const char *key, int v)
{
    lua_pushboolean(L, v);
    lua_setfield(L, -2, key);
}

/* v is a NUL-terminated string. */
static inline void set_string(lua_State *L, const char *key, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, key);
}

/* v holds len bytes (may contain NULs). */
static inline void set_lstring(lua_State *L, const char *key, const char *v, size_t len)
{
    lua_pushlstring(L, v, len);
    lua_setfield(L, -2, key);
}

#endif
