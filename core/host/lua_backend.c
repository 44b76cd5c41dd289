/* lua_backend.c — "evallua.backend": open a backend and answer an array of requests.
 *
 *   local b = backend.open{kind="openai-completions", base_url=..., model=..., api_key=...,
 *                          concurrency=32, max_retries=5, retry_base=0.5, timeout=300,
 *                          progress=true, label="gsm8k",
 *                          cache_path=nil, no_cache=false}
 *   local resps, fatal, interrupted = b:run(requests) -- one response per request, same order
 *   b:kinds() -> {loglikelihood=true, ...};  b:name();  b:stats();  b:cache_path()
 *
 * The response cache (cache/cache.h) is on unless no_cache: at cache_path, else at
 * cache_default_path(). An explicit cache_path that cannot be opened is an error; the
 * default location failing only warns and runs without a cache.
 *
 * Requests are converted to C structs in one pass, the backend runs with no Lua involved,
 * and the responses are converted back in one pass. */
#include "cache/cache_backend.h"
#include "http/openai.h"
#include "native/backend_native.h"
#include "json_lua.h"
#include "modules.h"
#include "request/request.h"
#include "util/buf.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKEND_MT "evallua.backend"

typedef struct lua_backend {
    backend *b;
    backend *native; /* the native backend inside b (b may be the cache around it), or NULL */
} lua_backend;

static lua_backend *check_backend(lua_State *L)
{
    lua_backend *lb = luaL_checkudata(L, 1, BACKEND_MT);
    luaL_argcheck(L, lb->b != NULL, 1, "backend is closed");
    return lb;
}

static const char *opt_string(lua_State *L, int t, const char *key)
{
    lua_getfield(L, t, key);
    const char *s = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
    lua_pop(L, 1); /* the string stays alive: it is referenced by the spec table */
    return s;
}

static double opt_number(lua_State *L, int t, const char *key, double dflt)
{
    lua_getfield(L, t, key);
    double v = lua_isnil(L, -1) ? dflt : luaL_checknumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* Wrap *b with the response cache the spec asks for (cache_path, no_cache); raises (having
   destroyed *b) when an explicit cache_path cannot be opened. */
static void open_cache(lua_State *L, backend **b, const char *kind, const char *model)
{
    lua_getfield(L, 1, "no_cache");
    int off = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (off) return;
    const char *given = opt_string(L, 1, "cache_path");
    char *path = given ? xstrdup(given) : cache_default_path();
    char err[512] = "no cache location: set XDG_CACHE_HOME or HOME, or pass --cache PATH";
    cache *c = path ? cache_open(path, err, sizeof err) : NULL;
    free(path);
    if (c) {
        *b = cache_backend_wrap(*b, c, kind, model);
    } else if (given) {
        (*b)->vt->destroy(*b);
        *b = NULL;
        luaL_error(L, "%s", err);
    } else {
        fprintf(stderr, "evallua: warning: %s; running without the response cache\n", err);
    }
}

/* backend.open(spec) -> backend userdata; raises with the reason on bad configuration */
/* The HTTP backend from the spec table at index 1; NULL with err on bad configuration. */
static backend *open_openai(lua_State *L, const char *kind, char *err, size_t errlen)
{
    openai_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.chat = strcmp(kind, "openai-chat") == 0;
    cfg.base_url = opt_string(L, 1, "base_url");
    cfg.model = opt_string(L, 1, "model");
    cfg.api_key = opt_string(L, 1, "api_key");
    cfg.label = opt_string(L, 1, "label");
    cfg.concurrency = (int)opt_number(L, 1, "concurrency", 32);
    cfg.max_retries = (int)opt_number(L, 1, "max_retries", 5);
    cfg.retry_base_s = opt_number(L, 1, "retry_base", 0.5);
    cfg.timeout_s = opt_number(L, 1, "timeout", 300);
    lua_getfield(L, 1, "progress");
    cfg.progress = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return openai_backend_new(&cfg, err, errlen);
}

/* The in-process GGUF backend from the spec table at index 1. */
static backend *open_native(lua_State *L, char *err, size_t errlen)
{
    native_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.path = opt_string(L, 1, "path");
    cfg.threads = (int)opt_number(L, 1, "threads", 0);
    cfg.ctx = (int)opt_number(L, 1, "ctx", 0);
    cfg.batch = (int)opt_number(L, 1, "batch", 0);
    cfg.label = opt_string(L, 1, "label");
    lua_getfield(L, 1, "progress");
    cfg.progress = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!cfg.path) {
        snprintf(err, errlen, "the native backend needs a model file: --model_args path=MODEL.gguf");
        return NULL;
    }
    return native_backend_new(&cfg, err, errlen);
}

/* backend.open(spec) -> backend userdata; raises with the reason on bad configuration */
static int backend_open(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *kind = opt_string(L, 1, "kind");
    if (!kind) return luaL_error(L, "backend.open: 'kind' is required");
    int native = strcmp(kind, "native") == 0;
    if (!native && strcmp(kind, "openai-completions") != 0 && strcmp(kind, "openai-chat") != 0)
        return luaL_error(L, "unknown backend kind '%s'", kind);
    char err[512] = "";
    lua_backend *lb = lua_newuserdatauv(L, sizeof *lb, 0);
    lb->b = NULL;
    luaL_setmetatable(L, BACKEND_MT);
    lb->native = NULL;
    lb->b = native ? open_native(L, err, sizeof err) : open_openai(L, kind, err, sizeof err);
    if (native) lb->native = lb->b;
    if (!lb->b) {
        lua_pushstring(L, err); /* a configuration message: no Lua position in front of it */
        return lua_error(L);
    }
    open_cache(L, &lb->b, kind, native ? opt_string(L, 1, "path") : opt_string(L, 1, "model"));
    return 1;
}

static req_kind parse_kind(lua_State *L, const char *s, lua_Integer i)
{
    if (strcmp(s, "loglikelihood") == 0) return REQ_LOGLIKELIHOOD;
    if (strcmp(s, "loglikelihood_rolling") == 0) return REQ_LOGLIKELIHOOD_ROLLING;
    if (strcmp(s, "generate_until") == 0) return REQ_GENERATE;
    luaL_error(L, "request %d: unknown kind '%s'", (int)i, s);
    return REQ_GENERATE;
}

static char *field_strdup(lua_State *L, int t, const char *key)
{
    lua_getfield(L, t, key);
    char *s = NULL;
    if (lua_type(L, -1) == LUA_TSTRING) {
        size_t n;
        const char *p = lua_tolstring(L, -1, &n);
        s = xstrndup(p, n);
    }
    lua_pop(L, 1);
    return s;
}

static void read_until(lua_State *L, int t, gen_args *g)
{
    lua_getfield(L, t, "until");
    if (lua_istable(L, -1)) {
        size_t n = (size_t)lua_rawlen(L, -1);
        g->until = xcalloc(n ? n : 1, sizeof *g->until);
        for (size_t k = 0; k < n; k++) {
            lua_rawgeti(L, -1, (lua_Integer)k + 1);
            const char *s = lua_tostring(L, -1);
            if (s) g->until[g->n_until++] = xstrdup(s);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
}

/* Fill one C request from the Lua table at the stack top. */
static void read_request(lua_State *L, lua_Integer i, eval_request *r)
{
    int t = lua_gettop(L);
    if (!lua_istable(L, t)) luaL_error(L, "request %d is not a table", (int)i);
    lua_getfield(L, t, "kind");
    const char *kind = lua_tostring(L, -1);
    if (!kind) luaL_error(L, "request %d has no 'kind'", (int)i);
    r->kind = parse_kind(L, kind, i);
    lua_pop(L, 1);
    r->context = field_strdup(L, t, "context");
    if (!r->context) r->context = xstrdup("");
    r->continuation = field_strdup(L, t, "continuation");
    if (r->kind == REQ_LOGLIKELIHOOD && !r->continuation) r->continuation = xstrdup("");
    lua_getfield(L, t, "messages");
    if (lua_istable(L, -1)) {
        buf out = {0};
        char err[256];
        if (json_lua_encode(L, lua_gettop(L), &out, 0, err, sizeof err) != 0)
            luaL_error(L, "request %d: messages: %s", (int)i, err);
        r->messages_json = buf_steal(&out);
    }
    lua_pop(L, 1);
    r->gen.max_tokens = (int)opt_number(L, t, "max_tokens", 256);
    r->gen.temperature = opt_number(L, t, "temperature", 0.0);
    r->gen.top_p = opt_number(L, t, "top_p", -1.0);
    r->gen.seed = (int64_t)opt_number(L, t, "seed", -1.0);
    r->repeat = (int)opt_number(L, t, "repeat", 0);
    read_until(L, t, &r->gen);
}

static void push_response(lua_State *L, const eval_response *r)
{
    lua_createtable(L, 0, 8);
    lua_pushboolean(L, r->status == RESP_OK);
    lua_setfield(L, -2, "ok");
    if (r->status == RESP_OK) {
        lua_pushnumber(L, r->logprob);
        lua_setfield(L, -2, "logprob");
        lua_pushboolean(L, r->is_greedy);
        lua_setfield(L, -2, "is_greedy");
    }
    if (r->text) {
        lua_pushstring(L, r->text);
        lua_setfield(L, -2, "text");
    }
    if (r->reasoning) {
        lua_pushstring(L, r->reasoning);
        lua_setfield(L, -2, "reasoning");
    }
    if (r->error || r->status != RESP_OK) {
        lua_pushstring(L, r->error ? r->error : "no response");
        lua_setfield(L, -2, "error");
    }
    lua_pushinteger(L, r->prompt_tokens);
    lua_setfield(L, -2, "prompt_tokens");
    lua_pushinteger(L, r->completion_tokens);
    lua_setfield(L, -2, "completion_tokens");
    lua_pushinteger(L, r->attempts);
    lua_setfield(L, -2, "attempts");
}

/* Free what a partially built request array owns (used on the error path too). */
static void free_requests(eval_request *reqs, eval_response *resps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        request_free(&reqs[i]);
        response_free(&resps[i]);
    }
    free(reqs);
    free(resps);
}

/* Protected part of b:run, so a bad request table cannot leak the C arrays. */
typedef struct run_ctx {
    eval_request *reqs;
    eval_response *resps;
    size_t n;
} run_ctx;

static int read_requests_protected(lua_State *L)
{
    run_ctx *ctx = lua_touserdata(L, 1);
    for (size_t i = 0; i < ctx->n; i++) {
        lua_rawgeti(L, 2, (lua_Integer)i + 1);
        read_request(L, (lua_Integer)i + 1, &ctx->reqs[i]);
        lua_settop(L, 2);
    }
    return 0;
}

/* b:run(requests) -> responses, fatal_message|nil, interrupted (Ctrl-C stopped the run) */
static int backend_run(lua_State *L)
{
    lua_backend *lb = check_backend(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    run_ctx ctx;
    ctx.n = (size_t)lua_rawlen(L, 2);
    ctx.reqs = xcalloc(ctx.n ? ctx.n : 1, sizeof *ctx.reqs);
    ctx.resps = xcalloc(ctx.n ? ctx.n : 1, sizeof *ctx.resps);
    lua_pushcfunction(L, read_requests_protected);
    lua_pushlightuserdata(L, &ctx);
    lua_pushvalue(L, 2);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        free_requests(ctx.reqs, ctx.resps, ctx.n);
        return lua_error(L);
    }
    char err[1024] = "";
    int rc = lb->b->vt->run(lb->b, ctx.reqs, ctx.resps, ctx.n, err, sizeof err);
    lua_createtable(L, (int)ctx.n, 0);
    for (size_t i = 0; i < ctx.n; i++) {
        push_response(L, &ctx.resps[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    free_requests(ctx.reqs, ctx.resps, ctx.n);
    if (rc != 0) lua_pushstring(L, err[0] ? err : "the backend stopped the run");
    else lua_pushnil(L);
    lua_pushboolean(L, backend_interrupted != 0);
    return 3;
}

/* b:kinds() -> {loglikelihood=bool, loglikelihood_rolling=bool, generate_until=bool} */
static int backend_kinds(lua_State *L)
{
    lua_backend *lb = check_backend(L);
    unsigned k = lb->b->vt->kinds;
    lua_createtable(L, 0, 3);
    lua_pushboolean(L, (k & REQ_LOGLIKELIHOOD) != 0);
    lua_setfield(L, -2, "loglikelihood");
    lua_pushboolean(L, (k & REQ_LOGLIKELIHOOD_ROLLING) != 0);
    lua_setfield(L, -2, "loglikelihood_rolling");
    lua_pushboolean(L, (k & REQ_GENERATE) != 0);
    lua_setfield(L, -2, "generate_until");
    return 1;
}

/* b:name() -> "openai-completions" | ... */
static int backend_name(lua_State *L)
{
    lua_pushstring(L, check_backend(L)->b->vt->name);
    return 1;
}

/* b:cache_path() -> the response cache file, or nil when the cache is off */
static int backend_cache_path(lua_State *L)
{
    const char *p = cache_backend_path(check_backend(L)->b);
    if (p) lua_pushstring(L, p);
    else lua_pushnil(L);
    return 1;
}

/* b:stats() -> table of the backend's counters */
static int backend_stats_get(lua_State *L)
{
    const backend_stats *s = &check_backend(L)->b->stats;
    lua_createtable(L, 0, 7);
    lua_pushinteger(L, s->requests);
    lua_setfield(L, -2, "requests");
    lua_pushinteger(L, s->cached);
    lua_setfield(L, -2, "cached");
    lua_pushinteger(L, s->failed);
    lua_setfield(L, -2, "failed");
    lua_pushinteger(L, s->retries);
    lua_setfield(L, -2, "retries");
    lua_pushinteger(L, s->prompt_tokens);
    lua_setfield(L, -2, "prompt_tokens");
    lua_pushinteger(L, s->completion_tokens);
    lua_setfield(L, -2, "completion_tokens");
    lua_pushnumber(L, s->wall_seconds);
    lua_setfield(L, -2, "wall_seconds");
    return 1;
}

/* b:info() -> the native backend's model and speed figures, or nil for other backends */
static int backend_info(lua_State *L)
{
    lua_backend *lb = check_backend(L);
    native_info info;
    if (!lb->native || native_backend_info(lb->native, &info) != 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, 0, 12);
    lua_pushstring(L, info.arch);
    lua_setfield(L, -2, "arch");
    lua_pushstring(L, info.chat_format ? info.chat_format : "unknown");
    lua_setfield(L, -2, "chat_format");
    lua_pushinteger(L, info.ctx);
    lua_setfield(L, -2, "ctx");
    lua_pushinteger(L, info.threads);
    lua_setfield(L, -2, "threads");
    lua_pushnumber(L, info.load_seconds);
    lua_setfield(L, -2, "load_seconds");
    lua_pushinteger(L, (lua_Integer)info.model_bytes);
    lua_setfield(L, -2, "model_bytes");
    lua_pushinteger(L, (lua_Integer)info.peak_rss_bytes);
    lua_setfield(L, -2, "peak_rss_bytes");
    lua_pushinteger(L, info.truncated);
    lua_setfield(L, -2, "truncated");
    lua_pushinteger(L, info.tokens_evaluated);
    lua_setfield(L, -2, "tokens_evaluated");
    lua_pushinteger(L, info.tokens_reused);
    lua_setfield(L, -2, "tokens_reused");
    lua_pushnumber(L, info.prefill_seconds > 0 ? info.prefill_tokens / info.prefill_seconds : 0);
    lua_setfield(L, -2, "prefill_tokens_per_second");
    lua_pushnumber(L, info.decode_seconds > 0 ? info.decode_tokens / info.decode_seconds : 0);
    lua_setfield(L, -2, "decode_tokens_per_second");
    return 1;
}

static int backend_gc(lua_State *L)
{
    lua_backend *lb = luaL_checkudata(L, 1, BACKEND_MT);
    if (lb->b) lb->b->vt->destroy(lb->b);
    lb->b = NULL;
    lb->native = NULL;
    return 0;
}

static const luaL_Reg backend_methods[] = {
    {"run", backend_run},
    {"kinds", backend_kinds},
    {"name", backend_name},
    {"stats", backend_stats_get},
    {"cache_path", backend_cache_path},
    {"info", backend_info},
    {"close", backend_gc},
    {NULL, NULL},
};

static const luaL_Reg backend_meta[] = {
    {"__gc", backend_gc},
    {"__close", backend_gc},
    {"__index", NULL},
    {NULL, NULL},
};

static const luaL_Reg backend_funcs[] = {
    {"open", backend_open},
    {NULL, NULL},
};

int luaopen_evallua_backend(lua_State *L)
{
    luaL_newmetatable(L, BACKEND_MT);
    luaL_setfuncs(L, backend_meta, 0);
    luaL_newlib(L, backend_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, backend_funcs);
    return 1;
}
