/* endpoints.h — the servers one OpenAI backend spreads its requests over (base_url may list
 * several data-parallel replicas), their health, and how a 429 slows them down.
 *
 * Selection: each attempt goes to the available endpoint with the fewest attempts in flight
 * (ties: the one that has had fewer attempts). An endpoint is available when it is not
 * paused by a 429, has fewer in flight than its window, and is either healthy or due for a
 * probe.
 *
 * Health: an endpoint whose attempts fail ENDPOINT_ASIDE_AFTER times in a row — at the
 * connection level (cannot connect, reset, empty reply), by a timeout, or with a 5xx answer
 * (a proxy in front of a dead server, an overloaded or crashed one) — is set aside for 1 s,
 * doubling each time a probe fails, up to ENDPOINT_ASIDE_MAX_S. When its time comes, one
 * attempt (the probe) goes there; any answer below 500 makes it healthy again (a 429 too:
 * the server is up, only busy, and the pause below handles it). While no endpoint is healthy,
 * every endpoint is used as if healthy (each attempt's own backoff then paces the retries),
 * so a single dead server fails its requests exactly as before.
 *
 * 429: the endpoint is paused — nothing new is sent to it — until the server's Retry-After
 * (capped at 60 s) or, without one, an exponential backoff; and its window (the attempts it
 * may have in flight) is halved, then grows by one per answered attempt back to the
 * backend's concurrency. So the whole client slows down, not only the throttled request.
 * Not thread-safe: the backend's run loop owns it. */
#ifndef EVALLUA_HTTP_ENDPOINTS_H
#define EVALLUA_HTTP_ENDPOINTS_H

#include <stddef.h>
#include <stdint.h>

#define ENDPOINT_ASIDE_AFTER 3     /* consecutive failures that set one aside */
#define ENDPOINT_ASIDE_MAX_S 60.0  /* longest wait before a probe */
#define ENDPOINT_PAUSE_MAX_S 60.0  /* longest pause after a 429 */

typedef struct endpoint {
    char *url;            /* full URL of the completions or chat endpoint (owned) */
    int in_flight;
    double window;        /* attempts it may have in flight (halved on a 429) */
    double pause_until;   /* no new attempt before this time (a 429) */
    int throttle_streak;  /* 429s in a row: the backoff exponent when there is no Retry-After */
    int fail_streak;      /* failed attempts in a row (connection, timeout or 5xx) */
    double aside_until;   /* set aside until this time; 0 = healthy */
    double aside_s;       /* the current wait before a probe */
    int probing;          /* the probe is in flight */
    /* counters for the results' throughput block */
    int64_t attempts, answered, failures, throttled;
    double latency_sum;   /* seconds over answered attempts */
} endpoint;

typedef struct endpoint_set {
    endpoint *items;
    size_t count;
    int max_window;       /* the backend's concurrency */
} endpoint_set;

/* Split base_url into its URLs (separated by "|" or whitespace; see openai.h) and make
   each a full endpoint URL; -1 with err filled (naming the bad URL). */
int endpoints_init(endpoint_set *s, const char *base_url, int chat, int max_window, char *err,
                   size_t errlen);
/* Release the URLs. */
void endpoints_free(endpoint_set *s);
/* Index of the endpoint for the next attempt, or -1 when none may take one now; *wake gets
   the time when one may (a pause or probe time; 0 when only a finishing attempt can help). */
int endpoints_pick(endpoint_set *s, double now, double *wake);
/* An attempt starts at endpoint i. */
void endpoints_started(endpoint_set *s, int i);
/* The attempt at endpoint i got an HTTP answer (status) after latency seconds; a 5xx counts
   as a failure of the endpoint. */
void endpoints_answered(endpoint_set *s, int i, long status, double latency, double now);
/* The attempt at endpoint i failed at the connection level or timed out. */
void endpoints_conn_failed(endpoint_set *s, int i, double now);
/* After endpoints_answered for a 429 at endpoint i: pause it for retry_after seconds (< 0:
   none given; a backoff of base_s * 2^streak, times 0.5 + jitter01/2, is used) and, on the
   first 429 of a pause, halve its window. */
void endpoints_throttled(endpoint_set *s, int i, double retry_after, double base_s, double jitter01,
                         double now);
/* The attempt at endpoint i ended without a verdict on the endpoint (e.g. abandoned). */
void endpoints_released(endpoint_set *s, int i);

#endif
