/* lua_backend.c — "evallua.backend": open a backend and answer an array of requests.
 *
 *   local b = backend.open{kind="openai-completions", base_url=..., model=..., api_key=...,
 *                          concurrency=32, max_retries=5, retry_base=0.5, timeout=300,
 *                          rpm=nil, tpm=nil, batch_size=1, transport="auto",
 *                          progress=true, label="gsm8k",
 *                          cache_path=nil, no_cache=false}
 *   local resps, fatal, interrupted = b:run(requests [, {tasks = {"gsm8k", ...},
 *                                                         task_ends = {1319, ...}}])
 *       -- one response per request, same order; task k's requests end at task_ends[k]
 *       -- (requests come task by task), for the per-task progress display
 *   b:kinds() -> {loglikelihood=true, ...};  b:name();  b:stats();  b:cache_path()
 *
 * base_url may list several servers separated by '|' or whitespace (http/openai.h).
 * A response is {ok=, text= | logprob=, is_greedy=, truncated= (generate cut at max_tokens),
 * reasoning=, error=, prompt_tokens=, completion_tokens=, attempts= (only when more than 1),
 * context_truncated= (native: input cut from the left to fit ctx; only when true)}.
 *
 * The response cache (cache/cache.h) is on unless no_cache: at cache_path, else at
 * cache_default_path(). An explicit cache_path that cannot be opened is an error; the
 * default location failing only warns and runs without a cache.
 *
 * Requests are converted to C structs in one pass — the C requests borrow the Lua strings
 * (the requests table, held on the stack, keeps them alive, and no Lua runs meanwhile), and
 * consecutive requests with equal until lists share one array — the backend runs with no Lua
 * involved, and the responses are converted back in one pass, each C response freed as soon
 * as its table is made. */
#include "cache/cache_backend.h"
#include "host/lua_fields.h"
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
    backend *http;   /* the OpenAI backend inside b, or NULL; not owned */
    int progress;    /* HTTP: show per-task progress during b:run (made per run) */
    char *label;     /* HTTP: the progress label when b:run names no tasks */
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
    cfg.rpm = opt_number(L, 1, "rpm", 0);
    cfg.tpm = opt_number(L, 1, "tpm", 0);
    cfg.batch_size = (int)opt_number(L, 1, "batch_size", 1);
    cfg.transport = opt_string(L, 1, "transport"); /* auto | plain | curl (http/transport.h) */
    return openai_backend_new(&cfg, err, errlen); /* progress: lua_backend makes one per run */
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
    cfg.parallel = (int)opt_number(L, 1, "parallel", 0);
    cfg.label = opt_string(L, 1, "label");
    cfg.device = opt_string(L, 1, "device");
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
    memset(lb, 0, sizeof *lb);
    luaL_setmetatable(L, BACKEND_MT);
    lb->b = native ? open_native(L, err, sizeof err) : open_openai(L, kind, err, sizeof err);
    if (native) lb->native = lb->b;
    else lb->http = lb->b;
    lua_getfield(L, 1, "progress");
    lb->progress = !native && lua_toboolean(L, -1);
    lua_pop(L, 1);
    const char *label = opt_string(L, 1, "label");
    lb->label = label ? xstrdup(label) : NULL;
    if (!lb->b) {
        lua_pushstring(L, err); /* a configuration message: no Lua position in front of it */
        return lua_error(L);
    }
    /* answers computed on a GPU (FP16 rounding) are kept apart from the CPU's */
    const char *device = native ? opt_string(L, 1, "device") : NULL;
    const char *cache_kind = device && strcmp(device, "cuda") == 0 ? "native-cuda" : kind;
    open_cache(L, &lb->b, cache_kind, native ? opt_string(L, 1, "path") : opt_string(L, 1, "model"));
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

/* Strings the C requests own (copies of until entries that were not strings). */
typedef struct owned_strings {
    char **items;
    size_t n, cap;
} owned_strings;

static char *own(owned_strings *o, char *s)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 16;
        o->items = xrealloc(o->items, o->cap * sizeof *o->items);
    }
    return o->items[o->n++] = s;
}

static char empty_string[] = "";

/* t[key] when it is a string, borrowed (alive while t is), else NULL. */
static char *field_borrow(lua_State *L, int t, const char *key)
{
    char *s = NULL;
    if (lua_getfield(L, t, key) == LUA_TSTRING) s = (char *)lua_tostring(L, -1);
    lua_pop(L, 1);
    return s;
}

/* The until list at the stack top into g: borrowed strings, in an array shared with the
   previous request when the lists are equal. */
static void read_until_list(lua_State *L, gen_args *g, const gen_args *prev, owned_strings *o)
{
    size_t n = (size_t)lua_rawlen(L, -1), k;
    char **list = xcalloc(n ? n : 1, sizeof *list);
    size_t count = 0;
    for (k = 0; k < n; k++) {
        int type = lua_rawgeti(L, -1, (lua_Integer)k + 1);
        if (type == LUA_TSTRING) list[count++] = (char *)lua_tostring(L, -1);
        else if (lua_tostring(L, -1)) list[count++] = own(o, xstrdup(lua_tostring(L, -1)));
        lua_pop(L, 1);
    }
    int same = prev && prev->until && prev->n_until == count;
    for (k = 0; same && k < count; k++) same = strcmp(prev->until[k], list[k]) == 0;
    if (same) {
        free(list);
        list = prev->until;
    }
    g->until = list;
    g->n_until = count;
}

static void read_until(lua_State *L, int t, gen_args *g, const gen_args *prev, owned_strings *o)
{
    if (lua_getfield(L, t, "until") == LUA_TTABLE) read_until_list(L, g, prev, o);
    lua_pop(L, 1);
}

/* Fill one C request from the Lua table at the stack top (prev: the request before it). */
static void read_request(lua_State *L, lua_Integer i, eval_request *r, const eval_request *prev,
                         owned_strings *o)
{
    int t = lua_gettop(L);
    if (!lua_istable(L, t)) luaL_error(L, "request %d is not a table", (int)i);
    lua_getfield(L, t, "kind");
    const char *kind = lua_tostring(L, -1);
    if (!kind) luaL_error(L, "request %d has no 'kind'", (int)i);
    r->kind = parse_kind(L, kind, i);
    lua_pop(L, 1);
    r->context = field_borrow(L, t, "context");
    if (!r->context) r->context = empty_string;
    r->continuation = field_borrow(L, t, "continuation");
    if (r->kind == REQ_LOGLIKELIHOOD && !r->continuation) r->continuation = empty_string;
    lua_getfield(L, t, "messages");
    if (lua_istable(L, -1)) {
        buf out = {0};
        char err[256];
        if (json_lua_encode(L, lua_gettop(L), &out, 0, err, sizeof err) != 0) {
            buf_free(&out);
            luaL_error(L, "request %d: messages: %s", (int)i, err);
        }
        r->messages_json = buf_steal(&out);
    }
    lua_pop(L, 1);
    r->gen.max_tokens = (int)opt_number(L, t, "max_tokens", 256);
    r->gen.temperature = opt_number(L, t, "temperature", 0.0);
    r->gen.top_p = opt_number(L, t, "top_p", -1.0);
    r->gen.seed = (int64_t)opt_number(L, t, "seed", -1.0);
    r->repeat = (int)opt_number(L, t, "repeat", 0);
    read_until(L, t, &r->gen, prev ? &prev->gen : NULL, o);
}

/* The Lua table of response r to request q (fields as in the header comment). */
static void push_response(lua_State *L, const eval_request *q, const eval_response *r)
{
    int ok = r->status == RESP_OK, gen = q->kind == REQ_GENERATE;
    int fields = 3 + (ok ? (gen ? (r->text != NULL) + (r->truncated != 0) : 2) : 1) +
                 (r->reasoning != NULL) + (r->attempts > 1);
    lua_createtable(L, 0, fields);
    lua_pushboolean(L, ok);
    lua_setfield(L, -2, "ok");
    if (ok && !gen) {
        lua_pushnumber(L, r->logprob);
        lua_setfield(L, -2, "logprob");
        lua_pushboolean(L, r->is_greedy);
        lua_setfield(L, -2, "is_greedy");
    }
    if (ok && gen && r->truncated) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "truncated");
    }
    if (r->context_truncated) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "context_truncated");
    }
    if (r->text) set_string(L, "text", r->text);
    if (r->reasoning) set_string(L, "reasoning", r->reasoning);
    if (r->error || !ok) set_string(L, "error", r->error ? r->error : "no response");
    set_int(L, "prompt_tokens", r->prompt_tokens);
    set_int(L, "completion_tokens", r->completion_tokens);
    if (r->attempts > 1) set_int(L, "attempts", r->attempts);
}

/* The protected part of b:run: the C arrays of one call. */
typedef struct run_ctx {
    eval_request *reqs;
    eval_response *resps;
    size_t n;
    owned_strings owned;
} run_ctx;

/* Free what the C arrays own: messages, until arrays (once per shared run of them), copies. */
static void free_requests(run_ctx *ctx)
{
    for (size_t i = 0; i < ctx->n; i++) {
        eval_request *r = &ctx->reqs[i];
        free(r->messages_json);
        if (r->gen.until && (i == 0 || ctx->reqs[i - 1].gen.until != r->gen.until)) free(r->gen.until);
        response_free(&ctx->resps[i]);
    }
    for (size_t k = 0; k < ctx->owned.n; k++) free(ctx->owned.items[k]);
    free(ctx->owned.items);
    free(ctx->reqs);
    free(ctx->resps);
}

static int read_requests_protected(lua_State *L)
{
    run_ctx *ctx = lua_touserdata(L, 1);
    for (size_t i = 0; i < ctx->n; i++) {
        lua_rawgeti(L, 2, (lua_Integer)i + 1);
        read_request(L, (lua_Integer)i + 1, &ctx->reqs[i], i ? &ctx->reqs[i - 1] : NULL, &ctx->owned);
        lua_settop(L, 2);
    }
    return 0;
}

/* Each request's task from opts.task_ends (arg 3): task k (0-based) ends at task_ends[k+1]. */
static void assign_tasks(lua_State *L, run_ctx *ctx)
{
    if (!lua_istable(L, 3)) return;
    if (lua_getfield(L, 3, "task_ends") == LUA_TTABLE) {
        size_t n_tasks = (size_t)lua_rawlen(L, -1), i = 0;
        for (size_t k = 0; k < n_tasks; k++) {
            lua_rawgeti(L, -1, (lua_Integer)k + 1);
            lua_Integer end = lua_tointeger(L, -1);
            lua_pop(L, 1);
            for (; i < ctx->n && (lua_Integer)i < end; i++) ctx->reqs[i].task = (int)k;
        }
    }
    lua_pop(L, 1);
}

/* A progress meter for this run: one task per name in opts.tasks (arg 3), else one task
   with the backend's label; each task's total counted from the requests' task indices. */
static progress *open_progress(lua_State *L, const lua_backend *lb, const run_ctx *ctx)
{
    if (!lb->progress || ctx->n == 0) return NULL;
    size_t n_tasks = 0;
    if (lua_istable(L, 3)) lua_getfield(L, 3, "tasks"); /* the names (or nil) at index 4 */
    else lua_pushnil(L);
    if (lua_istable(L, 4)) n_tasks = (size_t)lua_rawlen(L, 4);
    size_t *totals = xcalloc(n_tasks ? n_tasks : 1, sizeof *totals);
    for (size_t i = 0; i < ctx->n; i++) {
        size_t t = (size_t)ctx->reqs[i].task;
        totals[t < n_tasks ? t : 0]++;
    }
    progress *p = progress_open(stderr);
    for (size_t k = 0; k < (n_tasks ? n_tasks : 1); k++) {
        const char *name = lb->label ? lb->label : lb->b->vt->name;
        if (n_tasks) lua_rawgeti(L, 4, (lua_Integer)k + 1);
        if (n_tasks && lua_tostring(L, -1)) name = lua_tostring(L, -1);
        progress_add_task(p, name, totals[k]);
        if (n_tasks) lua_pop(L, 1);
    }
    lua_pop(L, 1);
    free(totals);
    return p;
}

/* b:run(requests [, opts]) -> responses, fatal_message|nil, interrupted (Ctrl-C stopped it) */
static int backend_run(lua_State *L)
{
    lua_backend *lb = check_backend(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    run_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.n = (size_t)lua_rawlen(L, 2);
    ctx.reqs = xcalloc(ctx.n ? ctx.n : 1, sizeof *ctx.reqs);
    ctx.resps = xcalloc(ctx.n ? ctx.n : 1, sizeof *ctx.resps);
    lua_pushcfunction(L, read_requests_protected);
    lua_pushlightuserdata(L, &ctx);
    lua_pushvalue(L, 2);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        free_requests(&ctx);
        return lua_error(L);
    }
    assign_tasks(L, &ctx);
    progress *p = open_progress(L, lb, &ctx);
    openai_backend_set_progress(lb->http, p);
    char err[1024] = "";
    int rc = lb->b->vt->run(lb->b, ctx.reqs, ctx.resps, ctx.n, err, sizeof err);
    openai_backend_set_progress(lb->http, NULL);
    progress_settle(p); /* what the backend never saw came from the cache */
    progress_finish(p);
    progress_free(p);
    lua_createtable(L, (int)ctx.n, 0);
    for (size_t i = 0; i < ctx.n; i++) {
        push_response(L, &ctx.reqs[i], &ctx.resps[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
        response_free(&ctx.resps[i]); /* the Lua table has its own copies now */
    }
    free_requests(&ctx);
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

/* The HTTP counters of b:stats(): attempts, batching, 429s, and one entry per endpoint. */
static void push_http_stats(lua_State *L, const backend *http)
{
    const openai_counters *c = openai_backend_counters(http);
    if (!c) return;
    set_int(L, "http_requests", c->http_requests);
    set_int(L, "batched", c->batched);
    set_int(L, "throttled", c->throttled);
    set_int(L, "batch_splits", c->splits);
    openai_endpoint_stats eps[64];
    size_t n = openai_backend_endpoints(http, eps, 64);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n && i < 64; i++) {
        lua_createtable(L, 0, 5);
        set_string(L, "url", eps[i].url);
        set_int(L, "requests", eps[i].requests);
        set_int(L, "failures", eps[i].failures);
        set_int(L, "throttled", eps[i].throttled);
        lua_pushnumber(L, eps[i].mean_latency_s * 1000.0);
        lua_setfield(L, -2, "mean_latency_ms");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "endpoints");
}

/* b:stats() -> table of the backend's counters (endpoints = {{url=, requests=, failures=,
   throttled=, mean_latency_ms=}, ...} for an HTTP backend) */
static int backend_stats_get(lua_State *L)
{
    lua_backend *lb = check_backend(L);
    const backend_stats *s = &lb->b->stats;
    lua_createtable(L, 0, 12);
    set_int(L, "requests", s->requests);
    set_int(L, "cached", s->cached);
    set_int(L, "failed", s->failed);
    set_int(L, "retries", s->retries);
    set_int(L, "prompt_tokens", s->prompt_tokens);
    set_int(L, "completion_tokens", s->completion_tokens);
    set_number(L, "wall_seconds", s->wall_seconds);
    if (lb->http) push_http_stats(L, lb->http);
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
    lua_createtable(L, 0, 18);
    set_string(L, "arch", info.arch);
    set_string(L, "chat_format", info.chat_format ? info.chat_format : "unknown");
    set_int(L, "ctx", info.ctx);
    set_int(L, "threads", info.threads);
    set_number(L, "load_seconds", info.load_seconds);
    set_int(L, "model_bytes", (lua_Integer)info.model_bytes);
    set_int(L, "peak_rss_bytes", (lua_Integer)info.peak_rss_bytes);
    set_int(L, "truncated", info.truncated);
    set_int(L, "tokens_evaluated", info.tokens_evaluated);
    set_int(L, "tokens_reused", info.tokens_reused);
    set_number(L, "prefill_tokens_per_second",
               info.prefill_seconds > 0 ? info.prefill_tokens / info.prefill_seconds : 0);
    set_number(L, "decode_tokens_per_second",
               info.decode_seconds > 0 ? info.decode_tokens / info.decode_seconds : 0);
    set_int(L, "prefill_tokens", info.prefill_tokens);
    set_number(L, "prefill_seconds", info.prefill_seconds);
    set_int(L, "decode_tokens", info.decode_tokens);
    set_number(L, "decode_seconds", info.decode_seconds);
    return 1;
}

static int backend_gc(lua_State *L)
{
    lua_backend *lb = luaL_checkudata(L, 1, BACKEND_MT);
    if (lb->b) lb->b->vt->destroy(lb->b);
    lb->b = NULL;
    lb->native = NULL;
    lb->http = NULL;
    free(lb->label);
    lb->label = NULL;
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
