/* http.c — the libmicrohttpd side: request bodies, routing, failure injection, request log.
 * An epoll daemon with --threads workers; a reply that must wait (--delay-ms, a stall) is
 * parked (park.c), so waiting requests never hold a thread or each other up. */
#include "fake_openai.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/buf.h"

#define FO_MAX_BODY ((size_t)64 << 20)
#define FO_MAX_CONNECTIONS 60000
#define FO_CONN_MEMORY (16 * 1024) /* per-connection buffer of the daemon (headers, reads) */

/* Per-request state MHD keeps for us between calls of the access handler. */
typedef struct conn_state {
    buf body;
    int too_large;
    int parked;                  /* the reply is decided and waits for the timer */
    int reset;                   /* answer by resetting the connection */
    fo_reply reply;              /* the decided reply (body owned here until queued) */
    struct MHD_Connection *conn;
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

void fo_reply_buf(fo_reply *r, buf *out)
{
    free(r->body);
    r->len = out->len;
    r->body = buf_steal(out);
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
        if (srv->log_times) fprintf(srv->log, "%ld %s %.1f\t", n, url, fo_now_ms() - srv->start_ms);
        else fprintf(srv->log, "%ld %s\t", n, url);
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

static int every(long k, long n)
{
    return k > 0 && n % k == 0;
}

/* The fault of POST n (faults.c), applied up to the real reply; *after holds what changes
   the real reply (truncation) and *wait_ms grows by a stall. */
static int inject_failure(const fo_server *srv, long n, conn_state *st, fo_fault *after, double *wait_ms)
{
    fo_reply *r = &st->reply;
    unsigned status;
    fo_fault f = fo_fault_for(srv, n, &status);
    *after = f;
    if (f == FO_FAULT_STATUS) {
        char msg[96];
        snprintf(msg, sizeof msg, "injected failure (request %ld)", n);
        fo_reply_error(r, status, "server_error", msg);
        if (status == 429 || status == 503) r->retry_after = srv->retry_after;
        r->retry_as_date = srv->retry_after_date != 0;
        return 1;
    }
    if (f == FO_FAULT_GARBAGE) {
        reply_text(r, 200, "text/html", "<html>upstream hiccup</html>");
        return 1;
    }
    if (f == FO_FAULT_RESET) {
        st->reset = 1;
        return 1;
    }
    if (f == FO_FAULT_STALL) *wait_ms += (double)srv->stall_ms;
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
                  conn_state *st, double *wait_ms)
{
    int post = strcmp(ep->method, "POST") == 0;
    fo_reply *r = &st->reply;
    fo_fault after = FO_FAULT_NONE;
    if (!key_ok(srv, c))
        fo_reply_error(r, 401, "invalid_request_error", "Incorrect API key provided");
    else if (post && inject_failure(srv, n, st, &after, wait_ms))
        return;
    else if (st->too_large)
        fo_reply_error(r, 413, "invalid_request_error", "request body too large");
    else {
        ep->fn(srv, buf_str(&st->body), n, r);
        if (post && (after == FO_FAULT_TRUNCATE || every(srv->truncate_every, n))) {
            r->status = 200;
            r->len /= 2;
        }
    }
}

/* Decide the reply for one complete request; *wait_ms: how long it waits before going out. */
static void route(fo_server *srv, struct MHD_Connection *c, const char *url, const char *method,
                  conn_state *st, double *wait_ms)
{
    int post = strcmp(method, "POST") == 0;
    long n = post ? begin_post(srv, url, &st->body) : 0;
    *wait_ms = post ? (double)srv->delay_ms : 0;
    if (fo_rows_route(srv, c, url, method, &st->reply, wait_ms, &st->reset)) return;
    const endpoint *ep = find_endpoint(url);
    char msg[200];
    if (!ep) {
        snprintf(msg, sizeof msg, "no route for %.20s %.100s", method, url);
        fo_reply_error(&st->reply, 404, "invalid_request_error", msg);
    } else if (strcmp(ep->method, method) != 0) {
        snprintf(msg, sizeof msg, "%.20s %s: method not allowed (use %s)", method, url, ep->method);
        fo_reply_error(&st->reply, 405, "invalid_request_error", msg);
    } else {
        serve(srv, c, ep, n, st, wait_ms);
    }
}

/* The Retry-After value: seconds ("%g"), or the IMF-fixdate that many whole seconds from now. */
static void retry_after_value(const fo_reply *r, char *out, size_t len)
{
    if (!r->retry_as_date) {
        snprintf(out, len, "%g", r->retry_after);
        return;
    }
    time_t secs = (time_t)r->retry_after;
    if ((double)secs < r->retry_after) secs++; /* whole seconds, rounded up */
    time_t when = time(NULL) + secs;
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(out, len, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, fo_reply *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
    if (!resp) return MHD_NO; /* the body stays with the request state, freed on completion */
    r->body = NULL;           /* owned by the response now */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
    if (r->retry_after >= 0) {
        char value[64];
        retry_after_value(r, value, sizeof value);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, value);
    }
    enum MHD_Result ret = MHD_queue_response(c, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Close the connection with a TCP reset (SO_LINGER 0) and no reply. */
static enum MHD_Result reset_connection(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) {
        struct linger lg = {1, 0};
        setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    return MHD_NO;
}

static void park_suspend(void *p)
{
    MHD_suspend_connection(((conn_state *)p)->conn);
}

static void park_wake(void *p)
{
    MHD_resume_connection(((conn_state *)p)->conn);
}

static enum MHD_Result answer(struct MHD_Connection *c, conn_state *st)
{
    return st->reset ? reset_connection(c) : send_reply(c, &st->reply);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    conn_state *st = *con_cls;
    if (!st) {
        st = xcalloc(1, sizeof *st);
        st->reply.retry_after = -1;
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_size) {
        if (st->body.len + *upload_size > FO_MAX_BODY) st->too_large = 1;
        else buf_append(&st->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (st->parked) return answer(c, st); /* resumed by the timer */
    double wait_ms;
    route(cls, c, url, method, st, &wait_ms);
    if (wait_ms > 0) {
        st->parked = 1;
        st->conn = c;
        if (fo_park(st, fo_now_ms() + wait_ms, park_suspend, park_wake) == 0) return MHD_YES;
    }
    return answer(c, st);
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
    free(st->reply.body);
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
    if (fo_park_start() != 0) {
        errf(err, errlen, "cannot start the timer thread");
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, srv,
                                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                            MHD_OPTION_THREAD_POOL_SIZE, srv->threads > 1 ? (unsigned)srv->threads : 0u,
                                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)FO_CONN_MEMORY,
                                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)FO_MAX_CONNECTIONS,
                                            MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u,
                                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                                            MHD_OPTION_END);
    if (!d) {
        fo_park_stop();
        errf(err, errlen, "cannot listen on 127.0.0.1:%u", port);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = info ? info->port : port;
    return d;
}

void fo_http_stop(void *daemon)
{
    fo_park_stop(); /* resume every parked connection: MHD must not stop with any suspended */
    if (daemon) MHD_stop_daemon(daemon);
}
