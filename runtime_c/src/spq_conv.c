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

/* Output-stationary gather for spike input, 4-bit weights, int16 pair accumulators and
 * out_c a multiple of 8 (one weight word per (ci, ky, kx) and block of 8 channels).
 * For each output position the set input bits of its receptive field are listed as weight
 * row offsets (up to SPQ_GATHER_LIST at a time); for each block of 8 channels the listed
 * weight words are summed in registers: with x = word ^ 0x88888888 every nibble is w + 8
 * (0..15); the even nibbles (x & 0x0F0F0F0F) and x >> 4 are summed, SPQ_GATHER_CHUNK words
 * at a time so that the byte lanes cannot carry (17 * 15 = 255), the odd nibbles recovered
 * from the two sums, and the byte lanes spread into 16-bit lanes (at most 68 * 15). These
 * become the int16 pair words of spq_rows.h, minus 8 per listed word, added to the
 * accumulators once per list: the same integers mod 2^32 as the scatter kernels, so the
 * same results. Synops: one row of out_c per (listed spike, position), as the scatter. */
#define SPQ_GATHER_CHUNK 17u
#define SPQ_GATHER_LIST (4u * SPQ_GATHER_CHUNK)

/* n (1..32) bits of a bit-packed map starting at bit b. */
SPQ_INLINE uint32_t spq_bits_get(const uint32_t *bits, uint32_t b, uint32_t n)
{
    uint32_t off = b & 31u;
    uint32_t v = bits[b >> 5] >> off;
    if (32u - off < n) {
        v |= bits[(b >> 5) + 1u] << (32u - off);
    }
    return n < 32u ? v & (((uint32_t)1 << n) - 1u) : v;
}

SPQ_NOINLINE static void spq_gather_w4_a16(uint32_t *a, const uint8_t *w, const uint32_t *list,
                                           uint32_t cnt, uint32_t blocks)
{
    const uint32_t m = 0x0F0F0F0Fu, fl = 0x88888888u, m2 = 0x00FF00FFu;
    const uint32_t bias = 8u * cnt * 0x10001u;
    const uint32_t *end = list + cnt;
    do {
        const uint32_t *p = list;
        uint32_t l0 = 0, l1 = 0, l2 = 0, l3 = 0;
        do {
            uint32_t n = (uint32_t)(end - p) > SPQ_GATHER_CHUNK ? SPQ_GATHER_CHUNK
                                                                : (uint32_t)(end - p);
            const uint32_t *q = p + n;
            uint32_t e = 0, t = 0, o;
            do {
                uint32_t x = spq_load32(w + *p++) ^ fl;
                e += x & m;
                t += x >> 4;
            } while (p != q);
            /* x >> 4 = ((x >> 4) & m) + ((x & m & ~15) >> 4), so the odd nibbles sum to
             * t - ((e & ~255) >> 4) (byte 0 of e is the sum of the dropped low nibbles) */
            o = t - ((e & ~0xFFu) >> 4);
            l0 += e & m2;        /* channels 0, 4 */
            l1 += (e >> 8) & m2; /* channels 2, 6 */
            l2 += o & m2;        /* channels 1, 5 */
            l3 += (o >> 8) & m2; /* channels 3, 7 */
        } while (p != end);
        a[0] += (l0 & 0xFFFFu) + (l2 << 16) - bias;
        a[1] += (l1 & 0xFFFFu) + (l3 << 16) - bias;
        a[2] += (l0 >> 16) + (l2 & 0xFFFF0000u) - bias;
        a[3] += (l1 >> 16) + (l3 & 0xFFFF0000u) - bias;
        a += 4;
        w += 4;
    } while (--blocks != 0u);
}

/* Input rows held per output row: in_c * kernel of them, each shifted left by the padding so
 * that the window of output column ox starts at bit ox * stride (in_w + 2 * padding <= 32). */
#define SPQ_GATHER_ROWS 96u

static int spq_conv_gather_ok(const spq_layer_t *l, uint32_t acc_bits)
{
    return acc_bits == 16u && l->weight_bits == 4u && l->out_c % 8u == 0u && l->kernel >= 1 &&
           l->kernel <= 31 && l->in_w + 2u * (uint32_t)l->padding <= 32u &&
           l->in_c * (uint32_t)l->kernel <= SPQ_GATHER_ROWS;
}

SPQ_INLINE uint32_t spq_popcount32(uint32_t x)
{
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    x = (x + (x >> 4)) & 0x0F0F0F0Fu;
    return (x * 0x01010101u) >> 24;
}

/* The gather costs a scan of every receptive field and a store per position and block of 8
 * channels; the scatter costs more per (spike, position) pair. The gather pays once the
 * receptive fields hold on average SPQ_GATHER_MIN_ROWS spikes or more: spikes * k^2 >=
 * SPQ_GATHER_MIN_ROWS * H * W (one popcount pass over the input map per step). */
#ifndef SPQ_GATHER_MIN_ROWS
#define SPQ_GATHER_MIN_ROWS 6u
#endif

static int spq_conv_gather_pays(const spq_layer_t *l, const uint32_t *in_bits)
{
    uint32_t n = l->in_c * l->in_h * l->in_w, i, spikes = 0;
    uint32_t k2 = (uint32_t)l->kernel * (uint32_t)l->kernel;
    for (i = 0; i < n / 32u; i++) {
        spikes += spq_popcount32(in_bits[i]);
    }
    if (n % 32u != 0u) {
        spikes += spq_popcount32(in_bits[i] & (((uint32_t)1 << (n % 32u)) - 1u));
    }
    return (uint64_t)spikes * k2 >= (uint64_t)SPQ_GATHER_MIN_ROWS * l->in_h * l->in_w;
}

static uint32_t spq_conv_spike_gather(const spq_layer_t *l, const uint32_t *in_bits, void *acc)
{
    uint32_t list[SPQ_GATHER_LIST];
    uint32_t rowv[SPQ_GATHER_ROWS];
    uint32_t k = (uint32_t)l->kernel, s = (uint32_t)l->stride, p = (uint32_t)l->padding;
    uint32_t H = l->in_h, W = l->in_w, nrows = l->in_c * k;
    uint32_t rb = l->weight_row_bytes, blocks = l->out_c / 8u;
    uint32_t words = spq_acc_pos_bytes(l->out_c, 16u) / 4u;
    uint32_t kmask = ((uint32_t)1 << k) - 1u;
    uint32_t *a = (uint32_t *)acc;
    uint32_t rows = 0, oy, ox, j;
    for (oy = 0; oy < l->out_h; oy++) {
        /* row j = ci * k + ky: input row y = oy * s - p + ky of channel ci, or 0 outside */
        for (j = 0; j < nrows; j += k) {
            uint32_t ky, y = oy * s; /* y - p is the input row */
            for (ky = 0; ky < k; ky++, y++) {
                rowv[j + ky] = y >= p && y - p < H
                                   ? spq_bits_get(in_bits, ((j / k) * H + y - p) * W, W) << p
                                   : 0u;
            }
        }
        for (ox = 0; ox < l->out_w; ox++, a += words) {
            uint32_t sh = ox * s, cnt = 0;
            for (j = 0; j < nrows; j++) {
                uint32_t win = (rowv[j] >> sh) & kmask;
                if (win == 0u) {
                    continue;
                }
                if (cnt > SPQ_GATHER_LIST - k) {
                    spq_gather_w4_a16(a, l->weights, list, cnt, blocks);
                    rows += cnt;
                    cnt = 0;
                }
                do {
                    list[cnt++] = (j * k + SPQ_CTZ(win)) * rb;
                    win &= win - 1u;
                } while (win != 0u);
            }
            if (cnt != 0u) {
                spq_gather_w4_a16(a, l->weights, list, cnt, blocks);
                rows += cnt;
            }
        }
    }
    return rows * l->out_c;
}

uint32_t spq_conv_spike(const spq_layer_t *l, const uint32_t *in_bits, void *acc,
                        uint32_t acc_bits)
{
    if (spq_conv_gather_ok(l, acc_bits) && spq_conv_gather_pays(l, in_bits)) {
        return spq_conv_spike_gather(l, in_bits, acc);
    }
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
