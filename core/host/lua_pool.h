/* lua_pool.h — the allocator of evallua's Lua states: small blocks come from per-state
 * free lists carved out of large chunks, so that the many small tables and strings of a run
 * (a few per document and request) cost a list push or pop instead of a malloc or free. */
#ifndef EVALLUA_HOST_LUA_POOL_H
#define EVALLUA_HOST_LUA_POOL_H

#include <lua.h>

/* A new Lua state whose memory comes from its own pool (plain malloc in sanitizer builds,
 * so that AddressSanitizer still sees every block). The pool is freed by lua_close, when
 * the last block of the state goes. NULL when out of memory. */
lua_State *lua_pool_newstate(void);

#endif
