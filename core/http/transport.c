/* transport.c — the slots, the epoll loop and the choice between the plain transport
 * (transport_plain.c) and libcurl: curl multi + epoll, one reusable easy handle per slot
 * (see transport.h). */
#include "transport.h"
#include "util/clock.h"

#include "openai_json.h"
#include "transport_plain.h"

#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define TRANSPORT_EVENTS 512 /* epoll events taken per epoll_wait */
#define TRANSPORT_CHUNK 32   /* events acted on per transport_wait (see transport_wait) */
#define TRANSPORT_SHARD 64   /* slots per multi handle (see below) */

/* Slots are spread over several multi handles of TRANSPORT_SHARD slots each: libcurl 7.x
   looks for a reusable connection by walking every cached connection to the host, so one
   multi handle with a thousand connections costs a thousand steps per request. Each shard
   has its own connection cache; one epoll set serves them all. */
typedef struct shard {
    struct transport *t;
    CURLM *multi;
    double timer_due; /* when curl wants CURL_SOCKET_TIMEOUT; < 0: no timer */
    uint32_t index;
} shard;

struct transport {
    /* libcurl: set up in transport_new for TRANSPORT_CURL, else by the first transfer that
       needs it (curl_ready); each slot's easy handle is made when the slot first uses curl */
    int curl_ready;
    shard *shards;
    int n_shards;
    plain_transport *plain; /* NULL for TRANSPORT_CURL */
    int epfd;
    xfer *slots;
    int n_slots;
    int *free_stack; /* indices of free slots */
    int n_free;
    int next_done;   /* the shard transport_done looks at first */
    struct epoll_event events[TRANSPORT_EVENTS]; /* taken by the last epoll_wait ... */
    int n_events, next_event;                    /* ... and the first not acted on yet */
    int proxy_env;   /* a proxy is configured in the environment */
    struct curl_slist *headers;
    transport_opts o;
};

/* ---- curl callbacks ----------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    xfer *x = userp;
    size_t n = size * nmemb;
    if (x->resp.len + n > TRANSPORT_MAX_RESPONSE) {
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
    else if ((data[0] == 'r' || data[0] == 'R') && oai_retry_after(data, n, &s)) x->retry_after = s;
    return n;
}

/* CURLMOPT_SOCKETFUNCTION: keep the epoll set in step with what curl waits for. An event
   carries its shard in the high 32 bits and the socket in the low ones. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    shard *sh = userp;
    int epfd = sh->t->epfd;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, s, NULL);
        return 0;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.data.u64 = (uint64_t)sh->index << 32 | (uint32_t)s;
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    int op = socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(epfd, op, s, &ev) != 0)
        epoll_ctl(epfd, op == EPOLL_CTL_ADD ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &ev);
    /* non-NULL marks "registered"; should it fail, the next call's ADD falls back to MOD */
    if (!socketp) (void)curl_multi_assign(sh->multi, s, sh);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: remember when curl wants to be told that time passed. */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    shard *sh = userp;
    sh->timer_due = timeout_ms < 0 ? -1 : mono_seconds() + (double)timeout_ms / 1000.0;
    return 0;
}

/* ---- setup --------------------------------------------------------------------------- */

/* Request headers; the Authorization line is built in a buffer that is wiped afterwards. */
static struct curl_slist *make_headers(const char *api_key)
{
    struct curl_slist *h = NULL, *tmp;
    const char *fixed[] = {"Content-Type: application/json", "Accept: application/json", "Expect:"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (!(tmp = curl_slist_append(h, fixed[i]))) goto fail;
        h = tmp;
    }
    if (api_key) {
        buf line = {0};
        buf_printf(&line, "Authorization: Bearer %s", api_key);
        tmp = curl_slist_append(h, line.data);
        memset(line.data, 0, line.len);
        buf_free(&line);
        if (!tmp) goto fail;
        h = tmp;
    }
    return h;
fail:
    curl_slist_free_all(h);
    return NULL;
}

/* Create slot x's easy handle with every option that does not change per transfer. */
static int slot_init(transport *t, xfer *x)
{
    CURL *e = x->easy = curl_easy_init();
    if (!e) return -1;
    CURLcode c = curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (!c) c = curl_easy_setopt(e, CURLOPT_POST, 1L);
    if (!c) c = curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    if (!c) c = curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    if (!c) c = curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    if (!c) c = curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    if (!c) c = curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    if (!c) c = curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    if (!c) c = curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    if (!c) c = curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(t->o.timeout_s * 1000));
    if (!c) c = curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(t->o.connect_timeout_s * 1000));
    if (!c) c = curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (!c) c = curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 4096L);
    if (!c) c = curl_easy_setopt(e, CURLOPT_USERAGENT, t->o.user_agent);
    if (!c && !t->proxy_env) c = curl_easy_setopt(e, CURLOPT_PROXY, ""); /* no getenv per request */
    /* No CURLOPT_ACCEPT_ENCODING: vLLM, SGLang and llama.cpp's server answer uncompressed
       anyway, and asking costs ~8,500 instructions a transfer in libcurl 7.88 (a decoder
       chain set up per response: 6% of the engine's cost per request, measured with
       callgrind on bench/http/queue_rss.lua). */
    return c == CURLE_OK ? 0 : -1;
}

/* Whether a proxy variable libcurl honours is set (else each transfer's lookups are skipped). */
static int proxy_env_set(void)
{
    static const char *const names[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                        "all_proxy", "ALL_PROXY", NULL};
    for (size_t i = 0; names[i]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) return 1;
    }
    return 0;
}

/* Thousands of connections need thousands of descriptors: raise the soft limit if needed
   (the plain transport may hold as many idle keep-alive connections as slots besides the
   busy ones, when several endpoints share the slots). */
static void ensure_fd_limit(int slots)
{
    struct rlimit rl;
    rlim_t want = 2 * (rlim_t)slots + 256;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) return;
    rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

static int shard_setup(transport *t, shard *sh, uint32_t index)
{
    sh->t = t;
    sh->index = index;
    sh->timer_due = -1;
    sh->multi = curl_multi_init();
    if (!sh->multi) return -1;
    CURLMcode mc = curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    if (!mc) mc = curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh);
    if (!mc) mc = curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    if (!mc) mc = curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh);
    if (!mc) mc = curl_multi_setopt(sh->multi, CURLMOPT_MAXCONNECTS, (long)TRANSPORT_SHARD + 8);
    return mc == CURLM_OK ? 0 : -1;
}

/* libcurl's part: the request headers and the shards (the easy handles come per slot). */
static int curl_setup(transport *t, char *err, size_t errlen)
{
    if (t->curl_ready) return 0;
    if (!t->shards) { /* a failed setup keeps what it made; the next try completes it */
        t->n_shards = (t->n_slots + TRANSPORT_SHARD - 1) / TRANSPORT_SHARD;
        t->shards = xcalloc((size_t)t->n_shards, sizeof *t->shards);
    }
    if (!t->headers) t->headers = make_headers(t->o.api_key);
    int ok = t->headers != NULL;
    for (int i = 0; ok && i < t->n_shards; i++)
        if (!t->shards[i].multi) ok = shard_setup(t, &t->shards[i], (uint32_t)i) == 0;
    if (!ok) return errf(err, errlen, "cannot set up libcurl (out of memory)");
    t->curl_ready = 1;
    return 0;
}

/* Slot x's easy handle, made on first use; 0, or -1 with err filled. */
static int slot_easy(transport *t, xfer *x, char *err, size_t errlen)
{
    if (curl_setup(t, err, errlen) != 0) return -1;
    if (x->easy) return 0;
    if (slot_init(t, x) == 0) return 0;
    if (x->easy) curl_easy_cleanup(x->easy);
    x->easy = NULL;
    return errf(err, errlen, "cannot set up a libcurl handle (out of memory)");
}

int transport_kind_parse(const char *name, transport_kind *kind)
{
    static const char *const names[] = {"auto", "plain", "curl"};
    for (int k = 0; k < 3; k++)
        if (!name || strcmp(name, names[k]) == 0) {
            *kind = name ? (transport_kind)k : TRANSPORT_AUTO;
            return 0;
        }
    return -1;
}

transport *transport_new(const transport_opts *o, char *err, size_t errlen)
{
    transport *t = xcalloc(1, sizeof *t);
    t->o = *o;
    t->n_slots = o->slots > 0 ? o->slots : 1;
    t->proxy_env = proxy_env_set();
    ensure_fd_limit(t->n_slots);
    t->epfd = epoll_create1(EPOLL_CLOEXEC);
    t->slots = xcalloc((size_t)t->n_slots, sizeof *t->slots);
    t->free_stack = xmalloc((size_t)t->n_slots * sizeof *t->free_stack);
    for (int i = t->n_slots - 1; i >= 0; i--) t->free_stack[t->n_free++] = i;
    if (t->epfd < 0) {
        errf(err, errlen, "cannot create an epoll set: %s", strerror(errno));
        transport_free(t);
        return NULL;
    }
    if (o->kind != TRANSPORT_CURL) t->plain = plain_new(t->epfd, t->slots, t->n_slots, o);
    int ok = o->kind != TRANSPORT_CURL || curl_setup(t, err, errlen) == 0;
    for (int i = 0; ok && o->kind == TRANSPORT_CURL && i < t->n_slots; i++)
        ok = slot_easy(t, &t->slots[i], err, errlen) == 0;
    if (!ok) {
        transport_free(t);
        return NULL;
    }
    return t;
}

int transport_check_url(const transport *t, const char *url, char *err, size_t errlen)
{
    if (t->o.kind == TRANSPORT_PLAIN && !plain_url_ok(url, err, errlen)) return -1;
    return 0;
}

/* The multi handle slot x belongs to. */
static CURLM *multi_of(const transport *t, const xfer *x)
{
    return t->shards[(x - t->slots) / TRANSPORT_SHARD].multi;
}

void transport_free(transport *t)
{
    if (!t) return;
    plain_free(t->plain); /* closes its sockets: abandons its transfers in flight */
    for (int i = 0; i < t->n_slots; i++) {
        xfer *x = &t->slots[i];
        if (x->easy && x->busy && x->via == TRANSPORT_CURL && curl_multi_remove_handle(multi_of(t, x), x->easy))
            fprintf(stderr, "evallua: warning: a transfer could not be removed at cleanup\n");
        if (x->easy) curl_easy_cleanup(x->easy);
        buf_free(&x->body);
        buf_free(&x->resp);
        buf_free(&x->url);
    }
    for (int i = 0; t->shards && i < t->n_shards; i++)
        if (t->shards[i].multi) curl_multi_cleanup(t->shards[i].multi);
    free(t->shards);
    if (t->epfd >= 0) close(t->epfd);
    curl_slist_free_all(t->headers);
    free(t->slots);
    free(t->free_stack);
    free(t);
}

/* ---- transfers ----------------------------------------------------------------------- */

xfer *transport_acquire(transport *t)
{
    if (t->n_free == 0) return NULL;
    xfer *x = &t->slots[t->free_stack[--t->n_free]];
    x->busy = 1;
    x->via = TRANSPORT_AUTO; /* not started: a release now has nothing to undo */
    buf_clear(&x->body);
    return x;
}

static void slot_free(transport *t, xfer *x)
{
    x->busy = 0;
    x->owner = NULL;
    t->free_stack[t->n_free++] = (int)(x - t->slots);
}

/* Whether url is for the plain transport (else libcurl); TRANSPORT_AUTO also falls back to
   libcurl when plain_start refuses the URL (credentials in it, say). */
static int want_plain(const transport *t, const char *url)
{
    if (t->o.kind != TRANSPORT_AUTO) return t->o.kind == TRANSPORT_PLAIN;
    return !t->proxy_env && strncasecmp(url, "http://", 7) == 0;
}

/* Start x over libcurl. */
static int curl_start(transport *t, xfer *x, const char *url, int get, char *err, size_t errlen)
{
    if (slot_easy(t, x, err, errlen) != 0) return -1;
    CURLcode c = curl_easy_setopt(x->easy, CURLOPT_URL, url);
    if (get) {
        if (!c) c = curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L);
    } else {
        if (!c) c = curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body.len);
        if (!c) c = curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, buf_str(&x->body));
    }
    CURLMcode mc = c ? CURLM_OK : curl_multi_add_handle(multi_of(t, x), x->easy);
    if (c || mc)
        return errf(err, errlen, "cannot start a transfer to %s: %s", url,
                    c ? curl_easy_strerror(c) : curl_multi_strerror(mc));
    return 0;
}

/* Start x as a POST of its body (get = 0) or a GET of url (get = 1). */
static int start_transfer(transport *t, xfer *x, const char *url, int get, char *err,
                          size_t errlen)
{
    buf_clear(&x->resp);
    x->retry_after = -1;
    x->too_big = 0;
    x->status = 0;
    x->errbuf[0] = '\0';
    x->started = mono_seconds();
    buf_clear(&x->url);
    buf_puts(&x->url, url);
    x->via = TRANSPORT_PLAIN;
    int rc = want_plain(t, url) ? plain_start(t->plain, x, url, get, err, errlen) : -1;
    if (rc != 0 && t->o.kind != TRANSPORT_PLAIN) {
        x->via = TRANSPORT_CURL;
        rc = curl_start(t, x, url, get, err, errlen);
    }
    if (rc != 0) {
        x->via = TRANSPORT_AUTO;
        slot_free(t, x);
        return -1;
    }
    return 0;
}

int transport_start(transport *t, xfer *x, const char *url, char *err, size_t errlen)
{
    return start_transfer(t, x, url, 0, err, errlen);
}

int transport_start_get(transport *t, xfer *x, const char *url, char *err, size_t errlen)
{
    return start_transfer(t, x, url, 1, err, errlen);
}

/* Tell curl about one socket's readiness (or, for CURL_SOCKET_TIMEOUT, that time passed). */
static int act(shard *sh, curl_socket_t s, int flags, char *err, size_t errlen)
{
    int running;
    CURLMcode mc = curl_multi_socket_action(sh->multi, s, flags, &running);
    if (mc != CURLM_OK && mc != CURLM_BAD_SOCKET)
        return errf(err, errlen, "libcurl multi interface failed: %s", curl_multi_strerror(mc));
    return 0;
}

/* Give every shard whose timer is due its CURL_SOCKET_TIMEOUT. */
static int run_timers(transport *t, char *err, size_t errlen)
{
    double now = mono_seconds();
    for (int i = 0; i < t->n_shards; i++) {
        shard *sh = &t->shards[i];
        if (sh->timer_due < 0 || sh->timer_due > now) continue;
        sh->timer_due = -1;
        if (act(sh, CURL_SOCKET_TIMEOUT, 0, err, errlen) != 0) return -1;
    }
    return 0;
}

/* Milliseconds until the earliest shard timer or plain deadline, at most max_ms (0 when a
   plain transfer has finished and waits for transport_done). */
static int timer_wait_ms(const transport *t, int max_ms)
{
    double now = mono_seconds(), ms = max_ms;
    for (int i = 0; i < t->n_shards; i++) {
        if (t->shards[i].timer_due < 0) continue;
        double left = ceil((t->shards[i].timer_due - now) * 1000.0);
        if (left < ms) ms = left;
    }
    double plain_due = t->plain ? plain_next_due(t->plain) : -1;
    if (plain_due == 0) return 0;
    if (plain_due > 0 && ceil((plain_due - now) * 1000.0) < ms) ms = ceil((plain_due - now) * 1000.0);
    return ms > 0 ? (int)ms : 0;
}

/* Act on one epoll event: a plain connection's, or a libcurl socket's. */
static int act_on_event(transport *t, const struct epoll_event *ev, char *err, size_t errlen)
{
    if (ev->data.u64 & PLAIN_EVENT_TAG) {
        if (t->plain) plain_event(t->plain, ev->data.u64, ev->events);
        return 0;
    }
    uint32_t si = (uint32_t)(ev->data.u64 >> 32);
    curl_socket_t fd = (curl_socket_t)(uint32_t)ev->data.u64;
    int flags = ((ev->events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                ((ev->events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                ((ev->events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
    if (si >= (uint32_t)t->n_shards) return 0;
    return act(&t->shards[si], fd, flags, err, errlen);
}

/* Events are acted on TRANSPORT_CHUNK at a time: with a thousand transfers in flight, one
   epoll_wait can return hundreds of finished responses, and acting on all of them before
   the engine refills the freed slots would hold every new request back by the time the
   whole batch takes (milliseconds: +20% on a 50 ms server). The rest wait in t->events for
   the next call, which then does not block. A buffered event whose socket curl has closed
   meanwhile is answered CURLM_BAD_SOCKET (ignored) or, for a reused descriptor, is a
   spurious wake-up that curl's non-blocking reads absorb. */
int transport_wait(transport *t, int max_ms, char *err, size_t errlen)
{
    if (t->next_event >= t->n_events) {
        t->next_event = t->n_events = 0;
        int n = epoll_wait(t->epfd, t->events, TRANSPORT_EVENTS, timer_wait_ms(t, max_ms));
        if (n < 0 && errno != EINTR) return errf(err, errlen, "epoll_wait failed: %s", strerror(errno));
        t->n_events = n > 0 ? n : 0;
    }
    int stop = t->next_event + TRANSPORT_CHUNK < t->n_events ? t->next_event + TRANSPORT_CHUNK : t->n_events;
    while (t->next_event < stop)
        if (act_on_event(t, &t->events[t->next_event++], err, errlen) != 0) return -1;
    if (t->plain) plain_expire(t->plain, mono_seconds());
    return run_timers(t, err, errlen);
}

xfer *transport_done(transport *t, CURLcode *result)
{
    xfer *px = t->plain ? plain_done(t->plain, result) : NULL;
    if (px) return px;
    for (int k = 0; k < t->n_shards; k++) {
        shard *sh = &t->shards[(t->next_done + k) % t->n_shards];
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(sh->multi, &left))) {
            if (m->msg != CURLMSG_DONE) continue;
            char *priv = NULL;
            if (curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv) != CURLE_OK || !priv) continue;
            xfer *x = (xfer *)priv;
            if (!x->busy) continue;
            *result = m->data.result;
            t->next_done = (int)(sh->index + (left ? 0 : 1)) % t->n_shards;
            return x;
        }
    }
    return NULL;
}

void transport_release(transport *t, xfer *x)
{
    if (!x->busy) return;
    if (x->via == TRANSPORT_PLAIN) {
        plain_release(t->plain, x);
    } else if (x->via == TRANSPORT_CURL) {
        CURLMcode mc = curl_multi_remove_handle(multi_of(t, x), x->easy);
        if (mc != CURLM_OK) /* only a handle that was never added: nothing to undo */
            fprintf(stderr, "evallua: warning: curl_multi_remove_handle: %s\n", curl_multi_strerror(mc));
    }
    slot_free(t, x);
}

const char *transport_url(const xfer *x)
{
    return buf_str(&x->url);
}

long transport_status(const xfer *x)
{
    if (x->via != TRANSPORT_CURL) return x->status;
    long status = 0;
    if (curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK) return 0;
    return status;
}

int transport_busy(const transport *t)
{
    return t->n_slots - t->n_free;
}

xfer *transport_slots(transport *t, int *n)
{
    *n = t->n_slots;
    return t->slots;
}
