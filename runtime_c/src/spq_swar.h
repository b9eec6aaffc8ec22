/* SPDX-License-Identifier: MIT */
/**
 * @file spq_swar.h
 * @brief Two 16-bit lanes in a word (SIMD within a register): the halfword-lane steps of the
 * fused kernels, one DSP instruction each where the core has the DSP extension
 * (SPQ_HAVE_DSP), plain C otherwise; both give the same words.
 */
#ifndef SPQ_SWAR_H
#define SPQ_SWAR_H

#include "spq_bits.h"

/** Bytes 0 and 2 of b added to the two halfword lanes of a (mod 2^16 each; the callers keep
 *  every lane in 0 .. 65535, so that no carry crosses): UXTAB16. */
SPQ_INLINE uint32_t spq_add_b02(uint32_t a, uint32_t b)
{
#if SPQ_HAVE_DSP && defined(__GNUC__)
    uint32_t r;
    __asm__("uxtab16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return a + (b & 0x00FF00FFu);
#endif
}

/** Bytes 1 and 3 of b added to the halfword lanes of a: UXTAB16 with ROR #8. */
SPQ_INLINE uint32_t spq_add_b13(uint32_t a, uint32_t b)
{
#if SPQ_HAVE_DSP && defined(__GNUC__)
    uint32_t r;
    __asm__("uxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return a + ((b >> 8) & 0x00FF00FFu);
#endif
}

/** Each halfword lane (as int16) clamped to 0 .. 2^n - 1, n = 5 .. 8 a constant: USAT16. */
SPQ_TEMPLATE uint32_t spq_usat16(uint32_t x, uint32_t n)
{
#if SPQ_HAVE_DSP && defined(__GNUC__) && defined(__OPTIMIZE__)
    uint32_t r;
    __asm__("usat16 %0, %1, %2" : "=r"(r) : "i"(n), "r"(x));
    return r;
#else
    int32_t max = (int32_t)((1u << n) - 1u);
    int32_t lo = spq_sext16(x), hi = spq_sext16(x >> 16);
    lo = lo < 0 ? 0 : (lo > max ? max : lo);
    hi = hi < 0 ? 0 : (hi > max ? max : hi);
    return (uint32_t)lo | ((uint32_t)hi << 16);
#endif
}

/** The same with max (< 32768) known only at run time: USAT16 to 0 .. 32767, then
 *  min(x, max) as x + (65535 - max) saturated (UQADD16) minus 65535 - max. */
SPQ_INLINE uint32_t spq_clamp16(uint32_t x, uint32_t max)
{
#if SPQ_HAVE_DSP && defined(__GNUC__)
    uint32_t r, k = (0xFFFFu - max) * 0x10001u;
    __asm__("usat16  %0, #15, %1\n\t"
            "uqadd16 %0, %0, %2\n\t"
            "usub16  %0, %0, %2"
            : "=&r"(r)
            : "r"(x), "r"(k));
    return r;
#else
    int32_t m = (int32_t)max, lo = spq_sext16(x), hi = spq_sext16(x >> 16);
    lo = lo < 0 ? 0 : (lo > m ? m : lo);
    hi = hi < 0 ? 0 : (hi > m ? m : hi);
    return (uint32_t)lo | ((uint32_t)hi << 16);
#endif
}

/** The halfword lanes of a kernel's biased sums (each lane v + 8 rows + 32768, v an int16,
 *  spq_conv_w4.c) as the int16 v: one SSUB16 (lane-wise mod 2^16), else a subtraction that
 *  never borrows across (each lane >= 8 rows) and an XOR. */
SPQ_INLINE uint32_t spq_unbias16(uint32_t x, uint32_t rows)
{
#if SPQ_HAVE_DSP && defined(__GNUC__)
    uint32_t r;
    __asm__("ssub16 %0, %1, %2" : "=r"(r) : "r"(x), "r"((8u * rows + 0x8000u) * 0x10001u));
    return r;
#else
    return (x - 8u * rows * 0x10001u) ^ 0x80008000u;
#endif
}

#endif /* SPQ_SWAR_H */
