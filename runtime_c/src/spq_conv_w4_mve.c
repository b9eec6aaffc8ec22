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
        n > 8u || bound > 32767u) {
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

/* The sums of one output position's window for channels 32 g .. 32 g + 31, then its neurons;
 * returns the rows summed. */
SPQ_TEMPLATE uint32_t spq_w4_pos_mve(const spq_w4_row_t *r, int32_t ix0, const int16_t *init,
                                     uint32_t g, uint32_t pos, uint32_t n)
{
    const spq_layer_t *l = r->l;
    uint32_t C = l->in_c, W = l->in_w, k = l->kernel, rb = l->weight_row_bytes;
    uint32_t csb = k * k * rb, oc = l->out_c, cnt = 0, total = 0, ky, kx;
    uint32_t kx0 = ix0 < 0 ? (uint32_t)(-ix0) : 0u;
    uint32_t kx1 = ix0 + (int32_t)k > (int32_t)W ? (uint32_t)((int32_t)W - ix0) : k;
    const uint8_t *wx = (const uint8_t *)l->weights_x + 16u * g;
    uint8x16_t A = vdupq_n_u8(0), H = vdupq_n_u8(0);
    int16x8_t v0 = vld1q_s16(init), v1 = vld1q_s16(init + 8);
    int16x8_t v2 = vld1q_s16(init + 16), v3 = vld1q_s16(init + 24);
    uint32_t spk;
    for (ky = r->ky0; ky < r->ky1; ky++) {
        uint32_t q = r->slot[ky] + (uint32_t)(ix0 + (int32_t)kx0);
        const uint8_t *base = wx + (ky * k + kx0) * rb;
        for (kx = kx0; kx < kx1; kx++, q++, base += rb) {
            uint32_t m = r->counts[q];
            const uint8_t *src = r->idx + (size_t)q * C;
            while (m != 0u) { /* at most SPQ_W4_CHUNK rows per u8 sum */
                uint32_t take = m < SPQ_W4_CHUNK - cnt ? m : SPQ_W4_CHUNK - cnt;
                const uint8_t *end = src + take;
                if (take == 0u) { /* the chunk is full: into the u16 sums */
                    uint8x16_t E = vsubq_u8(A, vshlq_n_u8(H, 4)); /* the low nibbles */
                    v0 = vreinterpretq_s16_u16(vaddq_u16(vreinterpretq_u16_s16(v0),
                                                         vmovlbq_u8(E)));
                    v1 = vreinterpretq_s16_u16(vaddq_u16(vreinterpretq_u16_s16(v1),
                                                         vmovltq_u8(E)));
                    v2 = vreinterpretq_s16_u16(vaddq_u16(vreinterpretq_u16_s16(v2),
                                                         vmovlbq_u8(H)));
                    v3 = vreinterpretq_s16_u16(vaddq_u16(vreinterpretq_u16_s16(v3),
                                                         vmovltq_u8(H)));
                    A = vdupq_n_u8(0);
                    H = vdupq_n_u8(0);
                    total += cnt;
                    cnt = 0;
                    continue;
                }
                cnt += take;
                m -= take;
                do {
                    uint8x16_t x = vld1q_u8(base + *src++ * csb);
                    A = vaddq_u8(A, x);
                    H = vaddq_u8(H, vshrq_n_u8(x, 4));
                } while (src != end);
            }
        }
    }
    {
        uint8x16_t E = vsubq_u8(A, vshlq_n_u8(H, 4));
        int16x8_t bias;
        total += cnt;
        bias = vdupq_n_s16((int16_t)(8u * total)); /* the nibbles are w + 8 */
        v0 = vsubq_s16(vreinterpretq_s16_u16(vaddq_u16(vreinterpretq_u16_s16(v0),
                                                       vmovlbq_u8(E))), bias);
        v1 = vsubq_s16(vreinterpretq_s16_u16(vaddq_u16(vreinterpretq_u16_s16(v1),
                                                       vmovltq_u8(E))), bias);
        v2 = vsubq_s16(vreinterpretq_s16_u16(vaddq_u16(vreinterpretq_u16_s16(v2),
                                                       vmovlbq_u8(H))), bias);
        v3 = vsubq_s16(vreinterpretq_s16_u16(vaddq_u16(vreinterpretq_u16_s16(v3),
                                                       vmovltq_u8(H))), bias);
    }
    spk = spq_w4_fire_mve(v0, v1, v2, v3, l->outcome + ((size_t)32u * g << (n + 2u)),
                          (uint8_t *)(r->mem + pos * (oc / 16u)) + 8u * g, n);
    r->out[pos * (oc / 32u) + g] |= spk;
    return total;
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
        int32_t ix0 = (int32_t)(ox * l->stride) - (int32_t)l->padding;
        rows += spq_w4_pos_mve(r, ix0, init, 0u, pos, n);
        for (g = 1; g < groups; g++) {
            spq_w4_pos_mve(r, ix0, init + 32u * g, g, pos, n);
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
