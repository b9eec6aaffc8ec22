/* SPDX-License-Identifier: MIT */
/* spq_fire*_thumb2: the fire functions of spq_fire.c for 2-bit membranes in Thumb-2
 * (Armv7-M / Armv8-M Mainline), where the C versions compile to 8-11 instructions per
 * neuron; the templates are in spq_fire_t2.h. Identical to the C functions (the tests run
 * both). */
#include "spq_fire_t2.h"

#if SPQ_HAVE_THUMB2

/* npos positions of C channels (a multiple of 16), as spq_fire_impl with b = 2; kind 16:
 * int16 lanes acc - base, clamped here (USAT16 a word, or USAT a lane). */
SPQ_TEMPLATE void spq_t2_fire(const uint32_t *x, const uint8_t *t0, uint32_t *mem,
                              uint32_t *out, uint32_t k, uint32_t C, uint32_t npos, uint32_t n,
                              uint32_t kind)
{
    uint32_t xstep = kind == 8u ? 4u : 8u, i, g;
    for (i = 0; i < npos; i++) {
        const uint8_t *t = t0;
        for (g = 0; g < C; g += 16u, k += 16u, mem++, x += xstep, t += (size_t)16u << (n + 2u)) {
            spq_t2_block(x, mem, t, out, k, n, kind);
        }
    }
}

void spq_fire8_thumb2(const uint32_t *x, const uint8_t *t, uint32_t *mem, uint32_t *out,
                      uint32_t k, uint32_t C, uint32_t npos)
{
    spq_t2_fire(x, t, mem, out, k, C, npos, 8u, 8u);
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
    /* spq-export's outcome windows are 2^7 or 2^8 (tables.OUTCOME_MIN_BITS); others take the
     * reference update */
    return n == 7u ? spq_fire16_t2_n7 : (n == 8u ? spq_fire16_t2_n8 : NULL);
}

#else
typedef int spq_fire_thumb2_unused; /* ISO C: a translation unit is not empty */
#endif
