/* http.c — the libmicrohttpd side: request bodies, routing, failure injection, request log.
 * One thread per connection, so --delay-ms on one request never holds up another. */
#include "fake_openai.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/buf.h"

#define FO_MAX_BODY ((size_t)64 << 20)

/* Per-request state MHD keeps for us between calls of the access handler. */
typedef struct conn_state {
    buf body;
    int too_large;
} conn_state;

typedef void (*endpoint_fn)(const fo_server *srv, const char *body, long n, fo_reply *r);

typedef struct endpoint {
    const char *path;
    const char *method;
    endpoint_fn fn;
} endpoint;

/* ---- replies ------------------------------------------------------------------------ */

void fo_reply_error(fo_reply *r, unsigned status, const char *type, const char *msg)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", type);
    fo_reply_json(r, root);
    r->status = status;
    cJSON_Delete(root);
}

void fo_reply_json(fo_reply *r, const cJSON *json)
{
    free(r->body);
    r->body = cJSON_PrintUnformatted(json);
    if (!r->body) r->body = xstrdup("{}");
    r->len = strlen(r->body);
    r->status = 200;
    r->ctype = "application/json";
}

static void reply_text(fo_reply *r, unsigned status, const char *ctype, const char *text)
{
    free(r->body);
    r->body = xstrdup(text);
    r->len = strlen(text);
    r->status = status;
    r->ctype = ctype;
}

/* ---- endpoints ---------------------------------------------------------------------- */

static void handle_models(const fo_server *srv, const char *body, long n, fo_reply *r)
{
    (void)body;
    (void)n;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", srv->model);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "data"), m);
    fo_reply_json(r, root);
    cJSON_Delete(root);
}

static const endpoint endpoints[] = {
    {"/v1/models", "GET", handle_models},
    {"/v1/completions", "POST", fo_handle_completions},
    {"/v1/chat/completions", "POST", fo_handle_chat},
};

static const endpoint *find_endpoint(const char *url)
{
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++)
        if (strcmp(endpoints[i].path, url) == 0) return &endpoints[i];
    return NULL;
}

/* ---- request numbering and log ------------------------------------------------------- */

/* Number this POST (1-based) and append its log line, both under the lock so log lines
 * appear in request-number order. */
static long begin_post(fo_server *srv, const char *url, const buf *body)
{
    pthread_mutex_lock(&srv->lock);
    long n = atomic_fetch_add(&srv->requests, 1) + 1;
    if (srv->log) {
        fprintf(srv->log, "%ld %s\t", n, url);
        for (size_t i = 0; i < body->len; i++) {
            char c = body->data[i];
            if (c == '\n') fputs("\\n", srv->log);
            else if (c == '\r') fputs("\\r", srv->log);
            else fputc(c, srv->log);
        }
        fputc('\n', srv->log);
        fflush(srv->log);
    }
    pthread_mutex_unlock(&srv->lock);
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int every(long k, long n)
{
    return k > 0 && n % k == 0;
}

/* --fail-first / --fail-every / --garbage-every: 1 when r now holds the injected reply. */
static int inject_failure(const fo_server *srv, long n, fo_reply *r)
{
    if (n <= srv->fail_first || every(srv->fail_every, n)) {
        char msg[96];
        snprintf(msg, sizeof msg, "injected failure (request %ld)", n);
        fo_reply_error(r, (unsigned)srv->fail_status, "server_error", msg);
        if (srv->fail_status == 429 || srv->fail_status == 503) r->retry_after = srv->retry_after;
        return 1;
    }
    if (every(srv->garbage_every, n)) {
        reply_text(r, 200, "text/html", "<html>upstream hiccup</html>");
        return 1;
    }
    return 0;
}

static int key_ok(const fo_server *srv, struct MHD_Connection *c)
{
    if (!srv->require_key) return 1;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    return auth && strncmp(auth, "Bearer ", 7) == 0 && strcmp(auth + 7, srv->require_key) == 0;
}

/* The reply for a request to a known endpoint with the right method. */
static void serve(fo_server *srv, struct MHD_Connection *c, const endpoint *ep, long n,
                  conn_state *st, fo_reply *r)
{
    int post = strcmp(ep->method, "POST") == 0;
    if (!key_ok(srv, c))
        fo_reply_error(r, 401, "invalid_request_error", "Incorrect API key provided");
    else if (post && inject_failure(srv, n, r))
        return;
    else if (st->too_large)
        fo_reply_error(r, 413, "invalid_request_error", "request body too large");
    else {
        ep->fn(srv, buf_str(&st->body), n, r);
        if (post && every(srv->truncate_every, n)) {
            r->status = 200;
            r->len /= 2;
        }
    }
}

/* Decide the reply for one complete request. */
static void route(fo_server *srv, struct MHD_Connection *c, const char *url, const char *method,
                  conn_state *st, fo_reply *r)
{
    int post = strcmp(method, "POST") == 0;
    long n = post ? begin_post(srv, url, &st->body) : 0;
    if (post && srv->delay_ms > 0) sleep_ms(srv->delay_ms);
    const endpoint *ep = find_endpoint(url);
    char msg[200];
    if (!ep) {
        snprintf(msg, sizeof msg, "no route for %.20s %.100s", method, url);
        fo_reply_error(r, 404, "invalid_request_error", msg);
    } else if (strcmp(ep->method, method) != 0) {
        snprintf(msg, sizeof msg, "%.20s %s: method not allowed (use %s)", method, url, ep->method);
        fo_reply_error(r, 405, "invalid_request_error", msg);
    } else {
        serve(srv, c, ep, n, st, r);
    }
}

static enum MHD_Result send_reply(struct MHD_Connection *c, fo_reply *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(r->body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
    if (r->retry_after >= 0) {
        char secs[32];
        snprintf(secs, sizeof secs, "%ld", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
    }
    enum MHD_Result ret = MHD_queue_response(c, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    conn_state *st = *con_cls;
    if (!st) {
        *con_cls = xcalloc(1, sizeof *st);
        return MHD_YES;
    }
    if (*upload_size) {
        if (st->body.len + *upload_size > FO_MAX_BODY) st->too_large = 1;
        else buf_append(&st->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    fo_reply r = {.retry_after = -1};
    route(cls, c, url, method, st, &r);
    return send_reply(c, &r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    conn_state *st = *con_cls;
    if (!st) return;
    buf_free(&st->body);
    free(st);
    *con_cls = NULL;
}

/* ---- daemon ------------------------------------------------------------------------- */

void *fo_http_start(fo_server *srv, unsigned port, unsigned *bound_port, char *err, size_t errlen)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                     MHD_USE_ERROR_LOG;
    struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, srv,
                                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                                            MHD_OPTION_END);
    if (!d) {
        errf(err, errlen, "cannot listen on 127.0.0.1:%u", port);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = info ? info->port : port;
    return d;
}

void fo_http_stop(void *daemon)
{
    if (daemon) MHD_stop_daemon(daemon);
}
