/* SPDX-License-Identifier: MIT */
/* The static first layer's step 0 with Helium vectors (M55), for the layers whose trains are
 * cached and whose weights fit the scratch of the SMLAD weight pairs as bytes
 * (spq_static_mve_ok: 4-bit weights, out_c a multiple of 16, at most 64 taps):
 *
 * spq_static_bytes_mve: the weights as offset-binary bytes w + 8 (0 .. 15), once per
 * inference by gathers of 4 bytes, a row of the taps padded to 16 per channel (weight 0),
 * rows in the order of the rank groups (spq_smve_slot), bytes in the order of a narrowed pair
 * of halfword vectors (byte 2 i + h of 16: tap 8 h + i). spq_static_offsets_mve: for 17 to 32
 * taps, where they and 64 B of spike counters fit after the bytes and the pixels are within
 * 64 KiB, each tap's pixel offset from the window's first, its kernel row and column
 * (uint16); NULL otherwise.
 *
 * spq_static_trains_mve, where the offsets are made: every position in one loop (no call per
 * position). Its 32 pixels by 4 gather loads of halfword lanes (predicated by the taps and,
 * at the border, by the image's rows and columns) narrowed into two byte vectors; each
 * channel's accumulator is the dot product of the pixels with its weight bytes, two VMLADAV
 * (u8 x u8 into u32, at most 32 * 255 * 15), minus 8 times the sum of the pixels (subtracted
 * from 4 accumulators at a time). No zero skipping. The ranks of 4 channels per vector (5
 * halvings: a gather of the breakpoints at an immediate offset from their addresses, a VPT
 * compare, a predicated add; the addresses from per-lane constants and the group's channel),
 * their trains by a gather from the train table, the 16 trains of the position narrowed into
 * one vector, ORed into the cached trains, and its spikes at each step counted in 4 vectors
 * of nibble counters in the scratch after the offsets (byte lane i of vector k: bits k and
 * k + 4 of train i, added up over at most 15 vectors of trains, then summed by VADDV into the
 * counts). In assembly, since gcc 12 spills the loop's addresses and constants around them:
 * the gathers of a window inside the image (from its first pixel), the dot products (a
 * low-overhead loop of 4 channels), the 4 rank searches of 16 channels with their trains and
 * narrowing, the nibble counters, and the pixels' sum and non-zero count. Stack: its frame
 * only (240 B with gcc 12 -O2).
 *
 * spq_static_acc_mve and spq_train_row_mve, without offsets: the same a position at a time,
 * the pixels by a predicated copy of each kernel row into a zeroed buffer
 * (SPQ_SMVE_MAX_TAPS = 64 B of stack), one VMLADAV per 16 taps (at most 64 * 255 * 15).
 *
 * spq_train_table_mve: the table of the trains of spq_train_table, 8 ranks at a time (gather
 * loads of the outcome bytes, the codes as lanes). spq_train_planes_mve: the bit planes of
 * spq_train_planes, a VCMP per 16 trains and step, its predicate the plane's halfword. */
#include "spq_conv.h"

#if SPQ_HAVE_MVE
#include <arm_mve.h>

/* Taps of a window padded to whole vectors of 16 bytes. */
SPQ_INLINE uint32_t spq_smve_taps(const spq_layer_t *l)
{
    return ((uint32_t)l->in_c * l->kernel * l->kernel + 15u) & ~15u;
}

/* Channel c's accumulator's place: in each block of 16 channels, channel g + 4 i at 4 g + i
 * (so that a vector load gives the 4 channels of a rank group). */
SPQ_INLINE uint32_t spq_smve_slot(uint32_t c)
{
    return (c & ~15u) | (c & 3u) << 2 | (c & 12u) >> 2;
}

int spq_static_mve_ok(const spq_layer_t *l)
{
    size_t pairs = spq_static_pairs_bytes(l);
    return pairs != 0u && (size_t)spq_smve_taps(l) * l->out_c <= pairs;
}

void spq_static_bytes_mve(const spq_layer_t *l, uint8_t *wb)
{
    /* t of bytes u .. u + 3 of a vector of 16 (byte 2 i + h: tap 8 h + i), by u / 4 */
    static const uint32_t perm[4][4] = {{0, 8, 1, 9}, {2, 10, 3, 11}, {4, 12, 5, 13},
                                        {6, 14, 7, 15}};
    uint32_t taps = (uint32_t)l->in_c * l->kernel * l->kernel, tp = spq_smve_taps(l), n, u;
    const uint32x4_t vt = vdupq_n_u32(taps);
    for (n = 0; n < l->out_c; n++, wb += tp) { /* row n: the channel of accumulator n */
        uint32_t c = spq_smve_slot(n);
        const int32x4_t sh = vdupq_n_s32(-4 * (int32_t)(c & 1u)); /* its nibble */
        for (u = 0; u < tp; u += 4u) { /* 4 bytes by a gather; padding: weight 0 */
            uint32x4_t t = vaddq_n_u32(vld1q_u32(perm[(u >> 2) & 3u]), u & ~15u), b;
            mve_pred16_t q = vcmphiq_u32(vt, t);
            b = vldrbq_gather_offset_z_u32(l->weights, vmlaq_n_u32(vdupq_n_u32(c / 2u), t,
                                                                  l->weight_row_bytes), q);
            vstrbq_u32(wb + u, veorq_u32(vandq_u32(vshlq_u32(b, sh), vdupq_n_u32(15)),
                                         vdupq_n_u32(8)));
        }
    }
}

const uint16_t *spq_static_offsets_mve(const spq_layer_t *l, uint8_t *wb)
{
    uint32_t C = l->in_c, H = l->in_h, W = l->in_w, k = l->kernel, tp = spq_smve_taps(l);
    uint32_t taps = C * k * k, t;
    uint16_t *offs = (uint16_t *)(void *)(wb + (size_t)tp * l->out_c);
    if (tp != 32u || (size_t)tp * l->out_c + 6u * tp + 64u > spq_static_pairs_bytes(l) ||
        ((C - 1u) * H + k - 1u) * W + k - 1u > 0xFFFFu) {
        return NULL;
    }
    for (t = 0; t < tp; t++) { /* tap t's pixel from the window's first, its row, column */
        uint32_t ci = t / (k * k), ky = t / k % k, kx = t % k;
        offs[t] = (uint16_t)(t < taps ? (ci * H + ky) * W + kx : 0u);
        offs[tp + t] = (uint16_t)ky;
        offs[2u * tp + t] = (uint16_t)kx;
    }
    return offs;
}

/* 8 taps' pixels (o: the window's first pixel, iy0, ix0: its row and column, each mod 2^16; n:
 * the taps of the 8 that are not padding), 0 outside the image. */
SPQ_INLINE uint16x8_t spq_smve_gather(const uint8_t *pixels, const uint16_t *offs, uint32_t tp,
                                      uint32_t o, uint32_t iy0, uint32_t ix0, uint16x8_t vh,
                                      uint16x8_t vw, uint32_t n, int edge)
{
    mve_pred16_t q = vctp16q(n);
    if (edge) { /* the window crosses the image's border */
        q = vcmphiq_m_u16(vh, vaddq_n_u16(vld1q_u16(offs + tp), (uint16_t)iy0), q);
        q = vcmphiq_m_u16(vw, vaddq_n_u16(vld1q_u16(offs + 2u * tp), (uint16_t)ix0), q);
    }
    return vldrbq_gather_offset_z_u16(pixels, vaddq_n_u16(vld1q_u16(offs), (uint16_t)o), q);
}

/* The 16 bytes at b as a vector in the weights' order: byte 2 i + h is b[8 h + i]. */
SPQ_INLINE uint8x16_t spq_smve_pixels(const uint8_t *b)
{
    return vmovntq_u16(vmovnbq_u16(vuninitializedq_u8(), vldrbq_u16(b)), vldrbq_u16(b + 8));
}

/* The 32 taps' pixels of the window at row iy0, column ix0 of the image (e: it crosses the
 * border) by gathers at the offsets offs; inside the image in assembly (the gathers from the
 * window's first pixel, the last two predicated by q2, q3: VCTP of the taps past 16 and
 * 24). */
SPQ_TEMPLATE uint8x16x2_t spq_smve_window(const spq_layer_t *l, const uint16_t *offs,
                                          const uint8_t *pixels, int32_t iy0, int32_t ix0, int e,
                                          uint32_t q2, uint32_t q3)
{
    uint32_t W = l->in_w, taps = (uint32_t)l->in_c * l->kernel * l->kernel, tp = 32u;
    uint32_t o = (uint32_t)(iy0 * (int32_t)W + ix0), y = (uint32_t)iy0, x = (uint32_t)ix0;
    uint8x16x2_t P;
    if (!e) {
        uint16x8_t f, g0, g1;
        __asm__("vldrh.u16 %q[f], [%[of]]\n\t"
                "vldrb.u16 %q[g0], [%[px], %q[f]]\n\t"
                "vldrh.u16 %q[f], [%[of], #16]\n\t"
                "vldrb.u16 %q[g1], [%[px], %q[f]]\n\t"
                "vmovnb.i16 %q[p0], %q[g0]\n\t"
                "vmovnt.i16 %q[p0], %q[g1]\n\t"
                "vldrh.u16 %q[f], [%[of], #32]\n\t"
                "vmsr p0, %[q2]\n\t"
                "vpst\n\t"
                "vldrbt.u16 %q[g0], [%[px], %q[f]]\n\t"
                "vldrh.u16 %q[f], [%[of], #48]\n\t"
                "vmsr p0, %[q3]\n\t"
                "vpst\n\t"
                "vldrbt.u16 %q[g1], [%[px], %q[f]]\n\t"
                "vmovnb.i16 %q[p1], %q[g0]\n\t"
                "vmovnt.i16 %q[p1], %q[g1]\n\t"
                : [p0] "=&w"(P.val[0]), [p1] "=&w"(P.val[1]), [f] "=&w"(f), [g0] "=&w"(g0),
                  [g1] "=&w"(g1)
                : [of] "r"(offs), [px] "r"(pixels + o), [q2] "r"(q2), [q3] "r"(q3)
                : "p0", "memory");
        return P;
    }
    uint16x8_t vh = vdupq_n_u16(l->in_h), vw = vdupq_n_u16(l->in_w);
    P.val[0] = vmovntq_u16(vmovnbq_u16(vuninitializedq_u8(),
                                   spq_smve_gather(pixels, offs, tp, o, y, x, vh, vw, 8u, e)),
                       spq_smve_gather(pixels, offs + 8, tp, o, y, x, vh, vw, 8u, e));
    P.val[1] = vmovntq_u16(vmovnbq_u16(vuninitializedq_u8(),
                                   spq_smve_gather(pixels, offs + 16, tp, o, y, x, vh, vw,
                                                   taps - 16u, e)),
                       spq_smve_gather(pixels, offs + 24, tp, o, y, x, vh, vw,
                                       taps > 24u ? taps - 24u : 0u, e));
    return P;
}

uint32_t spq_static_acc_mve(const spq_layer_t *l, const uint8_t *wb, const uint8_t *pixels,
                            uint32_t pos, int32_t *acc)
{
    uint32_t C = l->in_c, H = l->in_h, W = l->in_w, k = l->kernel, s = l->stride;
    uint32_t p = l->padding, oc = l->out_c, oy = pos / l->out_w, ox = pos % l->out_w;
    uint32_t tp = spq_smve_taps(l), ci, ky, kx0, kx1, c, j, t = 0, sum = 0, nz = 0;
    int32_t iy0 = (int32_t)(oy * s) - (int32_t)p, ix0 = (int32_t)(ox * s) - (int32_t)p;
    uint8_t buf[SPQ_SMVE_MAX_TAPS];
    uint8x16_t P0, P1 = vdupq_n_u8(0);
    const uint8x16_t one = vdupq_n_u8(1);
    kx0 = ix0 < 0 ? (uint32_t)(-ix0) : 0u; /* taps inside the row */
    kx1 = ix0 + (int32_t)k > (int32_t)W ? (uint32_t)((int32_t)W - ix0) : k;
    for (j = 0; j < tp; j += 16u) {
        vst1q_u8(buf + j, vdupq_n_u8(0));
    }
    for (ci = 0; ci < C; ci++) { /* each kernel row's pixels inside the image */
        for (ky = 0; ky < k; ky++, t += k) {
            int32_t iy = iy0 + (int32_t)ky;
            if (iy >= 0 && iy < (int32_t)H && kx1 > kx0) {
                const uint8_t *px = pixels + ((size_t)ci * H + (uint32_t)iy) * W + ix0 + kx0;
                mve_pred16_t q = vctp8q(kx1 - kx0);
                vstrbq_p_u8(buf + t + kx0, vldrbq_z_u8(px, q), q);
            }
        }
    }
    for (j = 0; j < tp; j += 16u) { /* in the weights' order */
        vst1q_u8(buf + j, spq_smve_pixels(buf + j));
    }
    P0 = vld1q_u8(buf);
    if (tp == 32u) {
        P1 = vld1q_u8(buf + 16);
    }
    if (tp <= 32u) { /* the pixels' sum and non-zero count */
        sum = vaddvaq_u8(vaddvq_u8(P0), P1);
        nz = vaddvaq_u8(vaddvq_u8(vminq_u8(P0, one)), vminq_u8(P1, one));
    } else {
        for (j = 0; j < tp; j += 16u) {
            uint8x16_t v = vld1q_u8(buf + j);
            sum = vaddvaq_u8(sum, v);
            nz = vaddvaq_u8(nz, vminq_u8(v, one));
        }
    }
    sum *= 8u; /* each channel: the sum of p (w + 8) over the taps, minus 8 sum(p) */
    if (tp == 16u) {
        for (c = 0; c < oc; c++, wb += 16) {
            acc[c] = (int32_t)(vmladavq_u8(P0, vld1q_u8(wb)) - sum);
        }
    } else if (tp == 32u) {
        for (c = 0; c < oc; c++, wb += 32) {
            acc[c] = (int32_t)(vmladavaq_u8(vmladavq_u8(P0, vld1q_u8(wb)), P1, vld1q_u8(wb + 16)) -
                          sum);
        }
    } else {
        for (c = 0; c < oc; c++, wb += tp) {
            uint32_t a = 0;
            for (j = 0; j < tp; j += 16u) {
                a = vmladavaq_u8(a, vld1q_u8(buf + j), vld1q_u8(wb + j));
            }
            acc[c] = (int32_t)(a - sum);
        }
    }
    return nz;
}

/* The rank search's start address bq (o - 4, o the breakpoints' address) and train-table
 * base tb (tab + 1 - o / 4, mod 2^32 as the gathers add) of channel 0; channel b's: bq + 124 b,
 * tb + b. */
SPQ_INLINE uint32_t spq_smve_bases(const spq_layer_t *l, const uint8_t *tab, const uint8_t **tb)
{
    uint32_t o = (uint32_t)(uintptr_t)l->breaks;
    *tb = tab + 1u - (o >> 2);
    return o - 4u;
}

/* The 16 trains of channels b .. b + 15 from their accumulators (acc in the rank groups'
 * order, minus s each), in channel order (byte 4 i + g: channel b + g + 4 i), in one block
 * of assembly (gcc 12 spills its addresses and constants between the groups). Group g, the
 * channels b + g + 4 i in lanes i: the rank (the breakpoints <= a, of 31) by five halvings of
 * q, the addresses of breakpoint r - 1 (a gather with an immediate offset, a compare, a
 * predicated add each; q starts at the channels' breakpoints minus 4 bytes: lane constant
 * 124 * 4 i plus o - 4 + 124 (b + g), o the breakpoints' address), then the train table's
 * byte 32 (b + g + 4 i) + r by one gather: (q + 16 i) / 4 from the base
 * tab + 1 + b + g - o / 4 (o is a multiple of 4). bq and tb: those of group 0
 * (spq_smve_bases). */
SPQ_TEMPLATE uint8x16_t spq_smve_trains16(uint32_t bq, const uint8_t *tb, const int32_t *acc,
                                        int32_t s)
{
    static const uint32_t lane[2][4] = {{0, 4 * 124, 8 * 124, 12 * 124}, {0, 16, 32, 48}};
    uint32_t t;
    uint32x4_t q, x, a, r, lo; /* lo: trains of groups 0, 2 as halfwords; q: of 1, 3 */
    /* one group: its index g (0 .. 3) in the two immediates */
#define SPQ_SMVE_GROUP(g, dst)                                                               \
    "vldrw.u32 %q[a], [%[acc], #" #g "*16]\n\t"                                              \
    "vsub.i32 %q[a], %q[a], %[s]\n\t"                                                         \
    "add %[t], %[bq], #" #g "*124\n\t"                                                       \
    "vadd.i32 %q[q], %q[l0], %[t]\n\t"                                                        \
    "vldrw.u32 %q[x], [%q[q], #64]\n\t"                                                       \
    "vpt.s32 ge, %q[a], %q[x]\n\t"                                                            \
    "vaddt.i32 %q[q], %q[q], %[h16]\n\t"                                                      \
    "vldrw.u32 %q[x], [%q[q], #32]\n\t"                                                       \
    "vpt.s32 ge, %q[a], %q[x]\n\t"                                                            \
    "vaddt.i32 %q[q], %q[q], %[h8]\n\t"                                                       \
    "vldrw.u32 %q[x], [%q[q], #16]\n\t"                                                       \
    "vpt.s32 ge, %q[a], %q[x]\n\t"                                                            \
    "vaddt.i32 %q[q], %q[q], %[h4]\n\t"                                                       \
    "vldrw.u32 %q[x], [%q[q], #8]\n\t"                                                        \
    "vpt.s32 ge, %q[a], %q[x]\n\t"                                                            \
    "vaddt.i32 %q[q], %q[q], %[h2]\n\t"                                                       \
    "vldrw.u32 %q[x], [%q[q], #4]\n\t"                                                        \
    "vpt.s32 ge, %q[a], %q[x]\n\t"                                                            \
    "vaddt.i32 %q[q], %q[q], %[h1]\n\t"                                                       \
    "vadd.i32 %q[q], %q[q], %q[l1]\n\t"                                                       \
    "vshr.u32 %q[q], %q[q], #2\n\t"                                                           \
    "add %[t], %[tb], #" #g "\n\t"                                                            \
    "vldrb.u32 %q[" #dst "], [%[t], %q[q]]\n\t"
    __asm__(SPQ_SMVE_GROUP(0, r)
            SPQ_SMVE_GROUP(2, x)
            "vmovnb.i32 %q[lo], %q[r]\n\t"
            "vmovnt.i32 %q[lo], %q[x]\n\t"
            SPQ_SMVE_GROUP(1, r)
            SPQ_SMVE_GROUP(3, x)
            "vmovnb.i32 %q[q], %q[r]\n\t"
            "vmovnt.i32 %q[q], %q[x]\n\t"
            "vmovnb.i16 %q[a], %q[lo]\n\t"
            "vmovnt.i16 %q[a], %q[q]\n\t"
            : [q] "=&w"(q), [x] "=&w"(x), [a] "=&w"(a), [r] "=&w"(r), [lo] "=&w"(lo),
              [t] "=&r"(t)
            : [acc] "r"(acc), [s] "r"(s), [bq] "r"(bq), [tb] "r"(tb),
              [l0] "w"(vld1q_u32(lane[0])), [l1] "w"(vld1q_u32(lane[1])), [h16] "r"(64u),
              [h8] "r"(32u), [h4] "r"(16u), [h2] "r"(8u), [h1] "r"(4u)
            : "p0", "memory");
#undef SPQ_SMVE_GROUP
    return vreinterpretq_u8_u32(a);
}

/* The 16 trains v ORed into dst (unless NULL). */
SPQ_INLINE void spq_smve_or(uint8x16_t v, uint8_t *dst)
{
    if (dst != NULL) {
        vst1q_u8(dst, vorrq_u8(vld1q_u8(dst), v));
    }
}

void spq_train_row_mve(const spq_layer_t *l, const int32_t *acc, const uint8_t *tab, uint8_t *dst,
                       uint32_t *cnt, uint32_t T)
{
    const uint8_t *tb;
    uint32_t b, t, bq = spq_smve_bases(l, tab, &tb);
    for (b = 0; b < l->out_c; b += 16u, acc += 16, dst = dst != NULL ? dst + 16 : NULL) {
        uint8x16_t v = spq_smve_trains16(bq + 124u * b, tb + b, acc, 0);
        spq_smve_or(v, dst);
        for (t = 0; t < T; t++, v = vshrq_n_u8(v, 1)) { /* the spikes at each step */
            cnt[t] = vaddvaq_u8(cnt[t], vandq_u8(v, vdupq_n_u8(1)));
        }
    }
}

/* The nibble counters nb (4 vectors) of the trains v: bits k and k + 4 of each into byte
 * lane i of vector k (in assembly: one address register, the mask made in place). */
SPQ_INLINE void spq_smve_nibbles(uint8_t *nb, uint8x16_t v)
{
    uint8x16_t m, x, c;
    __asm__ volatile("vmov.i8 %q[m], #0x11\n\t"
                     "vand %q[x], %q[v], %q[m]\n\t"
                     "vldrb.u8 %q[c], [%[nb]]\n\t"
                     "vadd.i8 %q[c], %q[c], %q[x]\n\t"
                     "vstrb.8 %q[c], [%[nb]]\n\t"
                     "vshr.u8 %q[x], %q[v], #1\n\t"
                     "vand %q[x], %q[x], %q[m]\n\t"
                     "vldrb.u8 %q[c], [%[nb], #16]\n\t"
                     "vadd.i8 %q[c], %q[c], %q[x]\n\t"
                     "vstrb.8 %q[c], [%[nb], #16]\n\t"
                     "vshr.u8 %q[x], %q[v], #2\n\t"
                     "vand %q[x], %q[x], %q[m]\n\t"
                     "vldrb.u8 %q[c], [%[nb], #32]\n\t"
                     "vadd.i8 %q[c], %q[c], %q[x]\n\t"
                     "vstrb.8 %q[c], [%[nb], #32]\n\t"
                     "vshr.u8 %q[x], %q[v], #3\n\t"
                     "vand %q[x], %q[x], %q[m]\n\t"
                     "vldrb.u8 %q[c], [%[nb], #48]\n\t"
                     "vadd.i8 %q[c], %q[c], %q[x]\n\t"
                     "vstrb.8 %q[c], [%[nb], #48]\n\t"
                     : [m] "=&w"(m), [x] "=&w"(x), [c] "=&w"(c)
                     : [nb] "r"(nb), [v] "w"(v)
                     : "memory");
}

/* The nibble counters nb added into the counts of the T steps, and zeroed. */
static void spq_smve_flush(uint8_t *nb, uint32_t *cnt, uint32_t T)
{
    uint32_t k;
    for (k = 0; k < 4u; k++, nb += 16) {
        uint8x16_t v = vld1q_u8(nb);
        if (k < T) {
            cnt[k] += vaddvq_u8(vandq_u8(v, vdupq_n_u8(15)));
        }
        if (k + 4u < T) {
            cnt[k + 4u] += vaddvq_u8(vshrq_n_u8(v, 4));
        }
        vst1q_u8(nb, vdupq_n_u8(0));
    }
}

/* The dot products of the window's 32 pixels (P0, P1) with each of the oc rows of weight
 * bytes at w, into acc: a low-overhead loop of 4 channels (oc a multiple of 4), 19
 * instructions (gcc 12 spends 9 a channel). */
SPQ_INLINE void spq_smve_dots32(const uint8_t *w, uint8x16_t P0, uint8x16_t P1, int32_t *acc,
                                uint32_t oc)
{
    uint32_t d0, d1, d2, d3;
    uint8x16_t w0, w1;
    __asm__ volatile("dls lr, %[n]\n"
                     "1:\n\t"
                     "vldrb.u8 %q[w0], [%[w]], #16\n\t"
                     "vldrb.u8 %q[w1], [%[w]], #16\n\t"
                     "vmladav.u8 %[d0], %q[p0], %q[w0]\n\t"
                     "vmladava.u8 %[d0], %q[p1], %q[w1]\n\t"
                     "vldrb.u8 %q[w0], [%[w]], #16\n\t"
                     "vldrb.u8 %q[w1], [%[w]], #16\n\t"
                     "vmladav.u8 %[d1], %q[p0], %q[w0]\n\t"
                     "vmladava.u8 %[d1], %q[p1], %q[w1]\n\t"
                     "vldrb.u8 %q[w0], [%[w]], #16\n\t"
                     "vldrb.u8 %q[w1], [%[w]], #16\n\t"
                     "vmladav.u8 %[d2], %q[p0], %q[w0]\n\t"
                     "vmladava.u8 %[d2], %q[p1], %q[w1]\n\t"
                     "vldrb.u8 %q[w0], [%[w]], #16\n\t"
                     "vldrb.u8 %q[w1], [%[w]], #16\n\t"
                     "vmladav.u8 %[d3], %q[p0], %q[w0]\n\t"
                     "vmladava.u8 %[d3], %q[p1], %q[w1]\n\t"
                     "strd %[d0], %[d1], [%[a]], #8\n\t"
                     "strd %[d2], %[d3], [%[a]], #8\n\t"
                     "le lr, 1b\n\t"
                     : [w] "+r"(w), [a] "+r"(acc), [d0] "=&Te"(d0), [d1] "=&Te"(d1),
                       [d2] "=&Te"(d2), [d3] "=&Te"(d3), [w0] "=&w"(w0), [w1] "=&w"(w1)
                     : [n] "r"(oc / 4u), [p0] "w"(P0), [p1] "w"(P1)
                     : "lr", "memory");
}

uint32_t spq_static_trains_mve(const spq_layer_t *l, const spq_layer_t *pool,
                               const uint8_t *pixels, uint8_t *cache, uint32_t *scratch,
                               const uint16_t *offs, uint32_t T)
{
    /* the scratch as spq_static_trains_build lays it out (spq_static_scratch_bytes); the
     * train table, the weight bytes, the offsets and the zeroed counts made by the caller */
    int32_t *acc = (int32_t *)(void *)scratch;
    uint8_t *wb = (uint8_t *)(scratch + l->out_c), *tab = wb + spq_static_pairs_bytes(l);
    uint32_t *cnt = (uint32_t *)(void *)(tab + ((size_t)l->out_c << l->outcome_bits));
    uint32_t groups = ((uint32_t)pool->out_h * pool->out_w * pool->out_c + 31u) / 32u;
    uint32_t ow = l->out_w, oc = l->out_c, oy, ox, b, rows = 0, n = 0;
    uint8_t *nb = wb + 32u * oc + 6u * 32u; /* the nibble counters, after the offsets */
    uint32_t k = pool != l ? pool->kernel : 1u, pw = pool->out_w;
    const uint8_t *tb;
    uint32_t bq = spq_smve_bases(l, tab, &tb), kk = l->kernel;
    uint32_t taps = (uint32_t)l->in_c * kk * kk, q2 = vctp16q(taps - 16u);
    uint32_t q3 = vctp16q(taps > 24u ? taps - 24u : 0u);
    int32_t wk = (int32_t)l->in_w - (int32_t)kk; /* the last column of a window inside */
    int32_t st = (int32_t)l->stride, iy0 = -(int32_t)l->padding, ix0;
    spq_smve_flush(nb, cnt, 0);
    for (oy = 0; oy < l->out_h; oy++, iy0 += st) {
        /* the trains of the pool's output row of oy (NULL: outside the pool's map) */
        uint8_t *row = oy / k < pool->out_h ? cache + (size_t)(oy / k) * pw * oc : NULL;
        uint32_t px = 0, kx = 0;
        int ey = iy0 < 0 || iy0 + (int32_t)l->kernel > (int32_t)l->in_h;
        for (ox = 0, ix0 = -(int32_t)l->padding; ox < ow; ox++, ix0 += st) {
            uint8_t *dst = row != NULL && px < pw ? row + (size_t)px * oc : NULL;
            uint8x16x2_t P = spq_smve_window(l, offs, pixels, iy0, ix0,
                                              ey || ix0 < 0 || ix0 > wk, q2, q3);
            int32_t s;
            uint8x16_t m;
            /* 8 times the pixels' sum into s, their non-zero count added to rows */
            __asm__("vaddv.u8 %[s], %q[p0]\n\t"
                    "vaddva.u8 %[s], %q[p1]\n\t"
                    "lsls %[s], %[s], #3\n\t"
                    "vmov.i8 %q[m], #1\n\t"
                    "vmin.u8 %q[m], %q[p0], %q[m]\n\t"
                    "vaddva.u8 %[r], %q[m]\n\t"
                    "vmov.i8 %q[m], #1\n\t"
                    "vmin.u8 %q[m], %q[p1], %q[m]\n\t"
                    "vaddva.u8 %[r], %q[m]\n\t"
                    : [s] "=&Te"(s), [r] "+Te"(rows), [m] "=&w"(m)
                    : [p0] "w"(P.val[0]), [p1] "w"(P.val[1])
                    : "cc");
            spq_smve_dots32(wb, P.val[0], P.val[1], acc, oc);
            for (b = 0; b < oc; b += 16u) {
                uint8x16_t v = spq_smve_trains16(bq + 124u * b, tb + b, acc + b, s);
                spq_smve_or(v, dst != NULL ? dst + b : NULL);
                spq_smve_nibbles(nb, v);
                if (++n == 15u) {
                    spq_smve_flush(nb, cnt, T);
                    n = 0;
                }
            }
            if (++kx == k) {
                kx = 0;
                px++;
            }
        }
    }
    spq_smve_flush(nb, cnt, T);
    memcpy(cache + 32u * groups, cnt, 4u * T); /* after the trains, as spq_static_trains_step
                                                  reads them */
    return rows * oc;
}

void spq_train_table_mve(const spq_layer_t *l, uint8_t *tab, uint32_t T)
{
    static const uint16_t lane[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    const uint16x8_t vl = vld1q_u16(lane);
    const uint16x8_t mask = vdupq_n_u16((uint16_t)((1u << l->level_bits) - 1u));
    const uint8_t *oc = l->outcome;
    uint32_t c, r, t;
    for (c = 0; c < l->out_c; c++, oc += (size_t)32u << l->level_bits) {
        for (r = 0; r < 32u; r += 8u, tab += 8) { /* ranks r .. r + 7 from a reset membrane */
            uint16x8_t col = vaddq_n_u16(vl, (uint16_t)r), cs = vdupq_n_u16(0);
            uint16x8_t train = vdupq_n_u16(0);
            for (t = 0; t < T; t++) { /* the spike of step t into bit 7, then down */
                uint16x8_t o = vldrbq_gather_offset_u16(oc, vaddq_u16(cs, col));
                train = vorrq_u16(vshrq_n_u16(train, 1), vandq_u16(o, vdupq_n_u16(0x80u)));
                cs = vshlq_n_u16(vandq_u16(o, mask), 5); /* the code's row: 2^5 ranks */
            }
            vstrbq_u16(tab, vshlq_u16(train, vdupq_n_s16((int16_t)T - 8)));
        }
    }
}

void spq_train_planes_mve(uint8_t *cache, uint32_t groups, uint32_t T)
{
    uint32_t i, t;
    for (i = 0; i < groups; i++, cache += 32) { /* bit t of each byte: a compare's predicate */
        uint8x16_t a = vld1q_u8(cache), b = vld1q_u8(cache + 16), m = vdupq_n_u8(1);
        uint32_t *w = (uint32_t *)(void *)cache;
        for (t = 0; t < T; t++, m = vaddq_u8(m, m)) {
            w[t] = (uint32_t)vcmpneq_n_u8(vandq_u8(a, m), 0) |
                   (uint32_t)vcmpneq_n_u8(vandq_u8(b, m), 0) << 16;
        }
    }
}

#else
typedef int spq_static_mve_unused; /* ISO C: a translation unit is not empty */
#endif
