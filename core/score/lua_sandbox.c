/* lua_sandbox.c — "evallua.sandbox": model-written Python programs run in the sandbox
 * (core/score/sandbox.h), and the pass@k estimator.
 *
 *   sandbox.run{ programs = { src, ... }, timeout = 10, memory_mb = 2048, workers = ncpu,
 *                output_kb = 64, file_size_mb = 16, tmp_mb = 64, max_procs = 64,
 *                max_files = 64, guard = true }
 *     -> { { status = "passed"|"failed"|"timeout"|"error", passed = bool, reason = "...",
 *            exit_code = n|nil, signal = n|nil, seconds = s, stdout = "...", stderr = "...",
 *            stdout_truncated = bool, stderr_truncated = bool }, ... }   (one per program)
 *   sandbox.pass_at_k(n, c, k)  -> 1 - C(n-c, k)/C(n, k)  (raises unless 0 <= c <= n, 1 <= k <= n)
 *   sandbox.isolation()         -> { network =, pid =, mount =, readonly_root =, own_uid =,
 *                                    user_ns =, nproc_binds = (booleans), python =, summary =,
 *                                    note = }
 *   sandbox.confirm_unsafe_code()  the CLI's --confirm-run-unsafe-code (not for task scripts)
 *   sandbox.confirmed()         -> whether running code was confirmed
 *
 * run raises unless the user confirmed running model-written code (confirm_unsafe_code(),
 * or HF_ALLOW_CODE_EVAL=1 as with HF evaluate's code_eval). The programs run in C with no
 * Lua involved: their strings are collected first and the result tables built afterwards.
 * A first Ctrl-C (request.h's backend_interrupted changing) stops the call: programs not
 * finished get status "error", reason "interrupted". The first run prints the sandbox's
 * note to stderr once when some protection is missing. */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "host/lua_fields.h"
#include "host/modules.h"
#include "request/request.h"
#include "score/sandbox.h"

/* Declared in host/modules.h once the module is registered there. */
int luaopen_evallua_sandbox(lua_State *L);

static atomic_int note_printed;

/* An optional integer field of the spec table at index 1 (def when absent). */
static lua_Integer opt_int(lua_State *L, const char *key, lua_Integer def, lua_Integer min)
{
    lua_getfield(L, 1, key);
    int ok = 1;
    lua_Integer v = lua_isnil(L, -1) ? def : lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
    if (!ok || v < min)
        luaL_error(L, "sandbox.run: %s must be an integer >= %d", key, (int)min);
    return v;
}

static void check_spec_keys(lua_State *L)
{
    static const char *const known[] = {"programs", "timeout", "memory_mb", "workers", "output_kb",
        "file_size_mb", "tmp_mb", "max_procs", "max_files", "guard", NULL};
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        int found = 0;
        for (size_t i = 0; k && known[i]; i++) found |= strcmp(k, known[i]) == 0;
        if (!found)
            luaL_error(L, "sandbox.run: unknown field '%s' (programs, timeout, memory_mb, workers, "
                       "output_kb, file_size_mb, tmp_mb, max_procs, max_files, guard)",
                       k ? k : luaL_typename(L, -1));
    }
}

static void check_options(lua_State *L, sandbox_options *o)
{
    sandbox_options_default(o);
    check_spec_keys(L);
    lua_getfield(L, 1, "timeout");
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1) || !(lua_tonumber(L, -1) > 0))
            luaL_error(L, "sandbox.run: timeout must be a positive number of seconds");
        o->timeout_s = lua_tonumber(L, -1);
    }
    lua_getfield(L, 1, "guard");
    if (!lua_isnil(L, -1)) o->guard = lua_toboolean(L, -1);
    lua_pop(L, 2);
    o->memory_mb = (size_t)opt_int(L, "memory_mb", (lua_Integer)o->memory_mb, 64);
    o->workers = (int)opt_int(L, "workers", o->workers, 1);
    lua_Integer kb = opt_int(L, "output_kb", (lua_Integer)(o->output_bytes / 1024), 1);
    o->output_bytes = (size_t)kb * 1024;
    o->file_size_mb = (size_t)opt_int(L, "file_size_mb", (lua_Integer)o->file_size_mb, 1);
    o->tmp_mb = (size_t)opt_int(L, "tmp_mb", (lua_Integer)o->tmp_mb, 1);
    o->max_procs = (int)opt_int(L, "max_procs", o->max_procs, 1);
    o->max_files = (int)opt_int(L, "max_files", o->max_files, 8);
    o->cancel = &backend_interrupted;
}

/* The program strings of spec.programs (kept alive by the spec table during the call). */
static const char **check_programs(lua_State *L, size_t *n)
{
    lua_getfield(L, 1, "programs");
    if (!lua_istable(L, -1)) luaL_error(L, "sandbox.run: programs must be an array of strings");
    *n = (size_t)luaL_len(L, -1);
    const char **p = lua_newuserdatauv(L, (*n ? *n : 1) * sizeof *p, 0);
    for (size_t i = 0; i < *n; i++) {
        if (lua_geti(L, -2, (lua_Integer)i + 1) != LUA_TSTRING)
            luaL_error(L, "sandbox.run: programs[%d] must be a string, not %s", (int)i + 1,
                       luaL_typename(L, -1));
        size_t len;
        p[i] = lua_tolstring(L, -1, &len);
        if (strlen(p[i]) != len)
            luaL_error(L, "sandbox.run: programs[%d] contains a NUL byte", (int)i + 1);
        lua_pop(L, 1);
    }
    return p;
}

static void push_result(lua_State *L, const sandbox_result *r)
{
    lua_createtable(L, 0, 11);
    lua_pushstring(L, sandbox_status_name(r->status));
    lua_setfield(L, -2, "status");
    set_bool(L, "passed", r->status == SANDBOX_PASSED);
    set_lstring(L, "reason", r->reason, strlen(r->reason));
    if (r->exit_code >= 0) {
        lua_pushinteger(L, r->exit_code);
        lua_setfield(L, -2, "exit_code");
    }
    if (r->signal) {
        lua_pushinteger(L, r->signal);
        lua_setfield(L, -2, "signal");
    }
    lua_pushnumber(L, r->seconds);
    lua_setfield(L, -2, "seconds");
    set_lstring(L, "stdout", r->out, r->out_len);
    set_lstring(L, "stderr", r->err, r->err_len);
    set_bool(L, "stdout_truncated", r->out_truncated);
    set_bool(L, "stderr_truncated", r->err_truncated);
}

static void print_note_once(void)
{
    char err[256];
    const sandbox_isolation *iso = sandbox_isolation_get(err, sizeof err);
    if (iso && iso->note[0] && atomic_exchange(&note_printed, 1) == 0)
        fprintf(stderr, "evallua: note: code sandbox: %s\n", iso->note);
}

/* sandbox.run(spec) -> array of result tables */
static int sb_run(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (!sandbox_unsafe_code_confirmed())
        return luaL_error(L, "sandbox.run: executing model-written code needs your consent: rerun "
                          "with --confirm-run-unsafe-code (or set HF_ALLOW_CODE_EVAL=1)");
    sandbox_options o;
    check_options(L, &o);
    size_t n;
    const char **programs = check_programs(L, &n);
    sandbox_result *res = lua_newuserdatauv(L, (n ? n : 1) * sizeof *res, 0);
    char err[768];
    if (sandbox_run(programs, n, &o, res, err, sizeof err) != 0)
        return luaL_error(L, "sandbox.run: %s", err);
    print_note_once();
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        push_result(L, &res[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    for (size_t i = 0; i < n; i++) sandbox_result_free(&res[i]);
    return 1;
}

/* sandbox.pass_at_k(n, c, k) -> number */
static int sb_pass_at_k(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1), c = luaL_checkinteger(L, 2);
    lua_Integer k = luaL_checkinteger(L, 3);
    double v = sandbox_pass_at_k((long)n, (long)c, (long)k);
    if (isnan(v))
        return luaL_error(L, "sandbox.pass_at_k: need 0 <= c <= n and 1 <= k <= n "
                          "(got n=%d, c=%d, k=%d)", (int)n, (int)c, (int)k);
    lua_pushnumber(L, v);
    return 1;
}

/* sandbox.isolation() -> table (raises when no Python interpreter can be run) */
static int sb_isolation(lua_State *L)
{
    char err[768];
    const sandbox_isolation *s = sandbox_isolation_get(err, sizeof err);
    if (!s) return luaL_error(L, "sandbox.isolation: %s", err);
    lua_createtable(L, 0, 10);
    set_bool(L, "network", s->network);
    set_bool(L, "pid", s->pid);
    set_bool(L, "mount", s->mount);
    set_bool(L, "readonly_root", s->readonly_root);
    set_bool(L, "own_uid", s->own_uid);
    set_bool(L, "user_ns", s->user_ns);
    set_bool(L, "nproc_binds", s->nproc_binds);
    set_lstring(L, "python", s->python, strlen(s->python));
    set_lstring(L, "summary", s->summary, strlen(s->summary));
    set_lstring(L, "note", s->note, strlen(s->note));
    return 1;
}

/* sandbox.confirm_unsafe_code() */
static int sb_confirm(lua_State *L)
{
    (void)L;
    sandbox_confirm_unsafe_code();
    return 0;
}

/* sandbox.confirmed() -> boolean */
static int sb_confirmed(lua_State *L)
{
    lua_pushboolean(L, sandbox_unsafe_code_confirmed());
    return 1;
}

static const luaL_Reg sandbox_funcs[] = {
    {"run", sb_run},
    {"pass_at_k", sb_pass_at_k},
    {"isolation", sb_isolation},
    {"confirm_unsafe_code", sb_confirm},
    {"confirmed", sb_confirmed},
    {NULL, NULL},
};

int luaopen_evallua_sandbox(lua_State *L)
{
    luaL_newlib(L, sandbox_funcs);
    return 1;
}
