/* SPDX-License-Identifier: MIT */
/* spq_w4_row_mve: the fused 4-bit conv kernel's per-row work (spq_conv_w4.c) with Helium
 * vectors, for out_c a multiple of 32, 2-bit membranes and an outcome table.
 *
 * A weight row of 32 output channels is 32 offset-binary bytes (weights_x): two vector
 * loads (word loads, for their wider immediate range). For each output position the rows
 * of the set inputs of its window are summed in u8 lanes, at most SPQ_W4_CHUNK rows at a
 * time (17 * 15 = 255), then widened into four u16 vectors: the even (VMOVLB) and odd
 * (VMOVLT) channels of each 16. They start from -outcome_base and lose 8 per row, so they
 * end as acc - base (lanes mod 2^16, read as int16).
 *
 * The neurons of the position: each vector is clamped to the table window, the membrane
 * code of each channel added at 2^n (the membrane halfwords gathered to the lanes and
 * shifted), the channel's table offset added, and the outcome bytes fetched by one gather
 * load per 8 channels; the new codes and the spikes are packed back by dot products
 * against powers of 16 and of 4 (VMLADAV). Layers of kernel 3, stride 1, 16 input and 32
 * output channels take the whole-step kernel further down (spq_conv_w4_k3_mve) instead. */
#include "spq_conv.h"

#if SPQ_HAVE_MVE
#include <arm_mve.h>

#define SPQ_W4_CHUNK 17u

int spq_w4_row_mve_ok(const spq_layer_t *l)
{
    uint32_t n = l->outcome_bits, c;
    uint64_t bound = spq_acc_bound(l);
    if (l->out_c % 32u != 0u || l->level_bits != 2u || l->outcome == NULL || n < 7u ||
        n > 8u || bound > 32767u || l->in_c > SPQ_W4_CHUNK) {
        return 0;
    }
    for (c = 0; c < l->out_c; c++) { /* acc - base must be an int16 */
        int64_t base = l->outcome_base[c];
        if ((base < 0 ? -base : base) + (int64_t)bound > 32767) {
            return 0;
        }
    }
    return 1;
}

/* Outcome bytes of one vector of 8 channels c0 + 2i (i = lane): d = acc - base, M the
 * membrane halfwords of the lanes (lanes 0-3: channels c0 .. c0 + 7, 4-7: the next 8),
 * vsh their code shifts (negative), vchan the channel offsets (c0 + 2i) << (n + 2) from t. */
SPQ_INLINE uint16x8_t spq_w4_out8(int16x8_t d, uint16x8_t M, int16x8_t vsh, const uint8_t *t,
                                  uint16x8_t vchan, uint32_t n)
{
    /* clamp to 0 .. 2^n - 1: saturate max(d, 0) << (16 - n) to 16 bits and shift back */
    uint16x8_t col = vshrq_n_u16(vqshluq_n_s16(d, 16 - n), 16 - n);
    uint16x8_t code = vandq_u16(vshlq_u16(M, vsh), vdupq_n_u16(3u));
    uint16x8_t idx = vaddq_u16(vmlaq_n_u16(col, code, (uint16_t)(1u << n)), vchan);
    return vldrbq_gather_offset_u16(t, idx);
}

/* Neurons of 32 channels: v0 / v1 the even / odd channels 0-15, v2 / v3 16-31; mem their
 * two membrane words; returns their spike word. */
SPQ_TEMPLATE uint32_t spq_w4_fire_mve(int16x8_t v0, int16x8_t v1, int16x8_t v2, int16x8_t v3,
                                      const uint8_t *t, uint32_t *mem, uint32_t n)
{
    static const uint16_t lane[8] = {0, 2, 4, 6, 8, 10, 12, 14};
    static const uint16_t half0[8] = {0, 0, 0, 0, 1, 1, 1, 1};
    static const int16_t sh[8] = {0, -4, -8, -12, 0, -4, -8, -12};
    static const uint16_t w16[8] = {1, 16, 256, 4096, 1, 16, 256, 4096};
    static const uint16_t w4[8] = {1, 4, 16, 64, 256, 1024, 4096, 16384};
    const uint16x8_t vlane = vld1q_u16(lane), vh = vld1q_u16(half0), vw16 = vld1q_u16(w16);
    const uint16x8_t vw4 = vld1q_u16(w4), m3 = vdupq_n_u16(3u);
    const int16x8_t vsh0 = vld1q_s16(sh), vsh1 = vsubq_s16(vsh0, vdupq_n_s16(2));
    const uint16_t *mh = (const uint16_t *)(const void *)mem;
    /* each lane's membrane halfword: channels 2i, 2i + 1 are in halfword i / 4 */
    uint16x8_t M0 = vldrhq_gather_shifted_offset_u16(mh, vh);
    uint16x8_t M1 = vldrhq_gather_shifted_offset_u16(mh, vaddq_n_u16(vh, 2u));
    uint16x8_t c0 = vshlq_n_u16(vlane, n + 2u), c1 = vaddq_n_u16(c0, (uint16_t)(4u << n));
    uint16x8_t c2 = vaddq_n_u16(c0, (uint16_t)(64u << n)), c3 = vaddq_n_u16(c2, (uint16_t)(4u << n));
    uint16x8_t o0 = spq_w4_out8(v0, M0, vsh0, t, c0, n), o1 = spq_w4_out8(v1, M0, vsh1, t, c1, n);
    uint16x8_t o2 = spq_w4_out8(v2, M1, vsh0, t, c2, n), o3 = spq_w4_out8(v3, M1, vsh1, t, c3, n);
    /* new codes: nibble i of a membrane word holds channels 2i, 2i + 1 */
    uint16x8_t e01 = vmlaq_n_u16(vandq_u16(o0, m3), vandq_u16(o1, m3), 4u);
    uint16x8_t e23 = vmlaq_n_u16(vandq_u16(o2, m3), vandq_u16(o3, m3), 4u);
    /* gcc 12 miscompiles a constant 0x00FF predicate for 16-bit lanes: VCTP makes it */
    mve_pred16_t lo = vctp16q(4u), hi = vpnot(lo);
    uint32_t s01, s23;
    mem[0] = vmladavq_p_u16(e01, vw16, lo) | (vmladavq_p_u16(e01, vw16, hi) << 16);
    mem[1] = vmladavq_p_u16(e23, vw16, lo) | (vmladavq_p_u16(e23, vw16, hi) << 16);
    /* spikes: bits 2i, 2i + 1 of each 16 */
    s01 = vmladavq_u16(vmlaq_n_u16(vshrq_n_u16(o0, 7), vshrq_n_u16(o1, 7), 2u), vw4);
    s23 = vmladavq_u16(vmlaq_n_u16(vshrq_n_u16(o2, 7), vshrq_n_u16(o3, 7), 2u), vw4);
    return s01 | (s23 << 16);
}

/* The running sums of one output position: u8 lanes A0 (channels 0-15), A1 (16-31) of the
 * current chunk, and the four u16 vectors (acc - base, before the -8 per row). */
typedef struct {
    uint8x16_t A0, A1;
    uint16x8_t v0, v1, v2, v3;
    uint32_t cnt, total;
} spq_w4_sums_t;

SPQ_INLINE void spq_w4_flush_mve(spq_w4_sums_t *z)
{
    z->v0 = vaddq_u16(z->v0, vmovlbq_u8(z->A0));
    z->v1 = vaddq_u16(z->v1, vmovltq_u8(z->A0));
    z->v2 = vaddq_u16(z->v2, vmovlbq_u8(z->A1));
    z->v3 = vaddq_u16(z->v3, vmovltq_u8(z->A1));
    z->A0 = vdupq_n_u8(0);
    z->A1 = vdupq_n_u8(0);
    z->total += z->cnt;
    z->cnt = 0;
}

/* Add n (<= SPQ_W4_CHUNK) listed rows at src (each plus byte offset off) into the sums. */
SPQ_INLINE void spq_w4_rows_mve(spq_w4_sums_t *z, const spq_w4_ref_t *src, uint32_t n,
                                const uint8_t *wxb, int32_t off)
{
    uint8x16_t A0 = z->A0, A1 = z->A1;
    uint32_t i;
    for (i = 0; i < n; i++) {
        const uint32_t *p = (const uint32_t *)(const void *)(SPQ_W4_ROW(wxb, src[i]) + off);
        A0 = vaddq_u8(A0, vreinterpretq_u8_u32(vld1q_u32(p)));
        A1 = vaddq_u8(A1, vreinterpretq_u8_u32(vld1q_u32(p + 4)));
    }
    z->A0 = A0;
    z->A1 = A1;
    z->cnt += n;
}

/* Add the n listed rows at src (each plus byte offset off) into the sums, flushing the u8
 * chunk into the u16 sums first when it would pass SPQ_W4_CHUNK rows. The kernel takes
 * layers with in_c <= SPQ_W4_CHUNK, so n fits one chunk. */
SPQ_INLINE void spq_w4_sub_mve(spq_w4_sums_t *z, const spq_w4_ref_t *src, uint32_t n,
                               const uint8_t *wxb, int32_t off)
{
    if (z->cnt + n > SPQ_W4_CHUNK) {
        spq_w4_flush_mve(z);
    }
    spq_w4_rows_mve(z, src, n, wxb, off);
}

/* The window sums of output column x0 (ring column of tap 0) for channels 32 g .., then the
 * neurons of the position; returns the rows summed. */
SPQ_TEMPLATE uint32_t spq_w4_pos_mve(const spq_w4_row_t *r, uint32_t x0, const int16_t *init,
                                     uint32_t g, uint32_t pos, uint32_t n)
{
    const spq_layer_t *l = r->l;
    uint32_t C = l->in_c, k = l->kernel, oc = l->out_c, ky, kx;
    const uint8_t *wxb = (const uint8_t *)l->weights_x;
    spq_w4_sums_t z;
    uint16x8_t bias;
    z.A0 = vdupq_n_u8(0);
    z.A1 = vdupq_n_u8(0);
    z.v0 = vld1q_u16((const uint16_t *)init);
    z.v1 = vld1q_u16((const uint16_t *)init + 8);
    z.v2 = vld1q_u16((const uint16_t *)init + 16);
    z.v3 = vld1q_u16((const uint16_t *)init + 24);
    z.cnt = 0;
    z.total = 0;
    if (k == 3u && oc == 32u) { /* tap offsets (3 ky + kx) 32 - 128 are load immediates */
        const spq_w4_ref_t *s0 = r->refs[0] + (size_t)x0 * C, *s1 = r->refs[1] + (size_t)x0 * C;
        const spq_w4_ref_t *s2 = r->refs[2] + (size_t)x0 * C;
        const uint8_t *c0 = r->counts[0] + x0, *c1 = r->counts[1] + x0, *c2 = r->counts[2] + x0;
        spq_w4_sub_mve(&z, s0, c0[0], wxb, -128);
        spq_w4_sub_mve(&z, s0 + C, c0[1], wxb, -96);
        spq_w4_sub_mve(&z, s0 + 2u * C, c0[2], wxb, -64);
        spq_w4_sub_mve(&z, s1, c1[0], wxb, -32);
        spq_w4_sub_mve(&z, s1 + C, c1[1], wxb, 0);
        spq_w4_sub_mve(&z, s1 + 2u * C, c1[2], wxb, 32);
        spq_w4_sub_mve(&z, s2, c2[0], wxb, 64);
        spq_w4_sub_mve(&z, s2 + C, c2[1], wxb, 96);
        spq_w4_sub_mve(&z, s2 + 2u * C, c2[2], wxb, 128);
    } else {
        for (ky = 0; ky < k; ky++) {
            const spq_w4_ref_t *src = r->refs[ky] + (size_t)x0 * C;
            const uint8_t *cnts = r->counts[ky] + x0;
            for (kx = 0; kx < k; kx++, src += C) {
                spq_w4_sub_mve(&z, src, cnts[kx], wxb,
                               (int32_t)((ky * k + kx) * oc + 32u * g) -
                                   (int32_t)SPQ_W4_REF_BIAS);
            }
        }
    }
    spq_w4_flush_mve(&z);
    bias = vdupq_n_u16((uint16_t)(8u * z.total)); /* the bytes are w + 8 */
    r->out[pos * (oc / 32u) + g] = spq_w4_fire_mve(
        vreinterpretq_s16_u16(vsubq_u16(z.v0, bias)), vreinterpretq_s16_u16(vsubq_u16(z.v1, bias)),
        vreinterpretq_s16_u16(vsubq_u16(z.v2, bias)), vreinterpretq_s16_u16(vsubq_u16(z.v3, bias)),
        l->outcome + ((size_t)32u * g << (n + 2u)), r->mem + pos * (oc / 16u) + 2u * g, n);
    return z.total;
}

SPQ_TEMPLATE uint32_t spq_w4_row_mve_n(const spq_w4_row_t *r, uint32_t n)
{
    const spq_layer_t *l = r->l;
    int16_t init[SPQ_W4_MAX_OC];
    uint32_t oc = l->out_c, groups = oc / 32u, rows = 0, ox, g, j, pos = r->pos;
    for (g = 0; g < groups; g++) { /* -base in the order of the four vectors */
        for (j = 0; j < 8u; j++) {
            const int32_t *b = l->outcome_base + 32u * g;
            init[32u * g + j] = (int16_t)-b[2u * j];
            init[32u * g + 8u + j] = (int16_t)-b[2u * j + 1u];
            init[32u * g + 16u + j] = (int16_t)-b[16u + 2u * j];
            init[32u * g + 24u + j] = (int16_t)-b[17u + 2u * j];
        }
    }
    for (ox = 0; ox < l->out_w; ox++, pos++) {
        uint32_t x0 = ox * l->stride;
        rows += spq_w4_pos_mve(r, x0, init, 0u, pos, n);
        for (g = 1; g < groups; g++) {
            spq_w4_pos_mve(r, x0, init + 32u * g, g, pos, n);
        }
    }
    return rows;
}

static uint32_t spq_w4_row_mve7(const spq_w4_row_t *r)
{
    return spq_w4_row_mve_n(r, 7u);
}

static uint32_t spq_w4_row_mve8(const spq_w4_row_t *r)
{
    return spq_w4_row_mve_n(r, 8u);
}

/* ---- kernel 3, stride 1, 16 input and 32 output channels: the whole step ---------------- */
/* spq_conv_w4_k3_mve: the same sums and outcomes as spq_conv_w4 + the rows above, laid out
 * for Helium and written in assembly where the compiler's code cost twice as much.
 *
 *  - Listing (spq_w4_k3_list): each new input row once, into the ring of spq_conv_w4 (16
 *    reference slots of 4 bytes per ring column, at most 4 used, a count byte per column),
 *    by groups of 4 input channels: for each group with a set channel one reference to the
 *    row of its nibble sums (weights_x after the weights, docs/formats.md: the sum of the
 *    group's set channels' rows: on bench_events 11.0 K group rows per inference instead
 *    of 17.9 K channel rows); the count byte is groups | channels << 3.
 *  - Rows (spq_w4_k3_row7 / 8, one output row a call): per position and tap (ky, kx) the count
 *    byte picks by TBB an entry of a chain of reference-pair loads (LDRD) and row adds with
 *    the tap's byte offset as load immediate: two 16-byte loads and two u8 adds per listed
 *    row; odd counts add refs 1, 2 first, then ref 0. The room in the byte lanes counts
 *    channels (count >> 3): they hold at most 17 channel rows (17 * 15 = 255), a tap that
 *    would pass that flushes them first (the position's first tap always fits) into four
 *    u16 vectors, started from -base per position: the odd channels of 0-15 / 16-31 by
 *    VSHR #8 of the halfwords and VADD, the even ones as whole halfwords (even + 256 odd,
 *    one VADD), the odd part taken out once at the end (VMLA by -256). The window's rows
 *    come from the flushes: the -8 per row of the offset-binary bytes is one VSUB per
 *    vector.
 *  - Fire (inline in the row, outcome_bits n): per vector of 8 channels the table index
 *    c << (n + 2) | code << n | column in one VSHL / VSLI / VSRI chain (VQSHLU clamps the
 *    column), one byte gather (VLDRB.U16); spikes (bit 7) by VSHRNB / VSHRNT to 0 / 1 bytes,
 *    VCMP into VPR and a VADDVA count (in one word with the rows: out_w <= 255), new codes
 *    back by three VSLI and a narrowing store. The kernel keeps a position's
 *    32 codes in its own order within the position's 8 membrane bytes (docs/formats.md):
 *    byte i holds channels 2i, 2i + 1, 16 + 2i, 17 + 2i at bits 0, 2, 4, 6, so that one
 *    VLDRB.U16 gives every lane its four codes.
 * Stack: the 108-byte state below (with -base), 4 bytes in the listing; no other scratch
 * than the ring. */

/* The state of the assembly row (offsets used by it). */
typedef struct {
    const spq_w4_ref_t *refs[3]; /* 0: ring row ky from the row's first window column */
    const uint8_t *counts[3];    /* 12: its counts */
    const uint8_t *t;            /* 24: the outcome table */
    uint8_t *mem;                /* 28: the membrane bytes of the next position */
    uint32_t *out;               /* 32: its spike word */
    uint32_t npos;               /* 36: positions in the row (then its end in counts[0]) */
    uint32_t count;              /* 40: rows summed << 16 + spikes written */
    union { /* 44: -base_even - 256 base_odd, -base_odd of channels 0-15, then of 16-31 */
        uint32_t w[16];          /* (words: VLDRW) */
        int16_t h[32];
    } init;
} spq_w4_k3_t;

void spq_w4_k3_row7(spq_w4_k3_t *s);
void spq_w4_k3_row8(spq_w4_k3_t *s);
void spq_w4_k3_list(const uint16_t *masks, uint32_t W, const uint8_t *ref0, spq_w4_ref_t *refs,
                    uint8_t *counts);

__asm__(
    ".syntax unified\n"
    ".thumb\n"
    /* one listed row (reference at [R, #off]) at byte offset T from it */
    ".macro spq_k3_row1 R, off, T\n"
    "ldr     r12, [\\R, #\\off]\n"
    "vldrw.u32 q2, [r12, #\\T]\n"
    "vadd.i8 q0, q0, q2\n"
    "vldrw.u32 q2, [r12, #(\\T + 16)]\n"
    "vadd.i8 q1, q1, q2\n"
    ".endm\n"
    /* the byte lanes q0 / q1 into the u16 sums: q5 / q7 the odd bytes (the odd channels),
     * q4 / q6 the halfwords (even + 256 odd: spq_k3_even takes the odd ones out) */
    ".macro spq_k3_widen\n"
    "vadd.i16 q4, q4, q0\n"
    "vshr.u16 q2, q0, #8\n"
    "vadd.i16 q5, q5, q2\n"
    "vadd.i16 q6, q6, q1\n"
    "vshr.u16 q2, q1, #8\n"
    "vadd.i16 q7, q7, q2\n"
    ".endm\n"
    /* two listed rows (references at [R, #off] and [R, #off + 4]) */
    ".macro spq_k3_row2 R, off, T\n"
    "ldrd    r8, r12, [\\R, #\\off]\n"
    "vldrw.u32 q2, [r8, #\\T]\n"
    "vadd.i8 q0, q0, q2\n"
    "vldrw.u32 q2, [r8, #(\\T + 16)]\n"
    "vadd.i8 q1, q1, q2\n"
    "vldrw.u32 q2, [r12, #\\T]\n"
    "vadd.i8 q0, q0, q2\n"
    "vldrw.u32 q2, [r12, #(\\T + 16)]\n"
    "vadd.i8 q1, q1, q2\n"
    ".endm\n"
    /* the count byte (groups | rows << 3) of tap (ky, kx) into r8 and the room check on its
     * rows: C the counts of ring row ky (advanced past the position's column by the tap kx =
     * 0); the byte lanes would pass 17 rows: into the u16 sums first */
    ".macro spq_k3_head f, C, kx, id\n"
    ".if \\kx == 0\n"
    "ldrb    r8, [\\C], #1\n"
    ".else\n"
    "ldrb    r8, [\\C, #(\\kx - 1)]\n"
    ".endif\n"
    ".if \\id == 0\n" /* the position's first tap: room 17 - n */
    "mov     r10, #17\n"
    "sub     r10, r10, r8, lsr #3\n"
    ".else\n"
    "subs    r10, r10, r8, lsr #3\n"
    "bpl.w   .L\\f\\()_bk\\id\n"
    "sub     r7, r7, r10\n" /* the chunk's rows: 17 - n - (room - n) */
    "mov     r10, #17\n"
    "sub     r10, r10, r8, lsr #3\n"
    "add     r7, r7, r10\n"
    "spq_k3_widen\n"
    "vmov.i8 q0, #0\n"
    "vmov.i8 q1, #0\n"
    ".endif\n"
    ".endm\n"
    /* the chain entries of tap id for a count byte (groups | rows << 3): 0 .. 4 groups */
    ".macro spq_k3_tab f, id, tb\n"
    ".rept 17\n"
    ".byte (.L\\f\\()_e0\\id - \\tb) / 2, (.L\\f\\()_o1\\id - \\tb) / 2\n"
    ".byte (.L\\f\\()_e2\\id - \\tb) / 2, (.L\\f\\()_o3\\id - \\tb) / 2\n"
    ".byte (.L\\f\\()_e4\\id - \\tb) / 2, (.L\\f\\()_e0\\id - \\tb) / 2\n"
    ".byte (.L\\f\\()_e0\\id - \\tb) / 2, (.L\\f\\()_e0\\id - \\tb) / 2\n"
    ".endr\n"
    ".p2align 1\n"
    ".endm\n"
    /* tap (ky, kx) of function f, number id = 3 ky + kx: R the refs of ring row ky, T = 32 id
     * - 128, its head (count byte in r8) already run: TBB into a chain of reference pairs
     * (the odd counts add refs 1, 2 first, then ref 0) */
    ".macro spq_k3_tap f, R, kx, T, id\n"
    ".L\\f\\()_bk\\id:\n"
    "tbb     [pc, r8]\n"
    ".L\\f\\()_tb\\id:\n"
    "spq_k3_tab \\f, \\id, .L\\f\\()_tb\\id\n"
    ".L\\f\\()_o3\\id:\n"
    "spq_k3_row2 \\R, (64 * \\kx + 4), \\T\n"
    ".L\\f\\()_o1\\id:\n"
    "spq_k3_row1 \\R, (64 * \\kx), \\T\n"
    "b.w     .L\\f\\()_e0\\id\n"
    ".L\\f\\()_e4\\id:\n"
    "spq_k3_row2 \\R, (64 * \\kx + 8), \\T\n"
    ".L\\f\\()_e2\\id:\n"
    "spq_k3_row2 \\R, (64 * \\kx), \\T\n"
    ".L\\f\\()_e0\\id:\n"
    ".endm\n"
    /* the neurons of a position for outcome_bits N: q4-q7 acc - base (even / odd channels of
     * 0-15, 16-31), r7 their rows, r9 the table, r6 the membrane bytes, lr the spike words,
     * r11 the state; uses r8, r12, q0-q7 */
    ".macro spq_k3_fire N\n"
    /* table columns: acc - base clamped to 0 .. 2^N - 1, at bit 16 - N */
    "vqshlu.s16 q4, q4, #(16 - \\N)\n"
    "vqshlu.s16 q5, q5, #(16 - \\N)\n"
    "vqshlu.s16 q6, q6, #(16 - \\N)\n"
    "vqshlu.s16 q7, q7, #(16 - \\N)\n"
    /* membrane byte i: codes of channels 2i, 2i + 1, 16 + 2i, 17 + 2i at bits 0, 2, 4, 6 */
    "vldrb.u16 q0, [r6]\n"
    /* table index: channel << (N + 2) | code << N | column; one gather per 8 channels */
    "vshl.i16 q2, q0, #\\N\n"
    "vsli.16 q2, q3, #(\\N + 2)\n"
    "vsri.16 q2, q4, #(16 - \\N)\n"
    "vldrb.u16 q4, [r9, q2]\n"
    "add     r12, r9, #(1 << (\\N + 2))\n"
    "vshl.i16 q2, q0, #(\\N - 2)\n"
    "vsli.16 q2, q3, #(\\N + 2)\n"
    "vsri.16 q2, q5, #(16 - \\N)\n"
    "vldrb.u16 q5, [r12, q2]\n"
    "add     r12, r9, #(16 << (\\N + 2))\n"
    "vshl.i16 q2, q0, #(\\N - 4)\n"
    "vsli.16 q2, q3, #(\\N + 2)\n"
    "vsri.16 q2, q6, #(16 - \\N)\n"
    "vldrb.u16 q6, [r12, q2]\n"
    "add     r12, r9, #(17 << (\\N + 2))\n"
    "vshl.i16 q2, q0, #(\\N - 6)\n"
    "vsli.16 q2, q3, #(\\N + 2)\n"
    "vsri.16 q2, q7, #(16 - \\N)\n"
    "vldrb.u16 q7, [r12, q2]\n"
    /* spikes (bit 7 of the outcomes) as 0 / 1 bytes in channel order: 0-15, 16-31 */
    "vshrnb.i16 q0, q4, #7\n"
    "vshrnt.i16 q0, q5, #7\n"
    "vshrnb.i16 q1, q6, #7\n"
    "vshrnt.i16 q1, q7, #7\n"
    "vcmp.i8 ne, q0, zr\n"
    "vmrs    r8, p0\n"
    "vcmp.i8 ne, q1, zr\n"
    "vmrs    r12, p0\n"
    "orr     r8, r8, r12, lsl #16\n"
    "str     r8, [lr], #4\n"
    /* rows << 16 + spikes into the row's count */
    "vadd.i8 q0, q0, q1\n"
    "ldr     r8, [r11, #40]\n"
    "add     r8, r8, r7, lsl #16\n"
    "vaddva.u8 r8, q0\n"
    "str     r8, [r11, #40]\n"
    /* new membrane codes */
    "vsli.16 q6, q7, #2\n"
    "vsli.16 q5, q6, #2\n"
    "vsli.16 q4, q5, #2\n"
    "vstrb.16 q4, [r6], #8\n"
    ".endm\n"
    /* the row function f for outcome_bits N */
    ".macro spq_k3_fn f, N\n"
    ".p2align 2\n"
    ".global \\f\n"
    ".type \\f, %function\n"
    ".thumb_func\n"
    "\\f:\n"
    "push    {r4-r11, lr}\n"
    "vpush   {d8-d15}\n"
    "mov     r11, r0\n"
    "ldm     r0, {r0-r5}\n"
    "ldr     r12, [r11, #36]\n" /* npos: the counts of ring row 0 end at r3 + npos */
    "add     r12, r12, r3\n"
    "str     r12, [r11, #36]\n"
    "ldr     lr, [r11, #32]\n"
    "ldr     r9, [r11, #24]\n"
    "ldr     r6, [r11, #28]\n"
    "movs    r12, #0\n"
    "vidup.u16 q3, r12, #2\n" /* the fire's lanes 0, 2, .. 14 */
    ".L\\f\\()_pos:\n"
    /* u16 sums from -base */
    "vldrw.u32 q4, [r11, #44]\n"
    "vldrw.u32 q5, [r11, #60]\n"
    "vldrw.u32 q6, [r11, #76]\n"
    "vldrw.u32 q7, [r11, #92]\n"
    "vmov.i8 q0, #0\n"
    "vmov.i8 q1, #0\n"
    "movs    r7, #17\n" /* rows: 17 + those of the flushed chunks - the room left */
    "spq_k3_head \\f, r3, 0, 0\n"
    "spq_k3_tap \\f, r0, 0, -128, 0\n"
    "spq_k3_head \\f, r3, 1, 1\n"
    "spq_k3_tap \\f, r0, 1, -96, 1\n"
    "spq_k3_head \\f, r3, 2, 2\n"
    "spq_k3_tap \\f, r0, 2, -64, 2\n"
    "spq_k3_head \\f, r4, 0, 3\n"
    "spq_k3_tap \\f, r1, 0, -32, 3\n"
    "spq_k3_head \\f, r4, 1, 4\n"
    "spq_k3_tap \\f, r1, 1, 0, 4\n"
    "spq_k3_head \\f, r4, 2, 5\n"
    "spq_k3_tap \\f, r1, 2, 32, 5\n"
    "spq_k3_head \\f, r5, 0, 6\n"
    "spq_k3_tap \\f, r2, 0, 64, 6\n"
    "spq_k3_head \\f, r5, 1, 7\n"
    "spq_k3_tap \\f, r2, 1, 96, 7\n"
    "spq_k3_head \\f, r5, 2, 8\n"
    "spq_k3_tap \\f, r2, 2, 128, 8\n"
    /* the last chunk; the even sums: q4 - 256 q5, q6 - 256 q7 (they started from -base_even
     * - 256 base_odd, the odd ones from -base_odd); minus 8 per row: acc - base */
    "spq_k3_widen\n"
    "mvn     r12, #255\n"
    "vmla.u16 q4, q5, r12\n"
    "vmla.u16 q6, q7, r12\n"
    "sub     r7, r7, r10\n"
    "lsls    r8, r7, #3\n"
    "vsub.i16 q4, q4, r8\n"
    "vsub.i16 q5, q5, r8\n"
    "vsub.i16 q6, q6, r8\n"
    "vsub.i16 q7, q7, r8\n"
    "spq_k3_fire \\N\n"
    /* next position (the taps kx = 0 advanced the counts) */
    "adds    r0, r0, #64\n"
    "adds    r1, r1, #64\n"
    "adds    r2, r2, #64\n"
    "ldr     r12, [r11, #36]\n"
    "cmp     r3, r12\n"
    "bne.w   .L\\f\\()_pos\n"
    "str     lr, [r11, #32]\n"
    "str     r6, [r11, #28]\n"
    "vpop    {d8-d15}\n"
    "pop     {r4-r11, pc}\n"
    ".size \\f, . - \\f\n"
    ".endm\n"
    ".pushsection .text.spq_w4_k3,\"ax\",%progbits\n"
    /* spq_w4_k3_list(masks, W, ref0, refs, counts): the set channels of W input positions of 16
     * channels (a halfword each) by groups of 4 (channels 4g .. 4g + 3, their bits v): a
     * reference ref0 + 288 (16 g + v) to the group's nibble sums (weights_x) for each group
     * with a set channel (at most 4 of the 16 slots of a position, 64 bytes), and the count
     * byte groups | channels << 3 (.Lspq_k3_pop: 1 + 8 popcount(v)) */
    ".p2align 2\n"
    ".global spq_w4_k3_list\n"
    ".type spq_w4_k3_list, %function\n"
    ".thumb_func\n"
    "spq_w4_k3_list:\n"
    "push    {r4-r11, lr}\n"
    "sub     sp, sp, #4\n"
    "ldr     r4, [sp, #40]\n"
    "add     r1, r0, r1, lsl #1\n" /* the end of the masks */
    "str     r1, [sp]\n"
    "adr     r1, .Lspq_k3_pop\n"
    "mov     r5, #288\n"
    "add     r6, r2, #4608\n" /* the groups' bases: 16 * 288 apart */
    "add     r9, r2, #9216\n"
    "add     r10, r2, #13824\n"
    ".Lspq_k3_lpos:\n"
    "ldrh    r8, [r0], #2\n"
    "movs    r11, #0\n"
    "mov     r12, r3\n"
    "ands    r7, r8, #15\n"
    "beq     .Lspq_k3_n0\n"
    "mla     lr, r7, r5, r2\n"
    "str     lr, [r12], #4\n"
    "ldrb    r7, [r1, r7]\n"
    "add     r11, r11, r7\n"
    ".Lspq_k3_n0:\n"
    "ubfx    r7, r8, #4, #4\n"
    "cbz     r7, .Lspq_k3_n1\n"
    "mla     lr, r7, r5, r6\n"
    "str     lr, [r12], #4\n"
    "ldrb    r7, [r1, r7]\n"
    "add     r11, r11, r7\n"
    ".Lspq_k3_n1:\n"
    "ubfx    r7, r8, #8, #4\n"
    "cbz     r7, .Lspq_k3_n2\n"
    "mla     lr, r7, r5, r9\n"
    "str     lr, [r12], #4\n"
    "ldrb    r7, [r1, r7]\n"
    "add     r11, r11, r7\n"
    ".Lspq_k3_n2:\n"
    "lsrs    r7, r8, #12\n"
    "beq     .Lspq_k3_n3\n"
    "mla     lr, r7, r5, r10\n"
    "str     lr, [r12], #4\n"
    "ldrb    r7, [r1, r7]\n"
    "add     r11, r11, r7\n"
    ".Lspq_k3_n3:\n"
    "strb    r11, [r4], #1\n"
    "adds    r3, r3, #64\n"
    "ldr     lr, [sp]\n"
    "cmp     r0, lr\n"
    "bne     .Lspq_k3_lpos\n"
    "add     sp, sp, #4\n"
    "pop     {r4-r11, pc}\n"
    ".Lspq_k3_pop:\n"
    ".byte 0, 9, 9, 17, 9, 17, 17, 25, 9, 17, 17, 25, 17, 25, 25, 33\n"
    ".size spq_w4_k3_list, . - spq_w4_k3_list\n"
    "spq_k3_fn spq_w4_k3_row7, 7\n"
    "spq_k3_fn spq_w4_k3_row8, 8\n"
    ".purgem spq_k3_fn\n"
    ".purgem spq_k3_fire\n"
    ".purgem spq_k3_tap\n"
    ".purgem spq_k3_tab\n"
    ".purgem spq_k3_head\n"
    ".purgem spq_k3_row1\n"
    ".purgem spq_k3_widen\n"
    ".purgem spq_k3_row2\n"
    ".popsection\n");

int spq_w4_k3_mve_ok(const spq_layer_t *l)
{
    const int32_t *base = l->outcome_base;
    uint32_t m = 0, c;
    if (l->weights_x == NULL || l->type != SPQ_LAYER_CONV || l->in_kind != SPQ_IN_SPIKE ||
        l->kernel != 3u || l->stride != 1u || l->out_c != 32u || l->in_c != 16u ||
        l->level_bits != 2u || l->outcome == NULL || l->outcome_bits < 7u ||
        l->outcome_bits > 8u || l->out_w > 255u || sizeof(spq_w4_ref_t) != 4u ||
        l->weights_x_bytes < 16u * 9u * 32u + SPQ_W4_NIB_BYTES) { /* the nibble sums */
        return 0;
    }
    for (c = 0; c < 32u; c += 4u) { /* spq_w4_lanes_ok: |base| + bound + 8 rows <= 32767 */
        m = vmaxavq_s32(m, vld1q_s32(base + c));
    }
    return (uint64_t)m + spq_acc_bound(l) + 8u * 16u * 9u <= 32767u;
}

void spq_conv_w4_k3_mve(spq_job_t *job)
{
    const spq_layer_t *l = job->l;
    uint32_t W = l->in_w, H = l->in_h, p = l->padding, rw = W + 2u * p, oy, ky, h;
    spq_w4_ref_t *refs = (spq_w4_ref_t *)(void *)((uint32_t *)job->acc + 16);
    uint8_t *counts = (uint8_t *)(void *)(refs + (size_t)3u * rw * 16u);
    const uint16_t *masks = (const uint16_t *)job->in;
    const uint8_t *ref0 = (const uint8_t *)l->weights_x + 16u * 9u * 32u + SPQ_W4_REF_BIAS;
    spq_w4_k3_t s;
    void (*row)(spq_w4_k3_t *);
    memset(counts, 0, (size_t)4u * rw); /* the pads and the empty row stay zero */
#pragma GCC unroll 4
    for (h = 0; h < 32u; h += 8u) { /* channels h .. h + 7: one pair of vectors live */
        uint32_t i = (h & 16u) + (h & 8u) / 2u; /* their even lanes, then their odd ones + 8 */
        int32x4x2_t a = vld2q_s32(l->outcome_base + h);
        /* the even vectors start from -base_even - 256 base_odd (mod 2^16): spq_k3_widen */
        vstrhq_s32(s.init.h + i, vnegq_s32(vmlaq_n_s32(a.val[0], a.val[1], 256)));
        vstrhq_s32(s.init.h + i + 8u, vnegq_s32(a.val[1]));
    }
    s.t = l->outcome;
    s.mem = (uint8_t *)(void *)job->mem;
    s.out = job->out;
    row = l->outcome_bits == 7u ? spq_w4_k3_row7 : spq_w4_k3_row8;
    /* input row iy is listed in ring slot iy % 3; kernel row ky of output row oy reads input
     * row oy - p + ky (the empty count row outside the map) */
    for (ky = 0; ky < 3u; ky++) {
        uint32_t iy = ky - p; /* wraps for the rows above the map */
        s.refs[ky] = refs; /* never read where the counts are zero */
        s.counts[ky] = counts + (size_t)3u * rw;
        if (iy < H) { /* iy < 3: its slot */
            s.refs[ky] = refs + (size_t)iy * rw * 16u;
            s.counts[ky] = counts + iy * rw;
            spq_w4_k3_list(masks + (size_t)iy * W, W, ref0, (spq_w4_ref_t *)s.refs[ky] + p * 16u,
                           (uint8_t *)s.counts[ky] + p);
        }
    }
    for (oy = 0;;) {
        uint32_t iy = oy - p + 3u, slot = iy % 3u;
        s.npos = l->out_w;
        s.count = 0;
        row(&s);
        job->synops += (s.count >> 16) * 32u;
        job->spikes += s.count & 0xFFFFu;
        if (++oy == l->out_h) {
            break;
        }
        s.refs[0] = s.refs[1];
        s.counts[0] = s.counts[1];
        s.refs[1] = s.refs[2];
        s.counts[1] = s.counts[2];
        s.refs[2] = refs;
        s.counts[2] = counts + (size_t)3u * rw;
        if (iy < H) {
            s.refs[2] = refs + (size_t)slot * rw * 16u;
            s.counts[2] = counts + slot * rw;
            spq_w4_k3_list(masks + (size_t)iy * W, W, ref0, (spq_w4_ref_t *)s.refs[2] + p * 16u,
                           (uint8_t *)s.counts[2] + p);
        }
    }
}

uint32_t spq_w4_row_mve(const spq_w4_row_t *r)
{
    return r->l->outcome_bits == 7u ? spq_w4_row_mve7(r) : spq_w4_row_mve8(r);
}

#else
typedef int spq_conv_w4_mve_unused; /* ISO C: a translation unit is not empty */
#endif
