/* gguf.c — GGUF parsing and validation over a read-only memory map. */
#include "native/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_MAX_NESTING 8

/* ---- tensor type table ---------------------------------------------------------------- */

typedef struct dtype_info {
    const char *name;
    int64_t block;        /* elements per block; 0 = a ggml type evallua cannot read */
    size_t block_bytes;
} dtype_info;

static const dtype_info DTYPES[] = {
    [0] = {"F32", 1, 4},       [1] = {"F16", 1, 2},        [2] = {"Q4_0", 32, 18},
    [3] = {"Q4_1", 32, 20},    [4] = {"Q4_2", 0, 0},       [5] = {"Q4_3", 0, 0},
    [6] = {"Q5_0", 32, 22},    [7] = {"Q5_1", 32, 24},     [8] = {"Q8_0", 32, 34},
    [9] = {"Q8_1", 0, 0},      [10] = {"Q2_K", 0, 0},      [11] = {"Q3_K", 0, 0},
    [12] = {"Q4_K", 256, 144}, [13] = {"Q5_K", 256, 176},  [14] = {"Q6_K", 256, 210},
    [15] = {"Q8_K", 0, 0},     [16] = {"IQ2_XXS", 0, 0},   [17] = {"IQ2_XS", 0, 0},
    [18] = {"IQ3_XXS", 0, 0},  [19] = {"IQ1_S", 0, 0},     [20] = {"IQ4_NL", 0, 0},
    [21] = {"IQ3_S", 0, 0},    [22] = {"IQ2_S", 0, 0},     [23] = {"IQ4_XS", 0, 0},
    [24] = {"I8", 0, 0},       [25] = {"I16", 0, 0},       [26] = {"I32", 0, 0},
    [27] = {"I64", 0, 0},      [28] = {"F64", 0, 0},       [29] = {"IQ1_M", 0, 0},
    [30] = {"BF16", 1, 2},     [34] = {"TQ1_0", 0, 0},     [35] = {"TQ2_0", 0, 0},
    [39] = {"MXFP4", 0, 0},
};
#define N_DTYPES ((int)(sizeof DTYPES / sizeof DTYPES[0]))

static const char SUPPORTED_DTYPES[] =
    "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K";

const char *gguf_dtype_name(int t)
{
    return (t >= 0 && t < N_DTYPES && DTYPES[t].name) ? DTYPES[t].name : "unknown";
}

int gguf_dtype_supported(int t)
{
    return t >= 0 && t < N_DTYPES && DTYPES[t].block > 0;
}

int64_t gguf_dtype_block(gguf_dtype t)
{
    return gguf_dtype_supported((int)t) ? DTYPES[t].block : 0;
}

size_t gguf_dtype_block_bytes(gguf_dtype t)
{
    return gguf_dtype_supported((int)t) ? DTYPES[t].block_bytes : 0;
}

size_t gguf_row_bytes(gguf_dtype t, int64_t n)
{
    int64_t blk = gguf_dtype_block(t);
    return blk ? (size_t)(n / blk) * DTYPES[t].block_bytes : 0;
}

static const char *const VTYPE_NAMES[] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string",
    "array", "uint64", "int64", "float64"};

const char *gguf_vtype_name(gguf_vtype t)
{
    return (unsigned)t < 13 ? VTYPE_NAMES[t] : "?";
}

/* Bytes one element of a fixed-size type takes; 0 for STRING/ARRAY/unknown. */
static size_t vtype_size(uint32_t t)
{
    static const uint8_t sizes[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t < 13 ? sizes[t] : 0;
}

/* ---- the reading cursor --------------------------------------------------------------- */

typedef struct cursor {
    const uint8_t *p;
    size_t size, pos;
    const char *path;
    char *err;
    size_t errlen;
} cursor;

static int need(cursor *c, uint64_t n, const char *what)
{
    if (n <= c->size - c->pos) return 0;
    return errf(c->err, c->errlen,
                "%s: truncated file: %s needs %" PRIu64 " bytes at offset %zu, but the file "
                "has %zu bytes", c->path, what, n, c->pos, c->size);
}

static int read_bytes(cursor *c, void *dst, size_t n, const char *what)
{
    if (need(c, n, what) < 0) return -1;
    memcpy(dst, c->p + c->pos, n);
    c->pos += n;
    return 0;
}

static int read_u32(cursor *c, uint32_t *v, const char *what)
{
    return read_bytes(c, v, 4, what);
}

static int read_u64(cursor *c, uint64_t *v, const char *what)
{
    return read_bytes(c, v, 8, what);
}

/* A length-prefixed string, left in place (a view). */
static int read_str(cursor *c, gguf_str *s, const char *what)
{
    uint64_t len;
    if (read_u64(c, &len, what) < 0 || need(c, len, what) < 0) return -1;
    s->ptr = (const char *)c->p + c->pos;
    s->len = len;
    c->pos += len;
    return 0;
}

/* Fail unless n elements of at least min_bytes each can fit in the rest of the file. */
static int check_count(cursor *c, uint64_t n, size_t min_bytes, const char *what)
{
    if (n <= (c->size - c->pos) / min_bytes) return 0;
    return errf(c->err, c->errlen,
                "%s: absurd %s count %" PRIu64 " at offset %zu: only %zu bytes are left "
                "(truncated or corrupt file)", c->path, what, n, c->pos, c->size - c->pos);
}

/* ---- metadata values ------------------------------------------------------------------ */

static void value_free(gguf_value *v)
{
    if (v->type != GGUF_VT_ARRAY || !v->v.a.items) return;
    for (uint64_t i = 0; i < v->v.a.n; i++) value_free(&v->v.a.items[i]);
    free(v->v.a.items);
}

static void read_scalar(const uint8_t *p, uint32_t type, gguf_value *v)
{
    uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32; float f32;
    switch (type) {
    case GGUF_VT_UINT8: memcpy(&u8, p, 1); v->v.u = u8; break;
    case GGUF_VT_INT8: memcpy(&i8, p, 1); v->v.i = i8; break;
    case GGUF_VT_UINT16: memcpy(&u16, p, 2); v->v.u = u16; break;
    case GGUF_VT_INT16: memcpy(&i16, p, 2); v->v.i = i16; break;
    case GGUF_VT_UINT32: memcpy(&u32, p, 4); v->v.u = u32; break;
    case GGUF_VT_INT32: memcpy(&i32, p, 4); v->v.i = i32; break;
    case GGUF_VT_FLOAT32: memcpy(&f32, p, 4); v->v.f = f32; break;
    case GGUF_VT_BOOL: v->v.u = p[0] != 0; break;
    case GGUF_VT_UINT64: memcpy(&v->v.u, p, 8); break;
    case GGUF_VT_INT64: memcpy(&v->v.i, p, 8); break;
    case GGUF_VT_FLOAT64: memcpy(&v->v.f, p, 8); break;
    default: break;
    }
}

static int read_value(cursor *c, uint32_t type, gguf_value *v, int depth, const char *key);

static int read_array(cursor *c, gguf_value *v, int depth, const char *key)
{
    uint32_t et;
    uint64_t n;
    if (read_u32(c, &et, key) < 0 || read_u64(c, &n, key) < 0) return -1;
    if (et > GGUF_VT_FLOAT64)
        return errf(c->err, c->errlen, "%s: metadata '%s': array of unknown value type %u",
                    c->path, key, et);
    if (depth >= GGUF_MAX_NESTING)
        return errf(c->err, c->errlen, "%s: metadata '%s': arrays nested deeper than %d",
                    c->path, key, GGUF_MAX_NESTING);
    size_t es = vtype_size(et);
    if (check_count(c, n, es ? es : (et == GGUF_VT_STRING ? 8 : 12), "array element") < 0)
        return -1;
    v->type = GGUF_VT_ARRAY;
    v->v.a.type = (gguf_vtype)et;
    v->v.a.n = n;
    if (es) {
        v->v.a.raw = c->p + c->pos;
        c->pos += n * es;
        return 0;
    }
    v->v.a.items = xcalloc(n, sizeof(gguf_value));
    for (uint64_t i = 0; i < n; i++)
        if (read_value(c, et, &v->v.a.items[i], depth + 1, key) < 0) return -1;
    return 0;
}

static int read_value(cursor *c, uint32_t type, gguf_value *v, int depth, const char *key)
{
    if (type == GGUF_VT_ARRAY) return read_array(c, v, depth, key);
    if (type == GGUF_VT_STRING) {
        v->type = GGUF_VT_STRING;
        return read_str(c, &v->v.s, key);
    }
    size_t n = vtype_size(type);
    if (!n)
        return errf(c->err, c->errlen, "%s: metadata '%s': unknown value type %u", c->path,
                    key, type);
    if (need(c, n, key) < 0) return -1;
    v->type = (gguf_vtype)type;
    read_scalar(c->p + c->pos, type, v);
    c->pos += n;
    return 0;
}

static int read_kvs(cursor *c, gguf_file *f)
{
    for (uint64_t i = 0; i < f->n_kv; i++) {
        gguf_kv *kv = &f->kv[i];
        gguf_str key;
        uint32_t type;
        char what[64];
        snprintf(what, sizeof what, "the key of metadata entry %" PRIu64, i);
        if (read_str(c, &key, what) < 0) return -1;
        kv->key = xstrndup(key.ptr, key.len);
        if (read_u32(c, &type, kv->key) < 0 || read_value(c, type, &kv->val, 0, kv->key) < 0)
            return -1;
        if (kv->val.type == GGUF_VT_STRING) /* scalar strings get a NUL-terminated copy */
            kv->val.v.s.ptr = xstrndup(kv->val.v.s.ptr, kv->val.v.s.len);
    }
    return 0;
}

/* ---- tensors -------------------------------------------------------------------------- */

static int read_tensor_info(cursor *c, gguf_file *f, uint64_t i)
{
    gguf_tensor *t = &f->tensors[i];
    gguf_str name;
    char what[64];
    snprintf(what, sizeof what, "the name of tensor %" PRIu64, i);
    if (read_str(c, &name, what) < 0) return -1;
    t->name = xstrndup(name.ptr, name.len);
    if (read_u32(c, &t->n_dims, t->name) < 0) return -1;
    if (t->n_dims > GGUF_MAX_DIMS)
        return errf(c->err, c->errlen, "%s: tensor '%s' has %u dimensions (at most %d)",
                    c->path, t->name, t->n_dims, GGUF_MAX_DIMS);
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t ne;
        if (read_u64(c, &ne, t->name) < 0) return -1;
        if (ne > INT64_MAX)
            return errf(c->err, c->errlen, "%s: tensor '%s': dimension %u is %" PRIu64
                        " (negative as int64)", c->path, t->name, d, ne);
        t->ne[d] = (int64_t)ne;
    }
    uint32_t type;
    if (read_u32(c, &type, t->name) < 0 || read_u64(c, &t->offset, t->name) < 0) return -1;
    if (type >= 0x10000)
        return errf(c->err, c->errlen, "%s: tensor '%s' has unknown tensor type %u", c->path,
                    t->name, type);
    t->type = (gguf_dtype)type;
    return 0;
}

/* Check type and shape, and compute nbytes; overflow-safe. */
static int tensor_size(const gguf_file *f, gguf_tensor *t, char *err, size_t errlen)
{
    int type = (int)t->type;
    if (!gguf_dtype_supported(type)) {
        if (type < N_DTYPES && DTYPES[type].name)
            return errf(err, errlen, "%s: tensor '%s' has type %s (%d), which evallua cannot "
                        "read (supported: %s)", f->path, t->name, DTYPES[type].name, type,
                        SUPPORTED_DTYPES);
        return errf(err, errlen, "%s: tensor '%s' has unknown tensor type %d", f->path,
                    t->name, type);
    }
    int64_t blk = DTYPES[type].block;
    if (t->ne[0] % blk)
        return errf(err, errlen, "%s: tensor '%s': row length %" PRId64 " is not a multiple "
                    "of the %s block size %" PRId64, f->path, t->name, t->ne[0],
                    DTYPES[type].name, blk);
    uint64_t bytes = (uint64_t)(t->ne[0] / blk) * DTYPES[type].block_bytes;
    int64_t elems = t->ne[0];
    for (int d = 1; d < GGUF_MAX_DIMS; d++) {
        uint64_t ne = (uint64_t)t->ne[d];
        if ((ne && elems > INT64_MAX / (int64_t)ne) || (ne && bytes > UINT64_MAX / ne))
            return errf(err, errlen, "%s: tensor '%s': dimensions [%" PRId64 ", %" PRId64
                        ", %" PRId64 ", %" PRId64 "] overflow", f->path, t->name, t->ne[0],
                        t->ne[1], t->ne[2], t->ne[3]);
        elems *= (int64_t)ne;
        bytes *= ne;
    }
    t->nbytes = bytes;
    return 0;
}

static int place_tensors(gguf_file *f, size_t info_end, char *err, size_t errlen)
{
    uint64_t data = (info_end + f->alignment - 1) / f->alignment * f->alignment;
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (tensor_size(f, &f->tensors[i], err, errlen) < 0) return -1;
    if (f->n_tensors && data > f->map_size)
        return errf(err, errlen, "%s: truncated file: the tensor data section would start at "
                    "offset %" PRIu64 ", but the file has %zu bytes", f->path, data,
                    f->map_size);
    f->data_offset = (size_t)data;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        if (t->offset % f->alignment)
            return errf(err, errlen, "%s: tensor '%s': data offset %" PRIu64 " is not a "
                        "multiple of the alignment %u", f->path, t->name, t->offset,
                        f->alignment);
        uint64_t avail = f->map_size - data;
        if (t->offset > avail || t->nbytes > avail - t->offset)
            return errf(err, errlen, "%s: truncated file: tensor '%s' (%" PRIu64 " bytes at "
                        "data offset %" PRIu64 ") runs past the end of the file (%zu bytes)",
                        f->path, t->name, t->nbytes, t->offset, f->map_size);
        t->data = f->map + data + t->offset;
    }
    return 0;
}

/* ---- duplicate names (sorted, so that a hostile file cannot make this quadratic) ---- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The first name that occurs twice among n names (stride bytes apart from base), or NULL. */
static const char *find_duplicate(const void *base, uint64_t n, size_t stride)
{
    const char *dup = NULL;
    char **names = xmalloc((n ? n : 1) * sizeof(char *));
    for (uint64_t i = 0; i < n; i++)
        memcpy(&names[i], (const char *)base + i * stride, sizeof(char *));
    qsort(names, n, sizeof(char *), cmp_names);
    for (uint64_t i = 1; i < n && !dup; i++)
        if (strcmp(names[i - 1], names[i]) == 0) dup = names[i];
    free(names);
    return dup;
}

static int check_duplicates(const gguf_file *f, char *err, size_t errlen)
{
    const char *dup = find_duplicate(&f->kv[0].key, f->n_kv, sizeof(gguf_kv));
    if (dup) return errf(err, errlen, "%s: duplicate metadata key '%s'", f->path, dup);
    dup = find_duplicate(&f->tensors[0].name, f->n_tensors, sizeof(gguf_tensor));
    if (dup) return errf(err, errlen, "%s: duplicate tensor name '%s'", f->path, dup);
    return 0;
}

/* ---- opening -------------------------------------------------------------------------- */

static int read_header(cursor *c, gguf_file *f)
{
    char magic[4];
    if (read_bytes(c, magic, 4, "the magic number") < 0) return -1;
    if (memcmp(magic, GGUF_MAGIC, 4) != 0)
        return errf(c->err, c->errlen, "%s: not a GGUF file (bad magic %02x %02x %02x %02x, "
                    "expected \"GGUF\")", c->path, (uint8_t)magic[0], (uint8_t)magic[1],
                    (uint8_t)magic[2], (uint8_t)magic[3]);
    if (read_u32(c, &f->version, "the version") < 0) return -1;
    if (f->version >= 0x01000000 && !(f->version & 0xffff))
        return errf(c->err, c->errlen, "%s: big-endian GGUF files are not supported", c->path);
    if (f->version < 2 || f->version > 3)
        return errf(c->err, c->errlen, "%s: unsupported GGUF version %u (evallua reads "
                    "versions 2 and 3)", c->path, f->version);
    if (read_u64(c, &f->n_tensors, "the tensor count") < 0 ||
        read_u64(c, &f->n_kv, "the metadata count") < 0)
        return -1;
    /* a metadata entry takes at least 13 bytes, a tensor record at least 24 */
    if (check_count(c, f->n_kv, 13, "metadata") < 0 ||
        check_count(c, f->n_tensors, 24, "tensor") < 0)
        return -1;
    return 0;
}

static int read_alignment(gguf_file *f, char *err, size_t errlen)
{
    uint32_t a = GGUF_DEFAULT_ALIGNMENT;
    if (gguf_get_u32(f, "general.alignment", &a, err, errlen) < 0) return -1;
    if (a == 0 || (a & (a - 1)))
        return errf(err, errlen, "%s: general.alignment is %u, not a power of two", f->path,
                    a);
    f->alignment = a;
    return 0;
}

static int parse(gguf_file *f, char *err, size_t errlen)
{
    cursor c = {f->map, f->map_size, 0, f->path, err, errlen};
    if (read_header(&c, f) < 0) return -1;
    f->kv = xcalloc(f->n_kv, sizeof(gguf_kv));
    f->tensors = xcalloc(f->n_tensors, sizeof(gguf_tensor));
    if (read_kvs(&c, f) < 0) return -1;
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (read_tensor_info(&c, f, i) < 0) return -1;
    if (check_duplicates(f, err, errlen) < 0 || read_alignment(f, err, errlen) < 0) return -1;
    return place_tensors(f, c.pos, err, errlen);
}

static int map_file(gguf_file *f, char *err, size_t errlen)
{
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errf(err, errlen, "%s: cannot open: %s", f->path, strerror(errno));
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) < 0) {
        errf(err, errlen, "%s: cannot stat: %s", f->path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        errf(err, errlen, "%s: not a regular file", f->path);
    } else if (st.st_size < 8) {
        errf(err, errlen, "%s: not a GGUF file (only %lld bytes)", f->path,
             (long long)st.st_size);
    } else {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            errf(err, errlen, "%s: cannot map %lld bytes: %s", f->path, (long long)st.st_size,
                 strerror(errno));
        } else {
            f->map = p;
            f->map_size = (size_t)st.st_size;
            rc = 0;
        }
    }
    close(fd);
    return rc;
}

gguf_file *gguf_open(const char *path, char *err, size_t errlen)
{
    gguf_file *f = xcalloc(1, sizeof *f);
    f->path = xstrdup(path);
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (map_file(f, err, errlen) < 0 || parse(f, err, errlen) < 0) {
        gguf_close(f);
        return NULL;
    }
    return f;
}

void gguf_close(gguf_file *f)
{
    if (!f) return;
    for (uint64_t i = 0; f->kv && i < f->n_kv; i++) {
        gguf_kv *kv = &f->kv[i];
        if (kv->key && kv->val.type == GGUF_VT_STRING) free((char *)kv->val.v.s.ptr);
        value_free(&kv->val);
        free(kv->key);
    }
    for (uint64_t i = 0; f->tensors && i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->kv);
    free(f->tensors);
    if (f->map) munmap((void *)f->map, f->map_size);
    free(f->path);
    free(f);
}

/* ---- lookups -------------------------------------------------------------------------- */

const gguf_kv *gguf_find_key(const gguf_file *f, const char *key)
{
    for (uint64_t i = 0; i < f->n_kv && f->kv[i].key; i++)
        if (strcmp(f->kv[i].key, key) == 0) return &f->kv[i];
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name)
{
    for (uint64_t i = 0; i < f->n_tensors && f->tensors[i].name; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

static int wrong_type(const gguf_file *f, const gguf_kv *kv, const char *want, char *err,
                      size_t errlen)
{
    return errf(err, errlen, "%s: metadata '%s' is %s, expected %s", f->path, kv->key,
                gguf_vtype_name(kv->val.type), want);
}

static int is_signed(gguf_vtype t)
{
    return t == GGUF_VT_INT8 || t == GGUF_VT_INT16 || t == GGUF_VT_INT32 || t == GGUF_VT_INT64;
}

static int is_unsigned(gguf_vtype t)
{
    return t == GGUF_VT_UINT8 || t == GGUF_VT_UINT16 || t == GGUF_VT_UINT32 ||
           t == GGUF_VT_UINT64 || t == GGUF_VT_BOOL;
}

int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, char *err, size_t errlen)
{
    const gguf_kv *kv = gguf_find_key(f, key);
    if (!kv) return 0;
    const gguf_value *v = &kv->val;
    int ok = (is_unsigned(v->type) && v->v.u <= UINT32_MAX) ||
             (is_signed(v->type) && v->v.i >= 0 && v->v.i <= (int64_t)UINT32_MAX);
    if (!ok) {
        if (is_signed(v->type) || is_unsigned(v->type))
            return errf(err, errlen, "%s: metadata '%s' = %lld does not fit in uint32",
                        f->path, key, is_signed(v->type) ? (long long)v->v.i
                                                         : (long long)v->v.u);
        return wrong_type(f, kv, "an integer", err, errlen);
    }
    *out = is_signed(v->type) ? (uint32_t)v->v.i : (uint32_t)v->v.u;
    return 1;
}

int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, char *err, size_t errlen)
{
    const gguf_kv *kv = gguf_find_key(f, key);
    if (!kv) return 0;
    const gguf_value *v = &kv->val;
    if (is_signed(v->type)) *out = v->v.i;
    else if (is_unsigned(v->type) && v->v.u <= INT64_MAX) *out = (int64_t)v->v.u;
    else if (is_unsigned(v->type))
        return errf(err, errlen, "%s: metadata '%s' = %" PRIu64 " does not fit in int64",
                    f->path, key, v->v.u);
    else return wrong_type(f, kv, "an integer", err, errlen);
    return 1;
}

int gguf_get_f32(const gguf_file *f, const char *key, float *out, char *err, size_t errlen)
{
    const gguf_kv *kv = gguf_find_key(f, key);
    if (!kv) return 0;
    const gguf_value *v = &kv->val;
    if (v->type == GGUF_VT_FLOAT32 || v->type == GGUF_VT_FLOAT64) *out = (float)v->v.f;
    else if (is_signed(v->type)) *out = (float)v->v.i;
    else if (is_unsigned(v->type) && v->type != GGUF_VT_BOOL) *out = (float)v->v.u;
    else return wrong_type(f, kv, "a number", err, errlen);
    return 1;
}

int gguf_get_bool(const gguf_file *f, const char *key, int *out, char *err, size_t errlen)
{
    const gguf_kv *kv = gguf_find_key(f, key);
    if (!kv) return 0;
    const gguf_value *v = &kv->val;
    if (is_unsigned(v->type)) *out = v->v.u != 0;
    else if (is_signed(v->type)) *out = v->v.i != 0;
    else return wrong_type(f, kv, "bool", err, errlen);
    return 1;
}

int gguf_get_str(const gguf_file *f, const char *key, const char **out, char *err,
                 size_t errlen)
{
    const gguf_kv *kv = gguf_find_key(f, key);
    if (!kv) return 0;
    if (kv->val.type != GGUF_VT_STRING) return wrong_type(f, kv, "string", err, errlen);
    *out = kv->val.v.s.ptr;
    return 1;
}

int gguf_get_arr(const gguf_file *f, const char *key, const gguf_array **out, char *err,
                 size_t errlen)
{
    const gguf_kv *kv = gguf_find_key(f, key);
    if (!kv) return 0;
    if (kv->val.type != GGUF_VT_ARRAY) return wrong_type(f, kv, "array", err, errlen);
    *out = &kv->val.v.a;
    return 1;
}

int64_t gguf_arr_int(const gguf_array *a, uint64_t i)
{
    gguf_value v = {0};
    size_t es = vtype_size(a->type);
    if (i >= a->n || !es || !a->raw) return 0;
    read_scalar(a->raw + i * es, a->type, &v);
    if (a->type == GGUF_VT_FLOAT32 || a->type == GGUF_VT_FLOAT64) return (int64_t)v.v.f;
    return is_signed(a->type) ? v.v.i : (int64_t)v.v.u;
}

double gguf_arr_float(const gguf_array *a, uint64_t i)
{
    gguf_value v = {0};
    size_t es = vtype_size(a->type);
    if (i >= a->n || !es || !a->raw) return 0;
    read_scalar(a->raw + i * es, a->type, &v);
    if (a->type == GGUF_VT_FLOAT32 || a->type == GGUF_VT_FLOAT64) return v.v.f;
    return is_signed(a->type) ? (double)v.v.i : (double)v.v.u;
}

gguf_str gguf_arr_str(const gguf_array *a, uint64_t i)
{
    gguf_str none = {NULL, 0};
    if (a->type != GGUF_VT_STRING || i >= a->n || !a->items) return none;
    return a->items[i].v.s;
}
