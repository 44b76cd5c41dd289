/* test_ratelimit.c — the OpenAI backend's pacing with a fake clock: rpm and tpm token
 * buckets (bursts, steady rate, debt from a large request, usage corrections), and the
 * endpoint set (least in flight, a dead endpoint set aside and probed, a 429 pausing and
 * narrowing an endpoint). No network. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http/endpoints.h"
#include "http/ratelimit.h"

/* Start as many one-unit requests as the limiter allows between t0 and t1, stepping the fake
   clock to each moment it says a request may go. */
static int requests_between(rate_limiter *l, double est, double t0, double t1)
{
    int sent = 0;
    double t = t0;
    for (;;) {
        double wait = limiter_wait(l, est, t);
        t += wait;
        if (t > t1) break;
        limiter_take(l, est, t);
        sent++;
    }
    return sent;
}

static void test_rpm(void)
{
    rate_limiter l;
    limiter_init(&l, 600, 0, 100.0); /* 10 a second, a burst of 10 */
    CHECK(limiter_wait(&l, 0, 100.0) == 0);
    /* the burst goes at once, then one every 0.1 s */
    CHECK(requests_between(&l, 0, 100.0, 100.0) == 10);
    CHECK_NEAR(limiter_wait(&l, 0, 100.0), 0.1, 1e-9);
    CHECK(requests_between(&l, 0, 100.0, 160.0) == 600); /* one minute: 600 */
    /* unlimited */
    limiter_init(&l, 0, 0, 0);
    CHECK(limiter_wait(&l, 1e9, 5.0) == 0);
    /* a slow rate: 30 a minute is one every 2 s, a burst of 1 */
    limiter_init(&l, 30, 0, 0);
    CHECK(requests_between(&l, 0, 0, 10.0) == 6); /* t = 0, 2, 4, 6, 8, 10 */
}

static void test_tpm(void)
{
    rate_limiter l;
    limiter_init(&l, 0, 6000, 0); /* 100 tokens a second, capacity 100 */
    CHECK(limiter_wait(&l, 50, 0) == 0);
    limiter_take(&l, 50, 0);
    CHECK(limiter_wait(&l, 50, 0) == 0);
    limiter_take(&l, 50, 0);
    CHECK_NEAR(limiter_wait(&l, 50, 0), 0.5, 1e-9);
    /* a request larger than the capacity waits for a full bucket, then leaves a debt */
    limiter_init(&l, 0, 6000, 0);
    CHECK(limiter_wait(&l, 1000, 0) == 0);
    limiter_take(&l, 1000, 0); /* level -900 */
    CHECK_NEAR(limiter_wait(&l, 10, 0), 9.1, 1e-9);
    /* the estimate is corrected by the usage: the server counted 200, not 1000 */
    limiter_correct(&l, 1000, 200, 0); /* level -100 */
    CHECK_NEAR(limiter_wait(&l, 10, 0), 1.1, 1e-9);
    /* no usage (0): the estimate stands */
    limiter_correct(&l, 1000, 0, 0);
    CHECK_NEAR(limiter_wait(&l, 10, 0), 1.1, 1e-9);
    /* over a minute the tokens sent stay within the limit plus one second's burst */
    limiter_init(&l, 0, 6000, 0);
    int n = requests_between(&l, 30, 0, 60.0);
    CHECK(n * 30 <= 6000 + 100 + 30 && n * 30 >= 6000 - 30);
    CHECK_NEAR(limiter_estimate(400, 16), 116, 1e-9);
}

static void test_bucket_clock(void)
{
    token_bucket b;
    bucket_init(&b, 60, 10.0); /* 1 a second */
    bucket_take(&b, 1, 10.0);
    CHECK_NEAR(bucket_wait(&b, 1, 10.5), 0.5, 1e-9);
    CHECK(bucket_wait(&b, 1, 11.0) == 0);
    bucket_take(&b, 1, 11.0);
    CHECK_NEAR(bucket_wait(&b, 1, 9.0), 1.0, 1e-9); /* an earlier time never refills */
    bucket_adjust(&b, 100, 11.0);              /* never above the capacity */
    CHECK_NEAR(b.level, 1.0, 1e-9);
}

static endpoint_set three_endpoints(int window)
{
    endpoint_set s;
    char err[256];
    int rc = endpoints_init(&s, "http://a/v1|http://b/v1 http://c/v1", 0, window, err, sizeof err);
    CHECK(rc == 0 && s.count == 3);
    return s;
}

static void test_pick_least_in_flight(void)
{
    endpoint_set s = three_endpoints(4);
    double wake;
    int order[6];
    for (int k = 0; k < 6; k++) {
        order[k] = endpoints_pick(&s, 0, &wake);
        endpoints_started(&s, order[k]);
    }
    /* spread evenly: a, b, c, a, b, c */
    CHECK(order[0] == 0 && order[1] == 1 && order[2] == 2 && order[3] == 0 && order[4] == 1 && order[5] == 2);
    endpoints_answered(&s, 1, 200, 0.010, 0);
    endpoints_answered(&s, 1, 200, 0.030, 0);
    CHECK(endpoints_pick(&s, 0, &wake) == 1); /* b has the fewest in flight now */
    CHECK_NEAR(s.items[1].latency_sum / (double)s.items[1].answered, 0.020, 1e-12);
    /* every window full: nothing, and no time to wake at (a finishing attempt frees one) */
    endpoint_set full = three_endpoints(1);
    for (int k = 0; k < 3; k++) endpoints_started(&full, k);
    CHECK(endpoints_pick(&full, 0, &wake) == -1 && wake == 0);
    endpoints_free(&full);
    endpoints_free(&s);
}

static void test_set_aside_and_probe(void)
{
    endpoint_set s = three_endpoints(8);
    double wake;
    /* a fails three times in a row at the connection level: set aside for 1 s */
    for (int k = 0; k < ENDPOINT_ASIDE_AFTER; k++) {
        endpoints_started(&s, 0);
        endpoints_conn_failed(&s, 0, 10.0);
    }
    CHECK(s.items[0].aside_until == 11.0);
    for (int k = 0; k < 16; k++) {
        int i = endpoints_pick(&s, 10.5, &wake);
        CHECK(i == 1 || i == 2);
        endpoints_started(&s, i);
    }
    CHECK(endpoints_pick(&s, 10.5, &wake) == -1 && wake == 11.0); /* b, c full; a's probe at 11 */
    /* at 11 s one probe goes to a; while it is out, nothing else does */
    s.items[1].in_flight = s.items[2].in_flight = 7;
    CHECK(endpoints_pick(&s, 11.0, &wake) == 0);
    endpoints_started(&s, 0);
    CHECK(s.items[0].probing);
    CHECK(endpoints_pick(&s, 11.0, &wake) != 0);
    /* the probe fails: aside for 2 s */
    endpoints_conn_failed(&s, 0, 11.2);
    CHECK_NEAR(s.items[0].aside_until, 13.2, 1e-9);
    /* the next probe gets a 503: still not serving, aside for 4 s */
    endpoints_started(&s, 0);
    endpoints_answered(&s, 0, 503, 0.01, 13.3);
    CHECK_NEAR(s.items[0].aside_until, 17.3, 1e-9);
    CHECK(endpoints_pick(&s, 15.0, &wake) != 0);
    /* the next probe is answered (a 400 is an answer: the server is up): healthy again */
    CHECK(endpoints_pick(&s, 17.3, &wake) == 0);
    endpoints_started(&s, 0);
    endpoints_answered(&s, 0, 400, 0.01, 17.4);
    CHECK(s.items[0].aside_until == 0 && s.items[0].fail_streak == 0);
    /* 5xx answers in a row set a healthy endpoint aside like connection failures do; an
       answer in between starts the count again */
    endpoints_started(&s, 1);
    endpoints_answered(&s, 1, 502, 0.01, 20.0);
    endpoints_started(&s, 1);
    endpoints_answered(&s, 1, 200, 0.01, 20.0);
    for (int k = 0; k < ENDPOINT_ASIDE_AFTER - 1; k++) {
        endpoints_started(&s, 1);
        endpoints_answered(&s, 1, 500, 0.01, 20.0);
    }
    CHECK(s.items[1].aside_until == 0);
    endpoints_started(&s, 1);
    endpoints_answered(&s, 1, 504, 0.01, 20.0);
    CHECK(s.items[1].aside_until == 21.0);
    /* a 429 is not a failure of the endpoint (it pauses it instead) */
    for (int k = 0; k < 5; k++) {
        endpoints_started(&s, 2);
        endpoints_answered(&s, 2, 429, 0.01, 20.0);
    }
    CHECK(s.items[2].aside_until == 0);
    /* with every endpoint aside they are all used as if healthy (the requests' own backoff
       paces the retries), so a lone dead server fails its requests as before */
    endpoint_set one;
    char err[256];
    CHECK(endpoints_init(&one, "http://x/v1", 0, 4, err, sizeof err) == 0);
    for (int k = 0; k < 5; k++) {
        endpoints_started(&one, 0);
        endpoints_conn_failed(&one, 0, 1.0);
    }
    CHECK(one.items[0].aside_until > 1.0);
    CHECK(endpoints_pick(&one, 1.0, &wake) == 0);
    endpoints_free(&one);
    endpoints_free(&s);
}

static void test_throttle(void)
{
    endpoint_set s = three_endpoints(16);
    double wake;
    for (int k = 0; k < 8; k++) endpoints_started(&s, 0);
    /* a 429 with Retry-After 2: paused until +2 s, window halved from 8 in flight to 4 */
    endpoints_answered(&s, 0, 429, 0.01, 100.0);
    endpoints_throttled(&s, 0, 2.0, 0.5, 0.0, 100.0);
    CHECK(s.items[0].pause_until == 102.0 && s.items[0].window == 4 && s.items[0].throttled == 1);
    /* the other 429s of the burst do not narrow it further */
    endpoints_answered(&s, 0, 429, 0.01, 100.1);
    endpoints_throttled(&s, 0, 2.0, 0.5, 0.0, 100.1);
    CHECK(s.items[0].window == 4 && s.items[0].pause_until == 102.1);
    /* paused: never picked; the wake time is the end of the pause when all are paused */
    s.items[1].pause_until = s.items[2].pause_until = 103.0;
    CHECK(endpoints_pick(&s, 101.0, &wake) == -1 && wake == 102.1);
    /* 6 attempts still in flight there: the window of 4 keeps it closed until two finish */
    CHECK(endpoints_pick(&s, 102.2, &wake) == -1);
    endpoints_answered(&s, 0, 200, 0.01, 102.2);
    endpoints_answered(&s, 0, 200, 0.01, 102.2);
    CHECK(s.items[0].window == 6 && s.items[0].in_flight == 4);
    CHECK(endpoints_pick(&s, 102.2, &wake) == 0);
    /* each success widens it by one, up to the concurrency */
    for (int k = 0; k < 20; k++) {
        endpoints_started(&s, 0);
        endpoints_answered(&s, 0, 200, 0.01, 103.0);
    }
    CHECK(s.items[0].window == 16);
    /* no Retry-After: an exponential backoff from the base */
    endpoints_started(&s, 1);
    endpoints_answered(&s, 1, 429, 0.01, 200.0);
    endpoints_throttled(&s, 1, -1, 0.5, 0.0, 200.0);
    CHECK_NEAR(s.items[1].pause_until, 200.25, 1e-9); /* 0.5 * 2^0 * (0.5 + 0) */
    endpoints_free(&s);
}

static void test_endpoint_urls(void)
{
    endpoint_set s;
    char err[256];
    CHECK(endpoints_init(&s, "http://a/v1/", 1, 4, err, sizeof err) == 0);
    CHECK(s.count == 1 && strcmp(s.items[0].url, "http://a/v1/chat/completions") == 0);
    endpoints_free(&s);
    CHECK(endpoints_init(&s, "http://a/v1|http://b/v1/completions", 1, 4, err, sizeof err) == -1);
    CHECK(strstr(err, "http://b/v1/completions") != NULL);
    CHECK(endpoints_init(&s, "", 0, 4, err, sizeof err) == -1);
    CHECK(strstr(err, "base_url is required") != NULL);
}

int main(void)
{
    test_rpm();
    test_tpm();
    test_bucket_clock();
    test_pick_least_in_flight();
    test_set_aside_and_probe();
    test_throttle();
    test_endpoint_urls();
    return check_summary();
}
