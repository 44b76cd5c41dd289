/* test_http_engine.c — the OpenAI backend's engine against the fake server (tests/server,
 * $FAKE_OPENAI): batching through injected faults, a batch split after a context-length 400,
 * several endpoints with a dead one, the rpm limiter seen in the server's arrival times,
 * servers that refuse echo + logprobs (the run stops at once, quoting them), and the
 * truncated / reasoning fields. Expected values follow tests/server/README.md. Skips (77)
 * when FAKE_OPENAI is unset or missing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fake_server.h"
#include "http/endpoints.h"
#include "http/openai.h"
#include "util/buf.h"

static openai_config engine_config(const char *url, int chat, int concurrency, int batch, double rpm)
{
    openai_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.chat = chat;
    cfg.base_url = url;
    cfg.model = "fake-model";
    cfg.concurrency = concurrency;
    cfg.max_retries = 10;
    cfg.retry_base_s = 0.01;
    cfg.timeout_s = 20;
    cfg.batch_size = batch;
    cfg.rpm = rpm;
    return cfg;
}

static backend *open_backend(const openai_config *cfg)
{
    char err[256];
    backend *b = openai_backend_new(cfg, err, sizeof err);
    if (!b) fprintf(stderr, "openai_backend_new: %s\n", err);
    return b;
}

static backend *engine_backend(const char *url, int chat, int concurrency, int batch, double rpm)
{
    openai_config cfg = engine_config(url, chat, concurrency, batch, rpm);
    return open_backend(&cfg);
}

static int log_lines(const server *s)
{
    char path[160], line[8192];
    dir_file(s, "log", path, sizeof path);
    FILE *f = fopen(path, "r");
    int n = 0;
    while (f && fgets(line, sizeof line, f)) n += strchr(line, '\n') != NULL;
    if (f) fclose(f);
    return n;
}

static int start(server *s, const char *const *args)
{
    int ok = server_start(s, args) == 0;
    CHECK(ok);
    return ok;
}

/* 30 echo requests then 30 generate ones, batch_size 4, through 500s and truncated bodies:
   every answer right, batches retried whole, 16 bodies at most once each plus retries. */
static void test_batching_through_faults(void)
{
    server s;
    const char *args[] = {"--fail-every", "5", "--truncate-every", "7", NULL};
    if (!start(&s, args)) return;
    enum { N = 60 };
    eval_request reqs[N];
    eval_response resps[N];
    int which[N];
    memset(resps, 0, sizeof resps);
    for (int k = 0; k < 30; k++) which[k] = 3 * (k / 2) + k % 2; /* loglikelihood, rolling */
    for (int k = 0; k < 30; k++) which[30 + k] = 3 * k + 2;      /* generate */
    for (int k = 0; k < N; k++) mixed_request(&reqs[k], which[k]);
    backend *b = engine_backend(s.url, 0, 4, 4, 0);
    char err[256];
    if (b) {
        CHECK(b->vt->run(b, reqs, resps, N, err, sizeof err) == 0);
        int ok = 0;
        for (int k = 0; k < N; k++) ok += check_mixed_response(&reqs[k], &resps[k], which[k]);
        CHECK(ok == N);
        const openai_counters *c = openai_backend_counters(b);
        CHECK(c->batched >= N); /* request attempts sent in bodies with others */
        int sent = log_lines(&s);
        CHECK(sent == c->http_requests && sent > 16 && sent < 40); /* 16 bodies + retries */
        CHECK(b->stats.retries > 0 && b->stats.failed == 0);
        printf("batching: %d requests in %d HTTP requests (16 without faults)\n", N, sent);
        b->vt->destroy(b);
    }
    free_batch(reqs, resps, N);
    server_stop(&s);
}

/* A prompt over --max-context: alone it fails at once, naming the limit; in a batch the
   batch is split and only that prompt fails. */
static void test_context_limit(void)
{
    server s;
    const char *args[] = {"--max-context", "12", NULL};
    if (!start(&s, args)) return;
    enum { N = 8 };
    eval_request reqs[N];
    eval_response resps[N];
    memset(resps, 0, sizeof resps);
    for (int k = 0; k < N; k++) {
        mixed_request(&reqs[k], 3 * k + 2);
        reqs[k].gen.max_tokens = 5;
    }
    free(reqs[5].context);
    reqs[5].context = xstrdup("one two three four five six seven eight nine ten eleven twelve");
    for (int batch = 1; batch <= 4; batch += 3) {
        backend *b = engine_backend(s.url, 0, 2, batch, 0);
        char err[256];
        if (!b) continue;
        CHECK(b->vt->run(b, reqs, resps, N, err, sizeof err) == 0);
        int ok = 0;
        for (int k = 0; k < N; k++) ok += resps[k].status == RESP_OK;
        CHECK(ok == N - 1 && resps[5].status == RESP_FAILED);
        CHECK(contains(resps[5].error, "prompt longer than the server's context limit: HTTP 400 from"));
        CHECK(contains(resps[5].error, "maximum context length is 12 tokens"));
        CHECK(!contains(resps[5].error, "after"));                 /* not retried */
        CHECK(resps[5].attempts == (batch == 1 ? 1 : 2));          /* batched: once more alone */
        CHECK(openai_backend_counters(b)->splits == (batch == 1 ? 0 : 1));
        if (batch == 4) printf("context limit: %s\n", resps[5].error);
        b->vt->destroy(b);
        for (int k = 0; k < N; k++) response_free(&resps[k]);
    }
    free_batch(reqs, resps, N);
    server_stop(&s);
}

/* Three endpoints, the middle one dead: everything is answered by the two live ones, the
   dead one is set aside after a few connection failures, and the counters say so. */
static void test_several_endpoints(void)
{
    server a, c;
    const char *slow[] = {"--delay-ms", "20", NULL}; /* latency, not CPU luck, decides the share */
    if (!start(&a, slow)) return;
    if (!start(&c, slow)) {
        server_stop(&a);
        return;
    }
    char urls[320];
    snprintf(urls, sizeof urls, "%s|http://127.0.0.1:1/v1 %s", a.url, c.url);
    enum { N = 120 };
    eval_request reqs[N];
    eval_response resps[N];
    memset(resps, 0, sizeof resps);
    for (int k = 0; k < N; k++) mixed_request(&reqs[k], k);
    backend *b = engine_backend(urls, 0, 8, 1, 0);
    char err[256];
    if (b) {
        CHECK(b->vt->run(b, reqs, resps, N, err, sizeof err) == 0);
        int ok = 0;
        for (int k = 0; k < N; k++) ok += check_mixed_response(&reqs[k], &resps[k], k);
        CHECK(ok == N);
        openai_endpoint_stats e[3];
        CHECK(openai_backend_endpoints(b, e, 3) == 3);
        CHECK(e[1].requests >= ENDPOINT_ASIDE_AFTER && e[1].requests <= ENDPOINT_ASIDE_AFTER + 8);
        CHECK(e[1].failures == e[1].requests);
        CHECK(e[0].requests >= 40 && e[2].requests >= 40);          /* shared between the two */
        CHECK(e[0].requests + e[2].requests == log_lines(&a) + log_lines(&c));
        CHECK(e[0].mean_latency_s >= 0.019 && e[0].mean_latency_s < 1.0);
        printf("endpoints: %lld + %lld answered, %lld to the dead one\n", (long long)e[0].requests,
               (long long)e[2].requests, (long long)e[1].requests);
        b->vt->destroy(b);
    }
    free_batch(reqs, resps, N);
    server_stop(&a);
    server_stop(&c);
}

/* rpm=1200: a burst of 20 at once, then one every 50 ms, as the server saw them arrive. */
static void test_rpm_in_server_times(void)
{
    server s;
    const char *args[] = {"--log-times", "1", NULL};
    if (!start(&s, args)) return;
    enum { N = 40 };
    eval_request reqs[N];
    eval_response resps[N];
    memset(resps, 0, sizeof resps);
    for (int k = 0; k < N; k++) mixed_request(&reqs[k], 3 * k + 2);
    backend *b = engine_backend(s.url, 0, 16, 1, 1200);
    char err[256];
    double dt = 0;
    if (b) {
        double t0 = now_s();
        CHECK(b->vt->run(b, reqs, resps, N, err, sizeof err) == 0);
        dt = now_s() - t0;
        b->vt->destroy(b);
    }
    char path[160], line[4096];
    double t[N];
    int n = 0;
    dir_file(&s, "log", path, sizeof path);
    FILE *f = fopen(path, "r");
    while (f && n < N && fgets(line, sizeof line, f)) {
        long num;
        char url[64];
        if (sscanf(line, "%ld %63s %lf", &num, url, &t[n]) == 3) n++;
    }
    if (f) fclose(f);
    CHECK(n == N);
    if (n == N) {
        double spread = (t[N - 1] - t[19]) / (N - 20); /* ms between requests after the burst */
        CHECK(t[19] - t[0] < 200);                    /* the burst */
        CHECK(spread >= 45 && spread < 150);
        CHECK(dt >= 0.9 && dt < 4);
        printf("rpm=1200: burst of 20 in %.0f ms, then one every %.1f ms; %.2f s in all\n",
               t[19] - t[0], spread, dt);
    }
    free_batch(reqs, resps, N);
    server_stop(&s);
}

/* A server that refuses the echo + logprobs request: the run stops at once (a handful of
   requests sent, not one per document), every response says why, quoting the server. */
static void check_refuses_echo(const char *quirk, const char *server_says)
{
    server s;
    const char *args[] = {"--quirks", quirk, NULL};
    if (!start(&s, args)) return;
    enum { N = 30 };
    eval_request reqs[N];
    eval_response resps[N];
    memset(resps, 0, sizeof resps);
    for (int k = 0; k < N; k++) mixed_request(&reqs[k], 3 * k);
    backend *b = engine_backend(s.url, 0, 4, 1, 0);
    char err[512] = "";
    if (b) {
        CHECK(b->vt->run(b, reqs, resps, N, err, sizeof err) == -1);
        CHECK(contains(err, "does not accept the echo=true + logprobs request"));
        CHECK(contains(err, server_says));
        CHECK(contains(err, "--mc-mode generative"));
        int failed = 0;
        for (int k = 0; k < N; k++) failed += resps[k].status == RESP_FAILED && contains(resps[k].error, server_says);
        CHECK(failed == N);
        CHECK(log_lines(&s) <= 4);
        printf("%s: %s\n", quirk, err);
        b->vt->destroy(b);
    }
    free_batch(reqs, resps, N);
    /* generation still works there */
    eval_request g;
    eval_response r;
    memset(&r, 0, sizeof r);
    mixed_request(&g, 2);
    b = engine_backend(s.url, 0, 1, 1, 0);
    if (b) {
        CHECK(b->vt->run(b, &g, &r, 1, err, sizeof err) == 0 && r.status == RESP_OK);
        b->vt->destroy(b);
    }
    request_free(&g);
    response_free(&r);
    server_stop(&s);
}

/* finish_reason "length" marks a generation truncated; a reasoning model's null content is
   an empty answer with its reasoning kept. */
static void test_truncated_and_reasoning(void)
{
    server s;
    char dir[] = "/tmp/evallua_rules_XXXXXX", rules[160];
    if (!mkdtemp(dir)) return;
    snprintf(rules, sizeof rules, "%s/rules.jsonl", dir);
    FILE *f = fopen(rules, "w");
    if (f) {
        fputs("{\"suffix\":\"think\",\"text\":null,\"reasoning\":\"let me see\"}\n", f);
        fclose(f);
    }
    const char *args[] = {"--rules", rules, NULL};
    if (f && start(&s, args)) {
        eval_request reqs[3];
        eval_response resps[3];
        memset(resps, 0, sizeof resps);
        for (int k = 0; k < 3; k++) mixed_request(&reqs[k], 3 * k + 2);
        reqs[0].gen.max_tokens = 2;  /* "The answer": cut */
        reqs[1].gen.max_tokens = 50; /* "The answer is 42." then the stop string */
        free(reqs[2].context);
        reqs[2].context = xstrdup("please think");
        backend *b = engine_backend(s.url, 0, 2, 1, 0), *chat = engine_backend(s.url, 1, 2, 1, 0);
        char err[256];
        if (b && chat) {
            CHECK(b->vt->run(b, reqs, resps, 2, err, sizeof err) == 0);
            CHECK(chat->vt->run(chat, reqs + 2, resps + 2, 1, err, sizeof err) == 0);
            CHECK(resps[0].status == RESP_OK && resps[0].truncated == 1);
            CHECK_STR(resps[0].text, "The answer");
            CHECK(resps[1].status == RESP_OK && resps[1].truncated == 0);
            CHECK(resps[2].status == RESP_OK && resps[2].text && resps[2].text[0] == '\0');
            CHECK_STR(resps[2].reasoning, "let me see");
        }
        if (b) b->vt->destroy(b);
        if (chat) chat->vt->destroy(chat);
        free_batch(reqs, resps, 3);
        server_stop(&s);
    }
    unlink(rules);
    rmdir(dir);
}

/* Arrival times (ms) of the first n requests in s's log (--log-times 1); returns how many. */
static int arrival_times(const server *s, double *t, int n)
{
    char path[160], line[4096];
    int got = 0;
    dir_file(s, "log", path, sizeof path);
    FILE *f = fopen(path, "r");
    while (f && got < n && fgets(line, sizeof line, f)) {
        long num;
        char url[64];
        if (sscanf(line, "%ld %63s %lf", &num, url, &t[got]) == 3) got++;
    }
    if (f) fclose(f);
    return got;
}

/* A 429 whose Retry-After is seconds ("1.5") or an HTTP-date 2 s ahead (1 s resolution, so
   1-2 s from the first attempt): the retry waits that long, not the 10 ms backoff. */
static void check_retry_after(const char *value, int as_date, double min_ms, double max_ms)
{
    server s;
    const char *args[] = {"--fail-first", "1", "--fail-status", "429", "--retry-after", value,
                          "--retry-after-date", as_date ? "1" : "0", "--log-times", "1", NULL};
    if (!start(&s, args)) return;
    eval_request req;
    eval_response resp;
    memset(&resp, 0, sizeof resp);
    mixed_request(&req, 2);
    backend *b = engine_backend(s.url, 0, 4, 1, 0);
    char err[256];
    if (b) {
        CHECK(b->vt->run(b, &req, &resp, 1, err, sizeof err) == 0);
        CHECK(check_mixed_response(&req, &resp, 2));
        CHECK(resp.attempts == 2);
        double t[2];
        CHECK(arrival_times(&s, t, 2) == 2);
        double gap = t[1] - t[0];
        CHECK(gap >= min_ms && gap <= max_ms);
        printf("Retry-After %s%s: retried after %.0f ms\n", value, as_date ? " s as an HTTP-date" : "", gap);
        b->vt->destroy(b);
    }
    free_batch(&req, &resp, 1);
    server_stop(&s);
}

/* A live server and two that stop answering another way: one answers every request with a
   503, the other stalls every request past the 0.3 s timeout. Both are set aside after
   ENDPOINT_ASIDE_AFTER failures in a row, everything is answered by the live one, each is
   probed once more when its second comes, and the counters say so. */
static void test_endpoints_set_aside_on_5xx_and_timeouts(void)
{
    server live, err5, stall;
    const char *ok_args[] = {"--delay-ms", "100", NULL}; /* the first run outlasts two timeouts */
    const char *err_args[] = {"--fail-every", "1", "--fail-status", "503", NULL};
    const char *stall_args[] = {"--stall-every", "1", "--stall-ms", "5000", NULL};
    if (!start(&live, ok_args)) return;
    if (!start(&err5, err_args)) {
        server_stop(&live);
        return;
    }
    if (!start(&stall, stall_args)) {
        server_stop(&live);
        server_stop(&err5);
        return;
    }
    char urls[400];
    snprintf(urls, sizeof urls, "%s|%s|%s", live.url, err5.url, stall.url);
    enum { N = 60, N1 = 40 };
    eval_request reqs[N];
    eval_response resps[N];
    memset(resps, 0, sizeof resps);
    for (int k = 0; k < N; k++) mixed_request(&reqs[k], k);
    openai_config cfg = engine_config(urls, 0, 6, 1, 0);
    cfg.timeout_s = 0.3;
    backend *b = open_backend(&cfg);
    char err[256];
    if (b) {
        openai_endpoint_stats e[3];
        CHECK(b->vt->run(b, reqs, resps, N1, err, sizeof err) == 0);
        CHECK(openai_backend_endpoints(b, e, 3) == 3);
        int64_t first_503 = e[1].requests, first_stall = e[2].requests;
        /* each took at most its failures in a row plus what was in flight when it went aside */
        CHECK(first_503 >= ENDPOINT_ASIDE_AFTER && first_503 <= ENDPOINT_ASIDE_AFTER + 6);
        CHECK(first_stall >= ENDPOINT_ASIDE_AFTER && first_stall <= ENDPOINT_ASIDE_AFTER + 6);
        CHECK(e[1].failures == e[1].requests && e[2].failures == e[2].requests);
        sleep_ms(1200); /* past the first 1 s aside: the next (shorter) run probes each once */
        CHECK(b->vt->run(b, reqs + N1, resps + N1, N - N1, err, sizeof err) == 0);
        CHECK(openai_backend_endpoints(b, e, 3) == 3);
        int ok = 0;
        for (int k = 0; k < N; k++) ok += check_mixed_response(&reqs[k], &resps[k], k);
        CHECK(ok == N);
        CHECK(e[1].requests == first_503 + 1);   /* one probe; it failed: aside for 2 s */
        CHECK(e[2].requests == first_stall + 1);
        CHECK(e[0].requests == N && log_lines(&live) == N);
        CHECK(log_lines(&err5) == e[1].requests);
        printf("set aside: 503 server %lld attempts, stalling server %lld, live %lld\n",
               (long long)e[1].requests, (long long)e[2].requests, (long long)e[0].requests);
        b->vt->destroy(b);
    }
    free_batch(reqs, resps, N);
    server_stop(&live);
    server_stop(&err5);
    server_stop(&stall);
}

/* tpm=4800 (80 tokens/s, a bucket of 80) on the real clock: 30 generate requests, each
   estimated at max_tokens 256 + prompt bytes / 4 (ratelimit.h) but using ~7 tokens by the
   server's usage. Charged by the estimates alone they would need more than 90 s. Corrected by
   usage as answers come: an estimate above the bucket waits for a full bucket (ratelimit.h),
   so each start after the first waits until the previous requests' usage is refilled — at
   least (sum of usage - the largest) / rate: about 2 s, not a burst, not a minute and a half. */
static void test_tpm_real_clock(void)
{
    server s;
    const char *args[] = {"--log-times", "1", NULL};
    if (!start(&s, args)) return;
    enum { N = 30 };
    eval_request reqs[N];
    eval_response resps[N];
    memset(resps, 0, sizeof resps);
    for (int k = 0; k < N; k++) mixed_request(&reqs[k], 3 * k + 2); /* generate, max_tokens unset */
    openai_config cfg = engine_config(s.url, 0, 8, 1, 0);
    cfg.tpm = 4800;
    backend *b = open_backend(&cfg);
    char err[256];
    if (b) {
        double t0 = now_s();
        CHECK(b->vt->run(b, reqs, resps, N, err, sizeof err) == 0);
        double dt = now_s() - t0, rate = 4800 / 60.0, bucket = rate, used = 0, largest = 0, estimated = 0;
        int ok = 0;
        for (int k = 0; k < N; k++) {
            ok += check_mixed_response(&reqs[k], &resps[k], 3 * k + 2);
            double u = resps[k].prompt_tokens + resps[k].completion_tokens;
            used += u;
            largest = u > largest ? u : largest;
            estimated += (double)strlen(reqs[k].context) / 4 + 256;
        }
        CHECK(ok == N);
        double fastest = (used - largest) / rate, by_estimates = (estimated - 2 * bucket) / rate;
        CHECK(fastest >= 1.5);              /* the limit holds the run back ... */
        CHECK(dt >= fastest);
        CHECK(dt <= 2 * (used + bucket) / rate + 1.0); /* ... by the usage, not the estimates */
        CHECK(by_estimates > 60);
        double t[N];
        CHECK(arrival_times(&s, t, N) == N);
        CHECK((t[N - 1] - t[0]) / 1000 >= fastest);
        printf("tpm=4800: %d requests, %.0f tokens used (%.0f estimated): %.2f s (at least %.2f by "
               "usage, %.0f by estimates alone)\n", N, used, estimated, dt, fastest, by_estimates);
        b->vt->destroy(b);
    }
    free_batch(reqs, resps, N);
    server_stop(&s);
}

int main(void)
{
    fake_path = fake_server_path();
    if (!fake_path) {
        printf("skip: FAKE_OPENAI is not set to the fake_openai binary (tests/server)\n");
        return 77;
    }
    test_batching_through_faults();
    test_context_limit();
    test_several_endpoints();
    test_rpm_in_server_times();
    check_refuses_echo("logprobs-bool", "Input should be a valid boolean");
    check_refuses_echo("no-echo-logprobs", "echo is not supported together with logprobs");
    test_truncated_and_reasoning();
    check_retry_after("1.5", 0, 1400, 3000);
    check_retry_after("2", 1, 900, 3500);
    test_endpoints_set_aside_on_5xx_and_timeouts();
    test_tpm_real_clock();
    return check_summary();
}
