/* SPDX-License-Identifier: MIT */
/**
 * @file spq_fire_t2.h
 * @brief Templates of the Thumb-2 fire functions (spq_fire_thumb2.c, spq_conv_lut_thumb2.c):
 * per neuron the table address is the table plus the column (one UXTAB / UXTAH with the DSP
 * extension, UBFX / UXTH + ADD or one ADD with a shifted register without), plus its
 * membrane code (AND with the code's mask, ADD shifted to 2^n), its channel's row an
 * immediate offset of the LDRB; a block of 16 channels goes as four groups g (channels g,
 * g + 4, g + 8, g + 12) whose outcome bytes are ORed into one word each and split as in
 * spq_fire.c. About 5 instructions per neuron and 1.5 per neuron for the rest.
 */
#ifndef SPQ_FIRE_T2_H
#define SPQ_FIRE_T2_H

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

/* One block of 16 channels (b = 2): x its columns (kind 8: 4 lane words; 16 / 17: 8 pair
 * words), mem its membrane word, t its table; its spikes ORed into out at bit k (k % 16 ==
 * 0: within one word). */
SPQ_TEMPLATE void spq_t2_block(const uint32_t *x, uint32_t *mem, const uint8_t *t,
                               uint32_t *out, uint32_t k, uint32_t n, uint32_t kind)
{
    const uint32_t m1 = 0x01010101u, m3 = 0x03030303u;
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
    out[k >> 5] |= s << (k & 31u);
}

#endif

#endif /* SPQ_FIRE_T2_H */
