/* ops.c — portable CPU kernels (the compiler vectorises the inner loops). */
#include "native/cpu/ops.h"

#include <math.h>
#include <stdlib.h>

#include "native/cpu/quant.h"
#include "util/buf.h"

/* Below this many weights a matrix-vector product runs on one thread. */
#define PARALLEL_MIN_WEIGHTS (1 << 15)

float cpu_dot(const float *a, const float *b, int n)
{
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    float s = 0;
    for (; i < n; i++) s += a[i] * b[i];
    for (int j = 0; j < 8; j++) s += acc[j];
    return s;
}

/* As ggml's rms_norm followed by its mul: squares in float summed in double, the scale
   1/sqrt(mean + eps) in float, then x * scale * weight with a rounding after each product. */
void cpu_rmsnorm(float *y, const float *x, const float *weight, int n, float eps)
{
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)(x[i] * x[i]);
    const float mean = (float)(ss / n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int i = 0; i < n; i++) y[i] = x[i] * scale * weight[i];
}

void cpu_get_row(const gguf_tensor *t, int64_t row, float *y)
{
    size_t rb = gguf_row_bytes(t->type, t->ne[0]);
    quant_dequant_row(t->type, (const char *)t->data + (size_t)row * rb, y, t->ne[0]);
}

void cpu_matvec(const gguf_tensor *w, const float *x, float *y)
{
    const int n = (int)w->ne[0];
    const int64_t rows = w->ne[1];
    const size_t rb = gguf_row_bytes(w->type, n);
    const char *base = w->data;
    const int parallel = (int64_t)n * rows >= PARALLEL_MIN_WEIGHTS;
    if (w->type == GGUF_DT_F32) {
        #pragma omp parallel for schedule(static) if (parallel)
        for (int64_t r = 0; r < rows; r++) y[r] = cpu_dot((const float *)(base + r * rb), x, n);
        return;
    }
    #pragma omp parallel if (parallel)
    {
        float *tmp = xmalloc((size_t)n * sizeof(float));   /* one decoded row per thread */
        #pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            quant_dequant_row(w->type, base + r * rb, tmp, n);
            y[r] = cpu_dot(tmp, x, n);
        }
        free(tmp);
    }
}

void cpu_rope(float *x, int n_heads, int head_dim, int rope_dim, const double *inv_freq,
              double pos, int neox)
{
    const int half = rope_dim / 2;
    for (int i = 0; i < half; i++) {
        double a = pos * inv_freq[i];
        float c = (float)cos(a), s = (float)sin(a);
        for (int h = 0; h < n_heads; h++) {
            float *v = x + h * head_dim;
            int i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
            float v0 = v[i0], v1 = v[i1];
            v[i0] = v0 * c - v1 * s;
            v[i1] = v0 * s + v1 * c;
        }
    }
}

void cpu_rope_angles(float *cos_sin, int rope_dim, float pos, float freq_base,
                     float freq_scale, const float *factors)
{
    const float theta_scale = powf(freq_base, -2.0f / (float)rope_dim);
    float theta = pos;
    for (int i = 0; i < rope_dim / 2; i++) {
        const float angle = freq_scale * (factors ? theta / factors[i] : theta);
        cos_sin[2 * i] = cosf(angle);
        cos_sin[2 * i + 1] = sinf(angle);
        theta *= theta_scale;
    }
}

void cpu_rope_rotate(float *x, int n_heads, int head_dim, int rope_dim, const float *cos_sin,
                     int neox)
{
    const int half = rope_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + h * head_dim;
        for (int i = 0; i < half; i++) {
            const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
            const int i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
            const float v0 = v[i0], v1 = v[i1];
            /* one rounding less than v0 c - v1 s: ggml's build contracts it to this FMA */
            v[i0] = fmaf(v0, c, -(v1 * s));
            v[i1] = fmaf(v0, s, v1 * c);
        }
    }
}

void cpu_softmax(float *x, int n)
{
    float max = x[0];
    for (int i = 1; i < n; i++) max = x[i] > max ? x[i] : max;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}
