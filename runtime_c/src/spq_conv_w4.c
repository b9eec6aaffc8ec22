/* SPDX-License-Identifier: MIT */
/* spq_conv_w4_fused: spike-input conv layers with 4-bit weights and int16 accumulators that
 * carry spq-export's offset-binary weights (`weights_x`, every nibble w + 8); portable C, the
 * fast path of cores without Helium.
 *
 * Output stationary and fused with the neuron update. Per time step the set input channels
 * of every input position are listed once (uint8 indices, in a ring of `kernel` input rows
 * in the scratch after the accumulators). For each output position the weight rows of the
 * set inputs of its window are listed as word pointers (SPQ_W4_FLAT at a time, on the
 * stack), then summed for up to 4 blocks of 8 output channels in registers: with x a word of
 * offset-binary nibbles, the even nibbles (x & 0x0F0F0F0F) and x >> 4 are summed,
 * SPQ_W4_CHUNK rows at a time so that no byte lane carries (17 * 15 = 255); the odd nibbles
 * are recovered from the two sums and added into 16-bit lane sums, which at the end become
 * int16 pair words (spq_rows.h) acc - base (the outcome table column before clamping; acc
 * without a table) and the position's neurons are updated by the fire function
 * (spq_fire.h), or spq_neuron_pos without a table. Stack: SPQ_W4_FLAT pointers and
 * SPQ_W4_MAX_OC / 2 + SPQ_W4_MAX_OC / 2 words. */
#include "spq_conv.h"
#include "spq_fire.h"

uint32_t spq_w4_list_bytes(uint32_t in_c, uint32_t in_w, uint32_t k, uint32_t p)
{
    uint32_t w = in_w + 2u * p; /* ring columns */
    return 4u * k * w * in_c + 4u * (((k + 1u) * w + 3u) / 4u);
}

int spq_w4_shape_ok(const spq_layer_t *l)
{
    uint64_t bound = spq_acc_bound(l);
    return l->type == SPQ_LAYER_CONV && l->in_kind == SPQ_IN_SPIKE && l->weight_bits == 4u &&
           l->acc_bits == 16u && l->out_c % 8u == 0u && l->out_c <= SPQ_W4_MAX_OC &&
           l->in_c <= SPQ_W4_MAX_IN_C && l->kernel <= SPQ_W4_MAX_K &&
           spq_w4_list_bytes(l->in_c, l->in_w, l->kernel, l->padding) <= SPQ_W4_MAX_LIST_BYTES &&
           !spq_lut_applies(l, bound);
}

int spq_w4_valid(const spq_layer_t *l)
{
    size_t i, words;
    if (l->weights_x == NULL) {
        return 1;
    }
    if (!spq_w4_shape_ok(l)) {
        return 0;
    }
    words = (size_t)l->in_c * l->kernel * l->kernel * l->weight_row_bytes / 4u;
    for (i = 0; i < words; i++) {
        if (l->weights_x[i] != (spq_load32(l->weights + 4u * i) ^ 0x88888888u)) {
            return 0;
        }
    }
    return 1;
}

#if SPQ_FAST

#define SPQ_W4_CHUNK 17u
#define SPQ_W4_FLAT (4u * SPQ_W4_CHUNK)

/* Add a chunk's byte-lane sums of one block (e: even nibbles, t: x >> 4) into its 16-bit lane
 * sums L[0..3]: channels (0, 4), (2, 6), (1, 5), (3, 7). */
SPQ_INLINE void spq_w4_flush(uint32_t *L, uint32_t e, uint32_t t)
{
    const uint32_t m2 = 0x00FF00FFu;
    /* x >> 4 = ((x >> 4) & m) + ((x & m & ~15) >> 4), so the odd nibbles sum to
     * t - ((e & ~255) >> 4) (byte 0 of e is the sum of the dropped low nibbles) */
    uint32_t o = t - ((e & ~0xFFu) >> 4);
    L[0] += e & m2;
    L[1] += (e >> 8) & m2;
    L[2] += o & m2;
    L[3] += (o >> 8) & m2;
}

/* Sum the listed rows (from word w0 on, NB = 1..4 blocks) into the lane sums L (4 * NB). */
SPQ_TEMPLATE void spq_w4_sum(const uint32_t *const *list, uint32_t cnt, uint32_t w0,
                             uint32_t *L, uint32_t nb)
{
    const uint32_t M = 0x0F0F0F0Fu;
    const uint32_t *const *end = list + cnt;
    while (list != end) {
        uint32_t e0 = 0, e1 = 0, e2 = 0, e3 = 0, t0 = 0, t1 = 0, t2 = 0, t3 = 0;
        const uint32_t *const *q =
            (uint32_t)(end - list) > SPQ_W4_CHUNK ? list + SPQ_W4_CHUNK : end;
        do {
            const uint32_t *p = *list++ + w0;
            uint32_t x0 = p[0];
            e0 += x0 & M;
            t0 += x0 >> 4;
            if (nb > 1u) {
                uint32_t x1 = p[1];
                e1 += x1 & M;
                t1 += x1 >> 4;
            }
            if (nb > 2u) {
                uint32_t x2 = p[2];
                e2 += x2 & M;
                t2 += x2 >> 4;
            }
            if (nb > 3u) {
                uint32_t x3 = p[3];
                e3 += x3 & M;
                t3 += x3 >> 4;
            }
        } while (list != q);
        spq_w4_flush(L, e0, t0);
        if (nb > 1u) {
            spq_w4_flush(L + 4, e1, t1);
        }
        if (nb > 2u) {
            spq_w4_flush(L + 8, e2, t2);
        }
        if (nb > 3u) {
            spq_w4_flush(L + 12, e3, t3);
        }
    }
}

SPQ_NOINLINE static void spq_w4_sum1(const uint32_t *const *list, uint32_t cnt, uint32_t w0,
                                     uint32_t *L)
{
    spq_w4_sum(list, cnt, w0, L, 1u);
}

SPQ_NOINLINE static void spq_w4_sum2(const uint32_t *const *list, uint32_t cnt, uint32_t w0,
                                     uint32_t *L)
{
    spq_w4_sum(list, cnt, w0, L, 2u);
}

SPQ_NOINLINE static void spq_w4_sum3(const uint32_t *const *list, uint32_t cnt, uint32_t w0,
                                     uint32_t *L)
{
    spq_w4_sum(list, cnt, w0, L, 3u);
}

SPQ_NOINLINE static void spq_w4_sum4(const uint32_t *const *list, uint32_t cnt, uint32_t w0,
                                     uint32_t *L)
{
    spq_w4_sum(list, cnt, w0, L, 4u);
}

static void spq_w4_sum_all(const uint32_t *const *list, uint32_t cnt, uint32_t blocks,
                           uint32_t *L)
{
    uint32_t b0;
    for (b0 = 0; b0 < blocks; b0 += 4u, L += 16) {
        uint32_t nb = blocks - b0 < 4u ? blocks - b0 : 4u;
        if (nb == 4u) {
            spq_w4_sum4(list, cnt, b0, L);
        } else if (nb == 3u) {
            spq_w4_sum3(list, cnt, b0, L);
        } else if (nb == 2u) {
            spq_w4_sum2(list, cnt, b0, L);
        } else {
            spq_w4_sum1(list, cnt, b0, L);
        }
    }
}

/* List the set input channels of input row iy (refs and counts of the ring row, from its
 * column `padding` on). */
static void spq_w4_list_row(const spq_layer_t *l, const uint32_t *in, uint32_t iy,
                            spq_w4_ref_t *refs, uint8_t *counts)
{
    uint32_t C = l->in_c, W = l->in_w, x;
    uint32_t cmask = C < 32u ? ((uint32_t)1 << C) - 1u : 0xFFFFFFFFu;
    uint32_t cs = (uint32_t)l->kernel * l->kernel * l->weight_row_bytes;
    uint32_t q = iy * W * C;
    const uint8_t *wxb = (const uint8_t *)l->weights_x;
    for (x = 0; x < W; x++, q += C, refs += C) {
        /* 32 % C == 0: the channels of a position never straddle two words */
        uint32_t m = (32u % C == 0u) ? (in[q >> 5] >> (q & 31u)) & cmask : spq_bits_get(in, q, C);
        uint32_t n = 0;
        while (m != 0u) {
            refs[n++] = SPQ_W4_REF(wxb, SPQ_CTZ(m) * cs + SPQ_W4_REF_BIAS);
            m &= m - 1u;
        }
        counts[x] = (uint8_t)n;
    }
}

void spq_conv_w4(spq_job_t *job, spq_w4_row_fn_t row_fn)
{
    const spq_layer_t *l = job->l;
    spq_w4_row_t r;
    uint32_t built[SPQ_W4_MAX_K]; /* ring: input row + 1 held by each slot (0: none) */
    uint32_t C = l->in_c, H = l->in_h, k = l->kernel, s = l->stride, p = l->padding;
    uint32_t oc = l->out_c, rw = l->in_w + 2u * p, j, rows = 0;
    spq_w4_ref_t *refs = (spq_w4_ref_t *)(void *)((uint32_t *)job->acc + oc / 2u);
    uint8_t *counts = (uint8_t *)(void *)(refs + (size_t)k * rw * C);
    memset(counts, 0, (size_t)(k + 1u) * rw); /* the pads and the empty row stay zero */
    r.l = l;
    r.acc = (uint32_t *)job->acc;
    r.mem = job->mem;
    r.out = job->out;
    r.pos = 0;
    r.fire = spq_fire_select(l);
    for (j = 0; j < k; j++) {
        built[j] = 0;
    }
    for (r.oy = 0; r.oy < l->out_h; r.oy++, r.pos += l->out_w) {
        int32_t iy0 = (int32_t)(r.oy * s) - (int32_t)p;
        for (j = 0; j < k; j++) {
            int32_t iy = iy0 + (int32_t)j;
            uint32_t slot = (uint32_t)iy % k;
            if (iy < 0 || iy >= (int32_t)H) {
                r.refs[j] = refs; /* never read: the counts are zero */
                r.counts[j] = counts + (size_t)k * rw;
                continue;
            }
            r.refs[j] = refs + (size_t)slot * rw * C;
            r.counts[j] = counts + (size_t)slot * rw;
            if (built[slot] != (uint32_t)iy + 1u) {
                spq_w4_list_row(l, (const uint32_t *)job->in, (uint32_t)iy,
                                refs + ((size_t)slot * rw + p) * C, counts + slot * rw + p);
                built[slot] = (uint32_t)iy + 1u;
            }
        }
        rows += row_fn(&r);
    }
    job->synops += rows * oc;
    job->spikes += spq_count_bits(job->out, oc * r.pos);
}

/* The running sums of one output position for 4 blocks of 8 channels: byte-lane sums of
 * the current chunk (e: even nibbles, t: x >> 4), and the 16-bit lane sums L in memory. */
typedef struct {
    uint32_t e0, e1, e2, e3, t0, t1, t2, t3;
    uint32_t cnt, total;
    uint32_t *L;
} spq_w4_acc_t;

SPQ_TEMPLATE void spq_w4_flush4(spq_w4_acc_t *z)
{
    spq_w4_flush(z->L, z->e0, z->t0);
    spq_w4_flush(z->L + 4, z->e1, z->t1);
    spq_w4_flush(z->L + 8, z->e2, z->t2);
    spq_w4_flush(z->L + 12, z->e3, z->t3);
    z->e0 = z->e1 = z->e2 = z->e3 = z->t0 = z->t1 = z->t2 = z->t3 = 0;
    z->total += z->cnt;
    z->cnt = 0;
}

/* The n (<= SPQ_W4_CHUNK) listed rows at src, at byte offset off, into the 4-block sums. */
SPQ_TEMPLATE void spq_w4_sub4(spq_w4_acc_t *z, const spq_w4_ref_t *src, uint32_t n,
                            const uint8_t *wxb, int32_t off)
{
    const uint32_t M = 0x0F0F0F0Fu;
    uint32_t e0, e1, e2, e3, t0, t1, t2, t3, i;
    if (z->cnt + n > SPQ_W4_CHUNK) {
        spq_w4_flush4(z);
    }
    z->cnt += n;
    e0 = z->e0, e1 = z->e1, e2 = z->e2, e3 = z->e3;
    t0 = z->t0, t1 = z->t1, t2 = z->t2, t3 = z->t3;
    for (i = 0; i < n; i++) {
        const uint32_t *p = (const uint32_t *)(const void *)(SPQ_W4_ROW(wxb, src[i]) + off);
        uint32_t x0 = p[0], x1 = p[1], x2 = p[2], x3 = p[3];
        e0 += x0 & M;
        t0 += x0 >> 4;
        e1 += x1 & M;
        t1 += x1 >> 4;
        e2 += x2 & M;
        t2 += x2 >> 4;
        e3 += x3 & M;
        t3 += x3 >> 4;
    }
    z->e0 = e0, z->e1 = e1, z->e2 = e2, z->e3 = e3;
    z->t0 = t0, z->t1 = t1, z->t2 = t2, z->t3 = t3;
}

/* 32 channels, kernel 3, in_c <= SPQ_W4_CHUNK: the window of ring column x0 into the lane
 * sums L (16 words, zero on entry); returns the rows. */
static uint32_t spq_w4_window_k3(const spq_w4_row_t *r, uint32_t x0, uint32_t *L)
{
    const spq_layer_t *l = r->l;
    uint32_t C = l->in_c;
    const uint8_t *wxb = (const uint8_t *)l->weights_x;
    const spq_w4_ref_t *s0 = r->refs[0] + (size_t)x0 * C, *s1 = r->refs[1] + (size_t)x0 * C;
    const spq_w4_ref_t *s2 = r->refs[2] + (size_t)x0 * C;
    const uint8_t *c0 = r->counts[0] + x0, *c1 = r->counts[1] + x0, *c2 = r->counts[2] + x0;
    spq_w4_acc_t z;
    z.e0 = z.e1 = z.e2 = z.e3 = z.t0 = z.t1 = z.t2 = z.t3 = 0;
    z.cnt = z.total = 0;
    z.L = L;
    spq_w4_sub4(&z, s0, c0[0], wxb, -64);
    spq_w4_sub4(&z, s0 + C, c0[1], wxb, -48);
    spq_w4_sub4(&z, s0 + 2u * C, c0[2], wxb, -32);
    spq_w4_sub4(&z, s1, c1[0], wxb, -16);
    spq_w4_sub4(&z, s1 + C, c1[1], wxb, 0);
    spq_w4_sub4(&z, s1 + 2u * C, c1[2], wxb, 16);
    spq_w4_sub4(&z, s2, c2[0], wxb, 32);
    spq_w4_sub4(&z, s2 + C, c2[1], wxb, 48);
    spq_w4_sub4(&z, s2 + 2u * C, c2[2], wxb, 64);
    spq_w4_flush4(&z);
    return z.total;
}

uint32_t spq_w4_row_scalar(const spq_w4_row_t *r)
{
    const spq_layer_t *l = r->l;
    const uint32_t *list[SPQ_W4_FLAT];
    uint32_t init[SPQ_W4_MAX_OC / 2u];
    uint32_t lanes[SPQ_W4_MAX_OC / 2u];
    uint32_t *acc = r->acc;
    uint32_t C = l->in_c, k = l->kernel, s = l->stride, rb = l->weight_row_bytes;
    uint32_t oc = l->out_c, half = oc / 2u, blocks = oc / 8u;
    const uint8_t *wxb = (const uint8_t *)l->weights_x;
    spq_fire_fn_t fire = r->fire;
    uint32_t words = oc * l->level_bits / 32u, rows = 0, ox, j, pos = r->pos;
    int k3 = k == 3u && oc == 32u && C <= SPQ_W4_CHUNK;
    for (j = 0; j < half; j++) { /* -base per channel as pair words (0 without fire) */
        init[j] = fire == NULL ? 0u
                               : (0u - (uint32_t)l->outcome_base[2u * j]) -
                                     ((uint32_t)l->outcome_base[2u * j + 1u] << 16);
    }
    (void)wxb;
    for (ox = 0; ox < l->out_w; ox++, pos++) {
        uint32_t cnt = 0, total = 0, ky, kx, x0 = ox * s; /* ring column of tap kx = 0 */
        memset(lanes, 0, 4u * half);
        if (k3) {
            total = spq_w4_window_k3(r, x0, lanes);
        } else {
            for (ky = 0; ky < k; ky++) {
                const spq_w4_ref_t *src = r->refs[ky] + (size_t)x0 * C;
                const uint8_t *cnts = r->counts[ky] + x0;
                int32_t off = (int32_t)(ky * k * rb) - (int32_t)SPQ_W4_REF_BIAS; /* tap (ky, 0) */
                for (kx = 0; kx < k; kx++, src += C, off += (int32_t)rb) {
                    uint32_t n = cnts[kx], i;
                    if (cnt + n > SPQ_W4_FLAT) {
                        spq_w4_sum_all(list, cnt, blocks, lanes);
                        total += cnt;
                        cnt = 0;
                    }
                    for (i = 0; i < n; i++) {
                        list[cnt++] =
                            (const uint32_t *)(const void *)(SPQ_W4_ROW(wxb, src[i]) + off);
                    }
                }
            }
            total += cnt;
            if (cnt != 0u) {
                spq_w4_sum_all(list, cnt, blocks, lanes);
            }
        }
        rows += total;
        for (j = 0; j < blocks; j++) { /* lane sums -> pair words, minus 8 per row */
            const uint32_t *L = lanes + 4u * j, *in0 = init + 4u * j;
            uint32_t bias = 8u * total * 0x10001u, *a = acc + 4u * j;
            a[0] = in0[0] + (L[0] & 0xFFFFu) + (L[2] << 16) - bias;
            a[1] = in0[1] + (L[1] & 0xFFFFu) + (L[3] << 16) - bias;
            a[2] = in0[2] + (L[0] >> 16) + (L[2] & 0xFFFF0000u) - bias;
            a[3] = in0[3] + (L[1] >> 16) + (L[3] & 0xFFFF0000u) - bias;
        }
        if (fire != NULL) {
            fire(acc, l->outcome, r->mem + pos * words, r->out, pos * oc, oc);
        } else {
            spq_neuron_pos(l, acc, 16u, r->mem, pos, r->out);
        }
    }
    return rows;
}

#else
typedef int spq_conv_w4_unused; /* ISO C: a translation unit is not empty */
#endif
