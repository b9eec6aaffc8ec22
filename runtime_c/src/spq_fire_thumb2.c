/* SPDX-License-Identifier: MIT */
/* spq_fire8_thumb2_*: the byte-lane fire functions of spq_fire.c (2-bit membranes, table rows
 * of 2^n bytes, n = 8 for the window-row kernel's full-range tables, n = 5 for a static
 * layer's rank tables) written in Thumb-2 for Armv7-M / Armv8-M Mainline, where the C
 * version compiles to about 11 instructions per neuron.
 *
 * Per group of 4 channels: each channel's table address is the group's table plus its lane
 * byte (UXTAB with the DSP extension, UBFX + ADD without) plus its membrane code shifted to
 * 2^n, the channel's row an immediate offset of the load; the 4 outcome bytes are ORed into
 * one word, and the 4 new codes (bits 0-1) and spikes (bit 7) packed with one multiply
 * each. 7.25 instructions per neuron with the DSP extension, 8.25 without. Identical to the
 * C functions (tests force both). */
#include "spq_fire.h"

#if SPQ_HAVE_THUMB2

/* The lane byte of channel k plus the table base t, into register a. */
#if SPQ_HAVE_DSP
#define SPQ_T2_LANE0 "uxtab   %[a], %[t], %[x]\n\t"
#define SPQ_T2_LANE(k) "uxtab   %[a], %[t], %[x], ror #" #k "\n\t"
#else
#define SPQ_T2_LANE0 "uxtb    %[a], %[x]\n\tadd     %[a], %[a], %[t]\n\t"
#define SPQ_T2_LANE(k) "ubfx    %[a], %[x], #" #k ", #8\n\tadd     %[a], %[a], %[t]\n\t"
#endif

/* Outcome bytes of the 4 channels of lane word x, their codes in bits 0-7 of mw, t the
 * table of the first (rows of 256 bytes, channels 1024 apart). */
SPQ_INLINE uint32_t spq_t2_out4_n8(uint32_t x, uint32_t mw, const uint8_t *t)
{
    uint32_t o, a, b;
    __asm__("and     %[b], %[mw], #3\n\t" SPQ_T2_LANE0
            "add     %[a], %[a], %[b], lsl #8\n\t"
            "ldrb    %[o], [%[a]]\n\t"
            "and     %[b], %[mw], #12\n\t" SPQ_T2_LANE(8)
            "add     %[a], %[a], %[b], lsl #6\n\t"
            "ldrb    %[a], [%[a], #1024]\n\t"
            "orr     %[o], %[o], %[a], lsl #8\n\t"
            "and     %[b], %[mw], #48\n\t" SPQ_T2_LANE(16)
            "add     %[a], %[a], %[b], lsl #4\n\t"
            "ldrb    %[a], [%[a], #2048]\n\t"
            "orr     %[o], %[o], %[a], lsl #16\n\t"
            "and     %[b], %[mw], #192\n\t" SPQ_T2_LANE(24)
            "add     %[a], %[a], %[b], lsl #2\n\t"
            "ldrb    %[a], [%[a], #3072]\n\t"
            "orr     %[o], %[o], %[a], lsl #24\n\t"
            : [o] "=&r"(o), [a] "=&r"(a), [b] "=&r"(b)
            : [x] "r"(x), [mw] "r"(mw), [t] "r"(t)
            : "memory");
    return o;
}

/* The same with rows of 32 bytes (channels 128 apart). */
SPQ_INLINE uint32_t spq_t2_out4_n5(uint32_t x, uint32_t mw, const uint8_t *t)
{
    uint32_t o, a, b;
    __asm__("and     %[b], %[mw], #3\n\t" SPQ_T2_LANE0
            "add     %[a], %[a], %[b], lsl #5\n\t"
            "ldrb    %[o], [%[a]]\n\t"
            "and     %[b], %[mw], #12\n\t" SPQ_T2_LANE(8)
            "add     %[a], %[a], %[b], lsl #3\n\t"
            "ldrb    %[a], [%[a], #128]\n\t"
            "orr     %[o], %[o], %[a], lsl #8\n\t"
            "and     %[b], %[mw], #48\n\t" SPQ_T2_LANE(16)
            "add     %[a], %[a], %[b], lsl #1\n\t"
            "ldrb    %[a], [%[a], #256]\n\t"
            "orr     %[o], %[o], %[a], lsl #16\n\t"
            "and     %[b], %[mw], #192\n\t" SPQ_T2_LANE(24)
            "add     %[a], %[a], %[b], lsr #1\n\t"
            "ldrb    %[a], [%[a], #384]\n\t"
            "orr     %[o], %[o], %[a], lsl #24\n\t"
            : [o] "=&r"(o), [a] "=&r"(a), [b] "=&r"(b)
            : [x] "r"(x), [mw] "r"(mw), [t] "r"(t)
            : "memory");
    return o;
}

/* Codes (bits 0-1 of each byte) packed into 8 bits, spikes (bit 7) into 4: one multiply
 * each (the multiplier in a register so that the compiler keeps the MUL). */
SPQ_INLINE uint32_t spq_t2_pack(uint32_t o, uint32_t k1, uint32_t k2, uint32_t *spk)
{
    uint32_t c, s;
    __asm__("and     %[c], %[o], #0x03030303\n\t"
            "mul     %[c], %[c], %[k1]\n\t"
            "lsr     %[s], %[o], #7\n\t"
            "and     %[s], %[s], #0x01010101\n\t"
            "mul     %[s], %[s], %[k2]\n\t"
            "lsr     %[c], %[c], #24\n\t"
            "lsr     %[s], %[s], #24\n\t"
            : [c] "=&r"(c), [s] "=&r"(s)
            : [o] "r"(o), [k1] "r"(k1), [k2] "r"(k2));
    *spk = s;
    return c;
}

/* One group of 4 channels: their new codes ORed into *nw at bits 8q.., spikes into *s. */
SPQ_INLINE void spq_t2_group(uint32_t x, uint32_t mw, const uint8_t *t, uint32_t q, uint32_t n,
                             uint32_t *nw, uint32_t *s)
{
    uint32_t spk, o = n == 8u ? spq_t2_out4_n8(x, mw >> (8u * q), t)
                              : spq_t2_out4_n5(x, mw >> (8u * q), t);
    *nw |= spq_t2_pack(o, 0x01041040u, 0x01020408u, &spk) << (8u * q);
    *s |= spk << (4u * q);
}

/* 16 channels (one membrane word) per iteration, npos positions; n = 8 or 5. */
SPQ_TEMPLATE void spq_t2_fire(const uint32_t *x, const uint8_t *t0, uint32_t *mem,
                              uint32_t *out, uint32_t k, uint32_t C, uint32_t npos, uint32_t n)
{
    uint32_t group = 4u << (n + 2u), g, i; /* table bytes of 4 channels */
    for (i = 0; i < npos; i++) {
        const uint8_t *t = t0;
        for (g = 0; g < C; g += 16u, x += 4, k += 16u, mem++, t += 4u * group) {
            uint32_t mw = *mem, nw = 0, s = 0;
            spq_t2_group(x[0], mw, t, 0u, n, &nw, &s);
            spq_t2_group(x[1], mw, t + group, 1u, n, &nw, &s);
            spq_t2_group(x[2], mw, t + 2u * group, 2u, n, &nw, &s);
            spq_t2_group(x[3], mw, t + 3u * group, 3u, n, &nw, &s);
            *mem = nw;
            out[k >> 5] |= s << (k & 31u);
        }
    }
}

void spq_fire8_thumb2(const uint32_t *x, const uint8_t *t, uint32_t *mem, uint32_t *out,
                      uint32_t k, uint32_t C, uint32_t npos)
{
    spq_t2_fire(x, t, mem, out, k, C, npos, 8u);
}

void spq_fire5_thumb2(const uint32_t *x, const uint8_t *t, uint32_t *mem, uint32_t *out,
                      uint32_t k, uint32_t C, uint32_t npos)
{
    spq_t2_fire(x, t, mem, out, k, C, npos, 5u);
}

#else
typedef int spq_fire_thumb2_unused; /* ISO C: a translation unit is not empty */
#endif
