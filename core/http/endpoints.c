/* endpoints.c — endpoint selection, health and 429 slowing (see endpoints.h). */
#include "endpoints.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "openai_json.h"
#include "util/buf.h"

static int is_sep(char c)
{
    return c == '|' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void add_endpoint(endpoint_set *s, char *url)
{
    s->items = xrealloc(s->items, (s->count + 1) * sizeof *s->items);
    endpoint *e = &s->items[s->count++];
    memset(e, 0, sizeof *e);
    e->url = url;
    e->window = s->max_window;
}

int endpoints_init(endpoint_set *s, const char *base_url, int chat, int max_window, char *err,
                   size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->max_window = max_window > 0 ? max_window : 1;
    const char *p = base_url ? base_url : "";
    while (*p) {
        while (*p && is_sep(*p)) p++;
        size_t n = 0;
        while (p[n] && !is_sep(p[n])) n++;
        if (n == 0) break;
        char *one = xstrndup(p, n);
        char *url = oai_endpoint_url(one, chat, err, errlen);
        free(one);
        if (!url) {
            endpoints_free(s);
            return -1;
        }
        add_endpoint(s, url);
        p += n;
    }
    if (s->count == 0) {
        free(oai_endpoint_url(NULL, chat, err, errlen)); /* fills the "base_url is required" message */
        return -1;
    }
    return 0;
}

void endpoints_free(endpoint_set *s)
{
    for (size_t i = 0; i < s->count; i++) free(s->items[i].url);
    free(s->items);
    memset(s, 0, sizeof *s);
}

static int any_healthy(const endpoint_set *s)
{
    for (size_t i = 0; i < s->count; i++)
        if (s->items[i].aside_until == 0) return 1;
    return 0;
}

/* Whether e may take an attempt now; *wake lowered to when it might. */
static int available(const endpoint *e, int healthy_exist, double now, double *wake)
{
    if (e->pause_until > now) {
        if (*wake == 0 || e->pause_until < *wake) *wake = e->pause_until;
        return 0;
    }
    if (e->in_flight >= (int)e->window) return 0;
    if (e->aside_until == 0 || !healthy_exist) return 1;
    if (e->probing) return 0;
    if (e->aside_until > now) {
        if (*wake == 0 || e->aside_until < *wake) *wake = e->aside_until;
        return 0;
    }
    return 1;
}

int endpoints_pick(endpoint_set *s, double now, double *wake)
{
    int best = -1, healthy = any_healthy(s);
    *wake = 0;
    for (size_t i = 0; i < s->count; i++) {
        const endpoint *e = &s->items[i];
        if (!available(e, healthy, now, wake)) continue;
        if (best < 0 || e->in_flight < s->items[best].in_flight ||
            (e->in_flight == s->items[best].in_flight && e->attempts < s->items[best].attempts))
            best = (int)i;
    }
    return best;
}

void endpoints_started(endpoint_set *s, int i)
{
    endpoint *e = &s->items[i];
    e->in_flight++;
    e->attempts++;
    if (e->aside_until != 0 && any_healthy(s)) e->probing = 1;
}

void endpoints_released(endpoint_set *s, int i)
{
    endpoint *e = &s->items[i];
    e->in_flight--;
    e->probing = 0;
}

/* One more failure of e in a row: the ENDPOINT_ASIDE_AFTER-th, or a failed probe, sets it
   aside (for twice as long as the last time). */
static void endpoint_failed(endpoint *e, int was_probe, double now)
{
    e->failures++;
    e->fail_streak++;
    if (was_probe || (e->aside_until == 0 && e->fail_streak >= ENDPOINT_ASIDE_AFTER)) {
        e->aside_s = e->aside_s > 0 ? 2 * e->aside_s : 1.0;
        if (e->aside_s > ENDPOINT_ASIDE_MAX_S) e->aside_s = ENDPOINT_ASIDE_MAX_S;
        e->aside_until = now + e->aside_s;
    }
}

void endpoints_answered(endpoint_set *s, int i, long status, double latency, double now)
{
    endpoint *e = &s->items[i];
    int was_probe = e->probing;
    endpoints_released(s, i);
    e->answered++;
    e->latency_sum += latency;
    if (status >= 500) {
        endpoint_failed(e, was_probe, now);
        return;
    }
    e->fail_streak = 0;
    e->aside_until = 0;
    e->aside_s = 0;
    if (status >= 400) e->failures++;
    if (status >= 200 && status < 300) {
        e->throttle_streak = 0;
        if (e->window < s->max_window) e->window += 1;
    }
}

void endpoints_conn_failed(endpoint_set *s, int i, double now)
{
    endpoint *e = &s->items[i];
    int was_probe = e->probing;
    endpoints_released(s, i);
    endpoint_failed(e, was_probe, now);
}

void endpoints_throttled(endpoint_set *s, int i, double retry_after, double base_s, double jitter01,
                         double now)
{
    endpoint *e = &s->items[i];
    int fresh = e->pause_until <= now; /* the first 429 of a burst decides the window */
    e->throttled++;
    double delay = retry_after;
    if (delay < 0) delay = base_s * pow(2.0, e->throttle_streak) * (0.5 + 0.5 * jitter01);
    if (delay > ENDPOINT_PAUSE_MAX_S) delay = ENDPOINT_PAUSE_MAX_S;
    e->throttle_streak++;
    if (now + delay > e->pause_until) e->pause_until = now + delay;
    if (!fresh) return;
    double half = floor((e->in_flight + 1) / 2.0); /* this attempt was in flight too */
    if (half < 1) half = 1;
    if (half < e->window) e->window = half;
}
