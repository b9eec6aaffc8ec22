/* SPDX-License-Identifier: MIT */
/**
 * @file spq_thumb2.h
 * @brief Thumb-2 inline-assembly inner loops of the fused kernels (SPQ_HAVE_THUMB2: Armv7-M,
 * Armv8-M Mainline), where the C loops they replace compile to more instructions. Each has
 * the C loop it replaces beside it in the kernel's file; the tests run both.
 */
#ifndef SPQ_THUMB2_H
#define SPQ_THUMB2_H

#include "spq_bits.h"

#if SPQ_HAVE_THUMB2
/**
 * Eight byte-lane sums a[0..7] plus the 8 words at byte offset off (a multiple of 4 in
 * -1020 .. 992) from each of the n >= 1 row pointers at src: per row one pointer load, four
 * LDRD and eight ADD (15 instructions with the loop; the C loop takes 19, one LDR a word).
 */
SPQ_TEMPLATE void spq_t2_rows8(uint32_t *a, const uint8_t *const *src, uint32_t n, int32_t off)
{
    const uint8_t *const *end = src + n;
    const uint8_t *p;
    uint32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5], a6 = a[6];
    uint32_t a7 = a[7], t0, t1;
    __asm__("1:\n\t"
            "ldr     %[p], [%[s]], #4\n\t"
            "ldrd    %[t0], %[t1], [%[p], %[o0]]\n\t"
            "add     %[a0], %[a0], %[t0]\n\t"
            "add     %[a1], %[a1], %[t1]\n\t"
            "ldrd    %[t0], %[t1], [%[p], %[o1]]\n\t"
            "add     %[a2], %[a2], %[t0]\n\t"
            "add     %[a3], %[a3], %[t1]\n\t"
            "ldrd    %[t0], %[t1], [%[p], %[o2]]\n\t"
            "add     %[a4], %[a4], %[t0]\n\t"
            "add     %[a5], %[a5], %[t1]\n\t"
            "ldrd    %[t0], %[t1], [%[p], %[o3]]\n\t"
            "add     %[a6], %[a6], %[t0]\n\t"
            "add     %[a7], %[a7], %[t1]\n\t"
            "cmp     %[s], %[e]\n\t"
            "bne     1b"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [a4] "+r"(a4),
              [a5] "+r"(a5), [a6] "+r"(a6), [a7] "+r"(a7), [s] "+r"(src), [p] "=&r"(p),
              [t0] "=&r"(t0), [t1] "=&r"(t1)
            : [e] "r"(end), [o0] "i"(off), [o1] "i"(off + 8), [o2] "i"(off + 16),
              [o3] "i"(off + 24)
            : "cc", "memory");
    a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3, a[4] = a4, a[5] = a5, a[6] = a6, a[7] = a7;
}
#endif

#endif /* SPQ_THUMB2_H */
