/* fake_server.h — start and stop the fake OpenAI server (tests/server, $FAKE_OPENAI) from a C
 * unit test: each server gets a temporary directory with its port file, request log and
 * stderr. Also the server's model (README "Tokenizer") and a standard mix of requests with
 * their expected answers. Header-only (static inline), shared by test_http_server.c and
 * test_http_engine.c. */
#ifndef EVALLUA_TEST_FAKE_SERVER_H
#define EVALLUA_TEST_FAKE_SERVER_H

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "request/request.h"
#include "util/buf.h"

typedef struct server {
    pid_t pid;
    char dir[64];  /* temporary directory for the port file, log and rules */
    char url[96];  /* http://127.0.0.1:PORT/v1 */
} server;

static const char *fake_path; /* set by main from $FAKE_OPENAI */

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static inline int contains(const char *hay, const char *needle)
{
    return hay && needle && strstr(hay, needle) != NULL;
}

static inline void dir_file(const server *s, const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s", s->dir, name);
}

/* Stop the server (SIGTERM, then SIGKILL after 5 s) and remove its directory. */
static inline void server_stop(server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        int status;
        double t0 = now_s();
        while (waitpid(s->pid, &status, WNOHANG) == 0) {
            if (now_s() - t0 > 5.0) {
                kill(s->pid, SIGKILL);
                waitpid(s->pid, &status, 0);
                break;
            }
            sleep_ms(10);
        }
        s->pid = 0;
    }
    const char *names[] = {"port", "log", "rules.jsonl", "stderr"};
    char path[160];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        dir_file(s, names[i], path, sizeof path);
        unlink(path);
    }
    rmdir(s->dir);
}

/* Wait up to 10 s for the port file; 0 and s->url set, or -1. */
static inline int wait_port(server *s)
{
    char path[160];
    dir_file(s, "port", path, sizeof path);
    for (int i = 0; i < 1000; i++) {
        FILE *f = fopen(path, "r");
        int port = 0;
        if (f) {
            int ok = fscanf(f, "%d", &port) == 1;
            fclose(f);
            if (ok && port > 0) {
                snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d/v1", port);
                return 0;
            }
        }
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            return -1;
        }
        sleep_ms(10);
    }
    return -1;
}

/* Start fake_openai with the NULL-terminated extra arguments (and --log, --port-file). */
static inline int server_start(server *s, const char *const *extra)
{
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/evallua_http_XXXXXX");
    if (!mkdtemp(s->dir)) return -1;
    char port[160], log[160], err[160];
    dir_file(s, "port", port, sizeof port);
    dir_file(s, "log", log, sizeof log);
    dir_file(s, "stderr", err, sizeof err);
    const char *argv[40] = {fake_path, "--port", "0", "--port-file", port, "--log", log,
                            "--lifetime", "120"};
    size_t argc = 9;
    for (size_t i = 0; extra && extra[i] && argc < 39; i++) argv[argc++] = extra[i];
    argv[argc] = NULL;
    s->pid = fork();
    if (s->pid == 0) {
        if (!freopen(err, "w", stderr)) _exit(126);
        execv(fake_path, (char *const *)argv);
        _exit(127);
    }
    if (s->pid < 0 || wait_port(s) != 0) {
        fprintf(stderr, "cannot start %s (see %s)\n", fake_path, err);
        server_stop(s);
        return -1;
    }
    return 0;
}

/* The fake server's path from $FAKE_OPENAI, or NULL (the test then skips). */
static inline const char *fake_server_path(void)
{
    struct stat st;
    const char *p = getenv("FAKE_OPENAI");
    if (!p || !*p || stat(p, &st) != 0) return NULL;
    return p;
}

/* ---- the fake server's model (README "Tokenizer") -------------------------------------- */

static inline uint32_t fnv1a32(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

static inline double lp(const char *t)
{
    return -(1.0 + (double)(fnv1a32(t) % 1000u)) / 200.0;
}

static inline int greedy(const char *t)
{
    return fnv1a32(t) % 4u != 0;
}

/* ---- requests ------------------------------------------------------------------------ */

static inline char *fmt(const char *f, int i)
{
    buf b = {0};
    buf_printf(&b, f, i);
    return buf_steal(&b);
}

static inline void set_until(eval_request *r, const char *stop)
{
    r->gen.until = xcalloc(1, sizeof *r->gen.until);
    r->gen.until[0] = xstrdup(stop);
    r->gen.n_until = 1;
    r->gen.top_p = -1;
    r->gen.seed = -1;
}

/* Request i of the completions mix: loglikelihood, rolling or generate. */
static inline void mixed_request(eval_request *r, int i)
{
    memset(r, 0, sizeof *r);
    if (i % 3 == 0) {
        r->kind = REQ_LOGLIKELIHOOD;
        r->context = fmt("Item %d:", i);
        r->continuation = fmt(" w%d", i);
    } else if (i % 3 == 1) {
        r->kind = REQ_LOGLIKELIHOOD_ROLLING;
        r->context = fmt("alpha beta w%d", i);
    } else {
        r->kind = REQ_GENERATE;
        r->context = fmt("Q%d", i);
        set_until(r, "\n\n");
    }
}

static inline int check_mixed_response(const eval_request *r, const eval_response *p, int i)
{
    if (p->status != RESP_OK) {
        fprintf(stderr, "request %d failed: %s\n", i, p->error ? p->error : "(no reason)");
        return 0;
    }
    char word[32];
    snprintf(word, sizeof word, " w%d", i);
    if (r->kind == REQ_LOGLIKELIHOOD)
        return fabs(p->logprob - lp(word)) < 1e-9 && p->is_greedy == greedy(word);
    if (r->kind == REQ_LOGLIKELIHOOD_ROLLING) return fabs(p->logprob - (lp(" beta") + lp(word))) < 1e-9;
    return p->text && strcmp(p->text, "The answer is 42.") == 0 && p->completion_tokens == 5;
}

static inline void free_batch(eval_request *reqs, eval_response *resps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        request_free(&reqs[i]);
        response_free(&resps[i]);
    }
}

#endif
