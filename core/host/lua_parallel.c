/* lua_parallel.c — "evallua.parallel": run a Lua function over many inputs on OpenMP
 * threads, one lua_State per thread (STYLE.md: threads never share a state).
 *
 *   local outputs = parallel.map{
 *     module = "evallua.scorer", fn = "worker", args = { "tasks/x.lua", "x", "my_metric" },
 *     inputs = { json_string_1, ... },   -- one JSON text per item
 *     threads = 4,                        -- default: OpenMP's maximum
 *   }
 *
 * Each thread creates its own state (host_new), calls require(module)[fn](args...) once to
 * get the per-item function, then for each of its items decodes the input JSON, calls the
 * function and encodes the result as JSON. Values cross between states only as JSON text,
 * so the result is the same whatever the thread count. outputs[i] is the decoded result of
 * item i; an error in any item raises "item I: message" (the first by index). */
#include "host.h"
#include "json_lua.h"
#include "modules.h"
#include "util/buf.h"

#include <lauxlib.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef struct map_job {
    const char *module, *fn;
    char **args;
    size_t nargs;
    char **inputs;   /* n JSON texts (owned) */
    char **outputs;  /* n JSON texts or NULL (owned) */
    char **errors;   /* n messages or NULL (owned) */
    size_t n;
} map_job;

/* In worker state W: leave require(module)[fn](args...) — the item function — on the stack. */
static int worker_setup(lua_State *W, const map_job *job, char **msg)
{
    lua_getglobal(W, "require");
    lua_pushstring(W, job->module);
    if (host_docall(W, 1, 1) != LUA_OK) goto fail;
    lua_getfield(W, -1, job->fn);
    lua_remove(W, -2);
    for (size_t i = 0; i < job->nargs; i++) lua_pushstring(W, job->args[i]);
    if (host_docall(W, (int)job->nargs, 1) != LUA_OK) goto fail;
    if (!lua_isfunction(W, -1)) {
        *msg = xstrdup("parallel.map: the setup function did not return a function");
        return -1;
    }
    return 0;
fail:
    *msg = xstrdup(lua_tostring(W, -1) ? lua_tostring(W, -1) : "(error)");
    return -1;
}

/* Run the item function (stack top of W) on one JSON input; fills *out or *msg. */
static void worker_item(lua_State *W, const char *input, char **out, char **msg)
{
    int top = lua_gettop(W);
    lua_pushvalue(W, top);
    size_t errpos = 0;
    cJSON *v = json_lua_parse(input, strlen(input), &errpos);
    if (!v) {
        *msg = xstrdup("parallel.map: input is not valid JSON");
        lua_settop(W, top);
        return;
    }
    json_lua_push_owned(W, v);
    if (host_docall(W, 1, 1) != LUA_OK) {
        *msg = xstrdup(lua_tostring(W, -1) ? lua_tostring(W, -1) : "(error)");
    } else {
        buf b = {0};
        char err[256];
        if (json_lua_encode(W, lua_gettop(W), &b, 0, err, sizeof err) != 0) {
            *msg = xstrdup(err);
            buf_free(&b);
        } else {
            *out = buf_steal(&b);
        }
    }
    lua_settop(W, top);
}

static void run_job(map_job *job, int threads)
{
    (void)host_home(); /* resolve the static home path before threads read it */
#pragma omp parallel num_threads(threads)
    {
        char err[256];
        char *setup_msg = NULL;
        lua_State *W = host_new(err, sizeof err);
        if (!W) setup_msg = xstrdup(err);
        else if (worker_setup(W, job, &setup_msg) != 0 && !setup_msg) setup_msg = xstrdup("setup failed");
#pragma omp for schedule(dynamic, 8)
        for (long i = 0; i < (long)job->n; i++) {
            if (setup_msg) job->errors[i] = xstrdup(setup_msg);
            else worker_item(W, job->inputs[i], &job->outputs[i], &job->errors[i]);
        }
        free(setup_msg);
        if (W) lua_close(W);
    }
}

static char **string_array(lua_State *L, int t, const char *key, size_t *n)
{
    lua_getfield(L, t, key);
    luaL_argexpected(L, lua_istable(L, -1), 1, key);
    *n = (size_t)lua_rawlen(L, -1);
    char **out = xcalloc(*n ? *n : 1, sizeof *out);
    for (size_t i = 0; i < *n; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i + 1);
        const char *s = lua_tostring(L, -1);
        out[i] = xstrdup(s ? s : "null");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return out;
}

static void free_strings(char **a, size_t n)
{
    for (size_t i = 0; i < n; i++) free(a[i]);
    free(a);
}

/* parallel.map(spec) -> array of decoded outputs; raises "item I: message" on error */
static int parallel_map(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    map_job job;
    memset(&job, 0, sizeof job);
    lua_getfield(L, 1, "module");
    lua_getfield(L, 1, "fn");
    job.module = luaL_checkstring(L, -2);
    job.fn = luaL_checkstring(L, -1);
    lua_getfield(L, 1, "threads");
    int threads = (int)luaL_optinteger(L, -1, omp_get_max_threads());
    lua_pop(L, 1); /* module and fn stay referenced by the spec table */
    job.args = string_array(L, 1, "args", &job.nargs);
    job.inputs = string_array(L, 1, "inputs", &job.n);
    job.outputs = xcalloc(job.n ? job.n : 1, sizeof *job.outputs);
    job.errors = xcalloc(job.n ? job.n : 1, sizeof *job.errors);
    if (threads < 1) threads = 1;
    if ((size_t)threads > job.n) threads = job.n ? (int)job.n : 1;
    if (job.n > 0) run_job(&job, threads);
    size_t bad = job.n;
    for (size_t i = 0; i < job.n && bad == job.n; i++)
        if (job.errors[i]) bad = i;
    if (bad < job.n) lua_pushfstring(L, "item %d: %s", (int)bad + 1, job.errors[bad]);
    else {
        lua_createtable(L, (int)job.n, 0);
        for (size_t i = 0; i < job.n; i++) {
            cJSON *v = json_lua_parse(job.outputs[i], strlen(job.outputs[i]), NULL);
            if (v) json_lua_push_owned(L, v);
            else lua_pushnil(L);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
    }
    free_strings(job.args, job.nargs);
    free_strings(job.inputs, job.n);
    free_strings(job.outputs, job.n);
    free_strings(job.errors, job.n);
    if (bad < job.n) return lua_error(L);
    return 1;
}

/* parallel.max_threads() -> OpenMP's thread count */
static int parallel_max_threads(lua_State *L)
{
    lua_pushinteger(L, omp_get_max_threads());
    return 1;
}

static const luaL_Reg parallel_funcs[] = {
    {"map", parallel_map},
    {"max_threads", parallel_max_threads},
    {NULL, NULL},
};

int luaopen_evallua_parallel(lua_State *L)
{
    luaL_newlib(L, parallel_funcs);
    return 1;
}
