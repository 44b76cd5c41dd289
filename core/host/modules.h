/* modules.h — the C modules evallua's Lua scripts can `require`.
 *
 * host.c registers each in package.preload under the name shown; nothing is a global.
 * Each luaopen_* returns one table (Lua's convention). */
#ifndef EVALLUA_HOST_MODULES_H
#define EVALLUA_HOST_MODULES_H

#include <lua.h>

int luaopen_evallua_json(lua_State *L);    /* "evallua.json"    core/host/lua_json.c   */
int luaopen_evallua_data(lua_State *L);    /* "evallua.data"    core/data/lua_data.c   */
int luaopen_evallua_regex(lua_State *L);   /* "evallua.regex"   core/score/lua_score.c */
int luaopen_evallua_score(lua_State *L);   /* "evallua.score"   core/score/lua_score.c */
int luaopen_evallua_random(lua_State *L);  /* "evallua.random"  core/score/lua_score.c */
int luaopen_evallua_backend(lua_State *L); /* "evallua.backend" core/host/lua_backend.c */
int luaopen_evallua_sys(lua_State *L);     /* "evallua.sys"     core/host/lua_sys.c    */
int luaopen_evallua_report(lua_State *L);  /* "evallua.report"  core/report/lua_report.c */
int luaopen_evallua_parallel(lua_State *L); /* "evallua.parallel" core/host/lua_parallel.c */
int luaopen_evallua_metrics(lua_State *L);  /* "evallua.metrics" core/score/lua_metrics.c */
int luaopen_evallua_sandbox(lua_State *L);  /* "evallua.sandbox" core/score/lua_sandbox.c */
int luaopen_evallua_ifeval(lua_State *L);   /* "evallua.ifeval"  core/score/lua_ifeval.c */
int luaopen_evallua_pull(lua_State *L);     /* "evallua.pull"    core/data/lua_pull.c   */

#endif
