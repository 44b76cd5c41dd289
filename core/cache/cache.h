/* cache.h — the response cache: one SQLite file of answered requests, so a rerun (after a
 * crash, Ctrl-C, or just the same command again) sends only what was never answered.
 *
 * Key. SHA-256 of a canonical serialization of what decides a response:
 *   the endpoint kind ("openai-completions" / "openai-chat"), the model name, and the
 *   request: kind, context, continuation, messages_json, the until list, max_tokens,
 *   temperature, top_p, seed — and, for a sampled request (generate with temperature > 0),
 *   its repeat index, so each of N samples of one prompt has its own entry.
 * Every field is written as NAME '=' LENGTH ':' BYTES '\n' (an absent string as NAME '!'
 * '\n'; numbers as decimal text, doubles with %.17g), after the tag "evallua-cache/1\n", so
 * distinct requests never serialize alike. The API key and the base URL are deliberately
 * NOT part of the key: the same model behind another URL, a proxy, a replica or a rotated
 * key gives the same answers, and a key must never reach a file. Consequence: two
 * different models served under the same name at different URLs share entries — give them
 * distinct names or separate caches (--cache PATH).
 *
 * Values. Only RESP_OK responses are stored (a failure is retried by the next run):
 * logprob, is_greedy, text, reasoning, prompt and completion token counts, created time.
 *
 * Storage. One table `responses`, one row per key: the 32-byte hash, found through a
 * unique index on its first 64 bits (and compared whole), rows appended in arrival order —
 * cache.c says why. WAL mode, synchronous=NORMAL, busy timeout 10 s, so several evallua
 * processes can share one file (and `sqlite3 FILE` can inspect it).
 * Writes are batched off the caller's thread: cache_put only queues the answer (it never
 * waits for the database or another process's write lock); a writer thread writes the
 * queue in one transaction when it holds CACHE_BATCH_ROWS rows or CACHE_BATCH_MS after its
 * oldest row arrived — and at once when nothing was written for CACHE_BATCH_MS, so a slow
 * stream of answers is written one by one as it comes. So there are at most ~1000 /
 * CACHE_BATCH_MS commits a second plus one per CACHE_BATCH_ROWS rows, and a SIGKILL loses
 * at most the answers of the last CACHE_BATCH_MS (measured: tests/unit/test_cache.c,
 * tests/e2e/test_cache.sh). A written row survives any process death (a power loss may
 * drop the last commits: synchronous=NORMAL). cache_get, cache_flush, the statistics and
 * cache_close first write what is queued.
 *
 * Threads: every function may be called from any thread; calls are serialized inside. */
#ifndef EVALLUA_CACHE_CACHE_H
#define EVALLUA_CACHE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "cache/sha256.h"
#include "request/request.h"

#define CACHE_BATCH_ROWS 256 /* queued answers are written once there are this many, */
#define CACHE_BATCH_MS 100   /* or this long after the oldest of them arrived */

typedef struct cache cache;

/* Default cache file: $XDG_CACHE_HOME/evallua/responses.sqlite, else
   $HOME/.cache/evallua/responses.sqlite; NULL when neither variable is set. Caller frees. */
char *cache_default_path(void);
/* Open (creating it and its parent directories) the cache at path; NULL with err filled
   (naming the path). Close with cache_close. */
cache *cache_open(const char *path, char *err, size_t errlen);
/* The file the cache was opened from (owned by the cache). */
const char *cache_path(const cache *c);
/* The 32-byte key of req for endpoint kind and model (see above). */
void cache_key(const char *kind, const char *model, const eval_request *req,
               uint8_t key[SHA256_DIGEST_LEN]);
/* Look req up: 1 on a hit (resp overwritten: RESP_OK, its strings owned by resp, attempts
   0), 0 on a miss (resp untouched), -1 on an error (err filled). */
int cache_get(cache *c, const char *kind, const char *model, const eval_request *req,
              eval_response *resp, char *err, size_t errlen);
/* Look up reqs[0..n) in one read transaction: keys[i] gets each one's key (for
   cache_put_key), hit[i] 1 when resps[i] was filled from the cache (as cache_get does), 0
   when resps[i] was left untouched. Returns the number of hits, or -1 with err filled (hit
   then says which resps were filled before the error). No cache_put may run meanwhile. */
int64_t cache_get_all(cache *c, const char *kind, const char *model, const eval_request *reqs,
                      eval_response *resps, size_t n, uint8_t (*keys)[SHA256_DIGEST_LEN],
                      unsigned char *hit, char *err, size_t errlen);
/* cache_put for a request whose key (cache_key of kind, model, req) is known already. */
int cache_put_key(cache *c, const uint8_t key[SHA256_DIGEST_LEN], const char *kind, const char *model,
                  const eval_request *req, const eval_response *resp, char *err, size_t errlen);
/* Queue resp as the answer to req (replacing an older one); it is written per the batching
   above. A response that is not RESP_OK is not stored (returns 0). -1 with err filled when
   an earlier write of the writer thread failed (those rows were not stored). */
int cache_put(cache *c, const char *kind, const char *model, const eval_request *req,
              const eval_response *resp, char *err, size_t errlen);
/* Write everything queued so far, now; -1 with err filled on an error. */
int cache_flush(cache *c, char *err, size_t errlen);
/* Rows stored, and bytes the cache takes on disk (the database and its WAL file). */
int cache_stats(cache *c, int64_t *rows, int64_t *bytes, char *err, size_t errlen);
/* Call fn once per (endpoint kind, model) with its row count, ordered by model. */
int cache_each_model(cache *c, void (*fn)(void *ud, const char *kind, const char *model, int64_t rows),
                     void *ud, char *err, size_t errlen);
/* Delete every row and shrink the file; *removed (may be NULL) gets the row count. */
int cache_clear(cache *c, int64_t *removed, char *err, size_t errlen);
/* Write what is queued, stop the writer thread and close the file; NULL is a no-op. A
   failure of the final write is reported on stderr (there is no caller left to tell). */
void cache_close(cache *c);

#endif
