/* SPDX-License-Identifier: MIT */
/* spq_conv_w4: spike-input conv layers with 4-bit weights and int16 accumulators that carry
 * spq-export's offset-binary weight bytes (`weights_x`, every weight w + 8 in 0 .. 15);
 * portable C (with the halfword steps of spq_swar.h), the fast path of cores without
 * Helium.
 *
 * Output stationary and fused with the neuron update. Per time step the set input channels
 * of every input position are listed once (references to their weight rows, in a ring of
 * `kernel` input rows in the arena scratch). For each output position the weight rows of
 * the set inputs of its window are added bytewise, four channels a word, up to
 * SPQ_W4_CHUNK rows at a time (17 * 15 = 255: no byte carries), and the byte sums widened
 * into halfword lane sums L in "L order": for the channels 4j .. 4j + 3 of word j, L[2j]
 * holds channels 4j, 4j + 2 (bytes 0 and 2) and L[2j + 1] channels 4j + 1, 4j + 3 (bytes 1
 * and 3). L starts at 32768 - outcome_base per channel, so a lane ends as
 * acc - base + 8 rows + 32768, in 0 .. 65535 by the rule of spq_w4_lanes_ok (no carry ever
 * crosses lanes); minus 8 rows and XOR 0x8000 it is the int16 acc - base. Clamped to the
 * table window these are the columns of the fire function (spq_fire.h); without a table the
 * accumulators go to spq_neuron_pos. Stack: SPQ_W4_FLAT pointers and 3 x SPQ_W4_MAX_OC / 2
 * words. */
#include "spq_conv.h"
#include "spq_swar.h"

uint32_t spq_w4_list_bytes(uint32_t in_c, uint32_t in_w, uint32_t k, uint32_t p)
{
    uint32_t w = in_w + 2u * p; /* ring columns */
    return 4u * k * w * in_c + 4u * (((k + 1u) * w + 3u) / 4u);
}

SPQ_COLD
int spq_w4_shape_ok(const spq_layer_t *l)
{
    uint64_t bound = spq_acc_bound(l);
    return l->type == SPQ_LAYER_CONV && l->in_kind == SPQ_IN_SPIKE && l->weight_bits == 4u &&
           l->acc_bits == 16u && l->out_c % 8u == 0u && l->out_c <= SPQ_W4_MAX_OC &&
           l->in_c <= SPQ_W4_MAX_IN_C && l->kernel <= SPQ_W4_MAX_K &&
           spq_w4_list_bytes(l->in_c, l->in_w, l->kernel, l->padding) <= SPQ_W4_MAX_LIST_BYTES &&
           !spq_lut_applies(l, bound);
}

#if SPQ_HAVE_MVE || !defined(__arm__)
int spq_w4_nib_shape(const spq_layer_t *l)
{
    return l->kernel == 3u && l->stride == 1u && l->in_c == 16u && l->out_c == 32u &&
           spq_w4_shape_ok(l);
}

/* The nibble sums after the n weight bytes x (SPQ_W4_NIB_BYTES): row (g, v) tap t the sum of
 * the rows of channels 4 g + j, j a set bit of v. Checked where a kernel reads them (the
 * Helium build) and on the host; the other cores' builds leave them unread and unchecked. */
SPQ_COLD
static int spq_w4_nib_valid(const uint8_t *x, size_t n)
{
    const uint8_t *s = x + n;
    uint32_t g, v, t, j, sum;
    for (g = 0; g < 4u; g++) {
        for (v = 0; v < 16u; v++) {
            for (t = 0; t < 9u * 32u; t++, s++) {
                for (sum = 0, j = 0; j < 4u; j++) {
                    sum += ((v >> j) & 1u) * x[(4u * g + j) * 9u * 32u + t];
                }
                if (*s != sum) {
                    return 0;
                }
            }
        }
    }
    return 1;
}
#endif

SPQ_COLD
int spq_w4_valid(const spq_layer_t *l)
{
    size_t i, n;
    const uint8_t *x = (const uint8_t *)l->weights_x;
    if (x == NULL) {
        return 1;
    }
    if (!spq_w4_shape_ok(l)) {
        return 0;
    }
    n = (size_t)l->in_c * l->kernel * l->kernel * l->out_c; /* weights: two per byte */
    for (i = 0; i < n; i++) {
        uint32_t nib = (uint32_t)(l->weights[i / 2u] >> (4u * (i & 1u))) & 15u;
        if (x[i] != (uint8_t)((nib ^ 8u))) {
            return 0;
        }
    }
#if SPQ_HAVE_MVE || !defined(__arm__)
    if (spq_w4_nib_shape(l) && (l->weights_x_bytes < n + SPQ_W4_NIB_BYTES ||
                                !spq_w4_nib_valid(x, n))) {
        return 0; /* the nibble sums follow the weights */
    }
#endif
    return 1;
}

SPQ_SIZE
int spq_w4_lanes_ok(const spq_layer_t *l)
{
    int64_t bound = (int64_t)spq_acc_bound(l);
    int64_t rows8 = 8 * (int64_t)l->in_c * l->kernel * l->kernel;
    uint32_t c;
    if (l->outcome == NULL) {
        return bound + rows8 <= 32767;
    }
    for (c = 0; c < l->out_c; c++) {
        int64_t base = l->outcome_base[c];
        if ((base < 0 ? -base : base) + bound + rows8 > 32767) {
            return 0;
        }
    }
    return 1;
}

#if SPQ_FAST

#define SPQ_W4_CHUNK 17u
#define SPQ_W4_FLAT (4u * SPQ_W4_CHUNK)

/* Byte-lane sums of one word of 4 channels into their two L words. */
SPQ_INLINE void spq_w4_widen(uint32_t *L, uint32_t a)
{
    L[0] = spq_add_b02(L[0], a);
    L[1] = spq_add_b13(L[1], a);
}

/* Sum the listed rows (from word w0 on, nw = 1..8 words of 4 channels) into their L words
 * (2 nw), SPQ_W4_CHUNK rows at a time. */
SPQ_TEMPLATE void spq_w4_sum(const uint32_t *const *list, uint32_t cnt, uint32_t w0,
                             uint32_t *L, uint32_t nw)
{
    const uint32_t *const *end = list + cnt;
    while (list != end) {
        uint32_t a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, j;
        const uint32_t *const *q =
            (uint32_t)(end - list) > SPQ_W4_CHUNK ? list + SPQ_W4_CHUNK : end;
        do {
            const uint32_t *p = *list++ + w0;
            for (j = 0; j < nw; j++) {
                a[j] += p[j];
            }
        } while (list != q);
        for (j = 0; j < nw; j++) {
            spq_w4_widen(L + 2u * j, a[j]);
        }
    }
}

SPQ_NOINLINE static void spq_w4_sum2(const uint32_t *const *list, uint32_t cnt, uint32_t w0,
                                     uint32_t *L)
{
    spq_w4_sum(list, cnt, w0, L, 2u);
}

SPQ_NOINLINE static void spq_w4_sum4(const uint32_t *const *list, uint32_t cnt, uint32_t w0,
                                     uint32_t *L)
{
    spq_w4_sum(list, cnt, w0, L, 4u);
}

SPQ_NOINLINE static void spq_w4_sum6(const uint32_t *const *list, uint32_t cnt, uint32_t w0,
                                     uint32_t *L)
{
    spq_w4_sum(list, cnt, w0, L, 6u);
}

SPQ_NOINLINE static void spq_w4_sum8(const uint32_t *const *list, uint32_t cnt, uint32_t w0,
                                     uint32_t *L)
{
    spq_w4_sum(list, cnt, w0, L, 8u);
}

/* The listed rows into all out_c channels' L words, 32 channels (8 words) at a time. */
static void spq_w4_sum_all(const uint32_t *const *list, uint32_t cnt, uint32_t words,
                           uint32_t *L)
{
    uint32_t w0;
    for (w0 = 0; w0 < words; w0 += 8u, L += 16) {
        uint32_t nw = words - w0 < 8u ? words - w0 : 8u;
        if (nw == 8u) {
            spq_w4_sum8(list, cnt, w0, L);
        } else if (nw == 6u) {
            spq_w4_sum6(list, cnt, w0, L);
        } else if (nw == 4u) {
            spq_w4_sum4(list, cnt, w0, L);
        } else {
            spq_w4_sum2(list, cnt, w0, L);
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
    uint32_t cs = (uint32_t)l->kernel * l->kernel * l->out_c; /* bytes per input channel */
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

SPQ_SIZE
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
    r.in_c = C;
    r.wxb = (const uint8_t *)l->weights_x;
    for (j = 0; j < oc / 2u; j++) { /* 32768 - base per lane, in L order */
        uint32_t c = 4u * (j / 2u) + (j & 1u); /* low lane; the high one is c + 2 */
        uint32_t b0 = r.fire == NULL ? 0u : (uint32_t)l->outcome_base[c];
        uint32_t b1 = r.fire == NULL ? 0u : (uint32_t)l->outcome_base[c + 2u];
        r.init[j] = ((0x8000u - b0) & 0xFFFFu) | ((0x8000u - b1) << 16);
    }
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

/* L-order int16 lanes to the pair words of spq_neuron_pos (spq_rows.h: channels 2i, 2i + 1
 * as a_2i + a_2i+1 * 2^16). */
void spq_w4_natural(const uint32_t *L, uint32_t *acc, uint32_t h)
{
    uint32_t j;
    for (j = 0; j < h; j += 2u) {
        acc[j] = (uint32_t)spq_sext16(L[j]) + (L[j + 1u] << 16);
        acc[j + 1u] = (uint32_t)spq_sext16(L[j] >> 16) + (L[j + 1u] & 0xFFFF0000u);
    }
}

/* The running sums of one output position for 32 channels: the byte-lane sums a[0..7] of
 * the current chunk (cnt rows), and its L words: read from src (the initial words until the
 * first flush), written to L. */
typedef struct {
    uint32_t a[8];
    uint32_t cnt, total;
    const uint32_t *src;
    uint32_t *L;
} spq_w4_acc_t;

#if !SPQ_HAVE_THUMB2 /* spq_conv_w4_thumb2.c has these rows in assembly */
/* Word j of the byte sums into its two L words (z->src to z->L). */
SPQ_TEMPLATE void spq_w4_flush1(spq_w4_acc_t *z, uint32_t j)
{
    z->L[2u * j] = spq_add_b02(z->src[2u * j], z->a[j]);
    z->L[2u * j + 1u] = spq_add_b13(z->src[2u * j + 1u], z->a[j]);
    z->a[j] = 0;
}

/* (Unrolled by hand so that a[] stays in registers.) */
SPQ_TEMPLATE void spq_w4_flush8(spq_w4_acc_t *z)
{
    spq_w4_flush1(z, 0u);
    spq_w4_flush1(z, 1u);
    spq_w4_flush1(z, 2u);
    spq_w4_flush1(z, 3u);
    spq_w4_flush1(z, 4u);
    spq_w4_flush1(z, 5u);
    spq_w4_flush1(z, 6u);
    spq_w4_flush1(z, 7u);
    z->src = z->L;
    z->total += z->cnt;
    z->cnt = 0;
}

/* Tap (ky, kx) of the window whose tap 0 is ring column x0: its listed rows, at byte offset
 * off, into the sums. */
SPQ_TEMPLATE void spq_w4_tap(spq_w4_acc_t *z, const spq_w4_row_t *r, uint32_t ky, uint32_t col,
                             int32_t off)
{
    uint32_t n = r->counts[ky][col], i;
    const spq_w4_ref_t *src;
    if (n == 0u) {
        return;
    }
    src = r->refs[ky] + (size_t)col * r->in_c;
    if (z->cnt + n > SPQ_W4_CHUNK) {
        spq_w4_flush8(z);
    }
    z->cnt += n;
    for (i = 0; i < n; i++) {
        const uint32_t *p =
            (const uint32_t *)(const void *)(SPQ_W4_ROW(r->wxb, src[i]) + off);
        z->a[0] += p[0];
        z->a[1] += p[1];
        z->a[2] += p[2];
        z->a[3] += p[3];
        z->a[4] += p[4];
        z->a[5] += p[5];
        z->a[6] += p[6];
        z->a[7] += p[7];
    }
}

/* The last chunk of a 32-channel position into its L words as int16 lanes acc - base;
 * returns the rows. */
SPQ_TEMPLATE void spq_w4_final1(spq_w4_acc_t *z, uint32_t j, uint32_t rows)
{
    z->L[2u * j] = spq_unbias16(spq_add_b02(z->src[2u * j], z->a[j]), rows);
    z->L[2u * j + 1u] = spq_unbias16(spq_add_b13(z->src[2u * j + 1u], z->a[j]), rows);
}

SPQ_TEMPLATE uint32_t spq_w4_final8(spq_w4_acc_t *z)
{
    uint32_t rows = z->total + z->cnt;
    spq_w4_final1(z, 0u, rows);
    spq_w4_final1(z, 1u, rows);
    spq_w4_final1(z, 2u, rows);
    spq_w4_final1(z, 3u, rows);
    spq_w4_final1(z, 4u, rows);
    spq_w4_final1(z, 5u, rows);
    spq_w4_final1(z, 6u, rows);
    spq_w4_final1(z, 7u, rows);
    return rows;
}

/* 32 channels, kernel 3, in_c <= SPQ_W4_CHUNK: the window of ring column x0 from the initial
 * L words init into L as int16 lanes acc - base; returns the rows. Tap (ky, kx) is at
 * (3 ky + kx) * 32 - SPQ_W4_REF_BIAS bytes from a reference: -128 .. 128, load
 * immediates. */
static uint32_t spq_w4_window_k3(const spq_w4_row_t *r, uint32_t x0, const uint32_t *init,
                                 uint32_t *L)
{
    spq_w4_acc_t z;
    z.a[0] = z.a[1] = z.a[2] = z.a[3] = z.a[4] = z.a[5] = z.a[6] = z.a[7] = 0;
    z.cnt = z.total = 0;
    z.src = init;
    z.L = L;
    spq_w4_tap(&z, r, 0u, x0, -128);
    spq_w4_tap(&z, r, 0u, x0 + 1u, -96);
    spq_w4_tap(&z, r, 0u, x0 + 2u, -64);
    spq_w4_tap(&z, r, 1u, x0, -32);
    spq_w4_tap(&z, r, 1u, x0 + 1u, 0);
    spq_w4_tap(&z, r, 1u, x0 + 2u, 32);
    spq_w4_tap(&z, r, 2u, x0, 64);
    spq_w4_tap(&z, r, 2u, x0 + 1u, 96);
    spq_w4_tap(&z, r, 2u, x0 + 2u, 128);
    return spq_w4_final8(&z);
}

/* The out_w positions of a row, kernel 3 and 32 channels. */
static uint32_t spq_w4_row_k3(const spq_w4_row_t *r, const uint32_t *init)
{
    const spq_layer_t *l = r->l;
    uint32_t L[16], rows = 0, ox, pos = r->pos, words = 32u * l->level_bits / 32u;
    for (ox = 0; ox < l->out_w; ox++, pos++) {
        rows += spq_w4_window_k3(r, ox * l->stride, init, L);
        if (r->fire != NULL) {
            r->fire(L, l->outcome, r->mem + pos * words, r->out, pos * 32u, 32u);
        } else {
            spq_w4_natural(L, r->acc, 16u);
            spq_neuron_pos(l, r->acc, 16u, r->mem, pos, r->out);
        }
    }
    return rows;
}

#endif

/* The window of ring column x0, any shape: rows listed SPQ_W4_FLAT at a time. */
static uint32_t spq_w4_window(const spq_w4_row_t *r, uint32_t x0, uint32_t *L)
{
    const spq_layer_t *l = r->l;
    const uint32_t *list[SPQ_W4_FLAT];
    uint32_t C = l->in_c, k = l->kernel, oc = l->out_c, cnt = 0, total = 0, ky, kx;
    const uint8_t *wxb = (const uint8_t *)l->weights_x;
    for (ky = 0; ky < k; ky++) {
        const spq_w4_ref_t *src = r->refs[ky] + (size_t)x0 * C;
        const uint8_t *cnts = r->counts[ky] + x0;
        int32_t off = (int32_t)(ky * k * oc) - (int32_t)SPQ_W4_REF_BIAS; /* tap (ky, 0) */
        for (kx = 0; kx < k; kx++, src += C, off += (int32_t)oc) {
            uint32_t n = cnts[kx], i;
            if (cnt + n > SPQ_W4_FLAT) {
                spq_w4_sum_all(list, cnt, oc / 4u, L);
                total += cnt;
                cnt = 0;
            }
            for (i = 0; i < n; i++) {
                list[cnt++] = (const uint32_t *)(const void *)(SPQ_W4_ROW(wxb, src[i]) + off);
            }
        }
    }
    if (cnt != 0u) {
        spq_w4_sum_all(list, cnt, oc / 4u, L);
    }
    return total + cnt;
}

/* The general row: any out_c (a multiple of 8) and kernel. */
static uint32_t spq_w4_row_any(const spq_w4_row_t *r, const uint32_t *init)
{
    const spq_layer_t *l = r->l;
    uint32_t L[SPQ_W4_MAX_OC / 2u];
    uint32_t oc = l->out_c, h = oc / 2u, words = oc * l->level_bits / 32u, rows = 0, ox, j;
    uint32_t pos = r->pos;
    for (ox = 0; ox < l->out_w; ox++, pos++) {
        uint32_t t;
        for (j = 0; j < h; j++) {
            L[j] = init[j];
        }
        t = spq_w4_window(r, ox * l->stride, L);
        rows += t;
        for (j = 0; j < h; j++) {
            L[j] = spq_unbias16(L[j], t);
        }
        if (r->fire != NULL) {
            r->fire(L, l->outcome, r->mem + pos * words, r->out, pos * oc, oc);
        } else {
            spq_w4_natural(L, r->acc, h);
            spq_neuron_pos(l, r->acc, 16u, r->mem, pos, r->out);
        }
    }
    return rows;
}

uint32_t spq_w4_row_scalar(const spq_w4_row_t *r)
{
#if !SPQ_HAVE_THUMB2
    const spq_layer_t *l = r->l;
    if (l->kernel == 3u && l->out_c == 32u && l->in_c <= SPQ_W4_CHUNK) {
        return spq_w4_row_k3(r, r->init);
    }
#endif
    return spq_w4_row_any(r, r->init);
}

#else
typedef int spq_conv_w4_unused; /* ISO C: a translation unit is not empty */
#endif
