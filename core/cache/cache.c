/* cache.c — the SQLite response cache (see cache.h for the key, the values and the
 * durability contract).
 *
 * cache_put never touches SQLite: it hashes the request, copies the answer into a queue
 * and returns, so an HTTP loop calling it is never held up by the database or by another
 * process's write lock. A writer thread writes the queue in one transaction when it holds
 * CACHE_BATCH_ROWS rows, CACHE_BATCH_MS after its oldest row arrived, or at once when
 * nothing was written for CACHE_BATCH_MS; cache_flush, cache_get and cache_close write it
 * synchronously. Locks: db_mu (the connection) is taken before mu (the queue), never after. */
#include "cache.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util/buf.h"

#define CACHE_SCHEMA_VERSION 1
#define CACHE_BUSY_MS 10000
#define CACHE_KEY_TAG "evallua-cache/1\n"

/* An answer waiting in the queue; owns its strings. */
typedef struct cache_row {
    uint8_t key[SHA256_DIGEST_LEN];
    char *kind, *model, *text, *reasoning;
    int req_kind, is_greedy, prompt_tokens, completion_tokens;
    double logprob;
    int64_t created;
} cache_row;

struct cache {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *get, *put;
    pthread_mutex_t db_mu;     /* the connection and its statements */
    pthread_mutex_t mu;        /* everything below */
    pthread_cond_t cv;         /* wakes the writer */
    pthread_t writer;
    int writer_started, closing;
    cache_row *queue;          /* answers not yet written, in arrival order */
    size_t queue_len, queue_cap;
    int write_now;             /* the queue is full, or came after a quiet spell */
    struct timespec queue_due; /* CLOCK_MONOTONIC: write the queue by then */
    struct timespec quiet;     /* a row arriving after this is written at once */
    char write_err[512];       /* an error of the writer thread, for the next caller */
};

/* Rows are appended in arrival order (id), and found through a unique index on the key's
   first 64 bits; the full 256-bit key is stored and compared on every lookup, so a prefix
   collision (p ~ n^2 / 2^65) costs a re-request, never a wrong answer. Measured with 200k
   rows in batches of 256, this layout stores a row in ~9 us where a WITHOUT ROWID table
   keyed by the 32-byte blob takes ~16 us: random keys dirty one page per row, and the
   64-bit index has 2.5x fewer pages than a table of whole rows. */
static const char cache_schema[] =
    "CREATE TABLE IF NOT EXISTS responses ("
    " id INTEGER PRIMARY KEY,"
    " key_prefix INTEGER NOT NULL UNIQUE," /* key bytes 0..7, big-endian, as int64 */
    " key BLOB NOT NULL,"               /* SHA-256 of the canonical request, cache.h */
    " endpoint TEXT NOT NULL,"          /* openai-completions | openai-chat */
    " model TEXT NOT NULL,"
    " request_kind INTEGER NOT NULL,"   /* req_kind */
    " logprob REAL NOT NULL,"
    " is_greedy INTEGER NOT NULL,"
    " text TEXT,"
    " reasoning TEXT,"
    " prompt_tokens INTEGER NOT NULL,"
    " completion_tokens INTEGER NOT NULL,"
    " created INTEGER NOT NULL"         /* unix seconds */
    ")";

static int db_fail(cache *c, char *err, size_t errlen, const char *what)
{
    return errf(err, errlen, "response cache %s: %s: %s", c->path, what, sqlite3_errmsg(c->db));
}

static int db_exec(cache *c, const char *sql, char *err, size_t errlen)
{
    if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK) return db_fail(c, err, errlen, sql);
    return 0;
}

char *cache_default_path(void)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    buf p = {0};
    if (xdg && xdg[0] == '/') buf_printf(&p, "%s/evallua/responses.sqlite", xdg); /* XDG: absolute only */
    else if (home && *home) buf_printf(&p, "%s/.cache/evallua/responses.sqlite", home);
    else return NULL;
    return buf_steal(&p);
}

/* mkdir -p of the directory part of path. */
static int mkdir_parents(const char *path, char *err, size_t errlen)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        for (char *p = dir + 1; rc == 0; p++) {
            if (*p != '/' && *p != '\0') continue;
            char saved = *p;
            *p = '\0';
            if (mkdir(dir, 0755) != 0 && errno != EEXIST)
                rc = errf(err, errlen, "cannot create the cache directory %s: %s", dir, strerror(errno));
            *p = saved;
            if (saved == '\0') break;
        }
    }
    free(dir);
    return rc;
}

/* ---- time ----------------------------------------------------------------------------- */

static void due_after_ms(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static int time_passed(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/* ---- the key ----------------------------------------------------------------------- */

/* v in decimal at out (room for 21 bytes); returns the length. The same text as "%lld". */
static size_t put_decimal(char *out, long long v)
{
    char rev[24];
    size_t n = 0, len = 0;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do {
        rev[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) out[len++] = '-';
    while (n) out[len++] = rev[--n];
    return len;
}

/* NAME '=' LENGTH ':' BYTES '\n', or NAME '!' '\n' for an absent string (no printf: this
   runs twice per request of a run). */
static void key_field(sha256_ctx *h, const char *name, const char *s, size_t n)
{
    char head[64];
    size_t k = strlen(name);
    memcpy(head, name, k);
    if (!s) {
        memcpy(head + k, "!\n", 2);
        sha256_update(h, head, k + 2);
        return;
    }
    head[k++] = '=';
    k += put_decimal(head + k, (long long)n);
    head[k++] = ':';
    sha256_update(h, head, k);
    sha256_update(h, s, n);
    sha256_update(h, "\n", 1);
}

static void key_str(sha256_ctx *h, const char *name, const char *s)
{
    key_field(h, name, s, s ? strlen(s) : 0);
}

static void key_int(sha256_ctx *h, const char *name, long long v)
{
    char num[24];
    key_field(h, name, num, put_decimal(num, v));
}

/* A double as "%.17g" writes it; whole numbers below 1e15 (temperature 0, top_p 1, ...)
   without printf, which prints them as plain digits too. */
static void key_real(sha256_ctx *h, const char *name, double v)
{
    char num[40];
    if (v == 0) v = 0; /* -0 and 0 are one value */
    if (fabs(v) < 1e15 && v == (double)(long long)v) {
        key_field(h, name, num, put_decimal(num, (long long)v));
        return;
    }
    int n = snprintf(num, sizeof num, "%.17g", v);
    key_field(h, name, num, (size_t)n);
}

void cache_key(const char *kind, const char *model, const eval_request *req,
               uint8_t key[SHA256_DIGEST_LEN])
{
    sha256_ctx h;
    sha256_init(&h);
    sha256_update(&h, CACHE_KEY_TAG, strlen(CACHE_KEY_TAG));
    key_str(&h, "endpoint", kind);
    key_str(&h, "model", model);
    key_str(&h, "kind", req_kind_name(req->kind));
    key_str(&h, "context", req->context);
    key_str(&h, "continuation", req->continuation);
    key_str(&h, "messages", req->messages_json);
    key_int(&h, "until", (long long)req->gen.n_until);
    for (size_t i = 0; i < req->gen.n_until; i++) key_str(&h, "stop", req->gen.until[i]);
    key_int(&h, "max_tokens", req->gen.max_tokens);
    key_real(&h, "temperature", req->gen.temperature);
    key_real(&h, "top_p", req->gen.top_p);
    key_int(&h, "seed", (long long)req->gen.seed);
    if (req->kind == REQ_GENERATE && req->gen.temperature > 0) key_int(&h, "repeat", req->repeat);
    else key_str(&h, "repeat", NULL); /* greedy answers are the same for every repeat */
    sha256_final(&h, key);
}

/* The key's first 8 bytes, big-endian, as the signed 64-bit value SQLite indexes. */
static sqlite3_int64 key_prefix(const uint8_t *key)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | key[i];
    int64_t s;
    memcpy(&s, &v, sizeof s); /* the same bits, read as signed */
    return (sqlite3_int64)s;
}

/* ---- writing the queue ---------------------------------------------------------------- */

static void row_free(cache_row *r)
{
    free(r->kind);
    free(r->model);
    free(r->text);
    free(r->reasoning);
}

static int bind_text_or_null(sqlite3_stmt *st, int col, const char *s)
{
    return s ? sqlite3_bind_text(st, col, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, col);
}

/* Insert one row (db_mu held, inside a transaction). */
static int insert_row(cache *c, const cache_row *r)
{
    sqlite3_stmt *st = c->put;
    int rc = sqlite3_bind_int64(st, 1, key_prefix(r->key));
    if (rc == SQLITE_OK) rc = sqlite3_bind_blob(st, 2, r->key, SHA256_DIGEST_LEN, SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 3, r->kind, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 4, r->model, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int(st, 5, r->req_kind);
    if (rc == SQLITE_OK) rc = sqlite3_bind_double(st, 6, r->logprob);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int(st, 7, r->is_greedy);
    if (rc == SQLITE_OK) rc = bind_text_or_null(st, 8, r->text);
    if (rc == SQLITE_OK) rc = bind_text_or_null(st, 9, r->reasoning);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int(st, 10, r->prompt_tokens);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int(st, 11, r->completion_tokens);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 12, (sqlite3_int64)r->created);
    if (rc == SQLITE_OK) rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* Write n rows in one transaction (db_mu held); on failure none is kept. */
static int write_rows(cache *c, const cache_row *rows, size_t n, char *err, size_t errlen)
{
    char what[64];
    snprintf(what, sizeof what, "cannot store %zu responses", n);
    if (db_exec(c, "BEGIN IMMEDIATE", err, errlen) != 0) return -1;
    for (size_t i = 0; i < n; i++) {
        if (insert_row(c, &rows[i]) != SQLITE_OK) {
            db_fail(c, err, errlen, what);
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(c, err, errlen, what);
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

/* Write everything queued so far, on the calling thread. */
static int write_queue(cache *c, char *err, size_t errlen)
{
    pthread_mutex_lock(&c->db_mu);
    pthread_mutex_lock(&c->mu);
    cache_row *rows = c->queue;
    size_t n = c->queue_len;
    c->queue = NULL;
    c->queue_len = c->queue_cap = 0;
    c->write_now = 0;
    due_after_ms(&c->quiet, CACHE_BATCH_MS);
    pthread_mutex_unlock(&c->mu);
    int rc = n ? write_rows(c, rows, n, err, errlen) : 0;
    pthread_mutex_unlock(&c->db_mu);
    for (size_t i = 0; i < n; i++) row_free(&rows[i]);
    free(rows);
    return rc;
}

/* An error the writer thread met, handed to the caller once (mu held). */
static int take_write_err(cache *c, char *err, size_t errlen)
{
    if (!c->write_err[0]) return 0;
    errf(err, errlen, "%s", c->write_err);
    c->write_err[0] = '\0';
    return -1;
}

/* The writer thread: writes the queue when it is full, due, or follows a quiet spell. */
static void *writer_main(void *arg)
{
    cache *c = arg;
    char err[512];
    pthread_mutex_lock(&c->mu);
    while (!c->closing) {
        if (!c->queue_len) {
            pthread_cond_wait(&c->cv, &c->mu);
            continue;
        }
        if (!c->write_now && !time_passed(&c->queue_due)) {
            struct timespec due = c->queue_due;
            pthread_cond_timedwait(&c->cv, &c->mu, &due);
            continue;
        }
        pthread_mutex_unlock(&c->mu);
        int rc = write_queue(c, err, sizeof err);
        pthread_mutex_lock(&c->mu);
        if (rc != 0) snprintf(c->write_err, sizeof c->write_err, "%s", err);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* ---- opening ----------------------------------------------------------------------- */

/* Pragmas, schema and statements; the connection is open. */
static int setup_db(cache *c, char *err, size_t errlen)
{
    sqlite3_busy_timeout(c->db, CACHE_BUSY_MS);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK)
        return db_fail(c, err, errlen, "cannot read it (is it an SQLite file?)");
    const char *mode = sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    int wal = mode && strcmp(mode, "wal") == 0;
    sqlite3_finalize(st);
    if (!wal) return db_fail(c, err, errlen, "cannot switch to WAL mode");
    if (db_exec(c, "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536; "
                   "PRAGMA wal_autocheckpoint=4096", err, errlen) != 0) return -1;
    if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return db_fail(c, err, errlen, "cannot read the schema version");
    int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (version > CACHE_SCHEMA_VERSION)
        return errf(err, errlen, "response cache %s: written by a newer evallua (schema %d, this "
                    "one reads %d); use another --cache PATH", c->path, version, CACHE_SCHEMA_VERSION);
    if (db_exec(c, cache_schema, err, errlen) != 0) return -1;
    if (version < CACHE_SCHEMA_VERSION && db_exec(c, "PRAGMA user_version=1", err, errlen) != 0) return -1;
    if (sqlite3_prepare_v3(c->db, "SELECT logprob, is_greedy, text, reasoning, prompt_tokens, "
                           "completion_tokens FROM responses WHERE key_prefix = ?1 AND key = ?2", -1,
                           SQLITE_PREPARE_PERSISTENT, &c->get, NULL) != SQLITE_OK)
        return db_fail(c, err, errlen, "cannot prepare the lookup");
    if (sqlite3_prepare_v3(c->db, "INSERT OR REPLACE INTO responses (key_prefix, key, endpoint, "
                           "model, request_kind, logprob, is_greedy, text, reasoning, prompt_tokens, "
                           "completion_tokens, created) VALUES "
                           "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)", -1,
                           SQLITE_PREPARE_PERSISTENT, &c->put, NULL) != SQLITE_OK)
        return db_fail(c, err, errlen, "cannot prepare the insert");
    return 0;
}

static void cache_free(cache *c)
{
    sqlite3_finalize(c->get);
    sqlite3_finalize(c->put);
    if (c->db && sqlite3_close(c->db) != SQLITE_OK)
        fprintf(stderr, "evallua: response cache %s: close: %s\n", c->path, sqlite3_errmsg(c->db));
    for (size_t i = 0; i < c->queue_len; i++) row_free(&c->queue[i]);
    free(c->queue);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->db_mu);
    free(c->path);
    free(c);
}

static void init_sync(cache *c)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->db_mu, NULL);
}

cache *cache_open(const char *path, char *err, size_t errlen)
{
    if (!path || !*path) {
        errf(err, errlen, "response cache: empty path");
        return NULL;
    }
    if (mkdir_parents(path, err, errlen) != 0) return NULL;
    cache *c = xcalloc(1, sizeof *c);
    c->path = xstrdup(path);
    init_sync(c);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
        db_fail(c, err, errlen, "cannot open");
        goto fail;
    }
    if (setup_db(c, err, errlen) != 0) goto fail;
    if (pthread_create(&c->writer, NULL, writer_main, c) != 0) {
        errf(err, errlen, "response cache %s: cannot start its writer thread", path);
        goto fail;
    }
    c->writer_started = 1;
    return c;
fail:
    cache_free(c);
    return NULL;
}

const char *cache_path(const cache *c) { return c->path; }

/* ---- lookups and stores ----------------------------------------------------------------- */

static char *column_strdup(sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL) return NULL;
    const char *s = (const char *)sqlite3_column_text(st, col);
    return xstrndup(s ? s : "", (size_t)sqlite3_column_bytes(st, col));
}

static void fill_response(sqlite3_stmt *st, eval_response *resp)
{
    response_free(resp);
    resp->status = RESP_OK;
    resp->logprob = sqlite3_column_double(st, 0);
    resp->is_greedy = sqlite3_column_int(st, 1);
    resp->text = column_strdup(st, 2);
    resp->reasoning = column_strdup(st, 3);
    resp->prompt_tokens = sqlite3_column_int(st, 4);
    resp->completion_tokens = sqlite3_column_int(st, 5);
}

/* Look key up (db_mu held): 1 hit, 0 miss, -1 error. */
static int lookup(cache *c, const uint8_t *key, eval_response *resp, char *err, size_t errlen)
{
    int rc = 0;
    if (sqlite3_bind_int64(c->get, 1, key_prefix(key)) != SQLITE_OK ||
        sqlite3_bind_blob(c->get, 2, key, SHA256_DIGEST_LEN, SQLITE_STATIC) != SQLITE_OK) {
        rc = db_fail(c, err, errlen, "lookup");
    } else {
        int step = sqlite3_step(c->get);
        if (step == SQLITE_ROW) {
            fill_response(c->get, resp);
            rc = 1;
        } else if (step != SQLITE_DONE) {
            rc = db_fail(c, err, errlen, "lookup");
        }
    }
    sqlite3_reset(c->get);
    sqlite3_clear_bindings(c->get);
    return rc;
}

/* Write what is queued first, so that a lookup sees every put. */
static int flush_queued(cache *c, char *err, size_t errlen)
{
    pthread_mutex_lock(&c->mu);
    size_t queued = c->queue_len;
    pthread_mutex_unlock(&c->mu);
    return queued ? write_queue(c, err, errlen) : 0;
}

int cache_get(cache *c, const char *kind, const char *model, const eval_request *req,
              eval_response *resp, char *err, size_t errlen)
{
    uint8_t key[SHA256_DIGEST_LEN];
    cache_key(kind, model, req, key);
    if (flush_queued(c, err, errlen) != 0) return -1;
    pthread_mutex_lock(&c->db_mu);
    int rc = lookup(c, key, resp, err, errlen);
    pthread_mutex_unlock(&c->db_mu);
    return rc;
}

int64_t cache_get_all(cache *c, const char *kind, const char *model, const eval_request *reqs,
                      eval_response *resps, size_t n, uint8_t (*keys)[SHA256_DIGEST_LEN],
                      unsigned char *hit, char *err, size_t errlen)
{
    if (flush_queued(c, err, errlen) != 0) return -1;
    int64_t hits = 0;
    pthread_mutex_lock(&c->db_mu);
    /* one read transaction: a lookup of its own would take and drop the WAL read lock */
    if (db_exec(c, "BEGIN", err, errlen) != 0) hits = -1;
    for (size_t i = 0; hits >= 0 && i < n; i++) {
        cache_key(kind, model, &reqs[i], keys[i]);
        int rc = lookup(c, keys[i], &resps[i], err, errlen);
        hit[i] = rc == 1;
        hits = rc < 0 ? -1 : hits + rc;
    }
    if (sqlite3_get_autocommit(c->db) == 0) sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    pthread_mutex_unlock(&c->db_mu);
    return hits;
}

static void fill_row(cache_row *r, const uint8_t *key, const char *kind, const char *model,
                     const eval_request *req, const eval_response *resp)
{
    memcpy(r->key, key, SHA256_DIGEST_LEN);
    r->kind = xstrdup(kind);
    r->model = xstrdup(model);
    r->text = resp->text ? xstrdup(resp->text) : NULL;
    r->reasoning = resp->reasoning ? xstrdup(resp->reasoning) : NULL;
    r->req_kind = (int)req->kind;
    r->is_greedy = resp->is_greedy != 0;
    r->prompt_tokens = resp->prompt_tokens;
    r->completion_tokens = resp->completion_tokens;
    r->logprob = resp->logprob;
    r->created = (int64_t)time(NULL);
}

int cache_put_key(cache *c, const uint8_t key[SHA256_DIGEST_LEN], const char *kind, const char *model,
                  const eval_request *req, const eval_response *resp, char *err, size_t errlen)
{
    if (resp->status != RESP_OK) return 0;
    cache_row row;
    fill_row(&row, key, kind, model, req, resp);
    pthread_mutex_lock(&c->mu);
    if (c->queue_len == c->queue_cap) {
        c->queue_cap = c->queue_cap ? 2 * c->queue_cap : CACHE_BATCH_ROWS;
        c->queue = xrealloc(c->queue, c->queue_cap * sizeof *c->queue);
    }
    c->queue[c->queue_len++] = row;
    if (c->queue_len == 1) due_after_ms(&c->queue_due, CACHE_BATCH_MS);
    int wake = c->queue_len == 1;
    if (!c->write_now && (c->queue_len >= CACHE_BATCH_ROWS || time_passed(&c->quiet)))
        c->write_now = wake = 1;
    if (wake) pthread_cond_signal(&c->cv);
    int rc = take_write_err(c, err, errlen);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int cache_put(cache *c, const char *kind, const char *model, const eval_request *req,
              const eval_response *resp, char *err, size_t errlen)
{
    if (resp->status != RESP_OK) return 0;
    uint8_t key[SHA256_DIGEST_LEN];
    cache_key(kind, model, req, key);
    return cache_put_key(c, key, kind, model, req, resp, err, errlen);
}

int cache_flush(cache *c, char *err, size_t errlen)
{
    int rc = write_queue(c, err, errlen);
    pthread_mutex_lock(&c->mu);
    if (rc == 0) rc = take_write_err(c, err, errlen);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* ---- statistics and maintenance -------------------------------------------------------- */

static int64_t file_size(const char *path, const char *suffix)
{
    char p[4200];
    struct stat st;
    snprintf(p, sizeof p, "%s%s", path, suffix);
    return stat(p, &st) == 0 ? (int64_t)st.st_size : 0;
}

int cache_stats(cache *c, int64_t *rows, int64_t *bytes, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (cache_flush(c, err, errlen) != 0) return -1;
    pthread_mutex_lock(&c->db_mu);
    int rc = 0;
    if (sqlite3_prepare_v2(c->db, "SELECT COUNT(*) FROM responses", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        rc = db_fail(c, err, errlen, "cannot count the responses");
    else if (rows)
        *rows = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (bytes) *bytes = file_size(c->path, "") + file_size(c->path, "-wal");
    pthread_mutex_unlock(&c->db_mu);
    return rc;
}

int cache_each_model(cache *c, void (*fn)(void *ud, const char *kind, const char *model, int64_t rows),
                     void *ud, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (cache_flush(c, err, errlen) != 0) return -1;
    pthread_mutex_lock(&c->db_mu);
    int rc = 0, step = SQLITE_DONE;
    if (sqlite3_prepare_v2(c->db, "SELECT endpoint, model, COUNT(*) FROM responses "
                           "GROUP BY endpoint, model ORDER BY model, endpoint", -1, &st, NULL) != SQLITE_OK)
        rc = db_fail(c, err, errlen, "cannot count the responses per model");
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
        fn(ud, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
           sqlite3_column_int64(st, 2));
    if (rc == 0 && step != SQLITE_DONE) rc = db_fail(c, err, errlen, "cannot count the responses per model");
    sqlite3_finalize(st);
    pthread_mutex_unlock(&c->db_mu);
    return rc;
}

int cache_clear(cache *c, int64_t *removed, char *err, size_t errlen)
{
    if (cache_flush(c, err, errlen) != 0) return -1;
    pthread_mutex_lock(&c->db_mu);
    int rc = db_exec(c, "DELETE FROM responses", err, errlen);
    if (rc == 0 && removed) *removed = sqlite3_changes64(c->db);
    if (rc == 0) rc = db_exec(c, "VACUUM", err, errlen);
    if (rc == 0) rc = db_exec(c, "PRAGMA wal_checkpoint(TRUNCATE)", err, errlen);
    pthread_mutex_unlock(&c->db_mu);
    return rc;
}

void cache_close(cache *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->closing = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->writer_started) pthread_join(c->writer, NULL);
    char err[512] = "";
    if (cache_flush(c, err, sizeof err) != 0) fprintf(stderr, "evallua: %s\n", err);
    cache_free(c);
}
