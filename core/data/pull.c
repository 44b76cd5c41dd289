/* pull.c — the pull loop (see pull.h): pages go out through the transport's slots, finished
 * transfers are drained and acted on (page written, retried later, or the split failed), as
 * in curl's multi examples; a split whose size is unknown sends its first page alone. */
#include "pull_internal.h"
#include "util/clock.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "data/dataset.h"
#include "http/transport.h"
#include "request/request.h"

#define PULL_POLL_MS 200         /* longest network wait, so Ctrl-C is seen */
#define PULL_MAX_BACKOFF_S 60.0

/* One page request: waiting to be sent again (in the retry list) or in flight. */
typedef struct page_job {
    size_t split, page;
    int attempt;  /* attempts made so far */
    double ready; /* when it may be sent again */
} page_job;

typedef struct pull_run_state {
    const pull_opts *o;
    pull_state *sp;
    size_t n;
    transport *t;
    page_job **retry; /* waiting jobs */
    size_t n_retry, cap_retry;
    size_t finished;  /* splits in PHASE_DONE or PHASE_SKIP */
} pull_run_state;

void pull_opts_init(pull_opts *o)
{
    memset(o, 0, sizeof *o);
    o->concurrency = 16;
    o->max_retries = 6;
    o->timeout_s = 60;
    o->retry_base_s = 0.5;
    o->progress = 1;
}

void pull_split_free(pull_split *s)
{
    free(s->path);
    free(s->error);
    s->path = s->error = NULL;
}

/* ---- setting up a split ------------------------------------------------------------------ */

void pull_url_escape(buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            strchr("-._~/", c))
            buf_putc(b, (char)c);
        else buf_printf(b, "%%%02X", c);
    }
}

static void state_init(pull_state *sp, pull_split *s, const pull_opts *o)
{
    memset(sp, 0, sizeof *sp);
    sp->out = s;
    sp->config = s->config && *s->config ? s->config : "default";
    buf b = {0};
    buf_printf(&b, "%s/%s/%s", s->dataset, sp->config, s->split);
    sp->label = buf_steal(&b);
    size_t dlen = strlen(o->data_dir);
    while (dlen > 1 && o->data_dir[dlen - 1] == '/') dlen--;
    buf_printf(&b, "%.*s/%s.jsonl", (int)dlen, o->data_dir, sp->label);
    sp->final_path = buf_steal(&b);
    buf_printf(&b, "%s.pull", sp->final_path);
    sp->part_dir = buf_steal(&b);
    size_t elen = strlen(o->endpoint);
    while (elen > 0 && o->endpoint[elen - 1] == '/') elen--;
    buf_printf(&b, "%.*s/rows?dataset=", (int)elen, o->endpoint);
    pull_url_escape(&b, s->dataset);
    buf_puts(&b, "&config=");
    pull_url_escape(&b, sp->config);
    buf_puts(&b, "&split=");
    pull_url_escape(&b, s->split);
    sp->base_url = buf_steal(&b);
    s->status = PULL_FETCHED;
    s->path = xstrdup(sp->final_path);
}

static void state_free(pull_state *sp)
{
    free(sp->label);
    free(sp->final_path);
    free(sp->part_dir);
    free(sp->base_url);
    free(sp->have);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void finish_split(pull_run_state *st, pull_state *sp, pull_status status, const char *why)
{
    if (sp->phase == PHASE_DONE || sp->phase == PHASE_SKIP) return;
    sp->phase = PHASE_DONE;
    sp->out->status = status;
    if (why && !sp->out->error) sp->out->error = xstrdup(why);
    st->finished++;
}

/* The size is known: work out the pages needed and which are on disk already. */
static void set_total(pull_state *sp, size_t total, size_t limit)
{
    sp->total = total;
    sp->out->rows_total = total;
    sp->want = limit && limit < total ? limit : total;
    sp->n_pages = (sp->want + PULL_PAGE_ROWS - 1) / PULL_PAGE_ROWS;
    sp->out->pages = sp->n_pages;
    free(sp->have);
    sp->have = xcalloc(sp->n_pages ? sp->n_pages : 1, 1);
    sp->phase = PHASE_RUN;
}

/* The split's rows in pages [0, page]: its share of `want`. */
static size_t page_rows(const pull_state *sp, size_t page)
{
    size_t first = page * PULL_PAGE_ROWS;
    size_t end = first + PULL_PAGE_ROWS < sp->want ? first + PULL_PAGE_ROWS : sp->want;
    return end > first ? end - first : 0;
}

static void page_stored(pull_state *sp, size_t page)
{
    sp->have[page] = 2;
    sp->pages_done++;
    sp->rows_done += page_rows(sp, page);
}

/* All pages on disk: write the file. */
static void try_assemble(pull_run_state *st, pull_state *sp)
{
    if (sp->phase != PHASE_RUN || sp->pages_done < sp->n_pages) return;
    char err[1024];
    if (pull_assemble(sp, err, sizeof err) != 0) finish_split(st, sp, PULL_FAILED, err);
    else finish_split(st, sp, PULL_FETCHED, NULL);
}

/* Decide what a split needs before anything is sent: present, resumable, or new. */
static void plan_split(pull_run_state *st, pull_state *sp)
{
    const pull_opts *o = st->o;
    char found[4096], err[1024];
    int complete = !is_dir(sp->part_dir) &&
                   dataset_find(o->data_dir, sp->out->dataset, sp->config, sp->out->split, found,
                                sizeof found, err, sizeof err) == 0;
    if (complete && !o->force) {
        free(sp->out->path);
        sp->out->path = xstrdup(found);
        sp->out->status = PULL_PRESENT;
        sp->phase = PHASE_SKIP;
        st->finished++;
        return;
    }
    long long total = o->force ? -1 : pull_meta_read(sp);
    if (total < 0) {
        pull_part_remove(sp); /* stale or forced: start afresh */
        sp->phase = PHASE_PROBE;
        return;
    }
    set_total(sp, (size_t)total, o->limit_rows);
    for (size_t i = 0; i < sp->n_pages; i++) {
        char *path = pull_page_path(sp, i);
        if (is_file(path)) {
            page_stored(sp, i);
            sp->out->pages_resumed++;
        }
        free(path);
    }
    try_assemble(st, sp);
}

/* ---- sending ----------------------------------------------------------------------------- */

static int start_job(pull_run_state *st, page_job *j)
{
    pull_state *sp = &st->sp[j->split];
    xfer *x = transport_acquire(st->t);
    if (!x) return -1;
    buf url = {0};
    buf_printf(&url, "%s&offset=%zu&length=%d", sp->base_url, j->page * PULL_PAGE_ROWS, PULL_PAGE_ROWS);
    char err[512];
    x->owner = j;
    j->attempt++;
    sp->out->requests++;
    if (transport_start_get(st->t, x, url.data, err, sizeof err) != 0) {
        finish_split(st, sp, PULL_FAILED, err);
        free(j);
    }
    buf_free(&url);
    return 0;
}

/* The first waiting job that is due (removed from the list), or NULL; *next_due: the earliest
   time one is. */
static page_job *take_due(pull_run_state *st, double now, double *next_due)
{
    for (size_t i = 0; i < st->n_retry; i++) {
        page_job *j = st->retry[i];
        if (j->ready <= now) {
            st->retry[i] = st->retry[--st->n_retry];
            st->sp[j->split].retrying--;
            return j;
        }
        if (*next_due < 0 || j->ready < *next_due) *next_due = j->ready;
    }
    return NULL;
}

static page_job *job_new(size_t split, size_t page)
{
    page_job *j = xcalloc(1, sizeof *j);
    j->split = split;
    j->page = page;
    return j;
}

/* A new job for the next page some split needs, or NULL: first the first page of every split
   whose size is unknown (so all sizes are known early), then the other pages in order. */
static page_job *next_fresh(pull_run_state *st)
{
    for (size_t s = 0; s < st->n; s++)
        if (st->sp[s].phase == PHASE_PROBE) {
            st->sp[s].phase = PHASE_PROBING;
            return job_new(s, 0);
        }
    for (size_t s = 0; s < st->n; s++) {
        pull_state *sp = &st->sp[s];
        if (sp->phase != PHASE_RUN) continue;
        while (sp->next_page < sp->n_pages && sp->have[sp->next_page]) sp->next_page++;
        if (sp->next_page == sp->n_pages) continue;
        sp->have[sp->next_page] = 1;
        return job_new(s, sp->next_page);
    }
    return NULL;
}

/* Fill free slots; returns the earliest time a waiting job is due (-1: none waiting). */
static double start_more(pull_run_state *st)
{
    double now = mono_seconds(), next_due = -1;
    while (transport_busy(st->t) < st->o->concurrency) {
        page_job *j = take_due(st, now, &next_due);
        if (!j) j = next_fresh(st);
        if (!j) break;
        if (st->sp[j->split].phase == PHASE_DONE) {
            free(j);
            continue;
        }
        start_job(st, j);
    }
    return next_due;
}

/* ---- results ----------------------------------------------------------------------------- */

static void schedule_retry(pull_run_state *st, page_job *j, double retry_after, const char *why)
{
    pull_state *sp = &st->sp[j->split];
    if (j->attempt > st->o->max_retries) {
        char msg[1400];
        snprintf(msg, sizeof msg, "%s (gave up after %d attempts)", why, j->attempt);
        finish_split(st, sp, PULL_FAILED, msg);
        free(j);
        return;
    }
    double wait = st->o->retry_base_s * pow(2.0, j->attempt - 1);
    if (wait > PULL_MAX_BACKOFF_S) wait = PULL_MAX_BACKOFF_S;
    if (retry_after > wait) wait = retry_after < 600 ? retry_after : 600;
    j->ready = mono_seconds() + wait;
    if (st->n_retry == st->cap_retry) {
        st->cap_retry = st->cap_retry ? 2 * st->cap_retry : 32;
        st->retry = xrealloc(st->retry, st->cap_retry * sizeof *st->retry);
    }
    st->retry[st->n_retry++] = j;
    sp->retrying++;
}

/* A 4xx other than 429: the split fails with the URL, the server's words and a hint. */
static void client_error(pull_run_state *st, pull_state *sp, long status, const char *url,
                         const xfer *x)
{
    char *server = pull_server_message(x->resp.data ? x->resp.data : "", x->resp.len);
    buf msg = {0};
    buf_printf(&msg, "HTTP %ld from %s: %s", status, url, server);
    if (status == 401 || status == 403)
        buf_puts(&msg, st->o->token ? " (HF_TOKEN was sent; does it have access to this dataset?)"
                                    : " (a gated or private dataset needs HF_TOKEN set to a token with access)");
    else if (status == 404)
        sp->not_found = 1;
    finish_split(st, sp, PULL_FAILED, msg.data);
    buf_free(&msg);
    free(server);
}

/* The first page told the size: record it (meta.json) and queue the rest. */
static int learn_total(pull_run_state *st, pull_state *sp, size_t total)
{
    char err[1024];
    set_total(sp, total, st->o->limit_rows);
    if (sp->n_pages) sp->have[0] = 1;
    if (pull_meta_write(sp, err, sizeof err) != 0) {
        finish_split(st, sp, PULL_FAILED, err);
        return -1;
    }
    return 0;
}

/* A 200 reply: check it, write the page. */
static void page_ok(pull_run_state *st, page_job *j, const char *url, const xfer *x)
{
    pull_state *sp = &st->sp[j->split];
    pull_page page;
    char err[1024], why[1400];
    size_t offset = j->page * PULL_PAGE_ROWS;
    if (pull_page_parse(x->resp.data ? x->resp.data : "", x->resp.len, offset, &page, err, sizeof err) != 0) {
        snprintf(why, sizeof why, "bad reply from %s: %s", url, err);
        schedule_retry(st, j, -1, why);
        return;
    }
    if (sp->phase == PHASE_PROBING && learn_total(st, sp, (size_t)page.total) != 0) goto done;
    if ((size_t)page.total != sp->total) {
        snprintf(why, sizeof why, "%s now reports num_rows_total %lld, but the pull began with %zu "
                 "(the dataset changed?): rerun with --force", url, page.total, sp->total);
        finish_split(st, sp, PULL_FAILED, why);
        goto done;
    }
    size_t expect = sp->total - offset < PULL_PAGE_ROWS ? sp->total - offset : PULL_PAGE_ROWS;
    if (page.n_rows != expect) {
        snprintf(why, sizeof why, "%s returned %zu rows, expected %zu", url, page.n_rows, expect);
        pull_page_free(&page);
        schedule_retry(st, j, -1, why);
        return;
    }
    char *path = pull_page_path(sp, j->page);
    int rc = pull_write_atomic(path, page.lines, page.lines_len, 0, err, sizeof err);
    free(path);
    if (rc != 0) {
        finish_split(st, sp, PULL_FAILED, err);
        goto done;
    }
    sp->out->truncated_rows += page.truncated;
    if (page.partial) sp->out->partial = 1;
    if (sp->n_pages) page_stored(sp, j->page);
    try_assemble(st, sp);
done:
    pull_page_free(&page);
    free(j);
}

/* Act on one finished transfer. */
static void on_done(pull_run_state *st, xfer *x, CURLcode cc)
{
    page_job *j = x->owner;
    pull_state *sp = &st->sp[j->split];
    /* the page's URL: a plain-HTTP transfer has no easy handle to ask (http/transport.h) */
    const char *url = transport_url(x);
    char why[1400];
    long status = transport_status(x);
    if (sp->phase == PHASE_DONE) {
        free(j);
    } else if (cc != CURLE_OK) {
        snprintf(why, sizeof why, "request to %s failed: %s", url ? url : sp->base_url,
                 x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc));
        if (cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL || x->too_big) {
            finish_split(st, sp, PULL_FAILED, why);
            free(j);
        } else {
            schedule_retry(st, j, -1, why);
        }
    } else if (status == 200) {
        page_ok(st, j, url ? url : sp->base_url, x);
    } else if (status == 429 || status >= 500) {
        char *server = pull_server_message(x->resp.data ? x->resp.data : "", x->resp.len);
        snprintf(why, sizeof why, "HTTP %ld from %s: %s", status, url ? url : sp->base_url, server);
        free(server);
        schedule_retry(st, j, x->retry_after, why);
    } else {
        client_error(st, sp, status, url ? url : sp->base_url, x);
        free(j);
    }
    transport_release(st->t, x);
}

/* ---- the loop ---------------------------------------------------------------------------- */

static int run_loop(pull_run_state *st, pull_meter *meter, char *err, size_t errlen)
{
    while (st->finished < st->n) {
        if (backend_interrupted) return 1;
        double due = start_more(st);
        int wait_ms = PULL_POLL_MS;
        if (transport_busy(st->t) == 0) {
            if (due < 0) /* nothing in flight or waiting, yet a split is unsettled: a bug */
                return errf(err, errlen, "the pull stopped with nothing left to send");
            double left = (due - mono_seconds()) * 1000.0;
            wait_ms = left < 0 ? 0 : left < PULL_POLL_MS ? (int)left + 1 : PULL_POLL_MS;
        }
        if (transport_wait(st->t, wait_ms, err, errlen) != 0) return -1;
        CURLcode cc;
        xfer *x;
        while ((x = transport_done(st->t, &cc)) != NULL) on_done(st, x, cc);
        pull_meter_tick(meter, st->sp, st->n, 0);
    }
    return 0;
}

int pull_run(const pull_opts *o, pull_split *splits, size_t n, char *err, size_t errlen)
{
    if (!o->endpoint || strncmp(o->endpoint, "http", 4) != 0)
        return errf(err, errlen, "the rows API endpoint must be an http(s) URL, got '%s'",
                    o->endpoint ? o->endpoint : "");
    transport_opts to = {.slots = o->concurrency > 0 ? o->concurrency : 1, .timeout_s = o->timeout_s,
                         .connect_timeout_s = 15, .user_agent = "evallua/" EVALLUA_VERSION " (data pull)",
                         .api_key = o->token && *o->token ? o->token : NULL};
    pull_run_state st = {.o = o, .n = n};
    st.t = transport_new(&to, err, errlen);
    if (!st.t) return -1;
    st.sp = xcalloc(n ? n : 1, sizeof *st.sp);
    for (size_t i = 0; i < n; i++) state_init(&st.sp[i], &splits[i], o);
    for (size_t i = 0; i < n; i++) plan_split(&st, &st.sp[i]);
    pull_meter *meter = pull_meter_open(o->progress);
    int rc = run_loop(&st, meter, err, errlen);
    pull_meter_tick(meter, st.sp, n, 1);
    pull_meter_free(meter);
    int n_slots;
    xfer *slots = transport_slots(st.t, &n_slots);
    for (int i = 0; i < n_slots; i++)
        if (slots[i].busy) free(slots[i].owner);
    transport_free(st.t); /* abandons what is still in flight (after an interrupt) */
    for (size_t i = 0; i < n && rc == 0; i++)
        if (st.sp[i].not_found && st.sp[i].out->error) pull_explain_not_found(o, &st.sp[i]);
    for (size_t i = 0; i < n; i++) {
        if (st.sp[i].phase != PHASE_DONE && st.sp[i].phase != PHASE_SKIP)
            finish_split(&st, &st.sp[i], rc == 1 ? PULL_INTERRUPTED : PULL_FAILED,
                         rc == 1 ? "interrupted" : err);
        splits[i].pages_done = st.sp[i].pages_done;
        if (splits[i].status == PULL_INTERRUPTED) { /* the pages kept are what matters now */
            free(splits[i].path);
            splits[i].path = xstrdup(st.sp[i].part_dir);
        }
        state_free(&st.sp[i]);
    }
    for (size_t i = 0; i < st.n_retry; i++) free(st.retry[i]);
    free(st.retry);
    free(st.sp);
    return rc < 0 ? -1 : 0;
}
