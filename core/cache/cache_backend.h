/* cache_backend.h — a backend that answers from the response cache first.
 *
 * The wrapper has the inner backend's name and kinds. Its run() looks every request up in
 * the cache (hits count in stats.cached and never reach the inner backend), sends all the
 * misses to the inner backend in one run() call, and stores each answer the moment it is
 * final through the inner backend's on_response hook (request.h) — so a run that is killed
 * keeps every response answered before the kill, up to the cache's batching window
 * (cache.h). Failed responses are never stored. Answers the inner backend did not report
 * through the hook are stored when its run() returns.
 *
 * A cache error (disk full, a locked or corrupt file) never fails the run: it is reported
 * once on stderr and the wrapper carries on without the cache. */
#ifndef EVALLUA_CACHE_CACHE_BACKEND_H
#define EVALLUA_CACHE_CACHE_BACKEND_H

#include "cache/cache.h"
#include "request/request.h"

/* Wrap inner with cache c for endpoint kind (e.g. "openai-completions") and model (the name
   sent to the server). Takes ownership of inner and c: the wrapper's destroy() destroys
   inner and closes c. kind and model are copied. Never fails. */
backend *cache_backend_wrap(backend *inner, cache *c, const char *kind, const char *model);
/* The cache file of a wrapper made by cache_backend_wrap, NULL for any other backend. */
const char *cache_backend_path(const backend *b);

#endif
