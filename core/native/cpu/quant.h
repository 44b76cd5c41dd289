/* quant.h — decoding tensor elements on the CPU: F16/BF16 conversions, ggml's block
 * layouts and a row dequantizer for every type in gguf_dtype.
 *
 * Block layouts are byte-for-byte ggml's (little-endian, d/m are IEEE half floats):
 *   Q4_0  32 values: d, 16 bytes of nibbles (low nibbles = values 0-15, high = 16-31)
 *   Q4_1  32 values: d, m, nibbles as Q4_0;             value = d*q + m
 *   Q5_0  32 values: d, qh (bit j = 5th bit of value j), nibbles; value = d*(q - 16)
 *   Q5_1  32 values: d, m, qh, nibbles;                 value = d*q + m
 *   Q8_0  32 values: d, 32 int8;                        value = d*q
 *   Q4_K  256 values: d, dmin, 12 bytes of 6-bit scale/min pairs for 8 sub-blocks of 32,
 *         128 bytes of nibbles;                         value = d*sc*q - dmin*m
 *   Q5_K  as Q4_K plus qh[32] holding each value's 5th bit
 *   Q6_K  256 values: ql[128] low nibbles, qh[64] high 2 bits, int8 scales[16] for
 *         sub-blocks of 16, d;                          value = d*sc*(q - 32) */
#ifndef EVALLUA_NATIVE_CPU_QUANT_H
#define EVALLUA_NATIVE_CPU_QUANT_H

#include <stdint.h>
#include <string.h>

#include "native/gguf.h"

#define QK4_0 32
#define QK8_0 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef struct block_q4_0 { uint16_t d; uint8_t qs[16]; } block_q4_0;
typedef struct block_q4_1 { uint16_t d, m; uint8_t qs[16]; } block_q4_1;
typedef struct block_q5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } block_q5_0;
typedef struct block_q5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } block_q5_1;
typedef struct block_q8_0 { uint16_t d; int8_t qs[32]; } block_q8_0;
typedef struct block_q4_k {
    uint16_t d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
} block_q4_k;
typedef struct block_q5_k {
    uint16_t d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_k;
typedef struct block_q6_k {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d;
} block_q6_k;

/* The float whose IEEE bits are u, and the bits of f (no conversion, no aliasing). */
static inline float bits_to_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint32_t f32_to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* IEEE half -> float (exact, subnormals included). */
float fp16_to_f32(uint16_t h);
/* float -> IEEE half, rounding to nearest even; overflow gives infinity. */
uint16_t f32_to_fp16(float f);
/* bfloat16 -> float (exact). */
float bf16_to_f32(uint16_t h);
/* float -> bfloat16, rounding to nearest even (NaN stays NaN). */
uint16_t f32_to_bf16(float f);

/* The 6-bit scale and min of sub-block j (0-7) of a Q4_K/Q5_K block's 12 scale bytes. */
void quant_scale_min_k4(int j, const uint8_t *scales, uint8_t *sc, uint8_t *m);

/* Decode n values of type t starting at src (n a multiple of the block size) into dst,
   which the caller provides. */
void quant_dequant_row(gguf_dtype t, const void *src, float *dst, int64_t n);

#endif
