/* test_native_backend.c — the native backend on stories260K.gguf, each request kind checked
 * against an independent computation with the forward pass (cpu_forward) and the tokenizer:
 * loglikelihood sums, prefix sharing giving bit-identical numbers, is_greedy, lm-eval's
 * rolling windows at ctx=64, left truncation, greedy generation with a stop string,
 * seeded sampling, and the load errors. Skips (77) when the model files are absent.
 * Then, when scripts/fetch-model has put SmolLM2-135M-Instruct into models/, against
 * llama.cpp (tests/fixtures/smollm2_reference.json, from scripts/reference-logprobs.py):
 * identical tokens and chat rendering; per-token logprobs equal to llama.cpp's batched ones
 * (the forward pass rounds as llama.cpp's CPU backend does: within 1e-3, far inside the
 * issue's 0.02; llama.cpp's own one-token-at-a-time path differs by up to ~0.3 nats); the
 * 64 greedy tokens of 5 prompts identical to llama.cpp's batched path, and near-identical
 * to its one-token decode path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "native/backend_native.h"
#include "native/cpu/forward.h"
#include "native/model.h"
#include "native/tokenizer.h"
#include "util/buf.h"

static char model_path[1024];
static model *ref_m;           /* the independent path: model + tokenizer + fresh states */
static tokenizer *ref_tok;

static const char story[] =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
    "park. One day, she saw a big, red ball in the sky. She wanted to catch it, but it was too "
    "high. Lily asked her mom to help her. Her mom said, \"Let's go to the park and play with "
    "the ball.\" Lily was so happy and they played together all day. When the sun went down, "
    "they went home and had a yummy dinner. Lily hugged her mom and said thank you.";

/* ---- the independent path ------------------------------------------------------------ */

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

static double log_softmax(const float *v, int n, int target)
{
    double max = v[argmax(v, n)], sum = 0;
    for (int i = 0; i < n; i++) sum += exp((double)v[i] - max);
    return (double)v[target] - max - log(sum);
}

/* Score toks[split..n) given toks[0..split) in a fresh state; *greedy: all argmax. */
static double score_tokens(const int32_t *toks, size_t n, size_t split, int *greedy)
{
    cpu_state *s = cpu_state_new(ref_m, (int)n);
    double lp = 0;
    int g = 1;
    for (size_t p = 0; p + 1 < n; p++) {
        const float *logits = cpu_forward(s, toks[p], (int)p);
        if (p + 1 < split) continue;
        lp += log_softmax(logits, ref_m->cfg.n_vocab, toks[p + 1]);
        g = g && argmax(logits, ref_m->cfg.n_vocab) == toks[p + 1];
    }
    cpu_state_free(s);
    if (greedy) *greedy = g;
    return lp;
}

/* lm-eval's _encode_pair for a context without trailing spaces: whole minus context. */
static double ref_loglikelihood(const char *context, const char *cont, int *greedy)
{
    tok_ids c = {0}, w = {0};
    buf joined = {0};
    buf_printf(&joined, "%s%s", context, cont);
    tok_encode(ref_tok, context, strlen(context), 1, 1, &c);
    tok_encode(ref_tok, joined.data, joined.len, 1, 1, &w);
    for (size_t i = 0; i < c.n; i++) CHECK(c.v[i] == w.v[i]);
    double lp = score_tokens(w.v, w.n, c.n, greedy);
    tok_ids_free(&c);
    tok_ids_free(&w);
    buf_free(&joined);
    return lp;
}

/* The first n greedy tokens after text (BOS-prefixed), appended to out. */
static void ref_greedy(const char *text, int n, tok_ids *out)
{
    tok_ids t = {0};
    tok_encode(ref_tok, text, strlen(text), 1, 1, &t);
    cpu_state *s = cpu_state_new(ref_m, (int)t.n + n);
    const float *logits = NULL;
    for (size_t p = 0; p < t.n; p++) logits = cpu_forward(s, t.v[p], (int)p);
    for (int k = 0; k < n; k++) {
        int32_t id = argmax(logits, ref_m->cfg.n_vocab);
        tok_ids_push(out, id);
        logits = cpu_forward(s, id, (int)t.n + k);
    }
    cpu_state_free(s);
    tok_ids_free(&t);
}

/* ---- helpers ----------------------------------------------------------------------- */

static backend *open_native_parallel(int ctx, int parallel)
{
    char err[512] = "";
    native_config cfg = {.path = model_path, .threads = 2, .ctx = ctx, .parallel = parallel};
    backend *b = native_backend_new(&cfg, err, sizeof err);
    if (!b) fprintf(stderr, "  native_backend_new: %s\n", err);
    return b;
}

static backend *open_native(int ctx)
{
    return open_native_parallel(ctx, 0);
}

static eval_request ll_req(const char *context, const char *cont)
{
    eval_request r = {.kind = REQ_LOGLIKELIHOOD};
    r.context = xstrdup(context);
    r.continuation = xstrdup(cont);
    return r;
}

static eval_request gen_req(const char *prompt, int max_tokens, double temp, int64_t seed)
{
    eval_request r = {.kind = REQ_GENERATE};
    r.context = xstrdup(prompt);
    r.gen.max_tokens = max_tokens;
    r.gen.temperature = temp;
    r.gen.top_p = -1;
    r.gen.seed = seed;
    return r;
}

static void run_ok(backend *b, eval_request *q, eval_response *r, size_t n)
{
    char err[256] = "";
    CHECK(b->vt->run(b, q, r, n, err, sizeof err) == 0);
    for (size_t i = 0; i < n; i++) {
        if (r[i].status != RESP_OK)
            fprintf(stderr, "  request %zu failed: %s\n", i, r[i].error ? r[i].error : "?");
        CHECK(r[i].status == RESP_OK);
    }
}

static void free_all(eval_request *q, eval_response *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        request_free(&q[i]);
        response_free(&r[i]);
    }
}

/* ---- the checks ---------------------------------------------------------------------- */

static void test_loglikelihood(backend *b)
{
    eval_request q[3] = {ll_req("Once upon a time", " there was a little girl"),
                         ll_req("", "Once upon a time"), ll_req("One day, Lily ", "saw a dog.")};
    eval_response r[3];
    run_ok(b, q, r, 3);
    int g;
    CHECK_NEAR(r[0].logprob, ref_loglikelihood("Once upon a time", " there was a little girl", &g),
               1e-9);
    CHECK(r[0].logprob < 0 && r[0].prompt_tokens > 5);
    /* empty context: [BOS] then the continuation encoded without special tokens */
    tok_ids t = {0};
    tok_encode(ref_tok, "Once upon a time", 16, 1, 1, &t);
    CHECK(t.v[0] == 1);
    CHECK_NEAR(r[1].logprob, score_tokens(t.v, t.n, 1, NULL), 1e-9);
    /* a trailing space of the context moves to the continuation */
    CHECK_NEAR(r[2].logprob, ref_loglikelihood("One day, Lily", " saw a dog.", &g), 1e-9);
    tok_ids_free(&t);
    free_all(q, r, 3);
}

/* Four choices sharing a context, two contexts, in one batch vs each request on its own:
   the numbers must be identical and the shared contexts computed once. */
static void test_grouping(backend *grouped, backend *alone)
{
    const char *ctx[2] = {"Lily and Ben went to the park. They saw a", "The cat sat on the"};
    const char *choice[4] = {" big tree.", " dog.", " red ball.", " little bird."};
    eval_request q[8];
    eval_response r[8], one;
    for (int i = 0; i < 8; i++) q[i] = ll_req(ctx[i % 2], choice[i / 2]);
    native_info before, after;
    native_backend_info(grouped, &before);
    run_ok(grouped, q, r, 8);
    native_backend_info(grouped, &after);
    CHECK(after.tokens_reused - before.tokens_reused >= 6 * 8);
    for (int i = 0; i < 8; i++) {
        eval_request flush = ll_req("Zebra", " zoo");   /* evict the shared prefix */
        eval_response fr;
        run_ok(alone, &flush, &fr, 1);
        free_all(&flush, &fr, 1);
        run_ok(alone, &q[i], &one, 1);
        CHECK(one.logprob == r[i].logprob && one.is_greedy == r[i].is_greedy);
        int g;
        CHECK_NEAR(r[i].logprob, ref_loglikelihood(ctx[i % 2], choice[i / 2], &g), 1e-9);
        CHECK(g == r[i].is_greedy);
        response_free(&one);
    }
    free_all(q, r, 8);
}

static void test_is_greedy(backend *b)
{
    tok_ids g = {0};
    ref_greedy("Once upon a time", 8, &g);
    buf text = {0};
    for (size_t i = 0; i < g.n; i++) tok_piece(ref_tok, g.v[i], 0, &text);
    eval_request q[2] = {ll_req("Once upon a time", text.data),
                         ll_req("Once upon a time", " purple elephants sang")};
    eval_response r[2];
    run_ok(b, q, r, 2);
    CHECK(r[0].is_greedy == 1);
    CHECK(r[1].is_greedy == 0 && r[1].logprob < r[0].logprob);
    printf("greedy continuation \"%s\": logprob %.4f\n", text.data, r[0].logprob);
    buf_free(&text);
    tok_ids_free(&g);
    free_all(q, r, 2);
}

/* lm-eval's get_rolling_token_windows + make_disjoint_window, written from its docstring. */
static double ref_rolling(const char *text, size_t L, int *windows)
{
    tok_ids t = {0};
    tok_encode(ref_tok, text, strlen(text), 0, 1, &t);
    double total = 0;
    *windows = 0;
    for (size_t done = 0; done < t.n; (*windows)++) {
        size_t pred = t.n - done < L ? t.n - done : L, end = done + pred;
        tok_ids w = {0};
        if (done == 0) {                           /* [prefix] + t[:pred-1] -> t[:pred] */
            tok_ids_push(&w, 1);
        } else {                                   /* t[end-L-1 : end-1] -> t[end-pred:end] */
            for (size_t i = end - L - 1; i < end - pred; i++) tok_ids_push(&w, t.v[i]);
        }
        size_t split = w.n;
        for (size_t i = end - pred; i < end; i++) tok_ids_push(&w, t.v[i]);
        CHECK(w.n <= L + 1);
        total += score_tokens(w.v, w.n, split, NULL);
        tok_ids_free(&w);
        done = end;
    }
    tok_ids_free(&t);
    return total;
}

static void test_rolling(backend *b64)
{
    eval_request q[2] = {{.kind = REQ_LOGLIKELIHOOD_ROLLING}, {.kind = REQ_LOGLIKELIHOOD_ROLLING}};
    q[0].context = xstrdup(story);
    q[1].context = xstrdup("Lily");
    eval_response r[2];
    run_ok(b64, q, r, 2);
    int windows;
    double want = ref_rolling(story, 64, &windows);
    CHECK(windows >= 3);
    CHECK_NEAR(r[0].logprob, want, 1e-6);
    printf("rolling: %d windows at ctx=64, logprob %.4f (reference %.4f)\n", windows,
           r[0].logprob, want);
    CHECK_NEAR(r[1].logprob, ref_rolling("Lily", 64, &windows), 1e-9);
    free_all(q, r, 2);
}

/* ctx=64: a long context keeps its last tokens; a too-long continuation fails; a long
   generation prompt keeps its last ctx - max_tokens tokens. Each cut is counted and flagged
   on its response (context_truncated), uncut ones are not. */
static void test_truncation(backend *b64)
{
    eval_request q[4] = {ll_req(story, " Lily smiled."), ll_req("Hi", story),
                         gen_req(story, 10, 0, -1), ll_req("Hi", " there")};
    eval_response r[4];
    native_info before, after;
    native_backend_info(b64, &before);
    char err[256];
    CHECK(b64->vt->run(b64, q, r, 4, err, sizeof err) == 0);
    native_backend_info(b64, &after);
    CHECK(after.truncated == before.truncated + 2);
    CHECK(r[0].context_truncated == 1 && r[3].context_truncated == 0);
    CHECK(r[2].status == RESP_OK && r[2].context_truncated == 1 && r[2].prompt_tokens == 54);
    CHECK(r[3].status == RESP_OK);
    tok_ids c = {0}, w = {0};
    buf joined = {0};
    buf_printf(&joined, "%s Lily smiled.", story);
    tok_encode(ref_tok, story, strlen(story), 1, 1, &c);
    tok_encode(ref_tok, joined.data, joined.len, 1, 1, &w);
    size_t drop = w.n - 65;                        /* the last ctx + 1 tokens remain */
    CHECK(r[0].status == RESP_OK);
    CHECK_NEAR(r[0].logprob, score_tokens(w.v + drop, 65, c.n - drop, NULL), 1e-9);
    CHECK(r[1].status == RESP_FAILED && r[1].error && strstr(r[1].error, "does not fit"));
    tok_ids_free(&c);
    tok_ids_free(&w);
    buf_free(&joined);
    free_all(q, r, 4);
}

static void test_generate(backend *b)
{
    tok_ids g = {0};
    ref_greedy("Once upon a time", 30, &g);
    buf want = {0};
    for (size_t i = 0; i < g.n; i++) tok_piece(ref_tok, g.v[i], 0, &want);
    eval_request q[4] = {gen_req("Once upon a time", 30, 0, -1),
                         gen_req("Once upon a time", 30, 0, -1),
                         gen_req("Once upon a time", 5, 0, -1),
                         gen_req("Once upon a time", 30, 0, -1)};
    const char *stops[2] = {"zzz", "Lily"};
    q[1].gen.until = xcalloc(2, sizeof(char *));
    for (int i = 0; i < 2; i++) q[1].gen.until[i] = xstrdup(stops[i]);
    q[1].gen.n_until = 2;
    q[3].messages_json = xstrdup("[{\"role\":\"user\",\"content\":\"Hi\"}]");
    eval_response r[4];
    char err[256];
    CHECK(b->vt->run(b, q, r, 4, err, sizeof err) == 0);
    CHECK_STR(r[0].text, want.data);
    CHECK(r[0].completion_tokens == 30 && r[0].prompt_tokens == 5);
    const char *cut = strstr(want.data, "Lily");
    CHECK(cut != NULL);
    if (cut) {
        CHECK(r[1].text && strlen(r[1].text) == (size_t)(cut - want.data));
        CHECK(r[1].text && strncmp(r[1].text, want.data, (size_t)(cut - want.data)) == 0);
    }
    CHECK(r[2].completion_tokens == 5 && r[2].text && strncmp(want.data, r[2].text,
                                                               strlen(r[2].text)) == 0);
    CHECK(r[3].status == RESP_FAILED && r[3].error && strstr(r[3].error, "no chat template") &&
          strstr(r[3].error, "stories260K.gguf"));
    printf("generate: \"%s\" | until Lily: \"%s\"\n", r[0].text, r[1].text);
    buf_free(&want);
    tok_ids_free(&g);
    free_all(q, r, 4);
}

static void test_sampling(backend *b)
{
    eval_request q[4] = {gen_req("Once upon a time", 24, 0.9, 42),
                         gen_req("Once upon a time", 24, 0.9, 42),
                         gen_req("Once upon a time", 24, 0.9, 7),
                         gen_req("Once upon a time", 24, 0.9, 42)};
    q[3].gen.top_p = 0.5;
    eval_response r[4];
    run_ok(b, q, r, 4);
    CHECK_STR(r[0].text, r[1].text);
    CHECK(r[0].text && r[2].text && strcmp(r[0].text, r[2].text) != 0);
    eval_response again;
    run_ok(b, &q[3], &again, 1);                   /* top-p: reproducible on its own too */
    CHECK_STR(again.text, r[3].text);
    printf("sampled (seed 42): \"%s\"\nsampled (seed 7):  \"%s\"\n", r[0].text, r[2].text);
    response_free(&again);
    free_all(q, r, 4);
}

static void set_until(eval_request *q, const char *stop)
{
    q->gen.until = xcalloc(1, sizeof(char *));
    q->gen.until[0] = xstrdup(stop);
    q->gen.n_until = 1;
}

/* Several generate requests decoded together (8 slots, 11 requests: slots are refilled as
   requests finish) give exactly the responses of decoding them one at a time, greedy and
   sampled, with their own stop strings and lengths; the first also matches the
   independent greedy path. */
static void test_batched_generate(backend *together, backend *one)
{
    static const char *prompts[] = {"Once upon a time", "Lily and Ben", "The cat sat",
                                    "One day, Tom", "Once upon a time, there was",
                                    "She was happy", "The sun", "Once upon a time", "A dog",
                                    "They played", "Mom said"};
    enum { N = sizeof prompts / sizeof *prompts };
    eval_request q[N];
    eval_response ra[N], rb[N];
    for (int i = 0; i < N; i++)
        q[i] = gen_req(prompts[i], 6 + 7 * (i % 5), i % 4 == 3 ? 0.8 : 0, 100 + i);
    set_until(&q[2], ".");
    set_until(&q[5], "Lily");
    q[7].gen.top_p = 0.6;
    q[7].gen.temperature = 1.0;
    run_ok(together, q, ra, N);
    run_ok(one, q, rb, N);
    int same = 0;
    for (int i = 0; i < N; i++) {
        CHECK_STR(ra[i].text, rb[i].text);
        CHECK(ra[i].completion_tokens == rb[i].completion_tokens);
        CHECK(ra[i].prompt_tokens == rb[i].prompt_tokens && ra[i].truncated == rb[i].truncated);
        same += ra[i].text && rb[i].text && strcmp(ra[i].text, rb[i].text) == 0;
    }
    CHECK(ra[0].truncated == 1 && ra[0].completion_tokens == 6);
    CHECK(ra[2].text && !strchr(ra[2].text, '.'));
    tok_ids g = {0};
    ref_greedy(prompts[0], 6, &g);
    buf want = {0};
    for (size_t i = 0; i < g.n; i++) tok_piece(ref_tok, g.v[i], 0, &want);
    CHECK_STR(ra[0].text, want.data);
    printf("batched generate: %d of %d responses identical to one-at-a-time\n", same, N);
    buf_free(&want);
    tok_ids_free(&g);
    for (int i = 0; i < N; i++) response_free(&rb[i]);
    free_all(q, ra, N);
}

static int calls_seen;
static void count_response(void *ud, size_t index, const eval_response *r)
{
    (void)ud;
    (void)index;
    calls_seen += r->status == RESP_OK || r->status == RESP_FAILED;
}

static void test_stats(backend *b)
{
    backend_stats before = b->stats;
    eval_request q[3] = {ll_req("A", " b"), gen_req("Once", 3, 0, -1), ll_req("", "")};
    eval_response r[3];
    b->on_response = count_response;
    run_ok(b, q, r, 3);
    b->on_response = NULL;
    CHECK(calls_seen == 3);
    calls_seen = 0;
    CHECK(r[2].logprob == 0 && r[2].is_greedy == 1);
    CHECK(b->stats.requests == before.requests + 3 && b->stats.failed == before.failed);
    CHECK(b->stats.completion_tokens == before.completion_tokens + 3);
    CHECK(b->stats.prompt_tokens > before.prompt_tokens && b->stats.wall_seconds > 0);
    native_info info;
    CHECK(native_backend_info(b, &info) == 0);
    CHECK(info.ctx == 2048 && info.load_seconds > 0 && info.model_bytes > 1000000);
    CHECK(info.peak_rss_bytes > 0 && info.decode_tokens > 0 && info.prefill_tokens > 0);
    CHECK_STR(info.arch, "llama");
    CHECK_STR(info.chat_format, "unknown");
    char err[256];
    CHECK(!native_backend_apply_chat(b, "[]", err, sizeof err) && strstr(err, "stories260K"));
    free_all(q, r, 3);
}

/* Ctrl-C: nothing more starts, every response fails "interrupted", run() says so. */
static void test_interrupt(backend *b)
{
    eval_request q[2] = {ll_req("A", " b"), gen_req("Once", 3, 0, -1)};
    eval_response r[2];
    char err[256] = "";
    calls_seen = 0;
    b->on_response = count_response;
    backend_interrupted = 1;
    CHECK(b->vt->run(b, q, r, 2, err, sizeof err) == -1);
    backend_interrupted = 0;
    b->on_response = NULL;
    CHECK_STR(err, "interrupted");
    CHECK(calls_seen == 2);
    for (int i = 0; i < 2; i++)
        CHECK(r[i].status == RESP_FAILED && r[i].error && strcmp(r[i].error, "interrupted") == 0);
    free_all(q, r, 2);
    eval_request again = ll_req("A", " b");            /* the backend still works */
    eval_response ok;
    run_ok(b, &again, &ok, 1);
    free_all(&again, &ok, 1);
}

/* What a trace callback saw: calls per name, and a copy of result_output. */
typedef struct trace_log {
    int embd, l_out, result_output, bad_shape;
    float logits[3 * 512];
} trace_log;

static void on_trace(void *user, const char *name, int layer, const float *data, int rows,
                     int width)
{
    trace_log *t = user;
    const int dim = ref_m->cfg.dim, vocab = ref_m->cfg.n_vocab;
    if (strcmp(name, "embd") == 0) {
        t->embd++;
        t->bad_shape += layer != -1 || rows != 3 || width != dim;
    } else if (strcmp(name, "l_out") == 0) {
        t->bad_shape += layer != t->l_out++ || rows != 3 || width != dim;
    } else if (strcmp(name, "result_output") == 0) {
        t->result_output++;
        t->bad_shape += rows != 2 || width != vocab || width > 512;
        if (rows == 2 && width <= 512) memcpy(t->logits, data, 2 * (size_t)width * sizeof(float));
    }
}

/* cpu_state_set_trace hands the intermediate tensors: embd once, l_out once per layer,
   result_output equal to the returned logits; nothing once unset. */
static void test_trace(void)
{
    cpu_state *s = cpu_state_new_batch(ref_m, 16, 4);
    trace_log *t = xcalloc(1, sizeof *t);
    const int32_t toks[3] = {1, 403, 407};
    cpu_state_set_trace(s, on_trace, t);
    const float *lg = cpu_forward_batch(s, toks, 3, 0, 2);
    CHECK(lg && t->embd == 1 && t->l_out == ref_m->cfg.n_layers && t->result_output == 1);
    CHECK(t->bad_shape == 0);
    CHECK(lg && memcmp(lg, t->logits, 2 * (size_t)ref_m->cfg.n_vocab * sizeof(float)) == 0);
    cpu_state_set_trace(s, NULL, NULL);
    cpu_forward_batch(s, toks, 3, 0, 2);
    CHECK(t->embd == 1);
    free(t);
    cpu_state_free(s);
}

static void test_errors(const char *dir)
{
    char err[512] = "", path[1024];
    native_config cfg = {.path = "/nonexistent/model.gguf"};
    CHECK(!native_backend_new(&cfg, err, sizeof err));
    CHECK(strstr(err, "/nonexistent/model.gguf") && strstr(err, "cannot open"));
    snprintf(path, sizeof path, "%s/ggml-vocab-gpt-2.gguf", dir);
    cfg.path = path;
    CHECK(!native_backend_new(&cfg, err, sizeof err));
    CHECK(strstr(err, path) && strstr(err, "unsupported architecture 'gpt2'") &&
          strstr(err, "llama"));
    cfg.path = NULL;
    CHECK(!native_backend_new(&cfg, err, sizeof err) && strstr(err, "path="));

    char tmp[] = "/tmp/evallua_not_gguf.XXXXXX";       /* a text file named like a model */
    int fd = mkstemp(tmp);
    CHECK(fd >= 0 && write(fd, "hello, this is not a model file\n", 32) == 32);
    if (fd >= 0) close(fd);
    cfg.path = tmp;
    CHECK(!native_backend_new(&cfg, err, sizeof err));
    CHECK(strstr(err, tmp) && strstr(err, "not a GGUF file"));
    unlink(tmp);

    /* out of memory: the sizes are checked before anything big is allocated */
    cfg.path = model_path;
    cfg.ctx = 512;
    cfg.mem_limit = 1 << 20;
    CHECK(!native_backend_new(&cfg, err, sizeof err));
    printf("memory: %s\n", err);
    CHECK(strstr(err, model_path) && strstr(err, "not enough memory for ctx=512") &&
          strstr(err, "MiB") && strstr(err, "mem_limit is 1 MiB"));
    cfg.mem_limit = (size_t)1 << 30;
    backend *b = native_backend_new(&cfg, err, sizeof err);
    CHECK(b != NULL);
    if (b) b->vt->destroy(b);
}

/* ---- SmolLM2 against llama.cpp ------------------------------------------------------ */

static cJSON *read_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    buf b = {0};
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(&b, chunk, got);
    fclose(f);
    cJSON *j = cJSON_Parse(buf_str(&b));
    buf_free(&b);
    return j;
}

static int ids_equal(const tok_ids *t, const cJSON *arr)
{
    if ((int)t->n != cJSON_GetArraySize(arr)) return 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i] != cJSON_GetArrayItem(arr, (int)i)->valueint) return 0;
    return 1;
}

static int cmp_double(const void *pa, const void *pb)
{
    double x = *(const double *)pa, y = *(const double *)pb;
    return x < y ? -1 : x > y;
}

/* Spread of |a - b| over n values: median and maximum. */
static void spread(double *d, size_t n, double *median, double *max)
{
    qsort(d, n, sizeof *d, cmp_double);
    *median = n ? d[n / 2] : 0;
    *max = n ? d[n - 1] : 0;
}

/* Per-token logprobs of every fixture text given the prefix token, against llama.cpp's
   batched numbers (n_batch 512). evallua's forward pass rounds as llama.cpp's CPU backend
   does for a batch, so the logits are the same floats: every token within 1e-3 (the issue
   asks 0.02). A rounding difference anywhere upstream would show: with 8-bit activations and
   SmolLM2's massive activations (~25000 at the first position) one flipped quantization
   step grows to tenths of a nat, as between llama.cpp's own n_batch=1 and 512 numbers
   (printed for reference). */
static void smol_logprobs(model *m, tokenizer *tok, const cJSON *texts, int prefix)
{
    cpu_state *s = cpu_state_new_batch(m, 256, 64);
    double *ours = xcalloc(4096, sizeof *ours), *self = xcalloc(4096, sizeof *self);
    double sum_ours = 0, sum_ref = 0;
    size_t nd = 0;
    int n_texts = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, texts) {
        const char *text = cJSON_GetObjectItem(t, "text")->valuestring;
        const cJSON *want = cJSON_GetObjectItem(t, "logprobs");
        const cJSON *want1 = cJSON_GetObjectItem(t, "logprobs_batch1");
        tok_ids ids = {0};
        tok_ids_push(&ids, prefix);
        tok_encode(tok, text, strlen(text), 0, 1, &ids);
        tok_ids body = {ids.v + 1, ids.n - 1, 0};
        int same = ids_equal(&body, cJSON_GetObjectItem(t, "tokens"));
        if (!same) fprintf(stderr, "  tokens differ from llama.cpp's for \"%s\"\n", text);
        CHECK(same);
        int n = (int)ids.n - 1;
        const float *lg = same ? cpu_forward_batch(s, ids.v, n, 0, n) : NULL;
        for (int p = 0; lg && p < n && nd < 4096; p++, nd++) {
            double lp = log_softmax(lg + (size_t)p * m->cfg.n_vocab, m->cfg.n_vocab, ids.v[p + 1]);
            double ref = cJSON_GetArrayItem(want, p)->valuedouble;
            ours[nd] = fabs(lp - ref);
            self[nd] = fabs(cJSON_GetArrayItem(want1, p)->valuedouble - ref);
            if (ours[nd] > 1e-3)
                fprintf(stderr, "  \"%s\" token %d: logprob %.6f, llama.cpp %.6f\n", text, p, lp,
                        ref);
            sum_ours += lp;
            sum_ref += ref;
        }
        n_texts++;
        tok_ids_free(&ids);
    }
    double med, max, self_med, self_max;
    spread(ours, nd, &med, &max);
    spread(self, nd, &self_med, &self_max);
    printf("SmolLM2: %zu token logprobs of %d texts vs llama.cpp: |diff| median %.2g max %.2g, "
           "sum %.4f vs %.4f (llama.cpp n_batch=1 vs 512: median %.4f max %.4f)\n", nd, n_texts,
           med, max, sum_ours, sum_ref, self_med, self_max);
    CHECK(n_texts >= 20 && nd >= 200);
    CHECK(max <= 1e-3);
    free(ours);
    free(self);
    cpu_state_free(s);
}

/* The prompt of a fixture greedy run: its rendered text, which for a chat must be what the
   backend's chat template renders. Returns the prompt's tokens (caller frees). */
static tok_ids smol_prompt(backend *b, tokenizer *tok, const cJSON *r)
{
    const cJSON *msgs = cJSON_GetObjectItem(r, "messages");
    const char *rendered = cJSON_GetObjectItem(r, "rendered")->valuestring;
    if (msgs) {
        char err[256] = "", *json = cJSON_PrintUnformatted(msgs);
        char *prompt = native_backend_apply_chat(b, json, err, sizeof err);
        CHECK_STR(prompt, rendered);
        free(json);
        free(prompt);
    }
    tok_ids ids = {0};
    tok_encode(tok, rendered, strlen(rendered), 0, 1, &ids);
    CHECK(ids_equal(&ids, cJSON_GetObjectItem(r, "prompt_tokens")));
    return ids;
}

/* Teacher-forced along llama.cpp's greedy tokens `want` after prompt ids: how many of our
   argmaxes are its token, the first position where not (n if none) and the widest logit
   gap there. */
static int smol_forced(cpu_state *s, const model *m, const tok_ids *ids, const cJSON *want,
                       int *split, double *gap)
{
    const float *lg = cpu_forward_batch(s, ids->v, (int)ids->n, 0, 1);
    int pos = (int)ids->n, agree = 0, n = cJSON_GetArraySize(want);
    *split = -1;
    for (int k = 0; lg && k < n; k++) {
        int ref = cJSON_GetArrayItem(want, k)->valueint, best = argmax(lg, m->cfg.n_vocab);
        if (best == ref) agree++;
        else {
            *gap = fmax(*gap, lg[best] - lg[ref]);
            if (*split < 0) *split = k;
        }
        lg = cpu_forward_batch(s, &ref, 1, pos++, 1);
    }
    if (*split < 0) *split = n;
    return agree;
}

/* Along llama.cpp's 64 greedy tokens after each fixture prompt (chats rendered by the
   backend): our argmax is its token at every position of its batched path ("tokens"); its
   usual decode path ("tokens_decode", one token per step, which sums attention in another
   order) agrees except at near-ties, within 1 logit of our best. */
static void smol_greedy(backend *b, model *m, tokenizer *tok, const cJSON *runs)
{
    cpu_state *s = cpu_state_new_batch(m, 256, 64);
    const cJSON *r;
    int agree = 0, agree_dec = 0, total = 0, split[8] = {0}, split_dec[8] = {0}, n_runs = 0;
    double gap = 0, gap_dec = 0;
    cJSON_ArrayForEach(r, runs) {
        tok_ids ids = smol_prompt(b, tok, r);
        int k = n_runs < 8 ? n_runs : 7;
        agree += smol_forced(s, m, &ids, cJSON_GetObjectItem(r, "tokens"), &split[k], &gap);
        agree_dec += smol_forced(s, m, &ids, cJSON_GetObjectItem(r, "tokens_decode"),
                                 &split_dec[k], &gap_dec);
        total += cJSON_GetArraySize(cJSON_GetObjectItem(r, "tokens"));
        n_runs++;
        tok_ids_free(&ids);
    }
    printf("SmolLM2 greedy vs llama.cpp batched: %d of %d tokens agree (teacher-forced), "
           "identical prefixes %d %d %d %d %d of 64\n", agree, total, split[0], split[1],
           split[2], split[3], split[4]);
    printf("SmolLM2 greedy vs llama.cpp one-token decode: %d of %d agree, widest gap where not "
           "%.3f logits, identical prefixes %d %d %d %d %d of 64\n", agree_dec, total, gap_dec,
           split_dec[0], split_dec[1], split_dec[2], split_dec[3], split_dec[4]);
    CHECK(n_runs == 5 && total == 5 * 64);
    CHECK(agree == total);
    CHECK(gap_dec <= 1.0);
    CHECK(agree_dec >= total * 9 / 10);
    cpu_state_free(s);
}

/* Each fixture prompt through the backend's generate, greedy: the text of llama.cpp's 64
   greedy tokens (batched path), up to its first end-of-generation token. */
static void smol_generate(backend *b, tokenizer *tok, const cJSON *runs)
{
    eval_request q[8];
    eval_response r[8];
    buf want[8];
    int n = 0;
    const cJSON *run;
    cJSON_ArrayForEach(run, runs) {
        if (n == 8) break;
        q[n] = gen_req(cJSON_GetObjectItem(run, "rendered")->valuestring, 64, 0, -1);
        want[n] = (buf){0};
        const cJSON *t;
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(run, "tokens")) {
            if (tok_is_eog(tok, t->valueint)) break;
            tok_piece(tok, t->valueint, 0, &want[n]);
        }
        n++;
    }
    run_ok(b, q, r, (size_t)n);
    int same = 0;
    for (int i = 0; i < n; i++) {
        CHECK_STR(r[i].text, buf_str(&want[i]));
        same += r[i].text && strcmp(r[i].text, buf_str(&want[i])) == 0;
        buf_free(&want[i]);
    }
    printf("SmolLM2 generate: %d of %d greedy texts identical to llama.cpp's\n", same, n);
    CHECK(n == 5);
    free_all(q, r, (size_t)n);
}

/* The fixture's prompts (12 tokens greedy, every other one with a stop string) decoded
   together give exactly what decoding them one at a time gives. */
static void smol_batched(backend *together, const char *path, const cJSON *runs)
{
    char err[512] = "";
    native_config cfg = {.path = path, .threads = 2, .ctx = 512, .parallel = 1};
    backend *one = native_backend_new(&cfg, err, sizeof err);
    CHECK(one != NULL);
    if (!one) return;
    eval_request q[8];
    eval_response ra[8], rb[8];
    int n = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, runs) {
        if (n == 8) break;
        q[n] = gen_req(cJSON_GetObjectItem(r, "rendered")->valuestring, 12, 0, -1);
        if (n % 2) set_until(&q[n], "\n");
        n++;
    }
    run_ok(together, q, ra, (size_t)n);
    run_ok(one, q, rb, (size_t)n);
    int same = 0;
    for (int i = 0; i < n; i++) {
        CHECK_STR(ra[i].text, rb[i].text);
        CHECK(ra[i].completion_tokens == rb[i].completion_tokens);
        same += ra[i].text && rb[i].text && strcmp(ra[i].text, rb[i].text) == 0;
    }
    printf("SmolLM2 batched generate: %d of %d responses identical to one-at-a-time\n", same, n);
    CHECK(n == 5);
    for (int i = 0; i < n; i++) response_free(&rb[i]);
    free_all(q, ra, (size_t)n);
    one->vt->destroy(one);
}

static void test_smollm2(void)
{
    const char *src = getenv("EVALLUA_SRC");
    char path[1024], fixture[1024], err[512];
    snprintf(path, sizeof path, "%s/models/SmolLM2-135M-Instruct-Q4_1.gguf", src ? src : ".");
    snprintf(fixture, sizeof fixture, "%s/tests/fixtures/smollm2_reference.json", src ? src : ".");
    if (access(path, R_OK) != 0) {
        printf("skip: SmolLM2 checks need %s (scripts/fetch-model)\n", path);
        return;
    }
    cJSON *ref = read_json(fixture);
    model *m = model_open(path, err, sizeof err);
    tokenizer *tok = m ? tok_load(m->file, err, sizeof err) : NULL;
    native_config cfg = {.path = path, .threads = 2, .ctx = 512};
    backend *b = native_backend_new(&cfg, err, sizeof err);
    CHECK(ref && m && tok && b);
    if (ref && m && tok && b) {
        smol_logprobs(m, tok, cJSON_GetObjectItem(ref, "texts"),
                      cJSON_GetObjectItem(ref, "prefix_token")->valueint);
        smol_greedy(b, m, tok, cJSON_GetObjectItem(ref, "greedy"));
        smol_generate(b, tok, cJSON_GetObjectItem(ref, "greedy"));
        smol_batched(b, path, cJSON_GetObjectItem(ref, "greedy"));
    }
    if (b) b->vt->destroy(b);
    tok_free(tok);
    model_free(m);
    cJSON_Delete(ref);
}

int main(void)
{
    const char *dir = getenv("EVALLUA_TEST_MODELS");
    if (!dir) dir = "/work/shared/models";
    snprintf(model_path, sizeof model_path, "%s/stories260K.gguf", dir);
    if (access(model_path, R_OK) != 0) {
        printf("skip: model files not found (%s)\n", model_path);
        return 77;
    }
    char err[512];
    ref_m = model_open(model_path, err, sizeof err);
    ref_tok = ref_m ? tok_load(ref_m->file, err, sizeof err) : NULL;
    backend *b = open_native(0), *alone = open_native(0), *b64 = open_native(64);
    CHECK(ref_m && ref_tok && b && alone && b64);
    if (ref_m && ref_tok && b && alone && b64) {
        test_loglikelihood(b);
        test_grouping(b, alone);
        test_is_greedy(b);
        test_rolling(b64);
        test_truncation(b64);
        test_generate(b);
        test_sampling(b);
        backend *one = open_native_parallel(0, 1);
        CHECK(one != NULL);
        if (one) test_batched_generate(b, one);
        if (one) one->vt->destroy(one);
        test_stats(b);
        test_interrupt(b);
        test_trace();
    }
    test_errors(dir);
    test_smollm2();
    if (b) b->vt->destroy(b);
    if (alone) alone->vt->destroy(alone);
    if (b64) b64->vt->destroy(b64);
    tok_free(ref_tok);
    model_free(ref_m);
    return check_summary();
}
