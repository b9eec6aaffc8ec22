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
 * SPQ_LUT_RING_W columns. Instead of the generic ring of spq_conv_lut, each input row's
 * table byte offsets (16 * v per output column) are made once per step by vector shifts of
 * the row word, and its synops (3 windows per input bit but at the map's edges) by three
 * popcounts. Per output position the fire runs on even and odd channels (the byte lanes'
 * halfword view): the membrane word's nibbles (two 2-bit codes each) are spread to halfword
 * lanes with one widening load, each lane's table offset (channel * 1024 + code * 256 +
 * column) is built by shift-inserts, the outcome bytes are fetched by two gather loads
 * (odd channels from outcome + 1024), the spike bits of the 16 channels come from one
 * compare of the re-interleaved bytes (the predicate's bits, one per byte lane), and the new
 * codes are packed back by a shift-insert and one multiply-accumulate across lanes. */
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

/* The byte offsets 16 * v of every output column's window in input row word R: v(ox) =
 * R >> C * (ox - 1) masked to 3 * C bits (column -1: zero padding), 4 columns a vector,
 * shifted by sh = 4 + C - C * ox (left when positive; step: -4 * C), masked by m. The ring
 * has room for whole vectors past w. */
SPQ_INLINE void spq_lut3_offsets_mve(uint32_t R, uint32_t w, int32x4_t sh, int32x4_t step,
                                     uint32x4_t m, uint16_t *off)
{
    const uint32x4_t vr = vdupq_n_u32(R);
    uint32_t ox;
    for (ox = 0; ox < w; ox += 4u, sh = vaddq_s32(sh, step)) {
        vstrhq_u32(off + ox, vandq_u32(vshlq_u32(vr, sh), m));
    }
}

/* One output row: t0..t2 the tables of the kernel rows, v0..v2 the offsets of their input
 * rows, mem the row's first membrane word, spk its first spike halfword, w >= 1 positions;
 * returns the spikes. In assembly: the same steps written with intrinsics compile to a
 * third more instructions (register copies around the shift-inserts, which overwrite their
 * first operand); out of line, as the loop holds 13 core registers.
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
static SPQ_NOINLINE uint32_t spq_lut3_row_mve(const uint8_t *t0, const uint8_t *t1,
                                              const uint8_t *t2, const uint16_t *v0,
                                              const uint16_t *v1, const uint16_t *v2,
                                              const uint8_t *outcome, uint32_t *mem,
                                              uint16_t *spk, uint32_t w)
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
        "ldrh    %[r], [%[v0]], #2\n\t"
        "add     %[r], %[t0], %[r]\n\t"
        "vldrb.u8 %q[x], [%[r]]\n\t"
        "ldrh    %[r], [%[v1]], #2\n\t"
        "add     %[r], %[t1], %[r]\n\t"
        "vldrb.u8 %q[e], [%[r]]\n\t"
        "vadd.i8 %q[x], %q[x], %q[e]\n\t"
        "ldrh    %[r], [%[v2]], #2\n\t"
        "add     %[r], %[t2], %[r]\n\t"
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
        : [v0] "+r"(v0), [v1] "+r"(v1), [v2] "+r"(v2), [mem] "+r"(mem), [spk] "+r"(spk),
          [s] "+Te"(spikes), [r] "=&Te"(r), [x] "=&w"(x), [e] "=&w"(e), [f] "=&w"(f),
          [g] "=&w"(g), [h] "=&w"(h)
        : [t0] "r"(t0), [t1] "r"(t1), [t2] "r"(t2), [o] "r"(outcome), [odd] "r"(odd),
          [n] "r"(w), [che] "w"(vche), [wb] "w"(vwb), [one] "w"(ones)
        : "lr", "p0", "memory");
    return spikes;
}

void spq_conv_lut_mve(spq_job_t *job)
{
    static const int32_t lane[4] = {0, 1, 2, 3};
    static const uint16_t zeros[SPQ_LUT_RING_W]; /* rows outside the map: v = 0 */
    const spq_layer_t *l = job->l;
    const uint32_t *in = (const uint32_t *)job->in;
    uint16_t ring[3][SPQ_LUT_RING_W];
    const uint16_t *row[3]; /* offsets of input rows oy - 1, oy, oy + 1 */
    uint32_t C = l->in_c, H = l->in_h, W = l->in_w;
    uint32_t krow = (uint32_t)16u << l->lut_bits; /* bytes per kernel row's table */
    const uint8_t *t = (const uint8_t *)l->lut;
    uint32_t *mem = job->mem;
    uint16_t *spk = (uint16_t *)(void *)job->out; /* 16 channels a halfword */
    uint32_t oy, n, R, spikes = 0;
    const int32x4_t sh = vsubq_s32(vdupq_n_s32((int32_t)(4u + C)),
                                   vmulq_n_s32(vld1q_s32(lane), (int32_t)C));
    const int32x4_t step = vdupq_n_s32(-4 * (int32_t)C);
    const uint32x4_t m = vdupq_n_u32((((uint32_t)1 << (3u * C)) - 1u) << 4);
    uint16_t *next = ring[1];
    row[0] = zeros;
    row[1] = ring[0];
    n = spq_lut3_row_bits(in, 0, H, W, C, &R);
    spq_lut3_offsets_mve(R, W, sh, step, m, ring[0]);
    for (oy = 0; oy < H; oy++, mem += W, spk += W) {
        row[2] = zeros;
        if (oy + 1u < H) {
            n += spq_lut3_row_bits(in, oy + 1u, H, W, C, &R);
            spq_lut3_offsets_mve(R, W, sh, step, m, next);
            row[2] = next;
            next = next == ring[2] ? ring[0] : next + SPQ_LUT_RING_W;
        }
        spikes += spq_lut3_row_mve(t, t + krow, t + 2u * krow, row[0], row[1], row[2],
                                   l->outcome, mem, spk, W);
        row[0] = row[1];
        row[1] = row[2];
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
