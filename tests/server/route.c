/* route.c — what the server answers to one complete request: routing, request numbering and
 * log, failure injection, /v1/models, and the reply helpers the endpoints fill replies with.
 * The sockets, parsing and parking are http.c's; nothing here blocks. */
#include "fake_openai.h"

#include <stdlib.h>
#include <string.h>

typedef void (*endpoint_fn)(const fo_server *srv, const char *body, long n, fo_reply *r);

typedef struct endpoint {
    const char *path;
    const char *method;
    endpoint_fn fn;
} endpoint;

/* ---- replies ------------------------------------------------------------------------ */

void fo_reply_reset(fo_reply *r)
{
    r->status = 0;
    buf_clear(&r->body);
    r->ctype = "application/json";
    r->retry_after = -1;
    r->retry_as_date = 0;
}

void fo_reply_free(fo_reply *r)
{
    buf_free(&r->body);
}

buf *fo_reply_start(fo_reply *r)
{
    buf_clear(&r->body);
    r->status = 200;
    r->ctype = "application/json";
    return &r->body;
}

void fo_reply_buf(fo_reply *r, buf *out)
{
    fo_reply_start(r);
    buf_free(&r->body);
    r->body = *out;
    memset(out, 0, sizeof *out);
}

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
    buf *out = fo_reply_start(r);
    char *text = cJSON_PrintUnformatted(json);
    buf_puts(out, text ? text : "{}");
    free(text);
}

static void reply_text(fo_reply *r, unsigned status, const char *ctype, const char *text)
{
    buf_puts(fo_reply_start(r), text);
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

static const endpoint *find_endpoint(const char *path)
{
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++)
        if (strcmp(endpoints[i].path, path) == 0) return &endpoints[i];
    return NULL;
}

/* ---- request numbering and log ------------------------------------------------------- */

/* Append the log line of POST n: number, path (and arrival time), tab, raw body with LF and
   CR written as \n and \r. Called under the lock. */
static void log_post(fo_server *srv, long n, const fo_request *rq)
{
    if (srv->log_times) fprintf(srv->log, "%ld %s %.1f\t", n, rq->path, fo_now_ms() - srv->start_ms);
    else fprintf(srv->log, "%ld %s\t", n, rq->path);
    for (size_t i = 0; i < rq->body_len; i++) {
        char c = rq->body[i];
        if (c == '\n') fputs("\\n", srv->log);
        else if (c == '\r') fputs("\\r", srv->log);
        else fputc(c, srv->log);
    }
    fputc('\n', srv->log);
    fflush(srv->log);
}

/* Number this POST (1-based) and append its log line, both under the lock so log lines
 * appear in request-number order. Without --log the number is one atomic increment. */
static long begin_post(fo_server *srv, const fo_request *rq)
{
    if (!srv->log) return atomic_fetch_add(&srv->requests, 1) + 1;
    pthread_mutex_lock(&srv->lock);
    long n = atomic_fetch_add(&srv->requests, 1) + 1;
    log_post(srv, n, rq);
    pthread_mutex_unlock(&srv->lock);
    return n;
}

static int every(long k, long n)
{
    return k > 0 && n % k == 0;
}

/* The fault of POST n (faults.c), applied up to the real reply; *after holds what changes
   the real reply (truncation) and *wait_ms grows by a stall. 1 when r (or *reset) is final. */
static int inject_failure(const fo_server *srv, long n, fo_reply *r, int *reset, fo_fault *after,
                          double *wait_ms)
{
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
        *reset = 1;
        return 1;
    }
    if (f == FO_FAULT_STALL) *wait_ms += (double)srv->stall_ms;
    return 0;
}

static int key_ok(const fo_server *srv, const fo_request *rq)
{
    if (!srv->require_key) return 1;
    const char *auth = rq->auth;
    return auth && strncmp(auth, "Bearer ", 7) == 0 && strcmp(auth + 7, srv->require_key) == 0;
}

/* The reply for a request to a known endpoint with the right method. */
static void serve(fo_server *srv, const fo_request *rq, const endpoint *ep, long n, fo_reply *r,
                  int *reset, double *wait_ms)
{
    int post = strcmp(ep->method, "POST") == 0;
    fo_fault after = FO_FAULT_NONE;
    if (!key_ok(srv, rq))
        fo_reply_error(r, 401, "invalid_request_error", "Incorrect API key provided");
    else if (post && inject_failure(srv, n, r, reset, &after, wait_ms))
        return;
    else if (rq->too_large)
        fo_reply_error(r, 413, "invalid_request_error", "request body too large");
    else {
        ep->fn(srv, rq->body, n, r);
        if (post && (after == FO_FAULT_TRUNCATE || every(srv->truncate_every, n))) {
            r->status = 200;
            r->body.len /= 2;
            if (r->body.data) r->body.data[r->body.len] = '\0';
        }
    }
}

void fo_route(fo_server *srv, const fo_request *rq, fo_reply *r, double *wait_ms, int *reset)
{
    int post = strcmp(rq->method, "POST") == 0;
    long n = post ? begin_post(srv, rq) : 0;
    *wait_ms = post ? (double)srv->delay_ms : 0;
    *reset = 0;
    if (fo_rows_route(srv, rq, r, wait_ms, reset)) return;
    const endpoint *ep = find_endpoint(rq->path);
    char msg[200];
    if (!ep) {
        snprintf(msg, sizeof msg, "no route for %.20s %.100s", rq->method, rq->path);
        fo_reply_error(r, 404, "invalid_request_error", msg);
    } else if (strcmp(ep->method, rq->method) != 0) {
        snprintf(msg, sizeof msg, "%.20s %s: method not allowed (use %s)", rq->method, rq->path, ep->method);
        fo_reply_error(r, 405, "invalid_request_error", msg);
    } else {
        serve(srv, rq, ep, n, r, reset, wait_ms);
    }
}
