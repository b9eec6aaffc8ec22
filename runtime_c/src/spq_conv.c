/* SPDX-License-Identifier: MIT */
/* Conv2d + neuron layers, output stationary: for each output position the accumulators of
 * its out_c channels are summed from the weight rows of the non-zero inputs of its receptive
 * field (the rows of (ci, ky, kx) are stored contiguously, [ci][ky][kx][co]), then its
 * neurons are updated at once. Work per position is proportional to the number of non-zero
 * inputs in its window; no layer-wide accumulator buffer is needed.
 *
 * This file holds the reference kernels (any shape, weight width, accumulator width and
 * input kind) and the choice of a fast kernel, made here per layer from its shape and the
 * core's features (spq_target.h). */
#include "spq_conv.h"

/* Kernel taps t of output position o along one axis whose input o*s - p + t lies in
 * [0, n_in): t0 <= t < t1 (empty when t0 >= t1). */
SPQ_INLINE void spq_span(uint32_t o, uint32_t s, uint32_t p, uint32_t k, uint32_t n_in,
                         uint32_t *t0, uint32_t *t1)
{
    int32_t i0 = (int32_t)(o * s) - (int32_t)p;
    *t0 = i0 < 0 ? (uint32_t)(-i0) : 0u;
    *t1 = i0 + (int32_t)k > (int32_t)n_in ? (uint32_t)((int32_t)n_in - i0) : k;
}

/* Add the weight rows of the non-zero inputs in the window of output (oy, ox) into acc;
 * returns the number of rows added. spike: in is a position-major spike map; else uint8
 * counts (position-major) or, with pixels set, the caller's (C, H, W) image. */
static uint32_t spq_conv_window(const spq_layer_t *l, const void *in, int kind, uint32_t oy,
                                uint32_t ox, void *acc, spq_row_fn_t row)
{
    uint32_t C = l->in_c, H = l->in_h, W = l->in_w, k = l->kernel, s = l->stride;
    uint32_t p = l->padding, rb = l->weight_row_bytes, oc = l->out_c, rows = 0;
    uint32_t y0, y1, x0, x1, ky, kx, ci;
    spq_span(oy, s, p, k, H, &y0, &y1);
    spq_span(ox, s, p, k, W, &x0, &x1);
    for (ky = y0; ky < y1; ky++) {
        uint32_t iy = oy * s + ky - p;
        for (kx = x0; kx < x1; kx++) {
            uint32_t ix = ox * s + kx - p, q = (iy * W + ix) * C;
            const uint8_t *w = l->weights + ((size_t)ky * k + kx) * rb;
            size_t wstep = (size_t)k * k * rb; /* next input channel */
            if (kind == SPQ_IN_SPIKE) {
                uint32_t c0;
                for (c0 = 0; c0 < C; c0 += 32u) {
                    uint32_t m = spq_bits_get((const uint32_t *)in, q + c0,
                                              C - c0 < 32u ? C - c0 : 32u);
                    while (m != 0u) {
                        ci = c0 + SPQ_CTZ(m);
                        m &= m - 1u;
                        row(acc, w + ci * wstep, oc, 1);
                        rows++;
                    }
                }
            } else {
                const uint8_t *v = (const uint8_t *)in;
                for (ci = 0; ci < C; ci++) {
                    uint32_t x = kind == SPQ_IN_U8 ? v[(ci * H + iy) * W + ix] : v[q + ci];
                    if (x != 0u) {
                        row(acc, w + ci * wstep, oc, (int32_t)x);
                        rows++;
                    }
                }
            }
        }
    }
    return rows;
}

/* The reference conv layer step: spike or count input. */
void spq_conv_ref(spq_job_t *job)
{
    const spq_layer_t *l = job->l;
    uint32_t acc_bits = l->acc_bits, oc = l->out_c, oy, ox, pos = 0, rows = 0;
    uint32_t pos_bytes = spq_acc_pos_bytes(oc, acc_bits);
    spq_row_fn_t row = spq_row_select(l->weight_bits, acc_bits, l->in_kind != SPQ_IN_SPIKE);
    for (oy = 0; oy < l->out_h; oy++) {
        for (ox = 0; ox < l->out_w; ox++, pos++) {
            memset(job->acc, 0, pos_bytes);
            rows += spq_conv_window(l, job->in, l->in_kind, oy, ox, job->acc, row);
            job->spikes += spq_neuron_pos(l, job->acc, acc_bits, job->mem, pos, job->out);
        }
    }
    job->synops += rows * oc;
}

void spq_conv_step(spq_job_t *job)
{
    spq_conv_ref(job);
}

uint32_t spq_static_currents(const spq_layer_t *l, const uint8_t *pixels, int32_t *cache)
{
    uint32_t oc = l->out_c, oy, ox, c, rows = 0;
    uint32_t n_pos = (uint32_t)l->out_h * l->out_w;
    spq_row_fn_t row = spq_row_select(l->weight_bits, 32u, 1);
    int32_t *a = cache;
    memset(cache, 0, 4u * oc * n_pos);
    if (l->type == SPQ_LAYER_CONV) {
        for (oy = 0; oy < l->out_h; oy++) {
            for (ox = 0; ox < l->out_w; ox++, a += oc) {
                rows += spq_conv_window(l, pixels, SPQ_IN_U8, oy, ox, a, row);
            }
        }
    } else {
        rows = spq_linear_gather(l, pixels, SPQ_IN_U8, 1u, cache, row);
    }
    for (a = cache; a < cache + (size_t)oc * n_pos; a += oc) {
        for (c = 0; c < oc; c++) {
            a[c] = spq_current(a[c], l->mult[c], (uint32_t)l->shift[c]);
        }
    }
    return rows * oc;
}

void spq_static_step(spq_job_t *job)
{
    const spq_layer_t *l = job->l;
    const int32_t *cur = (const int32_t *)job->in;
    uint32_t pos, n_pos = (uint32_t)l->out_h * l->out_w;
    for (pos = 0; pos < n_pos; pos++, cur += l->out_c) {
        job->spikes += spq_neuron_pos(l, cur, 0u, job->mem, pos, job->out);
    }
}
