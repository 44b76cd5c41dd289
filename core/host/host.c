/* host.c — creating evallua's lua_State and calling into it safely. */
#include "host.h"

#include "lua_pool.h"
#include "modules.h"
#include "util/buf.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int file_exists(const char *dir, const char *rel)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return stat(path, &st) == 0;
}

/* The directory of the running executable, or "" when it cannot be read. */
static void exe_dir(char *out, size_t outlen)
{
    ssize_t n = readlink("/proc/self/exe", out, outlen - 1);
    if (n <= 0) {
        out[0] = '\0';
        return;
    }
    out[n] = '\0';
    char *slash = strrchr(out, '/');
    if (slash) *slash = '\0';
}

const char *host_home(void)
{
    static char home[4096];
    if (home[0]) return home;
    const char *env = getenv("EVALLUA_HOME");
    if (env && *env) {
        snprintf(home, sizeof home, "%s", env);
        return home;
    }
    char dir[4000];
    exe_dir(dir, sizeof dir);
    const char *candidates[3];
    char installed[4096], built[4096];
    snprintf(installed, sizeof installed, "%s/../share/evallua", dir);
    snprintf(built, sizeof built, "%s/..", dir);
    candidates[0] = EVALLUA_SOURCE_DIR;
    candidates[1] = installed;
    candidates[2] = built;
    for (size_t i = 0; i < 3; i++) {
        if (file_exists(candidates[i], "lua/evallua/cli.lua")) {
            snprintf(home, sizeof home, "%s", candidates[i]);
            return home;
        }
    }
    snprintf(home, sizeof home, "%s", EVALLUA_INSTALL_DATADIR);
    return home;
}

static const luaL_Reg host_preload[] = {
    {"evallua.json", luaopen_evallua_json},
    {"evallua.data", luaopen_evallua_data},
    {"evallua.regex", luaopen_evallua_regex},
    {"evallua.score", luaopen_evallua_score},
    {"evallua.random", luaopen_evallua_random},
    {"evallua.backend", luaopen_evallua_backend},
    {"evallua.sys", luaopen_evallua_sys},
    {"evallua.report", luaopen_evallua_report},
    {"evallua.parallel", luaopen_evallua_parallel},
    {"evallua.metrics", luaopen_evallua_metrics},
    {"evallua.sandbox", luaopen_evallua_sandbox},
    {"evallua.ifeval", luaopen_evallua_ifeval},
    {"evallua.pull", luaopen_evallua_pull},
    {NULL, NULL},
};

static void host_set_paths(lua_State *L)
{
    const char *home = host_home();
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua", home, home);
    lua_setfield(L, -2, "path");
    lua_pushstring(L, "");
    lua_setfield(L, -2, "cpath"); /* no native modules from the file system */
    lua_getfield(L, -1, "preload");
    for (const luaL_Reg *m = host_preload; m->name; m++) {
        lua_pushcfunction(L, m->func);
        lua_setfield(L, -2, m->name);
    }
    lua_pop(L, 2);
}

lua_State *host_new(char *err, size_t errlen)
{
    lua_State *L = lua_pool_newstate();
    if (!L) {
        errf(err, errlen, "cannot create a Lua state (out of memory)");
        return NULL;
    }
    luaL_openlibs(L);
    host_set_paths(L);
    return L;
}

/* Message handler: add a traceback to string errors when EVALLUA_TRACEBACK is set. */
static int host_msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    const char *tb = getenv("EVALLUA_TRACEBACK");
    if (tb && *tb && strcmp(tb, "0") != 0) luaL_traceback(L, L, msg, 1);
    else lua_pushstring(L, msg);
    return 1;
}

int host_docall(lua_State *L, int nargs, int nresults)
{
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, host_msghandler);
    lua_insert(L, base);
    int status = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    return status;
}

int host_call_module(lua_State *L, const char *module, const char *fn, int nargs)
{
    /* Stack: args... -> require, module, args... */
    lua_getglobal(L, "require");
    lua_pushstring(L, module);
    int status = host_docall(L, 1, 1);
    if (status != LUA_OK) {
        lua_insert(L, -1 - nargs);
        lua_pop(L, nargs);
        return status;
    }
    lua_getfield(L, -1, fn);
    lua_remove(L, -2);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 1 + nargs);
        lua_pushfstring(L, "module '%s' has no function '%s'", module, fn);
        return LUA_ERRRUN;
    }
    lua_insert(L, -1 - nargs);
    return host_docall(L, nargs, 1);
}
