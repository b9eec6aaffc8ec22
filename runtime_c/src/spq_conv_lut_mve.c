/* SPDX-License-Identifier: MIT */
/* spq_lut_row_mve: the window-row conv kernel's per-row work (spq_conv_lut.c) with Helium
 * vectors, for out_c a multiple of 16 and 2-bit membranes.
 *
 * Per output position and group of 16 channels: the kernel rows' table rows are 16 bytes
 * each, added as u8 lanes (acc + bound, the full-range outcome table's column); the lanes
 * are widened to two u16 vectors of 8 channels (through 16 bytes of stack), each channel's
 * membrane code is shifted into bits 8-9 of its lane (code * 256), the channel's table
 * offset added, and the outcome bytes fetched by one gather load per 8 channels. The new
 * codes and the spikes are packed back into the membrane word and the spike map with
 * dot products against powers of 4 and of 2 (VMLADAV). */
#include "spq_conv.h"

#if SPQ_HAVE_MVE
#include <arm_mve.h>

int spq_lut_row_mve_ok(const spq_layer_t *l)
{
    return l->out_c % 16u == 0u && l->level_bits == 2u && l->outcome_bits == 8u;
}

/* Outcome bytes of 8 channels from their lanes x (the table column, below 2^n, in the low
 * bytes), codes at bits 0, 2, .. of `half`; t: the table of the first of them (vchan: each
 * lane's channel offset, 4 * 2^n apart). */
SPQ_INLINE uint16x8_t spq_fire8_mve(uint16x8_t x, uint32_t half, const uint8_t *t,
                                    int16x8_t vsh, uint16x8_t vchan, uint32_t n)
{
    uint16x8_t code = vshlq_u16(vdupq_n_u16((uint16_t)half), vsh); /* code of lane i at 0 */
    /* idx = x + code * 2^n + channel * 4 * 2^n: insert the code bits above x, then add */
    uint16x8_t idx = vsliq_n_u16(x, vandq_u16(code, vdupq_n_u16(3u)), n);
    return vldrbq_gather_offset_u16(t, vaddq_u16(idx, vchan));
}

/* One group of 16 channels of one position: lanes (acc + bound) as u8 x 16; its 16 spike
 * bits are stored as one halfword of the map (little-endian: bits 16j .. 16j + 15 of the
 * words are halfword j); returns the number of spikes. */
SPQ_INLINE uint32_t spq_fire16_mve(uint8x16_t lanes, const uint8_t *t, uint32_t *mem,
                                   uint16_t *spk, int16x8_t vsh, uint16x8_t vchan,
                                   uint16x8_t vw4, uint16x8_t vw2, uint32_t n)
{
    uint8_t buf[16];
    const uint16x8_t m3 = vdupq_n_u16(3u);
    uint32_t mw = *mem, nw, s, cnt;
    uint16x8_t o, b;
    vst1q_u8(buf, lanes); /* widen in channel order: bytes 0-7 and 8-15 */
    o = spq_fire8_mve(vldrbq_u16(buf), mw, t, vsh, vchan, n);
    nw = vmladavq_u16(vandq_u16(o, m3), vw4);
    b = vshrq_n_u16(o, 7);
    s = vmladavq_u16(b, vw2);
    cnt = vaddvq_u16(b);
    o = spq_fire8_mve(vldrbq_u16(buf + 8), mw >> 16, t + (32u << n), vsh, vchan, n);
    *mem = nw | (vmladavq_u16(vandq_u16(o, m3), vw4) << 16);
    b = vshrq_n_u16(o, 7);
    *spk = (uint16_t)(s | (vmladavq_u16(b, vw2) << 8));
    return vaddvaq_u16(cnt, b);
}

uint32_t spq_lut_row_mve(const spq_lut_row_t *r)
{
    const spq_layer_t *l = r->l;
    const uint32_t *const *tk = r->tk;
    const uint16_t *const *vk = r->vk;
    uint32_t *mem = r->mem;
    static const int16_t sh[8] = {0, -2, -4, -6, -8, -10, -12, -14};
    static const uint16_t chan[8] = {0, 1024, 2048, 3072, 4096, 5120, 6144, 7168};
    static const uint16_t w4[8] = {1, 4, 16, 64, 256, 1024, 4096, 16384};
    static const uint16_t w2[8] = {1, 2, 4, 8, 16, 32, 64, 128};
    const int16x8_t vsh = vld1q_s16(sh);
    const uint16x8_t vchan = vld1q_u16(chan), vw4 = vld1q_u16(w4), vw2 = vld1q_u16(w2);
    uint32_t oc = l->out_c, groups = oc / 16u, k = l->kernel, w = l->out_w, ox, g, ky;
    uint32_t spikes = 0;
    uint16_t *spk = (uint16_t *)(void *)r->out + r->pos * groups; /* 16 channels a halfword */
    if (k == 3u && groups == 1u) { /* 16 channels, 3 kernel rows: pointers in registers */
        const uint8_t *t0 = (const uint8_t *)tk[0], *t1 = (const uint8_t *)tk[1];
        const uint8_t *t2 = (const uint8_t *)tk[2];
        const uint16_t *v0 = vk[0], *v1 = vk[1], *v2 = vk[2];
        for (ox = 0; ox < w; ox++, mem++, spk++) {
            uint8x16_t lanes = vaddq_u8(vaddq_u8(vld1q_u8(t0 + 4u * v0[ox]),
                                                 vld1q_u8(t1 + 4u * v1[ox])),
                                        vld1q_u8(t2 + 4u * v2[ox]));
            spikes += spq_fire16_mve(lanes, l->outcome, mem, spk, vsh, vchan, vw4, vw2, 8u);
        }
        return spikes;
    }
    for (ox = 0; ox < w; ox++) {
        const uint8_t *t = l->outcome;
        for (g = 0; g < groups; g++, mem++, spk++, t += 16384) {
            uint8x16_t lanes = vld1q_u8((const uint8_t *)(tk[0] + vk[0][ox]) + 16u * g);
            for (ky = 1; ky < k; ky++) {
                lanes = vaddq_u8(lanes,
                                 vld1q_u8((const uint8_t *)(tk[ky] + vk[ky][ox]) + 16u * g));
            }
            spikes += spq_fire16_mve(lanes, t, mem, spk, vsh, vchan, vw4, vw2, 8u);
        }
    }
    return spikes;
}

int spq_rank_fire_mve_ok(const spq_layer_t *l)
{
    return l->breaks != NULL && l->out_c % 16u == 0u && l->level_bits == 2u &&
           l->outcome_bits == 5u;
}

uint32_t spq_rank_fire_mve(const spq_layer_t *l, const uint8_t *ranks, uint32_t *mem,
                           uint32_t *out, uint32_t n_pos)
{
    static const int16_t sh[8] = {0, -2, -4, -6, -8, -10, -12, -14};
    static const uint16_t chan[8] = {0, 128, 256, 384, 512, 640, 768, 896};
    static const uint16_t w4[8] = {1, 4, 16, 64, 256, 1024, 4096, 16384};
    static const uint16_t w2[8] = {1, 2, 4, 8, 16, 32, 64, 128};
    const int16x8_t vsh = vld1q_s16(sh);
    const uint16x8_t vchan = vld1q_u16(chan), vw4 = vld1q_u16(w4), vw2 = vld1q_u16(w2);
    uint32_t groups = l->out_c / 16u, i, g, spikes = 0;
    uint16_t *spk = (uint16_t *)(void *)out; /* 16 channels a halfword */
    for (i = 0; i < n_pos; i++) {
        const uint8_t *t = l->outcome;
        for (g = 0; g < groups; g++, ranks += 16, mem++, spk++, t += 2048) {
            spikes += spq_fire16_mve(vld1q_u8(ranks), t, mem, spk, vsh, vchan, vw4, vw2, 5u);
        }
    }
    return spikes;
}

#else
typedef int spq_conv_lut_mve_unused; /* ISO C: a translation unit is not empty */
#endif
