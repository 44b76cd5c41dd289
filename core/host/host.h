/* host.h — the Lua host: one lua_State with evallua's modules, and the one protected-call
 * helper through which every call from C into Lua goes (lua.c's docall pattern). */
#ifndef EVALLUA_HOST_H
#define EVALLUA_HOST_H

#include <lua.h>
#include <stddef.h>

/* Directory holding lua/evallua/ and tasks/: $EVALLUA_HOME, else the source tree the binary
   was built from, else <prefix>/share/evallua. Returns a static string (never NULL). */
const char *host_home(void);

/* Create a Lua state with the standard libraries, evallua's C modules in package.preload and
   package.path pointing at <home>/lua. NULL with err filled on failure. Close with lua_close. */
lua_State *host_new(char *err, size_t errlen);

/* lua_pcall with a traceback handler. On error returns the status and leaves the message
   (with traceback when EVALLUA_TRACEBACK is set) on the stack top; the caller pops it. */
int host_docall(lua_State *L, int nargs, int nresults);

/* Run `require(module).fn(...)` with the nargs values on the stack top as arguments; returns
   the Lua status and leaves one result (or the error message) on the stack. */
int host_call_module(lua_State *L, const char *module, const char *fn, int nargs);

#endif
