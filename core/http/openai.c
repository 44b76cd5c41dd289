/* openai.c — the OpenAI-compatible backend object: configuration, the vtable, counters.
 * A run is engine.c; an attempt's verdict is classify.c; the wire is transport.c; where an
 * attempt goes is endpoints.c; how fast is ratelimit.c; bodies and parsing are openai_json.c. */
#include "openai.h"
#include "util/clock.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "openai_internal.h"
#include "openai_json.h"
#include "util/buf.h"

#ifndef EVALLUA_VERSION
#define EVALLUA_VERSION "dev"
#endif

static pthread_once_t oai_curl_once = PTHREAD_ONCE_INIT;
static CURLcode oai_curl_init_rc;

static void oai_curl_global_init(void)
{
    oai_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

double oai_now(void)
{
    return mono_seconds();
}

double oai_rand01(oai_backend *b)
{
    b->rng ^= b->rng >> 12;
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    return (double)((b->rng * 2685821657736338717ULL) >> 11) * 0x1.0p-53;
}

static int oai_run(backend *base, const eval_request *reqs, eval_response *resps, size_t n,
                   char *err, size_t errlen)
{
    return oai_engine_run((oai_backend *)base, reqs, resps, n, err, errlen);
}

static void wipe_free(char *s)
{
    if (s) memset(s, 0, strlen(s));
    free(s);
}

static void oai_destroy(backend *base)
{
    oai_backend *b = (oai_backend *)base;
    if (!b) return;
    transport_free(b->tr);
    endpoints_free(&b->eps);
    free(b->model);
    wipe_free(b->api_key);
    free(b->label);
    free(b);
}

static const backend_vtable oai_completions_vt = {
    "openai-completions", REQ_LOGLIKELIHOOD | REQ_LOGLIKELIHOOD_ROLLING | REQ_GENERATE,
    oai_run, oai_destroy};
static const backend_vtable oai_chat_vt = {"openai-chat", REQ_GENERATE, oai_run, oai_destroy};

int openai_backend_is(const backend *b)
{
    return b && (b->vt == &oai_completions_vt || b->vt == &oai_chat_vt);
}

void openai_backend_set_progress(backend *base, progress *p)
{
    if (openai_backend_is(base)) ((oai_backend *)base)->prog = p;
}

const openai_counters *openai_backend_counters(const backend *base)
{
    return openai_backend_is(base) ? &((const oai_backend *)base)->counters : NULL;
}

size_t openai_backend_endpoints(const backend *base, openai_endpoint_stats *out, size_t max)
{
    if (!openai_backend_is(base)) return 0;
    const endpoint_set *s = &((const oai_backend *)base)->eps;
    for (size_t i = 0; i < s->count && i < max; i++) {
        const endpoint *e = &s->items[i];
        out[i] = (openai_endpoint_stats){e->url, e->attempts, e->failures, e->throttled,
                                         e->answered ? e->latency_sum / (double)e->answered : 0};
    }
    return s->count;
}

/* Every endpoint must parse as an http(s) URL. */
static int check_url(const char *url, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    if (!u) return errf(err, errlen, "out of memory");
    char *scheme = NULL;
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (!uc) uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    int rc = 0;
    if (uc) rc = errf(err, errlen, "base_url %s is not a valid URL: %s", url, curl_url_strerror(uc));
    else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
        rc = errf(err, errlen, "base_url %s must start with http:// or https://", url);
    curl_free(scheme);
    curl_url_cleanup(u);
    return rc;
}

/* Copy the config into b, applying the defaults. */
static void apply_config(oai_backend *b, const openai_config *cfg)
{
    b->base.vt = cfg->chat ? &oai_chat_vt : &oai_completions_vt;
    b->chat = cfg->chat != 0;
    b->model = xstrdup(cfg->model);
    b->api_key = cfg->api_key && *cfg->api_key ? xstrdup(cfg->api_key) : NULL;
    b->label = cfg->label ? xstrdup(cfg->label) : NULL;
    b->concurrency = cfg->concurrency > 0 ? cfg->concurrency : 32;
    b->max_retries = cfg->max_retries >= 0 ? cfg->max_retries : 5;
    b->retry_base_s = cfg->retry_base_s > 0 ? cfg->retry_base_s : 0.5;
    b->timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : 300;
    b->batch_size = cfg->batch_size > 1 && !cfg->chat ? cfg->batch_size : 1;
    b->progress = cfg->progress == 1;
    b->rng = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)b;
    if (!b->rng) b->rng = 1;
    limiter_init(&b->limiter, cfg->rpm, cfg->tpm, oai_now());
}

/* Endpoints and transport; -1 with err filled. */
static int connect_parts(oai_backend *b, const openai_config *cfg, char *err, size_t errlen)
{
    if (endpoints_init(&b->eps, cfg->base_url, b->chat, b->concurrency, err, errlen) != 0) return -1;
    for (size_t i = 0; i < b->eps.count; i++)
        if (check_url(b->eps.items[i].url, err, errlen) != 0) return -1;
    transport_kind kind; /* the transport model arg: which HTTP client carries the requests */
    if (transport_kind_parse(cfg->transport, &kind) != 0)
        return errf(err, errlen, "model argument transport must be auto, plain or curl, got '%s'",
                    cfg->transport);
    transport_opts o = {b->concurrency, b->timeout_s,
                        b->timeout_s < OAI_CONNECT_CAP_S ? b->timeout_s : OAI_CONNECT_CAP_S,
                        "evallua/" EVALLUA_VERSION, b->api_key, kind};
    b->tr = transport_new(&o, err, errlen);
    for (size_t i = 0; b->tr && i < b->eps.count; i++) /* transport=plain with an https:// URL */
        if (transport_check_url(b->tr, b->eps.items[i].url, err, errlen) != 0) return -1;
    return b->tr ? 0 : -1;
}

backend *openai_backend_new(const openai_config *cfg, char *err, size_t errlen)
{
    if (!cfg || !cfg->model || !*cfg->model) {
        errf(err, errlen, "model= is required (the model name the server serves)");
        return NULL;
    }
    pthread_once(&oai_curl_once, oai_curl_global_init);
    if (oai_curl_init_rc != CURLE_OK) {
        errf(err, errlen, "curl_global_init failed: %s", curl_easy_strerror(oai_curl_init_rc));
        return NULL;
    }
    oai_backend *b = xcalloc(1, sizeof *b);
    apply_config(b, cfg);
    if (connect_parts(b, cfg, err, errlen) != 0) {
        oai_destroy(&b->base);
        return NULL;
    }
    return &b->base;
}
