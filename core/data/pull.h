/* pull.h — `evallua data pull`: download dataset splits from the Hugging Face
 * datasets-server JSON rows API into the hub layout dataset.h reads,
 * <data-dir>/<dataset id>/<config>/<split>.jsonl (one `row` object per line, in row_idx
 * order).
 *
 * Pages of PULL_PAGE_ROWS rows (GET {endpoint}/rows?dataset=&config=&split=&offset=&length=)
 * are fetched concurrently through the HTTP transport (core/http/transport.h). Each page is
 * written, as soon as it arrives, to its own file in <split>.jsonl.pull/ next to the target
 * (with meta.json: the split's num_rows_total), each file written under a temporary name and
 * renamed; when every page is there they are joined into <split>.jsonl.tmp, which is renamed
 * to <split>.jsonl, and the .pull folder is removed. A pull that was killed resumes from the
 * pages on disk. 5xx, 429 and connection errors are retried with exponential back-off
 * (Retry-After honoured); any other 4xx fails that split with the URL and the server's
 * message. Not thread-safe: one caller runs one pull at a time. */
#ifndef EVALLUA_DATA_PULL_H
#define EVALLUA_DATA_PULL_H

#include <stddef.h>
#include <stdio.h>

#define PULL_PAGE_ROWS 100 /* rows per request: the API's maximum `length` */

/* What became of one split. */
typedef enum pull_status {
    PULL_FETCHED = 0,  /* written now */
    PULL_PRESENT,      /* a complete file was already there (not fetched again) */
    PULL_FAILED,       /* see error */
    PULL_INTERRUPTED   /* stopped by SIGINT/SIGTERM; the pages on disk are kept */
} pull_status;

/* One split to fetch; the caller fills the first three fields, pull_run the rest. */
typedef struct pull_split {
    const char *dataset;   /* Hugging Face dataset id, e.g. "allenai/ai2_arc" */
    const char *config;    /* config name; NULL or "" means "default" */
    const char *split;     /* split name, e.g. "test" */
    pull_status status;
    char *path;            /* the data file (malloc'd, owned by the split; pull_split_free) */
    char *error;           /* why it failed (malloc'd), or NULL */
    size_t rows;           /* rows in the file written */
    size_t rows_total;     /* num_rows_total of the split (0 when never learnt) */
    size_t pages;          /* pages the file needs */
    size_t pages_resumed;  /* pages found on disk from an earlier pull */
    size_t pages_done;     /* pages on disk when the pull ended (resumed ones included) */
    size_t requests;       /* HTTP requests sent for it (retries included) */
    size_t truncated_rows; /* rows whose truncated_cells was not empty */
    int partial;           /* the API said "partial": true (it serves only part of the split) */
} pull_split;

typedef struct pull_opts {
    const char *data_dir;  /* root of the hub layout */
    const char *endpoint;  /* API root, e.g. "https://datasets-server.huggingface.co" */
    const char *token;     /* sent as "Authorization: Bearer"; NULL: none. Never printed. */
    size_t limit_rows;     /* > 0: only the first limit_rows rows of each split */
    int force;             /* fetch again even when a complete file is present */
    int concurrency;       /* requests in flight at most */
    int max_retries;       /* attempts after the first, per page */
    double timeout_s;      /* per request */
    double retry_base_s;   /* first back-off; doubles per attempt, at most 60 s */
    int progress;          /* show progress on stderr (EVALLUA_NO_PROGRESS still wins) */
    FILE *warn;            /* warnings (truncated cells, partial splits); stderr when NULL */
} pull_opts;

/* Defaults: concurrency 16, 6 retries, 60 s timeout, 0.5 s back-off, progress on. */
void pull_opts_init(pull_opts *o);

/* Fetch every split of splits[0..n) (duplicates are the caller's to avoid). Returns 0 when the
   run could be made (each split's status says how it went), or -1 with err filled when it
   could not start (no transport, bad endpoint). */
int pull_run(const pull_opts *o, pull_split *splits, size_t n, char *err, size_t errlen);

/* Free what pull_run stored in s (path, error). */
void pull_split_free(pull_split *s);

/* ---- pages (pull_page.c) ---------------------------------------------------------------- */

/* One parsed page of the rows API. */
typedef struct pull_page {
    long long total;      /* num_rows_total, -1 when absent */
    size_t n_rows;        /* rows in the page */
    long long first_idx;  /* row_idx of the first row */
    int partial;          /* "partial": true */
    size_t truncated;     /* rows with a non-empty truncated_cells */
    char *lines;          /* the rows, one JSON object per line, each ending "\n" (malloc'd) */
    size_t lines_len;
} pull_page;

/* Parse a 200 body of /rows whose first row should be offset: fills page (free with
   pull_page_free) and returns 0, or -1 with err saying what is wrong (not JSON, no rows
   array, a row_idx out of sequence). Each row is written as the server sent it (its exact
   bytes), or re-printed compactly when the server's text spans lines. */
int pull_page_parse(const char *body, size_t len, size_t offset, pull_page *page, char *err,
                    size_t errlen);
/* Release the page's lines. */
void pull_page_free(pull_page *page);
/* The server's message in an error body: {"error": "..."} (or {"error": {"message": ...}}),
   else the body's first bytes, printable; malloc'd. */
char *pull_server_message(const char *body, size_t len);

#endif
