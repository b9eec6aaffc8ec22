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

/* What a weight adds: itself (spike input) or times the input value x (pixels, counts). */
SPQ_INLINE int32_t spq_term32(int32_t w, int32_t x, int mac)
{
    return mac ? w * x : w;
}

/* The same for a weight pair word (int16 lanes, mod 2^32). */
SPQ_INLINE uint32_t spq_term16(uint32_t w, int32_t x, int mac)
{
    return mac ? w * (uint32_t)x : w;
}

SPQ_TEMPLATE void spq_rowt_w8_a32(void *acc_v, const uint8_t *row, uint32_t n, int32_t x,
                                  int mac)
{
    int32_t *acc = (int32_t *)acc_v;
    const int8_t *w = (const int8_t *)row; /* int8_t is two's complement (C99) */
    uint32_t o = 0;
    for (; o + 4u <= n; o += 4u) { /* one weight word, four weights */
        uint32_t b = spq_load32(row + o);
        acc[o] += spq_term32(SPQ_SEXT8(b), x, mac);
        acc[o + 1u] += spq_term32(SPQ_SEXT8(b >> 8), x, mac);
        acc[o + 2u] += spq_term32(SPQ_SEXT8(b >> 16), x, mac);
        acc[o + 3u] += spq_term32(SPQ_SEXT8(b >> 24), x, mac);
    }
    for (; o < n; o++) {
        acc[o] += spq_term32((int32_t)w[o], x, mac);
    }
}

SPQ_TEMPLATE void spq_rowt_w4_a32(void *acc_v, const uint8_t *row, uint32_t n, int32_t x,
                                  int mac)
{
    int32_t *acc = (int32_t *)acc_v;
    uint32_t o = 0;
    for (; o + 2u <= n; o += 2u) { /* one byte, two weights */
        uint32_t b = *row++;
        acc[o] += spq_term32(SPQ_S4(b), x, mac);
        acc[o + 1u] += spq_term32(SPQ_S4(b >> 4), x, mac);
    }
    if (o < n) {
        acc[o] += spq_term32(SPQ_S4(*row), x, mac);
    }
}

SPQ_TEMPLATE void spq_rowt_w2_a32(void *acc_v, const uint8_t *row, uint32_t n, int32_t x,
                                  int mac)
{
    int32_t *acc = (int32_t *)acc_v;
    uint32_t o = 0;
    for (; o + 4u <= n; o += 4u) {
        uint32_t b = *row++;
        acc[o] += spq_term32(SPQ_S2(b), x, mac);
        acc[o + 1u] += spq_term32(SPQ_S2(b >> 2), x, mac);
        acc[o + 2u] += spq_term32(SPQ_S2(b >> 4), x, mac);
        acc[o + 3u] += spq_term32(SPQ_S2(b >> 6), x, mac);
    }
    if (o < n) {
        uint32_t b = *row;
        for (; o < n; o++) {
            acc[o] += spq_term32(SPQ_S2(b), x, mac);
            b >>= 2;
        }
    }
}

/* Weight pairs (w_lo + w_hi * 2^16 mod 2^32) of every 4-bit byte; two pairs per 2-bit byte
 * (spq_tables.c). */
extern const uint32_t spq_pairs_w4[256];
extern const uint32_t spq_pairs_w2[512];

#define SPQ_U(v) ((uint32_t)(int32_t)(v)) /* int -> uint32 modulo 2^32 */

SPQ_TEMPLATE void spq_rowt_w8_a16(void *acc_v, const uint8_t *row, uint32_t n, int32_t x,
                                  int mac)
{
    uint32_t *acc = (uint32_t *)acc_v;
    const int8_t *w = (const int8_t *)row;
    uint32_t j, pairs = n >> 1;
    for (j = 0; j < pairs; j++) {
        acc[j] += spq_term16(SPQ_U(w[2u * j]) + (SPQ_U(w[2u * j + 1u]) << 16), x, mac);
    }
    if ((n & 1u) != 0u) {
        acc[j] += spq_term16(SPQ_U(w[2u * j]), x, mac);
    }
}

SPQ_TEMPLATE void spq_rowt_w4_a16(void *acc_v, const uint8_t *row, uint32_t n, int32_t x,
                                  int mac)
{
    uint32_t *acc = (uint32_t *)acc_v;
    uint32_t j = 0, pairs = n >> 1;
    for (; j + 4u <= pairs; j += 4u) { /* four bytes, eight weights per iteration */
        uint32_t b = spq_load32(row + j);
        uint32_t a0 = acc[j], a1 = acc[j + 1u], a2 = acc[j + 2u], a3 = acc[j + 3u];
        a0 += spq_term16(spq_pairs_w4[b & 0xFFu], x, mac);
        a1 += spq_term16(spq_pairs_w4[(b >> 8) & 0xFFu], x, mac);
        a2 += spq_term16(spq_pairs_w4[(b >> 16) & 0xFFu], x, mac);
        a3 += spq_term16(spq_pairs_w4[b >> 24], x, mac);
        acc[j] = a0;
        acc[j + 1u] = a1;
        acc[j + 2u] = a2;
        acc[j + 3u] = a3;
    }
    for (; j + 2u <= pairs; j += 2u) { /* two bytes, four weights per iteration */
        uint32_t p0 = spq_pairs_w4[row[j]], p1 = spq_pairs_w4[row[j + 1u]];
        acc[j] += spq_term16(p0, x, mac);
        acc[j + 1u] += spq_term16(p1, x, mac);
    }
    if (j < pairs) {
        acc[j] += spq_term16(spq_pairs_w4[row[j]], x, mac);
        j++;
    }
    if ((n & 1u) != 0u) {
        acc[j] += spq_term16(SPQ_U(SPQ_S4(row[j])), x, mac);
    }
}

SPQ_TEMPLATE void spq_rowt_w2_a16(void *acc_v, const uint8_t *row, uint32_t n, int32_t x,
                                  int mac)
{
    uint32_t *acc = (uint32_t *)acc_v;
    uint32_t j, quads = n >> 2, rem = n & 3u;
    for (j = 0; j < quads; j++) {
        const uint32_t *p = &spq_pairs_w2[2u * row[j]];
        acc[2u * j] += spq_term16(p[0], x, mac);
        acc[2u * j + 1u] += spq_term16(p[1], x, mac);
    }
    if (rem != 0u) {
        uint32_t b = row[j];
        if (rem == 1u) {
            acc[2u * j] += spq_term16(SPQ_U(SPQ_S2(b)), x, mac);
        } else {
            acc[2u * j] += spq_term16(spq_pairs_w2[2u * b], x, mac);
            if (rem == 3u) {
                acc[2u * j + 1u] += spq_term16(SPQ_U(SPQ_S2(b >> 4)), x, mac);
            }
        }
    }
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

/* Bytes between the accumulators of consecutive output positions. */
SPQ_INLINE uint32_t spq_acc_pos_bytes(uint32_t out_c, uint32_t acc_bits)
{
    return acc_bits == 16u ? 4u * ((out_c + 1u) >> 1) : 4u * out_c;
}

#endif /* SPQ_ROWS_H */
