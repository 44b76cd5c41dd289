/* pull_progress.c — progress of a pull on stderr, one line per split and an overall line:
 *
 *   allenai/ai2_arc/ARC-Easy/test   12/24 pages (50%)  1200/2376 rows  resumed 3  retrying 1
 *   all                             40/60 pages (67%)  4000/5983 rows  12.5 pages/s  elapsed 00:03  ETA 00:02
 *
 * As the run's meter (core/report/progress.h): on a terminal the block is redrawn in place
 * at most 10 times a second (unfinished splits first, at most PULL_METER_LINES of them);
 * elsewhere the block is printed at most every 10 s and once at the end; nothing at all with
 * EVALLUA_NO_PROGRESS set to anything but "" or "0". */
#include "pull_internal.h"
#include "util/clock.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PULL_METER_LINES 8

struct pull_meter {
    FILE *out;
    int tty;
    double start, last;
    size_t last_lines; /* lines of the block drawn last (terminal) */
    int started;
};

pull_meter *pull_meter_open(int on)
{
    const char *off = getenv("EVALLUA_NO_PROGRESS");
    if (!on || (off && *off && strcmp(off, "0") != 0)) return NULL;
    pull_meter *m = xcalloc(1, sizeof *m);
    m->out = stderr;
    m->tty = isatty(fileno(stderr));
    m->start = mono_seconds();
    return m;
}

void pull_meter_free(pull_meter *m)
{
    free(m);
}

static void clock_text(char *out, size_t n, double s)
{
    long t = s > 0 && s < 1e9 ? (long)(s + 0.5) : 0;
    if (t >= 3600) snprintf(out, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else snprintf(out, n, "%02ld:%02ld", t / 60, t % 60);
}

/* One split's line into b. */
static void split_line(buf *b, const pull_state *sp, int width)
{
    buf_printf(b, "%-*s  ", width, sp->label);
    const pull_split *o = sp->out;
    if (sp->phase == PHASE_SKIP) {
        buf_puts(b, "present\n");
        return;
    }
    if (!sp->have) { /* the size is not known yet */
        buf_puts(b, sp->phase == PHASE_DONE ? (o->status == PULL_FAILED ? "failed\n" : "interrupted\n")
                                            : "asking for the size...\n");
        return;
    }
    double pct = sp->n_pages ? 100.0 * (double)sp->pages_done / (double)sp->n_pages : 100.0;
    buf_printf(b, "%zu/%zu pages (%.0f%%)  %zu/%zu rows", sp->pages_done, sp->n_pages, pct,
               sp->rows_done, sp->want);
    if (o->pages_resumed) buf_printf(b, "  resumed %zu", o->pages_resumed);
    if (sp->retrying) buf_printf(b, "  retrying %zu", sp->retrying);
    if (sp->phase == PHASE_DONE && o->status == PULL_FAILED) buf_puts(b, "  failed");
    buf_putc(b, '\n');
}

/* The overall line into b. */
static void total_line(buf *b, const pull_meter *m, const pull_state *sp, size_t n, int width)
{
    size_t pages = 0, total = 0, rows = 0, want = 0, resumed = 0;
    for (size_t i = 0; i < n; i++) {
        if (sp[i].phase == PHASE_SKIP) continue;
        pages += sp[i].pages_done;
        total += sp[i].n_pages;
        rows += sp[i].rows_done;
        want += sp[i].want;
        resumed += sp[i].out->pages_resumed;
    }
    double el = mono_seconds() - m->start, rate = el > 0.001 ? (double)(pages - resumed) / el : 0;
    char elapsed[24], eta[24];
    clock_text(elapsed, sizeof elapsed, el);
    if (pages >= total) snprintf(eta, sizeof eta, "00:00");
    else if (rate <= 0) snprintf(eta, sizeof eta, "--:--");
    else clock_text(eta, sizeof eta, (double)(total - pages) / rate);
    double pct = total ? 100.0 * (double)pages / (double)total : 100.0;
    buf_printf(b, "%-*s  %zu/%zu pages (%.0f%%)  %zu/%zu rows  %.1f pages/s  elapsed %s  ETA %s\n",
               width, "all", pages, total, pct, rows, want, rate, elapsed, eta);
}

/* The whole block; *lines gets its line count. */
static void block(buf *b, const pull_meter *m, const pull_state *sp, size_t n, size_t *lines)
{
    int width = 3;
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(sp[i].label) > width) width = (int)strlen(sp[i].label);
    size_t shown = 0;
    for (int pass = 0; pass < 2; pass++) /* unfinished splits first */
        for (size_t i = 0; i < n; i++) {
            int finished = sp[i].phase == PHASE_DONE || sp[i].phase == PHASE_SKIP;
            if (finished != pass || (m->tty && shown >= PULL_METER_LINES)) continue;
            split_line(b, &sp[i], width);
            shown++;
        }
    if (shown < n) buf_printf(b, "... %zu more splits\n", n - shown);
    if (n > 1) total_line(b, m, sp, n, width);
    *lines = shown + (shown < n) + (n > 1);
}

void pull_meter_tick(pull_meter *m, const pull_state *splits, size_t n, int final)
{
    if (!m || n == 0) return;
    double t = mono_seconds();
    if (!final && (t - m->last) < (m->tty ? 0.1 : 10.0)) return;
    if (!final && !m->tty && !m->started) { /* a log gets its first block after 10 s */
        m->started = 1;
        m->last = t;
        return;
    }
    m->last = t;
    buf b = {0};
    if (m->tty)
        for (size_t i = 0; i < m->last_lines; i++) buf_puts(&b, "\033[1A\033[2K");
    size_t lines;
    block(&b, m, splits, n, &lines);
    m->last_lines = lines;
    fputs(buf_str(&b), m->out);
    fflush(m->out);
    buf_free(&b);
}
