/* SPDX-License-Identifier: MIT */
/* spq_conv_lut: spike-input conv layers with a window-row table (spq-export's `lut`: few
 * input bits per kernel row, accumulator bound <= 127, e.g. a first layer on 2-channel
 * events) and a full-range outcome table (outcome_bits 8, outcome_base -bound); portable C.
 *
 * For output position (oy, ox) and kernel row ky the in_c * kernel input bits of the window
 * row are one index v (position-major: bit kx * in_c + ci); the table row lut[ky][v] holds
 * the out_c weight sums of those inputs plus in_c * kernel * qmax, one byte per channel, so
 * the kernel rows of the window add up bytewise, four channels per 32-bit add, to acc +
 * bound in 0 .. 254: exactly the outcome table's column. The indices v of an input row are
 * computed once per time step for every output column (a ring of `kernel` rows, on the
 * stack: SPQ_LUT_RING_K x SPQ_LUT_RING_W halfwords), and the position's neurons are updated
 * from the byte lanes by spq_fire8 (spq_fire.h). Synops are counted as the reference counts
 * them: out_c per set input of the window. */
#include "spq_conv.h"
#include "spq_fire.h"

#if SPQ_FAST


spq_fire8_fn_t spq_conv_lut_fire(const spq_layer_t *l)
{
    if (l->lut == NULL || l->kernel > SPQ_LUT_RING_K || l->out_w > SPQ_LUT_RING_W) {
        return NULL;
    }
    return spq_fire8_select(l);
}

/* The g = in_c * k window-row bits of input row iy for the output column whose window starts
 * at input column ix0 (may be negative: zero padding). */
SPQ_INLINE uint32_t spq_lut_index(const uint32_t *in, uint32_t iy, int32_t ix0, uint32_t W,
                                  uint32_t C, uint32_t k)
{
    int32_t x0 = ix0 < 0 ? 0 : ix0;
    int32_t x1 = ix0 + (int32_t)k > (int32_t)W ? (int32_t)W : ix0 + (int32_t)k;
    uint32_t v;
    if (x1 <= x0) {
        return 0u;
    }
    v = spq_bits_get(in, (iy * W + (uint32_t)x0) * C, (uint32_t)(x1 - x0) * C);
    return v << ((uint32_t)(x0 - ix0) * C);
}

/* The table word offsets (v * out_c / 4) of input row iy for every output column; returns
 * the number of set inputs over all of them (the row's synops / out_c). Columns whose window
 * lies inside the row take its bits straight from the row word (in_w * in_c <= 32). */
static uint32_t spq_lut_row(const spq_layer_t *l, const uint32_t *in, uint32_t iy,
                            uint16_t *vix)
{
    uint32_t wpr = l->out_c / 4u, C = l->in_c, W = l->in_w, k = l->kernel, s = l->stride;
    uint32_t p = l->padding, ow = l->out_w, g = C * k, gmask = ((uint32_t)1 << g) - 1u;
    uint32_t ox = 0, n = 0, a, b;
    /* interior columns a <= ox < b: ox*s >= p and ox*s - p + k <= W */
    a = (p + s - 1u) / s;
    b = W + p >= k ? (W + p - k) / s + 1u : 0u;
    if (b > ow) {
        b = ow;
    }
    if (W * C > 32u || a > b) {
        a = b = ow; /* no fast interior: every column the general way */
    }
    for (;;) { /* columns before a, the interior, then the columns from b on */
        for (; ox < a; ox++) {
            uint32_t v = spq_lut_index(in, iy, (int32_t)(ox * s) - (int32_t)p, W, C, k);
            vix[ox] = (uint16_t)(v * wpr);
            n += spq_popcount8[v];
        }
        if (ox == ow) {
            return n;
        }
        if (ox < b) {
            uint32_t row = spq_bits_get(in, iy * W * C, W * C), sh = (ox * s - p) * C;
            for (; ox < b; ox++, sh += s * C) {
                uint32_t v = (row >> sh) & gmask; /* sh < 32: the window starts inside */
                vix[ox] = (uint16_t)(v * wpr);
                n += spq_popcount8[v];
            }
        }
        a = ow;
    }
}

/* Byte lanes (acc + bound) of one position: the sums of the k table rows at tk[ky] +
 * vk[ky][ox], wpr words each. */
static void spq_lut_sum(const uint32_t *const *tk, const uint16_t *const *vk, uint32_t ox,
                        uint32_t *lanes, uint32_t k, uint32_t wpr)
{
    uint32_t ky, j;
    const uint32_t *e = tk[0] + vk[0][ox];
    for (j = 0; j < wpr; j++) {
        lanes[j] = e[j];
    }
    for (ky = 1; ky < k; ky++) {
        e = tk[ky] + vk[ky][ox];
        for (j = 0; j < wpr; j++) {
            lanes[j] += e[j];
        }
    }
}

/* The same for 3 kernel rows and 4 words (16 channels), in registers. */
static void spq_lut_sum_k3w4(const uint32_t *const *tk, const uint16_t *const *vk, uint32_t ox,
                             uint32_t *lanes)
{
    const uint32_t *a = tk[0] + vk[0][ox], *b = tk[1] + vk[1][ox], *c = tk[2] + vk[2][ox];
    lanes[0] = a[0] + b[0] + c[0];
    lanes[1] = a[1] + b[1] + c[1];
    lanes[2] = a[2] + b[2] + c[2];
    lanes[3] = a[3] + b[3] + c[3];
}

SPQ_SIZE
uint32_t spq_lut_row_scalar(const spq_lut_row_t *r)
{
    const spq_layer_t *l = r->l;
    uint32_t lanes[SPQ_LUT_CHUNK_WORDS]; /* the lanes of a run of positions */
    uint32_t oc = l->out_c, wpr = oc / 4u, w = l->out_w, run = SPQ_LUT_CHUNK_WORDS / wpr;
    uint32_t ox = 0, pos = r->pos, words = oc * l->level_bits / 32u;
    uint32_t *mem = r->mem;
    int k3w4 = l->kernel == 3u && wpr == 4u;
    do { /* out_w >= 1 */
        uint32_t n = w - ox < run ? w - ox : run, i;
        for (i = 0; i < n; i++) {
            if (k3w4) {
                spq_lut_sum_k3w4(r->tk, r->vk, ox + i, lanes + 4u * i);
            } else {
                spq_lut_sum(r->tk, r->vk, ox + i, lanes + wpr * i, l->kernel, wpr);
            }
        }
        r->fire(lanes, l->outcome, mem, r->out, pos * oc, oc, n);
        ox += n;
        pos += n;
        mem += n * words;
    } while (ox < w);
    return spq_count_range(r->out, r->pos * oc, w * oc); /* the row's spikes */
}

static const uint16_t spq_lut_zeros[SPQ_LUT_RING_W]; /* v = 0 for rows outside the map */

SPQ_SIZE
void spq_conv_lut(spq_job_t *job, spq_fire8_fn_t fire, spq_lut_row_fn_t row_fn)
{
    const spq_layer_t *l = job->l;
    const uint32_t *in = (const uint32_t *)job->in;
    uint16_t vix[SPQ_LUT_RING_K][SPQ_LUT_RING_W];
    uint32_t built[SPQ_LUT_RING_K], nset[SPQ_LUT_RING_K];
    spq_lut_row_t r;
    uint32_t H = l->in_h, k = l->kernel, s = l->stride, p = l->padding, oc = l->out_c;
    uint32_t words = oc * l->level_bits / 32u, krow = (oc / 4u) << l->lut_bits;
    uint32_t oy, j, rows = 0;
    r.l = l;
    r.out = job->out;
    r.fire = fire;
    r.pos = 0;
    for (j = 0; j < k; j++) {
        built[j] = 0;
    }
    for (oy = 0; oy < l->out_h; oy++, r.pos += l->out_w) {
        int32_t iy0 = (int32_t)(oy * s) - (int32_t)p;
        uint32_t ky;
        for (ky = 0; ky < k; ky++) { /* each kernel row's table row and column indices */
            int32_t iy = iy0 + (int32_t)ky;
            uint32_t slot = (uint32_t)iy % k;
            r.tk[ky] = l->lut + ky * krow;
            r.vk[ky] = spq_lut_zeros; /* outside the map: v = 0, the bias entry */
            if (iy < 0 || iy >= (int32_t)H) {
                continue;
            }
            if (built[slot] != (uint32_t)iy + 1u) {
                nset[slot] = spq_lut_row(l, in, (uint32_t)iy, vix[slot]);
                built[slot] = (uint32_t)iy + 1u;
            }
            rows += nset[slot];
            r.vk[ky] = vix[slot];
        }
        r.mem = job->mem + r.pos * words;
        job->spikes += row_fn(&r);
    }
    job->synops += rows * oc;
}

#else
typedef int spq_conv_lut_unused; /* ISO C: a translation unit is not empty */
#endif
