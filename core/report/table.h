/* table.h — the results table printed at the end of a run, in lm-eval's Markdown layout:
 *
 *   |  Tasks  |Version|     Filter     |n-shot|  Metric   |   |Value |   |Stderr|
 *   |---------|------:|----------------|-----:|-----------|---|-----:|---|-----:|
 *   |gsm8k    |      3|flexible-extract|     5|exact_match|↑  |0.5000|±  |0.1581|
 */
#ifndef EVALLUA_REPORT_TABLE_H
#define EVALLUA_REPORT_TABLE_H

#include "util/buf.h"

typedef struct table_row {
    const char *task;     /* repeated task names are left blank by the caller */
    const char *version;
    const char *filter;
    const char *n_shot;
    const char *metric;
    const char *arrow;    /* "↑", "↓" or "" */
    const char *value;    /* formatted, e.g. "0.5000" */
    const char *stderr_;  /* formatted, or "N/A" */
} table_row;

/* Append the whole table (header, rule, rows) to out; first_header names the first column
   ("Tasks" when NULL, "Groups" for group rows). Column widths count UTF-8 code points. */
void table_render(const table_row *rows, size_t n, const char *first_header, buf *out);

#endif
