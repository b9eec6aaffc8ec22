/* SPDX-License-Identifier: MIT */
/* spq_readout_x_mve: one plane of a summed readout's spike counts weighed with its
 * offset-binary rows (weights_x) with Helium vectors, logits = 2 * logits + the plane's sum:
 * the portable spq_readout_x (spq_linear.c) with a row of 16 bytes added as one u8 x 16
 * vector (VLDRB, VADD.I8) and the byte lanes widened every 17 rows into two u16 x 8 vectors
 * of the even and odd classes (VMOVLB, VMOVLT). The walk along the map is the portable
 * kernel's (kept apart: a shared inline helper cost the M4 about 400 instructions). Stack
 * scratch: 32 bytes (the two vectors, stored once per plane). */
#include "spq_conv.h"

#if SPQ_HAVE_MVE
#include <arm_mve.h>

void spq_readout_x_mve(const spq_layer_t *l, uint32_t map_c, const uint32_t *plane,
                       int32_t *logits)
{
    const uint8_t *x = (const uint8_t *)l->weights_x;
    uint32_t n = l->in_c, hw = n / map_c, S, top;
    uint32_t words = n >> 5, wi, o, c = 0, flushes = 0, left = SPQ_READOUT_FLUSH, rows;
    uint8x16_t lanes = vdupq_n_u8(0);
    uint16x8_t even = vdupq_n_u16(0), odd = vdupq_n_u16(0);
    uint16_t sums[16];
    if (map_c == 1u || hw == 1u) { /* the map order is the feature order */
        map_c = n;
        hw = 1u;
    }
    S = 16u * hw;
    top = 31u * S; /* the offset of the row of bit 31 of the word (position 0, channel 31) */
    for (wi = 0; wi < words; wi++) { /* channels c .. c + 31 of one position */
        uint32_t bits = plane[wi];
        while (bits != 0u) { /* bit 31 - z: z channels (z * S bytes) before bit 31's row */
            uint32_t z = SPQ_CLZ(bits);
            lanes = vaddq_u8(lanes, vld1q_u8(x + (top - z * S)));
            bits &= ~(0x80000000u >> z);
            if (--left == 0u) { /* each byte lane at most 17 * 15 */
                even = vaddq_u16(even, vmovlbq_u8(lanes));
                odd = vaddq_u16(odd, vmovltq_u8(lanes));
                lanes = vdupq_n_u8(0);
                left = SPQ_READOUT_FLUSH;
                flushes++;
            }
        }
        c += 32u;
        top += 32u * S;
        if (c == map_c) { /* channel 31 of the next position (mod 2^32 until then) */
            c = 0;
            top += 16u - map_c * S;
        }
    }
    vst1q_u16(sums, vaddq_u16(even, vmovlbq_u8(lanes)));
    vst1q_u16(sums + 8, vaddq_u16(odd, vmovltq_u8(lanes)));
    rows = SPQ_READOUT_FLUSH * (flushes + 1u) - left;
    for (o = 0; o < l->out_c; o++) { /* class o: even lane o / 2 or odd lane o / 2 */
        logits[o] = 2 * logits[o] + (int32_t)sums[(o & 1u) * 8u + o / 2u] - (int32_t)(8u * rows);
    }
}

/* spq_readout_count_mve: the step's spikes added into the bit-sliced counts (the portable
 * spq_readout_count's ripple-carry add, spq_linear.c) four words at a time through every
 * plane: VEOR the sum bit, VAND the carry (the counts never carry out of the top plane).
 * Words not a multiple of 4: the portable add. Kept to few registers: its frame is no
 * larger than the portable one's (the stack peak of a readout step). */
void spq_readout_count_mve(const spq_layer_t *l, const uint32_t *in, uint32_t *counts,
                           uint32_t planes)
{
    uint32_t words = (l->in_c + 31u) / 32u, i, p;
    if ((words & 3u) != 0u) {
        spq_readout_count(l, in, counts);
        return;
    }
    for (i = 0; i < words; i += 4u) {
        uint32x4_t carry = vld1q_u32(in + i);
        uint32_t *c = counts + i;
        for (p = planes; p != 0u; p--, c += words) {
            uint32x4_t v = vld1q_u32(c);
            vst1q_u32(c, veorq_u32(v, carry));
            carry = vandq_u32(v, carry);
        }
    }
}

#endif
