/* progress.c — the per-task progress meter (see progress.h). */
#include "progress.h"
#include "util/clock.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"

#define PROGRESS_TTY_INTERVAL 0.1   /* seconds between terminal redraws */
#define PROGRESS_LOG_INTERVAL 10.0  /* seconds between plain lines */
#define PROGRESS_LINE 512

typedef struct task_state {
    char *name;
    size_t total, cached, ok, failed, retrying;
    int64_t tokens;
    int changed; /* since the last plain print */
} task_state;

struct progress {
    FILE *out;
    int tty;           /* out is a terminal: redraw in place */
    int silent;        /* EVALLUA_NO_PROGRESS, or finished */
    double start;      /* monotonic seconds */
    double last_draw;  /* when the last line was printed */
    size_t last_lines; /* lines of the last terminal block */
    task_state *tasks;
    size_t n_tasks;
};

/* ---- formatting ------------------------------------------------------------------------- */

/* MM:SS, or H:MM:SS from an hour on. */
static void format_clock(char *out, size_t outlen, double s)
{
    long t = s > 0 && s < 1e9 ? (long)(s + 0.5) : 0;
    if (t >= 3600) snprintf(out, outlen, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else snprintf(out, outlen, "%02ld:%02ld", t / 60, t % 60);
}

/* "  N req/min  T tok/s  elapsed E  ETA R" for counts c. */
static void format_rates(char *out, size_t outlen, const progress_counts *c, double elapsed_s)
{
    size_t done = c->cached + c->ok + c->failed, answered = c->ok + c->failed;
    double rpm = elapsed_s > 0.001 ? (double)answered * 60.0 / elapsed_s : 0.0;
    double tps = elapsed_s > 0.001 ? (double)c->tokens / elapsed_s : 0.0;
    char elapsed[24], eta[24];
    format_clock(elapsed, sizeof elapsed, elapsed_s);
    if (done >= c->total) snprintf(eta, sizeof eta, "00:00");
    else if (answered == 0) snprintf(eta, sizeof eta, "--:--");
    else format_clock(eta, sizeof eta, elapsed_s * (double)(c->total - done) / (double)answered);
    snprintf(out, outlen, "  %.0f req/min  %.0f tok/s  elapsed %s  ETA %s", rpm, tps, elapsed, eta);
}

void progress_format_counts(char *out, size_t outlen, const progress_counts *c, size_t label_width,
                            int rates, double elapsed_s)
{
    size_t done = c->cached + c->ok + c->failed;
    double pct = c->total ? 100.0 * (double)done / (double)c->total : 100.0;
    const char *label = c->label ? c->label : "";
    char tail[160] = "";
    if (rates) format_rates(tail, sizeof tail, c, elapsed_s);
    size_t pad = strlen(label) < label_width ? label_width - strlen(label) : 0;
    snprintf(out, outlen, "%s%*s%s%zu/%zu (%.0f%%)  cached %zu  ok %zu  failed %zu  retrying %zu%s",
             label, (int)pad, "", *label || pad ? "  " : "", done, c->total, pct, c->cached, c->ok,
             c->failed, c->retrying, tail);
}

void progress_format(char *out, size_t outlen, const char *label, size_t done, size_t total,
                     size_t failed, size_t retrying, int64_t tokens, double elapsed_s)
{
    progress_counts c = {label, total, 0, done > failed ? done - failed : 0, failed, retrying, tokens};
    progress_format_counts(out, outlen, &c, 0, 1, elapsed_s);
}

/* ---- drawing ---------------------------------------------------------------------------- */

static progress_counts task_counts(const task_state *t)
{
    return (progress_counts){t->name, t->total, t->cached, t->ok, t->failed, t->retrying, t->tokens};
}

static progress_counts overall(const progress *p)
{
    progress_counts c = {"all", 0, 0, 0, 0, 0, 0};
    for (size_t i = 0; i < p->n_tasks; i++) {
        const task_state *t = &p->tasks[i];
        c.total += t->total;
        c.cached += t->cached;
        c.ok += t->ok;
        c.failed += t->failed;
        c.retrying += t->retrying;
        c.tokens += t->tokens;
    }
    return c;
}

static size_t label_width(const progress *p)
{
    size_t w = 3; /* "all" */
    for (size_t i = 0; i < p->n_tasks; i++) {
        size_t k = p->tasks[i].name ? strlen(p->tasks[i].name) : 0;
        if (k > w) w = k;
    }
    return w > 40 ? 40 : w;
}

static int task_finished(const task_state *t)
{
    return t->cached + t->ok + t->failed >= t->total;
}

/* Terminal width, or 0 when unknown. */
static size_t term_width(FILE *out)
{
    struct winsize ws;
    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 0;
}

/* The lines to show: every task (plain, or few tasks), or the unfinished ones first. */
static void block_lines(progress *p, buf *lines, size_t *count, int all_tasks, double elapsed)
{
    char line[PROGRESS_LINE];
    size_t w = label_width(p), shown = 0;
    progress_counts c;
    if (p->n_tasks == 1) {
        c = task_counts(&p->tasks[0]);
        progress_format_counts(line, sizeof line, &c, 0, 1, elapsed);
        buf_puts(lines, line);
        buf_putc(lines, '\0');
        *count = 1;
        return;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < p->n_tasks; i++) {
            task_state *t = &p->tasks[i];
            if (task_finished(t) != pass || (!all_tasks && shown >= PROGRESS_MAX_TASK_LINES)) continue;
            c = task_counts(t);
            progress_format_counts(line, sizeof line, &c, w, 0, elapsed);
            buf_puts(lines, line);
            buf_putc(lines, '\0');
            shown++;
        }
    }
    if (shown < p->n_tasks) {
        snprintf(line, sizeof line, "... %zu more tasks", p->n_tasks - shown);
        buf_puts(lines, line);
        buf_putc(lines, '\0');
        shown++;
    }
    c = overall(p);
    progress_format_counts(line, sizeof line, &c, w, 1, elapsed);
    buf_puts(lines, line);
    buf_putc(lines, '\0');
    *count = shown + 1;
}

static void draw_tty(progress *p, double elapsed, int final)
{
    buf lines = {0};
    size_t count = 0, width = term_width(p->out);
    block_lines(p, &lines, &count, final, elapsed);
    if (p->last_lines > 1) fprintf(p->out, "\x1b[%zuA", p->last_lines - 1);
    fputc('\r', p->out);
    const char *s = lines.data;
    for (size_t i = 0; i < count; i++, s += strlen(s) + 1) {
        size_t len = strlen(s);
        if (width > 1 && len > width - 1) len = width - 1; /* never wrap */
        fprintf(p->out, "\x1b[2K%.*s%s", (int)len, s, i + 1 < count ? "\n" : "");
    }
    fputs(final ? "\x1b[J\n" : "\x1b[J", p->out);
    p->last_lines = count;
    buf_free(&lines);
}

static void draw_plain(progress *p, double elapsed, int final)
{
    char line[PROGRESS_LINE];
    size_t w = label_width(p);
    progress_counts c;
    for (size_t i = 0; p->n_tasks > 1 && i < p->n_tasks; i++) {
        task_state *t = &p->tasks[i];
        if (!final && !t->changed) continue;
        c = task_counts(t);
        progress_format_counts(line, sizeof line, &c, w, 0, elapsed);
        fprintf(p->out, "%s\n", line);
    }
    c = p->n_tasks == 1 ? task_counts(&p->tasks[0]) : overall(p);
    progress_format_counts(line, sizeof line, &c, p->n_tasks == 1 ? 0 : w, 1, elapsed);
    fprintf(p->out, "%s\n", line);
    for (size_t i = 0; i < p->n_tasks; i++) p->tasks[i].changed = 0;
}

static void draw(progress *p, double t, int final)
{
    if (p->n_tasks == 0) return;
    if (p->tty) draw_tty(p, t - p->start, final);
    else draw_plain(p, t - p->start, final);
    fflush(p->out);
    p->last_draw = t;
}

/* ---- the meter ---------------------------------------------------------------------------- */

progress *progress_open(FILE *out)
{
    progress *p = xcalloc(1, sizeof *p);
    const char *off = getenv("EVALLUA_NO_PROGRESS");
    p->out = out ? out : stderr;
    p->tty = isatty(fileno(p->out));
    p->silent = off && *off && strcmp(off, "0") != 0;
    p->start = p->last_draw = mono_seconds();
    return p;
}

int progress_add_task(progress *p, const char *name, size_t total)
{
    if (!p) return 0;
    p->tasks = xrealloc(p->tasks, (p->n_tasks + 1) * sizeof *p->tasks);
    task_state *t = &p->tasks[p->n_tasks];
    memset(t, 0, sizeof *t);
    t->name = name ? xstrdup(name) : NULL;
    t->total = total;
    return (int)p->n_tasks++;
}

static task_state *task_at(progress *p, int task)
{
    if (!p || p->n_tasks == 0) return NULL;
    if (task < 0 || (size_t)task >= p->n_tasks) task = 0;
    return &p->tasks[task];
}

void progress_cached(progress *p, int task, size_t n)
{
    task_state *t = task_at(p, task);
    if (!t) return;
    t->cached += n;
    t->changed = 1;
}

void progress_sending(progress *p, int task, size_t n)
{
    task_state *t = task_at(p, task);
    if (!t) return;
    t->cached = t->total > n ? t->total - n : 0;
    t->changed = 1;
}

void progress_settle(progress *p)
{
    for (size_t i = 0; p && i < p->n_tasks; i++) {
        task_state *t = &p->tasks[i];
        size_t answered = t->ok + t->failed;
        t->cached = t->total > answered ? t->total - answered : 0;
    }
}

size_t progress_tasks(const progress *p)
{
    return p ? p->n_tasks : 0;
}

void progress_result(progress *p, int task, int ok, int64_t tokens)
{
    task_state *t = task_at(p, task);
    if (!t) return;
    if (ok) t->ok++;
    else t->failed++;
    t->tokens += tokens;
    t->changed = 1;
}

void progress_retrying(progress *p, int task, int delta)
{
    task_state *t = task_at(p, task);
    if (!t || (delta < 0 && t->retrying < (size_t)-delta)) return;
    t->retrying = (size_t)((long long)t->retrying + delta);
    t->changed = 1;
}

void progress_tick(progress *p)
{
    if (!p || p->silent) return;
    double t = mono_seconds();
    double interval = p->tty ? PROGRESS_TTY_INTERVAL : PROGRESS_LOG_INTERVAL;
    if (t - p->last_draw >= interval) draw(p, t, 0);
}

progress *progress_new(const char *label, size_t total, FILE *out)
{
    progress *p = progress_open(out);
    progress_add_task(p, label, total);
    return p;
}

void progress_update(progress *p, size_t done, size_t failed, size_t retrying, int64_t tokens)
{
    task_state *t = task_at(p, 0);
    if (!t) return;
    t->failed = failed;
    t->ok = done > failed ? done - failed : 0;
    t->retrying = retrying;
    t->tokens = tokens;
    t->changed = 1;
    progress_tick(p);
}

void progress_finish(progress *p)
{
    if (!p || p->silent) return;
    draw(p, mono_seconds(), 1);
    p->silent = 1;
}

void progress_free(progress *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n_tasks; i++) free(p->tasks[i].name);
    free(p->tasks);
    free(p);
}
