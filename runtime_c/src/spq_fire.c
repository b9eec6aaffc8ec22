/* SPDX-License-Identifier: MIT */
/* spq_fire*: the outcome-table neuron update of the fused kernels (portable C). The columns
 * of the neurons (the clamped accumulator minus outcome_base, spq_fire.h) arrive as byte
 * lanes or as pair words; each neuron's outcome byte is read from the layer's outcome table
 * at (channel, membrane code, column). A block of 16 channels is updated as four groups of
 * channels g, g + 4, g + 8, g + 12: the group's four outcome bytes are gathered into one
 * word, so that the new codes of the block are the four words masked and ORed (the code of
 * channel c lands at bit 2c) and its spikes (bit 7 of each byte) a 4 x 4 transpose of bits.
 * Spikes are not counted here: the kernels count their output map. One function per
 * (level bits b, window bits n, column kind) so that every shift is a constant. Identical
 * to spq_neuron_pos (tested against it). */
#include "spq_fire.h"
#include "spq_swar.h"

#if SPQ_FAST

/* Column of channel g + 4i of a block of 16 channels: kind 8, byte g of lane word x[i];
 * kind 16, the (clamped) pair words in L order (x[2i]: channels 4i, 4i + 2; x[2i + 1]: 4i + 1,
 * 4i + 3). */
SPQ_INLINE uint32_t spq_fire_col(const uint32_t *x, uint32_t g, uint32_t i, uint32_t kind)
{
    if (kind == 8u) {
        return (x[i] >> (8u * g)) & 0xFFu;
    }
    return (x[2u * i + (g & 1u)] >> (16u * (g >> 1))) & 0xFFFFu;
}

/* Outcome byte of channel c = g + 4i of a block. */
SPQ_INLINE uint32_t spq_fire_out1(const uint32_t *x, uint32_t mw, const uint8_t *t, uint32_t g,
                                  uint32_t i, uint32_t b, uint32_t n, uint32_t kind)
{
    uint32_t c = g + 4u * i, code = (mw >> (b * c)) & ((1u << b) - 1u);
    return t[((size_t)c << (b + n)) + (code << n) + spq_fire_col(x, g, i, kind)];
}

/* Outcome bytes of channels g, g + 4, g + 8, g + 12 of a block (byte i: channel g + 4i);
 * mw holds the block's membrane codes (b bits each from bit 0), t its table. */
SPQ_INLINE uint32_t spq_fire_out4(const uint32_t *x, uint32_t mw, const uint8_t *t, uint32_t g,
                                  uint32_t b, uint32_t n, uint32_t kind)
{
    return spq_fire_out1(x, mw, t, g, 0u, b, n, kind) |
           (spq_fire_out1(x, mw, t, g, 1u, b, n, kind) << 8) |
           (spq_fire_out1(x, mw, t, g, 2u, b, n, kind) << 16) |
           (spq_fire_out1(x, mw, t, g, 3u, b, n, kind) << 24);
}

/* Bits 8i + g (i, g < 4) moved to 4i + g. */
SPQ_INLINE uint32_t spq_fire_compress(uint32_t v)
{
    v = (v | (v >> 4)) & 0x00FF00FFu;
    return (v | (v >> 8)) & 0xFFFFu;
}

/* Neurons of one block of 16 channels: returns their new membrane codes (b bits each), their
 * spikes (bit c: channel c of the block) in *s. */
SPQ_TEMPLATE uint32_t spq_fire_block(const uint32_t *x, uint32_t mw, const uint8_t *t,
                                     uint32_t b, uint32_t n, uint32_t kind, uint32_t *s)
{
    const uint32_t m1 = 0x01010101u, m3 = 0x03030303u;
    uint32_t xc[8], j, o0, o1, o2, o3;
    if (kind == 16u) { /* int16 lanes acc - base: the columns are them clamped */
        for (j = 0; j < 8u; j++) {
            xc[j] = spq_clamp16(x[j], (1u << n) - 1u);
        }
        x = xc;
    }
    o0 = spq_fire_out4(x, mw, t, 0u, b, n, kind);
    o1 = spq_fire_out4(x, mw, t, 1u, b, n, kind);
    o2 = spq_fire_out4(x, mw, t, 2u, b, n, kind);
    o3 = spq_fire_out4(x, mw, t, 3u, b, n, kind);
    *s = spq_fire_compress(((o0 >> 7) & m1) | (((o1 >> 7) & m1) << 1) |
                           (((o2 >> 7) & m1) << 2) | (((o3 >> 7) & m1) << 3));
    if (b == 2u) { /* code of channel g + 4i at bits 8i + 2g = 2 (g + 4i) */
        return (o0 & m3) | ((o1 & m3) << 2) | ((o2 & m3) << 4) | ((o3 & m3) << 6);
    }
    return spq_fire_compress((o0 & m1) | ((o1 & m1) << 1) | ((o2 & m1) << 2) |
                             ((o3 & m1) << 3));
}

/* npos positions of C channels (C * b a multiple of 32): x their columns (C / 4 words a
 * position for kind 8, C / 2 for kind 16), mem their membrane words, spikes ORed into out
 * from bit k on. */
SPQ_TEMPLATE void spq_fire_impl(const uint32_t *x, const uint8_t *t0, uint32_t *mem,
                                uint32_t *out, uint32_t k, uint32_t C, uint32_t npos,
                                uint32_t b, uint32_t n, uint32_t kind)
{
    uint32_t xstep = kind == 8u ? 4u : 8u, i, g;
    size_t tstep = (size_t)16u << (b + n);
    for (i = 0; i < npos; i++) {
        const uint8_t *t = t0;
        for (g = 0; g < C; g += 32u / b, mem++) {
            uint32_t s, s2, mw = *mem, nw = spq_fire_block(x, mw, t, b, n, kind, &s);
            x += xstep;
            t += tstep;
            if (b == 1u) {
                nw |= spq_fire_block(x, mw >> 16, t, b, n, kind, &s2) << 16;
                s |= s2 << 16;
                x += xstep;
                t += tstep;
            }
            *mem = nw;
            spq_bits_or(out, k + g, 32u / b, s);
        }
        k += C;
    }
}

/* One out-of-line body per (b, kind), n at run time; the cores with Thumb-2 have their own
 * 2-bit versions (spq_fire_thumb2.c), so only the 1-bit bodies are built for them. */
#if !SPQ_HAVE_THUMB2
SPQ_NOINLINE static void spq_fire_b2_k8(const uint32_t *x, const uint8_t *t, uint32_t *mem,
                                        uint32_t *out, uint32_t k, uint32_t C, uint32_t npos,
                                        uint32_t n)
{
    spq_fire_impl(x, t, mem, out, k, C, npos, 2u, n, 8u);
}

SPQ_NOINLINE static void spq_fire_b2_k16(const uint32_t *x, const uint8_t *t, uint32_t *mem,
                                         uint32_t *out, uint32_t k, uint32_t C, uint32_t n)
{
    spq_fire_impl(x, t, mem, out, k, C, 1u, 2u, n, 16u);
}

static void spq_fire8_b2(const uint32_t *x, const uint8_t *t, uint32_t *mem, uint32_t *out,
                         uint32_t k, uint32_t C, uint32_t npos)
{
    spq_fire_b2_k8(x, t, mem, out, k, C, npos, 8u);
}
#endif

/* 1-bit membranes (two levels): one body, column kind and n at run time (rarer layers; the
 * code size of four specialised bodies is not worth it), and one block of 16 channels per
 * iteration (a membrane halfword; C is a multiple of 32, so a block's spikes never straddle
 * words of out) rather than spq_fire_impl's two blocks per membrane word, which doubles the
 * code for little. */
SPQ_NOINLINE static void spq_fire_b1(const uint32_t *x, const uint8_t *t0, uint32_t *mem,
                                     uint32_t *out, uint32_t k, uint32_t C, uint32_t npos,
                                     uint32_t n, uint32_t kind)
{
    uint32_t xstep = kind == 8u ? 4u : 8u, i, g, half = 0;
    size_t tstep = (size_t)16u << (1u + n);
    for (i = 0; i < npos; i++) {
        const uint8_t *t = t0;
        for (g = 0; g < C; g += 16u, k += 16u, x += xstep, t += tstep, half ^= 16u) {
            uint32_t s, w = *mem, nw = spq_fire_block(x, w >> half, t, 1u, n, kind, &s);
            *mem = (w & ~(0xFFFFu << half)) | (nw << half);
            out[k >> 5] |= s << (k & 31u);
            mem += half >> 4; /* the word is done after its high half */
        }
    }
}

static void spq_fire8_b1(const uint32_t *x, const uint8_t *t, uint32_t *mem, uint32_t *out,
                         uint32_t k, uint32_t C, uint32_t npos)
{
    spq_fire_b1(x, t, mem, out, k, C, npos, 8u, 8u);
}

/* The pair-word functions take n from the layer: one per n (5 .. 8) and b. */
static void spq_fire16_b1_n5(const uint32_t *x, const uint8_t *t, uint32_t *mem,
                             uint32_t *out, uint32_t k, uint32_t C)
{
    spq_fire_b1(x, t, mem, out, k, C, 1u, 5u, 16u);
}

static void spq_fire16_b1_n6(const uint32_t *x, const uint8_t *t, uint32_t *mem,
                             uint32_t *out, uint32_t k, uint32_t C)
{
    spq_fire_b1(x, t, mem, out, k, C, 1u, 6u, 16u);
}

static void spq_fire16_b1_n7(const uint32_t *x, const uint8_t *t, uint32_t *mem,
                             uint32_t *out, uint32_t k, uint32_t C)
{
    spq_fire_b1(x, t, mem, out, k, C, 1u, 7u, 16u);
}

static void spq_fire16_b1_n8(const uint32_t *x, const uint8_t *t, uint32_t *mem,
                             uint32_t *out, uint32_t k, uint32_t C)
{
    spq_fire_b1(x, t, mem, out, k, C, 1u, 8u, 16u);
}

#if !SPQ_HAVE_THUMB2
static void spq_fire16_b2_n5(const uint32_t *x, const uint8_t *t, uint32_t *mem,
                             uint32_t *out, uint32_t k, uint32_t C)
{
    spq_fire_b2_k16(x, t, mem, out, k, C, 5u);
}

static void spq_fire16_b2_n6(const uint32_t *x, const uint8_t *t, uint32_t *mem,
                             uint32_t *out, uint32_t k, uint32_t C)
{
    spq_fire_b2_k16(x, t, mem, out, k, C, 6u);
}

static void spq_fire16_b2_n7(const uint32_t *x, const uint8_t *t, uint32_t *mem,
                             uint32_t *out, uint32_t k, uint32_t C)
{
    spq_fire_b2_k16(x, t, mem, out, k, C, 7u);
}

static void spq_fire16_b2_n8(const uint32_t *x, const uint8_t *t, uint32_t *mem,
                             uint32_t *out, uint32_t k, uint32_t C)
{
    spq_fire_b2_k16(x, t, mem, out, k, C, 8u);
}
#endif

spq_fire8_fn_t spq_fire8_select(const spq_layer_t *l)
{
    uint32_t b = l->level_bits, c;
    uint64_t bound = spq_acc_bound(l);
    if (l->outcome == NULL || l->outcome_bits != 8u || b == 0u || b > 2u || bound > 127u ||
        (l->out_c * b) % 32u != 0u) {
        return NULL;
    }
    for (c = 0; c < l->out_c; c++) {
        if (l->outcome_base[c] != -(int32_t)bound) {
            return NULL;
        }
    }
#if SPQ_HAVE_THUMB2
    return b == 2u ? spq_fire8_thumb2 : spq_fire8_b1;
#else
    return b == 2u ? spq_fire8_b2 : spq_fire8_b1;
#endif
}

spq_fire_fn_t spq_fire_select(const spq_layer_t *l)
{
    static const spq_fire_fn_t b1[4] = {spq_fire16_b1_n5, spq_fire16_b1_n6, spq_fire16_b1_n7,
                                        spq_fire16_b1_n8};
#if !SPQ_HAVE_THUMB2
    static const spq_fire_fn_t b2[4] = {spq_fire16_b2_n5, spq_fire16_b2_n6, spq_fire16_b2_n7,
                                        spq_fire16_b2_n8};
#endif
    uint32_t b = l->level_bits, n = l->outcome_bits;
    if (l->outcome == NULL || n < 5u || n > 8u || b == 0u || b > 2u ||
        (l->out_c * b) % 32u != 0u) {
        return NULL;
    }
    if (b == 1u) {
        return b1[n - 5u];
    }
#if SPQ_HAVE_THUMB2
    return spq_fire16_thumb2_select(n);
#else
    return b2[n - 5u];
#endif
}

#else
typedef int spq_fire_unused; /* ISO C: a translation unit is not empty */
#endif
