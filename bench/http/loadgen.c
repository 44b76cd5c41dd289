/* loadgen.c — a minimal HTTP/1.1 load generator for bench/http/run.sh: it checks what the
 * test server itself can do, without evallua or libcurl in the way.
 *
 *   loadgen PORT N CONCURRENCY [DELAY_MS]
 *
 * Opens CONCURRENCY keep-alive connections to 127.0.0.1:PORT, all of them before the first
 * request, then sends N copies of the bench_gen request (POST /v1/completions): one request
 * in flight per connection (no pipelining), the next one sent on the same connection as soon
 * as the previous answer is read in full (Content-Length). It is as cheap a client as one
 * thread can be: a connection stays registered for input only, and a request is written
 * straight after the answer (one recv and one send per request; epoll waits for output only
 * when a send could not finish).
 *
 * Prints the HTTP phase (first request sent to last answer), the connection set-up before
 * it, requests/s, answers that were not 200, and the client's CPU time per request. With
 * DELAY_MS (the server's --delay-ms) it also prints when every connection's first request
 * was sent, the time at which every CONCURRENCY-th answer arrived ("rounds"), the ideal
 * N*L/C and the whole number of rounds, and how far the HTTP phase is from each. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LOADGEN_BUF 8192
#define LOADGEN_MAX_ROUNDS 64

typedef struct conn {
    int fd;
    size_t sent;          /* bytes of the current request written so far */
    char in[LOADGEN_BUF]; /* the answer read so far */
    size_t got;
    int waiting_out;      /* a send could not finish: epoll watches for output */
} conn;

typedef struct load {
    int epfd;
    char req[1024];
    size_t req_len;
    long n, conc, started, done, not_ok;
    double t0;                           /* the first request's send */
    double first_sent;                   /* when every connection's first request was sent, from t0 */
    double round_end[LOADGEN_MAX_ROUNDS]; /* when answer k*conc arrived, from t0 */
    int rounds;
} load;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void watch_output(load *l, conn *c, int on)
{
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) die("epoll_ctl");
    c->waiting_out = on;
}

/* Write what is left of the request; epoll watches for output only while it cannot. */
static void send_rest(load *l, conn *c)
{
    while (c->sent < l->req_len) {
        ssize_t w = send(c->fd, l->req + c->sent, l->req_len - c->sent, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->waiting_out) watch_output(l, c, 1);
            return;
        }
        if (w < 0) die("send");
        c->sent += (size_t)w;
    }
    if (c->waiting_out) watch_output(l, c, 0);
}

static void start_request(load *l, conn *c)
{
    l->started++;
    c->sent = 0;
    c->got = 0;
    send_rest(l, c);
}

/* Length of a complete answer at the start of c->in, or 0 while it is incomplete. */
static size_t answer_length(const conn *c)
{
    const char *end = memmem(c->in, c->got, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = (size_t)(end - c->in) + 4, body = 0;
    for (const char *p = c->in; p && p < end; p = memchr(p, '\n', (size_t)(end - p))) {
        if (*p == '\n') p++;
        if (strncasecmp(p, "Content-Length:", 15) == 0) body = strtoul(p + 15, NULL, 10);
    }
    return c->got >= head + body ? head + body : 0;
}

static void on_answer(load *l, conn *c)
{
    l->done++;
    if (c->got < 12 || memcmp(c->in + 9, "200", 3) != 0) l->not_ok++;
    if (l->done % l->conc == 0 && l->rounds < LOADGEN_MAX_ROUNDS) l->round_end[l->rounds++] = now_s() - l->t0;
    if (l->started < l->n) start_request(l, c);
    else close(c->fd);
}

static void on_readable(load *l, conn *c)
{
    ssize_t r = recv(c->fd, c->in + c->got, sizeof c->in - c->got, 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (r <= 0) {
        fprintf(stderr, "loadgen: the server closed a connection (%s)\n", r ? strerror(errno) : "EOF");
        exit(1);
    }
    c->got += (size_t)r;
    size_t len = answer_length(c);
    if (len) {
        if (len != c->got) {
            fprintf(stderr, "loadgen: %zu bytes after an answer (nothing was asked)\n", c->got - len);
            exit(1);
        }
        on_answer(l, c);
    } else if (c->got == sizeof c->in) {
        fprintf(stderr, "loadgen: an answer larger than %d bytes\n", LOADGEN_BUF);
        exit(1);
    }
}

static void open_conn(load *l, conn *c, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (c->fd < 0 || setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("connect");
    if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) != 0) die("fcntl");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) die("epoll_ctl");
}

static void run(load *l, conn *conns)
{
    struct epoll_event ev[256];
    l->t0 = now_s();
    for (long i = 0; i < l->conc; i++) start_request(l, &conns[i]);
    l->first_sent = now_s() - l->t0;
    while (l->done < l->n) {
        int k = epoll_wait(l->epfd, ev, 256, 10000);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            fprintf(stderr, "loadgen: no progress for 10 s (%ld of %ld answered)\n", l->done, l->n);
            exit(1);
        }
        for (int i = 0; i < k; i++) {
            conn *c = ev[i].data.ptr;
            if (c->waiting_out && (ev[i].events & EPOLLOUT)) send_rest(l, c);
            if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(l, c);
        }
    }
}

static void report(const load *l, double setup, double http, double delay_ms)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec * 1e-6;
    printf("loadgen: %ld answers (%ld not 200) in %.3f s (HTTP phase; %ld connections opened in %.1f ms "
           "before it): %.0f req/s, %.1f client CPU-us/request\n",
           l->done, l->not_ok, http, l->conc, setup * 1e3, (double)l->done / http, cpu * 1e6 / (double)l->done);
    if (delay_ms > 0) { /* rounds mean something when every answer takes DELAY_MS */
        printf("loadgen: first requests on all %ld connections sent in %.1f ms; rounds (every %ld answers, ms "
               "from the first request):", l->conc, l->first_sent * 1e3, l->conc);
        for (int i = 0; i < l->rounds; i++) printf(" %.1f", l->round_end[i] * 1e3);
        printf("; last %.1f\n", http * 1e3);
    }
    if (delay_ms > 0) {
        double ideal = (double)l->n * delay_ms * 1e-3 / (double)l->conc;
        long waves = (l->n + l->conc - 1) / l->conc;
        double whole = (double)waves * delay_ms * 1e-3;
        printf("loadgen: ideal N*L/C %.3f s (%ld rounds: %.3f s); HTTP phase %.3f s = %.3f x ideal (%+.1f%%), "
               "%+.1f ms per round over L; with set-up %.3f s = %.3f x ideal\n",
               ideal, waves, whole, http, http / ideal, (http / ideal - 1) * 100, (http - whole) / (double)waves * 1e3,
               http + setup, (http + setup) / ideal);
    }
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: loadgen PORT N CONCURRENCY [DELAY_MS]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    load l = {.n = atol(argv[2]), .conc = atol(argv[3])};
    double delay_ms = argc == 5 ? atof(argv[4]) : 0;
    if (port <= 0 || l.n <= 0 || l.conc <= 0) return 2;
    if (l.conc > l.n) l.conc = l.n;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)l.conc + 64) {
        rl.rlim_cur = (rlim_t)l.conc + 64 < rl.rlim_max ? (rlim_t)l.conc + 64 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    const char *body = "{\"model\":\"fake-model\",\"prompt\":\"Question: What is 1 plus 1?\\nAnswer:\","
                       "\"max_tokens\":16,\"temperature\":0,\"stop\":[\"\\n\\n\"]}";
    l.req_len = (size_t)snprintf(l.req, sizeof l.req,
                                 "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                                 port, strlen(body), body);
    l.epfd = epoll_create1(EPOLL_CLOEXEC);
    conn *conns = calloc((size_t)l.conc, sizeof *conns);
    if (l.epfd < 0 || !conns) return 1;
    double t_connect = now_s();
    for (long i = 0; i < l.conc; i++) open_conn(&l, &conns[i], port);
    double setup = now_s() - t_connect;
    run(&l, conns);
    report(&l, setup, now_s() - l.t0, delay_ms);
    free(conns);
    return l.not_ok ? 1 : 0;
}
