/* pull_internal.h — what pull.c, pull_files.c and pull_progress.c share: the state of one
 * split during a pull. */
#ifndef EVALLUA_DATA_PULL_INTERNAL_H
#define EVALLUA_DATA_PULL_INTERNAL_H

#include "pull.h"

#include "util/buf.h"

typedef enum split_phase {
    PHASE_SKIP,    /* nothing to do (present) */
    PHASE_PROBE,   /* total unknown: page 0 goes first */
    PHASE_PROBING, /* page 0 in flight */
    PHASE_RUN,     /* total known: pages go out */
    PHASE_DONE,    /* finished: fetched, failed or interrupted */
} split_phase;

typedef struct pull_state {
    pull_split *out;
    const char *config;    /* "default" when none */
    char *label;           /* "id/config/split" */
    char *final_path;      /* <dir>/<id>/<config>/<split>.jsonl */
    char *part_dir;        /* final_path + ".pull" */
    char *base_url;        /* {endpoint}/rows?dataset=..&config=..&split=.. */
    split_phase phase;
    size_t total;          /* num_rows_total */
    size_t want;           /* rows to write: total, or fewer with --limit-rows */
    size_t n_pages;        /* pages holding the first `want` rows */
    unsigned char *have;   /* per page: 0 to fetch, 1 in flight or waiting, 2 on disk */
    size_t next_page;      /* the first page not yet handed out */
    size_t pages_done;     /* on disk (resumed ones included) */
    size_t rows_done;      /* of want */
    size_t retrying;       /* pages waiting to be tried again */
    int not_found;         /* /rows answered 404 */
} pull_state;

/* Append s percent-encoded for a query value (unreserved characters and '/' kept). */
void pull_url_escape(buf *b, const char *s);
/* After a 404: add to the split's error the configs and splits /splits lists for its dataset
   (nothing when that request fails too). */
void pull_explain_not_found(const pull_opts *o, pull_state *sp);

/* mkdir -p; 0, or -1 with err naming the folder. */
int pull_mkdir_p(const char *path, char *err, size_t errlen);
/* Write data to path through path.tmp and rename (fsync first when sync); 0 or -1 with err. */
int pull_write_atomic(const char *path, const char *data, size_t len, int sync, char *err,
                      size_t errlen);
/* The file of page `page` (malloc'd). */
char *pull_page_path(const pull_state *sp, size_t page);
/* Write meta.json (creating the .pull folder); 0 or -1 with err. */
int pull_meta_write(const pull_state *sp, char *err, size_t errlen);
/* num_rows_total from meta.json when it describes this split, else -1. */
long long pull_meta_read(const pull_state *sp);
/* Remove the .pull folder's own files and the folder. */
void pull_part_remove(const pull_state *sp);
/* Join the pages into final_path (atomically), set out->rows; remove the .pull folder when
   the whole split was written. 0, or -1 with err. */
int pull_assemble(pull_state *sp, char *err, size_t errlen);

/* ---- progress (pull_progress.c) ---------------------------------------------------------- */

typedef struct pull_meter pull_meter;

/* A meter on stderr, or NULL when progress is off (EVALLUA_NO_PROGRESS, or on == 0). */
pull_meter *pull_meter_open(int on);
/* Draw when it is time to (final: once more, for the last time). */
void pull_meter_tick(pull_meter *m, const pull_state *splits, size_t n, int final);
/* Release it (NULL is fine). */
void pull_meter_free(pull_meter *m);

#endif
