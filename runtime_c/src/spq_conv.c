/* SPDX-License-Identifier: MIT */
/* Conv2d synapse kernels, input driven: every non-zero input element adds its packed weight
 * row (all out_c weights of one (ci, ky, kx)) into the accumulators of each output position
 * it reaches. Work is proportional to the number of non-zero inputs. */
#include "spq_rows.h"

/* Kernel taps t (0..k-1) with o*stride + t = pos + pad for some output 0 <= o < out_n. */
typedef struct {
    int32_t first, last; /* first/last valid tap, first > last if none */
} spq_taps_t;

static spq_taps_t spq_taps(int32_t pos_pad, int32_t k, int32_t stride, int32_t out_n)
{
    spq_taps_t r;
    int32_t lo = pos_pad - stride * (out_n - 1);
    if (lo < 0) {
        lo = 0;
    }
    if (stride > 1) {
        lo += (pos_pad - lo) % stride; /* pos_pad - lo >= 0 here */
    }
    r.first = lo;
    r.last = pos_pad < k - 1 ? pos_pad : k - 1;
    return r;
}

typedef struct {
    const spq_layer_t *l;
    spq_row_fn_t row_fn;
    uint8_t *acc;
    uint32_t pos_bytes; /* bytes of accumulators per output position */
    uint32_t rows;     /* rows added (synops = rows * out_c) */
} spq_conv_job_t;

/* Input element (ci, y, x) with value v: taps ty for its row are precomputed. */
SPQ_TEMPLATE void spq_conv_scatter(spq_conv_job_t *job, spq_row_fn_t row_fn, uint32_t ci,
                                   int32_t ty0, spq_taps_t ty, int32_t x, int32_t v)
{
    const spq_layer_t *l = job->l;
    int32_t k = l->kernel, s = l->stride;
    int32_t tx0 = x + l->padding;
    spq_taps_t tx = spq_taps(tx0, k, s, l->out_w);
    uint32_t rb = l->weight_row_bytes, oc = l->out_c, pos_bytes = job->pos_bytes;
    uint32_t nx, i, wstep = (uint32_t)s * rb;
    uint32_t ox0, oy;
    int32_t ky;
    if (tx.first > tx.last) {
        return;
    }
    /* taps kx = first, first + s, ... reach outputs ox0, ox0 - 1, ... */
    nx = (uint32_t)((tx.last - tx.first) / s) + 1u;
    ox0 = (uint32_t)((tx0 - tx.first) / s);
    oy = (uint32_t)((ty0 - ty.first) / s);
    for (ky = ty.first; ky <= ty.last; ky += s, oy--) {
        const uint8_t *w = l->weights +
                           (((size_t)ci * (uint32_t)k + (uint32_t)ky) * (uint32_t)k +
                            (uint32_t)tx.first) * rb;
        uint8_t *a = job->acc + ((size_t)oy * l->out_w + ox0) * pos_bytes;
        for (i = 0; i < nx; i++) {
            row_fn(a, w, oc, v);
            w += wstep;
            a -= pos_bytes;
        }
        job->rows += nx;
    }
}

/* Spike input: the nx rows of one kernel row ky go to one multi-row kernel call (its own
 * function, so that its loop keeps everything in registers): rows w, w + s*rb, ... into
 * positions a, a - pos, ... */
typedef void (*spq_rows_fn_t)(uint8_t *a, const uint8_t *w, uint32_t nrows, uint32_t pos_bytes,
                              uint32_t wstep, uint32_t n);

SPQ_TEMPLATE void spq_conv_scatter_rows(spq_conv_job_t *job, spq_rows_fn_t rows_fn, uint32_t ci,
                                        int32_t ty0, spq_taps_t ty, int32_t x)
{
    const spq_layer_t *l = job->l;
    int32_t k = l->kernel, s = l->stride;
    int32_t tx0 = x + l->padding;
    spq_taps_t tx = spq_taps(tx0, k, s, l->out_w);
    uint32_t rb = l->weight_row_bytes, oc = l->out_c, pos_bytes = job->pos_bytes;
    uint32_t nx, wstep = (uint32_t)s * rb;
    uint32_t ox0, oy;
    int32_t ky;
    if (tx.first > tx.last) {
        return;
    }
    nx = (uint32_t)((tx.last - tx.first) / s) + 1u;
    ox0 = (uint32_t)((tx0 - tx.first) / s);
    oy = (uint32_t)((ty0 - ty.first) / s);
    for (ky = ty.first; ky <= ty.last; ky += s, oy--) {
        const uint8_t *w = l->weights +
                           (((size_t)ci * (uint32_t)k + (uint32_t)ky) * (uint32_t)k +
                            (uint32_t)tx.first) * rb;
        rows_fn(job->acc + ((size_t)oy * l->out_w + ox0) * pos_bytes, w, nx, pos_bytes, wstep,
                oc);
        job->rows += nx;
    }
}

SPQ_TEMPLATE uint32_t spq_conv_spike_impl(const spq_layer_t *l, const uint32_t *in_bits,
                                          void *acc, uint32_t acc_bits, spq_rows_fn_t rows_fn)
{
    spq_conv_job_t job;
    uint32_t ci, y;
    uint32_t H = l->in_h, W = l->in_w;
    job.l = l;
    job.row_fn = NULL;
    job.acc = (uint8_t *)acc;
    job.pos_bytes = spq_acc_pos_bytes(l->out_c, acc_bits);
    job.rows = 0;
    for (ci = 0; ci < l->in_c; ci++) {
        for (y = 0; y < H; y++) {
            int32_t ty0 = (int32_t)y + l->padding;
            spq_taps_t ty = spq_taps(ty0, l->kernel, l->stride, l->out_h);
            uint32_t start = (ci * H + y) * W, end = start + W, b = start;
            if (ty.first > ty.last) {
                continue;
            }
            while (b < end) {
                uint32_t off = b & 31u;
                uint32_t word = in_bits[b >> 5] >> off;
                uint32_t avail = 32u - off;
                if (avail > end - b) {
                    avail = end - b;
                    word &= ((uint32_t)1 << avail) - 1u;
                }
                while (word != 0u) {
                    uint32_t t = SPQ_CTZ(word);
                    word &= word - 1u;
                    spq_conv_scatter_rows(&job, rows_fn, ci, ty0, ty, (int32_t)(b - start + t));
                }
                b += avail;
            }
        }
    }
    return job.rows * l->out_c;
}

#define SPQ_CONV_SPIKE(VARIANT, BITS)                                                    \
    SPQ_NOINLINE static void spq_rows_add_##VARIANT(uint8_t *a, const uint8_t *w, uint32_t nrows,       \
                                       uint32_t pos_bytes, uint32_t wstep, uint32_t n)    \
    {                                                                                    \
        do {                                                                             \
            spq_rowi_add_##VARIANT(a, w, n, 1);                                          \
            a -= pos_bytes;                                                              \
            w += wstep;                                                                  \
        } while (--nrows != 0u);                                                         \
    }                                                                                    \
    static uint32_t spq_conv_spike_##VARIANT(const spq_layer_t *l, const uint32_t *in_bits, \
                                             void *acc)                                   \
    {                                                                                    \
        return spq_conv_spike_impl(l, in_bits, acc, BITS, spq_rows_add_##VARIANT);       \
    }

SPQ_CONV_SPIKE(w2_a16, 16u)
SPQ_CONV_SPIKE(w4_a16, 16u)
SPQ_CONV_SPIKE(w8_a16, 16u)
SPQ_CONV_SPIKE(w2_a32, 32u)
SPQ_CONV_SPIKE(w4_a32, 32u)
SPQ_CONV_SPIKE(w8_a32, 32u)
SPQ_CONV_SPIKE(w2_a16_g, 16u)
SPQ_CONV_SPIKE(w4_a16_g, 16u)
SPQ_CONV_SPIKE(w8_a16_g, 16u)

uint32_t spq_conv_spike(const spq_layer_t *l, const uint32_t *in_bits, void *acc,
                        uint32_t acc_bits)
{
    if (acc_bits == 16u && spq_row_whole_words(l->out_c, l->weight_bits)) {
        return l->weight_bits == 2u   ? spq_conv_spike_w2_a16_g(l, in_bits, acc)
               : l->weight_bits == 4u ? spq_conv_spike_w4_a16_g(l, in_bits, acc)
                                      : spq_conv_spike_w8_a16_g(l, in_bits, acc);
    }
    if (acc_bits == 16u) {
        return l->weight_bits == 2u   ? spq_conv_spike_w2_a16(l, in_bits, acc)
               : l->weight_bits == 4u ? spq_conv_spike_w4_a16(l, in_bits, acc)
                                      : spq_conv_spike_w8_a16(l, in_bits, acc);
    }
    return l->weight_bits == 2u   ? spq_conv_spike_w2_a32(l, in_bits, acc)
           : l->weight_bits == 4u ? spq_conv_spike_w4_a32(l, in_bits, acc)
                                  : spq_conv_spike_w8_a32(l, in_bits, acc);
}

uint32_t spq_conv_value(const spq_layer_t *l, const uint8_t *in, void *acc, uint32_t acc_bits)
{
    spq_conv_job_t job;
    uint32_t ci, y, x;
    uint32_t H = l->in_h, W = l->in_w;
    job.l = l;
    job.row_fn = spq_row_select(l->weight_bits, acc_bits, 1);
    job.acc = (uint8_t *)acc;
    job.pos_bytes = spq_acc_pos_bytes(l->out_c, acc_bits);
    job.rows = 0;
    for (ci = 0; ci < l->in_c; ci++) {
        for (y = 0; y < H; y++) {
            int32_t ty0 = (int32_t)y + l->padding;
            spq_taps_t ty = spq_taps(ty0, l->kernel, l->stride, l->out_h);
            const uint8_t *row = in + (ci * H + y) * W;
            if (ty.first > ty.last) {
                continue;
            }
            for (x = 0; x < W; x++) {
                if (row[x] != 0u) {
                    spq_conv_scatter(&job, job.row_fn, ci, ty0, ty, (int32_t)x,
                                     (int32_t)row[x]);
                }
            }
        }
    }
    return job.rows * l->out_c;
}
