/* SPDX-License-Identifier: MIT */
/* spq_static_acc_w4: the accumulators of one output position of a static (pixel input) conv
 * layer with 4-bit weights, out_c a multiple of 8 (portable C, the fast path of
 * spq_static_prepare).
 *
 * Each packed weight word holds 8 nibbles; XOR 0x88888888 makes them offset binary w + 8
 * (0 .. 15), and (x >> 4m) & 0x000F000F puts channels m and m + 4 of the word into the two
 * halfword lanes of one pair word, so that one multiply-accumulate by the pixel value p adds
 * p (w + 8) to two channels (no lane carries: p (w + 8) <= 3825 and at most SPQ_SW4_CHUNK
 * taps are summed before the lanes are added into the int32 accumulators, 17 * 3825 <
 * 65536). The accumulators then lose 8 times the sum of the pixels. Stack: SPQ_W4_MAX_OC / 2
 * words. */
#include "spq_conv.h"

#if SPQ_FAST

#define SPQ_SW4_CHUNK 17u

int spq_static_w4_ok(const spq_layer_t *l)
{
    return l->type == SPQ_LAYER_CONV && l->in_kind == SPQ_IN_U8 && l->weight_bits == 4u &&
           l->out_c % 8u == 0u && l->out_c <= SPQ_W4_MAX_OC;
}

/* Word j of a packed row times pixel p into P[4j .. 4j + 3]. */
SPQ_TEMPLATE void spq_sw4_word(uint32_t *P, const uint8_t *row, uint32_t p, uint32_t j)
{
    const uint32_t m = 0x000F000Fu;
    uint32_t x = spq_load32(row + 4u * j) ^ 0x88888888u;
    P[4u * j] += p * (x & m);
    P[4u * j + 1u] += p * ((x >> 4) & m);
    P[4u * j + 2u] += p * ((x >> 8) & m);
    P[4u * j + 3u] += p * ((x >> 12) & m);
}

/* One tap: pixel p times the packed row (words of 8 nibbles) into P; words = 2 unrolled so
 * that P stays in registers. */
SPQ_TEMPLATE void spq_sw4_tap(uint32_t *P, const uint8_t *row, uint32_t p, uint32_t words)
{
    uint32_t j;
    if (words == 2u) {
        spq_sw4_word(P, row, p, 0u);
        spq_sw4_word(P, row, p, 1u);
        return;
    }
    for (j = 0; j < words; j++) {
        spq_sw4_word(P, row, p, j);
    }
}

/* The same for the flush. */
SPQ_TEMPLATE void spq_sw4_flush1(uint32_t *P, int32_t *acc, uint32_t j)
{
    uint32_t m;
    for (m = 0; m < 4u; m++) {
        acc[8u * j + m] += (int32_t)(P[4u * j + m] & 0xFFFFu);
        acc[8u * j + m + 4u] += (int32_t)(P[4u * j + m] >> 16);
        P[4u * j + m] = 0;
    }
}

SPQ_TEMPLATE void spq_sw4_flush(uint32_t *P, int32_t *acc, uint32_t words)
{
    uint32_t j;
    if (words == 2u) {
        spq_sw4_flush1(P, acc, 0u);
        spq_sw4_flush1(P, acc, 1u);
        return;
    }
    for (j = 0; j < words; j++) {
        spq_sw4_flush1(P, acc, j);
    }
}

SPQ_TEMPLATE uint32_t spq_sw4_acc(const spq_layer_t *l, const uint8_t *pixels, uint32_t pos,
                                  int32_t *acc, uint32_t words)
{
    uint32_t P[SPQ_W4_MAX_OC / 2u];
    uint32_t C = l->in_c, H = l->in_h, W = l->in_w, k = l->kernel, s = l->stride;
    uint32_t p = l->padding, rb = l->weight_row_bytes, oy = pos / l->out_w, ox = pos % l->out_w;
    uint32_t ci, ky, kx, rows = 0, cnt = 0, sum = 0, j;
    int32_t iy0 = (int32_t)(oy * s) - (int32_t)p, ix0 = (int32_t)(ox * s) - (int32_t)p;
    for (j = 0; j < 4u * words; j++) {
        P[j] = 0;
    }
    (void)P;
    for (j = 0; j < 8u * words; j++) {
        acc[j] = 0;
    }
    for (ci = 0; ci < C; ci++) {
        for (ky = 0; ky < k; ky++) {
            int32_t iy = iy0 + (int32_t)ky;
            const uint8_t *px, *w;
            if (iy < 0 || iy >= (int32_t)H) {
                continue;
            }
            px = pixels + ((size_t)ci * H + (uint32_t)iy) * W;
            w = l->weights + (((size_t)ci * k + ky) * k) * rb;
            for (kx = 0; kx < k; kx++, w += rb) {
                int32_t ix = ix0 + (int32_t)kx;
                uint32_t v;
                if (ix < 0 || ix >= (int32_t)W || (v = px[ix]) == 0u) {
                    continue;
                }
                if (cnt == SPQ_SW4_CHUNK) {
                    spq_sw4_flush(P, acc, words);
                    cnt = 0;
                }
                spq_sw4_tap(P, w, v, words);
                cnt++;
                rows++;
                sum += v;
            }
        }
    }
    spq_sw4_flush(P, acc, words);
    for (j = 0; j < 8u * words; j++) {
        acc[j] -= (int32_t)(8u * sum);
    }
    return rows;
}

/* out_c = 16: the eight pair sums in locals (registers). */
typedef struct {
    uint32_t p0, p1, p2, p3, p4, p5, p6, p7;
} spq_sw4_p16_t;

SPQ_INLINE void spq_sw4_flush16(spq_sw4_p16_t *P, int32_t *acc)
{
    acc[0] += (int32_t)(P->p0 & 0xFFFFu), acc[4] += (int32_t)(P->p0 >> 16);
    acc[1] += (int32_t)(P->p1 & 0xFFFFu), acc[5] += (int32_t)(P->p1 >> 16);
    acc[2] += (int32_t)(P->p2 & 0xFFFFu), acc[6] += (int32_t)(P->p2 >> 16);
    acc[3] += (int32_t)(P->p3 & 0xFFFFu), acc[7] += (int32_t)(P->p3 >> 16);
    acc[8] += (int32_t)(P->p4 & 0xFFFFu), acc[12] += (int32_t)(P->p4 >> 16);
    acc[9] += (int32_t)(P->p5 & 0xFFFFu), acc[13] += (int32_t)(P->p5 >> 16);
    acc[10] += (int32_t)(P->p6 & 0xFFFFu), acc[14] += (int32_t)(P->p6 >> 16);
    acc[11] += (int32_t)(P->p7 & 0xFFFFu), acc[15] += (int32_t)(P->p7 >> 16);
    P->p0 = P->p1 = P->p2 = P->p3 = P->p4 = P->p5 = P->p6 = P->p7 = 0;
}

static uint32_t spq_sw4_acc2(const spq_layer_t *l, const uint8_t *pixels, uint32_t pos,
                             int32_t *acc)
{
    const uint32_t m = 0x000F000Fu;
    uint32_t C = l->in_c, H = l->in_h, W = l->in_w, k = l->kernel, s = l->stride;
    uint32_t p = l->padding, rb = l->weight_row_bytes, oy = pos / l->out_w, ox = pos % l->out_w;
    uint32_t ci, ky, kx, kx0, kx1, rows = 0, cnt = 0, sum = 0, j;
    int32_t iy0 = (int32_t)(oy * s) - (int32_t)p, ix0 = (int32_t)(ox * s) - (int32_t)p;
    spq_sw4_p16_t P;
    P.p0 = P.p1 = P.p2 = P.p3 = P.p4 = P.p5 = P.p6 = P.p7 = 0;
    for (j = 0; j < 16u; j++) {
        acc[j] = 0;
    }
    kx0 = ix0 < 0 ? (uint32_t)(-ix0) : 0u; /* taps inside the row */
    kx1 = ix0 + (int32_t)k > (int32_t)W ? (uint32_t)((int32_t)W - ix0) : k;
    for (ci = 0; ci < C; ci++) {
        for (ky = 0; ky < k; ky++) {
            int32_t iy = iy0 + (int32_t)ky;
            const uint8_t *px, *w;
            if (iy < 0 || iy >= (int32_t)H) {
                continue;
            }
            px = pixels + ((size_t)ci * H + (uint32_t)iy) * W + ix0;
            w = l->weights + (((size_t)ci * k + ky) * k) * rb;
            for (kx = kx0; kx < kx1; kx++) {
                uint32_t v = px[kx], x0, x1;
                if (v == 0u) {
                    continue;
                }
                if (cnt == SPQ_SW4_CHUNK) {
                    spq_sw4_flush16(&P, acc);
                    cnt = 0;
                }
                x0 = spq_load32(w + kx * rb) ^ 0x88888888u;
                x1 = spq_load32(w + kx * rb + 4u) ^ 0x88888888u;
                P.p0 += v * (x0 & m);
                P.p1 += v * ((x0 >> 4) & m);
                P.p2 += v * ((x0 >> 8) & m);
                P.p3 += v * ((x0 >> 12) & m);
                P.p4 += v * (x1 & m);
                P.p5 += v * ((x1 >> 4) & m);
                P.p6 += v * ((x1 >> 8) & m);
                P.p7 += v * ((x1 >> 12) & m);
                cnt++;
                rows++;
                sum += v;
            }
        }
    }
    spq_sw4_flush16(&P, acc);
    for (j = 0; j < 16u; j++) {
        acc[j] -= (int32_t)(8u * sum);
    }
    return rows;
}

static uint32_t spq_sw4_acc_any(const spq_layer_t *l, const uint8_t *pixels, uint32_t pos,
                                int32_t *acc)
{
    return spq_sw4_acc(l, pixels, pos, acc, l->out_c / 8u);
}

uint32_t spq_static_acc_w4(const spq_layer_t *l, const uint8_t *pixels, uint32_t pos,
                           int32_t *acc)
{
    return l->out_c == 16u ? spq_sw4_acc2(l, pixels, pos, acc)
                           : spq_sw4_acc_any(l, pixels, pos, acc);
}

#else
typedef int spq_static_w4_unused; /* ISO C: a translation unit is not empty */
#endif
