/* SPDX-License-Identifier: MIT */
/* spq_w4_row_mve: the fused 4-bit conv kernel's per-row work (spq_conv_w4.c) with Helium
 * vectors, for out_c a multiple of 32, 2-bit membranes and an outcome table.
 *
 * A weight row of 32 output channels is 32 offset-binary bytes (weights_x): two vector
 * loads (word loads, for their wider immediate range). For each output position the rows
 * of the set inputs of its window are summed in u8 lanes, at most SPQ_W4_CHUNK rows at a
 * time (17 * 15 = 255), then widened into four u16 vectors: the even (VMOVLB) and odd
 * (VMOVLT) channels of each 16. They start from -outcome_base and lose 8 per row, so they
 * end as acc - base (lanes mod 2^16, read as int16).
 *
 * The neurons of the position: each vector is clamped to the table window, the membrane
 * code of each channel added at 2^n (the membrane halfwords gathered to the lanes and
 * shifted), the channel's table offset added, and the outcome bytes fetched by one gather
 * load per 8 channels; the new codes and the spikes are packed back by dot products
 * against powers of 16 and of 4 (VMLADAV). */
#include "spq_conv.h"

#if SPQ_HAVE_MVE
#include <arm_mve.h>

#define SPQ_W4_CHUNK 17u

int spq_w4_row_mve_ok(const spq_layer_t *l)
{
    uint32_t n = l->outcome_bits, c;
    uint64_t bound = spq_acc_bound(l);
    if (l->out_c % 32u != 0u || l->level_bits != 2u || l->outcome == NULL || n < 7u ||
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

/* Outcome bytes of one vector of 8 channels c0 + 2i (i = lane): d = acc - base, M the
 * membrane halfwords of the lanes (lanes 0-3: channels c0 .. c0 + 7, 4-7: the next 8),
 * vsh their code shifts (negative), vchan the channel offsets (c0 + 2i) << (n + 2) from t. */
SPQ_INLINE uint16x8_t spq_w4_out8(int16x8_t d, uint16x8_t M, int16x8_t vsh, const uint8_t *t,
                                  uint16x8_t vchan, uint32_t n)
{
    /* clamp to 0 .. 2^n - 1: saturate max(d, 0) << (16 - n) to 16 bits and shift back */
    uint16x8_t col = vshrq_n_u16(vqshluq_n_s16(d, 16 - n), 16 - n);
    uint16x8_t code = vandq_u16(vshlq_u16(M, vsh), vdupq_n_u16(3u));
    uint16x8_t idx = vaddq_u16(vmlaq_n_u16(col, code, (uint16_t)(1u << n)), vchan);
    return vldrbq_gather_offset_u16(t, idx);
}

/* Neurons of 32 channels: v0 / v1 the even / odd channels 0-15, v2 / v3 16-31; mem their
 * two membrane words; returns their spike word. */
SPQ_TEMPLATE uint32_t spq_w4_fire_mve(int16x8_t v0, int16x8_t v1, int16x8_t v2, int16x8_t v3,
                                      const uint8_t *t, uint32_t *mem, uint32_t n)
{
    static const uint16_t lane[8] = {0, 2, 4, 6, 8, 10, 12, 14};
    static const uint16_t half0[8] = {0, 0, 0, 0, 1, 1, 1, 1};
    static const int16_t sh[8] = {0, -4, -8, -12, 0, -4, -8, -12};
    static const uint16_t w16[8] = {1, 16, 256, 4096, 1, 16, 256, 4096};
    static const uint16_t w4[8] = {1, 4, 16, 64, 256, 1024, 4096, 16384};
    const uint16x8_t vlane = vld1q_u16(lane), vh = vld1q_u16(half0), vw16 = vld1q_u16(w16);
    const uint16x8_t vw4 = vld1q_u16(w4), m3 = vdupq_n_u16(3u);
    const int16x8_t vsh0 = vld1q_s16(sh), vsh1 = vsubq_s16(vsh0, vdupq_n_s16(2));
    const uint16_t *mh = (const uint16_t *)(const void *)mem;
    /* each lane's membrane halfword: channels 2i, 2i + 1 are in halfword i / 4 */
    uint16x8_t M0 = vldrhq_gather_shifted_offset_u16(mh, vh);
    uint16x8_t M1 = vldrhq_gather_shifted_offset_u16(mh, vaddq_n_u16(vh, 2u));
    uint16x8_t c0 = vshlq_n_u16(vlane, n + 2u), c1 = vaddq_n_u16(c0, (uint16_t)(4u << n));
    uint16x8_t c2 = vaddq_n_u16(c0, (uint16_t)(64u << n)), c3 = vaddq_n_u16(c2, (uint16_t)(4u << n));
    uint16x8_t o0 = spq_w4_out8(v0, M0, vsh0, t, c0, n), o1 = spq_w4_out8(v1, M0, vsh1, t, c1, n);
    uint16x8_t o2 = spq_w4_out8(v2, M1, vsh0, t, c2, n), o3 = spq_w4_out8(v3, M1, vsh1, t, c3, n);
    /* new codes: nibble i of a membrane word holds channels 2i, 2i + 1 */
    uint16x8_t e01 = vmlaq_n_u16(vandq_u16(o0, m3), vandq_u16(o1, m3), 4u);
    uint16x8_t e23 = vmlaq_n_u16(vandq_u16(o2, m3), vandq_u16(o3, m3), 4u);
    /* gcc 12 miscompiles a constant 0x00FF predicate for 16-bit lanes: VCTP makes it */
    mve_pred16_t lo = vctp16q(4u), hi = vpnot(lo);
    uint32_t s01, s23;
    mem[0] = vmladavq_p_u16(e01, vw16, lo) | (vmladavq_p_u16(e01, vw16, hi) << 16);
    mem[1] = vmladavq_p_u16(e23, vw16, lo) | (vmladavq_p_u16(e23, vw16, hi) << 16);
    /* spikes: bits 2i, 2i + 1 of each 16 */
    s01 = vmladavq_u16(vmlaq_n_u16(vshrq_n_u16(o0, 7), vshrq_n_u16(o1, 7), 2u), vw4);
    s23 = vmladavq_u16(vmlaq_n_u16(vshrq_n_u16(o2, 7), vshrq_n_u16(o3, 7), 2u), vw4);
    return s01 | (s23 << 16);
}

/* The running sums of one output position: u8 lanes A0 (channels 0-15), A1 (16-31) of the
 * current chunk, and the four u16 vectors (acc - base, before the -8 per row). */
typedef struct {
    uint8x16_t A0, A1;
    uint16x8_t v0, v1, v2, v3;
    uint32_t cnt, total;
} spq_w4_sums_t;

SPQ_INLINE void spq_w4_flush_mve(spq_w4_sums_t *z)
{
    z->v0 = vaddq_u16(z->v0, vmovlbq_u8(z->A0));
    z->v1 = vaddq_u16(z->v1, vmovltq_u8(z->A0));
    z->v2 = vaddq_u16(z->v2, vmovlbq_u8(z->A1));
    z->v3 = vaddq_u16(z->v3, vmovltq_u8(z->A1));
    z->A0 = vdupq_n_u8(0);
    z->A1 = vdupq_n_u8(0);
    z->total += z->cnt;
    z->cnt = 0;
}

/* Add n (<= SPQ_W4_CHUNK) listed rows at src (each plus byte offset off) into the sums. */
SPQ_INLINE void spq_w4_rows_mve(spq_w4_sums_t *z, const spq_w4_ref_t *src, uint32_t n,
                                const uint8_t *wxb, int32_t off)
{
    uint8x16_t A0 = z->A0, A1 = z->A1;
    uint32_t i;
    for (i = 0; i < n; i++) {
        const uint32_t *p = (const uint32_t *)(const void *)(SPQ_W4_ROW(wxb, src[i]) + off);
        A0 = vaddq_u8(A0, vreinterpretq_u8_u32(vld1q_u32(p)));
        A1 = vaddq_u8(A1, vreinterpretq_u8_u32(vld1q_u32(p + 4)));
    }
    z->A0 = A0;
    z->A1 = A1;
    z->cnt += n;
}

/* Add the n listed rows at src (each plus byte offset off) into the sums, flushing the u8
 * chunk into the u16 sums first when it would pass SPQ_W4_CHUNK rows. The kernel takes
 * layers with in_c <= SPQ_W4_CHUNK, so n fits one chunk. */
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
    uint32_t C = l->in_c, k = l->kernel, oc = l->out_c, ky, kx;
    const uint8_t *wxb = (const uint8_t *)l->weights_x;
    spq_w4_sums_t z;
    uint16x8_t bias;
    z.A0 = vdupq_n_u8(0);
    z.A1 = vdupq_n_u8(0);
    z.v0 = vld1q_u16((const uint16_t *)init);
    z.v1 = vld1q_u16((const uint16_t *)init + 8);
    z.v2 = vld1q_u16((const uint16_t *)init + 16);
    z.v3 = vld1q_u16((const uint16_t *)init + 24);
    z.cnt = 0;
    z.total = 0;
    if (k == 3u && oc == 32u) { /* tap offsets (3 ky + kx) 32 - 128 are load immediates */
        const spq_w4_ref_t *s0 = r->refs[0] + (size_t)x0 * C, *s1 = r->refs[1] + (size_t)x0 * C;
        const spq_w4_ref_t *s2 = r->refs[2] + (size_t)x0 * C;
        const uint8_t *c0 = r->counts[0] + x0, *c1 = r->counts[1] + x0, *c2 = r->counts[2] + x0;
        spq_w4_sub_mve(&z, s0, c0[0], wxb, -128);
        spq_w4_sub_mve(&z, s0 + C, c0[1], wxb, -96);
        spq_w4_sub_mve(&z, s0 + 2u * C, c0[2], wxb, -64);
        spq_w4_sub_mve(&z, s1, c1[0], wxb, -32);
        spq_w4_sub_mve(&z, s1 + C, c1[1], wxb, 0);
        spq_w4_sub_mve(&z, s1 + 2u * C, c1[2], wxb, 32);
        spq_w4_sub_mve(&z, s2, c2[0], wxb, 64);
        spq_w4_sub_mve(&z, s2 + C, c2[1], wxb, 96);
        spq_w4_sub_mve(&z, s2 + 2u * C, c2[2], wxb, 128);
    } else {
        for (ky = 0; ky < k; ky++) {
            const spq_w4_ref_t *src = r->refs[ky] + (size_t)x0 * C;
            const uint8_t *cnts = r->counts[ky] + x0;
            for (kx = 0; kx < k; kx++, src += C) {
                spq_w4_sub_mve(&z, src, cnts[kx], wxb,
                               (int32_t)((ky * k + kx) * oc + 32u * g) -
                                   (int32_t)SPQ_W4_REF_BIAS);
            }
        }
    }
    spq_w4_flush_mve(&z);
    bias = vdupq_n_u16((uint16_t)(8u * z.total)); /* the bytes are w + 8 */
    r->out[pos * (oc / 32u) + g] = spq_w4_fire_mve(
        vreinterpretq_s16_u16(vsubq_u16(z.v0, bias)), vreinterpretq_s16_u16(vsubq_u16(z.v1, bias)),
        vreinterpretq_s16_u16(vsubq_u16(z.v2, bias)), vreinterpretq_s16_u16(vsubq_u16(z.v3, bias)),
        l->outcome + ((size_t)32u * g << (n + 2u)), r->mem + pos * (oc / 16u) + 2u * g, n);
    return z.total;
}

SPQ_TEMPLATE uint32_t spq_w4_row_mve_n(const spq_w4_row_t *r, uint32_t n)
{
    const spq_layer_t *l = r->l;
    int16_t init[SPQ_W4_MAX_OC];
    uint32_t oc = l->out_c, groups = oc / 32u, rows = 0, ox, g, j, pos = r->pos;
    for (g = 0; g < groups; g++) { /* -base in the order of the four vectors */
        for (j = 0; j < 8u; j++) {
            const int32_t *b = l->outcome_base + 32u * g;
            init[32u * g + j] = (int16_t)-b[2u * j];
            init[32u * g + 8u + j] = (int16_t)-b[2u * j + 1u];
            init[32u * g + 16u + j] = (int16_t)-b[16u + 2u * j];
            init[32u * g + 24u + j] = (int16_t)-b[17u + 2u * j];
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
    return r->l->outcome_bits == 7u ? spq_w4_row_mve7(r) : spq_w4_row_mve8(r);
}

#else
typedef int spq_conv_w4_mve_unused; /* ISO C: a translation unit is not empty */
#endif
