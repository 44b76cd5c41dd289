/* main.c — fake_openai: a deterministic OpenAI-compatible server for evallua's tests.
 * Command line, port file, and the main thread's wait for SIGTERM/SIGINT or --lifetime.
 * The behaviour is specified in tests/server/README.md. */
#include "fake_openai.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"

typedef struct cli {
    long port, lifetime;
    const char *port_file, *rules, *log, *faults, *quirks, *rows_faults;
} cli;

typedef struct option_def {
    const char *name;
    const char **str; /* string option, or */
    long *num;        /* integer option in [min, max], or */
    double *dbl;      /* decimal option in [min, max] */
    long min, max;
} option_def;

static const char usage_text[] =
    "usage: fake_openai [--port N] [--port-file F] [--model NAME] [--rules FILE] [--log FILE]\n"
    "                   [--fail-first N] [--fail-every K] [--fail-status S] [--garbage-every K]\n"
    "                   [--truncate-every K] [--reset-every K] [--stall-every K] [--stall-ms MS]\n"
    "                   [--faults SPEC] [--fault-seed N] [--require-key KEY] [--delay-ms MS]\n"
    "                   [--retry-after S] [--retry-after-date 0|1] [--max-context N] [--quirks LIST]\n"
    "                   [--threads N] [--log-times 0|1] [--rows-dir DIR] [--rows-faults SPEC]\n"
    "                   [--lifetime S]\n"
    "A deterministic OpenAI-compatible test server on 127.0.0.1; see tests/server/README.md.\n";

/* ---- command line ---------------------------------------------------------------------- */

static int parse_long(const char *name, const char *text, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (!*text || *end || errno || v < min || v > max) {
        fprintf(stderr, "fake_openai: --%s needs an integer from %ld to %ld, got '%s'\n", name, min, max, text);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_double(const char *name, const char *text, long min, long max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (!*text || *end || errno || !(v >= (double)min && v <= (double)max)) {
        fprintf(stderr, "fake_openai: --%s needs a number from %ld to %ld, got '%s'\n", name, min, max, text);
        return -1;
    }
    *out = v;
    return 0;
}

static int apply_option(const option_def *o, const char *value)
{
    if (o->num) return parse_long(o->name, value, o->min, o->max, o->num);
    if (o->dbl) return parse_double(o->name, value, o->min, o->max, o->dbl);
    if (!*value) {
        fprintf(stderr, "fake_openai: --%s needs a non-empty value\n", o->name);
        return -1;
    }
    *o->str = value;
    return 0;
}

static const option_def *find_option(const option_def *defs, const char *name, size_t len)
{
    for (const option_def *o = defs; o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) return o;
    return NULL;
}

/* Parse argv into the option table; "--name VALUE" and "--name=VALUE" both work.
 * Returns 0, 1 for --help, or -1 after printing why. */
static int parse_args(int argc, char **argv, const option_def *defs)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) return 1;
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "fake_openai: unexpected argument '%s'\n", arg);
            return -1;
        }
        const char *eq = strchr(arg + 2, '=');
        size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        const option_def *o = find_option(defs, arg + 2, len);
        if (!o) {
            fprintf(stderr, "fake_openai: unknown option '%s'\n", arg);
            return -1;
        }
        if (!eq && i + 1 == argc) {
            fprintf(stderr, "fake_openai: --%s needs a value\n", o->name);
            return -1;
        }
        if (apply_option(o, eq ? eq + 1 : argv[++i])) return -1;
    }
    return 0;
}

static int parse_cli(int argc, char **argv, cli *c, fo_server *s)
{
    const option_def defs[] = {
        {"port", NULL, &c->port, NULL, 0, 65535},
        {"port-file", &c->port_file, NULL, NULL, 0, 0},
        {"model", &s->model, NULL, NULL, 0, 0},
        {"rules", &c->rules, NULL, NULL, 0, 0},
        {"log", &c->log, NULL, NULL, 0, 0},
        {"fail-first", NULL, &s->fail_first, NULL, 0, LONG_MAX},
        {"fail-every", NULL, &s->fail_every, NULL, 0, LONG_MAX},
        {"fail-status", NULL, &s->fail_status, NULL, 100, 599},
        {"garbage-every", NULL, &s->garbage_every, NULL, 0, LONG_MAX},
        {"truncate-every", NULL, &s->truncate_every, NULL, 0, LONG_MAX},
        {"reset-every", NULL, &s->reset_every, NULL, 0, LONG_MAX},
        {"stall-every", NULL, &s->stall_every, NULL, 0, LONG_MAX},
        {"stall-ms", NULL, &s->stall_ms, NULL, 0, 600000},
        {"faults", &c->faults, NULL, NULL, 0, 0},
        {"fault-seed", NULL, &s->faults.seed, NULL, 0, LONG_MAX},
        {"require-key", &s->require_key, NULL, NULL, 0, 0},
        {"delay-ms", NULL, &s->delay_ms, NULL, 0, 600000},
        {"retry-after", NULL, NULL, &s->retry_after, 0, 86400},
        {"retry-after-date", NULL, &s->retry_after_date, NULL, 0, 1},
        {"max-context", NULL, &s->max_context, NULL, 0, LONG_MAX},
        {"quirks", &c->quirks, NULL, NULL, 0, 0},
        {"threads", NULL, &s->threads, NULL, 1, 64},
        {"log-times", NULL, &s->log_times, NULL, 0, 1},
        {"lifetime", NULL, &c->lifetime, NULL, 1, 86400 * 7},
        {"rows-dir", &s->rows->dir, NULL, NULL, 0, 0},
        {"rows-faults", &c->rows_faults, NULL, NULL, 0, 0},
        {NULL, NULL, NULL, NULL, 0, 0},
    };
    int rc = parse_args(argc, argv, defs);
    if (rc == 1) fputs(usage_text, stdout);
    else if (rc < 0) fputs("fake_openai: try --help\n", stderr);
    return rc;
}

/* ---- setup --------------------------------------------------------------------------- */

/* Parse --faults and --quirks, open the rules and log files; -1 after printing why. */
static int open_files(const cli *c, fo_server *s)
{
    char err[512];
    if ((c->faults && fo_faults_parse(&s->faults, c->faults, err, sizeof err)) ||
        (c->quirks && fo_quirks_parse(&s->quirks, c->quirks, err, sizeof err)) ||
        (c->rows_faults && fo_rows_faults_parse(s->rows, c->rows_faults, err, sizeof err))) {
        fprintf(stderr, "fake_openai: %s\n", err);
        return -1;
    }
    if (c->rules && fo_rules_load(&s->rules, c->rules, err, sizeof err)) {
        fprintf(stderr, "fake_openai: %s\n", err);
        return -1;
    }
    if (c->log && !(s->log = fopen(c->log, "a"))) {
        fprintf(stderr, "fake_openai: --log %s: %s\n", c->log, strerror(errno));
        return -1;
    }
    return 0;
}

/* Write the port to a temporary file and rename it over `path`, so readers never see
 * a partial file. */
static int write_port_file(const char *path, unsigned port)
{
    buf tmp = {0};
    buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(buf_str(&tmp), "w");
    int ok = f && fprintf(f, "%u\n", port) > 0;
    if (f && fclose(f) != 0) ok = 0;
    if (ok && rename(buf_str(&tmp), path) != 0) ok = 0;
    if (!ok) {
        fprintf(stderr, "fake_openai: --port-file %s: %s\n", path, strerror(errno));
        unlink(buf_str(&tmp));
    }
    buf_free(&tmp);
    return ok ? 0 : -1;
}

/* Block until SIGTERM/SIGINT arrives or `lifetime` seconds pass (both are blocked in
 * every thread, so they are only ever consumed here). */
static void wait_for_stop(const sigset_t *stop, long lifetime)
{
    struct timespec now, end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += lifetime;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        struct timespec left = {end.tv_sec - now.tv_sec, end.tv_nsec - now.tv_nsec};
        if (left.tv_nsec < 0) {
            left.tv_sec--;
            left.tv_nsec += 1000000000L;
        }
        if (left.tv_sec < 0) {
            fprintf(stderr, "fake_openai: lifetime of %ld s reached, exiting\n", lifetime);
            return;
        }
        int sig = sigtimedwait(stop, NULL, &left);
        if (sig > 0) {
            fprintf(stderr, "fake_openai: %s received, exiting\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            return;
        }
    }
}

/* Allow as many open connections as the hard limit does (clients test thousands). */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int serve(const cli *c, fo_server *s)
{
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL); /* before any thread exists: all inherit it */
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    char err[256];
    unsigned port = 0;
    void *daemon = fo_http_start(s, (unsigned)c->port, &port, err, sizeof err);
    if (!daemon) {
        fprintf(stderr, "fake_openai: %s\n", err);
        return 1;
    }
    if (c->port_file && write_port_file(c->port_file, port)) {
        fo_http_stop(daemon);
        return 1;
    }
    fprintf(stderr, "fake_openai listening on 127.0.0.1:%u\n", port);
    wait_for_stop(&stop, c->lifetime);
    fo_http_stop(daemon);
    fprintf(stderr, "fake_openai: served %ld POST requests\n", atomic_load(&s->requests));
    return 0;
}

int main(int argc, char **argv)
{
    cli c = {.port = 0, .lifetime = 600};
    fo_rows rows = {0};
    fo_server s = {.model = "fake-model", .fail_status = 500, .retry_after = -1, .stall_ms = 30000,
                   .threads = 2, .rows = &rows};
    atomic_init(&s.requests, 0);
    s.start_ms = fo_now_ms();
    int rc = parse_cli(argc, argv, &c, &s);
    if (rc) return rc > 0 ? 0 : 2;
    rc = open_files(&c, &s) ? 2 : 0;
    if (!rc) {
        pthread_mutex_init(&s.lock, NULL);
        rc = serve(&c, &s);
        pthread_mutex_destroy(&s.lock);
    }
    fo_rules_free(&s.rules);
    free(rows.faults);
    if (s.log) fclose(s.log);
    return rc;
}
