/* SPDX-License-Identifier: MIT */
/* spq_lut_row_mve: the window-row conv kernel's per-row work (spq_conv_lut.c) with Helium
 * vectors, for out_c a multiple of 16 and 2-bit membranes.
 *
 * Per output position and group of 16 channels: the kernel rows' table rows are 16 bytes
 * each, added as u8 lanes (acc + bound, the full-range outcome table's column); the lanes
 * are widened to two u16 vectors of 8 channels (through 16 bytes of stack), each channel's
 * membrane code is shifted into bits 8-9 of its lane (code * 256), the channel's table
 * offset added, and the outcome bytes fetched by one gather load per 8 channels. The new
 * codes and the spikes are packed back into the membrane word and the spike map with
 * dot products against powers of 4 and of 2 (VMLADAV). */
#include "spq_conv.h"

#if SPQ_HAVE_MVE
#include <arm_mve.h>

int spq_lut_row_mve_ok(const spq_layer_t *l)
{
    return l->out_c % 16u == 0u && l->level_bits == 2u && l->outcome_bits == 8u;
}

/* Outcome bytes of 8 channels from their lanes x (the table column, below 2^n, in the low
 * bytes), codes at bits 0, 2, .. of `half`; t: the table of the first of them (vchan: each
 * lane's channel offset, 4 * 2^n apart). */
SPQ_INLINE uint16x8_t spq_fire8_mve(uint16x8_t x, uint32_t half, const uint8_t *t,
                                    int16x8_t vsh, uint16x8_t vchan, uint32_t n)
{
    uint16x8_t code = vshlq_u16(vdupq_n_u16((uint16_t)half), vsh); /* code of lane i at 0 */
    /* idx = x + code * 2^n + channel * 4 * 2^n: insert the code bits above x, then add */
    uint16x8_t idx = vsliq_n_u16(x, vandq_u16(code, vdupq_n_u16(3u)), n);
    return vldrbq_gather_offset_u16(t, vaddq_u16(idx, vchan));
}

/* One group of 16 channels of one position: lanes (acc + bound) as u8 x 16; its 16 spike
 * bits are stored as one halfword of the map (little-endian: bits 16j .. 16j + 15 of the
 * words are halfword j); returns the number of spikes. */
SPQ_INLINE uint32_t spq_fire16_mve(uint8x16_t lanes, const uint8_t *t, uint32_t *mem,
                                   uint16_t *spk, int16x8_t vsh, uint16x8_t vchan,
                                   uint16x8_t vw4, uint16x8_t vw2, uint32_t n)
{
    uint8_t buf[16];
    const uint16x8_t m3 = vdupq_n_u16(3u);
    uint32_t mw = *mem, nw, s, cnt;
    uint16x8_t o, b;
    vst1q_u8(buf, lanes); /* widen in channel order: bytes 0-7 and 8-15 */
    o = spq_fire8_mve(vldrbq_u16(buf), mw, t, vsh, vchan, n);
    nw = vmladavq_u16(vandq_u16(o, m3), vw4);
    b = vshrq_n_u16(o, 7);
    s = vmladavq_u16(b, vw2);
    cnt = vaddvq_u16(b);
    o = spq_fire8_mve(vldrbq_u16(buf + 8), mw >> 16, t + (32u << n), vsh, vchan, n);
    *mem = nw | (vmladavq_u16(vandq_u16(o, m3), vw4) << 16);
    b = vshrq_n_u16(o, 7);
    *spk = (uint16_t)(s | (vmladavq_u16(b, vw2) << 8));
    return vaddvaq_u16(cnt, b);
}

uint32_t spq_lut_row_mve(const spq_lut_row_t *r)
{
    const spq_layer_t *l = r->l;
    const uint32_t *const *tk = r->tk;
    const uint16_t *const *vk = r->vk;
    uint32_t *mem = r->mem;
    static const int16_t sh[8] = {0, -2, -4, -6, -8, -10, -12, -14};
    static const uint16_t chan[8] = {0, 1024, 2048, 3072, 4096, 5120, 6144, 7168};
    static const uint16_t w4[8] = {1, 4, 16, 64, 256, 1024, 4096, 16384};
    static const uint16_t w2[8] = {1, 2, 4, 8, 16, 32, 64, 128};
    const int16x8_t vsh = vld1q_s16(sh);
    const uint16x8_t vchan = vld1q_u16(chan), vw4 = vld1q_u16(w4), vw2 = vld1q_u16(w2);
    uint32_t oc = l->out_c, groups = oc / 16u, k = l->kernel, w = l->out_w, ox, g, ky;
    uint32_t spikes = 0;
    uint16_t *spk = (uint16_t *)(void *)r->out + r->pos * groups; /* 16 channels a halfword */
    if (k == 3u && groups == 1u) { /* 16 channels, 3 kernel rows: pointers in registers */
        const uint8_t *t0 = (const uint8_t *)tk[0], *t1 = (const uint8_t *)tk[1];
        const uint8_t *t2 = (const uint8_t *)tk[2];
        const uint16_t *v0 = vk[0], *v1 = vk[1], *v2 = vk[2];
        for (ox = 0; ox < w; ox++, mem++, spk++) {
            uint8x16_t lanes = vaddq_u8(vaddq_u8(vld1q_u8(t0 + 4u * v0[ox]),
                                                 vld1q_u8(t1 + 4u * v1[ox])),
                                        vld1q_u8(t2 + 4u * v2[ox]));
            spikes += spq_fire16_mve(lanes, l->outcome, mem, spk, vsh, vchan, vw4, vw2, 8u);
        }
        return spikes;
    }
    for (ox = 0; ox < w; ox++) {
        const uint8_t *t = l->outcome;
        for (g = 0; g < groups; g++, mem++, spk++, t += 16384) {
            uint8x16_t lanes = vld1q_u8((const uint8_t *)(tk[0] + vk[0][ox]) + 16u * g);
            for (ky = 1; ky < k; ky++) {
                lanes = vaddq_u8(lanes,
                                 vld1q_u8((const uint8_t *)(tk[ky] + vk[ky][ox]) + 16u * g));
            }
            spikes += spq_fire16_mve(lanes, t, mem, spk, vsh, vchan, vw4, vw2, 8u);
        }
    }
    return spikes;
}

/* The whole window-row layer for its common shape (spq_conv_lut_mve_ok): 16 channels, 3x3
 * kernel, stride 1, padding 1, an input row of at most 32 bits (in_w * in_c) and at most
 * SPQ_LUT_RING_W columns. Instead of the generic ring of spq_conv_lut, the addresses of
 * each position's three table rows are kept for the three input rows of an output row (a
 * ring of 3 x SPQ_LUT_RING_W words on the stack, 384 B): the entering input row's are made
 * by vector shifts of its row word, the other two move to the next kernel row's table by a
 * vector subtract; its synops (3 windows per input bit but at the map's edges) come from
 * three popcounts. Per output position spq_lut3_row_mve fires the 16 neurons with two gather
 * loads. */
int spq_conv_lut_mve_ok(const spq_layer_t *l)
{
    return l->lut != NULL && l->out_c == 16u && l->level_bits == 2u && l->outcome_bits == 8u &&
           l->kernel == 3u && l->stride == 1u && l->padding == 1u &&
           (uint32_t)l->in_w * l->in_c <= 32u && l->in_w <= SPQ_LUT_RING_W &&
           l->out_w == l->in_w && l->out_h == l->in_h;
}

/* Input row iy (w columns of C bits) of the step's map: its set inputs times the windows
 * that cover them (3 per row and column of the kernel, fewer at the map's edges; a map of
 * one row or column: 1), the row's synops / 16; *R: the row's bits. */
SPQ_INLINE uint32_t spq_lut3_row_bits(const uint32_t *in, uint32_t iy, uint32_t h, uint32_t w,
                                      uint32_t C, uint32_t *R)
{
    uint32_t r = spq_bits_get(in, iy * w * C, w * C);
    uint32_t cover = 3u - (iy == 0u) - (iy + 1u == h);
    *R = r; /* C <= 2 (lut_bits = 3 * C <= 8): a column's bits index spq_popcount8 */
    return cover * (3u * spq_popcount(r) - spq_popcount8[r & (((uint32_t)1 << C) - 1u)] -
                    spq_popcount8[r >> (C * (w - 1u))]);
}

/* The table-row addresses t + 16 * v of every output column's window in input row word R
 * into a (g vectors of 4 columns; the ring has room for them past w): v(ox) = R >> C *
 * (ox - 1) masked to 3 * C bits (column -1: zero padding; R = 0: a row outside the map),
 * shifted by sh = 4 + C - C * ox (left when positive; step: -4 * C), masked by m. With up
 * (not NULL): the address rows up[0], up[1] move to the previous kernel row's table, krow
 * bytes before, in the same pass. */
SPQ_INLINE void spq_lut3_addr_mve(uint32_t R, uint32_t t, uint32_t g, int32x4_t sh,
                                  int32x4_t step, uint32x4_t m, uint32_t *a,
                                  uint32_t *const *up, uint32_t krow)
{
    const uint32x4_t vr = vdupq_n_u32(R);
    uint32_t *b = up != NULL ? up[0] : NULL, *c = up != NULL ? up[1] : NULL;
    for (; g != 0u; g--, a += 4, sh = vaddq_s32(sh, step)) {
        vstrwq_u32(a, vaddq_n_u32(vandq_u32(vshlq_u32(vr, sh), m), t));
        if (up != NULL) {
            vstrwq_u32(b, vsubq_n_u32(vld1q_u32(b), krow));
            vstrwq_u32(c, vsubq_n_u32(vld1q_u32(c), krow));
            b += 4;
            c += 4;
        }
    }
}

/* One output row: a0..a2 the addresses of each position's table row in the tables of
 * kernel rows 0..2, mem the row's first membrane word, spk its first spike halfword, w >= 1
 * positions; returns the spikes. In assembly: the same steps written with intrinsics compile to a
 * third more instructions (register copies around the shift-inserts, which overwrite their
 * first operand); out of line, as the loop holds 10 core registers.
 *
 * Per position: x = the three table rows added as u8 lanes (acc + bound per channel); the
 * membrane word's byte m in u32 lane m, its high nibble shifted into the lane's upper half:
 * halfword lane j = nibble j (the codes of channels 2j, 2j + 1 at bits 0-1, 2-3). The
 * outcome offsets (2j * 4 + code) << 8 | column, from `outcome` for channel 2j and from
 * `odd` (1024 bytes on: channel 2j + 1's table) for 2j + 1: even lanes insert 2j above the
 * nibble's bits 0-1, then keep x's low byte below that shifted to bit 8; odd lanes shift the
 * nibble by 6 (code at bits 8-9), insert 2j above bit 10 and x's high byte below bit 8.
 * Two gathers fetch the outcome bytes; the odd ones inserted above the even ones give the
 * 16 bytes in channel order, whose sign bits (the spike bits) are the predicate of one
 * compare (VPT: its block adds 1 per spiking lane to the count) and the spike halfword.
 * The new codes: the odd bytes inserted above bit 2 of the even (the odd spike bit, now bit
 * 9, cleared) give nibble j = codes 2j, 2j + 1; each u32 lane's upper nibble joins its
 * lower one in the low byte, and the four bytes go to the membrane word by one
 * multiply-accumulate across lanes with weights 2^(8m). */
static SPQ_NOINLINE uint32_t spq_lut3_row_mve(const uint32_t *a0, const uint32_t *a1,
                                              const uint32_t *a2, const uint8_t *outcome,
                                              uint32_t *mem, uint16_t *spk, uint32_t w)
{
    static const uint16_t che[8] = {0, 2, 4, 6, 8, 10, 12, 14}; /* lane j: channel 2j */
    static const uint32_t wb[4] = {1u, 1u << 8, 1u << 16, 1u << 24};
    const uint16x8_t vche = vld1q_u16(che);
    const uint32x4_t vwb = vld1q_u32(wb);
    const uint8x16_t ones = vdupq_n_u8(1);
    const uint8_t *odd = outcome + 1024; /* channel 2j + 1's table: 1024 bytes after 2j's */
    uint32_t spikes = 0, r;
    uint8x16_t x, e, f, g, h;
    __asm__ volatile(
        "dls     lr, %[n]\n"
        "1:\n\t"
        "ldr     %[r], [%[a0]], #4\n\t"
        "vldrb.u8 %q[x], [%[r]]\n\t"
        "ldr     %[r], [%[a1]], #4\n\t"
        "vldrb.u8 %q[e], [%[r]]\n\t"
        "vadd.i8 %q[x], %q[x], %q[e]\n\t"
        "ldr     %[r], [%[a2]], #4\n\t"
        "vldrb.u8 %q[e], [%[r]]\n\t"
        "vadd.i8 %q[x], %q[x], %q[e]\n\t"
        "vldrb.u32 %q[e], [%[mem]]\n\t"
        "vshr.u32 %q[f], %q[e], #4\n\t"
        "vsli.32 %q[e], %q[f], #16\n\t"
        "vshl.i16 %q[f], %q[e], #6\n\t"
        "vsli.16 %q[f], %q[che], #10\n\t"
        "vsri.16 %q[f], %q[x], #8\n\t"
        "vsli.16 %q[e], %q[che], #2\n\t"
        "vsli.16 %q[x], %q[e], #8\n\t"
        "vldrb.u16 %q[g], [%[odd], %q[f]]\n\t"
        "vldrb.u16 %q[h], [%[o], %q[x]]\n\t"
        "vsli.16 %q[h], %q[g], #8\n\t"
        "vpt.s8  lt, %q[h], zr\n\t"
        "vaddvat.u8 %[s], %q[one]\n\t"
        "vmrs    %[r], p0\n\t"
        "strh    %[r], [%[spk]], #2\n\t"
        "vsli.16 %q[h], %q[g], #2\n\t"
        "vbic.i16 %q[h], #0x200\n\t"
        "vshr.u32 %q[e], %q[h], #16\n\t"
        "vsli.32 %q[h], %q[e], #4\n\t"
        "vmladav.u32 %[r], %q[h], %q[wb]\n\t"
        "str     %[r], [%[mem]], #4\n\t"
        "le      lr, 1b\n"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [mem] "+r"(mem), [spk] "+r"(spk),
          [s] "+Te"(spikes), [r] "=&Te"(r), [x] "=&w"(x), [e] "=&w"(e), [f] "=&w"(f),
          [g] "=&w"(g), [h] "=&w"(h)
        : [o] "r"(outcome), [odd] "r"(odd),
          [n] "r"(w), [che] "w"(vche), [wb] "w"(vwb), [one] "w"(ones)
        : "lr", "p0", "memory");
    return spikes;
}

void spq_conv_lut_mve(spq_job_t *job)
{
    static const int32_t lane[4] = {0, 1, 2, 3};
    const spq_layer_t *l = job->l;
    const uint32_t *in = (const uint32_t *)job->in;
    uint32_t ring[3][SPQ_LUT_RING_W]; /* table-row addresses of three input rows: 384 B */
    uint32_t *a[3], *up[2];
    uint32_t C = l->in_c, H = l->in_h, W = l->in_w, g = (W + 3u) / 4u;
    uint32_t krow = (uint32_t)16u << l->lut_bits; /* bytes per kernel row's table */
    uint32_t t = (uint32_t)(uintptr_t)l->lut;     /* Helium cores: 32-bit addresses */
    uint32_t *mem = job->mem;
    uint16_t *spk = (uint16_t *)(void *)job->out; /* 16 channels a halfword */
    uint32_t oy, n, R, spikes = 0;
    const int32x4_t sh = vsubq_s32(vdupq_n_s32((int32_t)(4u + C)),
                                   vmulq_n_s32(vld1q_s32(lane), (int32_t)C));
    const int32x4_t step = vdupq_n_s32(-4 * (int32_t)C);
    const uint32x4_t m = vdupq_n_u32((((uint32_t)1 << (3u * C)) - 1u) << 4);
    /* output row oy reads input rows oy - 1, oy, oy + 1 through kernel rows 0, 1, 2:
     * a[ky] the addresses of each position's table row */
    a[0] = ring[0];
    a[1] = ring[1];
    a[2] = ring[2];
    spq_lut3_addr_mve(0u, t, g, sh, step, m, a[0], NULL, 0u);
    n = spq_lut3_row_bits(in, 0, H, W, C, &R);
    spq_lut3_addr_mve(R, t + krow, g, sh, step, m, a[1], NULL, 0u);
    R = 0u;
    if (H > 1u) {
        n += spq_lut3_row_bits(in, 1, H, W, C, &R);
    }
    spq_lut3_addr_mve(R, t + 2u * krow, g, sh, step, m, a[2], NULL, 0u);
    for (oy = 0;;) {
        uint32_t *free = a[0];
        spikes += spq_lut3_row_mve(a[0], a[1], a[2], (const uint8_t *)l->outcome, mem, spk, W);
        if (++oy == H) {
            break;
        }
        mem += W;
        spk += W;
        /* rows oy, oy + 1 move up a kernel row; row oy + 2 (or none) enters at the bottom */
        up[0] = a[0] = a[1];
        up[1] = a[1] = a[2];
        a[2] = free;
        R = 0u;
        if (oy + 1u < H) {
            n += spq_lut3_row_bits(in, oy + 1u, H, W, C, &R);
        }
        spq_lut3_addr_mve(R, t + 2u * krow, g, sh, step, m, a[2], up, krow);
    }
    job->spikes += spikes;
    job->synops += n * 16u;
}

int spq_rank_fire_mve_ok(const spq_layer_t *l)
{
    return l->breaks != NULL && l->out_c % 16u == 0u && l->level_bits == 2u &&
           l->outcome_bits == 5u;
}

uint32_t spq_rank_fire_mve(const spq_layer_t *l, const uint8_t *ranks, uint32_t *mem,
                           uint32_t *out, uint32_t n_pos)
{
    static const int16_t sh[8] = {0, -2, -4, -6, -8, -10, -12, -14};
    static const uint16_t chan[8] = {0, 128, 256, 384, 512, 640, 768, 896};
    static const uint16_t w4[8] = {1, 4, 16, 64, 256, 1024, 4096, 16384};
    static const uint16_t w2[8] = {1, 2, 4, 8, 16, 32, 64, 128};
    const int16x8_t vsh = vld1q_s16(sh);
    const uint16x8_t vchan = vld1q_u16(chan), vw4 = vld1q_u16(w4), vw2 = vld1q_u16(w2);
    uint32_t groups = l->out_c / 16u, i, g, spikes = 0;
    uint16_t *spk = (uint16_t *)(void *)out; /* 16 channels a halfword */
    for (i = 0; i < n_pos; i++) {
        const uint8_t *t = l->outcome;
        for (g = 0; g < groups; g++, ranks += 16, mem++, spk++, t += 2048) {
            spikes += spq_fire16_mve(vld1q_u8(ranks), t, mem, spk, vsh, vchan, vw4, vw2, 5u);
        }
    }
    return spikes;
}

#else
typedef int spq_conv_lut_mve_unused; /* ISO C: a translation unit is not empty */
#endif
