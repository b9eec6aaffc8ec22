/* SPDX-License-Identifier: MIT */
/* spq_static_acc_dsp: the accumulators of one output position of a static (pixel input) conv
 * layer with 4-bit weights on a core with the DSP extension (M4, M7, M33, M55), with SMLAD:
 * two multiply-accumulates of int16 pairs per instruction.
 *
 * The window's taps, flattened (ci, ky, kx) as the weight rows are, go in pairs: the pixels of
 * taps 2j and 2j + 1 are the halfwords of one word (zero outside the image), and for each
 * output channel c the word spq_static_pairs_dsp built once per inference holds the two signed
 * weights of those taps (an odd last tap pairs with weight 0). Channel c's accumulator is then
 * the SMLAD sum over the pairs, eight channels at a time in registers (the window's pixels are
 * read once per position into the pair words, a stack array of SPQ_SD_PAIRS words, 128 B).
 * The weight pairs live in the layer's scratch (the accumulator part of the arena,
 * spq_static_pairs_bytes, which gives the shapes this kernel takes). No zero skipping: every
 * tap costs the same, about 0.8 instructions per multiply-accumulate. */
#include "spq_conv.h"

#if SPQ_HAVE_DSP && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__

/* Signed 4-bit weight of tap t (flattened ci, ky, kx) and output channel c. */
static uint32_t spq_sd_weight(const spq_layer_t *l, uint32_t taps, uint32_t t, uint32_t c)
{
    uint32_t b;
    if (t >= taps) {
        return 0u;
    }
    b = (l->weights[(size_t)t * l->weight_row_bytes + c / 2u] >> (4u * (c & 1u))) & 0xFu;
    return (uint32_t)(((int32_t)(b ^ 8u) - 8) & 0xFFFF);
}

void spq_static_pairs_dsp(const spq_layer_t *l, uint32_t *wp)
{
    uint32_t taps = l->in_c * l->kernel * l->kernel, j, c, oc = l->out_c;
    for (j = 0; j < (taps + 1u) / 2u; j++) {
        for (c = 0; c < oc; c++) {
            wp[j * oc + c] = spq_sd_weight(l, taps, 2u * j, c) |
                             spq_sd_weight(l, taps, 2u * j + 1u, c) << 16;
        }
    }
}

SPQ_INLINE int32_t spq_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* Two weight-pair words at w + off bytes in one LDRD (w word aligned). */
#define SPQ_SD_LDRD(x0, x1, w, off)                                                           \
    __asm__("ldrd %0, %1, [%2, %3]" : "=r"(x0), "=r"(x1) : "r"(w), "i"(off), "m"(*(w)))

uint32_t spq_static_acc_dsp(const spq_layer_t *l, const uint32_t *wp, const uint8_t *pixels,
                            uint32_t pos, int32_t *acc)
{
    uint32_t C = l->in_c, H = l->in_h, W = l->in_w, k = l->kernel, s = l->stride;
    uint32_t p = l->padding, oc = l->out_c, oy = pos / l->out_w, ox = pos % l->out_w;
    uint32_t ci, ky, kx, t = 0, nz = 0, j, np, c0;
    int32_t iy0 = (int32_t)(oy * s) - (int32_t)p, ix0 = (int32_t)(ox * s) - (int32_t)p;
    int inside = iy0 >= 0 && iy0 + (int32_t)k <= (int32_t)H && ix0 >= 0 &&
                 ix0 + (int32_t)k <= (int32_t)W;
    uint16_t h[2u * SPQ_SD_PAIRS];
    if (inside) { /* the whole window inside the image: rows of k pixels */
        const uint8_t *px = pixels + (size_t)iy0 * W + ix0;
        for (ci = 0; ci < C; ci++, px += (size_t)(H - k) * W) {
            for (ky = 0; ky < k; ky++, px += W) {
                for (kx = 0; kx < k; kx++) {
                    uint32_t v = px[kx];
                    h[t++] = (uint16_t)v;
                    nz += (v + 255u) >> 8;
                }
            }
        }
    }
    for (ci = 0; !inside && ci < C; ci++) { /* a window over the border: zeros outside */
        for (ky = 0; ky < k; ky++) {
            int32_t iy = iy0 + (int32_t)ky;
            for (kx = 0; kx < k; kx++) {
                int32_t ix = ix0 + (int32_t)kx;
                uint32_t v = 0;
                if (iy >= 0 && iy < (int32_t)H && ix >= 0 && ix < (int32_t)W) {
                    v = pixels[((size_t)ci * H + (uint32_t)iy) * W + (uint32_t)ix];
                }
                h[t++] = (uint16_t)v;
                nz += (v + 255u) >> 8;
            }
        }
    }
    h[t] = 0; /* an odd last tap pairs with weight 0 */
    np = (t + 1u) / 2u;
    for (c0 = 0; c0 < oc; c0 += 8u) {
        const uint32_t *w = wp + c0;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
        for (j = 0; j < np; j++, w += oc) {
            uint32_t v = spq_load32((const uint8_t *)h + 4u * j), x0, x1;
            SPQ_SD_LDRD(x0, x1, w, 0);
            a0 = spq_smlad(v, x0, a0);
            a1 = spq_smlad(v, x1, a1);
            SPQ_SD_LDRD(x0, x1, w, 8);
            a2 = spq_smlad(v, x0, a2);
            a3 = spq_smlad(v, x1, a3);
            SPQ_SD_LDRD(x0, x1, w, 16);
            a4 = spq_smlad(v, x0, a4);
            a5 = spq_smlad(v, x1, a5);
            SPQ_SD_LDRD(x0, x1, w, 24);
            a6 = spq_smlad(v, x0, a6);
            a7 = spq_smlad(v, x1, a7);
        }
        acc[c0] = a0, acc[c0 + 1u] = a1, acc[c0 + 2u] = a2, acc[c0 + 3u] = a3;
        acc[c0 + 4u] = a4, acc[c0 + 5u] = a5, acc[c0 + 6u] = a6, acc[c0 + 7u] = a7;
    }
    return nz;
}

#else
typedef int spq_static_dsp_unused; /* ISO C: a translation unit is not empty */
#endif
