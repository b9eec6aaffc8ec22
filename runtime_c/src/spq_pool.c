/* SPDX-License-Identifier: MIT */
/* Pooling of spike maps over k x k windows, stride k, no padding (docs/semantics.md s6):
 * max pool is OR (a spike map), sum pool counts the spikes (uint8 per output). */
#include "spq_internal.h"

SPQ_INLINE uint32_t spq_bit(const uint32_t *bits, uint32_t n)
{
    return (bits[n >> 5] >> (n & 31u)) & 1u;
}

/* The k (1..32) bits of a spike map starting at bit pos, as the low bits of a word. */
SPQ_INLINE uint32_t spq_bits_run(const uint32_t *bits, uint32_t pos, uint32_t k)
{
    uint32_t off = pos & 31u;
    uint32_t v = bits[pos >> 5] >> off;
    if (off + k > 32u) { /* off > 0 here */
        v |= bits[(pos >> 5) + 1u] << (32u - off);
    }
    return k == 32u ? v : v & (((uint32_t)1 << k) - 1u);
}

SPQ_INLINE uint32_t spq_popcount(uint32_t x)
{
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    x = (x + (x >> 4)) & 0x0F0F0F0Fu;
    return (x * 0x01010101u) >> 24;
}

/* The window of output (c, oy, ox): with k <= 32 one k-bit run per window row, OR-ed
 * (any = 1) or counted (any = 0). */
SPQ_INLINE uint32_t spq_window(const spq_layer_t *l, const uint32_t *in_bits, uint32_t c,
                               uint32_t oy, uint32_t ox, int any)
{
    uint32_t k = l->kernel, W = l->in_w, dy, dx, sum = 0;
    uint32_t base = (c * l->in_h + oy * k) * W + ox * k;
    for (dy = 0; dy < k; dy++, base += W) {
        if (k <= 32u) {
            uint32_t run = spq_bits_run(in_bits, base, k);
            sum += any ? run : spq_popcount(run);
        } else {
            for (dx = 0; dx < k; dx++) {
                sum += spq_bit(in_bits, base + dx);
            }
        }
    }
    return any ? (sum != 0u ? 1u : 0u) : sum;
}

/* Bits 0, 2, 4, ... of x (bits 1, 3, ... must be zero) packed down to bits 0, 1, 2, ... */
SPQ_INLINE uint32_t spq_even_bits(uint32_t x)
{
    x = (x | (x >> 1)) & 0x33333333u;
    x = (x | (x >> 2)) & 0x0F0F0F0Fu;
    x = (x | (x >> 4)) & 0x00FF00FFu;
    return (x | (x >> 8)) & 0x0000FFFFu;
}

/* 2x2 max pool with rows of at most 32 bits: per output row, OR the two input rows, OR
 * neighbouring bits and pack every other bit: out_w output bits appended at once. */
static void spq_maxpool2_rows(const spq_layer_t *l, const uint32_t *in_bits, uint32_t *out_bits)
{
    uint32_t W = l->in_w, ow = l->out_w, rows = (uint32_t)l->out_c * l->out_h, r;
    uint32_t H = l->in_h, oh = l->out_h, keep = ((uint32_t)1 << ow) - 1u; /* ow <= 16 */
    uint32_t word = 0, n = 0, c = 0, oy = 0;
    for (r = 0; r < rows; r++) {
        uint32_t base = (c * H + 2u * oy) * W;
        uint32_t o = spq_bits_run(in_bits, base, W) | spq_bits_run(in_bits, base + W, W);
        uint32_t v = spq_even_bits((o | (o >> 1)) & 0x55555555u) & keep;
        word |= v << n;
        n += ow;
        if (n >= 32u) {
            *out_bits++ = word;
            n -= 32u;
            word = n != 0u ? v >> (ow - n) : 0u;
        }
        if (++oy == oh) {
            oy = 0;
            c++;
        }
    }
    if (n != 0u) {
        *out_bits = word;
    }
}

void spq_maxpool_spike(const spq_layer_t *l, const uint32_t *in_bits, uint32_t *out_bits)
{
    uint32_t c, oy, ox, n = 0, word = 0;
    if (l->kernel == 2u && l->in_w <= 32u) {
        spq_maxpool2_rows(l, in_bits, out_bits);
        return;
    }
    for (c = 0; c < l->out_c; c++) {
        for (oy = 0; oy < l->out_h; oy++) {
            for (ox = 0; ox < l->out_w; ox++) {
                uint32_t s = spq_window(l, in_bits, c, oy, ox, 1);
                word |= s << (n & 31u);
                n++;
                if ((n & 31u) == 0u) {
                    out_bits[(n >> 5) - 1u] = word;
                    word = 0;
                }
            }
        }
    }
    if ((n & 31u) != 0u) {
        out_bits[n >> 5] = word;
    }
}

void spq_sumpool_spike(const spq_layer_t *l, const uint32_t *in_bits, uint8_t *out_counts)
{
    uint32_t c, oy, ox;
    for (c = 0; c < l->out_c; c++) {
        for (oy = 0; oy < l->out_h; oy++) {
            for (ox = 0; ox < l->out_w; ox++) {
                *out_counts++ = (uint8_t)spq_window(l, in_bits, c, oy, ox, 0);
            }
        }
    }
}

void spq_pack_bits(const uint8_t *in, uint32_t n, uint32_t *out_bits)
{
    uint32_t i, word = 0;
    for (i = 0; i < n; i++) {
        word |= (in[i] != 0u ? 1u : 0u) << (i & 31u);
        if ((i & 31u) == 31u) {
            out_bits[i >> 5] = word;
            word = 0;
        }
    }
    if ((n & 31u) != 0u) {
        out_bits[n >> 5] = word;
    }
}
