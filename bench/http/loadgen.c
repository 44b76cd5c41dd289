/* loadgen.c — a minimal HTTP/1.1 load generator for bench/http/run.sh: it checks what the
 * test server itself can do, without evallua or libcurl in the way.
 *
 *   loadgen PORT N CONCURRENCY
 *
 * Opens CONCURRENCY keep-alive connections to 127.0.0.1:PORT and sends N copies of the
 * bench_gen request (POST /v1/completions), each connection sending its next request as
 * soon as the previous answer is read in full (Content-Length). Prints the wall time from
 * the first connect to the last answer, requests/s, and how many answers were not 200.
 * One thread, epoll (connects are blocking: loopback); the process's CPU time per request
 * is printed too. */
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

typedef struct conn {
    int fd;
    size_t sent;          /* bytes of the request written so far */
    char in[LOADGEN_BUF]; /* the answer read so far */
    size_t got;
    int sending;
} conn;

typedef struct load {
    int epfd;
    char req[1024];
    size_t req_len;
    long n, started, done, not_ok;
} load;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void watch(load *l, conn *c, int op, int out)
{
    struct epoll_event ev = {.events = out ? EPOLLOUT : EPOLLIN, .data.ptr = c};
    if (epoll_ctl(l->epfd, op, c->fd, &ev) != 0) {
        perror("loadgen: epoll_ctl");
        exit(1);
    }
}

static void start_request(load *l, conn *c)
{
    l->started++;
    c->sent = 0;
    c->got = 0;
    c->sending = 1;
    watch(l, c, EPOLL_CTL_MOD, 1);
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

static void on_writable(load *l, conn *c)
{
    ssize_t w = send(c->fd, l->req + c->sent, l->req_len - c->sent, MSG_NOSIGNAL);
    if (w < 0 && errno == EAGAIN) return;
    if (w < 0) {
        perror("loadgen: send");
        exit(1);
    }
    c->sent += (size_t)w;
    if (c->sent < l->req_len) return;
    c->sending = 0;
    watch(l, c, EPOLL_CTL_MOD, 0);
}

static void on_readable(load *l, conn *c)
{
    ssize_t r = recv(c->fd, c->in + c->got, sizeof c->in - c->got, 0);
    if (r < 0 && errno == EAGAIN) return;
    if (r <= 0) {
        fprintf(stderr, "loadgen: the server closed a connection (%s)\n", r ? strerror(errno) : "EOF");
        exit(1);
    }
    c->got += (size_t)r;
    size_t len = answer_length(c);
    if (!len) {
        if (c->got == sizeof c->in) {
            fprintf(stderr, "loadgen: an answer larger than %d bytes\n", LOADGEN_BUF);
            exit(1);
        }
        return;
    }
    l->done++;
    if (c->got < 12 || memcmp(c->in + 9, "200", 3) != 0) l->not_ok++;
    if (l->started < l->n) start_request(l, c);
    else close(c->fd);
}

static int open_conn(load *l, conn *c, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    if (c->fd < 0 || setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0 ||
        connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("loadgen: connect");
        return -1;
    }
    if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) != 0) return -1;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) return -1;
    l->started++;
    c->sending = 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: loadgen PORT N CONCURRENCY\n");
        return 2;
    }
    int port = atoi(argv[1]), conc = atoi(argv[3]);
    load l = {.n = atol(argv[2])};
    if (port <= 0 || l.n <= 0 || conc <= 0) return 2;
    if (conc > l.n) conc = (int)l.n;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)conc + 64) {
        rl.rlim_cur = (rlim_t)conc + 64 < rl.rlim_max ? (rlim_t)conc + 64 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    const char *body = "{\"model\":\"fake-model\",\"prompt\":\"Question: What is 1 plus 1?\\nAnswer:\","
                       "\"max_tokens\":16,\"temperature\":0,\"stop\":[\"\\n\\n\"]}";
    l.req_len = (size_t)snprintf(l.req, sizeof l.req,
                                 "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                                 port, strlen(body), body);
    l.epfd = epoll_create1(0);
    conn *conns = calloc((size_t)conc, sizeof *conns);
    if (l.epfd < 0 || !conns) return 1;
    double t0 = now_s();
    for (int i = 0; i < conc; i++)
        if (open_conn(&l, &conns[i], port) != 0) return 1;
    struct epoll_event ev[256];
    while (l.done < l.n) {
        int k = epoll_wait(l.epfd, ev, 256, 10000);
        if (k <= 0) {
            fprintf(stderr, "loadgen: no progress for 10 s (%ld of %ld answered)\n", l.done, l.n);
            return 1;
        }
        for (int i = 0; i < k; i++) {
            conn *c = ev[i].data.ptr;
            if (c->sending) on_writable(&l, c);
            else on_readable(&l, c);
        }
    }
    double dt = now_s() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
                 ru.ru_stime.tv_usec * 1e-6;
    printf("loadgen: %ld answers (%ld not 200) in %.3f s: %.0f req/s, %.1f client CPU-us/request\n", l.done,
           l.not_ok, dt, (double)l.done / dt, cpu * 1e6 / (double)l.done);
    free(conns);
    return l.not_ok ? 1 : 0;
}
