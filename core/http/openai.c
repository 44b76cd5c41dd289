/* openai.c — the OpenAI-compatible backend: a libcurl multi loop with at most `concurrency`
 * transfers in flight (curl's 10-at-a-time.c pattern), a min-heap of requests waiting for
 * their retry time, and the backend vtable. Bodies and parsing live in openai_json.c.
 *
 * One run() call owns a run_state; the backend keeps the multi handle, one reusable easy
 * handle per slot (so connections are kept alive across requests and runs) and the config. */
#include "openai.h"

#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "openai_json.h"
#include "report/progress.h"
#include "util/buf.h"

#ifndef EVALLUA_VERSION
#define EVALLUA_VERSION "dev"
#endif

#define OAI_BACKOFF_CAP_S 30.0
#define OAI_RETRY_AFTER_CAP_S 60.0
#define OAI_CONNECT_CAP_S 30.0
#define OAI_MAX_RESPONSE ((size_t)256 << 20) /* bytes of response body accepted */
#define OAI_POLL_MS 100 /* longest wait in poll: backend_interrupted is checked this often */
#define OAI_SERVER_MSG_MAX 300
#define OAI_IDLE SIZE_MAX                      /* xfer.idx of a free slot */
#define OAI_KEY_HINT "set api_key= in --model_args or OPENAI_API_KEY"

/* One reusable transfer slot: an easy handle and what its current attempt needs. */
typedef struct xfer {
    CURL *easy;
    size_t idx;         /* request being sent, OAI_IDLE when free */
    char *body;         /* request body; curl does not copy CURLOPT_POSTFIELDS */
    buf resp;           /* response body */
    double retry_after; /* Retry-After seconds of the current response, -1 when none */
    int too_big;        /* the response passed OAI_MAX_RESPONSE */
    char errbuf[CURL_ERROR_SIZE];
} xfer;

typedef struct oai_backend {
    backend base; /* first member: a backend * is an oai_backend * */
    int chat;
    char *url, *model, *api_key, *label; /* api_key NULL when none */
    int concurrency, max_retries, progress;
    double retry_base_s, timeout_s;
    CURLM *multi;
    struct curl_slist *headers;
    xfer *slots;  /* concurrency of them */
    uint64_t rng; /* xorshift64* state for the backoff jitter */
} oai_backend;

/* A request waiting for its retry time. */
typedef struct delayed {
    double ready; /* monotonic seconds */
    size_t idx;
} delayed;

/* State of one run() call. */
typedef struct run_state {
    oai_backend *b;
    const eval_request *reqs;
    eval_response *resps;
    size_t n, next;          /* next: first request that may not have been started */
    delayed *heap;           /* min-heap on ready */
    size_t heap_len, heap_cap;
    size_t in_flight, done, failed;
    int64_t tokens;          /* prompt + completion tokens of finished requests */
    int stop;                /* start nothing more, fail the rest, return -1 */
    char stop_msg[512];
    progress *prog;
} run_state;

/* What one attempt came to. The final message is msg, then " (after N attempts)" for
   retryable kinds, then tail. */
typedef enum attempt_kind { ATT_OK, ATT_RETRY, ATT_FAIL, ATT_STOP } attempt_kind;
typedef struct attempt {
    attempt_kind kind;
    buf msg, tail;
    double min_delay; /* Retry-After seconds, -1 when none */
} attempt;

static pthread_once_t oai_curl_once = PTHREAD_ONCE_INIT;
static CURLcode oai_curl_init_rc;

static void oai_curl_global_init(void)
{
    oai_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Uniform in [0, 1). */
static double rand01(oai_backend *b)
{
    b->rng ^= b->rng >> 12;
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    return (double)((b->rng * 2685821657736338717ULL) >> 11) * 0x1.0p-53;
}

/* Full jitter: uniform in [0, min(cap, base * 2^(attempts-1))). */
static double backoff_s(oai_backend *b, int attempts)
{
    double ceiling = b->retry_base_s * pow(2.0, attempts > 1 ? attempts - 1 : 0);
    if (!(ceiling < OAI_BACKOFF_CAP_S)) ceiling = OAI_BACKOFF_CAP_S;
    return ceiling * rand01(b);
}

/* ---- the retry heap ------------------------------------------------------------- */

static void heap_push(run_state *st, double ready, size_t idx)
{
    if (st->heap_len == st->heap_cap) {
        st->heap_cap = st->heap_cap ? 2 * st->heap_cap : 64;
        st->heap = xrealloc(st->heap, st->heap_cap * sizeof *st->heap);
    }
    size_t i = st->heap_len++;
    while (i > 0 && st->heap[(i - 1) / 2].ready > ready) {
        st->heap[i] = st->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    st->heap[i] = (delayed){ready, idx};
}

static size_t heap_pop(run_state *st)
{
    size_t top = st->heap[0].idx;
    delayed last = st->heap[--st->heap_len];
    size_t i = 0, n = st->heap_len;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && st->heap[c + 1].ready < st->heap[c].ready) c++;
        if (st->heap[c].ready >= last.ready) break;
        st->heap[i] = st->heap[c];
        i = c;
    }
    if (n) st->heap[i] = last;
    return top;
}

/* ---- finishing a request ---------------------------------------------------------- */

/* msg with every occurrence of the API key replaced by "***" (servers may echo it). */
static char *redact(const oai_backend *b, const char *msg)
{
    if (!b->api_key) return xstrdup(msg);
    size_t k = strlen(b->api_key);
    buf out = {0};
    for (const char *p = msg, *hit; *p; p = hit + k) {
        hit = strstr(p, b->api_key);
        if (!hit) {
            buf_puts(&out, p);
            break;
        }
        buf_append(&out, p, (size_t)(hit - p));
        buf_puts(&out, "***");
    }
    return buf_steal(&out);
}

/* The response idx is final: tell the caller's hook (request.h). */
static void resp_final(run_state *st, size_t idx)
{
    const backend *base = &st->b->base;
    if (base->on_response) base->on_response(base->on_response_ud, idx, &st->resps[idx]);
}

static void resp_fail(run_state *st, size_t idx, const char *msg)
{
    eval_response *r = &st->resps[idx];
    free(r->text);
    free(r->reasoning);
    free(r->error);
    r->text = r->reasoning = NULL;
    r->status = RESP_FAILED;
    r->error = redact(st->b, msg);
    st->failed++;
    st->done++;
    resp_final(st, idx);
}

static void resp_ok(run_state *st, size_t idx)
{
    const eval_response *r = &st->resps[idx];
    st->tokens += (int64_t)r->prompt_tokens + r->completion_tokens;
    st->done++;
    resp_final(st, idx);
}

/* ---- transfer slots ------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    xfer *x = userp;
    size_t n = size * nmemb;
    if (x->resp.len + n > OAI_MAX_RESPONSE) {
        x->too_big = 1;
        return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
    }
    buf_append(&x->resp, data, n);
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    xfer *x = userp;
    size_t n = size * nmemb;
    double s;
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) x->retry_after = -1; /* a new response */
    else if (oai_retry_after(data, n, &s)) x->retry_after = s;
    return n;
}

/* Create slot x's easy handle with every option that does not change per attempt. */
static int slot_init(oai_backend *b, xfer *x)
{
    x->idx = OAI_IDLE;
    x->easy = curl_easy_init();
    if (!x->easy) return -1;
    CURL *e = x->easy;
    double connect = b->timeout_s < OAI_CONNECT_CAP_S ? b->timeout_s : OAI_CONNECT_CAP_S;
    CURLcode c = curl_easy_setopt(e, CURLOPT_URL, b->url);
    if (!c) c = curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (!c) c = curl_easy_setopt(e, CURLOPT_POST, 1L);
    if (!c) c = curl_easy_setopt(e, CURLOPT_HTTPHEADER, b->headers);
    if (!c) c = curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    if (!c) c = curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    if (!c) c = curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    if (!c) c = curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    if (!c) c = curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    if (!c) c = curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    if (!c) c = curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(b->timeout_s * 1000));
    if (!c) c = curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(connect * 1000));
    if (!c) c = curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (!c) c = curl_easy_setopt(e, CURLOPT_USERAGENT, "evallua/" EVALLUA_VERSION);
    if (!c) curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* optional: gzip when built in */
    return c == CURLE_OK ? 0 : -1;
}

/* Take x's easy handle out of the multi and make the slot free. */
static void slot_release(run_state *st, xfer *x)
{
    curl_multi_remove_handle(st->b->multi, x->easy);
    free(x->body);
    x->body = NULL;
    x->idx = OAI_IDLE;
    st->in_flight--;
}

/* Start an attempt of request idx on free slot x; on failure the request is FAILED. */
static void slot_start(run_state *st, xfer *x, size_t idx)
{
    oai_backend *b = st->b;
    char err[256];
    char *body = oai_build_body(&st->reqs[idx], b->model, b->chat, err, sizeof err);
    if (!body) {
        resp_fail(st, idx, err);
        return;
    }
    buf_clear(&x->resp);
    x->retry_after = -1;
    x->too_big = 0;
    x->errbuf[0] = '\0';
    CURLcode c = curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    if (!c) c = curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, body);
    CURLMcode mc = c ? CURLM_OK : curl_multi_add_handle(b->multi, x->easy);
    if (c || mc) {
        free(body);
        snprintf(err, sizeof err, "cannot start a transfer to %s: %s", b->url,
                 c ? curl_easy_strerror(c) : curl_multi_strerror(mc));
        resp_fail(st, idx, err);
        return;
    }
    x->body = body;
    x->idx = idx;
    st->resps[idx].attempts++;
    st->in_flight++;
}

/* ---- classifying an attempt ------------------------------------------------------ */

/* curl errors that another attempt would repeat exactly. */
static int curl_error_is_final(const xfer *x, CURLcode cc)
{
    return x->too_big || cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL ||
           cc == CURLE_NOT_BUILT_IN || cc == CURLE_PEER_FAILED_VERIFICATION ||
           cc == CURLE_SSL_CACERT_BADFILE;
}

static void classify_curl(const oai_backend *b, const xfer *x, CURLcode cc, attempt *a)
{
    const char *why = x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc);
    a->kind = curl_error_is_final(x, cc) ? ATT_FAIL : ATT_RETRY;
    if (x->too_big)
        buf_printf(&a->msg, "response from %s is larger than %zu MiB", b->url, OAI_MAX_RESPONSE >> 20);
    else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
             cc == CURLE_COULDNT_RESOLVE_PROXY || cc == CURLE_SSL_CONNECT_ERROR)
        buf_printf(&a->msg, "cannot reach %s: %s", b->url, why);
    else if (cc == CURLE_OPERATION_TIMEDOUT)
        buf_printf(&a->msg, "timeout waiting for %s: %s", b->url, why);
    else
        buf_printf(&a->msg, "transfer from %s failed: %s", b->url, why);
}

static void classify_auth(const oai_backend *b, long status, attempt *a)
{
    a->kind = ATT_STOP;
    if (!b->api_key)
        buf_printf(&a->msg, "HTTP %ld from %s: the server requires an API key (%s)", status,
                   b->url, OAI_KEY_HINT);
    else if (status == 401)
        buf_printf(&a->msg, "HTTP 401 from %s: the API key was rejected (%s)", b->url, OAI_KEY_HINT);
    else
        buf_printf(&a->msg, "HTTP 403 from %s: the API key was refused access (%s)", b->url,
                   OAI_KEY_HINT);
}

static void classify_body(run_state *st, const xfer *x, attempt *a)
{
    oai_backend *b = st->b;
    oai_problem why;
    oai_verdict v = oai_parse_response(&st->reqs[x->idx], b->chat, buf_str(&x->resp), x->resp.len,
                                       &st->resps[x->idx], &why);
    if (v == OAI_OK) {
        a->kind = ATT_OK;
        return;
    }
    a->kind = v == OAI_RETRY ? ATT_RETRY : ATT_FAIL;
    buf_printf(&a->msg, "%s from %s", why.head, b->url);
    if (why.detail[0]) buf_printf(&a->tail, ": %s", why.detail);
}

static void classify(run_state *st, const xfer *x, CURLcode cc, attempt *a)
{
    oai_backend *b = st->b;
    long status = 0;
    if (cc != CURLE_OK) {
        classify_curl(b, x, cc, a);
        return;
    }
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
        classify_body(st, x, a);
        return;
    }
    if (status == 401 || status == 403) {
        classify_auth(b, status, a);
        return;
    }
    char *m = oai_server_message(x->resp.data, x->resp.len, OAI_SERVER_MSG_MAX);
    buf_printf(&a->msg, "HTTP %ld from %s", status, b->url);
    if (*m) buf_printf(&a->tail, ": %s", m);
    free(m);
    a->kind = status == 429 || status >= 500 ? ATT_RETRY : ATT_FAIL;
    if ((status == 429 || status == 503) && x->retry_after >= 0)
        a->min_delay = x->retry_after < OAI_RETRY_AFTER_CAP_S ? x->retry_after : OAI_RETRY_AFTER_CAP_S;
}

/* ---- the multi loop --------------------------------------------------------------- */

static void stop_run(run_state *st, const char *msg)
{
    if (st->stop) return;
    st->stop = 1;
    snprintf(st->stop_msg, sizeof st->stop_msg, "%s", msg);
}

/* Act on what attempt a of slot x's request came to; frees the slot. */
static void attempt_done(run_state *st, xfer *x, attempt *a)
{
    oai_backend *b = st->b;
    size_t idx = x->idx;
    eval_response *r = &st->resps[idx];
    slot_release(st, x);
    if (a->kind == ATT_OK) {
        resp_ok(st, idx);
    } else if (a->kind == ATT_STOP) {
        stop_run(st, buf_str(&a->msg));
        resp_fail(st, idx, buf_str(&a->msg));
    } else if (a->kind == ATT_FAIL) {
        buf_puts(&a->msg, buf_str(&a->tail));
        resp_fail(st, idx, buf_str(&a->msg));
    } else if (r->attempts <= b->max_retries) {
        double delay = a->min_delay >= 0 ? a->min_delay : backoff_s(b, r->attempts);
        heap_push(st, now_s() + delay, idx);
    } else {
        buf_printf(&a->msg, " (after %d attempt%s)%s", r->attempts, r->attempts == 1 ? "" : "s",
                   buf_str(&a->tail));
        resp_fail(st, idx, buf_str(&a->msg));
    }
}

/* Handle every finished transfer; returns how many finished. */
static int drain(run_state *st)
{
    CURLMsg *m;
    int left, count = 0;
    while ((m = curl_multi_info_read(st->b->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        CURLcode cc = m->data.result;
        char *priv = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        xfer *x = (xfer *)priv;
        if (!x || x->idx == OAI_IDLE) continue;
        attempt a = {.kind = ATT_FAIL, .min_delay = -1};
        classify(st, x, cc, &a);
        attempt_done(st, x, &a);
        buf_free(&a.msg);
        buf_free(&a.tail);
        count++;
    }
    return count;
}

/* Index of the next never-started request, or OAI_IDLE when there is none. */
static size_t next_fresh(run_state *st)
{
    while (st->next < st->n && st->resps[st->next].status != RESP_PENDING) st->next++;
    return st->next < st->n ? st->next : OAI_IDLE;
}

/* Start transfers on free slots: due retries first, then fresh requests. */
static void fill_slots(run_state *st)
{
    double t = now_s();
    for (int i = 0; i < st->b->concurrency && !st->stop; i++) {
        xfer *x = &st->b->slots[i];
        while (x->idx == OAI_IDLE) {
            size_t idx;
            if (st->heap_len && st->heap[0].ready <= t) idx = heap_pop(st);
            else if ((idx = next_fresh(st)) != OAI_IDLE) st->next++;
            else return;
            slot_start(st, x, idx);
        }
    }
}

/* Milliseconds to wait for network activity: until the earliest retry is due, at most
   OAI_POLL_MS (a signal that lands on another thread does not wake the poll). */
static int poll_ms(const run_state *st)
{
    double cap = OAI_POLL_MS;
    double ms = cap;
    if (st->heap_len && st->in_flight < (size_t)st->b->concurrency)
        ms = ceil((st->heap[0].ready - now_s()) * 1000.0);
    if (ms > cap) ms = cap;
    return ms > 0 ? (int)ms : 0;
}

/* Mark every unfinished request FAILED with the stop message. */
static void abort_rest(run_state *st)
{
    for (int i = 0; i < st->b->concurrency; i++) {
        xfer *x = &st->b->slots[i];
        if (x->idx == OAI_IDLE) continue;
        size_t idx = x->idx;
        slot_release(st, x);
        resp_fail(st, idx, st->stop_msg);
    }
    while (st->heap_len) resp_fail(st, heap_pop(st), st->stop_msg);
    for (size_t idx; (idx = next_fresh(st)) != OAI_IDLE; st->next++) resp_fail(st, idx, st->stop_msg);
}

/* Progress: "retrying" counts requests waiting for a retry or on a second or later attempt;
   tokens are prompt + completion tokens of the finished requests. */
static void report_progress(run_state *st)
{
    if (!st->prog) return;
    size_t retrying = st->heap_len;
    for (int i = 0; i < st->b->concurrency; i++) {
        const xfer *x = &st->b->slots[i];
        if (x->idx != OAI_IDLE && st->resps[x->idx].attempts > 1) retrying++;
    }
    progress_update(st->prog, st->done, st->failed, retrying, st->tokens);
}

static void run_loop(run_state *st)
{
    CURLM *multi = st->b->multi;
    char msg[256];
    for (;;) {
        if (backend_interrupted) stop_run(st, "interrupted"); /* Ctrl-C: abandon the rest */
        fill_slots(st);
        if (st->stop) break;
        if (!st->in_flight && !st->heap_len && next_fresh(st) == OAI_IDLE) break;
        int running;
        CURLMcode mc = curl_multi_perform(multi, &running);
        int finished = mc == CURLM_OK ? drain(st) : 0;
        if (mc == CURLM_OK && !st->stop && !finished) mc = curl_multi_poll(multi, NULL, 0, poll_ms(st), NULL);
        if (mc != CURLM_OK) {
            snprintf(msg, sizeof msg, "libcurl multi interface failed: %s", curl_multi_strerror(mc));
            stop_run(st, msg);
        }
        report_progress(st);
    }
    abort_rest(st);
    report_progress(st);
}

/* ---- the backend ------------------------------------------------------------------- */

/* Fail up front the requests this endpoint cannot serve. */
static void reject_unserved(run_state *st, unsigned kinds, const char *name)
{
    for (size_t i = 0; i < st->n; i++) {
        req_kind k = st->reqs[i].kind;
        if (k == REQ_LOGLIKELIHOOD || k == REQ_LOGLIKELIHOOD_ROLLING || k == REQ_GENERATE) {
            if (kinds & (unsigned)k) continue;
            char msg[256];
            snprintf(msg, sizeof msg, "%s cannot serve %s requests: chat endpoints return no "
                     "prompt log-probabilities (use openai-completions)", name, req_kind_name(k));
            resp_fail(st, i, msg);
        } else {
            resp_fail(st, i, "unknown request kind");
        }
    }
}

static void add_stats(oai_backend *b, const run_state *st, double seconds)
{
    backend_stats *s = &b->base.stats;
    s->requests += (int64_t)st->n;
    s->failed += (int64_t)st->failed;
    for (size_t i = 0; i < st->n; i++) {
        const eval_response *r = &st->resps[i];
        if (r->attempts > 1) s->retries += r->attempts - 1;
        s->prompt_tokens += r->prompt_tokens;
        s->completion_tokens += r->completion_tokens;
    }
    s->wall_seconds += seconds;
}

static int oai_run(backend *base, const eval_request *reqs, eval_response *resps, size_t n,
                   char *err, size_t errlen)
{
    oai_backend *b = (oai_backend *)base;
    double t0 = now_s();
    run_state st;
    memset(&st, 0, sizeof st);
    st.b = b;
    st.reqs = reqs;
    st.resps = resps;
    st.n = n;
    if (n) memset(resps, 0, n * sizeof *resps);
    if (b->progress && n)
        st.prog = progress_new(b->label ? b->label : b->base.vt->name, n, stderr);
    reject_unserved(&st, b->base.vt->kinds, b->base.vt->name);
    run_loop(&st);
    progress_finish(st.prog);
    progress_free(st.prog);
    free(st.heap);
    add_stats(b, &st, now_s() - t0);
    if (st.stop) return errf(err, errlen, "%s", st.stop_msg);
    return 0;
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
    for (int i = 0; b->slots && i < b->concurrency; i++) {
        if (b->slots[i].easy) curl_easy_cleanup(b->slots[i].easy);
        buf_free(&b->slots[i].resp);
    }
    free(b->slots);
    if (b->multi) curl_multi_cleanup(b->multi);
    curl_slist_free_all(b->headers);
    free(b->url);
    free(b->model);
    wipe_free(b->api_key);
    free(b->label);
    free(b);
}

static const backend_vtable oai_completions_vt = {
    "openai-completions", REQ_LOGLIKELIHOOD | REQ_LOGLIKELIHOOD_ROLLING | REQ_GENERATE,
    oai_run, oai_destroy};
static const backend_vtable oai_chat_vt = {"openai-chat", REQ_GENERATE, oai_run, oai_destroy};

/* The endpoint must parse as an http(s) URL. */
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

/* Request headers; the Authorization line is built in a buffer that is wiped afterwards. */
static struct curl_slist *make_headers(const char *api_key)
{
    struct curl_slist *h = NULL, *t;
    const char *fixed[] = {"Content-Type: application/json", "Accept: application/json", "Expect:"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (!(t = curl_slist_append(h, fixed[i]))) goto fail;
        h = t;
    }
    if (api_key) {
        buf line = {0};
        buf_printf(&line, "Authorization: Bearer %s", api_key);
        t = curl_slist_append(h, line.data);
        memset(line.data, 0, line.len);
        buf_free(&line);
        if (!t) goto fail;
        h = t;
    }
    return h;
fail:
    curl_slist_free_all(h);
    return NULL;
}

/* Copy the config into b, applying the defaults. */
static void apply_config(oai_backend *b, const openai_config *cfg, char *url)
{
    b->base.vt = cfg->chat ? &oai_chat_vt : &oai_completions_vt;
    b->chat = cfg->chat != 0;
    b->url = url;
    b->model = xstrdup(cfg->model);
    b->api_key = cfg->api_key && *cfg->api_key ? xstrdup(cfg->api_key) : NULL;
    b->label = cfg->label ? xstrdup(cfg->label) : NULL;
    b->concurrency = cfg->concurrency > 0 ? cfg->concurrency : 32;
    b->max_retries = cfg->max_retries >= 0 ? cfg->max_retries : 5;
    b->retry_base_s = cfg->retry_base_s > 0 ? cfg->retry_base_s : 0.5;
    b->timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : 300;
    b->progress = cfg->progress == 1;
    b->rng = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)b;
    if (!b->rng) b->rng = 1;
}

backend *openai_backend_new(const openai_config *cfg, char *err, size_t errlen)
{
    if (!cfg || !cfg->model || !*cfg->model) {
        errf(err, errlen, "model= is required (the model name the server serves)");
        return NULL;
    }
    char *url = oai_endpoint_url(cfg->base_url, cfg->chat, err, errlen);
    if (!url) return NULL;
    pthread_once(&oai_curl_once, oai_curl_global_init);
    if (oai_curl_init_rc != CURLE_OK)
        errf(err, errlen, "curl_global_init failed: %s", curl_easy_strerror(oai_curl_init_rc));
    if (oai_curl_init_rc != CURLE_OK || check_url(url, err, errlen) != 0) {
        free(url);
        return NULL;
    }
    oai_backend *b = xcalloc(1, sizeof *b);
    apply_config(b, cfg, url);
    b->multi = curl_multi_init();
    b->headers = make_headers(b->api_key);
    b->slots = xcalloc((size_t)b->concurrency, sizeof *b->slots);
    int ok = b->multi && b->headers &&
             curl_multi_setopt(b->multi, CURLMOPT_MAXCONNECTS, (long)b->concurrency) == CURLM_OK;
    for (int i = 0; ok && i < b->concurrency; i++) ok = slot_init(b, &b->slots[i]) == 0;
    if (!ok) {
        errf(err, errlen, "cannot set up libcurl for %s", b->url);
        oai_destroy(&b->base);
        return NULL;
    }
    return &b->base;
}
