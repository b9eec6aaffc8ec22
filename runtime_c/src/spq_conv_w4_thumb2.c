/* SPDX-License-Identifier: MIT */
/* spq_w4_row_thumb2: the fused 4-bit conv kernel's row (spq_conv_w4.c) for kernel 3, 32
 * output channels and in_c <= 17, its window sums in Thumb-2 assembly (spq_w4_win3_t2):
 * the eight byte-lane words of the position live in r4-r11 through all nine taps, each
 * tap's rows are one loop of a pointer load, four LDRD and eight ADD (15 instructions a
 * row), the flush to the halfword lanes is a subroutine (UXTAB16 with the DSP extension,
 * AND / shift / ADD without), and the last chunk is flushed and unbiased in one pass (SSUB16,
 * or SUB + EOR). Same words as spq_w4_row_scalar's C (the tests run both). The nine taps
 * and the per-register steps are assembler macros, expanded in line: the machine code is
 * that of the written-out listing. */
#include "spq_conv.h"

#if SPQ_HAVE_THUMB2

/* The window of one position (offsets used by the assembly). */
typedef struct {
    const spq_w4_ref_t *refs[3]; /* 0: ring row ky from the window's first column */
    const uint8_t *counts[3];    /* 12: its counts */
    uint32_t cstride;            /* 24: bytes between the refs of two columns (4 in_c) */
    uint32_t *L;                 /* 28: out: the 16 L words as int16 lanes acc - base */
    const uint32_t *init;        /* 32: the initial L words */
} spq_w4_win_t;

/* Returns the rows of the window. */
uint32_t spq_w4_win3_t2(const spq_w4_win_t *w);

__asm__(
    ".pushsection .text.spq_w4_win3_t2,\"ax\",%progbits\n"
    ".syntax unified\n"
    ".thumb\n"
    /* one tap (ky, kx) of the window: its count of listed input rows; when the byte lanes
     * would pass 17 rows, the rows so far go to the total ([sp, #8]) and the lanes are
     * flushed; then each row: its 32 weight bytes (tap t = 3 ky + kx at byte offset
     * 32 t - 128 from the reference) added word-wise into r4-r11 */
    ".macro spq_w4_tap ky, kx\n"
    "ldr     r2, [sp, #0]\n"
    "ldr     r3, [r2, #(12 + 4 * \\ky)]\n"
    "ldrb    r3, [r3, #\\kx]\n"
    "cbz     r3, 9f\n"
    "ldr     r1, [sp, #4]\n"
    "add     r1, r1, r3\n"
    "cmp     r1, #17\n"
    "bls     1f\n"
    "subs    r1, r1, r3\n"
    "ldr     r0, [sp, #8]\n"
    "add     r0, r0, r1\n"
    "str     r0, [sp, #8]\n"
    "mov     r1, r3\n"
    "bl      .Lspq_w4_flush\n" /* keeps r3 */
    "1:\n"
    "str     r1, [sp, #4]\n"
    "ldr     r2, [sp, #0]\n"
    "ldr     r0, [r2, #(4 * \\ky)]\n"
    ".if \\kx == 1\n"
    "ldr     r1, [r2, #24]\n"
    "add     r0, r0, r1\n"
    ".elseif \\kx == 2\n"
    "ldr     r1, [r2, #24]\n"
    "add     r0, r0, r1, lsl #1\n"
    ".endif\n"
    "add     r1, r0, r3, lsl #2\n"
    "2:\n"
    "ldr     r2, [r0], #4\n"
    "ldrd    r3, r12, [r2, #(-128 + 32 * (3 * \\ky + \\kx))]\n"
    "add     r4, r4, r3\n"
    "add     r5, r5, r12\n"
    "ldrd    r3, r12, [r2, #(-120 + 32 * (3 * \\ky + \\kx))]\n"
    "add     r6, r6, r3\n"
    "add     r7, r7, r12\n"
    "ldrd    r3, r12, [r2, #(-112 + 32 * (3 * \\ky + \\kx))]\n"
    "add     r8, r8, r3\n"
    "add     r9, r9, r12\n"
    "ldrd    r3, r12, [r2, #(-104 + 32 * (3 * \\ky + \\kx))]\n"
    "add     r10, r10, r3\n"
    "add     r11, r11, r12\n"
    "cmp     r0, r1\n"
    "bne     2b\n"
    "9:\n"
    ".endm\n"
#if SPQ_HAVE_DSP
    /* the last chunk of lane word pair `off` widened into L and unbiased (r3 the bias) */
    ".macro spq_w4_unbias reg, off\n"
    "ldrd    r0, r12, [r2, #\\off]\n"
    "uxtab16 r0, r0, \\reg\n"
    "uxtab16 r12, r12, \\reg, ror #8\n"
    "ssub16  r0, r0, r3\n"
    "ssub16  r12, r12, r3\n"
    "strd    r0, r12, [r2, #\\off]\n"
    ".endm\n"
    /* a flush: the byte lanes of reg widened into L (the caller clears reg) */
    ".macro spq_w4_flush reg, off\n"
    "ldrd    r0, r12, [r2, #\\off]\n"
    "uxtab16 r0, r0, \\reg\n"
    "uxtab16 r12, r12, \\reg, ror #8\n"
    "strd    r0, r12, [r2, #\\off]\n"
    ".endm\n"
#else
    ".macro spq_w4_unbias reg, off\n"
    "ldrd    r0, r12, [r2, #\\off]\n"
    "and     lr, \\reg, #0x00FF00FF\n"
    "add     r0, r0, lr\n"
    "lsr     lr, \\reg, #8\n"
    "and     lr, lr, #0x00FF00FF\n"
    "add     r12, r12, lr\n"
    "sub     r0, r0, r3\n"
    "eor     r0, r0, #0x80008000\n"
    "sub     r12, r12, r3\n"
    "eor     r12, r12, #0x80008000\n"
    "strd    r0, r12, [r2, #\\off]\n"
    ".endm\n"
    ".macro spq_w4_flush reg, off\n"
    "ldr     r0, [r2, #\\off]\n"
    "and     r12, \\reg, #0x00FF00FF\n"
    "add     r0, r0, r12\n"
    "str     r0, [r2, #\\off]\n"
    "ldr     r0, [r2, #(\\off + 4)]\n"
    "lsr     r12, \\reg, #8\n"
    "and     r12, r12, #0x00FF00FF\n"
    "add     r0, r0, r12\n"
    "str     r0, [r2, #(\\off + 4)]\n"
    ".endm\n"
#endif
    ".p2align 2\n"
    ".global spq_w4_win3_t2\n"
    ".type spq_w4_win3_t2, %function\n"
    ".thumb_func\n"
    "spq_w4_win3_t2:\n"
    "push    {r4-r11, lr}\n"
    "sub     sp, sp, #12\n"
    "str     r0, [sp, #0]\n"
    "movs    r1, #0\n"
    "str     r1, [sp, #4]\n"
    "str     r1, [sp, #8]\n"
    "@ L = init\n"
    "ldr     r1, [r0, #32]\n"
    "ldr     r2, [r0, #28]\n"
    "ldmia   r1!, {r3-r10}\n"
    "stmia   r2!, {r3-r10}\n"
    "ldmia   r1!, {r3-r10}\n"
    "stmia   r2!, {r3-r10}\n"
    "movs    r4, #0\n"
    "movs    r5, #0\n"
    "movs    r6, #0\n"
    "movs    r7, #0\n"
    "mov     r8, r4\n"
    "mov     r9, r4\n"
    "mov     r10, r4\n"
    "mov     r11, r4\n"
    "spq_w4_tap 0, 0\n"
    "spq_w4_tap 0, 1\n"
    "spq_w4_tap 0, 2\n"
    "spq_w4_tap 1, 0\n"
    "spq_w4_tap 1, 1\n"
    "spq_w4_tap 1, 2\n"
    "spq_w4_tap 2, 0\n"
    "spq_w4_tap 2, 1\n"
    "spq_w4_tap 2, 2\n"
    "@ rows = total + cnt; L += the last chunk, unbiased\n"
    "ldr     r0, [sp, #0]\n"
    "ldr     r2, [r0, #28]\n"
    "ldr     r1, [sp, #4]\n"
    "ldr     r3, [sp, #8]\n"
    "add     r1, r1, r3\n"
#if SPQ_HAVE_DSP
    "lsl     r3, r1, #3\n"
    "add     r3, r3, #0x8000\n"
    "orr     r3, r3, r3, lsl #16\n"
#else
    "lsl     r3, r1, #3\n"
    "orr     r3, r3, r3, lsl #16\n"
#endif
    "spq_w4_unbias r4, 0\n"
    "spq_w4_unbias r5, 8\n"
    "spq_w4_unbias r6, 16\n"
    "spq_w4_unbias r7, 24\n"
    "spq_w4_unbias r8, 32\n"
    "spq_w4_unbias r9, 40\n"
    "spq_w4_unbias r10, 48\n"
    "spq_w4_unbias r11, 56\n"
    "mov     r0, r1\n"
    "add     sp, sp, #12\n"
    "pop     {r4-r11, pc}\n"
    ".Lspq_w4_flush:\n"
    "ldr     r2, [sp, #0]\n"
    "ldr     r2, [r2, #28]\n"
    "spq_w4_flush r4, 0\n"
    "movs    r4, #0\n"
    "spq_w4_flush r5, 8\n"
    "movs    r5, #0\n"
    "spq_w4_flush r6, 16\n"
    "movs    r6, #0\n"
    "spq_w4_flush r7, 24\n"
    "movs    r7, #0\n"
    "spq_w4_flush r8, 32\n"
    "mov     r8, r4\n" /* r4 is 0: a 16-bit MOV */
    "spq_w4_flush r9, 40\n"
    "mov     r9, r4\n"
    "spq_w4_flush r10, 48\n"
    "mov     r10, r4\n"
    "spq_w4_flush r11, 56\n"
    "mov     r11, r4\n"
    "bx      lr\n"
    ".size spq_w4_win3_t2, .-spq_w4_win3_t2\n"
    ".purgem spq_w4_tap\n"
    ".purgem spq_w4_unbias\n"
    ".purgem spq_w4_flush\n"
    ".popsection\n");

int spq_w4_row_thumb2_ok(const spq_layer_t *l)
{
    return l->kernel == 3u && l->out_c == 32u && l->in_c <= 17u &&
           sizeof(spq_w4_ref_t) == sizeof(const uint8_t *);
}

uint32_t spq_w4_row_thumb2(const spq_w4_row_t *r)
{
    const spq_layer_t *l = r->l;
    uint32_t L[16], rows = 0, ox, pos = r->pos, words = 32u * l->level_bits / 32u;
    uint32_t C = r->in_c, s = l->stride, ky;
    spq_w4_win_t w;
    for (ky = 0; ky < 3u; ky++) {
        w.refs[ky] = r->refs[ky];
        w.counts[ky] = r->counts[ky];
    }
    w.cstride = 4u * C;
    w.L = L;
    w.init = r->init;
    for (ox = 0; ox < l->out_w; ox++, pos++) {
        rows += spq_w4_win3_t2(&w);
        for (ky = 0; ky < 3u; ky++) {
            w.refs[ky] += s * C;
            w.counts[ky] += s;
        }
        if (r->fire != NULL) {
            r->fire(L, l->outcome, r->mem + pos * words, r->out, pos * 32u, 32u);
        } else {
            spq_w4_natural(L, r->acc, 16u);
            spq_neuron_pos(l, r->acc, 16u, r->mem, pos, r->out);
        }
    }
    return rows;
}

#else
typedef int spq_conv_w4_thumb2_unused; /* ISO C: a translation unit is not empty */
#endif
