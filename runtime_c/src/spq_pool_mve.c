/* SPDX-License-Identifier: MIT */
/* spq_maxpool2_mve: 2x2 max pools of spike maps (spq_pool.c) with Helium vectors, four
 * output positions a step, the last ones tail-predicated (VCTP):
 *
 *  - 16 channels (a halfword a position): the two input rows loaded as halfwords (eight
 *    positions), ORed; each 32-bit lane then holds the two positions of a window row, ORed
 *    with itself shifted by 16 and stored as its low halfword (VSTRH.32);
 *  - 32 channels (a word a position): the even and odd positions of the two input rows
 *    gathered (VLDRW gathers, offsets 0, 8, 16, 24 bytes), ORed, stored as words. */
#include "spq_internal.h"

#if SPQ_HAVE_MVE
#include <arm_mve.h>

/* Four output positions of 16 channels from the window rows r0, r1 (eight positions each). */
SPQ_INLINE uint32x4_t spq_or4_c16(uint16x8_t r0, uint16x8_t r1)
{
    uint32x4_t x = vreinterpretq_u32_u16(vorrq_u16(r0, r1));
    return vorrq_u32(x, vshrq_n_u32(x, 16));
}

static void spq_maxpool2_c16_mve(const spq_layer_t *l, const uint32_t *in, uint32_t *out)
{
    const uint16_t *a = (const uint16_t *)(const void *)in;
    uint16_t *o = (uint16_t *)(void *)out;
    uint32_t W = l->in_w, ow = l->out_w, full = ow & ~3u, oy, ox;
    for (oy = 0; oy < l->out_h; oy++, a += 2u * W, o += ow) {
        for (ox = 0; ox < full; ox += 4u) {
            vstrhq_u32(o + ox, spq_or4_c16(vld1q_u16(a + 2u * ox), vld1q_u16(a + W + 2u * ox)));
        }
        if (ox < ow) {
            mve_pred16_t p = vctp32q(ow - ox);
            vstrhq_p_u32(o + ox, spq_or4_c16(vldrhq_z_u16(a + 2u * ox, p),
                                             vldrhq_z_u16(a + W + 2u * ox, p)), p);
        }
    }
}

/* Four output positions of 32 channels from the window rows at r0, r0 + W. */
SPQ_INLINE uint32x4_t spq_or4_c32(const uint32_t *r0, uint32_t W, uint32x4_t even,
                                  uint32x4_t odd, mve_pred16_t p)
{
    uint32x4_t x = vorrq_u32(vldrwq_gather_offset_z_u32(r0, even, p),
                             vldrwq_gather_offset_z_u32(r0, odd, p));
    uint32x4_t y = vorrq_u32(vldrwq_gather_offset_z_u32(r0 + W, even, p),
                             vldrwq_gather_offset_z_u32(r0 + W, odd, p));
    return vorrq_u32(x, y);
}

static void spq_maxpool2_c32_mve(const spq_layer_t *l, const uint32_t *in, uint32_t *out)
{
    uint32_t W = l->in_w, ow = l->out_w, full = ow & ~3u, oy, ox;
    const uint32_t *a = in;
    uint32x4_t even = vidupq_n_u32(0u, 8u), odd = vaddq_n_u32(even, 4u);
    for (oy = 0; oy < l->out_h; oy++, a += 2u * W, out += ow) {
        for (ox = 0; ox < full; ox += 4u) {
            const uint32_t *r0 = a + 2u * ox;
            uint32x4_t x = vorrq_u32(vldrwq_gather_offset_u32(r0, even),
                                     vldrwq_gather_offset_u32(r0, odd));
            uint32x4_t y = vorrq_u32(vldrwq_gather_offset_u32(r0 + W, even),
                                     vldrwq_gather_offset_u32(r0 + W, odd));
            vst1q_u32(out + ox, vorrq_u32(x, y));
        }
        if (ox < ow) {
            mve_pred16_t p = vctp32q(ow - ox);
            vstrwq_p_u32(out + ox, spq_or4_c32(a + 2u * ox, W, even, odd, p), p);
        }
    }
}

int spq_maxpool2_mve(const spq_layer_t *l, const uint32_t *in, uint32_t *out)
{
    if (l->kernel != 2u) {
        return 0;
    }
    if (l->in_c == 16u) {
        spq_maxpool2_c16_mve(l, in, out);
        return 1;
    }
    if (l->in_c == 32u) {
        spq_maxpool2_c32_mve(l, in, out);
        return 1;
    }
    return 0;
}

#else
typedef int spq_pool_mve_unused; /* ISO C: a translation unit is not empty */
#endif
