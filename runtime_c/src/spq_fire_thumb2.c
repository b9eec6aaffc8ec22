/* SPDX-License-Identifier: MIT */
/* spq_fire*_thumb2: the fire functions of spq_fire.c for 2-bit membranes, the table address
 * of each neuron formed in Thumb-2 (Armv7-M / Armv8-M Mainline), where the C versions
 * compile to 8-11 instructions per neuron.
 *
 * A block of 16 channels goes row by row (channels 4i .. 4i + 3): per neuron the address
 * is the table plus the column (one UXTAB / UXTAH with the DSP extension, UBFX / UXTH + ADD
 * or one ADD with a shifted register without), plus its membrane code (AND with the code's
 * mask, ADD shifted to 2^n), its channel's row an immediate offset of the LDRB; the
 * outcome bytes are ORed into one word per group g (channels g, g + 4, g + 8, g + 12) and
 * the words split as in spq_fire.c. About 5 instructions per neuron and 1.5 per neuron for
 * the rest. Identical to the C functions (the tests run both). */
#include "spq_fire.h"
#include "spq_swar.h"

#if SPQ_HAVE_THUMB2

/* Table plus column: lane `lane` of x; kind 8: byte 0..3; kind 16: halfword 0..1 already
 * clamped to the window; kind 17: halfword 0..1 as an int16, clamped here to 0 .. 2^n - 1
 * (cores without the DSP extension: USAT with the lane's shift). */
SPQ_TEMPLATE const uint8_t *spq_t2_col(uint32_t x, const uint8_t *t, uint32_t lane,
                                       uint32_t kind, uint32_t n)
{
    const uint8_t *a;
    if (kind == 17u) {
        uint32_t v;
        if (lane == 1u) {
            __asm__("usat    %[v], %[n], %[x], asr #16" : [v] "=r"(v) : [x] "r"(x), [n] "i"(n));
        } else {
            __asm__("sxth    %[v], %[x]\n\t"
                    "usat    %[v], %[n], %[v]"
                    : [v] "=&r"(v)
                    : [x] "r"(x), [n] "i"(n));
        }
        return t + v;
    }
    if (kind == 16u) {
        if (lane == 1u) {
            __asm__("add     %[a], %[t], %[x], lsr #16" : [a] "=r"(a) : [t] "r"(t), [x] "r"(x));
            return a;
        }
#if SPQ_HAVE_DSP
        __asm__("uxtah   %[a], %[t], %[x]" : [a] "=r"(a) : [t] "r"(t), [x] "r"(x));
#else
        __asm__("uxth    %[a], %[x]\n\t"
                "add     %[a], %[a], %[t]"
                : [a] "=&r"(a)
                : [t] "r"(t), [x] "r"(x));
#endif
        return a;
    }
    if (lane == 3u) {
        __asm__("add     %[a], %[t], %[x], lsr #24" : [a] "=r"(a) : [t] "r"(t), [x] "r"(x));
        return a;
    }
#if SPQ_HAVE_DSP
    if (lane == 0u) {
        __asm__("uxtab   %[a], %[t], %[x]" : [a] "=r"(a) : [t] "r"(t), [x] "r"(x));
    } else if (lane == 1u) {
        __asm__("uxtab   %[a], %[t], %[x], ror #8" : [a] "=r"(a) : [t] "r"(t), [x] "r"(x));
    } else {
        __asm__("uxtab   %[a], %[t], %[x], ror #16" : [a] "=r"(a) : [t] "r"(t), [x] "r"(x));
    }
#else
    __asm__("ubfx    %[a], %[x], %[lsb], #8\n\t"
            "add     %[a], %[a], %[t]"
            : [a] "=&r"(a)
            : [t] "r"(t), [x] "r"(x), [lsb] "i"(8u * lane));
#endif
    return a;
}

/* The outcome byte at a + (code << n) + off, the code at bits sh, sh + 1 of mw. */
SPQ_INLINE uint32_t spq_t2_load(const uint8_t *a, uint32_t mw, uint32_t sh, uint32_t n,
                                uint32_t off)
{
    uint32_t o, b;
    if (sh == n) {
        __asm__("and     %[b], %[mw], %[m]\n\t"
                "ldrb    %[o], [%[a], %[b]]"
                : [o] "=r"(o), [b] "=&r"(b)
                : [a] "r"(a + off), [mw] "r"(mw), [m] "i"(3u << sh));
    } else if (sh < n) {
        __asm__("and     %[b], %[mw], %[m]\n\t"
                "add     %[b], %[a], %[b], lsl %[s]\n\t"
                "ldrb    %[o], [%[b], %[off]]"
                : [o] "=r"(o), [b] "=&r"(b)
                : [a] "r"(a), [mw] "r"(mw), [m] "i"(3u << sh), [s] "i"(n - sh), [off] "i"(off));
    } else {
        __asm__("and     %[b], %[mw], %[m]\n\t"
                "add     %[b], %[a], %[b], lsr %[s]\n\t"
                "ldrb    %[o], [%[b], %[off]]"
                : [o] "=r"(o), [b] "=&r"(b)
                : [a] "r"(a), [mw] "r"(mw), [m] "i"(3u << sh), [s] "i"(sh - n), [off] "i"(off));
    }
    return o;
}

/* Outcome byte of channel c = 4i + g of a block: table tb (the block's), columns x. */
SPQ_TEMPLATE uint32_t spq_t2_one(const uint32_t *x, uint32_t mw, const uint8_t *tb, uint32_t i,
                                 uint32_t g, uint32_t n, uint32_t kind)
{
    uint32_t c = 4u * i + g, row = c << (n + 2u), base = row & ~4095u;
    uint32_t w = kind == 8u ? x[i] : x[2u * i + (g & 1u)]; /* kinds 16, 17: pair words */
    uint32_t lane = kind == 8u ? g : g >> 1;
    if (kind == 16u) { /* one USAT16 a word: the two channels' asm statements are merged */
        w = spq_usat16(w, n);
    }
    return spq_t2_load(spq_t2_col(w, tb + base, lane, kind, n), mw, 2u * c, n, row - base);
}

/* The four outcome bytes of group g (byte i: channel g + 4i). */
SPQ_TEMPLATE uint32_t spq_t2_group(const uint32_t *x, uint32_t mw, const uint8_t *tb,
                                   uint32_t g, uint32_t n, uint32_t kind)
{
    return spq_t2_one(x, mw, tb, 0u, g, n, kind) | (spq_t2_one(x, mw, tb, 1u, g, n, kind) << 8) |
           (spq_t2_one(x, mw, tb, 2u, g, n, kind) << 16) |
           (spq_t2_one(x, mw, tb, 3u, g, n, kind) << 24);
}

/* npos positions of C channels (a multiple of 16), as spq_fire_impl with b = 2; kind 16:
 * int16 lanes acc - base, clamped here (USAT16 a word, or USAT a lane). */
SPQ_TEMPLATE void spq_t2_fire(const uint32_t *x, const uint8_t *t0, uint32_t *mem,
                              uint32_t *out, uint32_t k, uint32_t C, uint32_t npos, uint32_t n,
                              uint32_t kind)
{
    const uint32_t m1 = 0x01010101u, m3 = 0x03030303u;
    uint32_t xstep = kind == 8u ? 4u : 8u, i, g;
    for (i = 0; i < npos; i++) {
        const uint8_t *t = t0;
        for (g = 0; g < C; g += 16u, k += 16u, mem++, x += xstep, t += (size_t)16u << (n + 2u)) {
            uint32_t mw = *mem, s, kk = kind == 16u && !SPQ_HAVE_DSP ? 17u : kind;
            uint32_t o0 = spq_t2_group(x, mw, t, 0u, n, kk);
            uint32_t o1 = spq_t2_group(x, mw, t, 1u, n, kk);
            uint32_t o2 = spq_t2_group(x, mw, t, 2u, n, kk);
            uint32_t o3 = spq_t2_group(x, mw, t, 3u, n, kk);
            *mem = (o0 & m3) | ((o1 & m3) << 2) | ((o2 & m3) << 4) | ((o3 & m3) << 6);
            s = ((o0 >> 7) & m1) | (((o1 >> 7) & m1) << 1) | (((o2 >> 7) & m1) << 2) |
                (((o3 >> 7) & m1) << 3);
            s = (s | (s >> 4)) & 0x00FF00FFu;
            s = (s | (s >> 8)) & 0xFFFFu;
            out[k >> 5] |= s << (k & 31u); /* k % 16 == 0: within one word */
        }
    }
}

void spq_fire8_thumb2(const uint32_t *x, const uint8_t *t, uint32_t *mem, uint32_t *out,
                      uint32_t k, uint32_t C, uint32_t npos)
{
    spq_t2_fire(x, t, mem, out, k, C, npos, 8u, 8u);
}

void spq_fire5_thumb2(const uint32_t *x, const uint8_t *t, uint32_t *mem, uint32_t *out,
                      uint32_t k, uint32_t C, uint32_t npos)
{
    spq_t2_fire(x, t, mem, out, k, C, npos, 5u, 8u);
}

static void spq_fire16_t2_n5(const uint32_t *x, const uint8_t *t, uint32_t *mem, uint32_t *out,
                             uint32_t k, uint32_t C)
{
    spq_t2_fire(x, t, mem, out, k, C, 1u, 5u, 16u);
}

static void spq_fire16_t2_n6(const uint32_t *x, const uint8_t *t, uint32_t *mem, uint32_t *out,
                             uint32_t k, uint32_t C)
{
    spq_t2_fire(x, t, mem, out, k, C, 1u, 6u, 16u);
}

static void spq_fire16_t2_n7(const uint32_t *x, const uint8_t *t, uint32_t *mem, uint32_t *out,
                             uint32_t k, uint32_t C)
{
    spq_t2_fire(x, t, mem, out, k, C, 1u, 7u, 16u);
}

static void spq_fire16_t2_n8(const uint32_t *x, const uint8_t *t, uint32_t *mem, uint32_t *out,
                             uint32_t k, uint32_t C)
{
    spq_t2_fire(x, t, mem, out, k, C, 1u, 8u, 16u);
}

spq_fire_fn_t spq_fire16_thumb2_select(uint32_t n)
{
    static const spq_fire_fn_t fns[4] = {spq_fire16_t2_n5, spq_fire16_t2_n6, spq_fire16_t2_n7,
                                         spq_fire16_t2_n8};
    return fns[n - 5u];
}

#else
typedef int spq_fire_thumb2_unused; /* ISO C: a translation unit is not empty */
#endif
