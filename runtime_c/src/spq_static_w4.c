/* SPDX-License-Identifier: MIT */
/* spq_static_acc_w4: the accumulators of one output position of a static (pixel input) conv
 * layer with 4-bit weights, out_c a multiple of 16 (portable C, the fast path of
 * spq_static_prepare), 16 channels at a time.
 *
 * Each packed weight word holds 8 nibbles; XOR 0x88888888 makes them offset binary w + 8
 * (0 .. 15), and (x >> 4m) & 0x000F000F puts channels m and m + 4 of the word into the two
 * halfword lanes of one pair word, so that one multiply-accumulate by the pixel value p adds
 * p (w + 8) to two channels (no lane carries: p (w + 8) <= 3825 and at most SPQ_SW4_CHUNK
 * taps are summed before the lanes are added into the int32 accumulators, 17 * 3825 <
 * 65536); the eight pair sums of 16 channels stay in registers. The accumulators then lose
 * 8 times the sum of the pixels. Not built on cores with the DSP extension (SPQ_STATIC_DSP),
 * to keep the code small: there the SMLAD kernel of spq_static_dsp.c runs when its weight
 * pairs fit, else the generic window (spq_conv_window). */
#include "spq_conv.h"

#if SPQ_FAST

#define SPQ_SW4_CHUNK 17u

int spq_static_w4_ok(const spq_layer_t *l)
{
    return l->type == SPQ_LAYER_CONV && l->in_kind == SPQ_IN_U8 && l->weight_bits == 4u &&
           l->out_c % 16u == 0u;
}

#if !SPQ_STATIC_DSP /* cores with the DSP extension run spq_static_dsp.c or the generic window */

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

/* Channels 16 g .. 16 g + 15 of a position into acc[0 .. 15]. */
static uint32_t spq_sw4_acc16(const spq_layer_t *l, const uint8_t *pixels, uint32_t pos,
                              int32_t *acc, uint32_t g)
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
            w = l->weights + (((size_t)ci * k + ky) * k) * rb + 8u * g;
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

uint32_t spq_static_acc_w4(const spq_layer_t *l, const uint8_t *pixels, uint32_t pos,
                           int32_t *acc)
{
    uint32_t g, rows = 0;
    for (g = 0; g < l->out_c / 16u; g++) {
        rows = spq_sw4_acc16(l, pixels, pos, acc + 16u * g, g);
    }
    return rows;
}
#endif /* !SPQ_STATIC_DSP */

#else
typedef int spq_static_w4_unused; /* ISO C: a translation unit is not empty */
#endif
