/* SPDX-License-Identifier: MIT */
/* spq_w4_row_mve: the fused 4-bit conv kernel's per-row work (spq_conv_w4.c) with Helium
 * vectors, for out_c a multiple of 32, 2-bit membranes and an outcome table.
 *
 * A weight row of 32 output channels is 16 bytes of offset-binary nibbles (weights_x): one
 * vector load. For each output position the rows of the set inputs of its window are
 * summed in u8 lanes: A = sum of the bytes (mod 256) and H = sum of the high nibbles, at
 * most SPQ_W4_CHUNK rows at a time (H <= 17 * 15 = 255), so that the low nibbles sum to
 * A - 16 H exactly; both are widened into four u16 vectors of 8 channels: channels 4i
 * (low nibbles, even bytes), 4i + 2 (low, odd bytes), 4i + 1 (high, even), 4i + 3 (high,
 * odd). They start from -outcome_base and lose 8 per row, so they end as acc - base.
 *
 * The neurons of the position: each vector is clamped to the table window, the membrane
 * code of each channel (the 8 membrane bytes loaded widened: byte i holds the codes of
 * channels 4i .. 4i + 3) scaled to its table row and added, and the outcome bytes fetched
 * by one gather load per 8 channels; the new codes are put together bytewise and stored
 * narrowed, the spikes as nibbles packed into the position's spike word by two predicated
 * dot products. */
#include "spq_conv.h"

#if SPQ_HAVE_MVE
#include <arm_mve.h>

#define SPQ_W4_CHUNK 17u

int spq_w4_row_mve_ok(const spq_layer_t *l)
{
    uint32_t n = l->outcome_bits, c;
    uint64_t bound = spq_acc_bound(l);
    if (l->out_c % 32u != 0u || l->level_bits != 2u || l->outcome == NULL || n < 5u ||
        n > 8u || bound > 32767u || l->in_c > SPQ_W4_CHUNK) {
        return 0;
    }
    for (c = 0; c < l->out_c; c++) { /* acc - base must be an int16 */
        int64_t base = l->outcome_base[c];
        if ((base < 0 ? -base : base) + (int64_t)bound > 32767) {
            return 0;
        }
    }
    return 1;
}

/* Outcome bytes of one vector of 8 channels 4i + jj (i = lane): d = acc - base, codes at
 * bits 2 jj of the membrane bytes; t: the table of channel jj. */
SPQ_INLINE uint16x8_t spq_w4_out8(int16x8_t d, uint16x8_t bytes, const uint8_t *t, uint32_t jj,
                                  uint32_t n, uint16x8_t m3, uint16x8_t lanebase)
{
    /* clamp to 0 .. 2^n - 1: saturate max(d, 0) << (16 - n) to 16 bits and shift back */
    uint16x8_t col = vshrq_n_u16(vqshluq_n_s16(d, 16 - n), 16 - n);
    uint16x8_t code = vandq_u16(jj == 0u ? bytes : vshrq_n_u16(bytes, 2 * jj), m3);
    uint16x8_t idx = vaddq_u16(vmlaq_n_u16(col, code, (uint16_t)(1u << n)), lanebase);
    return vldrbq_gather_offset_u16(t + ((size_t)jj << (n + 2u)), idx);
}

/* Neurons of 32 channels (the four vectors of the header), their 8 membrane bytes at mem;
 * returns their spike word. */
SPQ_TEMPLATE uint32_t spq_w4_fire_mve(int16x8_t v0, int16x8_t v1, int16x8_t v2, int16x8_t v3,
                                      const uint8_t *t, uint8_t *mem, uint32_t n)
{
    static const uint16_t lane[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    static const uint16_t w16[8] = {1, 16, 256, 4096, 1, 16, 256, 4096};
    const uint16x8_t m3 = vdupq_n_u16(3u);
    const uint16x8_t lanebase = vshlq_n_u16(vld1q_u16(lane), n + 4u); /* 4 channels a lane */
    uint16x8_t bytes = vldrbq_u16(mem), o0, o1, o2, o3, nb, nib, w;
    uint32_t s;
    o0 = spq_w4_out8(v0, bytes, t, 0u, n, m3, lanebase); /* channels 4i */
    o1 = spq_w4_out8(v1, bytes, t, 2u, n, m3, lanebase); /* 4i + 2 */
    o2 = spq_w4_out8(v2, bytes, t, 1u, n, m3, lanebase); /* 4i + 1 */
    o3 = spq_w4_out8(v3, bytes, t, 3u, n, m3, lanebase); /* 4i + 3 */
    nb = vbicq_n_u16(o0, 0x80u);
    nb = vmlaq_n_u16(nb, vbicq_n_u16(o2, 0x80u), 4u);
    nb = vmlaq_n_u16(nb, vbicq_n_u16(o1, 0x80u), 16u);
    nb = vmlaq_n_u16(nb, vbicq_n_u16(o3, 0x80u), 64u);
    vstrbq_u16(mem, nb);
    nib = vshrq_n_u16(o0, 7);
    nib = vmlaq_n_u16(nib, vshrq_n_u16(o2, 7), 2u);
    nib = vmlaq_n_u16(nib, vshrq_n_u16(o1, 7), 4u);
    nib = vmlaq_n_u16(nib, vshrq_n_u16(o3, 7), 8u);
    w = vld1q_u16(w16);
    /* lanes 0-3 (VCTP: the first 4) and 4-7; gcc 12 miscompiles a constant 0x00FF
     * predicate for 16-bit lanes, VCTP makes it at run time */
    s = vmladavq_p_u16(nib, w, vctp16q(4u));
    s |= vmladavq_p_u16(nib, w, vpnot(vctp16q(4u))) << 16;
    return s;
}

/* The running sums of one output position: u8 lanes A (bytes) and H (high nibbles) of the
 * current chunk, and the four u16 vectors (acc - base, before the -8 per row). */
typedef struct {
    uint8x16_t A, H;
    uint16x8_t v0, v1, v2, v3;
    uint32_t cnt, total;
} spq_w4_sums_t;

SPQ_INLINE void spq_w4_flush_mve(spq_w4_sums_t *z)
{
    uint8x16_t E = vsubq_u8(z->A, vshlq_n_u8(z->H, 4)); /* the low nibbles' sums */
    z->v0 = vaddq_u16(z->v0, vmovlbq_u8(E));
    z->v1 = vaddq_u16(z->v1, vmovltq_u8(E));
    z->v2 = vaddq_u16(z->v2, vmovlbq_u8(z->H));
    z->v3 = vaddq_u16(z->v3, vmovltq_u8(z->H));
    z->A = vdupq_n_u8(0);
    z->H = vdupq_n_u8(0);
    z->total += z->cnt;
    z->cnt = 0;
}

/* Add n (<= SPQ_W4_CHUNK) listed rows at src (each plus byte offset off) into the sums. */
SPQ_INLINE void spq_w4_rows_mve(spq_w4_sums_t *z, const spq_w4_ref_t *src, uint32_t n,
                                const uint8_t *wxb, int32_t off)
{
    uint8x16_t A = z->A, H = z->H;
    uint32_t i;
    for (i = 0; i < n; i++) {
        uint8x16_t x = vld1q_u8(SPQ_W4_ROW(wxb, src[i]) + off);
        A = vaddq_u8(A, x);
        H = vaddq_u8(H, vshrq_n_u8(x, 4));
    }
    z->A = A;
    z->H = H;
    z->cnt += n;
}

/* Add the n listed rows at src (each plus byte offset off) into the sums, flushing the u8
 * chunk into the u16 sums first when it would pass SPQ_W4_CHUNK rows (H <= 17 * 15). The
 * kernel takes layers with in_c <= SPQ_W4_CHUNK, so n fits one chunk. */
SPQ_INLINE void spq_w4_sub_mve(spq_w4_sums_t *z, const spq_w4_ref_t *src, uint32_t n,
                               const uint8_t *wxb, int32_t off)
{
    if (z->cnt + n > SPQ_W4_CHUNK) {
        spq_w4_flush_mve(z);
    }
    spq_w4_rows_mve(z, src, n, wxb, off);
}

/* The window sums of output column x0 (ring column of tap 0) for channels 32 g .., then the
 * neurons of the position; returns the rows summed. */
SPQ_TEMPLATE uint32_t spq_w4_pos_mve(const spq_w4_row_t *r, uint32_t x0, const int16_t *init,
                                     uint32_t g, uint32_t pos, uint32_t n)
{
    const spq_layer_t *l = r->l;
    uint32_t C = l->in_c, k = l->kernel, rb = l->weight_row_bytes, oc = l->out_c, ky, kx;
    const uint8_t *wxb = (const uint8_t *)l->weights_x;
    spq_w4_sums_t z;
    uint16x8_t bias;
    z.A = vdupq_n_u8(0);
    z.H = vdupq_n_u8(0);
    z.v0 = vld1q_u16((const uint16_t *)init);
    z.v1 = vld1q_u16((const uint16_t *)init + 8);
    z.v2 = vld1q_u16((const uint16_t *)init + 16);
    z.v3 = vld1q_u16((const uint16_t *)init + 24);
    z.cnt = 0;
    z.total = 0;
    if (k == 3u && rb == 16u) { /* out_c 32 (g = 0): tap offsets (3 ky + kx) 16 - 64 are load
                                   immediates */
        const spq_w4_ref_t *s0 = r->refs[0] + (size_t)x0 * C, *s1 = r->refs[1] + (size_t)x0 * C;
        const spq_w4_ref_t *s2 = r->refs[2] + (size_t)x0 * C;
        const uint8_t *c0 = r->counts[0] + x0, *c1 = r->counts[1] + x0, *c2 = r->counts[2] + x0;
        spq_w4_sub_mve(&z, s0, c0[0], wxb, -64);
        spq_w4_sub_mve(&z, s0 + C, c0[1], wxb, -48);
        spq_w4_sub_mve(&z, s0 + 2u * C, c0[2], wxb, -32);
        spq_w4_sub_mve(&z, s1, c1[0], wxb, -16);
        spq_w4_sub_mve(&z, s1 + C, c1[1], wxb, 0);
        spq_w4_sub_mve(&z, s1 + 2u * C, c1[2], wxb, 16);
        spq_w4_sub_mve(&z, s2, c2[0], wxb, 32);
        spq_w4_sub_mve(&z, s2 + C, c2[1], wxb, 48);
        spq_w4_sub_mve(&z, s2 + 2u * C, c2[2], wxb, 64);
    } else {
        for (ky = 0; ky < k; ky++) {
            const spq_w4_ref_t *src = r->refs[ky] + (size_t)x0 * C;
            const uint8_t *cnts = r->counts[ky] + x0;
            for (kx = 0; kx < k; kx++, src += C) {
                spq_w4_sub_mve(&z, src, cnts[kx], wxb,
                               (int32_t)((ky * k + kx) * rb + 16u * g) -
                                   (int32_t)SPQ_W4_REF_BIAS);
            }
        }
    }
    spq_w4_flush_mve(&z);
    bias = vdupq_n_u16((uint16_t)(8u * z.total)); /* the nibbles are w + 8 */
    r->out[pos * (oc / 32u) + g] |= spq_w4_fire_mve(
        vreinterpretq_s16_u16(vsubq_u16(z.v0, bias)), vreinterpretq_s16_u16(vsubq_u16(z.v1, bias)),
        vreinterpretq_s16_u16(vsubq_u16(z.v2, bias)), vreinterpretq_s16_u16(vsubq_u16(z.v3, bias)),
        l->outcome + ((size_t)32u * g << (n + 2u)),
        (uint8_t *)(r->mem + pos * (oc / 16u)) + 8u * g, n);
    return z.total;
}

SPQ_TEMPLATE uint32_t spq_w4_row_mve_n(const spq_w4_row_t *r, uint32_t n)
{
    const spq_layer_t *l = r->l;
    int16_t init[SPQ_W4_MAX_OC];
    uint32_t oc = l->out_c, groups = oc / 32u, rows = 0, ox, g, j, pos = r->pos;
    for (g = 0; g < groups; g++) { /* -base in the order of the four vectors */
        for (j = 0; j < 8u; j++) {
            const int32_t *b = l->outcome_base + 32u * g + 4u * j;
            init[32u * g + j] = (int16_t)-b[0];
            init[32u * g + 8u + j] = (int16_t)-b[2];
            init[32u * g + 16u + j] = (int16_t)-b[1];
            init[32u * g + 24u + j] = (int16_t)-b[3];
        }
    }
    for (ox = 0; ox < l->out_w; ox++, pos++) {
        uint32_t x0 = ox * l->stride;
        rows += spq_w4_pos_mve(r, x0, init, 0u, pos, n);
        for (g = 1; g < groups; g++) {
            spq_w4_pos_mve(r, x0, init + 32u * g, g, pos, n);
        }
    }
    return rows;
}

static uint32_t spq_w4_row_mve5(const spq_w4_row_t *r)
{
    return spq_w4_row_mve_n(r, 5u);
}

static uint32_t spq_w4_row_mve6(const spq_w4_row_t *r)
{
    return spq_w4_row_mve_n(r, 6u);
}

static uint32_t spq_w4_row_mve7(const spq_w4_row_t *r)
{
    return spq_w4_row_mve_n(r, 7u);
}

static uint32_t spq_w4_row_mve8(const spq_w4_row_t *r)
{
    return spq_w4_row_mve_n(r, 8u);
}

uint32_t spq_w4_row_mve(const spq_w4_row_t *r)
{
    switch (r->l->outcome_bits) {
    case 5u:
        return spq_w4_row_mve5(r);
    case 6u:
        return spq_w4_row_mve6(r);
    case 7u:
        return spq_w4_row_mve7(r);
    default:
        return spq_w4_row_mve8(r);
    }
}

#else
typedef int spq_conv_w4_mve_unused; /* ISO C: a translation unit is not empty */
#endif
