/* progress.h — progress of long batches (HTTP requests, native inference) on stderr, per task
 * and overall:
 *
 *   gsm8k      812/1319 (62%)  cached 100  ok 710  failed 2  retrying 3
 *   hellaswag  400/4000 (10%)  cached 0  ok 400  failed 0  retrying 0
 *   all        1212/5319 (23%)  cached 100  ok 1110  failed 2  retrying 3  5623 req/min  6789 tok/s  elapsed 00:12  ETA 00:44
 *
 * done = cached + ok + failed. req/min counts the requests answered by the backend (not the
 * cached ones) over the elapsed time; tok/s is prompt + completion tokens per second; ETA is
 * what is left at that request rate ("--:--" before the first answer). A meter with a single
 * task prints only that task's line, with the rates. Times over an hour read H:MM:SS.
 *
 * On a terminal the block is redrawn in place at most 10 times a second (ANSI cursor-up and
 * clear-line; at most PROGRESS_MAX_TASK_LINES task lines, unfinished tasks first, then a
 * "... N more tasks" line) and left in its final state by progress_finish. Elsewhere (a log
 * file, a pipe) plain lines are printed at most every 10 s — the tasks that changed since the
 * last print, then the overall line — and the whole block once by progress_finish. With
 * EVALLUA_NO_PROGRESS set to anything but "" or "0", nothing is printed. Every function
 * accepts NULL. Not thread-safe: one thread reports. */
#ifndef EVALLUA_REPORT_PROGRESS_H
#define EVALLUA_REPORT_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PROGRESS_MAX_TASK_LINES 8

typedef struct progress progress;

/* The counters of one line. */
typedef struct progress_counts {
    const char *label;   /* task name, or the overall label; may be NULL */
    size_t total, cached, ok, failed, retrying;
    int64_t tokens;      /* prompt + completion tokens so far */
} progress_counts;

/* An empty meter writing to out (stderr when NULL); add tasks with progress_add_task. */
progress *progress_open(FILE *out);
/* Add a task of total requests (the name is copied); returns its id (0, 1, ...). */
int progress_add_task(progress *p, const char *name, size_t total);
/* n requests of task were answered from a cache (they count as done at once). */
void progress_cached(progress *p, int task, size_t n);
/* n of task's requests go to the backend: the rest of its total were answered from a cache
   (sets the cached count to total - n). */
void progress_sending(progress *p, int task, size_t n);
/* Everything of every task not reported as ok or failed was answered from a cache (for a
   caller that learns it only at the end). */
void progress_settle(progress *p);
/* Number of tasks. */
size_t progress_tasks(const progress *p);
/* One request of task is final: ok (1) or failed (0); tokens it used. */
void progress_result(progress *p, int task, int ok, int64_t tokens);
/* Requests of task waiting to be tried again: add delta (+1 when one starts waiting, -1 when
   it is final). */
void progress_retrying(progress *p, int task, int delta);
/* Draw if it is time to (see above). */
void progress_tick(progress *p);

/* A meter with one task of total items named label (may be NULL); the older interface, used
   by backends that report absolute counts. Free with progress_free. */
progress *progress_new(const char *label, size_t total, FILE *out);
/* Set the single task's counts (done includes failed; tokens is a running total); may draw. */
void progress_update(progress *p, size_t done, size_t failed, size_t retrying, int64_t tokens);

/* Draw the final state once (ending the terminal block); later calls print nothing. */
void progress_finish(progress *p);
/* Release the meter (does not close out). */
void progress_free(progress *p);

/* Format one line into out (at most outlen bytes, NUL-terminated): the label padded to
   label_width, the counts, and with rates also req/min, tok/s, elapsed and ETA. The meter
   uses it; tests call it directly. */
void progress_format_counts(char *out, size_t outlen, const progress_counts *c, size_t label_width,
                            int rates, double elapsed_s);
/* The single-task line of the older interface (done includes failed). */
void progress_format(char *out, size_t outlen, const char *label, size_t done, size_t total,
                     size_t failed, size_t retrying, int64_t tokens, double elapsed_s);

#endif
