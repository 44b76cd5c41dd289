/* cache_backend.c — the caching decorator of cache_backend.h. */
#include "cache_backend.h"
#include "util/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/buf.h"

typedef struct cache_backend {
    backend base;            /* first member: a backend * is a cache_backend * */
    backend_vtable vt;       /* the inner backend's name and kinds, our run and destroy */
    backend *inner;
    cache *c;
    char *kind, *model;
    int64_t hits;            /* requests answered from the cache, over all runs */
    double wall_seconds;
    int broken;              /* a cache error was reported: no more cache calls */
    /* the run in progress */
    const eval_request *sent; /* the misses handed to the inner backend */
    const size_t *miss;       /* sent[j] is the run's request miss[j] ... */
    uint8_t (*keys)[SHA256_DIGEST_LEN]; /* ... whose cache key is keys[miss[j]] */
    unsigned char *stored;    /* stored[j]: sent[j]'s response went through the hook */
} cache_backend;

/* Report a cache error once and stop using the cache. */
static void cache_broke(cache_backend *cb, const char *msg)
{
    if (cb->broken) return;
    cb->broken = 1;
    fprintf(stderr, "evallua: warning: %s; continuing without the response cache\n", msg);
}

/* Store the answer r to sent[j]. */
static void store(cache_backend *cb, size_t j, const eval_response *r)
{
    char err[512];
    if (cb->broken || r->status != RESP_OK) return;
    if (cache_put_key(cb->c, cb->keys[cb->miss[j]], cb->kind, cb->model, &cb->sent[j], r, err,
                      sizeof err) != 0)
        cache_broke(cb, err);
}

/* The inner backend's on_response hook: store the answer now. */
static void on_inner_response(void *ud, size_t j, const eval_response *r)
{
    cache_backend *cb = ud;
    store(cb, j, r);
    cb->stored[j] = 1;
}

/* Answer what the cache holds (the keys of all go to cb->keys); the others' indices go to
   miss. Returns the miss count. */
static size_t lookup_all(cache_backend *cb, const eval_request *reqs, eval_response *resps,
                         size_t n, size_t *miss)
{
    size_t m = 0;
    char err[512];
    unsigned char *hit = xcalloc(n ? n : 1, 1);
    int64_t hits = cb->broken ? 0 : cache_get_all(cb->c, cb->kind, cb->model, reqs, resps, n, cb->keys,
                                                 hit, err, sizeof err);
    if (hits < 0) { /* nothing from the cache then: undo the hits before the error */
        cache_broke(cb, err);
        for (size_t i = 0; i < n; i++)
            if (hit[i]) response_free(&resps[i]);
        memset(hit, 0, n);
    }
    for (size_t i = 0; i < n; i++) {
        if (hit[i]) cb->hits++;
        else miss[m++] = i;
    }
    free(hit);
    return m;
}

/* Send the m requests reqs[miss[.]] to the inner backend in one run(); move the answers. */
static int run_misses(cache_backend *cb, const eval_request *reqs, eval_response *resps,
                      const size_t *miss, size_t m, char *err, size_t errlen)
{
    eval_request *sent = xmalloc(m * sizeof *sent);
    eval_response *got = xcalloc(m, sizeof *got);
    cb->stored = xcalloc(m, 1);
    for (size_t j = 0; j < m; j++) sent[j] = reqs[miss[j]]; /* shallow: strings stay the caller's */
    cb->sent = sent;
    cb->miss = miss;
    cb->inner->on_response = on_inner_response;
    cb->inner->on_response_ud = cb;
    int rc = cb->inner->vt->run(cb->inner, sent, got, m, err, errlen);
    cb->inner->on_response = NULL;
    cb->inner->on_response_ud = NULL;
    for (size_t j = 0; j < m; j++) {
        if (!cb->stored[j]) store(cb, j, &got[j]);
        resps[miss[j]] = got[j]; /* ownership of the strings moves */
    }
    free(cb->stored);
    cb->stored = NULL;
    cb->sent = NULL;
    cb->miss = NULL;
    free(got);
    free(sent);
    return rc;
}

/* Our counters: the inner backend's, plus the cache hits. */
static void update_stats(cache_backend *cb)
{
    cb->base.stats = cb->inner->stats;
    cb->base.stats.requests += cb->hits;
    cb->base.stats.cached = cb->hits;
    cb->base.stats.wall_seconds = cb->wall_seconds;
}

static int cb_run(backend *base, const eval_request *reqs, eval_response *resps, size_t n,
                  char *err, size_t errlen)
{
    cache_backend *cb = (cache_backend *)base;
    double t0 = mono_seconds();
    int rc = 0;
    if (n) memset(resps, 0, n * sizeof *resps);
    size_t *miss = xmalloc((n ? n : 1) * sizeof *miss);
    cb->keys = xmalloc((n ? n : 1) * sizeof *cb->keys); /* 32 bytes a request: hashed once */
    size_t m = lookup_all(cb, reqs, resps, n, miss);
    if (m) rc = run_misses(cb, reqs, resps, miss, m, err, errlen);
    free(cb->keys);
    cb->keys = NULL;
    free(miss);
    char ferr[512];
    if (!cb->broken && cache_flush(cb->c, ferr, sizeof ferr) != 0) cache_broke(cb, ferr);
    cb->wall_seconds += mono_seconds() - t0;
    update_stats(cb);
    return rc;
}

static void cb_destroy(backend *base)
{
    cache_backend *cb = (cache_backend *)base;
    if (!cb) return;
    if (cb->inner) cb->inner->vt->destroy(cb->inner);
    cache_close(cb->c);
    free(cb->kind);
    free(cb->model);
    free(cb);
}

backend *cache_backend_wrap(backend *inner, cache *c, const char *kind, const char *model)
{
    cache_backend *cb = xcalloc(1, sizeof *cb);
    cb->vt.name = inner->vt->name;
    cb->vt.kinds = inner->vt->kinds;
    cb->vt.run = cb_run;
    cb->vt.destroy = cb_destroy;
    cb->base.vt = &cb->vt;
    cb->inner = inner;
    cb->c = c;
    cb->kind = xstrdup(kind);
    cb->model = xstrdup(model);
    update_stats(cb);
    return &cb->base;
}

const char *cache_backend_path(const backend *b)
{
    if (!b || b->vt->run != cb_run) return NULL;
    return cache_path(((const cache_backend *)b)->c);
}
