/* test_gguf.c — the GGUF loader (hand-built files: every value type, alignment, every
 * validation error) and the dequantizers (blocks packed here from a reference quantizer,
 * byte by byte after ggml's layouts). The real model files are opened when present. */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "native/cpu/quant.h"
#include "native/gguf.h"
#include "util/buf.h"

/* ---- a tiny GGUF writer ------------------------------------------------------------------ */

static void w_bytes(buf *b, const void *p, size_t n) { buf_append(b, (const char *)p, n); }
static void w_u32(buf *b, uint32_t v) { w_bytes(b, &v, 4); }
static void w_u64(buf *b, uint64_t v) { w_bytes(b, &v, 8); }

static void w_str(buf *b, const char *s)
{
    w_u64(b, strlen(s));
    w_bytes(b, s, strlen(s));
}

static void w_key(buf *b, const char *key, uint32_t type)
{
    w_str(b, key);
    w_u32(b, type);
}

/* Byte offsets of fields the error tests patch. */
typedef struct marks {
    size_t version, n_tensors, n_kv, u8_type, arr_len, str_len;
    size_t q_ndims, q_dims, q_type, q_offset;
    size_t size;
} marks;

#define TEST_KV_COUNT 18

static void w_kvs(buf *b, marks *m)
{
    uint8_t u8 = 200; int8_t i8 = -100; uint16_t u16 = 60000; int16_t i16 = -30000;
    int32_t i32 = -2000000000; float f32 = 1.5f; int64_t i64 = -((int64_t)1 << 40);
    double f64 = 2.25;
    w_key(b, "general.architecture", GGUF_VT_STRING); w_str(b, "llama");
    m->u8_type = b->len + 8 + strlen("t.u8");
    w_key(b, "t.u8", GGUF_VT_UINT8); w_bytes(b, &u8, 1);
    w_key(b, "t.i8", GGUF_VT_INT8); w_bytes(b, &i8, 1);
    w_key(b, "t.u16", GGUF_VT_UINT16); w_bytes(b, &u16, 2);
    w_key(b, "t.i16", GGUF_VT_INT16); w_bytes(b, &i16, 2);
    w_key(b, "t.u32", GGUF_VT_UINT32); w_u32(b, 4000000000u);
    w_key(b, "t.i32", GGUF_VT_INT32); w_bytes(b, &i32, 4);
    w_key(b, "t.f32", GGUF_VT_FLOAT32); w_bytes(b, &f32, 4);
    w_key(b, "t.bool", GGUF_VT_BOOL); w_bytes(b, "\1", 1);
    w_key(b, "t.u64", GGUF_VT_UINT64); w_u64(b, (uint64_t)1 << 40);
    w_key(b, "t.i64", GGUF_VT_INT64); w_bytes(b, &i64, 8);
    w_key(b, "t.f64", GGUF_VT_FLOAT64); w_bytes(b, &f64, 8);
    m->str_len = b->len + 8 + strlen("t.str") + 4;
    w_key(b, "t.str", GGUF_VT_STRING); w_str(b, "hello");
    w_key(b, "t.arr_i32", GGUF_VT_ARRAY); w_u32(b, GGUF_VT_INT32);
    m->arr_len = b->len;
    w_u64(b, 3);
    int32_t ai[3] = {1, -2, 3};
    w_bytes(b, ai, sizeof ai);
    w_key(b, "t.arr_str", GGUF_VT_ARRAY); w_u32(b, GGUF_VT_STRING); w_u64(b, 3);
    w_str(b, "a"); w_str(b, "bc"); w_str(b, "");
    w_key(b, "t.nested", GGUF_VT_ARRAY); w_u32(b, GGUF_VT_ARRAY); w_u64(b, 2);
    w_u32(b, GGUF_VT_STRING); w_u64(b, 2); w_str(b, "x"); w_str(b, "y");
    w_u32(b, GGUF_VT_STRING); w_u64(b, 1); w_str(b, "z");
    float af[2] = {0.5f, -1.5f};
    w_key(b, "t.arr_f32", GGUF_VT_ARRAY); w_u32(b, GGUF_VT_FLOAT32); w_u64(b, 2);
    w_bytes(b, af, sizeof af);
    w_key(b, "t.arr_bool", GGUF_VT_ARRAY); w_u32(b, GGUF_VT_BOOL); w_u64(b, 2);
    w_bytes(b, "\1\0", 2);
}

/* A valid file: the keys above (+ general.alignment when align != 32), an F32 tensor
   "w" [4,2] holding 0..7 and a Q8_0 tensor "q" [64] of two blocks with d=0.5, q=i-32. */
static void build(buf *b, uint32_t align, marks *m)
{
    buf_clear(b);
    w_bytes(b, "GGUF", 4);
    m->version = b->len; w_u32(b, 3);
    m->n_tensors = b->len; w_u64(b, 2);
    m->n_kv = b->len; w_u64(b, TEST_KV_COUNT + (align != 32));
    w_kvs(b, m);
    if (align != 32) { w_key(b, "general.alignment", GGUF_VT_UINT32); w_u32(b, align); }
    w_str(b, "w"); w_u32(b, 2); w_u64(b, 4); w_u64(b, 2); w_u32(b, GGUF_DT_F32); w_u64(b, 0);
    w_str(b, "q");
    m->q_ndims = b->len; w_u32(b, 1);
    m->q_dims = b->len; w_u64(b, 64);
    m->q_type = b->len; w_u32(b, GGUF_DT_Q8_0);
    m->q_offset = b->len; w_u64(b, align);  /* 32 bytes of "w", padded to align */
    while (b->len % align) buf_putc(b, 0);
    for (int i = 0; i < 8; i++) { float v = (float)i; w_bytes(b, &v, 4); }
    while (b->len % align) buf_putc(b, 0);
    for (int blk = 0; blk < 2; blk++) {
        uint16_t d = f32_to_fp16(0.5f);
        w_bytes(b, &d, 2);
        for (int i = 0; i < 32; i++) buf_putc(b, (char)(int8_t)(blk * 32 + i - 32));
    }
    m->size = b->len;
}

static char tmp_path[64];

static gguf_file *open_bytes(const char *data, size_t n, char *err, size_t errlen)
{
    strcpy(tmp_path, "/tmp/evallua_test_gguf_XXXXXX");
    int fd = mkstemp(tmp_path);
    if (fd < 0 || (n && write(fd, data, n) != (ssize_t)n)) {
        perror("temp file");
        exit(1);
    }
    close(fd);
    gguf_file *f = gguf_open(tmp_path, err, errlen);
    unlink(tmp_path);
    return f;
}

/* Open a patched copy of b and expect failure whose message contains needle. */
static void expect_error(const buf *b, size_t n, const char *needle, int line)
{
    char err[512] = "";
    gguf_file *f = open_bytes(b->data, n, err, sizeof err);
    int ok = !f && strstr(err, needle) && strstr(err, tmp_path);
    CHECK(ok);
    if (!ok) fprintf(stderr, "  line %d: expected an error with \"%s\", got: %s\n", line,
                     needle, f ? "(opened)" : err);
    gguf_close(f);
}

static void patch_u32(buf *b, size_t at, uint32_t v) { memcpy(b->data + at, &v, 4); }
static void patch_u64(buf *b, size_t at, uint64_t v) { memcpy(b->data + at, &v, 8); }

/* ---- loader tests ------------------------------------------------------------------------ */

static void test_values(const gguf_file *f)
{
    char err[256];
    uint32_t u = 0; int64_t i = 0; float x = 0; int bo = 0; const char *s = NULL;
    const gguf_array *a = NULL;
    CHECK(f->version == 3 && f->n_kv >= TEST_KV_COUNT && f->n_tensors == 2);
    CHECK(gguf_get_str(f, "general.architecture", &s, err, sizeof err) == 1);
    CHECK_STR(s, "llama");
    CHECK(gguf_get_u32(f, "t.u8", &u, err, sizeof err) == 1 && u == 200);
    CHECK(gguf_get_i64(f, "t.i8", &i, err, sizeof err) == 1 && i == -100);
    CHECK(gguf_get_u32(f, "t.u16", &u, err, sizeof err) == 1 && u == 60000);
    CHECK(gguf_get_i64(f, "t.i16", &i, err, sizeof err) == 1 && i == -30000);
    CHECK(gguf_get_u32(f, "t.u32", &u, err, sizeof err) == 1 && u == 4000000000u);
    CHECK(gguf_get_i64(f, "t.i32", &i, err, sizeof err) == 1 && i == -2000000000);
    CHECK(gguf_get_f32(f, "t.f32", &x, err, sizeof err) == 1 && x == 1.5f);
    CHECK(gguf_get_bool(f, "t.bool", &bo, err, sizeof err) == 1 && bo == 1);
    CHECK(gguf_get_i64(f, "t.u64", &i, err, sizeof err) == 1 && i == (int64_t)1 << 40);
    CHECK(gguf_get_i64(f, "t.i64", &i, err, sizeof err) == 1 && i == -((int64_t)1 << 40));
    CHECK(gguf_get_f32(f, "t.f64", &x, err, sizeof err) == 1 && x == 2.25f);
    CHECK(gguf_get_str(f, "t.str", &s, err, sizeof err) == 1);
    CHECK_STR(s, "hello");
    /* absent keys leave the output alone; wrong types and ranges are errors */
    u = 7;
    CHECK(gguf_get_u32(f, "t.missing", &u, err, sizeof err) == 0 && u == 7);
    CHECK(gguf_get_u32(f, "t.i32", &u, err, sizeof err) == -1 && strstr(err, "t.i32"));
    CHECK(gguf_get_u32(f, "t.u64", &u, err, sizeof err) == -1 && strstr(err, "uint32"));
    CHECK(gguf_get_u32(f, "t.str", &u, err, sizeof err) == -1 && strstr(err, "string"));
    CHECK(gguf_get_str(f, "t.u8", &s, err, sizeof err) == -1 && strstr(err, "uint8"));
    CHECK(gguf_get_arr(f, "t.f32", &a, err, sizeof err) == -1);
    CHECK(gguf_get_arr(f, "t.arr_i32", &a, err, sizeof err) == 1);
    CHECK(a->type == GGUF_VT_INT32 && a->n == 3 && gguf_arr_int(a, 1) == -2 &&
          gguf_arr_float(a, 2) == 3.0);
    CHECK(gguf_get_arr(f, "t.arr_str", &a, err, sizeof err) == 1 && a->n == 3);
    gguf_str e = gguf_arr_str(a, 1);
    CHECK(e.len == 2 && memcmp(e.ptr, "bc", 2) == 0 && gguf_arr_str(a, 2).len == 0);
    CHECK(gguf_get_arr(f, "t.nested", &a, err, sizeof err) == 1);
    CHECK(a->type == GGUF_VT_ARRAY && a->n == 2 && a->items[0].v.a.n == 2 &&
          a->items[1].v.a.n == 1);
    e = gguf_arr_str(&a->items[1].v.a, 0);
    CHECK(e.len == 1 && e.ptr[0] == 'z');
    CHECK(gguf_get_arr(f, "t.arr_f32", &a, err, sizeof err) == 1);
    CHECK(gguf_arr_float(a, 1) == -1.5);
    CHECK(gguf_get_arr(f, "t.arr_bool", &a, err, sizeof err) == 1);
    CHECK(gguf_arr_int(a, 0) == 1 && gguf_arr_int(a, 1) == 0);
}

static void test_tensors(const gguf_file *f, uint32_t align)
{
    CHECK(f->alignment == align && f->data_offset % align == 0);
    const gguf_tensor *w = gguf_find_tensor(f, "w"), *q = gguf_find_tensor(f, "q");
    CHECK(w && q && !gguf_find_tensor(f, "nope"));
    if (!w || !q) return;
    CHECK(w->n_dims == 2 && w->ne[0] == 4 && w->ne[1] == 2 && w->ne[2] == 1);
    CHECK(w->type == GGUF_DT_F32 && w->nbytes == 32);
    float v[8];
    memcpy(v, w->data, sizeof v);
    CHECK(v[0] == 0.0f && v[7] == 7.0f);
    CHECK(q->type == GGUF_DT_Q8_0 && q->nbytes == 68 && q->offset == align);
    float row[64];
    quant_dequant_row(q->type, q->data, row, 64);
    CHECK(row[0] == -16.0f && row[63] == 15.5f);
}

static void test_valid(void)
{
    buf b = {0};
    marks m;
    char err[512];
    uint32_t aligns[2] = {32, 64};
    for (int k = 0; k < 2; k++) {
        build(&b, aligns[k], &m);
        gguf_file *f = open_bytes(b.data, b.len, err, sizeof err);
        CHECK(f != NULL);
        if (!f) { fprintf(stderr, "  %s\n", err); continue; }
        test_values(f);
        test_tensors(f, aligns[k]);
        gguf_close(f);
    }
    buf_free(&b);
}

static void test_truncations(void)
{
    buf b = {0};
    marks m;
    build(&b, 32, &m);
    int bad = 0;
    for (size_t n = 0; n < b.len; n++) {
        char err[512] = "";
        gguf_file *f = open_bytes(b.data, n, err, sizeof err);
        const char *want = n < 8 ? "not a GGUF file" : "truncated";
        if (f || !strstr(err, want)) {
            if (bad++ < 3) fprintf(stderr, "  prefix of %zu bytes: %s\n", n, f ? "opened" : err);
        }
        gguf_close(f);
    }
    CHECK(bad == 0);
    buf_free(&b);
}

static void test_errors(void)
{
    buf b = {0}, p = {0};
    marks m;
    build(&b, 32, &m);
#define PATCHED(stmt, needle)                        \
    do {                                             \
        buf_clear(&p);                               \
        buf_append(&p, b.data, b.len);               \
        stmt;                                        \
        expect_error(&p, p.len, needle, __LINE__);   \
    } while (0)
    PATCHED(memcpy(p.data, "GGML", 4), "not a GGUF file (bad magic");
    PATCHED(patch_u32(&p, m.version, 1), "unsupported GGUF version 1");
    PATCHED(patch_u32(&p, m.version, 4), "unsupported GGUF version 4");
    PATCHED(patch_u32(&p, m.version, 0x03000000), "big-endian");
    PATCHED(patch_u64(&p, m.n_kv, (uint64_t)1 << 60), "absurd metadata count");
    PATCHED(patch_u64(&p, m.n_tensors, (uint64_t)1 << 60), "absurd tensor count");
    PATCHED(patch_u64(&p, m.arr_len, (uint64_t)1 << 61), "absurd array element count");
    PATCHED(patch_u64(&p, m.str_len, (uint64_t)1 << 62), "truncated file");
    PATCHED(patch_u32(&p, m.u8_type, 13), "unknown value type 13");
    PATCHED(patch_u32(&p, m.q_type, 99), "unknown tensor type 99");
    PATCHED(patch_u32(&p, m.q_type, 10), "'q' has type Q2_K");
    PATCHED(patch_u32(&p, m.q_ndims, 5), "5 dimensions");
    PATCHED(patch_u64(&p, m.q_dims, 63), "not a multiple");
    PATCHED(patch_u64(&p, m.q_offset, 40), "not a multiple of the alignment");
    PATCHED(patch_u64(&p, m.q_offset, 1 << 20), "tensor 'q'");
    PATCHED(p.len -= 1, "runs past the end");
    PATCHED(memcpy(p.data + m.u8_type + 4 + 1 + 8, "t.u8", 4), "duplicate metadata key 't.u8'");
    PATCHED(p.data[m.q_ndims - 1] = 'w', "duplicate tensor name 'w'");
    buf_free(&p);
    /* dimensions whose product overflows: three dims of 2^32 (no data needed to fail) */
    buf_clear(&p);
    w_bytes(&p, "GGUF", 4); w_u32(&p, 3); w_u64(&p, 1); w_u64(&p, 0);
    w_str(&p, "big"); w_u32(&p, 3);
    for (int d = 0; d < 3; d++) w_u64(&p, (uint64_t)1 << 32);
    w_u32(&p, GGUF_DT_F32); w_u64(&p, 0);
    expect_error(&p, p.len, "overflow", __LINE__);
    /* bad general.alignment */
    buf_clear(&p);
    w_bytes(&p, "GGUF", 4); w_u32(&p, 2); w_u64(&p, 0); w_u64(&p, 1);
    w_key(&p, "general.alignment", GGUF_VT_UINT32); w_u32(&p, 48);
    expect_error(&p, p.len, "not a power of two", __LINE__);
    buf_free(&p);
    buf_free(&b);
}

/* ---- dequantization: reference quantizers that pack ggml's byte layouts ---------------- */

#define NV 512   /* two K-quant super-blocks, sixteen 32-blocks */

static void test_vector(float *x)
{
    for (int i = 0; i < NV; i++)
        x[i] = 0.8f * sinf(0.37f * (float)i) + 0.2f * cosf(1.3f * (float)i * (float)i);
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static uint16_t put_half(uint8_t *dst, float v)
{
    uint16_t h = f32_to_fp16(v);
    memcpy(dst, &h, 2);
    return h;
}

/* Q4_0, Q4_1, Q5_0, Q5_1, Q8_0: one 32-value block; expected values go to y. */
static void quant_block32(gguf_dtype t, const float *x, uint8_t *blk, float *y)
{
    float lo = x[0], hi = x[0], amax = 0;
    for (int i = 0; i < 32; i++) {
        lo = fminf(lo, x[i]); hi = fmaxf(hi, x[i]); amax = fmaxf(amax, fabsf(x[i]));
    }
    int bits = (t == GGUF_DT_Q5_0 || t == GGUF_DT_Q5_1) ? 5 : t == GGUF_DT_Q8_0 ? 8 : 4;
    int affine = t == GGUF_DT_Q4_1 || t == GGUF_DT_Q5_1;
    int qmax = (1 << bits) - 1, zero = affine ? 0 : 1 << (bits - 1);
    float d = affine ? (hi - lo) / (float)qmax : amax / (float)(zero - 1);
    float df = fp16_to_f32(put_half(blk, d));
    float mf = affine ? fp16_to_f32(put_half(blk + 2, lo)) : 0;
    uint8_t *qs = blk + (affine ? 4 : 2) + (bits == 5 ? 4 : 0);
    uint32_t qh = 0;
    for (int i = 0; i < 32; i++) {
        int q = clampi((int)lrintf((x[i] - mf) / df) + zero, 0, qmax);
        y[i] = affine ? (float)q * df + mf : (float)(q - zero) * df;
        if (bits == 8) { qs[i] = (uint8_t)(int8_t)(q - zero); continue; }
        qs[i % 16] |= (uint8_t)((q & 0xF) << (i < 16 ? 0 : 4));
        qh |= (uint32_t)(q >> 4) << i;
    }
    if (bits == 5) memcpy(blk + (affine ? 4 : 2), &qh, 4);
}

/* Q4_K / Q5_K: 256 values, eight sub-blocks of 32 with 6-bit scales and mins. */
static void quant_block_k45(int bits, const float *x, uint8_t *blk, float *y)
{
    float scale[8], minv[8], smax = 0, mmax = 0;
    int qmax = (1 << bits) - 1;
    for (int j = 0; j < 8; j++) {
        float lo = 0, hi = x[32 * j];
        for (int i = 0; i < 32; i++) {
            lo = fminf(lo, x[32 * j + i]);
            hi = fmaxf(hi, x[32 * j + i]);
        }
        scale[j] = (hi - lo) / (float)qmax; minv[j] = -lo;
        smax = fmaxf(smax, scale[j]); mmax = fmaxf(mmax, minv[j]);
    }
    float d = fp16_to_f32(put_half(blk, smax / 63));
    float dmin = fp16_to_f32(put_half(blk + 2, mmax / 63));
    uint8_t *sc = blk + 4, *qh = blk + 16, *qs = blk + 16 + (bits == 5 ? 32 : 0);
    for (int j = 0; j < 8; j++) {
        int ls = clampi((int)lrintf(scale[j] / d), 1, 63);
        int lm = clampi((int)lrintf(minv[j] / dmin), 0, 63);
        if (j < 4) { sc[j] |= (uint8_t)ls; sc[j + 4] |= (uint8_t)lm; }
        else {
            sc[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            sc[j - 4] |= (uint8_t)((ls >> 4) << 6); sc[j] |= (uint8_t)((lm >> 4) << 6);
        }
        float d1 = d * (float)ls, m1 = dmin * (float)lm;
        for (int i = 0; i < 32; i++) {
            int q = clampi((int)lrintf((x[32 * j + i] + m1) / d1), 0, qmax);
            y[32 * j + i] = d1 * (float)q - m1;
            qs[32 * (j / 2) + i] |= (uint8_t)((q & 0xF) << (j % 2 ? 4 : 0));
            if (bits == 5) qh[i] |= (uint8_t)((q >> 4) << j);
        }
    }
}

/* Q6_K: 256 values, sixteen sub-blocks of 16 with int8 scales; d last. */
static void quant_block_q6k(const float *x, uint8_t *blk, float *y)
{
    float scale[16], smax = 0;
    for (int j = 0; j < 16; j++) {
        float amax = 0;
        for (int i = 0; i < 16; i++) amax = fmaxf(amax, fabsf(x[16 * j + i]));
        scale[j] = amax / 31; smax = fmaxf(smax, scale[j]);
    }
    uint8_t *ql = blk, *qh = blk + 128;
    int8_t *sc = (int8_t *)(blk + 192);
    float d = fp16_to_f32(put_half(blk + 208, smax / 127));
    for (int v = 0; v < 256; v++) {
        int j = v / 16;
        if (v % 16 == 0) sc[j] = (int8_t)clampi((int)lrintf(scale[j] / d), 1, 127);
        int q = clampi((int)lrintf(x[v] / (d * sc[j])) + 32, 0, 63);
        y[v] = d * (float)sc[j] * (float)(q - 32);
        int h = v / 128, k = (v % 128) / 32, l = v % 32;   /* half, quarter, lane */
        ql[64 * h + l + (k % 2) * 32] |= (uint8_t)((q & 0xF) << (k >= 2 ? 4 : 0));
        qh[32 * h + l] |= (uint8_t)((q >> 4) << (2 * k));
    }
}

static void check_dequant(gguf_dtype t, float tol)
{
    float x[NV], want[NV], got[NV];
    test_vector(x);
    size_t row = gguf_row_bytes(t, NV);
    uint8_t *data = calloc(1, row);
    int64_t blk = gguf_dtype_block(t);
    size_t bb = gguf_dtype_block_bytes(t);
    for (int64_t b = 0; b < NV / blk; b++) {
        uint8_t *dst = data + b * bb;
        const float *xs = x + b * blk;
        float *ys = want + b * blk;
        if (t == GGUF_DT_Q4_K || t == GGUF_DT_Q5_K)
            quant_block_k45(t == GGUF_DT_Q4_K ? 4 : 5, xs, dst, ys);
        else if (t == GGUF_DT_Q6_K) quant_block_q6k(xs, dst, ys);
        else quant_block32(t, xs, dst, ys);
    }
    quant_dequant_row(t, data, got, NV);
    float exact = 0, approx = 0;
    for (int i = 0; i < NV; i++) {
        exact = fmaxf(exact, fabsf(got[i] - want[i]));
        approx = fmaxf(approx, fabsf(got[i] - x[i]));
    }
    if (exact > 1e-6f || approx > tol)
        fprintf(stderr, "  %s: max |got-packed| %g, max |got-x| %g (tol %g)\n",
                gguf_dtype_name(t), exact, approx, tol);
    CHECK(exact <= 1e-6f);
    CHECK(approx <= tol);
    free(data);
}

static void test_halfs(void)
{
    CHECK(f32_to_fp16(1.0f) == 0x3C00 && f32_to_fp16(-2.0f) == 0xC000);
    CHECK(f32_to_fp16(65504.0f) == 0x7BFF && f32_to_fp16(65520.0f) == 0x7C00);
    CHECK(f32_to_fp16(5.9604645e-8f) == 0x0001 && f32_to_fp16(0.1f) == 0x2E66);
    CHECK(f32_to_fp16(1.0f + 1.0f / 2048) == 0x3C00);        /* tie: to even */
    CHECK(f32_to_fp16(1.0f + 3.0f / 2048) == 0x3C02);
    CHECK(fp16_to_f32(0x3555) == 0.333251953125f && fp16_to_f32(0x0001) == 5.9604645e-8f);
    CHECK(isinf(fp16_to_f32(0x7C00)) && isnan(fp16_to_f32(0x7E00)));
    CHECK(f32_to_bf16(1.0f) == 0x3F80 && bf16_to_f32(0xC040) == -3.0f);
    CHECK(f32_to_bf16(1.0f + 1.0f / 256) == 0x3F80);          /* tie: to even */
    CHECK(f32_to_bf16(1.0f + 3.0f / 256) == 0x3F82);
    float x[NV], got[NV];
    uint16_t h[NV], bh[NV];
    test_vector(x);
    for (int i = 0; i < NV; i++) { h[i] = f32_to_fp16(x[i]); bh[i] = f32_to_bf16(x[i]); }
    quant_dequant_row(GGUF_DT_F16, h, got, NV);
    float e = 0;
    for (int i = 0; i < NV; i++) e = fmaxf(e, fabsf(got[i] - x[i]));
    CHECK(e < 1e-3f);
    quant_dequant_row(GGUF_DT_BF16, bh, got, NV);
    e = 0;
    for (int i = 0; i < NV; i++) e = fmaxf(e, fabsf(got[i] - x[i]));
    CHECK(e < 8e-3f);
}

static void test_dequant(void)
{
    test_halfs();
    check_dequant(GGUF_DT_Q8_0, 0.01f);
    check_dequant(GGUF_DT_Q4_0, 0.1f);
    check_dequant(GGUF_DT_Q4_1, 0.1f);
    check_dequant(GGUF_DT_Q5_0, 0.05f);
    check_dequant(GGUF_DT_Q5_1, 0.05f);
    check_dequant(GGUF_DT_Q4_K, 0.1f);
    check_dequant(GGUF_DT_Q5_K, 0.05f);
    check_dequant(GGUF_DT_Q6_K, 0.03f);
    CHECK(gguf_row_bytes(GGUF_DT_Q6_K, 512) == 420 && gguf_row_bytes(GGUF_DT_BF16, 3) == 6);
}

/* ---- real files ------------------------------------------------------------------------- */

static void test_real_files(const char *dir)
{
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/stories260K.gguf", dir);
    gguf_file *f = gguf_open(path, err, sizeof err);
    CHECK(f != NULL);
    if (!f) { fprintf(stderr, "  %s\n", err); return; }
    uint32_t dim = 0;
    const gguf_array *tokens = NULL;
    CHECK(gguf_get_u32(f, "llama.embedding_length", &dim, err, sizeof err) == 1 && dim == 64);
    CHECK(gguf_get_arr(f, "tokenizer.ggml.tokens", &tokens, err, sizeof err) == 1);
    CHECK(tokens && tokens->n == 512);
    const gguf_tensor *t = gguf_find_tensor(f, "blk.4.ffn_down.weight");
    CHECK(t && t->ne[0] == 172 && t->ne[1] == 64 && f->n_tensors == 48);
    gguf_close(f);
    snprintf(path, sizeof path, "%s/ggml-vocab-gpt-2.gguf", dir);
    f = gguf_open(path, err, sizeof err);
    CHECK(f != NULL && gguf_get_arr(f, "tokenizer.ggml.merges", &tokens, err, sizeof err) == 1);
    if (f) CHECK(tokens->n == 50000);
    gguf_close(f);
}

int main(void)
{
    test_valid();
    test_truncations();
    test_errors();
    test_dequant();
    const char *dir = getenv("EVALLUA_TEST_MODELS");
    if (!dir) dir = "/work/shared/models";
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/stories260K.gguf", dir);
    if (access(probe, R_OK) != 0) {
        printf("skip: real GGUF files not found (%s)\n", probe);
        check_summary();
        return check_failed_ ? 1 : 77;
    }
    test_real_files(dir);
    return check_summary();
}
