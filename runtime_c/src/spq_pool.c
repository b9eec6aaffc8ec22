/* SPDX-License-Identifier: MIT */
/* Pooling of spike maps over k x k windows, stride k, no padding (docs/semantics.md s6), on
 * position-major maps: the C channels of a position are C consecutive bits, so a max pool
 * ORs whole runs of C bits, a sum pool counts them per channel. Also the packing of the
 * caller's event frames. */
#include "spq_internal.h"

void spq_maxpool_spike(const spq_layer_t *l, const uint32_t *in_bits, uint32_t *out_bits)
{
    uint32_t C = l->in_c, W = l->in_w, k = l->kernel, oy, ox, dy, dx, c0, op = 0;
    for (oy = 0; oy < l->out_h; oy++) {
        for (ox = 0; ox < l->out_w; ox++, op++) {
            for (c0 = 0; c0 < C; c0 += 32u) {
                uint32_t n = C - c0 < 32u ? C - c0 : 32u, v = 0;
                for (dy = 0; dy < k; dy++) {
                    uint32_t q = ((oy * k + dy) * W + ox * k) * C + c0;
                    for (dx = 0; dx < k; dx++, q += C) {
                        v |= spq_bits_get(in_bits, q, n);
                    }
                }
                spq_bits_or(out_bits, op * C + c0, n, v);
            }
        }
    }
}

void spq_sumpool_spike(const spq_layer_t *l, const uint32_t *in_bits, uint8_t *out_counts)
{
    uint32_t C = l->in_c, W = l->in_w, k = l->kernel, oy, ox, dy, dx, c;
    for (oy = 0; oy < l->out_h; oy++) {
        for (ox = 0; ox < l->out_w; ox++, out_counts += C) {
            memset(out_counts, 0, C);
            for (dy = 0; dy < k; dy++) {
                uint32_t q = ((oy * k + dy) * W + ox * k) * C;
                for (dx = 0; dx < k; dx++) {
                    for (c = 0; c < C; c++, q++) {
                        out_counts[c] = (uint8_t)(out_counts[c] + ((in_bits[q >> 5] >> (q & 31u)) & 1u));
                    }
                }
            }
        }
    }
}

void spq_pack_events(const uint8_t *in, uint32_t c, uint32_t hw, uint32_t *out_bits)
{
    uint32_t p, ch, k = 0, word = 0;
    for (p = 0; p < hw; p++) {
        for (ch = 0; ch < c; ch++, k++) {
            word |= (in[ch * hw + p] != 0u ? 1u : 0u) << (k & 31u);
            if ((k & 31u) == 31u) {
                out_bits[k >> 5] = word;
                word = 0;
            }
        }
    }
    if ((k & 31u) != 0u) {
        out_bits[k >> 5] = word;
    }
}
