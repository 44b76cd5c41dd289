/* test_cache.c — SHA-256 (FIPS 180-4 vectors), the SQLite response cache (keys, round
 * trip, WAL, batching, stats/clear, what a SIGKILL loses) and the caching backend. */
#include "cache/cache.h"
#include "cache/cache_backend.h"
#include "cache/sha256.h"
#include "http/openai.h"
#include "util/buf.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static char tmpdir[256];

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *tmp_path(const char *name)
{
    buf p = {0};
    buf_printf(&p, "%s/%s", tmpdir, name);
    return buf_steal(&p);
}

static void digest_hex(const void *data, size_t n, char hex[65])
{
    uint8_t d[SHA256_DIGEST_LEN];
    sha256(data, n, d);
    sha256_hex(d, hex);
}

/* ---- SHA-256 --------------------------------------------------------------------- */

static void test_sha256_vectors(void)
{
    static const struct { const char *msg, *hex; } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
         "lmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    char hex[65];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        digest_hex(v[i].msg, strlen(v[i].msg), hex);
        CHECK_STR(hex, v[i].hex);
    }
    /* one million 'a', fed in uneven pieces */
    sha256_ctx c;
    uint8_t d[SHA256_DIGEST_LEN];
    char chunk[997];
    memset(chunk, 'a', sizeof chunk);
    sha256_init(&c);
    for (size_t left = 1000000; left;) {
        size_t n = left < sizeof chunk ? left : sizeof chunk;
        sha256_update(&c, chunk, n);
        left -= n;
    }
    sha256_final(&c, d);
    sha256_hex(d, hex);
    CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Padding edges: 55, 56, 63 and 64 bytes (one or two final blocks). */
static void test_sha256_padding(void)
{
    static const struct { size_t n; const char *hex; } v[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
    };
    char a[64], hex[65];
    memset(a, 'a', sizeof a);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        digest_hex(a, v[i].n, hex);
        CHECK_STR(hex, v[i].hex);
    }
}

/* The SHA-extension path (taken by sha256_init on CPUs that have it, so by the vectors above)
   and the portable code agree on every length across several blocks and odd feeds. */
static void test_sha256_paths_agree(void)
{
    uint8_t data[300];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 131 + 7);
    int same = 0;
    for (size_t n = 0; n <= sizeof data; n++) {
        uint8_t d[2][SHA256_DIGEST_LEN];
        for (int portable = 0; portable < 2; portable++) {
            sha256_ctx c;
            sha256_init(&c);
            if (portable) c.accel = 0;
            sha256_update(&c, data, n / 3);
            sha256_update(&c, data + n / 3, n - n / 3);
            sha256_final(&c, d[portable]);
        }
        same += memcmp(d[0], d[1], SHA256_DIGEST_LEN) == 0;
    }
    CHECK(same == (int)sizeof data + 1);
    sha256_ctx probe;
    sha256_init(&probe);
    printf("sha256: %s\n", probe.accel ? "CPU SHA extensions and portable code agree" : "portable code only (no SHA extensions)");
}

/* ---- requests used below --------------------------------------------------------------- */

static void make_generate(eval_request *r, const char *prompt, double temperature, int repeat)
{
    memset(r, 0, sizeof *r);
    r->kind = REQ_GENERATE;
    r->context = xstrdup(prompt);
    r->gen.n_until = 2;
    r->gen.until = xcalloc(2, sizeof *r->gen.until);
    r->gen.until[0] = xstrdup("Question:");
    r->gen.until[1] = xstrdup("\n\n");
    r->gen.max_tokens = 256;
    r->gen.temperature = temperature;
    r->gen.top_p = -1;
    r->gen.seed = -1;
    r->repeat = repeat;
}

static void make_ll(eval_request *r, const char *ctx, const char *cont)
{
    memset(r, 0, sizeof *r);
    r->kind = REQ_LOGLIKELIHOOD;
    r->context = xstrdup(ctx);
    r->continuation = xstrdup(cont);
    r->gen.max_tokens = 256;
    r->gen.top_p = -1;
    r->gen.seed = -1;
}

static int same_key(const char *k1, const char *m1, const eval_request *a, const char *k2,
                    const char *m2, const eval_request *b)
{
    uint8_t x[SHA256_DIGEST_LEN], y[SHA256_DIGEST_LEN];
    cache_key(k1, m1, a, x);
    cache_key(k2, m2, b, y);
    return memcmp(x, y, sizeof x) == 0;
}

/* The key is SHA-256 of the serialization cache.h documents, written here with printf as the
   documentation says (lengths and integers in decimal, doubles with %.17g): the key of an
   existing cache file must never change. */
static void expect_field(buf *b, const char *name, const char *v)
{
    if (v) buf_printf(b, "%s=%zu:%s\n", name, strlen(v), v);
    else buf_printf(b, "%s!\n", name);
}

static void check_key_bytes(const eval_request *r, double temperature_printed)
{
    buf b = {0}, num = {0};
    buf_puts(&b, "evallua-cache/1\n");
    expect_field(&b, "endpoint", "openai-completions");
    expect_field(&b, "model", "m");
    expect_field(&b, "kind", req_kind_name(r->kind));
    expect_field(&b, "context", r->context);
    expect_field(&b, "continuation", r->continuation);
    expect_field(&b, "messages", r->messages_json);
    buf_printf(&num, "%zu", r->gen.n_until);
    expect_field(&b, "until", buf_str(&num));
    for (size_t i = 0; i < r->gen.n_until; i++) expect_field(&b, "stop", r->gen.until[i]);
    buf_clear(&num);
    buf_printf(&num, "%d", r->gen.max_tokens);
    expect_field(&b, "max_tokens", buf_str(&num));
    buf_clear(&num);
    buf_printf(&num, "%.17g", temperature_printed);
    expect_field(&b, "temperature", buf_str(&num));
    buf_clear(&num);
    buf_printf(&num, "%.17g", r->gen.top_p);
    expect_field(&b, "top_p", buf_str(&num));
    buf_clear(&num);
    buf_printf(&num, "%lld", (long long)r->gen.seed);
    expect_field(&b, "seed", buf_str(&num));
    buf_clear(&num);
    buf_printf(&num, "%d", r->repeat);
    expect_field(&b, "repeat", r->kind == REQ_GENERATE && r->gen.temperature > 0 ? buf_str(&num) : NULL);
    uint8_t want[SHA256_DIGEST_LEN], got[SHA256_DIGEST_LEN];
    sha256(b.data, b.len, want);
    cache_key("openai-completions", "m", r, got);
    CHECK(memcmp(want, got, sizeof want) == 0);
    buf_free(&b);
    buf_free(&num);
}

static void test_key_serialization(void)
{
    static const double temps[] = {0.0, 1.0, 0.7, 2.5, 1e15, 123456789012345678.0, 1e-7, 3.0e300};
    eval_request r;
    for (size_t i = 0; i < sizeof temps / sizeof temps[0]; i++) {
        make_generate(&r, "Question: 2+2?\nAnswer:", temps[i], 3);
        r.gen.max_tokens = (int)(i * 1000);
        r.gen.seed = i % 2 ? -1 : 1234567;
        r.gen.top_p = i % 2 ? 0.95 : -1;
        check_key_bytes(&r, temps[i]);
        request_free(&r);
    }
    make_generate(&r, "q", -0.0, 0);
    check_key_bytes(&r, 0.0); /* -0 is written as 0 */
    request_free(&r);
    make_ll(&r, "ctx", " cont");
    check_key_bytes(&r, 0.0);
    request_free(&r);
}

/* Every field of the request, the endpoint kind and the model change the key. */
static void test_key_fields(void)
{
    const char *K = "openai-completions", *M = "m";
    eval_request a, b;
    make_generate(&a, "Q: 1+1?", 0, 0);
    make_generate(&b, "Q: 1+1?", 0, 0);
    CHECK(same_key(K, M, &a, K, M, &b));
    CHECK(!same_key(K, M, &a, "openai-chat", M, &b));
    CHECK(!same_key(K, M, &a, K, "m2", &b));
    b.gen.max_tokens = 255;
    CHECK(!same_key(K, M, &a, K, M, &b));
    b.gen.max_tokens = 256;
    b.gen.top_p = 0.9;
    CHECK(!same_key(K, M, &a, K, M, &b));
    b.gen.top_p = -1;
    b.gen.seed = 7;
    CHECK(!same_key(K, M, &a, K, M, &b));
    b.gen.seed = -1;
    b.gen.n_until = 1; /* a shorter stop list */
    CHECK(!same_key(K, M, &a, K, M, &b));
    b.gen.n_until = 2;
    b.messages_json = xstrdup("[{\"role\":\"user\",\"content\":\"Q: 1+1?\"}]");
    CHECK(!same_key(K, M, &a, K, M, &b));
    request_free(&b);
    /* field boundaries are unambiguous: ("ab","c") differs from ("a","bc") */
    eval_request l1, l2;
    make_ll(&l1, "ab", "c");
    make_ll(&l2, "a", "bc");
    CHECK(!same_key(K, M, &l1, K, M, &l2));
    l2.kind = REQ_LOGLIKELIHOOD_ROLLING;
    CHECK(!same_key(K, M, &l1, K, M, &l2));
    request_free(&a);
    request_free(&l1);
    request_free(&l2);
}

/* Sampled requests are cached per repeat index; greedy ones share one entry. */
static void test_key_repeat(void)
{
    const char *K = "openai-chat", *M = "m";
    eval_request g0, g1, s0, s1, s0b;
    make_generate(&g0, "p", 0, 0);
    make_generate(&g1, "p", 0, 3);
    make_generate(&s0, "p", 0.7, 0);
    make_generate(&s1, "p", 0.7, 1);
    make_generate(&s0b, "p", 0.7, 0);
    CHECK(same_key(K, M, &g0, K, M, &g1));
    CHECK(!same_key(K, M, &s0, K, M, &s1));
    CHECK(same_key(K, M, &s0, K, M, &s0b));
    CHECK(!same_key(K, M, &g0, K, M, &s0));
    g1.gen.temperature = -0.0; /* -0 is 0 */
    CHECK(same_key(K, M, &g0, K, M, &g1));
    request_free(&g0);
    request_free(&g1);
    request_free(&s0);
    request_free(&s1);
    request_free(&s0b);
}

/* ---- the cache ------------------------------------------------------------------------ */

#define RT_PROMPT "Tell me: ünïcode\nand \"quotes\""

static void test_round_trip(void)
{
    char err[512] = "";
    char *path = tmp_path("sub/dir/rt.sqlite"); /* parent directories are created */
    cache *c = cache_open(path, err, sizeof err);
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "%s\n", err);
        free(path);
        return;
    }
    CHECK_STR(cache_path(c), path);
    eval_request req;
    make_generate(&req, RT_PROMPT, 0, 0);
    eval_response in = {.status = RESP_OK, .logprob = -12.345678901234567, .is_greedy = 1,
                        .text = xstrdup(" The answer\nis 42 — ✓"), .reasoning = xstrdup("think…"),
                        .prompt_tokens = 17, .completion_tokens = 9, .attempts = 3};
    eval_response out = {0};
    CHECK(cache_get(c, "openai-chat", "m", &req, &out, err, sizeof err) == 0);
    CHECK(cache_put(c, "openai-chat", "m", &req, &in, err, sizeof err) == 0);
    CHECK(cache_get(c, "openai-chat", "m", &req, &out, err, sizeof err) == 1);
    CHECK(out.status == RESP_OK);
    CHECK(out.logprob == in.logprob);
    CHECK(out.is_greedy == 1);
    CHECK_STR(out.text, in.text);
    CHECK_STR(out.reasoning, in.reasoning);
    CHECK(out.error == NULL);
    CHECK(out.prompt_tokens == 17 && out.completion_tokens == 9);
    CHECK(out.attempts == 0);
    CHECK(cache_get(c, "openai-completions", "m", &req, &out, err, sizeof err) == 0);
    response_free(&out);
    response_free(&in);
    request_free(&req);
    cache_close(c);
    free(path);
}

/* NULL text and reasoning come back NULL; a later put replaces the row; rows survive a
   close and reopen. */
static void test_replace_and_reopen(void)
{
    char err[512] = "";
    char *path = tmp_path("sub/dir/rt.sqlite");
    cache *c = cache_open(path, err, sizeof err);
    eval_request req;
    make_generate(&req, RT_PROMPT, 0, 0);
    eval_response in = {.status = RESP_OK, .logprob = -1.5}, out = {0};
    CHECK(cache_put(c, "openai-chat", "m", &req, &in, err, sizeof err) == 0);
    CHECK(cache_get(c, "openai-chat", "m", &req, &out, err, sizeof err) == 1);
    CHECK(out.text == NULL && out.reasoning == NULL && out.logprob == -1.5 && out.is_greedy == 0);
    int64_t rows = -1;
    CHECK(cache_stats(c, &rows, NULL, err, sizeof err) == 0 && rows == 1);
    response_free(&out);
    cache_close(c);
    c = cache_open(path, err, sizeof err);
    CHECK(c && cache_get(c, "openai-chat", "m", &req, &out, err, sizeof err) == 1);
    CHECK(out.logprob == -1.5);
    response_free(&out);
    request_free(&req);
    cache_close(c);
    free(path);
}

static void test_failures_not_stored(void)
{
    char err[512];
    char *path = tmp_path("fail.sqlite");
    cache *c = cache_open(path, err, sizeof err);
    eval_request req;
    make_ll(&req, "ctx", " cont");
    eval_response failed = {.status = RESP_FAILED, .error = xstrdup("HTTP 500 from x")};
    eval_response pending = {0};
    eval_response out = {0};
    CHECK(cache_put(c, "openai-completions", "m", &req, &failed, err, sizeof err) == 0);
    CHECK(cache_put(c, "openai-completions", "m", &req, &pending, err, sizeof err) == 0);
    CHECK(cache_get(c, "openai-completions", "m", &req, &out, err, sizeof err) == 0);
    int64_t rows = -1;
    CHECK(cache_stats(c, &rows, NULL, err, sizeof err) == 0 && rows == 0);
    response_free(&failed);
    request_free(&req);
    cache_close(c);
    free(path);
}

static void test_wal_and_open_errors(void)
{
    char err[512];
    char *path = tmp_path("wal.sqlite");
    cache *c = cache_open(path, err, sizeof err);
    CHECK(c != NULL);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
    cache_close(c);
    /* not an SQLite file: the error names the path */
    char *junk = tmp_path("junk.sqlite");
    FILE *f = fopen(junk, "w");
    fputs("this is not a database, just text that is long enough to be read as a header.....\n", f);
    fclose(f);
    CHECK(cache_open(junk, err, sizeof err) == NULL);
    CHECK(strstr(err, junk) != NULL);
    /* a parent that is a file */
    buf p = {0};
    buf_printf(&p, "%s/x.sqlite", junk);
    CHECK(cache_open(p.data, err, sizeof err) == NULL);
    CHECK(strstr(err, junk) != NULL);
    buf_free(&p);
    free(junk);
    free(path);
}

static void test_default_path(void)
{
    char *saved_xdg = getenv("XDG_CACHE_HOME") ? xstrdup(getenv("XDG_CACHE_HOME")) : NULL;
    char *saved_home = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL;
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    setenv("HOME", "/home/u", 1);
    char *p = cache_default_path();
    CHECK_STR(p, "/xdg/evallua/responses.sqlite");
    free(p);
    setenv("XDG_CACHE_HOME", "relative/ignored", 1);
    p = cache_default_path();
    CHECK_STR(p, "/home/u/.cache/evallua/responses.sqlite");
    free(p);
    unsetenv("XDG_CACHE_HOME");
    unsetenv("HOME");
    CHECK(cache_default_path() == NULL);
    if (saved_xdg) setenv("XDG_CACHE_HOME", saved_xdg, 1);
    if (saved_home) setenv("HOME", saved_home, 1);
    free(saved_xdg);
    free(saved_home);
}

static void count_model(void *ud, const char *kind, const char *model, int64_t rows)
{
    buf *b = ud;
    buf_printf(b, "%s/%s=%lld;", model, kind, (long long)rows);
}

static void test_stats_clear(void)
{
    char err[512];
    char *path = tmp_path("stats.sqlite");
    cache *c = cache_open(path, err, sizeof err);
    eval_response ok = {.status = RESP_OK, .text = xstrdup("x")};
    for (int i = 0; i < 30; i++) {
        char prompt[32];
        snprintf(prompt, sizeof prompt, "prompt %d", i);
        eval_request r;
        make_generate(&r, prompt, 0, 0);
        CHECK(cache_put(c, i < 20 ? "openai-completions" : "openai-chat", i < 10 ? "a" : "b", &r,
                        &ok, err, sizeof err) == 0);
        request_free(&r);
    }
    int64_t rows = 0, bytes = 0;
    CHECK(cache_stats(c, &rows, &bytes, err, sizeof err) == 0);
    CHECK(rows == 30);
    CHECK(bytes > 0);
    buf models = {0};
    CHECK(cache_each_model(c, count_model, &models, err, sizeof err) == 0);
    CHECK_STR(buf_str(&models), "a/openai-completions=10;b/openai-chat=10;b/openai-completions=10;");
    int64_t removed = 0;
    CHECK(cache_clear(c, &removed, err, sizeof err) == 0);
    CHECK(removed == 30);
    CHECK(cache_stats(c, &rows, &bytes, err, sizeof err) == 0 && rows == 0);
    buf_free(&models);
    response_free(&ok);
    cache_close(c);
    free(path);
}

/* Milliseconds until req is visible through r (at most 2 s). */
static double ms_until_visible(cache *r, const eval_request *req, double t0)
{
    char err[512];
    eval_response out = {0};
    int seen = 0;
    while (!seen && mono_s() - t0 < 2.0) {
        seen = cache_get(r, "openai-completions", "m", req, &out, err, sizeof err) == 1;
        if (!seen) usleep(1000);
    }
    response_free(&out);
    return seen ? (mono_s() - t0) * 1000 : 1e9;
}

/* A row stored after a quiet spell is written at once; one that follows it closely waits
   for the batch and becomes visible to another connection within the batch window, with no
   further call (the writer thread writes it). */
static void test_batch_window(void)
{
    char err[512];
    char *path = tmp_path("batch.sqlite");
    cache *w = cache_open(path, err, sizeof err);
    cache *r = cache_open(path, err, sizeof err);
    eval_request first, second;
    make_ll(&first, "c", "d");
    make_ll(&second, "c", "e");
    eval_response ok = {.status = RESP_OK, .logprob = -2};
    double t0 = mono_s();
    CHECK(cache_put(w, "openai-completions", "m", &first, &ok, err, sizeof err) == 0);
    double ms1 = ms_until_visible(r, &first, t0);
    t0 = mono_s();
    CHECK(cache_put(w, "openai-completions", "m", &second, &ok, err, sizeof err) == 0);
    double ms2 = ms_until_visible(r, &second, t0);
    CHECK(ms1 < CACHE_BATCH_MS / 2);
    CHECK(ms2 > CACHE_BATCH_MS / 2 && ms2 < CACHE_BATCH_MS + 150);
    printf("another connection saw a row after a quiet spell after %.1f ms, a batched one after "
           "%.0f ms\n", ms1, ms2);
    request_free(&first);
    request_free(&second);
    cache_close(r);
    cache_close(w);
    free(path);
}

/* Cost of a put at full speed (batched commits). */
static void test_put_speed(void)
{
    char err[512];
    char *path = tmp_path("speed.sqlite");
    cache *c = cache_open(path, err, sizeof err);
    eval_response ok = {.status = RESP_OK, .text = xstrdup(" The answer is 42.")};
    const int n = 20000;
    double t0 = mono_s(), cpu0 = thread_cpu_s();
    int bad = 0;
    for (int i = 0; i < n; i++) {
        char prompt[64];
        snprintf(prompt, sizeof prompt, "Question %d: what is %d+%d?\nAnswer:", i, i, i);
        eval_request r;
        make_generate(&r, prompt, 0, 0);
        bad += cache_put(c, "openai-completions", "m", &r, &ok, err, sizeof err) != 0;
        request_free(&r);
    }
    double cpu = thread_cpu_s() - cpu0;
    CHECK(cache_flush(c, err, sizeof err) == 0);
    double wall = mono_s() - t0;
    CHECK(bad == 0);
    printf("cache_put: %.1f us of the caller's CPU per response; %d responses written in %.1f us "
           "each (wall)\n", cpu * 1e6 / n, n, wall * 1e6 / n);
    response_free(&ok);
    cache_close(c);
    free(path);
}

/* A child stores a row every ~1 ms and reports each stored index with its time; it is
   SIGKILLed. Every row stored more than CACHE_BATCH_MS (+ slack) before the kill must be in
   the file; prints what was lost. */
typedef struct put_report {
    int index;
    double t;
} put_report;

static void sigkill_child(const char *path, int fd)
{
    char err[512];
    cache *c = cache_open(path, err, sizeof err);
    if (!c) _exit(3);
    eval_response ok = {.status = RESP_OK, .text = "x"};
    for (int i = 0;; i++) {
        char prompt[32];
        snprintf(prompt, sizeof prompt, "row %d", i);
        eval_request r;
        make_ll(&r, prompt, "");
        if (cache_put(c, "openai-completions", "m", &r, &ok, err, sizeof err) != 0) _exit(4);
        request_free(&r);
        put_report rep = {i, mono_s()};
        if (write(fd, &rep, sizeof rep) != (ssize_t)sizeof rep) _exit(5);
        usleep(1000);
    }
}

static int rows_in(const char *path)
{
    char err[512];
    int64_t rows = -1;
    cache *c = cache_open(path, err, sizeof err);
    if (c) cache_stats(c, &rows, NULL, err, sizeof err);
    cache_close(c);
    return (int)rows;
}

/* One kill after `after` rows; returns the loss window in ms (0 when nothing was lost). */
static double sigkill_trial(const char *path, int after)
{
    int fds[2];
    if (pipe(fds) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        sigkill_child(path, fds[1]);
    }
    close(fds[1]);
    put_report rep, *seen = xcalloc(100000, sizeof *seen);
    int n = 0;
    while (n < after && read(fds[0], &rep, sizeof rep) == (ssize_t)sizeof rep) seen[n++] = rep;
    kill(pid, SIGKILL);
    double killed = mono_s();
    while (n < 100000 && read(fds[0], &rep, sizeof rep) == (ssize_t)sizeof rep) seen[n++] = rep;
    waitpid(pid, NULL, 0);
    close(fds[0]);
    int rows = rows_in(path);
    CHECK(rows >= 0 && rows <= n);
    int must = 0; /* rows stored well before the kill */
    while (must < n && seen[must].t < killed - (CACHE_BATCH_MS + 50) / 1000.0) must++;
    CHECK(rows >= must);
    double window = rows >= 0 && rows < n ? (killed - seen[rows].t) * 1000 : 0;
    printf("SIGKILL after %d rows: %d in the file, %d lost (stored in the last %.0f ms)\n", n,
           rows, n - rows, window);
    free(seen);
    return window;
}

static void test_sigkill_loss(void)
{
    double worst = 0;
    for (int t = 0; t < 5; t++) {
        char name[32];
        snprintf(name, sizeof name, "kill%d.sqlite", t);
        char *path = tmp_path(name);
        double w = sigkill_trial(path, 150 + 37 * t);
        if (w > worst) worst = w;
        free(path);
    }
    printf("SIGKILL loss window: at most %.0f ms of answers over 5 kills (bound %d ms)\n", worst,
           CACHE_BATCH_MS);
    CHECK(worst <= CACHE_BATCH_MS + 50);
}

/* ---- the caching backend --------------------------------------------------------------- */

/* An inner backend that answers every request with logprob = -(context length), fails
   contexts starting with "fail", and reports through the hook when use_hook is set. */
typedef struct fake_backend {
    backend base;
    int use_hook;
    int runs;
    size_t sent;
} fake_backend;

static int fake_run(backend *base, const eval_request *reqs, eval_response *resps, size_t n,
                    char *err, size_t errlen)
{
    fake_backend *f = (fake_backend *)base;
    f->runs++;
    f->sent += n;
    for (size_t i = 0; i < n; i++) {
        memset(&resps[i], 0, sizeof resps[i]);
        if (strncmp(reqs[i].context, "fail", 4) == 0) {
            resps[i].status = RESP_FAILED;
            resps[i].error = xstrdup("HTTP 500");
        } else {
            resps[i].status = RESP_OK;
            resps[i].logprob = -(double)strlen(reqs[i].context);
            resps[i].attempts = 1;
        }
        if (f->use_hook && base->on_response) base->on_response(base->on_response_ud, i, &resps[i]);
    }
    base->stats.requests += (int64_t)n;
    return 0;
}

static void fake_destroy(backend *b) { free(b); }

static const backend_vtable fake_vt = {"fake", REQ_LOGLIKELIHOOD | REQ_GENERATE, fake_run, fake_destroy};

static fake_backend *fake_new(int use_hook)
{
    fake_backend *f = xcalloc(1, sizeof *f);
    f->base.vt = &fake_vt;
    f->use_hook = use_hook;
    return f;
}

static void run_batch(backend *b, const char *const *ctxs, size_t n, eval_response *resps)
{
    eval_request *reqs = xcalloc(n, sizeof *reqs);
    for (size_t i = 0; i < n; i++) make_ll(&reqs[i], ctxs[i], " x");
    char err[256];
    CHECK(b->vt->run(b, reqs, resps, n, err, sizeof err) == 0);
    for (size_t i = 0; i < n; i++) request_free(&reqs[i]);
    free(reqs);
}

static void test_wrapper(int use_hook)
{
    char err[512], name[64];
    snprintf(name, sizeof name, "wrap%d.sqlite", use_hook);
    char *path = tmp_path(name);
    fake_backend *f = fake_new(use_hook);
    backend *b = cache_backend_wrap(&f->base, cache_open(path, err, sizeof err), "openai-completions", "m");
    CHECK_STR(b->vt->name, "fake");
    CHECK(b->vt->kinds == fake_vt.kinds);
    CHECK_STR(cache_backend_path(b), path);
    CHECK(cache_backend_path(&f->base) == NULL);
    const char *first[] = {"aa", "bbb", "fail 1", "c"};
    eval_response r[4];
    run_batch(b, first, 4, r);
    CHECK(f->runs == 1 && f->sent == 4);
    CHECK(r[0].status == RESP_OK && r[0].logprob == -2 && r[2].status == RESP_FAILED);
    for (int i = 0; i < 4; i++) response_free(&r[i]);
    /* second run: the three answers come from the cache, the failure and a new one are sent */
    const char *second[] = {"c", "new one", "fail 1", "aa", "bbb"};
    eval_response r2[5];
    run_batch(b, second, 5, r2);
    CHECK(f->runs == 2 && f->sent == 6);
    CHECK(r2[0].status == RESP_OK && r2[0].logprob == -1 && r2[0].attempts == 0);
    CHECK(r2[1].status == RESP_OK && r2[1].logprob == -7 && r2[1].attempts == 1);
    CHECK(r2[2].status == RESP_FAILED);
    CHECK(r2[3].logprob == -2 && r2[4].logprob == -3);
    CHECK(b->stats.cached == 3);
    CHECK(b->stats.requests == 9);
    for (int i = 0; i < 5; i++) response_free(&r2[i]);
    /* all hits: the inner backend is not called at all */
    run_batch(b, first, 2, r);
    CHECK(f->runs == 2);
    CHECK(b->stats.cached == 5);
    for (int i = 0; i < 2; i++) response_free(&r[i]);
    b->vt->destroy(b);
    free(path);
}

/* The API key and base URL are not part of the key: an answer stored under one
   configuration is served to a backend with another key and URL, without any request. */
static void test_key_independent_of_api_key(void)
{
    char err[512];
    char *path = tmp_path("apikey.sqlite");
    cache *c = cache_open(path, err, sizeof err);
    eval_request req;
    make_ll(&req, "The capital of France is", " Paris");
    eval_response ok = {.status = RESP_OK, .logprob = -0.25, .is_greedy = 1};
    CHECK(cache_put(c, "openai-completions", "served-model", &req, &ok, err, sizeof err) == 0);
    cache_close(c);
    openai_config cfg = {.base_url = "http://127.0.0.1:1/v1", .model = "served-model",
                         .api_key = "sk-other-KEY-777", .max_retries = 0};
    backend *inner = openai_backend_new(&cfg, err, sizeof err);
    CHECK(inner != NULL);
    backend *b = cache_backend_wrap(inner, cache_open(path, err, sizeof err), "openai-completions", "served-model");
    eval_response out;
    CHECK(b->vt->run(b, &req, &out, 1, err, sizeof err) == 0);
    CHECK(out.status == RESP_OK && out.logprob == -0.25 && out.is_greedy == 1);
    CHECK(b->stats.cached == 1 && inner->stats.requests == 0);
    response_free(&out);
    b->vt->destroy(b);
    /* the file holds no key */
    FILE *f = fopen(path, "rb");
    buf bytes = {0};
    char chunk[4096];
    size_t got;
    while (f && (got = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(&bytes, chunk, got);
    if (f) fclose(f);
    CHECK(bytes.len > 0);
    int found = 0;
    for (size_t i = 0; i + 7 <= bytes.len; i++) found |= memcmp(bytes.data + i, "KEY-777", 7) == 0;
    CHECK(!found);
    buf_free(&bytes);
    request_free(&req);
    free(path);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/evallua_cache_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_sha256_vectors();
    test_sha256_padding();
    test_sha256_paths_agree();
    test_key_fields();
    test_key_serialization();
    test_key_repeat();
    test_round_trip();
    test_replace_and_reopen();
    test_failures_not_stored();
    test_wal_and_open_errors();
    test_default_path();
    test_stats_clear();
    test_batch_window();
    test_put_speed();
    test_sigkill_loss();
    test_wrapper(1);
    test_wrapper(0);
    test_key_independent_of_api_key();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary();
}
