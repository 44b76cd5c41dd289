/* test_transport_plain.c — the plain HTTP/1.1 transport (http/transport_plain.c) and its
 * response parser (http/transport_http1.c).
 *
 * The parser is fed responses whole, split at every byte boundary and one byte at a time.
 * The transport talks to a scripted peer in this file: a forked process that accepts
 * connections and plays, per connection, a script of raw bytes — what no HTTP server
 * library can be made to do on purpose (split writes, a stale keep-alive close, a reset, a
 * cut body, a stall). Each scenario checks the CURLcode the engine would classify, and the
 * ones libcurl can play too are run over transport=curl as well, to show both give the same
 * codes. The scenarios do not depend on timing: a stall lasts until the client gives up,
 * and byte-by-byte writes are checked for their result only (the parser tests cover every
 * split deterministically). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "http/openai.h"
#include "http/transport.h"
#include "http/transport_http1.h"
#include "util/buf.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int contains(const char *hay, const char *needle)
{
    return hay && needle && strstr(hay, needle) != NULL;
}

/* ---- the parser ------------------------------------------------------------------------- */

typedef struct parsed {
    h1_result res;
    long status;
    double retry_after;
    int reusable;
    size_t used;
    buf body;
} parsed;

/* Feed text in pieces of `step` bytes (0: split once at `cut`); then EOF when eof is set. */
static void parse_pieces(const char *text, size_t n, size_t step, size_t cut, int eof, size_t max,
                         parsed *out)
{
    h1_response r = {0};
    h1_begin(&r);
    memset(out, 0, sizeof *out);
    size_t at = 0;
    out->res = H1_MORE;
    while (at < n && out->res == H1_MORE) {
        size_t len = step ? step : (at < cut ? cut - at : n - at);
        if (at + len > n) len = n - at;
        size_t used;
        out->res = h1_feed(&r, text + at, len, &used, &out->body, max);
        out->used += used;
        at += len;
    }
    if (eof && out->res == H1_MORE && h1_eof(&r)) out->res = H1_COMPLETE;
    out->status = r.status;
    out->retry_after = r.retry_after;
    out->reusable = h1_reusable(&r);
    h1_free(&r);
}

/* text must parse to (res, status, body, reusable) whole, split anywhere and byte by byte. */
static void parse_case(const char *name, const char *text, int eof, h1_result res, long status,
                       const char *body, int reusable)
{
    size_t n = strlen(text);
    int bad = 0;
    for (size_t mode = 0; mode <= n + 1; mode++) { /* 0: whole; 1..n: split at mode; n+1: bytes */
        parsed p;
        parse_pieces(text, n, mode == n + 1 ? 1 : 0, mode == 0 ? n : mode, eof, 1 << 20, &p);
        int ok = p.res == res && (res != H1_COMPLETE || (p.status == status && p.reusable == reusable &&
                                                         strcmp(buf_str(&p.body), body) == 0));
        if (!ok && !bad++)
            fprintf(stderr, "parse %s (mode %zu): result %d status %ld reusable %d body '%s'\n", name,
                    mode, (int)p.res, p.status, p.reusable, buf_str(&p.body));
        buf_free(&p.body);
    }
    CHECK(bad == 0);
}

static void test_parser(void)
{
    parse_case("length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0, H1_COMPLETE, 200, "hello", 1);
    parse_case("names any case", "HTTP/1.1 201 Created\r\ncontent-LENGTH:2\r\nX-A: b\r\n\r\nok", 0,
               H1_COMPLETE, 201, "ok", 1);
    parse_case("chunked, extensions, trailers",
               "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n5;ext=1\r\nhello\r\n"
               "6 ; name=\"v\"\r\n world\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\nX-T2: u\r\n\r\n",
               0, H1_COMPLETE, 200, "hello world0123456789", 1);
    parse_case("chunked wins over length", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
               "2\r\nab\r\n0\r\n\r\n", 0, H1_COMPLETE, 200, "ab", 1);
    parse_case("100 Continue skipped", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: x\r\n\r\n"
               "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, H1_COMPLETE, 200, "ok", 1);
    parse_case("close", "HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 1\r\n\r\nx", 0,
               H1_COMPLETE, 200, "x", 0);
    parse_case("1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", 0,
               H1_COMPLETE, 200, "x", 1);
    parse_case("1.0 no length: to the close", "HTTP/1.0 200 OK\r\nServer: old\r\n\r\nall of it", 1,
               H1_COMPLETE, 200, "all of it", 0);
    parse_case("1.0 cut short", "HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nall", 1, H1_MORE, 0, "", 0);
    parse_case("bare LF lines", "HTTP/1.1 404 Not Found\nContent-Length: 3\n\nnope", 0, H1_COMPLETE, 404, "nop", 1);
    parse_case("204 has no body", "HTTP/1.1 204 No Content\r\n\r\n", 0, H1_COMPLETE, 204, "", 1);
    parse_case("empty length body", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, H1_COMPLETE, 200, "", 1);
    parse_case("not HTTP/1", "HTTP/2 200\r\n\r\n", 0, H1_BAD, 0, "", 0);
    parse_case("bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, H1_BAD, 0, "", 0);
    parse_case("chunk longer than its size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", 0,
               H1_BAD, 0, "", 0);
    parse_case("two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 0, H1_BAD, 0, "", 0);
    parse_case("length not a number", "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", 0, H1_BAD, 0, "", 0);

    /* Retry-After belongs to the final response; an interim one's is forgotten */
    const char *ra = "HTTP/1.1 100 Continue\r\nRetry-After: 9\r\n\r\nHTTP/1.1 429 Slow\r\nretry-after: 2.5\r\n"
                     "Content-Length: 0\r\n\r\n";
    parsed p;
    parse_pieces(ra, strlen(ra), 1, 0, 0, 100, &p);
    CHECK(p.res == H1_COMPLETE && p.status == 429);
    CHECK_NEAR(p.retry_after, 2.5, 1e-9);
    buf_free(&p.body);
    const char *none = "HTTP/1.1 100 Continue\r\nRetry-After: 9\r\n\r\nHTTP/1.1 503 x\r\nContent-Length: 0\r\n\r\n";
    parse_pieces(none, strlen(none), 0, 10, 0, 100, &p);
    CHECK(p.res == H1_COMPLETE && p.status == 503 && p.retry_after < 0);
    buf_free(&p.body);
    /* bytes after a complete response are not taken */
    const char *two = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\n";
    parse_pieces(two, strlen(two), 0, strlen(two), 0, 100, &p);
    CHECK(p.res == H1_COMPLETE && p.used == strlen(two) - strlen("HTTP/1.1 200 OK\r\n"));
    buf_free(&p.body);
    /* a body over the limit: refused from the header when the length says so, else when it comes */
    const char *big = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world";
    parse_pieces(big, strlen(big), 0, strlen(big), 0, 10, &p);
    CHECK(p.res == H1_TOO_BIG);
    buf_free(&p.body);
    const char *bigc = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n";
    parse_pieces(bigc, strlen(bigc), 3, 0, 0, 10, &p);
    CHECK(p.res == H1_TOO_BIG);
    buf_free(&p.body);
}

/* ---- the scripted peer ------------------------------------------------------------------ */

typedef void (*conn_script)(int fd, int conn_no);

typedef struct peer {
    pid_t pid;
    int port;
} peer;

/* Listen on loopback (IPv4, or ::1 when v6), fork a process that accepts connections and runs
   script on each in a process of its own (numbered from 1). 0, or -1 when it cannot listen. */
static int peer_start(peer *pr, conn_script script, int v6)
{
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 512) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        close(fd);
        return -1;
    }
    pr->port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    pr->pid = fork();
    if (pr->pid == 0) {
        setpgid(0, 0); /* peer_stop kills the connection processes with it */
        signal(SIGPIPE, SIG_IGN);
        signal(SIGCHLD, SIG_IGN); /* no zombies */
        for (int n = 1;; n++) {
            int c = accept(fd, NULL, NULL);
            if (c < 0) _exit(errno == EINTR ? 0 : 1);
            if (fork() == 0) {
                close(fd);
                script(c, n);
                _exit(0);
            }
            close(c);
        }
    }
    close(fd);
    if (pr->pid > 0) setpgid(pr->pid, pr->pid);
    return pr->pid > 0 ? 0 : -1;
}

static void peer_stop(peer *pr)
{
    if (pr->pid <= 0) return;
    kill(-pr->pid, SIGKILL);
    waitpid(pr->pid, NULL, 0);
    pr->pid = 0;
}

static void write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

static void say(int fd, const char *s)
{
    write_all(fd, s, strlen(s));
}

/* Read one request (headers, and a Content-Length body) into req; 0 at EOF or error. */
static int read_request(int fd, buf *req)
{
    buf_clear(req);
    char tmp[65536];
    size_t head = 0, need = 0;
    for (;;) {
        if (!head) {
            const char *end = req->data ? strstr(req->data, "\r\n\r\n") : NULL;
            if (end) {
                head = (size_t)(end - req->data) + 4;
                const char *cl = strstr(req->data, "Content-Length: ");
                need = head + (cl && cl < end ? strtoul(cl + 16, NULL, 10) : 0);
            }
        }
        if (head && req->len >= need) return 1;
        ssize_t n = read(fd, tmp, sizeof tmp);
        if (n <= 0) return 0;
        buf_append(req, tmp, (size_t)n);
    }
}

/* A 200 whose body is "conn=N req=K\n" and then the request as received. */
static void answer_echo(int fd, int conn_no, int req_no, const buf *req, const char *extra_headers)
{
    buf out = {0}, body = {0};
    buf_printf(&body, "conn=%d req=%d\n", conn_no, req_no);
    buf_append(&body, req->data, req->len);
    buf_printf(&out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n%sContent-Length: %zu\r\n\r\n",
               extra_headers, body.len);
    buf_append(&out, body.data, body.len);
    write_all(fd, out.data, out.len);
    buf_free(&out);
    buf_free(&body);
}

static void script_echo(int fd, int conn_no)
{
    buf req = {0};
    for (int k = 1; read_request(fd, &req); k++) answer_echo(fd, conn_no, k, &req, "");
    buf_free(&req);
}

/* Every response one byte per write: a 100 Continue, then a chunked 429 with Retry-After,
   then (on the same connection) a Content-Length answer. */
static void script_bytewise(int fd, int conn_no)
{
    buf req = {0};
    char body[64];
    for (int k = 1; read_request(fd, &req); k++) {
        snprintf(body, sizeof body, "conn=%d req=%d", conn_no, k);
        buf out = {0};
        if (k == 1)
            buf_printf(&out, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many Requests\r\nretry-AFTER: 7\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n4;a=b\r\n%.4s\r\n%zx\r\n%s\r\n0\r\nX-Trailer: t\r\n\r\n",
                       body, strlen(body) - 4, body + 4);
        else
            buf_printf(&out, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
        for (size_t i = 0; i < out.len; i++) {
            write_all(fd, out.data + i, 1);
            usleep(100);
        }
        buf_free(&out);
    }
    buf_free(&req);
}

static void script_close(int fd, int conn_no)
{
    buf req = {0};
    if (read_request(fd, &req)) answer_echo(fd, conn_no, 1, &req, "Connection: close\r\n");
    buf_free(&req);
}

static void script_http10(int fd, int conn_no)
{
    buf req = {0};
    if (read_request(fd, &req)) {
        say(fd, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n");
        char body[64];
        snprintf(body, sizeof body, "until the close, conn=%d", conn_no);
        say(fd, body);
    }
    buf_free(&req);
}

/* Connection 1 answers its first request, keeps the connection, and closes it when the
   second request arrives, unanswered: a stale keep-alive connection. Later ones echo. */
static void script_stale_once(int fd, int conn_no)
{
    buf req = {0};
    for (int k = 1; read_request(fd, &req); k++) {
        if (conn_no == 1 && k == 2) break;
        answer_echo(fd, conn_no, k, &req, "");
    }
    buf_free(&req);
}

/* Only connection 1's first request is answered; every other request meets a close. */
static void script_stale_always(int fd, int conn_no)
{
    buf req = {0};
    if (read_request(fd, &req) && conn_no == 1) {
        answer_echo(fd, conn_no, 1, &req, "");
        read_request(fd, &req);
    }
    buf_free(&req);
}

static void script_nothing(int fd, int conn_no)
{
    buf req = {0};
    read_request(fd, &req);
    buf_free(&req);
}

static void script_reset(int fd, int conn_no)
{
    buf req = {0};
    read_request(fd, &req);
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg); /* close() sends a RST */
    buf_free(&req);
}

static void script_truncated(int fd, int conn_no)
{
    buf req = {0};
    if (read_request(fd, &req)) say(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"choices\":");
    buf_free(&req);
}

static void script_truncated_chunked(int fd, int conn_no)
{
    buf req = {0};
    if (read_request(fd, &req)) say(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"choi");
    buf_free(&req);
}

/* Reads the request and answers nothing, until the client gives up and closes. */
static void script_stall(int fd, int conn_no)
{
    buf req = {0};
    read_request(fd, &req);
    char c;
    while (read(fd, &c, 1) > 0) {
    }
    buf_free(&req);
}

static void script_huge_length(int fd, int conn_no)
{
    buf req = {0};
    if (read_request(fd, &req)) say(fd, "HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n{");
    buf_free(&req);
}

static void script_not_http(int fd, int conn_no)
{
    buf req = {0};
    if (read_request(fd, &req)) say(fd, "SSH-2.0-OpenSSH_9.6\r\n");
    buf_free(&req);
}

/* Answers with the size of the request body, then a big body of its own (3 MiB with a length;
   chunked: the size line, then 3146 chunks of 1000 bytes). */
static void big_answer(int fd, int chunked)
{
    buf req = {0};
    while (read_request(fd, &req)) {
        const char *end = strstr(req.data, "\r\n\r\n");
        size_t body = req.len - (size_t)(end + 4 - req.data);
        char line[128];
        size_t total = (size_t)3 << 20;
        if (chunked) {
            snprintf(line, sizeof line, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n"
                     "got %zu\r\n", (size_t)(snprintf(NULL, 0, "got %zu", body)), body);
        } else {
            snprintf(line, sizeof line, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", total);
        }
        say(fd, line);
        char *fill = malloc(total);
        memset(fill, 'z', total);
        if (chunked) {
            for (size_t at = 0; at < total; at += 1000) {
                snprintf(line, sizeof line, "%zx;n=%zu\r\n", (size_t)1000, at);
                say(fd, line);
                write_all(fd, fill, 1000);
                say(fd, "\r\n");
            }
            say(fd, "0\r\n\r\n");
        } else {
            snprintf(fill, 64, "got %zu ", body);
            fill[strlen(fill)] = 'z';
            write_all(fd, fill, total);
        }
        free(fill);
    }
    buf_free(&req);
}

static void script_big_length(int fd, int conn_no)
{
    big_answer(fd, 0);
}

static void script_big_chunked(int fd, int conn_no)
{
    big_answer(fd, 1);
}

/* ---- the client side ------------------------------------------------------------------- */

typedef struct outcome {
    CURLcode cc;
    long status;
    double retry_after;
    int too_big;
    transport_kind via;
    buf body;
    char err[CURL_ERROR_SIZE];
} outcome;

static transport *make_transport(transport_kind kind, int slots, double timeout_s)
{
    char err[256];
    transport_opts o = {.slots = slots, .timeout_s = timeout_s, .connect_timeout_s = timeout_s,
                        .user_agent = "evallua-test", .api_key = "sk-test-key", .kind = kind};
    transport *t = transport_new(&o, err, sizeof err);
    if (!t) fprintf(stderr, "transport_new: %s\n", err);
    return t;
}

/* One transfer to completion (a POST of body, or a GET when body is NULL). */
static void run_one(transport *t, const char *url, const char *body, outcome *out)
{
    buf_free(&out->body);
    memset(out, 0, sizeof *out);
    out->cc = CURLE_FAILED_INIT;
    char err[256];
    xfer *x = transport_acquire(t);
    if (!x) return;
    if (body) buf_puts(&x->body, body);
    int rc = body ? transport_start(t, x, url, err, sizeof err) : transport_start_get(t, x, url, err, sizeof err);
    if (rc != 0) {
        snprintf(out->err, sizeof out->err, "%s", err);
        return;
    }
    out->via = x->via;
    CURLcode cc;
    xfer *done = NULL;
    double t0 = now_s();
    while (!(done = transport_done(t, &cc)) && now_s() - t0 < 30) /* a hang guard, not a timing check */
        if (transport_wait(t, 100, err, sizeof err) != 0) break;
    CHECK(done == x);
    if (!done) return;
    out->cc = cc;
    out->status = transport_status(x);
    out->retry_after = x->retry_after;
    out->too_big = x->too_big;
    buf_append(&out->body, buf_str(&x->resp), x->resp.len);
    snprintf(out->err, sizeof out->err, "%s", x->errbuf);
    transport_release(t, x);
}

static void url_of(char *url, size_t n, const peer *pr, const char *path)
{
    snprintf(url, n, "http://127.0.0.1:%d%s", pr->port, path);
}

static const char *kind_name(transport_kind k)
{
    return k == TRANSPORT_CURL ? "curl" : "plain";
}

/* One request to a fresh peer playing script: the CURLcode must be cc. */
static void expect_code(transport_kind kind, const char *name, conn_script script, CURLcode cc,
                        const char *err_has, outcome *out)
{
    peer pr = {0};
    if (peer_start(&pr, script, 0) != 0) {
        CHECK(!"cannot start the peer");
        return;
    }
    transport *t = make_transport(kind, 4, 1.0);
    char url[128];
    url_of(url, sizeof url, &pr, "/v1/completions");
    run_one(t, url, "{\"prompt\":\"x\"}", out);
    if (out->cc != cc || (err_has && !contains(out->err, err_has)))
        fprintf(stderr, "%s over %s: got CURLcode %d (%s), expected %d with '%s'\n", name,
                kind_name(kind), (int)out->cc, out->err, (int)cc, err_has ? err_has : "");
    CHECK(out->cc == cc);
    if (err_has) CHECK(contains(out->err, err_has));
    if (kind == TRANSPORT_PLAIN) printf("%-18s %d  %s\n", name, (int)out->cc, out->err);
    transport_free(t);
    peer_stop(&pr);
}

/* Keep-alive reuse, the request as sent, a GET, Connection: close, HTTP/1.0. */
static void test_requests(transport_kind kind)
{
    peer pr = {0};
    if (peer_start(&pr, script_echo, 0) != 0) {
        CHECK(!"cannot start the peer");
        return;
    }
    transport *t = make_transport(kind, 4, 10);
    char url[128], host[64];
    outcome o = {0};
    url_of(url, sizeof url, &pr, "/v1/completions");
    snprintf(host, sizeof host, "Host: 127.0.0.1:%d\r\n", pr.port);
    for (int k = 1; k <= 3; k++) { /* one connection, reused (also across what would be runs) */
        run_one(t, url, "{\"a\":1}", &o);
        CHECK(o.cc == CURLE_OK && o.status == 200 && o.via == kind);
        char want[32];
        snprintf(want, sizeof want, "conn=1 req=%d\n", k);
        CHECK(contains(buf_str(&o.body), want));
    }
    const char *req = buf_str(&o.body);
    CHECK(contains(req, "POST /v1/completions HTTP/1.1\r\n"));
    CHECK(contains(req, host));
    CHECK(contains(req, "Content-Type: application/json\r\n"));
    CHECK(contains(req, "Content-Length: 7\r\n"));
    CHECK(contains(req, "Authorization: Bearer sk-test-key\r\n"));
    CHECK(contains(req, "User-Agent: evallua-test\r\n"));
    CHECK(!contains(req, "Expect"));
    CHECK(contains(req, "\r\n\r\n{\"a\":1}"));
    url_of(url, sizeof url, &pr, "/v1/models?limit=2");
    run_one(t, url, NULL, &o);
    CHECK(o.cc == CURLE_OK && contains(buf_str(&o.body), "conn=1 req=4\nGET /v1/models?limit=2 HTTP/1.1\r\n"));
    CHECK(!contains(buf_str(&o.body), "Content-Length"));
    int n_slots;
    CHECK(!strcmp(transport_url(&transport_slots(t, &n_slots)[0]), url)); /* free slots are reused LIFO */
    transport_free(t);
    peer_stop(&pr);

    CHECK(peer_start(&pr, script_close, 0) == 0);
    t = make_transport(kind, 4, 10);
    url_of(url, sizeof url, &pr, "/v1/completions");
    run_one(t, url, "{}", &o);
    CHECK(o.cc == CURLE_OK && contains(buf_str(&o.body), "conn=1 req=1"));
    run_one(t, url, "{}", &o); /* the server closed the first: a new connection */
    CHECK(o.cc == CURLE_OK && contains(buf_str(&o.body), "conn=2 req=1"));
    transport_free(t);
    peer_stop(&pr);

    CHECK(peer_start(&pr, script_http10, 0) == 0);
    t = make_transport(kind, 4, 10);
    url_of(url, sizeof url, &pr, "/v1/completions");
    run_one(t, url, "{}", &o);
    CHECK(o.cc == CURLE_OK && o.status == 200 && !strcmp(buf_str(&o.body), "until the close, conn=1"));
    run_one(t, url, "{}", &o);
    CHECK(o.cc == CURLE_OK && !strcmp(buf_str(&o.body), "until the close, conn=2"));
    transport_free(t);
    peer_stop(&pr);
    buf_free(&o.body);
}

/* Responses written one byte at a time: 100 Continue, chunked with extensions and trailers,
   Retry-After; then a reuse of the connection. */
static void test_bytewise(transport_kind kind)
{
    peer pr = {0};
    CHECK(peer_start(&pr, script_bytewise, 0) == 0);
    transport *t = make_transport(kind, 2, 20);
    char url[128];
    outcome o = {0};
    url_of(url, sizeof url, &pr, "/v1/completions");
    run_one(t, url, "{}", &o);
    CHECK(o.cc == CURLE_OK && o.status == 429 && !strcmp(buf_str(&o.body), "conn=1 req=1"));
    CHECK_NEAR(o.retry_after, 7, 1e-9);
    run_one(t, url, "{}", &o);
    CHECK(o.cc == CURLE_OK && o.status == 200 && !strcmp(buf_str(&o.body), "conn=1 req=2"));
    CHECK(o.retry_after < 0);
    transport_free(t);
    peer_stop(&pr);
    buf_free(&o.body);
}

/* A reused connection the server closed before answering is retried once, on a fresh one. */
static void test_stale(transport_kind kind)
{
    peer pr = {0};
    CHECK(peer_start(&pr, script_stale_once, 0) == 0);
    transport *t = make_transport(kind, 2, 10);
    char url[128];
    outcome o = {0};
    url_of(url, sizeof url, &pr, "/v1/completions");
    run_one(t, url, "{}", &o);
    CHECK(o.cc == CURLE_OK && contains(buf_str(&o.body), "conn=1 req=1"));
    run_one(t, url, "{}", &o);
    CHECK(o.cc == CURLE_OK && contains(buf_str(&o.body), "conn=2 req=1"));
    transport_free(t);
    peer_stop(&pr);

    CHECK(peer_start(&pr, script_stale_always, 0) == 0);
    t = make_transport(kind, 2, 10);
    url_of(url, sizeof url, &pr, "/v1/completions");
    run_one(t, url, "{}", &o);
    CHECK(o.cc == CURLE_OK);
    run_one(t, url, "{}", &o); /* stale, then the fresh connection closes too */
    CHECK(o.cc == CURLE_GOT_NOTHING);
    if (kind == TRANSPORT_PLAIN) printf("%-18s %d  %s\n", "stale, then none", (int)o.cc, o.err);
    transport_free(t);
    peer_stop(&pr);
    buf_free(&o.body);
}

/* Failures and their CURLcodes. */
static void test_failures(transport_kind kind)
{
    outcome o = {0};
    expect_code(kind, "empty reply", script_nothing, CURLE_GOT_NOTHING, NULL, &o);
    expect_code(kind, "reset", script_reset, CURLE_RECV_ERROR, NULL, &o);
    expect_code(kind, "truncated", script_truncated, CURLE_PARTIAL_FILE, NULL, &o);
    expect_code(kind, "truncated chunked", script_truncated_chunked, CURLE_PARTIAL_FILE, NULL, &o);
    expect_code(kind, "stall", script_stall, CURLE_OPERATION_TIMEDOUT, "timed out", &o);
    if (kind == TRANSPORT_PLAIN) {
        expect_code(kind, "empty reply", script_nothing, CURLE_GOT_NOTHING, "127.0.0.1 port ", &o);
        expect_code(kind, "reset", script_reset, CURLE_RECV_ERROR, "reset by peer", &o);
        expect_code(kind, "truncated", script_truncated, CURLE_PARTIAL_FILE, "89 bytes remaining", &o);
        expect_code(kind, "too big", script_huge_length, CURLE_WRITE_ERROR, "larger than 256 MiB", &o);
        CHECK(o.too_big);
        expect_code(kind, "not HTTP", script_not_http, CURLE_WEIRD_SERVER_REPLY, "not HTTP/1.x", &o);
    }
    /* a refused port: bind one, let it go, connect to it */
    peer pr = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    CHECK(bind(fd, (struct sockaddr *)&a, len) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    pr.port = ntohs(a.sin_port);
    close(fd);
    transport *t = make_transport(kind, 2, 5);
    char url[128], where[64];
    url_of(url, sizeof url, &pr, "/v1/completions");
    snprintf(where, sizeof where, "127.0.0.1 port %d", pr.port);
    run_one(t, url, "{}", &o);
    CHECK(o.cc == CURLE_COULDNT_CONNECT && contains(o.err, where) && contains(o.err, "Couldn't connect"));
    if (kind == TRANSPORT_PLAIN) printf("%-18s %d  %s\n", "refused", (int)o.cc, o.err);
    transport_free(t);
    buf_free(&o.body);
}

/* Many transfers at once over a few slots; big requests (partial writes) and big answers
   (many reads) with a length and chunked. */
static void test_load(transport_kind kind)
{
    peer pr = {0};
    CHECK(peer_start(&pr, script_echo, 0) == 0);
    transport *t = make_transport(kind, 32, 30);
    char url[128], err[256];
    url_of(url, sizeof url, &pr, "/v1/completions");
    int started = 0, ok = 0, matched = 0, total = 400;
    double t0 = now_s();
    while (ok < total && now_s() - t0 < 60) {
        xfer *x;
        while (started < total && (x = transport_acquire(t))) {
            buf_printf(&x->body, "{\"n\":%d}", started);
            x->owner = (void *)(intptr_t)started++;
            CHECK(transport_start(t, x, url, err, sizeof err) == 0);
        }
        CHECK(transport_wait(t, 100, err, sizeof err) == 0);
        CURLcode cc;
        while ((x = transport_done(t, &cc))) {
            char want[32];
            snprintf(want, sizeof want, "{\"n\":%d}", (int)(intptr_t)x->owner);
            ok += cc == CURLE_OK;
            matched += cc == CURLE_OK && contains(buf_str(&x->resp), want);
            transport_release(t, x);
        }
    }
    CHECK(ok == total && matched == total && transport_busy(t) == 0);
    transport_free(t);
    peer_stop(&pr);

    conn_script big[2] = {script_big_length, script_big_chunked};
    for (int b = 0; b < 2; b++) {
        CHECK(peer_start(&pr, big[b], 0) == 0);
        t = make_transport(kind, 2, 30);
        url_of(url, sizeof url, &pr, "/v1/completions");
        outcome o = {0};
        size_t n = (size_t)8 << 20;
        char *body = malloc(n + 1);
        memset(body, 'q', n);
        body[n] = '\0';
        for (int k = 0; k < 2; k++) {
            run_one(t, url, body, &o);
            if (o.cc != CURLE_OK || o.body.len != (b ? 3146000 + 11 : (size_t)3 << 20))
                fprintf(stderr, "big %d over %s: CURLcode %d (%s), %zu bytes\n", b, kind_name(kind), (int)o.cc, o.err, o.body.len);
            CHECK(o.cc == CURLE_OK && o.body.len == (b ? 3146000 + 11 : (size_t)3 << 20));
            CHECK(!strncmp(buf_str(&o.body), "got 8388608", 11));
        }
        free(body);
        buf_free(&o.body);
        transport_free(t);
        peer_stop(&pr);
    }
}

/* A host name (looked up once) and IPv6 literals: http://[::1]:PORT/... */
static void test_names(void)
{
    peer v4 = {0};
    CHECK(peer_start(&v4, script_echo, 0) == 0);
    transport *t4 = make_transport(TRANSPORT_AUTO, 2, 10);
    char url4[128], host4[64];
    snprintf(url4, sizeof url4, "http://localhost:%d/v1/completions", v4.port);
    snprintf(host4, sizeof host4, "Host: localhost:%d\r\n", v4.port);
    outcome o4 = {0};
    for (int k = 1; k <= 2; k++) {
        run_one(t4, url4, "{}", &o4);
        CHECK(o4.cc == CURLE_OK && o4.via == TRANSPORT_PLAIN && contains(buf_str(&o4.body), host4));
        CHECK(contains(buf_str(&o4.body), k == 1 ? "conn=1 req=1" : "conn=1 req=2"));
    }
    transport_free(t4);
    peer_stop(&v4);
    buf_free(&o4.body);

    peer pr = {0};
    if (peer_start(&pr, script_echo, 1) != 0) {
        printf("no IPv6 loopback here: the [::1] case is skipped\n");
        return;
    }
    transport *t = make_transport(TRANSPORT_AUTO, 2, 10);
    char url[128], host[64];
    snprintf(url, sizeof url, "http://[::1]:%d/v1/completions", pr.port);
    snprintf(host, sizeof host, "Host: [::1]:%d\r\n", pr.port);
    outcome o = {0};
    run_one(t, url, "{}", &o);
    CHECK(o.cc == CURLE_OK && o.via == TRANSPORT_PLAIN && contains(buf_str(&o.body), host));
    transport_free(t);
    peer_stop(&pr);
    buf_free(&o.body);
}

/* Which side carries what; https with transport=plain is refused with a message. */
static void test_choice(void)
{
    char err[256] = "";
    transport_kind k;
    CHECK(transport_kind_parse(NULL, &k) == 0 && k == TRANSPORT_AUTO);
    CHECK(transport_kind_parse("plain", &k) == 0 && k == TRANSPORT_PLAIN);
    CHECK(transport_kind_parse("curl", &k) == 0 && k == TRANSPORT_CURL);
    CHECK(transport_kind_parse("libcurl", &k) != 0);
    transport *t = make_transport(TRANSPORT_PLAIN, 2, 10);
    CHECK(transport_check_url(t, "https://api.example.com/v1/completions", err, sizeof err) != 0);
    CHECK(contains(err, "https://api.example.com/v1") && contains(err, "transport=curl"));
    CHECK(transport_check_url(t, "http://[::1/v1", err, sizeof err) != 0 && contains(err, "]"));
    CHECK(transport_check_url(t, "http://h:99999/v1", err, sizeof err) != 0 && contains(err, "port"));
    CHECK(transport_check_url(t, "http://h:8000/v1", err, sizeof err) == 0);
    xfer *x = transport_acquire(t);
    CHECK(transport_start(t, x, "https://api.example.com/v1", err, sizeof err) != 0);
    CHECK(transport_busy(t) == 0); /* a start that fails frees the slot */
    transport_free(t);

    /* auto: https goes to curl; a proxy variable sends http to curl too */
    t = make_transport(TRANSPORT_AUTO, 2, 10);
    CHECK(transport_check_url(t, "https://api.example.com/v1", err, sizeof err) == 0);
    x = transport_acquire(t);
    CHECK(transport_start(t, x, "https://127.0.0.1:1/v1", err, sizeof err) == 0 && x->via == TRANSPORT_CURL);
    transport_release(t, x);
    transport_free(t);
    setenv("http_proxy", "http://127.0.0.1:1", 1);
    t = make_transport(TRANSPORT_AUTO, 2, 10);
    x = transport_acquire(t);
    CHECK(transport_start(t, x, "http://127.0.0.1:2/v1", err, sizeof err) == 0 && x->via == TRANSPORT_CURL);
    transport_release(t, x);
    transport_free(t);
    t = make_transport(TRANSPORT_PLAIN, 2, 10); /* forced plain ignores the proxy */
    x = transport_acquire(t);
    CHECK(transport_start(t, x, "http://127.0.0.1:2/v1", err, sizeof err) == 0 && x->via == TRANSPORT_PLAIN);
    transport_free(t); /* with the transfer in flight */
    unsetenv("http_proxy");
}

/* The transport model arg reaches the transport: unknown names and https with plain are
   refused when the backend is made, naming what is wrong. */
static void test_model_arg(void)
{
    char err[512] = "";
    openai_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.model = "m";
    cfg.max_retries = -1;
    cfg.base_url = "http://127.0.0.1:1/v1";
    const char *ok[] = {NULL, "auto", "plain", "curl"};
    for (int i = 0; i < 4; i++) {
        cfg.transport = ok[i];
        backend *b = openai_backend_new(&cfg, err, sizeof err);
        CHECK(b != NULL);
        if (b) b->vt->destroy(b);
    }
    cfg.transport = "fast";
    CHECK(openai_backend_new(&cfg, err, sizeof err) == NULL);
    CHECK(contains(err, "transport must be auto, plain or curl, got 'fast'"));
    cfg.transport = "plain";
    cfg.base_url = "http://127.0.0.1:1/v1|https://api.example.com/v1";
    CHECK(openai_backend_new(&cfg, err, sizeof err) == NULL);
    CHECK(contains(err, "https://api.example.com/v1/completions needs TLS"));
    cfg.transport = "auto";
    backend *b = openai_backend_new(&cfg, err, sizeof err);
    CHECK(b != NULL);
    if (b) b->vt->destroy(b);
}

/* transport_free with transfers in flight (connecting, waiting, idle connections): nothing
   leaks or is touched after free (the sanitizer build checks). */
static void test_abandon(void)
{
    peer stall = {0}, echo = {0};
    CHECK(peer_start(&stall, script_stall, 0) == 0);
    CHECK(peer_start(&echo, script_echo, 0) == 0);
    transport *t = make_transport(TRANSPORT_AUTO, 8, 30);
    char url[128], err[256];
    outcome o = {0};
    url_of(url, sizeof url, &echo, "/v1/completions");
    run_one(t, url, "{}", &o); /* leaves an idle keep-alive connection */
    CHECK(o.cc == CURLE_OK);
    url_of(url, sizeof url, &stall, "/v1/completions");
    for (int i = 0; i < 6; i++) {
        xfer *x = transport_acquire(t);
        buf_puts(&x->body, "{}");
        CHECK(transport_start(t, x, url, err, sizeof err) == 0);
    }
    for (int i = 0; i < 5; i++) transport_wait(t, 10, err, sizeof err);
    int n;
    xfer *slots = transport_slots(t, &n);
    transport_release(t, &slots[0]); /* one abandoned by release, the rest by free */
    CHECK(transport_busy(t) == 5 || transport_busy(t) == 6);
    transport_free(t);
    peer_stop(&stall);
    peer_stop(&echo);
    buf_free(&o.body);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_parser();
    test_choice();
    test_model_arg();
    transport_kind kinds[2] = {TRANSPORT_PLAIN, TRANSPORT_CURL};
    for (int k = 0; k < 2; k++) {
        test_requests(kinds[k]);
        test_bytewise(kinds[k]);
        test_stale(kinds[k]);
        test_failures(kinds[k]);
        test_load(kinds[k]);
    }
    test_names();
    test_abandon();
    return check_summary();
}
