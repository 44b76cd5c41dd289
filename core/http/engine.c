/* engine.c — one run() of the OpenAI backend: requests are grouped into jobs (one HTTP
 * request each: a single request, or a batch), jobs go to endpoints as slots, endpoints and
 * the rate limiter allow, and every attempt's outcome is acted on — answer, retry (a min-heap
 * of jobs waiting for their time), split, fail or stop. Memory is flat in the number of
 * requests: besides the caller's arrays, only the jobs in flight or waiting exist, and each
 * request body is written into its slot's reused buffer.
 *
 * The loop follows curl's multi examples: start what may start, wait for the network (at most
 * OAI_POLL_MS, so Ctrl-C is seen), drain finished transfers, report progress. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "openai_internal.h"

#define OAI_NONE SIZE_MAX

/* One HTTP request's worth of requests of the run. */
typedef struct job {
    size_t *idx;        /* indices into the run's arrays */
    size_t n, cap;
    int endpoint;       /* of the current attempt */
    double ready;       /* when a waiting job may be sent again */
    double est_tokens;  /* the tpm estimate charged for the current attempt */
    struct job *next;   /* free list */
} job;

typedef struct run_state {
    oai_backend *b;
    const eval_request *reqs;
    eval_response *resps;
    size_t n, next;           /* next: first request that may not have been started */
    job **heap;               /* jobs waiting for a retry, min-heap on ready */
    size_t heap_len, heap_cap;
    job *held;                /* built, waiting for an endpoint or the rate limiter */
    job *free_jobs;
    unsigned char *retrying;  /* retrying[i]: request i is counted as retrying */
    oai_verdict *each;        /* batch_size verdicts and problems for oai_classify */
    oai_problem *why;
    size_t done, failed;
    double wake;              /* earliest time a held job may go (0: when a slot frees) */
    int stop;                 /* start nothing more, fail the rest, return -1 */
    char stop_msg[512];
    progress *prog;
    int own_prog;
} run_state;

/* ---- jobs and the retry heap ------------------------------------------------------ */

static job *job_new(run_state *st)
{
    job *j = st->free_jobs;
    if (j) st->free_jobs = j->next;
    else {
        j = xcalloc(1, sizeof *j);
        j->cap = (size_t)st->b->batch_size;
        j->idx = xmalloc(j->cap * sizeof *j->idx);
    }
    j->n = 0;
    j->endpoint = -1;
    j->est_tokens = 0;
    return j;
}

static void job_free(run_state *st, job *j)
{
    j->next = st->free_jobs;
    st->free_jobs = j;
}

static void heap_push(run_state *st, job *j)
{
    if (st->heap_len == st->heap_cap) {
        st->heap_cap = st->heap_cap ? 2 * st->heap_cap : 64;
        st->heap = xrealloc(st->heap, st->heap_cap * sizeof *st->heap);
    }
    size_t i = st->heap_len++;
    while (i > 0 && st->heap[(i - 1) / 2]->ready > j->ready) {
        st->heap[i] = st->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    st->heap[i] = j;
}

static job *heap_pop(run_state *st)
{
    job *top = st->heap[0], *last = st->heap[--st->heap_len];
    size_t i = 0, n = st->heap_len;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && st->heap[c + 1]->ready < st->heap[c]->ready) c++;
        if (st->heap[c]->ready >= last->ready) break;
        st->heap[i] = st->heap[c];
        i = c;
    }
    if (n) st->heap[i] = last;
    return top;
}

/* ---- finishing requests ----------------------------------------------------------- */

/* msg with every occurrence of the API key replaced by "***" (servers may echo it). */
static char *redact(const oai_backend *b, const char *msg)
{
    if (!b->api_key) return xstrdup(msg);
    size_t k = strlen(b->api_key);
    buf out = {0};
    for (const char *p = msg, *hit; *p; p = hit + k) {
        hit = strstr(p, b->api_key);
        if (!hit) {
            buf_puts(&out, p);
            break;
        }
        buf_append(&out, p, (size_t)(hit - p));
        buf_puts(&out, "***");
    }
    return buf_steal(&out);
}

/* Request i is final: count it, tell the progress meter and the caller's hook (request.h). */
static void resp_final(run_state *st, size_t i)
{
    const eval_response *r = &st->resps[i];
    int task = st->reqs[i].task;
    st->done++;
    if (st->retrying[i]) progress_retrying(st->prog, task, -1);
    st->retrying[i] = 0;
    progress_result(st->prog, task, r->status == RESP_OK,
                    (int64_t)r->prompt_tokens + r->completion_tokens);
    const backend *base = &st->b->base;
    if (base->on_response) base->on_response(base->on_response_ud, i, r);
}

static void resp_fail(run_state *st, size_t i, const char *msg)
{
    eval_response *r = &st->resps[i];
    free(r->text);
    free(r->reasoning);
    free(r->error);
    r->text = r->reasoning = NULL;
    r->status = RESP_FAILED;
    r->error = redact(st->b, msg);
    st->failed++;
    resp_final(st, i);
}

/* Request i failed with what attempt a says, plus " (after N attempts)" when asked. */
static void resp_fail_attempt(run_state *st, size_t i, const attempt *a, int say_attempts)
{
    int n = st->resps[i].attempts;
    if (!say_attempts) {
        buf m = {0};
        buf_printf(&m, "%s%s", buf_str(&a->msg), buf_str(&a->tail));
        resp_fail(st, i, buf_str(&m));
        buf_free(&m);
        return;
    }
    buf m = {0};
    buf_printf(&m, "%s (after %d attempt%s)%s", buf_str(&a->msg), n, n == 1 ? "" : "s", buf_str(&a->tail));
    resp_fail(st, i, buf_str(&m));
    buf_free(&m);
}

static void stop_run(run_state *st, const char *msg)
{
    if (st->stop) return;
    st->stop = 1;
    snprintf(st->stop_msg, sizeof st->stop_msg, "%s", msg);
}

/* ---- building and starting jobs ------------------------------------------------------ */

static size_t next_fresh(run_state *st)
{
    while (st->next < st->n && st->resps[st->next].status != RESP_PENDING) st->next++;
    return st->next < st->n ? st->next : OAI_NONE;
}

static double request_estimate(const eval_request *r)
{
    double bytes = r->context ? (double)strlen(r->context) : 0;
    if (r->continuation) bytes += (double)strlen(r->continuation);
    if (r->messages_json) bytes = (double)strlen(r->messages_json);
    double out = r->kind == REQ_GENERATE ? (r->gen.max_tokens > 0 ? r->gen.max_tokens : 256) : 1;
    return limiter_estimate(bytes, out);
}

/* A job of the next fresh request and those after it that can share its body. */
static job *fresh_job(run_state *st)
{
    size_t first = next_fresh(st);
    if (first == OAI_NONE) return NULL;
    job *j = job_new(st);
    int batch = !st->b->chat && st->b->batch_size > 1;
    j->idx[j->n++] = first;
    st->next++;
    while (batch && j->n < j->cap && st->next < st->n &&
           st->resps[st->next].status == RESP_PENDING &&
           oai_batchable(&st->reqs[first], &st->reqs[st->next]))
        j->idx[j->n++] = st->next++;
    return j;
}

/* The next job to send: a due retry first, then fresh requests. */
static job *next_job(run_state *st, double now)
{
    if (st->held) return st->held;
    if (st->heap_len && st->heap[0]->ready <= now) return heap_pop(st);
    return fresh_job(st);
}

static void fail_job(run_state *st, job *j, const char *msg)
{
    for (size_t k = 0; k < j->n; k++) resp_fail(st, j->idx[k], msg);
    job_free(st, j);
}

/* The tpm estimate of j (0 without a tpm limit: nothing to count). */
static double job_estimate(const run_state *st, const job *j)
{
    double est = 0;
    if (st->b->limiter.tokens.rate <= 0) return 0;
    for (size_t k = 0; k < j->n; k++) est += request_estimate(&st->reqs[j->idx[k]]);
    return est;
}

/* Send job j's attempt (est tokens) to endpoint ep on a free slot. */
static void start_job(run_state *st, job *j, int ep, double est, double now)
{
    oai_backend *b = st->b;
    xfer *x = transport_acquire(b->tr);
    char err[512];
    int rc = j->n == 1 ? oai_write_body(&x->body, &st->reqs[j->idx[0]], b->model, b->chat, err, sizeof err)
                       : oai_write_batch_body(&x->body, st->reqs, j->idx, j->n, b->model, err, sizeof err);
    const char *url = b->eps.items[ep].url;
    if (rc != 0) {
        transport_release(b->tr, x);
        fail_job(st, j, err);
        return;
    }
    x->owner = j;
    if (transport_start(b->tr, x, url, err, sizeof err) != 0) {
        fail_job(st, j, err);
        return;
    }
    j->endpoint = ep;
    j->est_tokens = est;
    for (size_t k = 0; k < j->n; k++) st->resps[j->idx[k]].attempts++;
    endpoints_started(&b->eps, ep);
    limiter_take(&b->limiter, j->est_tokens, now);
    b->counters.http_requests++;
    if (j->n > 1) b->counters.batched += (int64_t)j->n;
}

static void set_wake(run_state *st, double t)
{
    if (t > 0 && (st->wake == 0 || t < st->wake)) st->wake = t;
}

/* Start jobs while slots, endpoints and the rate limiter allow. */
static void start_jobs(run_state *st)
{
    oai_backend *b = st->b;
    double now = oai_now();
    st->wake = 0;
    while (!st->stop && transport_busy(b->tr) < b->concurrency) {
        job *j = next_job(st, now);
        if (!j) break;
        st->held = j;
        double when;
        int ep = endpoints_pick(&b->eps, now, &when);
        if (ep < 0) {
            set_wake(st, when);
            break;
        }
        double est = job_estimate(st, j);
        double wait = limiter_wait(&b->limiter, est, now);
        if (wait > 0) {
            set_wake(st, now + wait);
            break;
        }
        st->held = NULL;
        start_job(st, j, ep, est, now);
    }
}

/* ---- acting on an attempt ------------------------------------------------------------ */

/* Full jitter: uniform in [0, min(cap, base * 2^(attempts-1))). */
static double backoff_s(oai_backend *b, int attempts)
{
    double ceiling = b->retry_base_s * pow(2.0, attempts > 1 ? attempts - 1 : 0);
    if (!(ceiling < OAI_BACKOFF_CAP_S)) ceiling = OAI_BACKOFF_CAP_S;
    return ceiling * oai_rand01(b);
}

/* Requests of j whose attempt failed with a (retryable): those with retries left wait in
   job j for their time, the others fail. */
static void retry_or_fail(run_state *st, job *j, const attempt *a, double now)
{
    size_t keep = 0;
    int attempts = 0;
    for (size_t k = 0; k < j->n; k++) {
        size_t i = j->idx[k];
        if (st->resps[i].attempts > st->b->max_retries) {
            resp_fail_attempt(st, i, a, 1);
            continue;
        }
        if (!st->retrying[i]) progress_retrying(st->prog, st->reqs[i].task, +1);
        st->retrying[i] = 1;
        if (st->resps[i].attempts > attempts) attempts = st->resps[i].attempts;
        j->idx[keep++] = i;
    }
    j->n = keep;
    if (!keep) {
        job_free(st, j);
        return;
    }
    j->ready = now + (a->min_delay >= 0 ? a->min_delay : backoff_s(st->b, attempts));
    heap_push(st, j);
}

/* A batch the server refused: each request goes again on its own, at once. */
static void split_job(run_state *st, job *j, double now)
{
    st->b->counters.splits++;
    for (size_t k = 0; k < j->n; k++) {
        job *one = job_new(st);
        one->idx[one->n++] = j->idx[k];
        one->ready = now;
        heap_push(st, one);
    }
    job_free(st, j);
}

/* The body was read: settle each request of j by its own verdict. */
static void settle_each(run_state *st, job *j, attempt *a, double now)
{
    const char *url = st->b->eps.items[j->endpoint].url;
    size_t keep = 0;
    double actual = 0;
    for (size_t k = 0; k < j->n; k++) {
        size_t i = j->idx[k];
        eval_response *r = &st->resps[i];
        if (st->each[k] == OAI_OK) {
            actual += (double)r->prompt_tokens + r->completion_tokens;
            resp_final(st, i);
            continue;
        }
        buf_clear(&a->msg);
        buf_clear(&a->tail);
        buf_printf(&a->msg, "%s from %s", st->why[k].head, url);
        if (st->why[k].detail[0]) buf_printf(&a->tail, ": %s", st->why[k].detail);
        if (st->each[k] == OAI_FAIL) resp_fail_attempt(st, i, a, 0);
        else j->idx[keep++] = i; /* retried below, with the others that need it */
    }
    limiter_correct(&st->b->limiter, j->est_tokens, actual, now);
    j->n = keep;
    if (keep) retry_or_fail(st, j, a, now);
    else job_free(st, j);
}

/* Tell the endpoint how its attempt went. */
static void judge_endpoint(run_state *st, const xfer *x, const job *j, const attempt *a, double now)
{
    oai_backend *b = st->b;
    if (a->status > 0) {
        endpoints_answered(&b->eps, j->endpoint, a->status, now - x->started, now);
        if (a->status == 429) {
            b->counters.throttled++;
            endpoints_throttled(&b->eps, j->endpoint, a->min_delay, b->retry_base_s, oai_rand01(b), now);
        }
    } else if (a->conn_error) {
        endpoints_conn_failed(&b->eps, j->endpoint, now);
    } else {
        endpoints_released(&b->eps, j->endpoint);
    }
}

/* Act on what the attempt of slot x came to; frees the slot. */
static void attempt_done(run_state *st, xfer *x, CURLcode cc)
{
    oai_backend *b = st->b;
    job *j = x->owner;
    double now = oai_now();
    attempt a = {.kind = ATT_FAIL, .min_delay = -1};
    oai_classify(b, x, cc, b->eps.items[j->endpoint].url, st->reqs, j->idx, j->n, st->resps, st->each,
                 st->why, &a);
    judge_endpoint(st, x, j, &a, now);
    transport_release(b->tr, x);
    if (a.kind == ATT_OK) {
        settle_each(st, j, &a, now);
    } else if (a.kind == ATT_SPLIT) {
        split_job(st, j, now);
    } else if (a.kind == ATT_STOP) {
        stop_run(st, buf_str(&a.msg));
        fail_job(st, j, buf_str(&a.msg));
    } else if (a.kind == ATT_FAIL) {
        for (size_t k = 0; k < j->n; k++) resp_fail_attempt(st, j->idx[k], &a, 0);
        job_free(st, j);
    } else {
        retry_or_fail(st, j, &a, now);
    }
    buf_free(&a.msg);
    buf_free(&a.tail);
}

/* ---- the loop ---------------------------------------------------------------------- */

/* Milliseconds to wait for the network: until a held job or the earliest retry may go, at
   most OAI_POLL_MS (a signal that lands on another thread does not wake the wait). */
static int wait_ms(const run_state *st)
{
    double due = st->wake;
    int slot_free = transport_busy(st->b->tr) < st->b->concurrency;
    if (slot_free && !st->held && st->heap_len && (due == 0 || st->heap[0]->ready < due))
        due = st->heap[0]->ready;
    if (due == 0) return OAI_POLL_MS;
    double ms = ceil((due - oai_now()) * 1000.0);
    if (ms > OAI_POLL_MS) ms = OAI_POLL_MS;
    return ms > 0 ? (int)ms : 0;
}

static int finished(run_state *st)
{
    return transport_busy(st->b->tr) == 0 && !st->heap_len && !st->held && next_fresh(st) == OAI_NONE;
}

/* Fail everything unfinished with the stop message. */
static void abort_rest(run_state *st)
{
    int n;
    xfer *slots = transport_slots(st->b->tr, &n);
    for (int s = 0; s < n; s++) {
        if (!slots[s].busy || !slots[s].owner) continue;
        job *j = slots[s].owner;
        endpoints_released(&st->b->eps, j->endpoint);
        transport_release(st->b->tr, &slots[s]);
        fail_job(st, j, st->stop_msg);
    }
    while (st->heap_len) fail_job(st, heap_pop(st), st->stop_msg);
    if (st->held) fail_job(st, st->held, st->stop_msg);
    st->held = NULL;
    for (size_t i; (i = next_fresh(st)) != OAI_NONE; st->next++) resp_fail(st, i, st->stop_msg);
}

static void run_loop(run_state *st)
{
    char err[256];
    for (;;) {
        if (backend_interrupted) stop_run(st, "interrupted"); /* Ctrl-C: abandon the rest */
        start_jobs(st);
        if (st->stop || finished(st)) break;
        if (transport_wait(st->b->tr, wait_ms(st), err, sizeof err) != 0) stop_run(st, err);
        CURLcode cc;
        xfer *x;
        while (!st->stop && (x = transport_done(st->b->tr, &cc))) attempt_done(st, x, cc);
        progress_tick(st->prog);
    }
    abort_rest(st);
}

/* ---- setup ---------------------------------------------------------------------------- */

/* Fail up front the requests this endpoint cannot serve. */
static void reject_unserved(run_state *st)
{
    unsigned kinds = st->b->base.vt->kinds;
    const char *name = st->b->base.vt->name;
    for (size_t i = 0; i < st->n; i++) {
        req_kind k = st->reqs[i].kind;
        if (k == REQ_LOGLIKELIHOOD || k == REQ_LOGLIKELIHOOD_ROLLING || k == REQ_GENERATE) {
            if (kinds & (unsigned)k) continue;
            char msg[256];
            snprintf(msg, sizeof msg, "%s cannot serve %s requests: chat endpoints return no "
                     "prompt log-probabilities (use openai-completions)", name, req_kind_name(k));
            resp_fail(st, i, msg);
        } else {
            resp_fail(st, i, "unknown request kind");
        }
    }
}

/* The meter: the one set on the backend (told how many requests of each task come here),
   or the backend's own single-line one. */
static void open_progress(run_state *st)
{
    oai_backend *b = st->b;
    if (!b->prog) {
        if (b->progress && st->n) {
            st->prog = progress_new(b->label ? b->label : b->base.vt->name, st->n, stderr);
            st->own_prog = 1;
        }
        return;
    }
    st->prog = b->prog;
    size_t tasks = progress_tasks(st->prog);
    size_t *count = xcalloc(tasks ? tasks : 1, sizeof *count);
    for (size_t i = 0; i < st->n; i++) {
        size_t t = (size_t)st->reqs[i].task;
        count[t < tasks ? t : 0]++;
    }
    for (size_t t = 0; t < tasks; t++) progress_sending(st->prog, (int)t, count[t]);
    free(count);
}

static void add_stats(oai_backend *b, const run_state *st, double seconds)
{
    backend_stats *s = &b->base.stats;
    s->requests += (int64_t)st->n;
    s->failed += (int64_t)st->failed;
    for (size_t i = 0; i < st->n; i++) {
        const eval_response *r = &st->resps[i];
        if (r->attempts > 1) s->retries += r->attempts - 1;
        s->prompt_tokens += r->prompt_tokens;
        s->completion_tokens += r->completion_tokens;
    }
    s->wall_seconds += seconds;
}

static void free_state(run_state *st)
{
    while (st->free_jobs) {
        job *j = st->free_jobs;
        st->free_jobs = j->next;
        free(j->idx);
        free(j);
    }
    free(st->heap);
    free(st->retrying);
    free(st->each);
    free(st->why);
    if (st->own_prog) {
        progress_finish(st->prog);
        progress_free(st->prog);
    }
}

int oai_engine_run(oai_backend *b, const eval_request *reqs, eval_response *resps, size_t n,
                   char *err, size_t errlen)
{
    double t0 = oai_now();
    run_state st;
    memset(&st, 0, sizeof st);
    st.b = b;
    st.reqs = reqs;
    st.resps = resps;
    st.n = n;
    st.retrying = xcalloc(n ? n : 1, 1);
    st.each = xcalloc((size_t)b->batch_size, sizeof *st.each);
    st.why = xcalloc((size_t)b->batch_size, sizeof *st.why);
    if (n) memset(resps, 0, n * sizeof *resps);
    open_progress(&st);
    reject_unserved(&st);
    run_loop(&st);
    progress_tick(st.prog);
    free_state(&st);
    add_stats(b, &st, oai_now() - t0);
    if (st.stop) return errf(err, errlen, "%s", st.stop_msg);
    return 0;
}
