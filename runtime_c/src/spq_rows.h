/* SPDX-License-Identifier: MIT */
/**
 * @file spq_rows.h
 * @brief Inline weight-row kernels: decode one packed row of n weights (spq.h layout) and
 * add it into the n accumulators of one output position: acc[o] += w[o] (spike input) or
 * w[o] * x (pixels, counts).
 */
#ifndef SPQ_ROWS_H
#define SPQ_ROWS_H

#include "spq_internal.h"

/*
 * int32 accumulators: one int32_t per output channel.
 * int16 accumulators: two per uint32_t word, channels 2j and 2j+1 of a position in word j,
 * held as V = a_2j + a_2j+1 * 2^16 (mod 2^32). Adding a weight pair is then one 32-bit add
 * of (w_2j + w_2j+1 * 2^16): the exporter proves every partial sum fits in int16, so each
 * half can be read back exactly (spq_acc16_lo/hi) whatever carries crossed between them.
 */

/* ACC_T: accumulator type; TERM(w): what to add for weight w. */
#define SPQ_ROW32_W8(NAME, TERM)                                                         \
    SPQ_INLINE void NAME(void *acc_v, const uint8_t *row, uint32_t n, int32_t x)         \
    {                                                                                    \
        int32_t *acc = (int32_t *)acc_v;                                                 \
        const int8_t *w = (const int8_t *)row; /* int8_t is two's complement (C99) */    \
        uint32_t o = 0;                                                                  \
        (void)x;                                                                         \
        for (; o + 4u <= n; o += 4u) { /* one weight word, four weights */               \
            uint32_t b = spq_load32(row + o);                                            \
            acc[o] += TERM(SPQ_SEXT8(b));                                                \
            acc[o + 1u] += TERM(SPQ_SEXT8(b >> 8));                                      \
            acc[o + 2u] += TERM(SPQ_SEXT8(b >> 16));                                     \
            acc[o + 3u] += TERM(SPQ_SEXT8(b >> 24));                                     \
        }                                                                                \
        for (; o < n; o++) {                                                             \
            acc[o] += TERM((int32_t)w[o]);                                               \
        }                                                                                \
    }

#define SPQ_ROW32_W4(NAME, TERM)                                                         \
    SPQ_INLINE void NAME(void *acc_v, const uint8_t *row, uint32_t n, int32_t x)         \
    {                                                                                    \
        int32_t *acc = (int32_t *)acc_v;                                                 \
        uint32_t o = 0;                                                                  \
        (void)x;                                                                         \
        for (; o + 8u <= n; o += 8u) { /* one weight word, eight weights */              \
            uint32_t b = spq_load32(row);                                                \
            row += 4;                                                                    \
            acc[o] += TERM(SPQ_S4(b));                                                   \
            acc[o + 1u] += TERM(SPQ_S4(b >> 4));                                         \
            acc[o + 2u] += TERM(SPQ_S4(b >> 8));                                         \
            acc[o + 3u] += TERM(SPQ_S4(b >> 12));                                        \
            acc[o + 4u] += TERM(SPQ_S4(b >> 16));                                        \
            acc[o + 5u] += TERM(SPQ_S4(b >> 20));                                        \
            acc[o + 6u] += TERM(SPQ_S4(b >> 24));                                        \
            acc[o + 7u] += TERM(SPQ_S4(b >> 28));                                        \
        }                                                                                \
        for (; o + 2u <= n; o += 2u) {                                                   \
            uint32_t b = *row++;                                                         \
            acc[o] += TERM(SPQ_S4(b));                                                   \
            acc[o + 1u] += TERM(SPQ_S4(b >> 4));                                         \
        }                                                                                \
        if (o < n) {                                                                     \
            acc[o] += TERM(SPQ_S4(*row));                                                \
        }                                                                                \
    }

#define SPQ_ROW32_W2(NAME, TERM)                                                         \
    SPQ_INLINE void NAME(void *acc_v, const uint8_t *row, uint32_t n, int32_t x)         \
    {                                                                                    \
        int32_t *acc = (int32_t *)acc_v;                                                 \
        uint32_t o = 0;                                                                  \
        (void)x;                                                                         \
        for (; o + 4u <= n; o += 4u) {                                                   \
            uint32_t b = *row++;                                                         \
            acc[o] += TERM(SPQ_S2(b));                                                   \
            acc[o + 1u] += TERM(SPQ_S2(b >> 2));                                         \
            acc[o + 2u] += TERM(SPQ_S2(b >> 4));                                         \
            acc[o + 3u] += TERM(SPQ_S2(b >> 6));                                         \
        }                                                                                \
        if (o < n) {                                                                     \
            uint32_t b = *row;                                                           \
            for (; o < n; o++) {                                                         \
                acc[o] += TERM(SPQ_S2(b));                                               \
                b >>= 2;                                                                 \
            }                                                                            \
        }                                                                                \
    }

/* Weight pairs (w_lo + w_hi * 2^16 mod 2^32) of every 4-bit byte; two pairs per 2-bit byte
 * (spq_tables.c). */
extern const uint32_t spq_pairs_w4[256];
extern const uint32_t spq_pairs_w2[512];

#define SPQ_U(v) ((uint32_t)(int32_t)(v)) /* int -> uint32 modulo 2^32 */

#define SPQ_ROW16_W8(NAME, TERM)                                                         \
    SPQ_INLINE void NAME(void *acc_v, const uint8_t *row, uint32_t n, int32_t x)         \
    {                                                                                    \
        uint32_t *acc = (uint32_t *)acc_v;                                               \
        const int8_t *w = (const int8_t *)row;                                           \
        uint32_t j, pairs = n >> 1;                                                      \
        (void)x;                                                                         \
        for (j = 0; j < pairs; j++) {                                                    \
            acc[j] += TERM(SPQ_U(w[2u * j]) + (SPQ_U(w[2u * j + 1u]) << 16));            \
        }                                                                                \
        if ((n & 1u) != 0u) {                                                            \
            acc[j] += TERM(SPQ_U(w[2u * j]));                                            \
        }                                                                                \
    }

#define SPQ_ROW16_W4(NAME, TERM)                                                         \
    SPQ_INLINE void NAME(void *acc_v, const uint8_t *row, uint32_t n, int32_t x)         \
    {                                                                                    \
        uint32_t *acc = (uint32_t *)acc_v;                                               \
        uint32_t j = 0, pairs = n >> 1;                                                  \
        (void)x;                                                                         \
        for (; j + 4u <= pairs; j += 4u) { /* four bytes, eight weights per iteration */ \
            uint32_t b = spq_load32(row + j);                                            \
            uint32_t a0 = acc[j], a1 = acc[j + 1u], a2 = acc[j + 2u], a3 = acc[j + 3u];  \
            a0 += TERM(spq_pairs_w4[b & 0xFFu]);                                         \
            a1 += TERM(spq_pairs_w4[(b >> 8) & 0xFFu]);                                  \
            a2 += TERM(spq_pairs_w4[(b >> 16) & 0xFFu]);                                 \
            a3 += TERM(spq_pairs_w4[b >> 24]);                                           \
            acc[j] = a0;                                                                 \
            acc[j + 1u] = a1;                                                            \
            acc[j + 2u] = a2;                                                            \
            acc[j + 3u] = a3;                                                            \
        }                                                                                \
        for (; j + 2u <= pairs; j += 2u) { /* two bytes, four weights per iteration */   \
            uint32_t p0 = spq_pairs_w4[row[j]], p1 = spq_pairs_w4[row[j + 1u]];          \
            acc[j] += TERM(p0);                                                          \
            acc[j + 1u] += TERM(p1);                                                     \
        }                                                                                \
        if (j < pairs) {                                                                 \
            acc[j] += TERM(spq_pairs_w4[row[j]]);                                        \
            j++;                                                                         \
        }                                                                                \
        if ((n & 1u) != 0u) {                                                            \
            acc[j] += TERM(SPQ_U(SPQ_S4(row[j])));                                       \
        }                                                                                \
    }

#define SPQ_ROW16_W2(NAME, TERM)                                                         \
    SPQ_INLINE void NAME(void *acc_v, const uint8_t *row, uint32_t n, int32_t x)         \
    {                                                                                    \
        uint32_t *acc = (uint32_t *)acc_v;                                               \
        uint32_t j, quads = n >> 2, rem = n & 3u;                                        \
        (void)x;                                                                         \
        for (j = 0; j < quads; j++) {                                                    \
            const uint32_t *p = &spq_pairs_w2[2u * row[j]];                              \
            acc[2u * j] += TERM(p[0]);                                                   \
            acc[2u * j + 1u] += TERM(p[1]);                                              \
        }                                                                                \
        if (rem != 0u) {                                                                 \
            uint32_t b = row[j];                                                         \
            if (rem == 1u) {                                                             \
                acc[2u * j] += TERM(SPQ_U(SPQ_S2(b)));                                   \
            } else {                                                                     \
                acc[2u * j] += TERM(spq_pairs_w2[2u * b]);                               \
                if (rem == 3u) {                                                         \
                    acc[2u * j + 1u] += TERM(SPQ_U(SPQ_S2(b >> 4)));                     \
                }                                                                        \
            }                                                                            \
        }                                                                                \
    }

/* Rows of a whole number of 32-bit weight words (out_c a multiple of 32 / weight_bits):
 * no tails. One weight word is 8 (4-bit), 4 (8-bit) or 16 (2-bit) weights, 4, 2 or 8 pair
 * words; the accumulator words are read and written in the same order as by the general
 * kernels above, with the same pair values, so the results are identical. */
#define SPQ_ROW16_W4_G(NAME, TERM)                                                       \
    SPQ_INLINE void NAME(void *acc_v, const uint8_t *row, uint32_t n, int32_t x)         \
    {                                                                                    \
        uint32_t *acc = (uint32_t *)acc_v;                                               \
        const uint32_t *end = acc + (n >> 1);                                            \
        (void)x;                                                                         \
        do {                                                                             \
            uint32_t b = spq_load32(row);                                                \
            uint32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];                 \
            row += 4;                                                                    \
            a0 += TERM(spq_pairs_w4[b & 0xFFu]);                                         \
            a1 += TERM(spq_pairs_w4[(b >> 8) & 0xFFu]);                                  \
            a2 += TERM(spq_pairs_w4[(b >> 16) & 0xFFu]);                                 \
            a3 += TERM(spq_pairs_w4[b >> 24]);                                           \
            acc[0] = a0;                                                                 \
            acc[1] = a1;                                                                 \
            acc[2] = a2;                                                                 \
            acc[3] = a3;                                                                 \
            acc += 4;                                                                    \
        } while (acc != end);                                                            \
    }

#define SPQ_ROW16_W8_G(NAME, TERM)                                                       \
    SPQ_INLINE void NAME(void *acc_v, const uint8_t *row, uint32_t n, int32_t x)         \
    {                                                                                    \
        uint32_t *acc = (uint32_t *)acc_v;                                               \
        const uint32_t *end = acc + (n >> 1);                                            \
        (void)x;                                                                         \
        do {                                                                             \
            uint32_t b = spq_load32(row);                                                \
            uint32_t a0 = acc[0], a1 = acc[1];                                           \
            row += 4;                                                                    \
            a0 += TERM(SPQ_U(SPQ_SEXT8(b)) + (SPQ_U(SPQ_SEXT8(b >> 8)) << 16));          \
            a1 += TERM(SPQ_U(SPQ_SEXT8(b >> 16)) + (SPQ_U(SPQ_SEXT8(b >> 24)) << 16));   \
            acc[0] = a0;                                                                 \
            acc[1] = a1;                                                                 \
            acc += 2;                                                                    \
        } while (acc != end);                                                            \
    }

#define SPQ_ROW16_W2_G(NAME, TERM)                                                       \
    SPQ_INLINE void NAME(void *acc_v, const uint8_t *row, uint32_t n, int32_t x)         \
    {                                                                                    \
        uint32_t *acc = (uint32_t *)acc_v;                                               \
        const uint32_t *end = acc + (n >> 1);                                            \
        (void)x;                                                                         \
        do {                                                                             \
            uint32_t b = spq_load32(row), i;                                             \
            row += 4;                                                                    \
            for (i = 0; i < 4u; i++, b >>= 8) {                                          \
                const uint32_t *p = &spq_pairs_w2[2u * (b & 0xFFu)];                     \
                uint32_t a0 = acc[0], a1 = acc[1];                                       \
                a0 += TERM(p[0]);                                                        \
                a1 += TERM(p[1]);                                                        \
                acc[0] = a0;                                                             \
                acc[1] = a1;                                                             \
                acc += 2;                                                                \
            }                                                                            \
        } while (acc != end);                                                            \
    }


/* out_c weights of `bits` bits fill whole 32-bit words (the _g kernels apply). */
SPQ_INLINE int spq_row_whole_words(uint32_t out_c, uint32_t bits)
{
    return out_c != 0u && (out_c * bits) % 32u == 0u;
}

/* The two int16 accumulators of a pair word. */
SPQ_INLINE int32_t spq_acc16_lo(uint32_t v)
{
    return (int32_t)((v & 0xFFFFu) ^ 0x8000u) - 0x8000;
}

SPQ_INLINE int32_t spq_acc16_hi(uint32_t v)
{
    return spq_acc16_lo((v - SPQ_U(spq_acc16_lo(v))) >> 16);
}

#define SPQ_ADD(w) (w)
#define SPQ_MAC(w) ((w) * x)
#define SPQ_MAC16(w) ((w) * (uint32_t)x)

SPQ_ROW32_W8(spq_rowi_add_w8_a32, SPQ_ADD)
SPQ_ROW32_W4(spq_rowi_add_w4_a32, SPQ_ADD)
SPQ_ROW32_W2(spq_rowi_add_w2_a32, SPQ_ADD)
SPQ_ROW16_W8(spq_rowi_add_w8_a16, SPQ_ADD)
SPQ_ROW16_W4(spq_rowi_add_w4_a16, SPQ_ADD)
SPQ_ROW16_W2(spq_rowi_add_w2_a16, SPQ_ADD)
SPQ_ROW32_W8(spq_rowi_mac_w8_a32, SPQ_MAC)
SPQ_ROW32_W4(spq_rowi_mac_w4_a32, SPQ_MAC)
SPQ_ROW32_W2(spq_rowi_mac_w2_a32, SPQ_MAC)
SPQ_ROW16_W8(spq_rowi_mac_w8_a16, SPQ_MAC16)
SPQ_ROW16_W4(spq_rowi_mac_w4_a16, SPQ_MAC16)
SPQ_ROW16_W2(spq_rowi_mac_w2_a16, SPQ_MAC16)
SPQ_ROW16_W4_G(spq_rowi_add_w4_a16_g, SPQ_ADD)
SPQ_ROW16_W8_G(spq_rowi_add_w8_a16_g, SPQ_ADD)
SPQ_ROW16_W2_G(spq_rowi_add_w2_a16_g, SPQ_ADD)

/* Bytes between the accumulators of consecutive output positions. */
SPQ_INLINE uint32_t spq_acc_pos_bytes(uint32_t out_c, uint32_t acc_bits)
{
    return acc_bits == 16u ? 4u * ((out_c + 1u) >> 1) : 4u * out_c;
}

#endif /* SPQ_ROWS_H */
