/* test_http_server.c — the OpenAI backend against the fake server (tests/server, $FAKE_OPENAI):
 * mixed requests through injected 500s, garbage and truncated bodies; a rejected API key;
 * exhausted retries; a 400 that is not retried; a 429 with Retry-After pausing the whole
 * client; concurrency and per-attempt timeouts. Batching, several endpoints, rate limits and
 * server quirks are in test_http_engine.c. Expected values follow the rules in
 * tests/server/README.md. Skips (77) when FAKE_OPENAI is unset or missing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http/openai.h"
#include "util/buf.h"

#define WRONG_KEY "wrong-key-XYZ-987"

#include "fake_server.h"

static backend *open_backend(const server *s, int chat, int concurrency, const char *key)
{
    openai_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.chat = chat;
    cfg.base_url = s->url;
    cfg.model = "fake-model";
    cfg.api_key = key;
    cfg.concurrency = concurrency;
    cfg.max_retries = 10;
    cfg.retry_base_s = 0.01;
    cfg.timeout_s = 20;
    cfg.progress = 1; /* ctest sets EVALLUA_NO_PROGRESS=1, so this only exercises the calls */
    cfg.label = "test_http_server";
    char err[256];
    backend *b = openai_backend_new(&cfg, err, sizeof err);
    if (!b) fprintf(stderr, "openai_backend_new: %s\n", err);
    return b;
}

/* ---- tests --------------------------------------------------------------------------- */

/* 150 completions requests + 50 chat requests, concurrency 16, with every 7th reply a 500,
   every 11th garbage and every 13th truncated: all must end OK with the right values. */
static void test_mixed_with_faults(void)
{
    server s;
    const char *args[] = {"--fail-every", "7", "--fail-status", "500", "--garbage-every", "11",
                          "--truncate-every", "13", "--rules", NULL, NULL};
    char rules[160];
    FILE *f = NULL;
    char rules_dir[] = "/tmp/evallua_rules_XXXXXX";
    if (mkdtemp(rules_dir)) {
        snprintf(rules, sizeof rules, "%s/rules.jsonl", rules_dir);
        f = fopen(rules, "w");
    }
    CHECK(f != NULL);
    if (!f) return;
    fputs("{\"suffix\":\"think\",\"text\":\"final answer\\n\\nmore\",\"reasoning\":\"hmm\"}\n", f);
    fclose(f);
    args[9] = rules;
    int started = server_start(&s, args) == 0;
    CHECK(started);
    if (started) {
        enum { N_CMPL = 150, N_CHAT = 50 };
        static eval_request reqs[N_CMPL + N_CHAT];
        static eval_response resps[N_CMPL + N_CHAT];
        for (int i = 0; i < N_CMPL; i++) mixed_request(&reqs[i], i);
        for (int i = N_CMPL; i < N_CMPL + N_CHAT; i++) {
            memset(&reqs[i], 0, sizeof reqs[i]);
            reqs[i].kind = REQ_GENERATE;
            reqs[i].context = fmt("question %d: think", i);
            set_until(&reqs[i], "\n\n");
        }
        backend *cb = open_backend(&s, 0, 16, NULL), *hb = open_backend(&s, 1, 16, NULL);
        char err[256] = "";
        CHECK(cb && hb);
        if (cb && hb) {
            CHECK(cb->vt->run(cb, reqs, resps, N_CMPL, err, sizeof err) == 0);
            CHECK(hb->vt->run(hb, reqs + N_CMPL, resps + N_CMPL, N_CHAT, err, sizeof err) == 0);
            int ok = 0, retried = 0;
            for (int i = 0; i < N_CMPL; i++) ok += check_mixed_response(&reqs[i], &resps[i], i);
            for (int i = N_CMPL; i < N_CMPL + N_CHAT; i++)
                ok += resps[i].status == RESP_OK && resps[i].text && resps[i].reasoning &&
                      strcmp(resps[i].text, "final answer") == 0 && strcmp(resps[i].reasoning, "hmm") == 0;
            for (int i = 0; i < N_CMPL + N_CHAT; i++) retried += resps[i].attempts > 1;
            CHECK(ok == N_CMPL + N_CHAT);
            CHECK(retried > 20); /* about a third of the first attempts were sabotaged */
            CHECK(cb->stats.requests == N_CMPL && cb->stats.failed == 0 && cb->stats.retries > 0);
            CHECK(hb->stats.requests == N_CHAT && hb->stats.failed == 0);
            CHECK(cb->stats.prompt_tokens > 0 && cb->stats.completion_tokens > 0);
            printf("mixed: %d of %d OK, %d retried, %lld+%lld retries\n", ok, N_CMPL + N_CHAT, retried,
                   (long long)cb->stats.retries, (long long)hb->stats.retries);
        }
        if (cb) cb->vt->destroy(cb);
        if (hb) hb->vt->destroy(hb);
        free_batch(reqs, resps, N_CMPL + N_CHAT);
        server_stop(&s);
    }
    unlink(rules);
    rmdir(rules_dir);
}

static void run_key_batch(const server *s, const char *key, int *rc, eval_response *resps,
                          size_t n, char *err, size_t errlen)
{
    eval_request reqs[20];
    for (size_t i = 0; i < n; i++) mixed_request(&reqs[i], (int)i);
    backend *b = open_backend(s, 0, 4, key);
    *rc = b ? b->vt->run(b, reqs, resps, n, err, errlen) : 99;
    if (b) b->vt->destroy(b);
    for (size_t i = 0; i < n; i++) request_free(&reqs[i]);
}

/* --require-key: a wrong key stops the run (-1, all FAILED, no key in any text); no key says
   a key is needed; the right key works. */
static void test_rejected_key(void)
{
    server s;
    const char *args[] = {"--require-key", "secret", NULL};
    int started = server_start(&s, args) == 0;
    CHECK(started);
    if (!started) return;
    enum { N = 20 };
    eval_response resps[N];
    char err[512] = "";
    int rc, failed = 0, leaked = 0;
    run_key_batch(&s, WRONG_KEY, &rc, resps, N, err, sizeof err);
    CHECK(rc == -1);
    CHECK(contains(err, "HTTP 401 from http://127.0.0.1:"));
    CHECK(contains(err, "the API key was rejected (set api_key= in --model_args or OPENAI_API_KEY)"));
    CHECK(!contains(err, WRONG_KEY) && !contains(err, "secret"));
    for (int i = 0; i < N; i++) {
        failed += resps[i].status == RESP_FAILED && contains(resps[i].error, "API key was rejected");
        leaked += contains(resps[i].error, WRONG_KEY);
        response_free(&resps[i]);
    }
    CHECK(failed == N && leaked == 0);
    printf("rejected key: %s\n", err);
    run_key_batch(&s, NULL, &rc, resps, N, err, sizeof err);
    CHECK(rc == -1 && contains(err, "the server requires an API key"));
    for (int i = 0; i < N; i++) response_free(&resps[i]);
    run_key_batch(&s, "secret", &rc, resps, N, err, sizeof err);
    CHECK(rc == 0);
    int ok = 0;
    for (int i = 0; i < N; i++) {
        ok += resps[i].status == RESP_OK;
        response_free(&resps[i]);
    }
    CHECK(ok == N);
    server_stop(&s);
}

/* Every reply a 503: FAILED after 1 + max_retries attempts, naming status, URL and message.
   A 400 (here: a body the server rejects) is not retried. */
static void test_exhausted_and_not_retried(void)
{
    server s;
    const char *args[] = {"--fail-every", "1", "--fail-status", "503", NULL};
    int started = server_start(&s, args) == 0;
    CHECK(started);
    if (!started) return;
    openai_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.base_url = s.url;
    cfg.model = "fake-model";
    cfg.max_retries = 2;
    cfg.retry_base_s = 0.01;
    char err[256];
    backend *b = openai_backend_new(&cfg, err, sizeof err);
    CHECK(b != NULL);
    if (b) {
        eval_request r;
        eval_response p;
        mixed_request(&r, 0);
        memset(&p, 0, sizeof p);
        CHECK(b->vt->run(b, &r, &p, 1, err, sizeof err) == 0);
        buf want = {0};
        buf_printf(&want, "HTTP 503 from %s/completions (after 3 attempts): injected failure (request 3)",
                   s.url);
        CHECK_STR(p.error, buf_str(&want));
        CHECK(p.attempts == 3 && b->stats.retries == 2 && b->stats.failed == 1);
        buf_free(&want);
        request_free(&r);
        response_free(&p);
        b->vt->destroy(b);
    }
    server_stop(&s);

    started = server_start(&s, NULL) == 0;
    CHECK(started);
    if (!started) return;
    backend *chat = open_backend(&s, 1, 2, NULL);
    CHECK(chat != NULL);
    if (chat) {
        eval_request r;
        eval_response p;
        memset(&r, 0, sizeof r);
        memset(&p, 0, sizeof p);
        r.kind = REQ_GENERATE;
        r.context = xstrdup("x");
        r.messages_json = xstrdup("[]"); /* the server wants a non-empty list */
        CHECK(chat->vt->run(chat, &r, &p, 1, err, sizeof err) == 0);
        CHECK(p.status == RESP_FAILED && p.attempts == 1);
        CHECK(contains(p.error, "HTTP 400 from http://127.0.0.1:"));
        CHECK(contains(p.error, "/v1/chat/completions: ") && contains(p.error, "messages"));
        printf("400: %s\n", p.error ? p.error : "(null)");
        request_free(&r);
        response_free(&p);
        chat->vt->destroy(chat);
    }
    server_stop(&s);
}

/* Arrival times (ms since the server started) of the POSTs in its --log-times log:
   times[n-1] for request n; returns how many were read. */
static int log_times(const server *s, double *times, int max)
{
    char path[160], line[4096];
    dir_file(s, "log", path, sizeof path);
    FILE *f = fopen(path, "r");
    int count = 0;
    while (f && count < max && fgets(line, sizeof line, f)) {
        long n;
        char url[64];
        double ms;
        if (sscanf(line, "%ld %63s %lf", &n, url, &ms) == 3 && n >= 1 && n <= max) {
            times[n - 1] = ms;
            count++;
        }
    }
    if (f) fclose(f);
    return count;
}

/* The first four replies are 429s with Retry-After: 1. A 429 slows the whole client, not
   only the throttled requests: nothing at all is sent for a second, then everything
   (the four throttled ones again included) goes through. */
static void test_429_slows_the_client(void)
{
    server s;
    const char *args[] = {"--fail-first", "4", "--fail-status", "429", "--retry-after", "1",
                          "--log-times", "1", NULL};
    int started = server_start(&s, args) == 0;
    CHECK(started);
    if (!started) return;
    enum { N = 12 };
    eval_request reqs[N];
    eval_response resps[N];
    memset(resps, 0, sizeof resps);
    for (int i = 0; i < N; i++) mixed_request(&reqs[i], i);
    backend *b = open_backend(&s, 0, 4, NULL);
    CHECK(b != NULL);
    if (b) {
        char err[256];
        double t0 = now_s();
        CHECK(b->vt->run(b, reqs, resps, N, err, sizeof err) == 0);
        double dt = now_s() - t0;
        CHECK(dt >= 0.9 && dt < 5.0);
        int ok = 0;
        for (int i = 0; i < N; i++) ok += check_mixed_response(&reqs[i], &resps[i], i);
        CHECK(ok == N && resps[0].attempts == 2 && resps[4].attempts == 1);
        CHECK(openai_backend_counters(b)->throttled == 4);
        b->vt->destroy(b);
    }
    double times[N + 4];
    CHECK(log_times(&s, times, N + 4) == N + 4);
    double gap = times[4] - times[3]; /* request 5 came only after the pause */
    for (int n = 5; n < N + 4; n++) CHECK(times[n] - times[3] >= 900.0);
    printf("429: the next request came %.0f ms after the throttled ones\n", gap);
    free_batch(reqs, resps, N);
    server_stop(&s);
}

/* --delay-ms 300: 32 requests at concurrency 16 take two waves, not 32; a 0.1 s timeout
   fails each attempt with curl's reason. */
static void test_concurrency_and_timeout(void)
{
    server s;
    const char *args[] = {"--delay-ms", "300", NULL};
    int started = server_start(&s, args) == 0;
    CHECK(started);
    if (!started) return;
    enum { N = 32 };
    eval_request reqs[N];
    eval_response resps[N];
    memset(resps, 0, sizeof resps);
    for (int i = 0; i < N; i++) mixed_request(&reqs[i], i);
    backend *b = open_backend(&s, 0, 16, NULL);
    char err[256];
    if (b) {
        double t0 = now_s();
        CHECK(b->vt->run(b, reqs, resps, N, err, sizeof err) == 0);
        double dt = now_s() - t0;
        int ok = 0;
        for (int i = 0; i < N; i++) ok += check_mixed_response(&reqs[i], &resps[i], i);
        CHECK(ok == N);
        CHECK(dt >= 0.55 && dt < 2.5);
        printf("32 requests x 300 ms at concurrency 16: %.2f s\n", dt);
        b->vt->destroy(b);
    }
    openai_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.base_url = s.url;
    cfg.model = "fake-model";
    cfg.max_retries = 1;
    cfg.retry_base_s = 0.01;
    cfg.timeout_s = 0.1;
    b = openai_backend_new(&cfg, err, sizeof err);
    CHECK(b != NULL);
    if (b) {
        response_free(&resps[0]);
        CHECK(b->vt->run(b, reqs, resps, 1, err, sizeof err) == 0);
        CHECK(resps[0].status == RESP_FAILED && resps[0].attempts == 2);
        CHECK(contains(resps[0].error, "timeout waiting for http://127.0.0.1:"));
        CHECK(contains(resps[0].error, "(after 2 attempts)"));
        printf("timeout: %s\n", resps[0].error ? resps[0].error : "(null)");
        b->vt->destroy(b);
    }
    free_batch(reqs, resps, N);
    server_stop(&s);
}

int main(void)
{
    fake_path = getenv("FAKE_OPENAI");
    struct stat st;
    if (!fake_path || !*fake_path || stat(fake_path, &st) != 0) {
        printf("skip: FAKE_OPENAI is not set to the fake_openai binary (tests/server)\n");
        return 77;
    }
    test_mixed_with_faults();
    test_rejected_key();
    test_exhausted_and_not_retried();
    test_429_slows_the_client();
    test_concurrency_and_timeout();
    return check_summary();
}
