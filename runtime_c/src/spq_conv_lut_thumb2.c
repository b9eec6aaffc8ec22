/* SPDX-License-Identifier: MIT */
/* spq_lut_row_thumb2: the window-row conv kernel's per-row work (spq_conv_lut.c) for kernel
 * 3 and 16 output channels with 2-bit membranes, in Thumb-2: each position's four lane words
 * are the sums of its three table rows, formed in registers and used at once by the fire
 * block of spq_fire_t2.h (no lane buffer, no call per position). */
#include "spq_conv.h"
#include "spq_fire_t2.h"

#if SPQ_HAVE_THUMB2

int spq_lut_row_thumb2_ok(const spq_layer_t *l)
{
    return l->kernel == 3u && l->out_c == 16u && l->level_bits == 2u;
}

uint32_t spq_lut_row_thumb2(const spq_lut_row_t *r)
{
    const spq_layer_t *l = r->l;
    const uint32_t *t0 = r->tk[0], *t1 = r->tk[1], *t2 = r->tk[2];
    const uint16_t *v0 = r->vk[0], *v1 = r->vk[1], *v2 = r->vk[2];
    const uint8_t *t = l->outcome;
    uint32_t *mem = r->mem, *out = r->out, w = l->out_w, ox, k = r->pos * 16u;
    for (ox = 0; ox < w; ox++, mem++, k += 16u) {
        const uint32_t *a = t0 + v0[ox], *b = t1 + v1[ox], *c = t2 + v2[ox];
        uint32_t x[4];
        x[0] = a[0] + b[0] + c[0];
        x[1] = a[1] + b[1] + c[1];
        x[2] = a[2] + b[2] + c[2];
        x[3] = a[3] + b[3] + c[3];
        spq_t2_block(x, mem, t, out, k, 8u, 8u);
    }
    return spq_count_range(out, r->pos * 16u, w * 16u); /* the row's spikes */
}

#else
typedef int spq_conv_lut_thumb2_unused; /* ISO C: a translation unit is not empty */
#endif
