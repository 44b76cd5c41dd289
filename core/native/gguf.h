/* gguf.h — read-only access to a GGUF file (the llama.cpp model format), memory-mapped.
 *
 * gguf_open maps the file, checks every header field, metadata value and tensor record
 * against the file size, and returns a gguf_file that owns the mapping. Everything handed
 * out afterwards (keys, string views, arrays, tensor records and their data pointers)
 * points into that gguf_file and lives until gguf_close. Strings inside metadata arrays
 * are views (gguf_str: pointer + length, not NUL-terminated); keys, scalar string values
 * and tensor names are NUL-terminated copies.
 *
 * Supported: GGUF versions 2 and 3, little-endian, every metadata value type including
 * nested arrays, general.alignment, tensors of the types listed in gguf_dtype below.
 * Shared by the CPU and CUDA backends: nothing here computes. */
#ifndef EVALLUA_NATIVE_GGUF_H
#define EVALLUA_NATIVE_GGUF_H

#include <stddef.h>
#include <stdint.h>

/* Metadata value types (numbering from the GGUF specification). */
typedef enum gguf_vtype {
    GGUF_VT_UINT8 = 0, GGUF_VT_INT8 = 1, GGUF_VT_UINT16 = 2, GGUF_VT_INT16 = 3,
    GGUF_VT_UINT32 = 4, GGUF_VT_INT32 = 5, GGUF_VT_FLOAT32 = 6, GGUF_VT_BOOL = 7,
    GGUF_VT_STRING = 8, GGUF_VT_ARRAY = 9, GGUF_VT_UINT64 = 10, GGUF_VT_INT64 = 11,
    GGUF_VT_FLOAT64 = 12
} gguf_vtype;

/* Tensor element types evallua reads (ggml's numbering; the gaps are types it does not). */
typedef enum gguf_dtype {
    GGUF_DT_F32 = 0, GGUF_DT_F16 = 1, GGUF_DT_Q4_0 = 2, GGUF_DT_Q4_1 = 3,
    GGUF_DT_Q5_0 = 6, GGUF_DT_Q5_1 = 7, GGUF_DT_Q8_0 = 8,
    GGUF_DT_Q4_K = 12, GGUF_DT_Q5_K = 13, GGUF_DT_Q6_K = 14, GGUF_DT_BF16 = 30
} gguf_dtype;

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

/* A string inside the mapped file: len bytes at ptr, not NUL-terminated. */
typedef struct gguf_str {
    const char *ptr;
    uint64_t len;
} gguf_str;

typedef struct gguf_value gguf_value;

/* An array value. Numeric and bool elements stay packed in the file (read them with
   gguf_arr_int / gguf_arr_float); string and array elements are parsed into items. */
typedef struct gguf_array {
    gguf_vtype type;       /* element type */
    uint64_t n;            /* element count */
    const uint8_t *raw;    /* numeric/bool elements, little-endian, maybe unaligned */
    gguf_value *items;     /* STRING and ARRAY elements: n parsed values; else NULL */
} gguf_array;

struct gguf_value {
    gguf_vtype type;
    union {
        uint64_t u;        /* UINT8..UINT64, BOOL (0/1) */
        int64_t i;         /* INT8..INT64 */
        double f;          /* FLOAT32, FLOAT64 */
        gguf_str s;        /* STRING (scalar strings are also NUL-terminated copies) */
        gguf_array a;      /* ARRAY */
    } v;
};

/* One metadata entry. */
typedef struct gguf_kv {
    char *key;
    gguf_value val;
} gguf_kv;

/* One tensor record; data points into the mapping. ne[0] is the contiguous (row) length. */
typedef struct gguf_tensor {
    char *name;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];   /* unused dimensions are 1 */
    gguf_dtype type;
    uint64_t offset;             /* from the start of the data section */
    uint64_t nbytes;
    const void *data;
} gguf_tensor;

/* An open GGUF file. All fields are read-only for callers. */
typedef struct gguf_file {
    char *path;
    uint32_t version;
    uint32_t alignment;          /* general.alignment, default 32 */
    uint64_t n_kv;
    gguf_kv *kv;
    uint64_t n_tensors;
    gguf_tensor *tensors;
    const uint8_t *map;          /* the whole file */
    size_t map_size;
    size_t data_offset;          /* start of the tensor data section within map */
} gguf_file;

/* Map and validate path. Returns a gguf_file the caller frees with gguf_close, or NULL
   with err naming the file and what is wrong. */
gguf_file *gguf_open(const char *path, char *err, size_t errlen);
/* Unmap and free everything the file handed out (NULL is fine). */
void gguf_close(gguf_file *f);

/* The entry for key, or NULL. Owned by f. */
const gguf_kv *gguf_find_key(const gguf_file *f, const char *key);
/* The tensor named name, or NULL. Owned by f. */
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Typed getters. Each returns 1 and stores *out when key exists with a fitting type,
   0 when key is absent (*out untouched), -1 when it exists with another type or a value
   out of range (err names the file and key). Results point into f. */
/* Any integer type whose value fits in uint32 (bool too). */
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, char *err, size_t errlen);
/* Any integer type whose value fits in int64. */
int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, char *err, size_t errlen);
/* FLOAT32 or FLOAT64 (integers are accepted too). */
int gguf_get_f32(const gguf_file *f, const char *key, float *out, char *err, size_t errlen);
/* BOOL, or an integer (non-zero is true). */
int gguf_get_bool(const gguf_file *f, const char *key, int *out, char *err, size_t errlen);
/* STRING: a NUL-terminated string owned by f. */
int gguf_get_str(const gguf_file *f, const char *key, const char **out, char *err, size_t errlen);
/* ARRAY: the array, owned by f. */
int gguf_get_arr(const gguf_file *f, const char *key, const gguf_array **out, char *err,
                 size_t errlen);

/* Element i of an integer or bool array as int64 (UINT64 above INT64_MAX wraps). */
int64_t gguf_arr_int(const gguf_array *a, uint64_t i);
/* Element i of a numeric array as double. */
double gguf_arr_float(const gguf_array *a, uint64_t i);
/* Element i of a string array (a view into the file; {NULL,0} for other types). */
gguf_str gguf_arr_str(const gguf_array *a, uint64_t i);

/* Name of a metadata value type ("uint32", ...); "?" when unknown. Static storage. */
const char *gguf_vtype_name(gguf_vtype t);
/* Name of a tensor type ("Q4_K", ...); also names ggml types evallua cannot read. Static. */
const char *gguf_dtype_name(int t);
/* 1 when evallua can read tensors of type t, else 0. */
int gguf_dtype_supported(int t);
/* Elements per block of type t (1 for F32/F16/BF16, 32 or 256 for quantized types). */
int64_t gguf_dtype_block(gguf_dtype t);
/* Bytes per block of type t. */
size_t gguf_dtype_block_bytes(gguf_dtype t);
/* Bytes of a row of n elements of type t (n a multiple of the block size). */
size_t gguf_row_bytes(gguf_dtype t, int64_t n);

#endif
