/* test_forward.c — CPU kernels against naive formulas, then stories260K.gguf: the model's
 * configuration, its logits against stories260K_reference.txt (top-5 and logsumexp within
 * 1e-3 for 8 greedy steps from BOS) and its greedy story decoded. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "native/cpu/forward.h"
#include "native/cpu/ops.h"
#include "native/cpu/quant.h"
#include "native/model.h"
#include "native/tokenizer.h"
#include "util/buf.h"

/* ---- kernels --------------------------------------------------------------------------- */

static float frand(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return (float)(*state >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
}

static void test_small_kernels(void)
{
    float a[19], b[19], y[19], w[19];
    uint32_t seed = 1;
    double dot = 0, ss = 0;
    for (int i = 0; i < 19; i++) {
        a[i] = frand(&seed); b[i] = frand(&seed); w[i] = frand(&seed);
        dot += (double)a[i] * b[i]; ss += (double)a[i] * a[i];
    }
    CHECK_NEAR(cpu_dot(a, b, 19), dot, 1e-5);
    cpu_rmsnorm(y, a, w, 19, 1e-5f);
    CHECK_NEAR(y[7], a[7] / sqrt(ss / 19 + 1e-5) * w[7], 1e-5);
    float sm[4] = {1, 2, 3, 1000};
    cpu_softmax(sm, 3);
    CHECK_NEAR(sm[0] + sm[1] + sm[2], 1.0, 1e-6);
    CHECK_NEAR(sm[2] / sm[1], exp(1.0), 1e-4);
    float g[2] = {1.0f, -2.0f}, u[2] = {3.0f, 0.5f};
    cpu_swiglu(g, u, 2);
    CHECK_NEAR(g[0], 1.0 / (1.0 + exp(-1.0)) * 3.0, 1e-6);
    CHECK_NEAR(g[1], -2.0 / (1.0 + exp(2.0)) * 0.5, 1e-6);
}

static void test_rope(void)
{
    /* two heads of 6 with 4 rotary dims; pair 0 turns by pos, pair 1 by pos/100 */
    double inv[2] = {1.0, 0.01};
    float x[12], n[12];
    for (int i = 0; i < 12; i++) x[i] = n[i] = (float)(i + 1);
    cpu_rope(x, 2, 6, 4, inv, 2.0, 0);
    cpu_rope(n, 2, 6, 4, inv, 2.0, 1);
    double c = cos(2.0), s = sin(2.0), c1 = cos(0.02), s1 = sin(0.02);
    CHECK_NEAR(x[0], 1 * c - 2 * s, 1e-6);        /* normal: (0,1) and (2,3) */
    CHECK_NEAR(x[1], 1 * s + 2 * c, 1e-6);
    CHECK_NEAR(x[3], 3 * s1 + 4 * c1, 1e-6);
    CHECK(x[4] == 5.0f && x[5] == 6.0f);          /* beyond rope_dim: untouched */
    CHECK_NEAR(x[6], 7 * c - 8 * s, 1e-6);        /* second head */
    CHECK_NEAR(n[0], 1 * c - 3 * s, 1e-6);        /* neox: (0,2) and (1,3) */
    CHECK_NEAR(n[2], 1 * s + 3 * c, 1e-6);
    CHECK_NEAR(n[3], 2 * s1 + 4 * c1, 1e-6);
}

/* cpu_matvec on F32, F16 and Q8_0 weights against a double-precision product of the
   decoded rows; big enough to take the OpenMP path. */
static void test_matvec(void)
{
    enum { COLS = 256, ROWS = 160 };
    static float wf[ROWS * COLS], x[COLS], y[ROWS];
    static uint16_t wh[ROWS * COLS];
    static block_q8_0 wq[ROWS * COLS / 32];
    uint32_t seed = 7;
    for (int i = 0; i < COLS; i++) x[i] = frand(&seed);
    for (int i = 0; i < ROWS * COLS; i++) { wf[i] = frand(&seed); wh[i] = f32_to_fp16(wf[i]); }
    for (int bl = 0; bl < ROWS * COLS / 32; bl++) {
        wq[bl].d = f32_to_fp16(1.0f / 127);
        for (int j = 0; j < 32; j++) wq[bl].qs[j] = (int8_t)lrintf(wf[bl * 32 + j] * 127);
    }
    gguf_tensor t = {.n_dims = 2, .ne = {COLS, ROWS, 1, 1}};
    const void *data[3] = {wf, wh, wq};
    gguf_dtype types[3] = {GGUF_DT_F32, GGUF_DT_F16, GGUF_DT_Q8_0};
    for (int k = 0; k < 3; k++) {
        t.type = types[k];
        t.data = data[k];
        cpu_matvec(&t, x, y);
        double worst = 0;
        for (int r = 0; r < ROWS; r++) {
            float row[COLS];
            double want = 0;
            cpu_get_row(&t, r, row);
            for (int i = 0; i < COLS; i++) want += (double)row[i] * x[i];
            worst = fmax(worst, fabs(want - y[r]));
        }
        if (worst > 1e-4)
            fprintf(stderr, "  matvec %s: max error %g\n", gguf_dtype_name(t.type), worst);
        CHECK(worst <= 1e-4);
    }
}

/* ---- stories260K ----------------------------------------------------------------------- */

typedef struct ref_step {
    int in_tok;
    int top_id[5];
    double top_logit[5];
    double lse;
} ref_step;

static int read_reference(const char *path, ref_step *steps, int max)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[512];
    int n = 0;
    while (n < max && fgets(line, sizeof line, f)) {
        ref_step *s = &steps[n];
        int pos, off;
        if (sscanf(line, "pos %d in_tok %d top5%n", &pos, &s->in_tok, &off) != 2) continue;
        char *p = line + off;
        int ok = 1;
        for (int k = 0; k < 5 && ok; k++, p += off)
            ok = sscanf(p, " %d:%lf%n", &s->top_id[k], &s->top_logit[k], &off) == 2;
        if (ok && sscanf(p, " logsumexp %lf", &s->lse) == 1) n++;
    }
    fclose(f);
    return n;
}

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

static double logsumexp(const float *v, int n)
{
    double max = v[argmax(v, n)], sum = 0;
    for (int i = 0; i < n; i++) sum += exp((double)v[i] - max);
    return max + log(sum);
}

static double worst_logit_error;   /* over every reference value checked */

/* Check one step's logits against the reference: top-5 ids in order and values, lse. */
static void check_step(const float *logits, int n, const ref_step *r, int step)
{
    float *v = xmalloc((size_t)n * sizeof(float));
    memcpy(v, logits, (size_t)n * sizeof(float));
    int bad = 0;
    for (int k = 0; k < 5; k++) {
        int id = argmax(v, n);
        bad += id != r->top_id[k] || fabs(logits[id] - r->top_logit[k]) > 1e-3;
        if (id != r->top_id[k] || fabs(logits[id] - r->top_logit[k]) > 1e-3)
            fprintf(stderr, "  step %d top %d: got %d:%.5f, expected %d:%.5f\n", step, k, id,
                    logits[id], r->top_id[k], r->top_logit[k]);
        worst_logit_error = fmax(worst_logit_error, fabs(logits[id] - r->top_logit[k]));
        v[id] = -INFINITY;
    }
    double lse = logsumexp(logits, n);
    worst_logit_error = fmax(worst_logit_error, fabs(lse - r->lse));
    if (fabs(lse - r->lse) > 1e-3)
        fprintf(stderr, "  step %d logsumexp %.5f, expected %.5f\n", step, lse, r->lse);
    CHECK(bad == 0);
    CHECK_NEAR(lse, r->lse, 1e-3);
    free(v);
}

static void test_config(const model *m)
{
    const model_config *c = &m->cfg;
    CHECK_STR(c->arch, "llama");
    CHECK(c->dim == 64 && c->n_layers == 5 && c->n_heads == 8 && c->n_kv_heads == 4);
    CHECK(c->head_dim == 8 && c->rope_dim == 8 && c->ffn_dim == 172 && c->n_vocab == 512);
    CHECK(c->rope_base == 10000.0f && c->rope_scale == 1.0f && !c->rope_neox);
    CHECK_NEAR(c->rms_eps, 1e-5, 1e-12);
    CHECK(m->output != m->tok_embd && !m->layers[0].bq);
}

static void test_stories(const char *dir)
{
    char path[1024], err[512];
    ref_step ref[8];
    snprintf(path, sizeof path, "%s/stories260K_reference.txt", dir);
    int n_ref = read_reference(path, ref, 8);
    CHECK(n_ref == 8);
    snprintf(path, sizeof path, "%s/stories260K.gguf", dir);
    model *m = model_open(path, err, sizeof err);
    tokenizer *tok = m ? tok_load(m->file, err, sizeof err) : NULL;
    CHECK(m && tok);
    if (!m || !tok) {
        fprintf(stderr, "  %s\n", err);
        goto done;
    }
    test_config(m);
    enum { STEPS = 40 };
    cpu_state *s = cpu_state_new(m, 64);
    int32_t ids[STEPS];
    int32_t token = tok_get_config(tok)->bos;
    CHECK(token == 1);
    for (int pos = 0; pos < STEPS; pos++) {
        const float *logits = cpu_forward(s, token, pos);
        if (pos < n_ref) {
            CHECK(token == ref[pos].in_tok);
            check_step(logits, m->cfg.n_vocab, &ref[pos], pos);
        }
        token = ids[pos] = argmax(logits, m->cfg.n_vocab);
    }
    CHECK(cpu_forward(s, 512, 0) == NULL && cpu_forward(s, 1, 64) == NULL);
    char *text = tok_decode(tok, ids, STEPS, 0);
    const char *want = "Once upon a time, there was a little girl named Lily.";
    CHECK(strncmp(text, want, strlen(want)) == 0);
    printf("stories260K: %d reference steps, worst logit/logsumexp error %.2g\n", n_ref,
           worst_logit_error);
    printf("stories260K greedy: %s\n", text);
    free(text);
    cpu_state_free(s);
done:
    tok_free(tok);
    model_free(m);
}

static void test_bad_models(const char *dir)
{
    char path[1024], err[512] = "";
    snprintf(path, sizeof path, "%s/ggml-vocab-gpt-2.gguf", dir);
    model *m = model_open(path, err, sizeof err);
    CHECK(!m && strstr(err, "unsupported architecture 'gpt2'") && strstr(err, "qwen2"));
    snprintf(path, sizeof path, "%s/ggml-vocab-llama-spm.gguf", dir);
    m = model_open(path, err, sizeof err);
    CHECK(!m && strstr(err, "'token_embd.weight' is missing") && strstr(err, path));
    m = model_open("/nonexistent/model.gguf", err, sizeof err);
    CHECK(!m && strstr(err, "cannot open"));
}

int main(void)
{
    test_small_kernels();
    test_rope();
    test_matvec();
    const char *dir = getenv("EVALLUA_TEST_MODELS");
    if (!dir) dir = "/work/shared/models";
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/stories260K.gguf", dir);
    if (access(probe, R_OK) != 0) {
        printf("skip: model files not found (%s)\n", probe);
        check_summary();
        return check_failed_ ? 1 : 77;
    }
    test_stories(dir);
    test_bad_models(dir);
    return check_summary();
}
