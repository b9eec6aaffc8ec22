/* SPDX-License-Identifier: MIT */
/* Pooling of spike maps over k x k windows, stride k, no padding (docs/semantics.md s6), on
 * position-major maps: the C channels of a position are C consecutive bits, so a max pool
 * ORs whole runs of C bits, a sum pool counts them per channel. Also the packing of the
 * caller's event frames. */
#include "spq_internal.h"

/* 2x2 max pool, C a multiple of 32: whole words ORed. */
static void spq_maxpool2_words(const spq_layer_t *l, const uint32_t *in, uint32_t *out)
{
    uint32_t m = l->in_c / 32u, row = l->in_w * m, ow = l->out_w, oy, ox, j;
    for (oy = 0; oy < l->out_h; oy++) {
        const uint32_t *a = in + 2u * oy * row, *c = a + row;
        for (ox = 0; ox < ow; ox++, a += 2u * m, c += 2u * m) {
            for (j = 0; j < m; j++) {
                *out++ = a[j] | a[j + m] | c[j] | c[j + m];
            }
        }
    }
}

/* 2x2 max pool, C = 16, in_w = 2 out_w, out_w even: an input word holds the two positions
 * of one window row, an output word two output positions. */
static void spq_maxpool2_c16(const spq_layer_t *l, const uint32_t *in, uint32_t *out)
{
    uint32_t row = l->in_w / 2u, ow = l->out_w, oy, ox;
    for (oy = 0; oy < l->out_h; oy++) {
        const uint32_t *a = in + 2u * oy * row, *c = a + row;
        for (ox = 0; ox + 2u <= ow; ox += 2u, a += 2, c += 2) {
            uint32_t x = a[0] | c[0], y = a[1] | c[1];
            *out++ = ((x | (x >> 16)) & 0xFFFFu) | ((y | (y << 16)) & 0xFFFF0000u);
        }
    }
}

SPQ_SIZE
void spq_maxpool_spike(const spq_layer_t *l, const uint32_t *in_bits, uint32_t *out_bits)
{
    uint32_t C = l->in_c, W = l->in_w, k = l->kernel, oy, ox, dy, dx, c0, op = 0;
#if SPQ_HAVE_MVE
    if (spq_maxpool2_mve(l, in_bits, out_bits)) {
        return;
    }
#endif
    if (SPQ_FAST && k == 2u && C % 32u == 0u) {
        spq_maxpool2_words(l, in_bits, out_bits);
        return;
    }
    if (SPQ_FAST && k == 2u && C == 16u && W == 2u * l->out_w && l->out_w % 2u == 0u) {
        spq_maxpool2_c16(l, in_bits, out_bits);
        return;
    }
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

SPQ_SIZE
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

/* Bit i of the result: byte i of w (four 0/1... bytes) non-zero. */
SPQ_INLINE uint32_t spq_nonzero4(uint32_t w)
{
    w = (((w & 0x7F7F7F7Fu) + 0x7F7F7F7Fu) | w) & 0x80808080u; /* bit 7 of each byte */
    return ((w >> 7) * 0x01020408u) >> 24;
}

void spq_pack_events(const uint8_t *in, uint32_t c, uint32_t hw, uint32_t *out_bits)
{
    uint32_t p, ch, k = 0, word = 0;
    if (SPQ_FAST && c == 1u) { /* one channel: four bytes at a time */
        for (p = 0; p + 4u <= hw; p += 4u, k += 4u) {
            word |= spq_nonzero4(spq_load32(in + p)) << (k & 31u);
            if ((k & 31u) == 28u) {
                out_bits[k >> 5] = word;
                word = 0;
            }
        }
    } else if (SPQ_FAST && c == 2u) { /* two channels: interleave four positions at once */
        for (p = 0; p + 4u <= hw; p += 4u, k += 8u) {
            uint32_t a = spq_nonzero4(spq_load32(in + p));
            uint32_t b = spq_nonzero4(spq_load32(in + hw + p));
            /* bits a0 a1 a2 a3, b0 b1 b2 b3 -> a0 b0 a1 b1 a2 b2 a3 b3 */
            a = (a | (a << 2)) & 0x33u;
            a = (a | (a << 1)) & 0x55u;
            b = (b | (b << 2)) & 0x33u;
            b = (b | (b << 1)) & 0x55u;
            word |= (a | (b << 1)) << (k & 31u);
            if ((k & 31u) == 24u) {
                out_bits[k >> 5] = word;
                word = 0;
            }
        }
    } else {
        p = 0;
    }
    for (; p < hw; p++) {
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
