/* test_gen_schedule.c — the generation scheduler (core/native/generate.c) on a simulated
 * device behind its device interface (gen_device), in every build (no GPU needed): the same
 * scheduler drives the CPU and the GPU, so what is checked here holds for both.
 *
 * The simulated device keeps each slot's tokens by position, writes a pass's tokens before
 * answering it (as the GPU writes K/V before attention), counts a read of a position never
 * written (or left stale by a prefix copy) as an error, and answers each row with logits that
 * hash exactly the tokens the row can see, with the end-of-text token winning now and then.
 * So a request's completion depends only on its own prompt: any slot count and pass size
 * must give the completions of one slot at a time. Checked: slot reuse and refilling,
 * prefill split across passes between decode steps, prefix copies, stop strings, max_tokens,
 * seeded sampling, logits asked for only when a request samples, a device failure (the
 * requests in that pass fail with its message, the rest go on) and Ctrl-C (no pass after it,
 * unfinished requests "interrupted"). Needs stories260K's tokenizer (skips without it). */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "native/backend_native.h"
#include "native/native_internal.h"
#include "util/buf.h"

typedef struct fake_dev {
    int n_slots, max_seq, max_tokens, vocab, eog;
    int32_t *toks;              /* (n_slots, max_seq); -1: not written */
    float *logits;              /* (n_slots, vocab) answered rows */
    int passes, bad, copies, logits_passes;
    int decode_passes, refills; /* refills: prompt passes after a decode pass */
    int most_rows;              /* largest decode pass */
    int interrupt_at, fail_at;  /* pass number that sets Ctrl-C / fails (0: none) */
} fake_dev;

static uint64_t hash_ctx(const int32_t *ctx, int n)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++) h = (h ^ (uint64_t)(ctx[i] + 1)) * 1099511628211ull;
    return h;
}

/* The "model": logits of the next token after ctx[0..n). */
static void fake_row(const fake_dev *d, const int32_t *ctx, int n, float *row)
{
    uint64_t h = hash_ctx(ctx, n);
    for (int v = 0; v < d->vocab; v++) {
        uint64_t x = (h ^ (uint64_t)(v + 1) * 0x9E3779B97F4A7C15ull) * 0xBF58476D1CE4E5B9ull;
        row[v] = (float)((x >> 40) % 1000) / 100.0f;
    }
    if (h % 17 == 0) row[d->eog] = 20.0f;      /* the end of text, now and then */
}

static int fake_forward(void *ud, gen_pass *p, char *err, size_t errlen)
{
    fake_dev *d = ud;
    d->passes++;
    if (d->passes == d->interrupt_at) backend_interrupted = 1;
    if (d->passes == d->fail_at) return errf(err, errlen, "simulated device failure");
    if (p->n < 1 || p->n > d->max_tokens || p->n_out < 0 || p->n_out > p->n)
        return errf(err, errlen, "pass of %d tokens, %d answered", p->n, p->n_out);
    int decode = p->n_out == p->n && p->n_out > 0;
    if (decode) {
        d->decode_passes++;
        if (p->n > d->most_rows) d->most_rows = p->n;
    } else if (d->decode_passes > 0) {
        d->refills++;
    }
    for (int i = 0; i < p->n; i++) {
        if (p->slots[i] < 0 || p->slots[i] >= d->n_slots || p->pos[i] < 0 ||
            p->pos[i] >= d->max_seq)
            return errf(err, errlen, "row %d: slot %d position %d", i, p->slots[i], p->pos[i]);
        d->toks[p->slots[i] * d->max_seq + p->pos[i]] = p->tokens[i];
    }
    for (int j = 0; j < p->n_out; j++) {
        const int r = p->n - p->n_out + j, slot = p->slots[r], pos = p->pos[r];
        const int32_t *ctx = d->toks + (size_t)slot * d->max_seq;
        for (int q = 0; q <= pos; q++) d->bad += ctx[q] < 0;
        float *row = d->logits + (size_t)j * d->vocab;
        fake_row(d, ctx, pos + 1, row);
        p->argmax[j] = (int32_t)native_argmax(row, d->vocab);
    }
    d->logits_passes += p->want_logits;
    p->logits = p->want_logits ? d->logits : NULL;
    return 0;
}

static int fake_copy_prefix(void *ud, int dst, int src, int len, char *err, size_t errlen)
{
    fake_dev *d = ud;
    if (dst < 0 || dst >= d->n_slots || src < 0 || src >= d->n_slots || len > d->max_seq)
        return errf(err, errlen, "copy %d -> %d of %d", src, dst, len);
    d->copies++;
    int32_t *to = d->toks + (size_t)dst * d->max_seq;
    memmove(to, d->toks + (size_t)src * d->max_seq, (size_t)len * sizeof *to);
    for (int q = len; q < d->max_seq; q++) to[q] = -1;      /* the rest is to be written */
    return 0;
}

static fake_dev *fake_new(int n_slots, int max_tokens, int vocab, int eog)
{
    fake_dev *d = xcalloc(1, sizeof *d);
    d->n_slots = n_slots;
    d->max_seq = 256;
    d->max_tokens = max_tokens;
    d->vocab = vocab;
    d->eog = eog;
    d->toks = xmalloc((size_t)n_slots * d->max_seq * sizeof *d->toks);
    for (int i = 0; i < n_slots * d->max_seq; i++) d->toks[i] = -1;
    d->logits = xcalloc((size_t)(n_slots > max_tokens ? n_slots : max_tokens) * vocab,
                        sizeof *d->logits);
    return d;
}

static void fake_free(fake_dev *d)
{
    free(d->toks);
    free(d->logits);
    free(d);
}

/* ---- requests ------------------------------------------------------------------------ */

#define N 14
static const char *const prompts[N] = {
    "Once upon a time", "Once upon a time, there was a girl", "Once upon a time, there was",
    "Lily and Ben", "The cat sat", "One day, Tom", "She was happy", "The sun", "A dog",
    "Q: what is two and two?\nA: four\nQ: what is red?\nA:",
    "Q: what is two and two?\nA: four\nQ: where is the sun?\nA:",
    "Q: what is two and two?\nA: four\nQ: who is Lily?\nA:", "Mom said", "Once upon a time"};

static void make_reqs(eval_request *q, double temperature)
{
    memset(q, 0, N * sizeof *q);
    for (int i = 0; i < N; i++) {
        q[i].kind = REQ_GENERATE;
        q[i].context = (char *)prompts[i];
        q[i].gen.max_tokens = 4 + 9 * (i % 6);
        q[i].gen.temperature = temperature > 0 && i % 3 != 2 ? temperature : 0;
        q[i].gen.top_p = i % 2 ? 0.9 : -1;
        q[i].gen.seed = 7 + i;
    }
}

static void free_resps(eval_response *r, int n)
{
    for (int i = 0; i < n; i++) {
        free(r[i].text);
        free(r[i].error);
    }
    memset(r, 0, (size_t)n * sizeof *r);
}

typedef struct setup {
    const char *path;
    int vocab, eog;
} setup;

/* A backend with `parallel` slots generating on d; run q into r. Returns run()'s result. */
static int run_on(const setup *su, fake_dev *d, int parallel, const eval_request *q,
                  eval_response *r, int n, char *err, size_t errlen)
{
    native_config cfg = {.path = su->path, .ctx = 256, .threads = 1, .parallel = parallel};
    char e[512];
    backend *b = native_backend_new(&cfg, e, sizeof e);
    CHECK(b != NULL);
    if (!b) return -1;
    gen_device dev = {d, d->n_slots, d->max_tokens, fake_forward, fake_copy_prefix, NULL};
    native_backend_set_gen_device(b, &dev);
    int rc = b->vt->run(b, q, r, (size_t)n, err, errlen);
    native_info info;
    native_backend_info(b, &info);
    if (rc == 0 && parallel > 1) CHECK(info.tokens_reused > 0);   /* shared prompt prefixes */
    b->vt->destroy(b);
    return rc;
}

/* One slot, passes of 64 tokens: the reference completions. */
static void reference(const setup *su, const eval_request *q, eval_response *r)
{
    fake_dev *d = fake_new(1, 64, su->vocab, su->eog);
    char err[256] = "";
    CHECK(run_on(su, d, 1, q, r, N, err, sizeof err) == 0);
    CHECK(d->bad == 0 && d->most_rows == 1);
    fake_free(d);
}

static int same_resps(const eval_response *a, const eval_response *b, int n)
{
    int same = 0;
    for (int i = 0; i < n; i++) {
        CHECK(a[i].status == RESP_OK && b[i].status == RESP_OK);
        CHECK_STR(a[i].text ? a[i].text : "(null)", b[i].text ? b[i].text : "(null)");
        CHECK(a[i].completion_tokens == b[i].completion_tokens);
        CHECK(a[i].prompt_tokens == b[i].prompt_tokens && a[i].truncated == b[i].truncated);
        same += a[i].text && b[i].text && strcmp(a[i].text, b[i].text) == 0;
    }
    return same;
}

/* Greedy: 4 slots and passes of 5 tokens (prompts split across passes, refilled between
   decode steps) give the one-slot completions; no logits cross to the host. */
static void test_greedy(const setup *su)
{
    eval_request q[N];
    eval_response ref[N], got[N];
    make_reqs(q, 0);
    reference(su, q, ref);
    int lengths = 0, ended = 0;
    for (int i = 0; i < N; i++) {
        lengths += ref[i].truncated;
        ended += !ref[i].truncated;
    }
    CHECK(lengths > 0 && ended > 0);            /* both max_tokens and end-of-text occur */
    fake_dev *d = fake_new(4, 5, su->vocab, su->eog);
    char err[256] = "";
    CHECK(run_on(su, d, 4, q, got, N, err, sizeof err) == 0);
    int same = same_resps(ref, got, N);
    printf("greedy: %d of %d identical to one slot; %d passes (%d decode, most rows %d), %d "
           "prompt passes between decode steps, %d prefix copies, %d reads unwritten\n", same,
           N, d->passes, d->decode_passes, d->most_rows, d->refills, d->copies, d->bad);
    CHECK(same == N);
    CHECK(d->bad == 0);
    CHECK(d->most_rows == 4);                   /* four slots decoded in one pass */
    CHECK(d->refills > 0);                      /* finished slots took new prompts */
    CHECK(d->copies > 0);                       /* shared prefixes came from other slots */
    CHECK(d->logits_passes == 0);               /* greedy: argmaxes only */
    CHECK(ref[1].prompt_tokens > ref[0].prompt_tokens && ref[0].prompt_tokens > 1);
    fake_free(d);
    free_resps(ref, N);
    free_resps(got, N);
}

/* Stop strings: a string from the middle of each unstopped completion cuts it there. */
static void test_stops(const setup *su)
{
    eval_request q[N];
    eval_response ref[N], got[N];
    make_reqs(q, 0);
    reference(su, q, ref);
    char stop[N][4];
    char *until[N][1];
    int cut = 0;
    for (int i = 0; i < N; i++) {
        size_t len = ref[i].text ? strlen(ref[i].text) : 0;
        if (len < 6) continue;
        memcpy(stop[i], ref[i].text + len / 2, 3);
        stop[i][3] = '\0';
        until[i][0] = stop[i];
        q[i].gen.until = until[i];
        q[i].gen.n_until = 1;
        cut++;
    }
    CHECK(cut >= 4);
    fake_dev *d = fake_new(3, 7, su->vocab, su->eog);
    char err[256] = "";
    CHECK(run_on(su, d, 3, q, got, N, err, sizeof err) == 0);
    for (int i = 0; i < N; i++) {
        CHECK(got[i].status == RESP_OK && got[i].text);
        if (!got[i].text || !ref[i].text) continue;
        if (!q[i].gen.n_until) {
            CHECK_STR(got[i].text, ref[i].text);
            continue;
        }
        size_t at = (size_t)(strstr(ref[i].text, stop[i]) - ref[i].text);
        CHECK(strlen(got[i].text) == at && strncmp(got[i].text, ref[i].text, at) == 0);
        CHECK(got[i].truncated == 0);
    }
    CHECK(d->bad == 0);
    printf("stops: %d requests cut at their stop string\n", cut);
    fake_free(d);
    free_resps(ref, N);
    free_resps(got, N);
}

/* Sampling: each request draws from its own seeded generator, so 5 slots give the
   completions of one slot; logits come back only for passes holding a sampled request. */
static void test_sampling(const setup *su)
{
    eval_request q[N], g[N];
    eval_response ref[N], got[N], greedy[N];
    make_reqs(q, 1.2);
    make_reqs(g, 0);
    reference(su, q, ref);
    reference(su, g, greedy);
    fake_dev *d = fake_new(5, 16, su->vocab, su->eog);
    char err[256] = "";
    CHECK(run_on(su, d, 5, q, got, N, err, sizeof err) == 0);
    int same = same_resps(ref, got, N), differ = 0;
    for (int i = 0; i < N; i++)
        differ += ref[i].text && greedy[i].text && strcmp(ref[i].text, greedy[i].text) != 0;
    printf("sampling: %d of %d identical to one slot, %d differ from greedy; logits in %d of "
           "%d passes\n", same, N, differ, d->logits_passes, d->passes);
    CHECK(same == N && differ > 0);
    CHECK(d->logits_passes > 0 && d->logits_passes < d->passes);
    CHECK(d->bad == 0);
    fake_free(d);
    free_resps(ref, N);
    free_resps(got, N);
    free_resps(greedy, N);
}

/* A failing pass fails the requests it carried, with the device's message; the others
   complete as usual. */
static void test_device_failure(const setup *su)
{
    eval_request q[N];
    eval_response ref[N], got[N];
    make_reqs(q, 0);
    reference(su, q, ref);
    fake_dev *d = fake_new(4, 5, su->vocab, su->eog);
    d->fail_at = 12;
    char err[256] = "";
    CHECK(run_on(su, d, 4, q, got, N, err, sizeof err) == 0);
    int failed = 0, ok = 0;
    for (int i = 0; i < N; i++) {
        if (got[i].status == RESP_FAILED) {
            failed++;
            CHECK(got[i].error && strstr(got[i].error, "simulated device failure"));
        } else {
            ok++;
            CHECK_STR(got[i].text ? got[i].text : "(null)", ref[i].text ? ref[i].text : "");
        }
    }
    printf("device failure at pass 12: %d failed with its message, %d completed\n", failed, ok);
    CHECK(failed >= 1 && failed <= 4 && ok >= N - 4);
    CHECK(d->bad == 0);
    fake_free(d);
    free_resps(ref, N);
    free_resps(got, N);
}

/* Ctrl-C during a pass: no pass after it, run() says "interrupted", every unfinished
   request fails "interrupted". */
static void test_interrupt(const setup *su)
{
    eval_request q[N];
    eval_response got[N];
    make_reqs(q, 0);
    fake_dev *d = fake_new(4, 5, su->vocab, su->eog);
    d->interrupt_at = 15;
    char err[256] = "";
    int rc = run_on(su, d, 4, q, got, N, err, sizeof err);
    backend_interrupted = 0;
    CHECK(rc != 0);
    CHECK_STR(err, "interrupted");
    CHECK(d->passes == 15);
    int stopped = 0;
    for (int i = 0; i < N; i++) {
        if (got[i].status != RESP_FAILED) continue;
        stopped++;
        CHECK(got[i].error && strcmp(got[i].error, "interrupted") == 0);
    }
    printf("Ctrl-C at pass 15: %d passes run, %d of %d requests interrupted\n", d->passes,
           stopped, N);
    CHECK(stopped > 0 && stopped < N);
    fake_free(d);
    free_resps(got, N);
}

int main(void)
{
    const char *dir = getenv("EVALLUA_TEST_MODELS");
    char path[1024];
    snprintf(path, sizeof path, "%s/stories260K.gguf", dir ? dir : "../shared/models");
    if (access(path, R_OK) != 0) {
        printf("skip: %s is absent\n", path);
        return 77;
    }
    native_config cfg = {.path = path, .ctx = 256};
    char err[512];
    backend *b = native_backend_new(&cfg, err, sizeof err);
    CHECK(b != NULL);
    if (!b) return check_summary();
    const native_backend *nb = (const native_backend *)b;
    setup su = {path, nb->m->cfg.n_vocab, tok_get_config(nb->tok)->eos};
    b->vt->destroy(b);
    CHECK(su.eog >= 0);
    test_greedy(&su);
    test_stops(&su);
    test_sampling(&su);
    test_device_failure(&su);
    test_interrupt(&su);
    return check_summary();
}
