/* progress.h — a one-line progress meter for long batches (HTTP requests, native inference).
 *
 *   label  done/total (pct%)  failed F  retrying R  N req/min  T tok/s  elapsed MM:SS  ETA MM:SS
 *
 * On a terminal the line is redrawn in place with '\r' at most 10 times a second and ended
 * with a newline by progress_finish. Elsewhere (a log file, a pipe) a plain line is printed at
 * most every 10 s, plus one by progress_finish. With EVALLUA_NO_PROGRESS set to anything but
 * "" or "0", nothing is printed. Times over an hour read H:MM:SS. Every function accepts NULL. */
#ifndef EVALLUA_REPORT_PROGRESS_H
#define EVALLUA_REPORT_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct progress progress;

/* Start a meter for total items written to out (stderr when NULL); label may be NULL.
   The label is copied. Free with progress_free. */
progress *progress_new(const char *label, size_t total, FILE *out);
/* Report the current counts (done includes failed; tokens is a running total); may draw. */
void progress_update(progress *p, size_t done, size_t failed, size_t retrying, int64_t tokens);
/* Draw the final state once (ending the terminal line); later updates print nothing. */
void progress_finish(progress *p);
/* Release the meter (does not close out). */
void progress_free(progress *p);

/* Format the line for the given state into out (at most outlen bytes, NUL-terminated); the
   meter uses it, tests call it directly. */
void progress_format(char *out, size_t outlen, const char *label, size_t done, size_t total,
                     size_t failed, size_t retrying, int64_t tokens, double elapsed_s);

#endif
