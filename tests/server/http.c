/* http.c — the server's HTTP/1.1 side: one listening socket on 127.0.0.1, --threads workers
 * each with its own epoll set, keep-alive connections, request parsing in place, and
 * parked replies (park.c). route.c decides every reply.
 *
 * What a request costs the server, in system calls: one read (the socket is edge-triggered
 * and a read that does not fill the buffer has drained it), one writev of the header and the
 * body, and a share of one epoll wait. Nothing is allocated per request: a connection keeps
 * its input buffer and its reply body for every request it carries, and connections are
 * recycled. A delayed reply is a heap entry; the worker's epoll wait ends at the earliest due
 * time (epoll_pwait2, microsecond resolution), so parking needs no timer syscall and no
 * other thread.
 *
 * HTTP handled: Content-Length and chunked request bodies, Expect: 100-continue, keep-alive
 * (HTTP/1.1 default; "Connection: close" and HTTP/1.0 close after the reply), pipelined
 * requests (answered in order, one at a time), bodies over 64 MiB read and dropped (413). */
#define _GNU_SOURCE
#include "fake_openai.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define FO_MAX_BODY ((size_t)64 << 20)
#define FO_MAX_HEAD ((size_t)64 << 10)  /* request line and headers */
#define FO_MAX_CONNECTIONS 60000
#define FO_IN_START 4096                /* a connection's first input buffer */
#define FO_KEEP_CAP ((size_t)1 << 20)   /* buffers larger than this are freed once idle */
#define FO_EVENTS 512
#define FO_ACCEPT_BATCH 64              /* accepts per wake-up, so workers share a burst */

typedef enum conn_state {
    CONN_READING, /* waiting for (the rest of) a request */
    CONN_PARKED,  /* the reply is decided and waits for its due time */
    CONN_WRITING  /* the reply is partly written; waiting for the socket to drain */
} conn_state;

/* What parsing the request line and headers found (offsets into the input buffer). */
typedef struct head_info {
    size_t len;            /* bytes of request line and headers, blank line included; 0: not yet */
    size_t method, path, auth; /* offsets of NUL-terminated strings; auth SIZE_MAX when absent */
    size_t query;          /* offset of the query string (NUL-terminated), SIZE_MAX when none */
    size_t content_length;
    int chunked, close, expect_continue;
} head_info;

typedef struct worker worker;

typedef struct conn {
    fo_timer timer;           /* first member: a parked connection's heap entry */
    worker *w;
    int fd;
    conn_state state;
    char *in;                 /* bytes received and not yet consumed */
    size_t in_len, in_cap;
    head_info head;           /* of the request at the start of `in` */
    size_t discard;           /* body bytes of a too-large request still to drop */
    int too_large, continue_sent, close_after, peer_closed, reset;
    double arrival_ms;        /* kernel receive time of the last read (0: not known) */
    double ready_ms;          /* when the previous reply went out: a pipelined request starts here */
    fo_reply reply;
    char out_head[512];       /* the reply's status line and headers */
    size_t out_head_len, out_done; /* out_done: bytes of head + body written */
    struct conn *prev, *next; /* the worker's live connections, or its free list (next) */
} conn;

struct worker {
    fo_server *srv;
    struct http_daemon *d;
    int epfd;
    pthread_t thread;
    int started;
    int timestamps;            /* reads carry the kernel's receive time (--delay-ms) */
    fo_timer_heap timers;
    conn *live, *spare;
    char listen_tag, stop_tag; /* epoll data of the listening socket and the stop eventfd */
};

typedef struct http_daemon {
    int listen_fd, stop_fd;
    size_t n_workers;
    worker *workers;
    atomic_long connections;
} http_daemon;

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* ---- connections ------------------------------------------------------------------ */

static conn *conn_open(worker *w, int fd)
{
    conn *c = w->spare;
    if (c) w->spare = c->next;
    else c = xcalloc(1, sizeof *c);
    char *in = c->in;
    size_t cap = c->in_cap;
    buf body = c->reply.body;
    memset(c, 0, sizeof *c);
    c->in = in;
    c->in_cap = cap;
    c->reply.body = body;
    fo_reply_reset(&c->reply);
    c->w = w;
    c->fd = fd;
    c->next = w->live;
    if (w->live) w->live->prev = c;
    w->live = c;
    return c;
}

/* Close the socket (with a TCP reset when `reset`) and recycle the connection. */
static void conn_close(conn *c, int reset)
{
    worker *w = c->w;
    if (reset) {
        struct linger lg = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(c->fd);
    atomic_fetch_sub(&w->d->connections, 1);
    fo_timer_remove(&w->timers, &c->timer);
    if (c->prev) c->prev->next = c->next;
    else w->live = c->next;
    if (c->next) c->next->prev = c->prev;
    if (c->in_cap > FO_KEEP_CAP) {
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
    if (c->reply.body.cap > FO_KEEP_CAP) fo_reply_free(&c->reply);
    c->next = w->spare;
    w->spare = c;
}

static void conn_free_all(conn *list)
{
    while (list) {
        conn *next = list->next;
        free(list->in);
        fo_reply_free(&list->reply);
        free(list);
        list = next;
    }
}

/* Drop the first n bytes of the input. */
static void consume(conn *c, size_t n)
{
    c->in_len -= n;
    if (c->in_len) memmove(c->in, c->in + n, c->in_len);
    memset(&c->head, 0, sizeof c->head);
    c->continue_sent = 0;
}

/* Make room for at least `want` bytes of input plus a NUL. */
static void reserve_input(conn *c, size_t want)
{
    if (want + 1 <= c->in_cap) return;
    size_t cap = c->in_cap ? c->in_cap : FO_IN_START;
    while (cap < want + 1) cap *= 2;
    c->in = xrealloc(c->in, cap);
    c->in_cap = cap;
}

/* read() that also takes the kernel's receive time of the bytes (SO_TIMESTAMPNS, set on the
   listening socket with --delay-ms) into c->arrival_ms, on the monotonic clock: a delayed
   reply is due --delay-ms after its request arrived, however late a busy worker read it. */
static ssize_t read_stamped(conn *c, size_t room)
{
    char control[CMSG_SPACE(sizeof(struct timespec))];
    struct iovec iov = {c->in + c->in_len, room};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t r = recvmsg(c->fd, &msg, 0);
    if (r <= 0) return r;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_TIMESTAMPNS) continue;
        struct timespec got, real;
        memcpy(&got, CMSG_DATA(cm), sizeof got);
        clock_gettime(CLOCK_REALTIME, &real);
        double age_ms = (double)(real.tv_sec - got.tv_sec) * 1e3 + (double)(real.tv_nsec - got.tv_nsec) * 1e-6;
        c->arrival_ms = fo_now_ms() - (age_ms > 0 ? age_ms : 0);
    }
    return r;
}

/* Read what the socket holds. Returns -1 on a socket error (the caller closes); sets
   peer_closed at end of stream. */
static int conn_read(conn *c)
{
    for (;;) {
        size_t want = c->head.len && !c->head.chunked && !c->too_large ? c->head.len + c->head.content_length : 0;
        if (want < c->in_len + 2048) want = c->in_len + 2048;
        reserve_input(c, want);
        size_t room = c->in_cap - c->in_len - 1;
        ssize_t r = c->w->timestamps ? read_stamped(c, room) : read(c->fd, c->in + c->in_len, room);
        if (r > 0) {
            c->in_len += (size_t)r;
            if ((size_t)r < room) return 0; /* drained: edge-triggered epoll tells of more */
            continue;
        }
        if (r == 0) {
            c->peer_closed = 1;
            return 0;
        }
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
}

/* ---- parsing ---------------------------------------------------------------------- */

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Percent-decode s in place ('+' too when plus_is_space, as in query strings). */
static void url_decode(char *s, int plus_is_space)
{
    char *out = s;
    for (; *s; s++) {
        if (*s == '%' && hex_value(s[1]) >= 0 && hex_value(s[2]) >= 0) {
            *out++ = (char)(hex_value(s[1]) * 16 + hex_value(s[2]));
            s += 2;
        } else {
            *out++ = plus_is_space && *s == '+' ? ' ' : *s;
        }
    }
    *out = '\0';
}

/* 1 when the comma-separated header value contains token (case-insensitive). */
static int has_token(const char *value, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = value; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        if (strncasecmp(p, token, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' ' || p[n] == ';'))
            return 1;
        while (*p && *p != ',') p++;
    }
    return 0;
}

/* One header line (NUL-terminated, name and value split at the colon). -1: malformed. */
static int parse_header(head_info *h, char *base, char *name, char *value)
{
    while (*value == ' ' || *value == '\t') value++;
    char *end = value + strlen(value);
    while (end > value && (end[-1] == ' ' || end[-1] == '\t')) *--end = '\0';
    if (strcasecmp(name, "Content-Length") == 0) {
        char *stop;
        errno = 0;
        unsigned long long v = strtoull(value, &stop, 10);
        if (!isdigit((unsigned char)*value) || *stop || errno) return -1;
        h->content_length = (size_t)v;
    } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
        h->chunked = has_token(value, "chunked");
    } else if (strcasecmp(name, "Connection") == 0) {
        if (has_token(value, "close")) h->close = 1;
        if (has_token(value, "keep-alive")) h->close = 0;
    } else if (strcasecmp(name, "Expect") == 0) {
        h->expect_continue = strcasecmp(value, "100-continue") == 0;
    } else if (strcasecmp(name, "Authorization") == 0) {
        h->auth = (size_t)(value - base);
    }
    return 0;
}

/* The request line "METHOD TARGET HTTP/1.x", NUL-terminated in place. -1: malformed. */
static int parse_request_line(head_info *h, char *base, char *line)
{
    char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) return -1;
    *sp1 = *sp2 = '\0';
    if (strcmp(sp2 + 1, "HTTP/1.0") == 0) h->close = 1;
    char *target = sp1 + 1, *q = strchr(target, '?');
    if (q) {
        *q = '\0';
        h->query = (size_t)(q + 1 - base);
    }
    url_decode(target, 0);
    h->method = 0;
    h->path = (size_t)(target - base);
    return 0;
}

/* Parse the head once "\r\n\r\n" has arrived: 1 done, 0 not yet, -1 malformed or too long. */
static int parse_head(conn *c)
{
    if (c->head.len) return 1;
    if (c->in_len == 0) return 0; /* (the buffer may not exist yet) */
    c->in[c->in_len] = '\0';
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end) return c->in_len > FO_MAX_HEAD ? -1 : 0;
    head_info *h = &c->head;
    memset(h, 0, sizeof *h);
    h->auth = h->query = SIZE_MAX;
    *end = '\0';
    char *line = c->in, *next;
    for (int first = 1; line; line = next, first = 0) {
        next = strstr(line, "\r\n");
        if (next) {
            *next = '\0';
            next += 2;
        }
        if (first) {
            if (parse_request_line(h, c->in, line) != 0) return -1;
            continue;
        }
        char *colon = strchr(line, ':');
        if (!colon) return -1;
        *colon = '\0';
        if (parse_header(h, c->in, line, colon + 1) != 0) return -1;
    }
    h->len = (size_t)(end - c->in) + 4;
    return 1;
}

/* Walk the chunked body that starts at `at`: its total encoded length (trailers included)
   and decoded length, 0 while incomplete, -1 when malformed. Decodes it in place, packing
   the data at `at`, when `decode`. */
static long long walk_chunks(char *in, size_t at, size_t len, size_t *decoded, int decode)
{
    size_t p = at, out = at;
    for (;;) {
        char *eol = memmem(in + p, len - p, "\r\n", 2);
        if (!eol) return 0;
        char *stop;
        errno = 0;
        unsigned long long size = strtoull(in + p, &stop, 16);
        if (stop == in + p || errno || size > FO_MAX_BODY) return -1;
        p = (size_t)(eol - in) + 2;
        if (size == 0) break;
        if (len - p < size + 2) return 0;
        if (decode) memmove(in + out, in + p, size);
        out += size;
        p += size + 2;
        if (out - at > FO_MAX_BODY) return -1;
    }
    for (;;) { /* trailers, up to the blank line */
        char *eol = memmem(in + p, len - p, "\r\n", 2);
        if (!eol) return 0;
        size_t line = (size_t)(eol - in) - p;
        p += line + 2;
        if (line == 0) break;
    }
    *decoded = out - at;
    return (long long)(p - at);
}

/* Send "100 Continue" once when the client waits for it before sending the body. */
static void maybe_continue(conn *c)
{
    if (!c->head.expect_continue || c->continue_sent) return;
    c->continue_sent = 1;
    ssize_t w = send(c->fd, continue_line, sizeof continue_line - 1, MSG_NOSIGNAL);
    (void)w; /* a client that cannot take 25 bytes will fail on the reply too */
}

/* Fill rq when a whole request is at the start of the input: its length (head and body),
   0 while incomplete, -1 for a malformed request. */
static long long next_request(conn *c, fo_request *rq)
{
    int ph = parse_head(c);
    if (ph <= 0) return ph;
    head_info *h = &c->head;
    size_t body_len = h->content_length, total;
    if (h->chunked) {
        long long enc = walk_chunks(c->in, h->len, c->in_len, &body_len, 0);
        if (enc <= 0) {
            if (enc == 0) maybe_continue(c);
            return enc;
        }
        walk_chunks(c->in, h->len, c->in_len, &body_len, 1);
        total = h->len + (size_t)enc;
    } else if (body_len > FO_MAX_BODY) {
        return 0; /* conn_drop_body takes it */
    } else {
        if (c->in_len < h->len + body_len) {
            maybe_continue(c);
            return 0;
        }
        total = h->len + body_len;
    }
    memset(rq, 0, sizeof *rq);
    rq->method = c->in + h->method;
    rq->path = c->in + h->path;
    rq->auth = h->auth == SIZE_MAX ? NULL : c->in + h->auth;
    rq->body = c->in + h->len;
    rq->body_len = body_len;
    return (long long)total;
}

/* Split the query string (NUL-terminated in place) into decoded key/value pairs. */
static void parse_query(fo_request *rq, char *q)
{
    while (q && *q && rq->n_args < FO_MAX_QUERY_ARGS) {
        char *amp = strchr(q, '&');
        if (amp) *amp = '\0';
        char *eq = strchr(q, '=');
        if (eq) *eq = '\0';
        url_decode(q, 1);
        if (eq) url_decode(eq + 1, 1);
        if (*q) {
            rq->arg_key[rq->n_args] = q;
            rq->arg_value[rq->n_args++] = eq ? eq + 1 : "";
        }
        q = amp ? amp + 1 : NULL;
    }
}

const char *fo_request_arg(const fo_request *rq, const char *key)
{
    for (size_t i = 0; i < rq->n_args; i++)
        if (strcmp(rq->arg_key[i], key) == 0) return rq->arg_value[i];
    return NULL;
}

/* ---- replies ---------------------------------------------------------------------- */

static const char *reason_phrase(unsigned status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
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

/* Append s to the reply head (cut at its size: the head has room for every header here). */
static void head_put(conn *c, const char *s)
{
    size_t n = strlen(s), room = sizeof c->out_head - c->out_head_len;
    if (n > room) n = room;
    memcpy(c->out_head + c->out_head_len, s, n);
    c->out_head_len += n;
}

/* Decimal digits of v, NUL-terminated, in out (at least 21 bytes). */
static const char *decimal(size_t v, char *out)
{
    char *p = out + 20;
    *p = '\0';
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

/* Status line and headers of the reply, built with copies only (no printf on the hot path). */
static void build_head(conn *c)
{
    const fo_reply *r = &c->reply;
    char num[24];
    c->out_head_len = 0;
    head_put(c, "HTTP/1.1 ");
    head_put(c, decimal(r->status, num));
    head_put(c, " ");
    head_put(c, reason_phrase(r->status));
    head_put(c, "\r\nContent-Type: ");
    head_put(c, r->ctype);
    head_put(c, "\r\nContent-Length: ");
    head_put(c, decimal(r->body.len, num));
    if (r->retry_after >= 0) {
        char value[64];
        retry_after_value(r, value, sizeof value);
        head_put(c, "\r\nRetry-After: ");
        head_put(c, value);
    }
    if (c->close_after) head_put(c, "\r\nConnection: close");
    head_put(c, "\r\n\r\n");
}

/* Write what is left of the reply. 1 when all of it is out, 0 when the socket is full,
   -1 on a socket error. */
static int flush_reply(conn *c)
{
    size_t body_len = c->reply.body.len, total = c->out_head_len + body_len;
    while (c->out_done < total) {
        struct iovec iov[2];
        int n = 0;
        if (c->out_done < c->out_head_len)
            iov[n++] = (struct iovec){c->out_head + c->out_done, c->out_head_len - c->out_done};
        size_t body_at = c->out_done > c->out_head_len ? c->out_done - c->out_head_len : 0;
        if (body_len > body_at) iov[n++] = (struct iovec){c->reply.body.data + body_at, body_len - body_at};
        ssize_t w = writev(c->fd, iov, n);
        if (w > 0) {
            c->out_done += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        return -1;
    }
    return 1;
}

/* Send the decided reply (or the reset). 0 when the connection goes on, -1 when it was
   closed (c must not be used again). */
static int conn_answer(conn *c)
{
    if (c->reset) {
        conn_close(c, 1);
        return -1;
    }
    build_head(c);
    c->out_done = 0;
    int done = flush_reply(c);
    if (done < 0) {
        conn_close(c, 0);
        return -1;
    }
    if (!done) {
        c->state = CONN_WRITING;
        return 0;
    }
    c->state = CONN_READING;
    if (c->close_after) {
        conn_close(c, 0);
        return -1;
    }
    if (c->w->timestamps) c->ready_ms = fo_now_ms();
    if (c->reply.body.cap > FO_KEEP_CAP) fo_reply_free(&c->reply);
    return 0;
}

/* ---- requests ----------------------------------------------------------------------- */

/* Route a complete request (body NUL-terminated for the handlers) and consume it; the reply
   is then in c->reply and *wait_ms says how long it waits. */
static void handle(conn *c, fo_request *rq, size_t total, double *wait_ms)
{
    head_info *h = &c->head;
    char saved = c->in[total];
    c->in[total] = '\0'; /* the byte after the body: the next request's first, restored below */
    ((char *)rq->body)[rq->body_len] = '\0';
    if (h->query != SIZE_MAX) parse_query(rq, c->in + h->query);
    c->close_after = h->close || c->peer_closed;
    fo_reply_reset(&c->reply);
    fo_route(c->w->srv, rq, &c->reply, wait_ms, &c->reset);
    c->in[total] = saved;
    consume(c, total);
}

/* A request whose Content-Length is over the limit: its body is dropped as it arrives (the
   head stays at the start of the input), then it is routed — 413, numbered and logged with
   an empty body. 1 when routed, 0 while dropping. */
static int drop_large_body(conn *c, double *wait_ms)
{
    head_info *h = &c->head;
    if (!c->too_large) {
        c->too_large = 1;
        c->discard = h->content_length;
        maybe_continue(c);
    }
    size_t held = c->in_len - h->len, n = c->discard < held ? c->discard : held;
    memmove(c->in + h->len, c->in + h->len + n, held - n);
    c->in_len -= n;
    c->discard -= n;
    if (c->discard) return 0;
    c->too_large = 0;
    fo_request rq;
    memset(&rq, 0, sizeof rq);
    rq.method = c->in + h->method;
    rq.path = c->in + h->path;
    rq.auth = h->auth == SIZE_MAX ? NULL : c->in + h->auth;
    rq.body = "";
    rq.too_large = 1;
    c->close_after = h->close || c->peer_closed;
    fo_reply_reset(&c->reply);
    fo_route(c->w->srv, &rq, &c->reply, wait_ms, &c->reset);
    consume(c, h->len);
    return 1;
}

/* Park the reply until wait_ms after its request arrived: the kernel's receive time when
   known, but never before the previous reply on the connection went out (a pipelined
   request waits its turn, as a server working through them one at a time would). */
static void conn_park(conn *c, double wait_ms)
{
    double now = fo_now_ms(), start = c->arrival_ms > 0 && c->arrival_ms < now ? c->arrival_ms : now;
    if (start < c->ready_ms) start = c->ready_ms;
    c->state = CONN_PARKED;
    fo_timer_add(&c->w->timers, &c->timer, start + wait_ms);
}

/* Answer every complete request in the input, in order, until one is parked or the
   socket is full. Closes the connection when the peer has gone and nothing is pending. */
static void conn_process(conn *c)
{
    while (c->state == CONN_READING) {
        fo_request rq;
        double wait_ms = 0;
        long long total = c->too_large ? 0 : next_request(c, &rq);
        if (total > 0) {
            handle(c, &rq, (size_t)total, &wait_ms);
        } else if (total < 0) {
            fo_reply_reset(&c->reply);
            fo_reply_error(&c->reply, 400, "invalid_request_error", "malformed HTTP request");
            c->reset = 0;
            c->close_after = 1;
            consume(c, c->in_len);
        } else if (c->too_large || (c->head.len && !c->head.chunked && c->head.content_length > FO_MAX_BODY)) {
            if (!drop_large_body(c, &wait_ms)) break;
        } else {
            break;
        }
        if (wait_ms > 0) {
            conn_park(c, wait_ms);
            return;
        }
        if (conn_answer(c) < 0) return;
    }
    if (c->state == CONN_READING && c->peer_closed) conn_close(c, 0);
}

/* ---- workers ------------------------------------------------------------------------ */

static void on_accept(worker *w)
{
    http_daemon *d = w->d;
    for (int i = 0; i < FO_ACCEPT_BATCH; i++) {
        int fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return; /* EAGAIN, or out of descriptors: the backlog waits */
        }
        if (atomic_fetch_add(&d->connections, 1) >= FO_MAX_CONNECTIONS) {
            atomic_fetch_sub(&d->connections, 1);
            close(fd);
            continue;
        }
        conn *c = conn_open(w, fd); /* TCP_NODELAY comes from the listening socket */
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) conn_close(c, 0);
    }
}

static void on_conn_event(conn *c, uint32_t events)
{
    if (events & EPOLLERR) {
        conn_close(c, 0);
        return;
    }
    if (c->state == CONN_WRITING && (events & EPOLLOUT)) {
        int done = flush_reply(c);
        if (done < 0) {
            conn_close(c, 0);
            return;
        }
        if (done) {
            c->state = CONN_READING;
            if (c->w->timestamps) c->ready_ms = fo_now_ms();
            if (c->close_after) {
                conn_close(c, 0);
                return;
            }
        }
    }
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) && conn_read(c) < 0) {
        conn_close(c, 0);
        return;
    }
    if (c->state == CONN_READING) conn_process(c);
}

/* Send every parked reply that is due. */
static void wake_due(worker *w)
{
    double now = fo_now_ms();
    fo_timer *t;
    while ((t = fo_timer_pop_due(&w->timers, now)) != NULL) {
        conn *c = (conn *)t; /* the timer is the connection's first member */
        c->state = CONN_READING;
        if (conn_answer(c) == 0 && c->state == CONN_READING) conn_process(c);
    }
}

/* Wait for events until the earliest parked reply is due (microsecond resolution where the
   kernel has epoll_pwait2, whole milliseconds rounded up otherwise). */
static int wait_events(worker *w, struct epoll_event *ev, int max)
{
    double next = fo_timer_next(&w->timers);
    if (next < 0) return epoll_wait(w->epfd, ev, max, -1);
    double left = next - fo_now_ms();
    if (left < 0) left = 0;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
    struct timespec ts = {(time_t)(left / 1e3), (long)(fmod(left, 1e3) * 1e6)};
    int k = epoll_pwait2(w->epfd, ev, max, &ts, NULL);
    if (k >= 0 || errno != ENOSYS) return k;
#endif
    return epoll_wait(w->epfd, ev, max, (int)ceil(left));
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    struct epoll_event ev[FO_EVENTS];
    for (;;) {
        int k = wait_events(w, ev, FO_EVENTS);
        if (k < 0 && errno != EINTR) break;
        for (int i = 0; i < k; i++) {
            void *tag = ev[i].data.ptr;
            if (tag == &w->stop_tag) return NULL;
            if (tag == &w->listen_tag) on_accept(w);
            else on_conn_event(tag, ev[i].events);
        }
        wake_due(w);
    }
    return NULL;
}

/* ---- daemon ------------------------------------------------------------------------- */

static int listen_on(unsigned port, int timestamps, unsigned *bound_port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* accepted sockets inherit it: a reply is one writev, never held back for an ACK */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (timestamps) setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one); /* inherited too */
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 4096) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        close(fd);
        return -1;
    }
    *bound_port = ntohs(addr.sin_port);
    return fd;
}

/* Each worker's epoll set holds the shared listening socket (EPOLLEXCLUSIVE: one worker is
   woken per new connection) and the stop eventfd. */
static int worker_init(http_daemon *d, worker *w, fo_server *srv)
{
    w->srv = srv;
    w->d = d;
    w->timestamps = srv->delay_ms > 0;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (w->epfd < 0) return -1;
    struct epoll_event lev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &w->listen_tag};
    struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &w->stop_tag};
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, d->listen_fd, &lev) != 0 ||
        epoll_ctl(w->epfd, EPOLL_CTL_ADD, d->stop_fd, &sev) != 0)
        return -1;
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) return -1;
    w->started = 1;
    return 0;
}

void *fo_http_start(fo_server *srv, unsigned port, unsigned *bound_port, char *err, size_t errlen)
{
    http_daemon *d = xcalloc(1, sizeof *d);
    d->stop_fd = -1;
    d->listen_fd = listen_on(port, srv->delay_ms > 0, bound_port);
    if (d->listen_fd < 0) {
        errf(err, errlen, "cannot listen on 127.0.0.1:%u: %s", port, strerror(errno));
        free(d);
        return NULL;
    }
    d->stop_fd = eventfd(0, EFD_CLOEXEC);
    d->n_workers = srv->threads > 1 ? (size_t)srv->threads : 1;
    d->workers = xcalloc(d->n_workers, sizeof *d->workers);
    for (size_t i = 0; i < d->n_workers; i++) {
        if (d->stop_fd < 0 || worker_init(d, &d->workers[i], srv) != 0) {
            errf(err, errlen, "cannot start worker %zu: %s", i + 1, strerror(errno));
            fo_http_stop(d);
            return NULL;
        }
    }
    return d;
}

void fo_http_stop(void *daemon_ptr)
{
    http_daemon *d = daemon_ptr;
    if (!d) return;
    uint64_t one = 1;
    if (d->stop_fd >= 0 && write(d->stop_fd, &one, sizeof one) < 0) perror("fake_openai: stop");
    for (size_t i = 0; i < d->n_workers; i++) {
        worker *w = &d->workers[i];
        if (w->started) pthread_join(w->thread, NULL);
        while (w->live) conn_close(w->live, 0); /* parked replies are dropped */
        conn_free_all(w->spare);
        fo_timer_heap_free(&w->timers);
        if (w->epfd > 0) close(w->epfd);
    }
    close(d->listen_fd);
    if (d->stop_fd >= 0) close(d->stop_fd);
    free(d->workers);
    free(d);
}
