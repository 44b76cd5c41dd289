/* progress.c — the one-line progress meter (see progress.h). */
#include "progress.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"

#define PROGRESS_TTY_INTERVAL 0.1   /* seconds between terminal redraws */
#define PROGRESS_LOG_INTERVAL 10.0  /* seconds between plain lines */

struct progress {
    char *label;
    size_t total;
    FILE *out;
    int tty;          /* out is a terminal: redraw in place */
    int silent;       /* EVALLUA_NO_PROGRESS, or finished */
    double start;     /* monotonic seconds */
    double last_draw; /* when the last line was printed */
    size_t last_len;  /* length of the last terminal line, to blank leftovers */
    size_t done, failed, retrying;
    int64_t tokens;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* MM:SS, or H:MM:SS from an hour on. */
static void format_clock(char *out, size_t outlen, double s)
{
    long t = s > 0 && s < 1e9 ? (long)(s + 0.5) : 0;
    if (t >= 3600) snprintf(out, outlen, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else snprintf(out, outlen, "%02ld:%02ld", t / 60, t % 60);
}

void progress_format(char *out, size_t outlen, const char *label, size_t done, size_t total,
                     size_t failed, size_t retrying, int64_t tokens, double elapsed_s)
{
    double pct = total ? 100.0 * (double)done / (double)total : 100.0;
    double rpm = elapsed_s > 0.001 ? (double)done * 60.0 / elapsed_s : 0.0;
    double tps = elapsed_s > 0.001 ? (double)tokens / elapsed_s : 0.0;
    char elapsed[24], eta[24];
    format_clock(elapsed, sizeof elapsed, elapsed_s);
    if (done >= total) snprintf(eta, sizeof eta, "00:00");
    else if (done == 0) snprintf(eta, sizeof eta, "--:--");
    else format_clock(eta, sizeof eta, elapsed_s * (double)(total - done) / (double)done);
    snprintf(out, outlen, "%s%s%zu/%zu (%.0f%%)  failed %zu  retrying %zu  %.0f req/min  "
             "%.0f tok/s  elapsed %s  ETA %s", label ? label : "", label && *label ? "  " : "",
             done, total, pct, failed, retrying, rpm, tps, elapsed, eta);
}

/* Terminal width, or 0 when unknown. */
static size_t term_width(FILE *out)
{
    struct winsize ws;
    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 0;
}

static void draw(progress *p, double t, int final)
{
    char line[512];
    progress_format(line, sizeof line, p->label, p->done, p->total, p->failed, p->retrying,
                    p->tokens, t - p->start);
    size_t len = strlen(line);
    if (p->tty) {
        size_t width = term_width(p->out);
        if (width > 1 && len > width - 1) line[len = width - 1] = '\0'; /* never wrap */
        size_t pad = p->last_len > len ? p->last_len - len : 0;
        fprintf(p->out, "\r%s%*s%s", line, (int)pad, "", final ? "\n" : "");
        p->last_len = len;
    } else {
        fprintf(p->out, "%s\n", line);
    }
    fflush(p->out);
    p->last_draw = t;
}

progress *progress_new(const char *label, size_t total, FILE *out)
{
    progress *p = xcalloc(1, sizeof *p);
    const char *off = getenv("EVALLUA_NO_PROGRESS");
    p->label = label ? xstrdup(label) : NULL;
    p->total = total;
    p->out = out ? out : stderr;
    p->tty = isatty(fileno(p->out));
    p->silent = off && *off && strcmp(off, "0") != 0;
    p->start = p->last_draw = now_s();
    return p;
}

void progress_update(progress *p, size_t done, size_t failed, size_t retrying, int64_t tokens)
{
    if (!p || p->silent) return;
    p->done = done;
    p->failed = failed;
    p->retrying = retrying;
    p->tokens = tokens;
    double t = now_s();
    double interval = p->tty ? PROGRESS_TTY_INTERVAL : PROGRESS_LOG_INTERVAL;
    if (t - p->last_draw >= interval) draw(p, t, 0);
}

void progress_finish(progress *p)
{
    if (!p || p->silent) return;
    draw(p, now_s(), 1);
    p->silent = 1;
}

void progress_free(progress *p)
{
    if (!p) return;
    free(p->label);
    free(p);
}
