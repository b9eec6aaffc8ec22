/* SPDX-License-Identifier: MIT */
/* spq_fire_*: the outcome-table neuron update of one output position for the fused kernels
 * (portable C). The C accumulators of the position arrive as int16 pair words holding
 * acc - outcome_base (spq_rows.h); each neuron's outcome byte is read from the layer's
 * outcome table at (channel, membrane code, clamp(acc - base, 0, 2^n - 1)), four outcome
 * bytes are gathered into a word and split into membrane codes and spike bits with one
 * multiply each. Spikes are not counted here: the kernels count their output map once. One function per (level bits b, window bits n) so that the clamp is one
 * USAT and every shift a constant. Identical to spq_neuron_pos (tested against it). */
#include "spq_fire.h"

#if SPQ_FAST

/* Arithmetic shift right by 16 (the high int16 of a pair word after + 0x8000). */
SPQ_INLINE int32_t spq_asr16(uint32_t x)
{
#if defined(__GNUC__) || defined(__clang__)
    return (int32_t)x >> 16; /* GCC and Clang define >> of a negative int as arithmetic */
#else
    return spq_floor_div_pow2_32(spq_from_u32(x), 16u);
#endif
}

SPQ_INLINE uint32_t spq_clamp_window(int32_t d, uint32_t n)
{
    int32_t max = (int32_t)((1u << n) - 1u);
    return (uint32_t)(d < 0 ? 0 : (d > max ? max : d));
}

/* Outcome bytes of 4 channels: pair words v0, v1 (acc - base), membrane word mw with their
 * codes at bits sh, sh + b, sh + 2b, sh + 3b, table rows from t (row = 2^(b + n) bytes). */
SPQ_INLINE uint32_t spq_fire4(uint32_t v0, uint32_t v1, uint32_t mw, uint32_t sh,
                              const uint8_t *t, uint32_t b, uint32_t n)
{
    uint32_t row = 1u << (b + n), cm = (1u << b) - 1u;
    uint32_t d0 = spq_clamp_window(spq_sext16(v0), n);
    uint32_t d1 = spq_clamp_window(spq_asr16(v0 + 0x8000u), n);
    uint32_t d2 = spq_clamp_window(spq_sext16(v1), n);
    uint32_t d3 = spq_clamp_window(spq_asr16(v1 + 0x8000u), n);
    return (uint32_t)t[(((mw >> sh) & cm) << n) + d0] |
           ((uint32_t)t[row + (((mw >> (sh + b)) & cm) << n) + d1] << 8) |
           ((uint32_t)t[2u * row + (((mw >> (sh + 2u * b)) & cm) << n) + d2] << 16) |
           ((uint32_t)t[3u * row + (((mw >> (sh + 3u * b)) & cm) << n) + d3] << 24);
}

/* Bit 0 (bits 0-1) of each byte of o, packed into 4 (8) bits. */
SPQ_INLINE uint32_t spq_bit0x4(uint32_t o)
{
    return ((o & 0x01010101u) * 0x01020408u) >> 24;
}

SPQ_INLINE uint32_t spq_bits01x4(uint32_t o)
{
    return ((o & 0x03030303u) * 0x01041040u) >> 24;
}

/* New membrane codes (b bits each) and spikes of one group of 4 channels at index q of
 * their membrane word, ORed into *nw and *s. */
SPQ_INLINE void spq_fire_group(const uint32_t *a, uint32_t mw, const uint8_t *t, uint32_t q,
                               uint32_t b, uint32_t n, uint32_t *nw, uint32_t *s)
{
    uint32_t o = spq_fire4(a[2u * q], a[2u * q + 1u], mw, 4u * b * q,
                           t + ((size_t)q << (b + n + 2u)), b, n);
    *nw |= (b == 2u ? spq_bits01x4(o) : spq_bit0x4(o)) << (4u * b * q);
    *s |= spq_bit0x4(o >> 7) << (4u * q);
}

/* One membrane word of channels: 16 (b = 2) or 32 (b = 1), unrolled. */
SPQ_TEMPLATE uint32_t spq_fire_word(const uint32_t *a, uint32_t *mem, const uint8_t *t,
                                    uint32_t b, uint32_t n)
{
    uint32_t mw = *mem, nw = 0, s = 0;
    spq_fire_group(a, mw, t, 0u, b, n, &nw, &s);
    spq_fire_group(a, mw, t, 1u, b, n, &nw, &s);
    spq_fire_group(a, mw, t, 2u, b, n, &nw, &s);
    spq_fire_group(a, mw, t, 3u, b, n, &nw, &s);
    if (b == 1u) {
        spq_fire_group(a, mw, t, 4u, b, n, &nw, &s);
        spq_fire_group(a, mw, t, 5u, b, n, &nw, &s);
        spq_fire_group(a, mw, t, 6u, b, n, &nw, &s);
        spq_fire_group(a, mw, t, 7u, b, n, &nw, &s);
    }
    *mem = nw;
    return s;
}

/* b = 2: words of 16 channels (16 spike bits); b = 1: words of 32. Spikes are counted by
 * the caller over the whole output map. */
SPQ_TEMPLATE void spq_fire_impl(const uint32_t *a, const uint8_t *t, uint32_t *mem,
                                uint32_t *out, uint32_t k, uint32_t C, uint32_t b, uint32_t n)
{
    uint32_t per = 32u / b, g;
    for (g = 0; g < C; g += per, a += per / 2u, t += (size_t)per << (b + n), k += per) {
        uint32_t s = spq_fire_word(a, mem++, t, b, n);
        out[k >> 5] |= s << (k & 31u);
    }
}

/* Byte lanes: outcome bytes of 4 channels from lane word x (each byte the column, below
 * 2^n), table rows of 2^n bytes. */
SPQ_INLINE uint32_t spq_fire8_4(uint32_t x, uint32_t mw, uint32_t sh, const uint8_t *t,
                                uint32_t b, uint32_t n)
{
    uint32_t row = 1u << (b + n), cm = (1u << b) - 1u;
    return (uint32_t)t[(((mw >> sh) & cm) << n) + (x & 0xFFu)] |
           ((uint32_t)t[row + (((mw >> (sh + b)) & cm) << n) + ((x >> 8) & 0xFFu)] << 8) |
           ((uint32_t)t[2u * row + (((mw >> (sh + 2u * b)) & cm) << n) + ((x >> 16) & 0xFFu)]
            << 16) |
           ((uint32_t)t[3u * row + (((mw >> (sh + 3u * b)) & cm) << n) + (x >> 24)] << 24);
}

SPQ_INLINE void spq_fire8_group(const uint32_t *x, uint32_t mw, const uint8_t *t, uint32_t q,
                                uint32_t b, uint32_t n, uint32_t *nw, uint32_t *s)
{
    uint32_t o = spq_fire8_4(x[q], mw, 4u * b * q, t + ((size_t)q << (b + n + 2u)), b, n);
    *nw |= (b == 2u ? spq_bits01x4(o) : spq_bit0x4(o)) << (4u * b * q);
    *s |= spq_bit0x4(o >> 7) << (4u * q);
}

SPQ_TEMPLATE void spq_fire8_impl(const uint32_t *x, const uint8_t *t0, uint32_t *mem,
                                 uint32_t *out, uint32_t k, uint32_t C, uint32_t npos,
                                 uint32_t b, uint32_t n)
{
    uint32_t per = 32u / b, g, i;
    for (i = 0; i < npos; i++) {
        const uint8_t *t = t0;
        for (g = 0; g < C; g += per, x += per / 4u, t += (size_t)per << (b + n), k += per) {
            uint32_t mw = *mem, nw = 0, s = 0;
            spq_fire8_group(x, mw, t, 0u, b, n, &nw, &s);
            spq_fire8_group(x, mw, t, 1u, b, n, &nw, &s);
            spq_fire8_group(x, mw, t, 2u, b, n, &nw, &s);
            spq_fire8_group(x, mw, t, 3u, b, n, &nw, &s);
            if (b == 1u) {
                spq_fire8_group(x, mw, t, 4u, b, n, &nw, &s);
                spq_fire8_group(x, mw, t, 5u, b, n, &nw, &s);
                spq_fire8_group(x, mw, t, 6u, b, n, &nw, &s);
                spq_fire8_group(x, mw, t, 7u, b, n, &nw, &s);
            }
            *mem++ = nw;
            out[k >> 5] |= s << (k & 31u);
        }
    }
}

static void spq_fire8_b2(const uint32_t *x, const uint8_t *t, uint32_t *mem, uint32_t *out,
                         uint32_t k, uint32_t C, uint32_t npos)
{
    spq_fire8_impl(x, t, mem, out, k, C, npos, 2u, 8u);
}

static void spq_fire8_b1(const uint32_t *x, const uint8_t *t, uint32_t *mem, uint32_t *out,
                         uint32_t k, uint32_t C, uint32_t npos)
{
    spq_fire8_impl(x, t, mem, out, k, C, npos, 1u, 8u);
}

static void spq_fire5_b2(const uint32_t *x, const uint8_t *t, uint32_t *mem, uint32_t *out,
                         uint32_t k, uint32_t C, uint32_t npos)
{
    spq_fire8_impl(x, t, mem, out, k, C, npos, 2u, 5u);
}

static void spq_fire5_b1(const uint32_t *x, const uint8_t *t, uint32_t *mem, uint32_t *out,
                         uint32_t k, uint32_t C, uint32_t npos)
{
    spq_fire8_impl(x, t, mem, out, k, C, npos, 1u, 5u);
}

spq_fire8_fn_t spq_fire_rank_select(const spq_layer_t *l)
{
    uint32_t b = l->level_bits;
    if (l->breaks == NULL || l->outcome_bits != 5u || b == 0u || b > 2u ||
        (l->out_c * b) % 32u != 0u) {
        return NULL;
    }
#if SPQ_HAVE_THUMB2
    if (b == 2u) {
        return spq_fire5_thumb2;
    }
#endif
    return b == 2u ? spq_fire5_b2 : spq_fire5_b1;
}

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
    if (b == 2u) {
        return spq_fire8_thumb2;
    }
#endif
    return b == 2u ? spq_fire8_b2 : spq_fire8_b1;
}

/* One out-of-line function per (b, n): the bodies are the template above. */
static void spq_fire_b2_n5(const uint32_t *a, const uint8_t *t, uint32_t *mem, uint32_t *out,
                           uint32_t k, uint32_t C)
{
    spq_fire_impl(a, t, mem, out, k, C, 2u, 5u);
}
static void spq_fire_b2_n6(const uint32_t *a, const uint8_t *t, uint32_t *mem, uint32_t *out,
                           uint32_t k, uint32_t C)
{
    spq_fire_impl(a, t, mem, out, k, C, 2u, 6u);
}
static void spq_fire_b2_n7(const uint32_t *a, const uint8_t *t, uint32_t *mem, uint32_t *out,
                           uint32_t k, uint32_t C)
{
    spq_fire_impl(a, t, mem, out, k, C, 2u, 7u);
}
static void spq_fire_b2_n8(const uint32_t *a, const uint8_t *t, uint32_t *mem, uint32_t *out,
                           uint32_t k, uint32_t C)
{
    spq_fire_impl(a, t, mem, out, k, C, 2u, 8u);
}
static void spq_fire_b1_n5(const uint32_t *a, const uint8_t *t, uint32_t *mem, uint32_t *out,
                           uint32_t k, uint32_t C)
{
    spq_fire_impl(a, t, mem, out, k, C, 1u, 5u);
}
static void spq_fire_b1_n6(const uint32_t *a, const uint8_t *t, uint32_t *mem, uint32_t *out,
                           uint32_t k, uint32_t C)
{
    spq_fire_impl(a, t, mem, out, k, C, 1u, 6u);
}
static void spq_fire_b1_n7(const uint32_t *a, const uint8_t *t, uint32_t *mem, uint32_t *out,
                           uint32_t k, uint32_t C)
{
    spq_fire_impl(a, t, mem, out, k, C, 1u, 7u);
}
static void spq_fire_b1_n8(const uint32_t *a, const uint8_t *t, uint32_t *mem, uint32_t *out,
                           uint32_t k, uint32_t C)
{
    spq_fire_impl(a, t, mem, out, k, C, 1u, 8u);
}

spq_fire_fn_t spq_fire_select(const spq_layer_t *l)
{
    static const spq_fire_fn_t fns[2][4] = {
        {spq_fire_b1_n5, spq_fire_b1_n6, spq_fire_b1_n7, spq_fire_b1_n8},
        {spq_fire_b2_n5, spq_fire_b2_n6, spq_fire_b2_n7, spq_fire_b2_n8},
    };
    uint32_t b = l->level_bits, n = l->outcome_bits, c;
    uint64_t bound = spq_acc_bound(l);
    if (l->outcome == NULL || n < 5u || n > 8u || b == 0u || b > 2u ||
        (l->out_c * b) % 32u != 0u || bound > 32767u) {
        return NULL;
    }
    for (c = 0; c < l->out_c; c++) { /* acc - base must be an int16 (pair words) */
        int64_t base = l->outcome_base[c];
        if ((base < 0 ? -base : base) + (int64_t)bound > 32767) {
            return NULL;
        }
    }
    return fns[b - 1u][n - 5u];
}

#else
typedef int spq_fire_unused; /* ISO C: a translation unit is not empty */
#endif
