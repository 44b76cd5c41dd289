/* transport_plain.c — plain HTTP/1.1 for http:// URLs over non-blocking sockets (see
 * transport_plain.h).
 *
 * Per request on a reused connection the cost is one sendmsg, one read (two when the answer
 * is split) and a share of an epoll_wait: the socket stays registered for EPOLLIN from the
 * time it connects, and EPOLLOUT is asked for only while a write is incomplete. Idle
 * connections stay registered too, so a server that closes one is noticed (the event closes
 * it) without a liveness check before each reuse.
 *
 * Timeouts: every transfer has the same total timeout, so transfers in start order are in
 * deadline order; p->flight is that list and only its head is ever checked. The same holds
 * for connects (p->connecting) and the connect timeout.
 *
 * Stale events: transport.c acts on epoll events a chunk at a time, so an event may be acted
 * on after its socket was closed and the descriptor reused. Each event carries the
 * connection's index and the generation of its socket (bumped at every close); an event of
 * an earlier generation is dropped. */
#include "transport_plain.h"
#include "util/clock.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "transport_http1.h"

#define PLAIN_READ_BUF ((size_t)64 << 10) /* bytes taken per read() */
#define PLAIN_GEN_MASK 0x7fffffffu        /* generations fit in bits 32-62 of the epoll data */

/* ---- an intrusive doubly-linked list with a sentinel head ----------------------------- */

typedef struct dlink {
    struct dlink *prev, *next;
} dlink;

#define DL_ITEM(ptr, type) ((type *)(void *)((char *)(ptr) - offsetof(type, link)))

static void dl_init(dlink *e)
{
    e->prev = e->next = e;
}

static int dl_empty(const dlink *head)
{
    return head->next == head;
}

static void dl_push(dlink *head, dlink *e)
{
    e->prev = head->prev;
    e->next = head;
    head->prev->next = e;
    head->prev = e;
}

/* Unlink e (an unlinked e, pointing at itself, is left as it is). */
static void dl_remove(dlink *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
    dl_init(e);
}

/* ---- state -------------------------------------------------------------------------- */

/* One server, host:port as the URLs write it. */
typedef struct plain_endpoint {
    char *authority;         /* "host:port" as in the URL: the lookup key and the Host header */
    size_t authority_len;
    char *name;              /* the host for getaddrinfo and messages (no IPv6 brackets) */
    char port[8];
    struct addrinfo *addrs;  /* NULL until resolved (a failed lookup is tried again) */
    int n_addrs;
    int preferred;           /* the address that connected last */
    uint32_t *idle;          /* ids of idle keep-alive connections, the latest last */
    int n_idle, cap_idle;
} plain_endpoint;

typedef enum slot_phase { SLOT_IDLE, SLOT_FLIGHT, SLOT_FINISHED } slot_phase;

/* The plain side of one transfer slot. */
typedef struct plain_slot {
    dlink link;              /* in p->flight (start order = deadline order) or p->finished */
    slot_phase phase;
    double due;              /* when the total timeout ends the transfer */
    struct pconn *conn;      /* the connection carrying it (SLOT_FLIGHT) */
    plain_endpoint *ep;
    buf head;                /* request line and headers, kept for a resend */
    size_t sent;             /* bytes of head and body written */
    int get;
    int retried;             /* resent once already after a stale keep-alive connection */
    CURLcode result;
} plain_slot;

/* One TCP connection. */
typedef struct pconn {
    dlink link;              /* in p->connecting while connecting */
    int fd;                  /* -1: no socket */
    uint32_t id, gen;        /* index in p->conns; generation of the socket (see above) */
    plain_endpoint *ep;
    int slot;                /* the transfer it carries, -1 when idle or unused */
    int idle_pos;            /* its index in ep->idle, -1 when not idle */
    int reused;              /* it completed a response before the current transfer */
    int connecting;
    int tried;               /* addresses of ep tried by this connect */
    int addr;                /* the address being tried */
    int sending;             /* the request is not completely written yet */
    uint32_t watching;       /* events registered with epoll (0: not registered) */
    double connect_start;    /* when the first address was tried */
    double connect_due;      /* when the current address's connect times out */
    h1_response resp;
} pconn;

struct plain_transport {
    int epfd;
    transport_opts o;
    xfer *xs;                /* transport.c's slots ... */
    plain_slot *slots;       /* ... and their plain side, same index */
    int n_slots;
    buf get_fixed;           /* the header lines every GET carries ... */
    buf post_fixed;          /* ... and every POST, up to "Content-Length: " */
    plain_endpoint **eps;
    int n_eps;
    pconn **conns;           /* by id; never shrinks, structs are reused */
    uint32_t n_conns, cap_conns;
    uint32_t *free_ids;
    uint32_t n_free_ids;
    int n_idle;              /* idle connections over all endpoints (at most n_slots) */
    dlink flight, finished, connecting;
    char *rbuf;              /* PLAIN_READ_BUF bytes */
};

static xfer *xfer_of(plain_transport *p, const plain_slot *s)
{
    return &p->xs[s - p->slots];
}

static long ms_since(double t0)
{
    return (long)((mono_seconds() - t0) * 1000.0 + 0.5);
}

/* ---- URLs ----------------------------------------------------------------------------- */

typedef struct url_parts {
    const char *authority, *path; /* path: from the first '/' or '?' to '#' or the end */
    size_t authority_len, path_len;
} url_parts;

static int bad_char(char ch)
{
    return (unsigned char)ch <= 0x20 || ch == 0x7f;
}

/* Split "host:port", "[v6]:port", "host" or "[v6]" into name and port (80 by default). */
static int split_authority(const char *a, size_t n, char *name, size_t name_cap, char port[8],
                           char *err, size_t errlen)
{
    size_t host_end = n, host_start = 0, port_at = n;
    if (n && a[0] == '[') {
        const char *close = memchr(a, ']', n);
        if (!close) return errf(err, errlen, "an IPv6 address without its closing ']'");
        host_start = 1;
        host_end = (size_t)(close - a);
        port_at = host_end + 1 < n ? host_end + 1 : n;
        if (port_at < n && a[port_at] != ':') return errf(err, errlen, "junk after the IPv6 address");
    } else {
        const char *colon = memchr(a, ':', n);
        if (colon) host_end = port_at = (size_t)(colon - a);
    }
    if (host_end <= host_start) return errf(err, errlen, "no host");
    if (host_end - host_start >= name_cap) return errf(err, errlen, "a host name too long");
    memcpy(name, a + host_start, host_end - host_start);
    name[host_end - host_start] = '\0';
    long pn = 80;
    if (port_at < n && port_at + 1 < n) { /* "host:" alone means the default port */
        pn = 0;
        for (size_t i = port_at + 1; i < n; i++) {
            if (a[i] < '0' || a[i] > '9' || pn > 65535) return errf(err, errlen, "a bad port number");
            pn = pn * 10 + (a[i] - '0');
        }
        if (pn < 1 || pn > 65535) return errf(err, errlen, "a port number out of range");
    }
    snprintf(port, 8, "%ld", pn);
    return 0;
}

/* The parts of an http:// URL; the host part is checked when its endpoint is made. */
static int parse_url(const char *url, url_parts *u, char *err, size_t errlen)
{
    if (strncasecmp(url, "https://", 8) == 0)
        return errf(err, errlen, "transport=plain speaks plain HTTP only: %s needs TLS (use "
                    "transport=auto or transport=curl)", url);
    if (strncasecmp(url, "http://", 7) != 0)
        return errf(err, errlen, "transport=plain takes http:// URLs only, not %s", url);
    u->authority = url + 7;
    u->authority_len = strcspn(u->authority, "/?#");
    u->path = u->authority + u->authority_len;
    u->path_len = strcspn(u->path, "#");
    for (size_t i = 0; i < u->authority_len; i++)
        if (bad_char(u->authority[i]) || u->authority[i] == '@')
            return errf(err, errlen, "%s: the plain transport takes no credentials, spaces or "
                        "control characters in the host part (use transport=curl)", url);
    for (size_t i = 0; i < u->path_len; i++)
        if (bad_char(u->path[i]))
            return errf(err, errlen, "%s: a space or control character in the path", url);
    return 0;
}

/* Split u's host part into name and port; 0, or -1 with err naming url. */
static int url_host(const char *url, const url_parts *u, char *name, size_t name_cap, char port[8],
                    char *err, size_t errlen)
{
    char why[128];
    if (split_authority(u->authority, u->authority_len, name, name_cap, port, why, sizeof why) != 0)
        return errf(err, errlen, "%s is not a valid http:// URL: %s", url, why);
    return 0;
}

int plain_url_ok(const char *url, char *err, size_t errlen)
{
    url_parts u;
    char name[256], port[8];
    return parse_url(url, &u, err, errlen) == 0 &&
           url_host(url, &u, name, sizeof name, port, err, errlen) == 0;
}

/* ---- endpoints ------------------------------------------------------------------------ */

/* The endpoint of u's host:port, made on first use; NULL with err filled when the host part
   is not valid. */
static plain_endpoint *endpoint_for(plain_transport *p, const char *url, const url_parts *u,
                                    char *err, size_t errlen)
{
    for (int i = 0; i < p->n_eps; i++) {
        plain_endpoint *e = p->eps[i];
        if (e->authority_len == u->authority_len && memcmp(e->authority, u->authority, u->authority_len) == 0)
            return e;
    }
    char name[256], port[8];
    if (url_host(url, u, name, sizeof name, port, err, errlen) != 0) return NULL;
    plain_endpoint *e = xcalloc(1, sizeof *e);
    memcpy(e->port, port, sizeof port);
    e->authority = xstrndup(u->authority, u->authority_len);
    e->authority_len = u->authority_len;
    e->name = xstrdup(name);
    p->eps = xrealloc(p->eps, (size_t)(p->n_eps + 1) * sizeof *p->eps);
    p->eps[p->n_eps++] = e;
    return e;
}

/* Look e up once (getaddrinfo); 0, or -1 with curl's message in msg. */
static int resolve(plain_endpoint *e, char *msg, size_t len)
{
    if (e->addrs) return 0;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo(e->name, e->port, &hints, &e->addrs);
    if (rc != 0 || !e->addrs) {
        snprintf(msg, len, "Could not resolve host: %s (%s)", e->name,
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        e->addrs = NULL;
        return -1;
    }
    e->n_addrs = 0;
    for (const struct addrinfo *a = e->addrs; a; a = a->ai_next) e->n_addrs++;
    return 0;
}

static const struct addrinfo *nth_addr(const plain_endpoint *e, int k)
{
    const struct addrinfo *a = e->addrs;
    while (k-- > 0 && a->ai_next) a = a->ai_next;
    return a;
}

static void endpoint_free(plain_endpoint *e)
{
    if (e->addrs) freeaddrinfo(e->addrs);
    free(e->authority);
    free(e->name);
    free(e->idle);
    free(e);
}

/* ---- connections ---------------------------------------------------------------------- */

static pconn *conn_new(plain_transport *p, plain_endpoint *ep)
{
    if (p->n_free_ids == 0) {
        if (p->n_conns == p->cap_conns) {
            p->cap_conns = p->cap_conns ? 2 * p->cap_conns : 64;
            p->conns = xrealloc(p->conns, p->cap_conns * sizeof *p->conns);
            p->free_ids = xrealloc(p->free_ids, p->cap_conns * sizeof *p->free_ids);
        }
        pconn *fresh = xcalloc(1, sizeof *fresh);
        fresh->id = p->n_conns;
        fresh->fd = -1;
        p->conns[p->n_conns] = fresh;
        p->free_ids[p->n_free_ids++] = p->n_conns++;
    }
    pconn *c = p->conns[p->free_ids[--p->n_free_ids]];
    dl_init(&c->link);
    c->ep = ep;
    c->slot = c->idle_pos = -1;
    c->reused = c->connecting = c->tried = c->addr = c->sending = 0;
    c->watching = 0;
    h1_begin(&c->resp);
    return c;
}

/* Close c's socket (leaving the epoll set with it); its buffered events become stale. */
static void conn_drop_fd(pconn *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->watching = 0;
    c->gen = (c->gen + 1) & PLAIN_GEN_MASK;
}

static void idle_remove(plain_transport *p, pconn *c)
{
    plain_endpoint *e = c->ep;
    uint32_t last = e->idle[--e->n_idle];
    e->idle[c->idle_pos] = last;
    p->conns[last]->idle_pos = c->idle_pos;
    c->idle_pos = -1;
    p->n_idle--;
}

/* Close c for good; its id is free for another connection. */
static void conn_close(plain_transport *p, pconn *c)
{
    if (c->idle_pos >= 0) idle_remove(p, c);
    conn_drop_fd(c);
    dl_remove(&c->link);
    c->connecting = 0;
    c->slot = -1;
    p->free_ids[p->n_free_ids++] = c->id;
}

static void idle_push(plain_transport *p, pconn *c)
{
    plain_endpoint *e = c->ep;
    if (e->n_idle == e->cap_idle) {
        e->cap_idle = e->cap_idle ? 2 * e->cap_idle : 16;
        e->idle = xrealloc(e->idle, (size_t)e->cap_idle * sizeof *e->idle);
    }
    c->slot = -1;
    c->idle_pos = e->n_idle;
    e->idle[e->n_idle++] = c->id;
    p->n_idle++;
}

static pconn *idle_pop(plain_transport *p, plain_endpoint *e)
{
    if (e->n_idle == 0) return NULL;
    pconn *c = p->conns[e->idle[--e->n_idle]];
    c->idle_pos = -1;
    p->n_idle--;
    return c;
}

/* Register (or change) the events c's socket is watched for; 0 or -1 (errno set). */
static int watch(plain_transport *p, pconn *c, uint32_t events)
{
    if (c->watching == events) return 0;
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = PLAIN_EVENT_TAG | (uint64_t)c->gen << 32 | c->id;
    if (epoll_ctl(p->epfd, c->watching ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) != 0) return -1;
    c->watching = events;
    return 0;
}

/* ---- finishing transfers ------------------------------------------------------------ */

static void finish(plain_transport *p, plain_slot *s, CURLcode code)
{
    s->result = code;
    s->phase = SLOT_FINISHED;
    s->conn = NULL;
    dl_remove(&s->link);
    dl_push(&p->finished, &s->link);
}

/* The transfer of s failed with code; its connection is closed; the message goes to errbuf. */
__attribute__((format(printf, 4, 5)))
static void fail(plain_transport *p, plain_slot *s, CURLcode code, const char *fmt, ...)
{
    xfer *x = xfer_of(p, s);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->errbuf, sizeof x->errbuf, fmt, ap);
    va_end(ap);
    if (s->conn) conn_close(p, s->conn);
    finish(p, s, code);
}

/* The response is complete: the connection goes back to the pool when it may carry another
   request (HTTP/1.1 or keep-alive, no Connection: close, nothing extra after the response,
   the request completely written), else it is closed. */
static void complete(plain_transport *p, pconn *c, plain_slot *s, int excess)
{
    xfer *x = xfer_of(p, s);
    x->status = c->resp.status;
    x->retry_after = c->resp.retry_after;
    if (h1_reusable(&c->resp) && !excess && !c->sending && p->n_idle < p->n_slots) {
        c->reused = 1;
        idle_push(p, c);
    } else {
        conn_close(p, c);
    }
    s->conn = NULL;
    finish(p, s, CURLE_OK);
}

/* ---- sending -------------------------------------------------------------------------- */

static void attach(plain_transport *p, plain_slot *s, int fresh);

/* Whether a failure on c is the server having closed a kept-alive connection before it was
   reused: then the request goes again, once, on a fresh connection (curl does the same). */
static int stale(const pconn *c, const plain_slot *s)
{
    return c->reused && !s->retried && c->resp.bytes == 0;
}

static void resend_fresh(plain_transport *p, plain_slot *s)
{
    conn_close(p, s->conn);
    s->conn = NULL;
    s->retried = 1;
    s->sent = 0;
    attach(p, s, 1);
}

static void send_failed(plain_transport *p, pconn *c, plain_slot *s, int err)
{
    if (stale(c, s)) {
        resend_fresh(p, s);
    } else if (c->resp.bytes > 0) { /* the server answered before it read everything */
        if (watch(p, c, EPOLLIN) != 0)
            fail(p, s, CURLE_RECV_ERROR, "cannot watch the connection to %s port %s: %s",
                 c->ep->name, c->ep->port, strerror(errno));
    } else {
        fail(p, s, CURLE_SEND_ERROR, "Send failure to %s port %s: %s", c->ep->name, c->ep->port,
             strerror(err));
    }
}

/* Write what is left of the request (head and body in one gather write); wait for EPOLLOUT
   when the socket takes only part of it. */
static void send_request(plain_transport *p, pconn *c, plain_slot *s)
{
    xfer *x = xfer_of(p, s);
    size_t head = s->head.len, body = s->get ? 0 : x->body.len, total = head + body;
    c->sending = 1;
    while (s->sent < total) {
        struct iovec iov[2];
        struct msghdr m;
        memset(&m, 0, sizeof m);
        m.msg_iov = iov;
        if (s->sent < head) iov[m.msg_iovlen++] = (struct iovec){s->head.data + s->sent, head - s->sent};
        size_t body_sent = s->sent > head ? s->sent - head : 0;
        if (body > body_sent) iov[m.msg_iovlen++] = (struct iovec){x->body.data + body_sent, body - body_sent};
        ssize_t n = sendmsg(c->fd, &m, MSG_NOSIGNAL); /* writev, without SIGPIPE */
        if (n > 0) {
            s->sent += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            send_failed(p, c, s, n < 0 ? errno : EPIPE);
            return;
        }
    }
    c->sending = s->sent < total;
    if (watch(p, c, c->sending ? EPOLLIN | EPOLLOUT : EPOLLIN) != 0)
        fail(p, s, CURLE_SEND_ERROR, "cannot watch the connection to %s port %s: %s", c->ep->name,
             c->ep->port, strerror(errno));
}

/* ---- connecting ----------------------------------------------------------------------- */

static void connected(plain_transport *p, pconn *c, plain_slot *s)
{
    c->connecting = 0;
    dl_remove(&c->link);
    c->ep->preferred = c->addr;
    send_request(p, c, s);
}

static void connect_next(plain_transport *p, pconn *c, plain_slot *s, int last_err);

/* Right after a non-blocking connect said EINPROGRESS, try the request at once: on loopback
   (and wherever the handshake ends within connect) the socket is already established and
   takes it, which saves the wait for EPOLLOUT — an event, a getsockopt and an epoll_ctl per
   new connection — and lets the first requests of a run leave while later connects are still
   being made. Returns 0 when the socket is still connecting (wait for EPOLLOUT as usual), 1
   when the transfer went on: sent (the rest as send_request does) or, when the connect had
   already failed, handed to connect_next with that error. */
static int send_early(plain_transport *p, pconn *c, plain_slot *s)
{
    xfer *x = xfer_of(p, s);
    struct iovec iov[2] = {{s->head.data, s->head.len}, {x->body.data, s->get ? 0 : x->body.len}};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = iov;
    m.msg_iovlen = 2;
    ssize_t n = sendmsg(c->fd, &m, MSG_NOSIGNAL);
    if (n > 0) {
        s->sent = (size_t)n;
        connected(p, c, s); /* sends the rest, if any, and watches for the answer */
        return 1;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOTCONN || errno == EINTR))
        return 0;
    int err = n < 0 ? errno : ECONNRESET;
    conn_drop_fd(c);
    connect_next(p, c, s, err);
    return 1;
}

/* Connect c to the next address of its endpoint that does not fail at once; when none is
   left, the transfer fails with the last error (last_err). */
static void connect_next(plain_transport *p, pconn *c, plain_slot *s, int last_err)
{
    plain_endpoint *e = c->ep;
    c->connecting = 0;
    dl_remove(&c->link);
    while (c->tried < e->n_addrs) {
        c->addr = (e->preferred + c->tried++) % e->n_addrs;
        const struct addrinfo *a = nth_addr(e, c->addr);
        c->fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (c->fd < 0) {
            last_err = errno;
            continue;
        }
        int one = 1; /* as curl: no Nagle delay, keep-alive probes on idle connections */
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(c->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        if (connect(c->fd, a->ai_addr, a->ai_addrlen) == 0) {
            connected(p, c, s);
            return;
        }
        int connect_err = errno;
        if (connect_err == EINPROGRESS && send_early(p, c, s)) return;
        if (connect_err == EINPROGRESS && watch(p, c, EPOLLOUT) == 0) {
            c->connecting = 1;
            c->connect_due = p->o.connect_timeout_s > 0 ? mono_seconds() + p->o.connect_timeout_s : INFINITY;
            dl_push(&p->connecting, &c->link);
            return;
        }
        last_err = errno;
        conn_drop_fd(c);
    }
    fail(p, s, CURLE_COULDNT_CONNECT, "Failed to connect to %s port %s after %ld ms: Couldn't "
         "connect to server (%s)", e->name, e->port, ms_since(c->connect_start), strerror(last_err));
}

/* The connect of c ended (EPOLLOUT, or an error). */
static void on_connect(plain_transport *p, pconn *c, plain_slot *s)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err == 0) {
        connected(p, c, s);
        return;
    }
    conn_drop_fd(c);
    connect_next(p, c, s, err);
}

/* Put s on a connection: an idle one of its endpoint (unless fresh), else a new one. */
static void attach(plain_transport *p, plain_slot *s, int fresh)
{
    pconn *c = fresh ? NULL : idle_pop(p, s->ep);
    if (c) {
        c->slot = (int)(s - p->slots);
        s->conn = c;
        h1_begin(&c->resp);
        send_request(p, c, s);
        return;
    }
    char msg[CURL_ERROR_SIZE];
    if (resolve(s->ep, msg, sizeof msg) != 0) {
        fail(p, s, CURLE_COULDNT_RESOLVE_HOST, "%s", msg);
        return;
    }
    c = conn_new(p, s->ep);
    c->slot = (int)(s - p->slots);
    s->conn = c;
    c->connect_start = mono_seconds();
    connect_next(p, c, s, ECONNREFUSED);
}

/* ---- receiving ------------------------------------------------------------------------ */

static void on_eof(plain_transport *p, pconn *c, plain_slot *s)
{
    const plain_endpoint *e = c->ep;
    h1_response *r = &c->resp;
    if (h1_eof(r))
        complete(p, c, s, 0);
    else if (stale(c, s))
        resend_fresh(p, s);
    else if (r->bytes == 0)
        fail(p, s, CURLE_GOT_NOTHING, "Empty reply from server (%s port %s closed the connection "
             "without answering)", e->name, e->port);
    else if (r->state == H1_STATUS || r->state == H1_HEADERS)
        fail(p, s, CURLE_RECV_ERROR, "%s port %s closed the connection in the middle of the "
             "response headers (%llu bytes received)", e->name, e->port, r->bytes);
    else if (r->state == H1_BODY_LENGTH)
        fail(p, s, CURLE_PARTIAL_FILE, "transfer closed with %llu bytes remaining to read (%s "
             "port %s closed the connection)", r->left, e->name, e->port);
    else
        fail(p, s, CURLE_PARTIAL_FILE, "transfer closed with outstanding read data remaining "
             "(%s port %s closed the connection inside the chunked body)", e->name, e->port);
}

/* Feed n bytes of the read buffer to c's response; 1 when the transfer is settled. */
static int take_bytes(plain_transport *p, pconn *c, plain_slot *s, size_t n)
{
    xfer *x = xfer_of(p, s);
    size_t used;
    h1_result r = h1_feed(&c->resp, p->rbuf, n, &used, &x->resp, TRANSPORT_MAX_RESPONSE);
    x->status = c->resp.status;
    if (r == H1_MORE) return 0;
    if (r == H1_COMPLETE) {
        complete(p, c, s, used < n);
    } else if (r == H1_TOO_BIG) {
        x->too_big = 1;
        fail(p, s, CURLE_WRITE_ERROR, "the response from %s port %s is larger than %zu MiB",
             c->ep->name, c->ep->port, TRANSPORT_MAX_RESPONSE >> 20);
    } else {
        fail(p, s, CURLE_WEIRD_SERVER_REPLY, "malformed HTTP response from %s port %s: %s",
             c->ep->name, c->ep->port, c->resp.why);
    }
    return 1;
}

static void on_readable(plain_transport *p, pconn *c, plain_slot *s)
{
    for (;;) {
        ssize_t n = read(c->fd, p->rbuf, PLAIN_READ_BUF);
        if (n > 0) {
            if (take_bytes(p, c, s, (size_t)n) || (size_t)n < PLAIN_READ_BUF) return;
        } else if (n == 0) {
            on_eof(p, c, s);
            return;
        } else if (errno != EINTR) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return; /* a stale wake-up */
            if (stale(c, s))
                resend_fresh(p, s);
            else
                fail(p, s, CURLE_RECV_ERROR, "Recv failure from %s port %s: %s", c->ep->name,
                     c->ep->port, strerror(errno));
            return;
        }
    }
}

/* ---- the interface (transport_plain.h) ------------------------------------------------ */

plain_transport *plain_new(int epfd, xfer *slots, int n_slots, const transport_opts *o)
{
    plain_transport *p = xcalloc(1, sizeof *p);
    p->epfd = epfd;
    p->o = *o;
    p->xs = slots;
    p->n_slots = n_slots;
    p->slots = xcalloc((size_t)n_slots, sizeof *p->slots);
    for (int i = 0; i < n_slots; i++) dl_init(&p->slots[i].link);
    dl_init(&p->flight);
    dl_init(&p->finished);
    dl_init(&p->connecting);
    p->rbuf = xmalloc(PLAIN_READ_BUF);
    buf_printf(&p->get_fixed, "User-Agent: %s\r\nAccept: application/json\r\n",
               o->user_agent ? o->user_agent : "evallua");
    if (o->api_key) buf_printf(&p->get_fixed, "Authorization: Bearer %s\r\n", o->api_key);
    buf_append(&p->post_fixed, p->get_fixed.data, p->get_fixed.len);
    buf_puts(&p->post_fixed, "Content-Type: application/json\r\nContent-Length: ");
    return p;
}

/* Free b, zeroing it first (it may hold the API key). */
static void wipe(buf *b)
{
    if (b->data) memset(b->data, 0, b->len);
    buf_free(b);
}

void plain_free(plain_transport *p)
{
    if (!p) return;
    for (uint32_t i = 0; i < p->n_conns; i++) {
        if (p->conns[i]->fd >= 0) close(p->conns[i]->fd);
        h1_free(&p->conns[i]->resp);
        free(p->conns[i]);
    }
    for (int i = 0; i < p->n_eps; i++) endpoint_free(p->eps[i]);
    for (int i = 0; i < p->n_slots; i++) wipe(&p->slots[i].head);
    wipe(&p->get_fixed);
    wipe(&p->post_fixed);
    free(p->conns);
    free(p->free_ids);
    free(p->eps);
    free(p->slots);
    free(p->rbuf);
    free(p);
}

/* The request line and headers of s (a POST of body_len bytes unless s->get). */
static void build_head(plain_transport *p, plain_slot *s, const url_parts *u, size_t body_len)
{
    buf *h = &s->head;
    buf_clear(h);
    if (s->get) buf_append(h, "GET ", 4);
    else buf_append(h, "POST ", 5);
    if (u->path_len == 0 || u->path[0] != '/') buf_append(h, "/", 1);
    buf_append(h, u->path, u->path_len);
    buf_append(h, " HTTP/1.1\r\nHost: ", 17);
    buf_append(h, s->ep->authority, s->ep->authority_len);
    buf_append(h, "\r\n", 2);
    if (s->get) {
        buf_append(h, p->get_fixed.data, p->get_fixed.len);
        buf_append(h, "\r\n", 2);
        return;
    }
    char digits[24];
    size_t k = sizeof digits;
    do {
        digits[--k] = (char)('0' + body_len % 10);
        body_len /= 10;
    } while (body_len);
    buf_append(h, p->post_fixed.data, p->post_fixed.len);
    buf_append(h, digits + k, sizeof digits - k);
    buf_append(h, "\r\n\r\n", 4);
}

int plain_start(plain_transport *p, xfer *x, const char *url, int get, char *err, size_t errlen)
{
    url_parts u;
    if (parse_url(url, &u, err, errlen) != 0) return -1;
    plain_slot *s = &p->slots[x - p->xs];
    s->ep = endpoint_for(p, url, &u, err, errlen);
    if (!s->ep) return -1;
    s->get = get;
    s->sent = 0;
    s->retried = 0;
    s->conn = NULL;
    build_head(p, s, &u, x->body.len);
    s->phase = SLOT_FLIGHT;
    s->due = p->o.timeout_s > 0 ? x->started + p->o.timeout_s : INFINITY;
    dl_push(&p->flight, &s->link);
    attach(p, s, 0);
    return 0;
}

void plain_event(plain_transport *p, uint64_t data, uint32_t events)
{
    uint32_t id = (uint32_t)data, gen = (uint32_t)(data >> 32) & PLAIN_GEN_MASK;
    if (id >= p->n_conns) return;
    pconn *c = p->conns[id];
    if (c->fd < 0 || c->gen != gen) return; /* its socket was closed since */
    if (c->slot < 0) { /* idle: the server closed it (or sent what nobody asked for) */
        conn_close(p, c);
        return;
    }
    plain_slot *s = &p->slots[c->slot];
    if (c->connecting) {
        on_connect(p, c, s);
        return;
    }
    if ((events & EPOLLOUT) && c->sending) {
        send_request(p, c, s);
        if (s->conn != c || c->gen != gen) return; /* settled (or resent elsewhere) */
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(p, c, s);
}

void plain_expire(plain_transport *p, double now)
{
    while (!dl_empty(&p->connecting)) {
        pconn *c = DL_ITEM(p->connecting.next, pconn);
        if (c->connect_due > now) break;
        fail(p, &p->slots[c->slot], CURLE_OPERATION_TIMEDOUT, "Failed to connect to %s port %s "
             "after %ld ms: Connection timed out", c->ep->name, c->ep->port, ms_since(c->connect_start));
    }
    while (!dl_empty(&p->flight)) {
        plain_slot *s = DL_ITEM(p->flight.next, plain_slot);
        if (s->due > now) break;
        xfer *x = xfer_of(p, s);
        fail(p, s, CURLE_OPERATION_TIMEDOUT, "Operation timed out after %ld milliseconds with %llu "
             "bytes received from %s port %s", ms_since(x->started),
             s->conn ? s->conn->resp.bytes : 0ULL, s->ep->name, s->ep->port);
    }
}

double plain_next_due(const plain_transport *p)
{
    if (!dl_empty(&p->finished)) return 0;
    double due = INFINITY;
    if (!dl_empty(&p->connecting)) due = DL_ITEM(p->connecting.next, pconn)->connect_due;
    if (!dl_empty(&p->flight)) {
        double d = DL_ITEM(p->flight.next, plain_slot)->due;
        if (d < due) due = d;
    }
    return isfinite(due) ? due : -1;
}

xfer *plain_done(plain_transport *p, CURLcode *result)
{
    if (dl_empty(&p->finished)) return NULL;
    plain_slot *s = DL_ITEM(p->finished.next, plain_slot);
    dl_remove(&s->link);
    s->phase = SLOT_IDLE;
    *result = s->result;
    return xfer_of(p, s);
}

void plain_release(plain_transport *p, xfer *x)
{
    plain_slot *s = &p->slots[x - p->xs];
    if (s->phase == SLOT_FLIGHT && s->conn) conn_close(p, s->conn);
    s->conn = NULL;
    dl_remove(&s->link);
    s->phase = SLOT_IDLE;
}
