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
    if (i0 >= (int32_t)n_in) { /* the window starts below / right of the input (p >= k) */
        *t1 = 0u;
        return;
    }
    *t1 = i0 + (int32_t)k > (int32_t)n_in ? (uint32_t)((int32_t)n_in - i0) : k;
}

/* Add the weight rows of the non-zero inputs in the window of output (oy, ox) into acc;
 * returns the number of rows added. spike: in is a position-major spike map; else uint8
 * counts (position-major) or, with pixels set, the caller's (C, H, W) image. */
SPQ_SIZE
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
            } else { /* pixels (C, H, W): a channel H * W bytes on; counts (H, W, C): 1 */
                const uint8_t *v = (const uint8_t *)in + (kind == SPQ_IN_U8 ? iy * W + ix : q);
                uint32_t vstep = kind == SPQ_IN_U8 ? H * W : 1u;
                for (ci = 0; ci < C; ci++, v += vstep) {
                    uint32_t x = *v;
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
#if SPQ_FAST
    spq_fire8_fn_t fire8 = spq_conv_lut_fire(job->l);
    if (fire8 != NULL) {
#if SPQ_HAVE_MVE
        if (spq_conv_lut_mve_ok(job->l)) {
            spq_conv_lut_mve(job);
            return;
        }
        if (spq_lut_row_mve_ok(job->l)) {
            spq_conv_lut(job, fire8, spq_lut_row_mve);
            return;
        }
#endif
#if SPQ_HAVE_THUMB2
        if (spq_lut_row_thumb2_ok(job->l)) {
            spq_conv_lut(job, fire8, spq_lut_row_thumb2);
            return;
        }
#endif
        spq_conv_lut(job, fire8, spq_lut_row_scalar);
        return;
    }
#if SPQ_HAVE_MVE
    if (spq_w4_k3_mve_ok(job->l)) {
        spq_conv_w4_k3_mve(job);
        return;
    }
#endif
    if (job->l->weights_x != NULL && spq_w4_lanes_ok(job->l)) {
#if SPQ_HAVE_MVE
        if (spq_w4_row_mve_ok(job->l)) {
            spq_conv_w4(job, spq_w4_row_mve);
            return;
        }
#endif
#if SPQ_HAVE_THUMB2
        if (spq_w4_row_thumb2_ok(job->l)) {
            spq_conv_w4(job, spq_w4_row_thumb2);
            return;
        }
#endif
        spq_conv_w4(job, spq_w4_row_scalar);
        return;
    }
#endif
    spq_conv_ref(job);
}

int spq_lut_applies(const spq_layer_t *l, uint64_t bound)
{
    uint32_t bits = (uint32_t)l->in_c * l->kernel;
    return l->type == SPQ_LAYER_CONV && l->in_kind == SPQ_IN_SPIKE && bits <= SPQ_LUT_MAX_BITS &&
           bound <= 127u && l->out_c % 4u == 0u && l->out_c <= SPQ_LUT_MAX_OC &&
           (uint64_t)l->kernel * ((uint64_t)1 << bits) * l->out_c <= SPQ_LUT_MAX_BYTES;
}

SPQ_COLD
int spq_lut_valid(const spq_layer_t *l)
{
    uint32_t k = l->kernel, C = l->in_c, g = l->lut_bits, oc = l->out_c, ky, v, j, co;
    uint32_t qmax;
    spq_row_fn_t row = spq_row_select(l->weight_bits, 32u, 0);
    const uint32_t *e = l->lut;
    int32_t sums[SPQ_LUT_MAX_OC];
    if (l->lut == NULL) {
        return g == 0u;
    }
    qmax = ((uint32_t)1 << (l->weight_bits - 1u)) - 1u; /* weight_bits checked before */
    if (g != C * k || !spq_lut_applies(l, spq_acc_bound(l))) {
        return 0;
    }
    for (ky = 0; ky < k; ky++) {
        for (v = 0; v < ((uint32_t)1 << g); v++, e += oc / 4u) {
            memset(sums, 0, sizeof sums);
            for (j = 0; j < g; j++) { /* bit j: kx = j / C, ci = j % C */
                if ((v >> j) & 1u) {
                    uint32_t ci = j % C, kx = j / C;
                    row(sums, l->weights + (((size_t)ci * k + ky) * k + kx) * l->weight_row_bytes,
                        oc, 1);
                }
            }
            for (co = 0; co < oc; co++) { /* byte co of the row: little-endian words */
                if ((int32_t)((e[co / 4u] >> (8u * (co % 4u))) & 0xFFu) !=
                    sums[co] + (int32_t)(C * k * qmax)) {
                    return 0;
                }
            }
        }
    }
    return 1;
}

/* The accumulators of output position pos of a static layer (int32, into acc); returns the
 * rows added. */
static uint32_t spq_static_acc(const spq_layer_t *l, const uint8_t *pixels, uint32_t pos,
                               int32_t *acc)
{
    spq_row_fn_t row = spq_row_select(l->weight_bits, 32u, 1);
#if SPQ_FAST && !SPQ_STATIC_DSP
    if (spq_static_w4_ok(l)) {
        return spq_static_acc_w4(l, pixels, pos, acc);
    }
#endif
    memset(acc, 0, 4u * l->out_c); /* int32 whatever acc_bits (a static layer's scratch) */
    if (l->type == SPQ_LAYER_CONV) {
        return spq_conv_window(l, pixels, SPQ_IN_U8, pos / l->out_w, pos % l->out_w, acc, row);
    }
    return spq_linear_gather(l, pixels, SPQ_IN_U8, 1u, acc, row);
}

/* Rank of accumulator a among the 31 sorted breakpoints br (rank tables, RANK_BITS 5): five
 * unrolled halvings. */
SPQ_INLINE uint32_t spq_rank31(const int32_t *br, int32_t a)
{
#if SPQ_HAVE_THUMB2 /* a load, a compare and a conditional add each */
    const int32_t *q = br;
    int32_t x;
    __asm__("ldr     %[x], [%[q], #60]\n\t"
            "cmp     %[a], %[x]\n\t"
            "it      ge\n\t"
            "addge   %[q], %[q], #64\n\t"
            "ldr     %[x], [%[q], #28]\n\t"
            "cmp     %[a], %[x]\n\t"
            "it      ge\n\t"
            "addge   %[q], %[q], #32\n\t"
            "ldr     %[x], [%[q], #12]\n\t"
            "cmp     %[a], %[x]\n\t"
            "it      ge\n\t"
            "addge   %[q], %[q], #16\n\t"
            "ldr     %[x], [%[q], #4]\n\t"
            "cmp     %[a], %[x]\n\t"
            "it      ge\n\t"
            "addge   %[q], %[q], #8\n\t"
            "ldr     %[x], [%[q]]\n\t"
            "cmp     %[a], %[x]\n\t"
            "it      ge\n\t"
            "addge   %[q], %[q], #4"
            : [q] "+r"(q), [x] "=&r"(x)
            : [a] "r"(a), "m"(*(const int32_t(*)[31])br)
            : "cc");
    return (uint32_t)(q - br);
#else
    uint32_t r = br[15] <= a ? 16u : 0u;
    r += br[r + 7u] <= a ? 8u : 0u;
    r += br[r + 3u] <= a ? 4u : 0u;
    r += br[r + 1u] <= a ? 2u : 0u;
    return r + (br[r] <= a ? 1u : 0u);
#endif
}

/* Rank of accumulator a among channel c's R sorted breakpoints br: how many are <= a. */
SPQ_INLINE uint32_t spq_rank(const int32_t *br, uint32_t R, int32_t a)
{
    uint32_t lo = 0, hi = R;
    if (SPQ_FAST && R == 31u) {
        return spq_rank31(br, a);
    }
    while (lo < hi) {
        uint32_t mid = (lo + hi) >> 1;
        if (br[mid] <= a) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The ranks of one position's oc accumulators: rank c is how many of channel c's R sorted
 * breakpoints (br + c R) are <= acc[c]. */
static void spq_rank_row(const int32_t *br, uint32_t R, const int32_t *acc, uint8_t *rk,
                         uint32_t oc)
{
    uint32_t c;
    for (c = 0; c < oc; c++, br += R) {
        rk[c] = (uint8_t)spq_rank(br, R, acc[c]);
    }
}

int spq_static_trains_ok(const spq_layer_t *l, uint32_t T)
{
    size_t n0 = (size_t)l->out_h * l->out_w * l->out_c;
    return l->in_kind == SPQ_IN_U8 && l->breaks != NULL && l->outcome_bits == 5u && T <= 8u &&
           n0 <= 0xFFFFu && l->level_bits >= 1u && l->level_bits <= 2u;
}

/* Neurons whose trains the cache holds: the max pool's outputs, else the layer's. */
static size_t spq_trains_neurons(const spq_layer_t *l, const spq_layer_t *pool)
{
    const spq_layer_t *o = pool != NULL ? pool : l;
    return (size_t)o->out_h * o->out_w * o->out_c;
}

size_t spq_static_trains_bytes(const spq_layer_t *l, const spq_layer_t *pool, uint32_t T)
{
    return 32u * ((spq_trains_neurons(l, pool) + 31u) / 32u) + 4u * T;
}

size_t spq_static_pairs_bytes(const spq_layer_t *l)
{
    size_t pairs = ((size_t)l->in_c * l->kernel * l->kernel + 1u) / 2u;
    return l->type == SPQ_LAYER_CONV && l->weight_bits == 4u && l->out_c % 16u == 0u &&
                   pairs <= SPQ_SD_PAIRS
               ? 4u * pairs * l->out_c
               : 0u;
}

size_t spq_static_scratch_bytes(const spq_layer_t *l, uint32_t T)
{
    return 4u * (size_t)l->out_c + spq_static_pairs_bytes(l) +
           ((size_t)l->out_c << l->outcome_bits) + ((size_t)2u << T);
}

#if SPQ_FAST
/* Bits 8j + t of the words at p (bytes p[0..7]) as a byte: bit t of neurons 0-7. With v0, v1
 * the bits of neurons 0-3 and 4-7 at bits 8k, v0 | v1 << 4 times 2^21 + 2^14 + 2^7 + 1 puts
 * neuron j at bit 21 + j (no other product reaches bits 21-28, no carries). */
SPQ_INLINE uint32_t spq_train_bits8(const uint8_t *p, uint32_t t)
{
    const uint32_t m = 0x01010101u;
    uint32_t v = ((spq_load32(p) >> t) & m) | (((spq_load32(p + 4) >> t) & m) << 4);
    return (v * 0x00204081u) >> 21 & 0xFFu;
}

#if !SPQ_HAVE_MVE /* Helium: spq_train_table_mve */
/* A static layer's input current is the same at every step, so each neuron's spikes over the
 * T steps follow from its rank alone: tab[c][r] (bit t: the spike at step t) by running the
 * rank table from code 0 (the membrane after a reset). */
SPQ_NOINLINE static void spq_train_table(const spq_layer_t *l, uint8_t *tab, uint32_t T)
{
    uint32_t n = l->outcome_bits, b = l->level_bits, mask = (1u << b) - 1u, c, r, t;
    for (c = 0; c < l->out_c; c++) {
        const uint8_t *oc = l->outcome + ((size_t)c << (b + n));
        for (r = 0; r < (1u << n); r++) {
            const uint8_t *row = oc + r;
            uint32_t cs = 0, train = 0; /* cs: the membrane code << n */
            for (t = 0; t < T; t++) {   /* the spike of step t into bit 7, then down */
                uint32_t o = row[cs];
                train = (train >> 1) | (o & 0x80u);
                cs = (o & mask) << n;
            }
            *tab++ = (uint8_t)(train >> (8u - T));
        }
    }
}
#endif

/* The trains of one position's oc neurons from their accumulators (31 breakpoints per
 * channel): counted by value into hist and ORed into dst (the position's pooled trains;
 * NULL: outside the pool's map). */
static void spq_train_row(const spq_layer_t *l, const int32_t *acc, const uint8_t *tab,
                          uint8_t *dst, uint16_t *hist)
{
    const int32_t *br = l->breaks;
    uint32_t c, oc = l->out_c; /* not reloaded after each store into hist */
    for (c = 0; c < oc; c++, br += 31, tab += 32) {
        uint32_t x = tab[spq_rank31(br, acc[c])];
        hist[x]++;
        if (dst != NULL) {
            dst[c] |= (uint8_t)x;
        }
    }
}

/* The spike count at each step t from the histogram of the trains: the trains with bit t. */
SPQ_NOINLINE static void spq_train_counts(const uint16_t *hist, uint32_t *counts, uint32_t T)
{
    uint32_t t, v;
    for (t = 0; t < T; t++) {
        counts[t] = 0;
        for (v = 1u << t; v < (1u << T); v = (v + 1u) | (1u << t)) {
            counts[t] += hist[v];
        }
    }
}

#if !SPQ_HAVE_MVE /* Helium: spq_train_planes_mve */
/* In place, 32 trains (bytes) at a time into T bit planes: word t of a group of 32 bytes
 * holds bit t of each. */
SPQ_NOINLINE static void spq_train_planes(uint8_t *cache, uint32_t groups, uint32_t T)
{
    uint32_t i, t;
    uint8_t tr[32];
    for (i = 0; i < groups; i++) {
        uint32_t *w = (uint32_t *)(void *)(cache + 32u * i);
        memcpy(tr, w, sizeof tr);
        for (t = 0; t < T; t++) {
            w[t] = spq_train_bits8(tr, t) | spq_train_bits8(tr + 8, t) << 8 |
                   spq_train_bits8(tr + 16, t) << 16 | spq_train_bits8(tr + 24, t) << 24;
        }
    }
}
#endif

/* The cached trains (spq_static_trains_bytes): a byte per neuron of the cached map (the max
 * pool's output: the OR of its window's trains, the spikes of a max pool of spikes) built
 * position by position, then, 32 neurons at a time and in place, T words: word 8 g + t holds
 * the spikes of neurons 32 g .. 32 g + 31 at step t, so that a step copies one word in
 * eight; after them the layer's spike count at each step (uint32). The scratch holds the
 * position's accumulators, the SMLAD weight pairs, the train table and the histogram of the
 * trains (spq_static_scratch_bytes). Returns the synops. */
SPQ_NOINLINE static uint32_t spq_static_trains_build(const spq_layer_t *l,
                                                     const spq_layer_t *pool,
                                                     const uint8_t *pixels, uint8_t *cache,
                                                     uint32_t *scratch, uint32_t T)
{
    /* the pool's window k x k (1 x 1 without a pool: pool = the layer) */
    uint32_t k = pool != NULL ? pool->kernel : 1u, oc = l->out_c, ow = l->out_w, oy, ox;
    uint32_t pos = 0, rows = 0, groups = (uint32_t)(spq_trains_neurons(l, pool) + 31u) / 32u;
    int32_t *acc = (int32_t *)(void *)scratch;
    uint32_t *wp = scratch + oc, *counts = (uint32_t *)(void *)(cache + 32u * groups);
    uint8_t *tab = (uint8_t *)(wp + spq_static_pairs_bytes(l) / 4u);
    uint16_t *hist = (uint16_t *)(void *)(tab + ((size_t)oc << l->outcome_bits));
    int vec = 0; /* the Helium kernels */
#if SPQ_HAVE_MVE
    spq_train_table_mve(l, tab, T);
#else
    spq_train_table(l, tab, T);
#endif
    memset(cache, 0, 32u * groups);
    memset(hist, 0, (size_t)2u << T);
    pool = pool != NULL ? pool : l;
#if SPQ_HAVE_MVE
    vec = spq_static_mve_ok(l); /* Helium: the weights as bytes, vector ranks */
    if (vec) {
        spq_static_bytes_mve(l, (uint8_t *)wp);
    }
#endif
#if SPQ_STATIC_DSP
    if (!vec && spq_static_pairs_bytes(l) != 0u) {
        spq_static_pairs_dsp(l, wp);
    } else {
        wp = NULL;
    }
#endif
    for (oy = 0; oy < l->out_h; oy++) {
        /* the pool's output position (py, px) of (oy, ox): its window's kx-th column */
        uint32_t py = oy / k, px = 0, kx = 0;
        for (ox = 0; ox < ow; ox++, pos++) {
            uint8_t *dst = py < pool->out_h && px < pool->out_w
                               ? cache + ((size_t)py * pool->out_w + px) * oc
                               : NULL;
#if SPQ_HAVE_MVE
            if (vec) {
                rows += spq_static_acc_mve(l, (const uint8_t *)(scratch + oc), pixels, pos, acc);
                spq_train_row_mve(l, acc, tab, dst, (uint32_t *)(void *)hist, T);
            } else
#endif
            {
#if SPQ_STATIC_DSP
                rows += wp != NULL ? spq_static_acc_dsp(l, wp, pixels, pos, acc)
                                   : spq_static_acc(l, pixels, pos, acc);
#else
                rows += spq_static_acc(l, pixels, pos, acc);
#endif
                spq_train_row(l, acc, tab, dst, hist);
            }
            if (++kx == k) {
                kx = 0;
                px++;
            }
        }
    }
    if (vec) { /* Helium: the spikes at each step counted in the histogram's place */
        memcpy(counts, hist, 4u * T);
    } else {
        spq_train_counts(hist, counts, T);
    }
#if SPQ_HAVE_MVE
    spq_train_planes_mve(cache, groups, T);
#else
    spq_train_planes(cache, groups, T);
#endif
    return rows * oc;
}

void spq_static_trains_copy(const uint32_t *cache, size_t n, uint32_t t, uint32_t *out)
{
    size_t g;
    for (g = 0, cache += t; g < (n + 31u) / 32u; g++, cache += 8) {
        out[g] = *cache;
    }
}
#endif

SPQ_SIZE
void spq_static_trains_step(spq_job_t *job, const spq_layer_t *pool)
{
    const spq_layer_t *l = job->l;
    uint32_t pos, rows = 0, n_pos = (uint32_t)l->out_h * l->out_w;
#if SPQ_FAST
    size_t n = spq_trains_neurons(l, pool);
    uint8_t *cache = (uint8_t *)job->mem;
    if (job->t == 0u) {
#if SPQ_HAVE_MVE /* the taps' offsets made into the scratch where they fit */
        uint32_t *sc = (uint32_t *)job->acc;
        const uint16_t *offs = spq_static_mve_ok(l)
                                   ? spq_static_offsets_mve(l, (uint8_t *)(sc + l->out_c))
                                   : NULL;
        if (offs != NULL) { /* the train table, the weights as bytes, then every position */
            const spq_layer_t *o = pool != NULL ? pool : l;
            uint8_t *tab = (uint8_t *)(sc + l->out_c) + spq_static_pairs_bytes(l);
            spq_train_table_mve(l, tab, job->steps);
            memset(tab + ((size_t)l->out_c << l->outcome_bits), 0, 4u * job->steps);
            memset(cache, 0, 32u * ((n + 31u) / 32u));
            spq_static_bytes_mve(l, (uint8_t *)(sc + l->out_c));
            job->synops = spq_static_trains_mve(l, o, (const uint8_t *)job->in, cache, sc, offs,
                                                job->steps);
            spq_train_planes_mve(cache, (uint32_t)(n + 31u) / 32u, job->steps);
        } else {
            job->synops = spq_static_trains_build(l, pool, (const uint8_t *)job->in, cache, sc,
                                                  job->steps);
        }
#else
        job->synops = spq_static_trains_build(l, pool, (const uint8_t *)job->in, cache,
                                              (uint32_t *)job->acc, job->steps);
#endif
    }
    job->spikes += ((const uint32_t *)(const void *)(cache + 32u * ((n + 31u) / 32u)))[job->t];
    if (pool == NULL) { /* else the max pool copies its trains (spq_static_trains_copy) */
        spq_static_trains_copy((const uint32_t *)job->mem, n, job->t, job->out);
    }
    (void)pos, (void)rows, (void)n_pos;
#else
    /* reference: the layer's membranes in the cache, its accumulators computed every step */
    (void)pool;
    if (job->t == 0u) {
        memset(job->mem, 0, ((size_t)n_pos * l->out_c * l->level_bits + 7u) / 8u);
    }
    for (pos = 0; pos < n_pos; pos++) {
        rows += spq_static_acc(l, (const uint8_t *)job->in, pos, (int32_t *)job->acc);
        job->spikes += spq_neuron_pos_ref(l, job->acc, 32u, job->mem, pos, job->out);
    }
    if (job->t == 0u) {
        job->synops = rows * l->out_c;
    }
#endif
}

uint32_t spq_static_prepare(const spq_layer_t *l, const uint8_t *pixels, void *cache,
                            int32_t *acc)
{
    uint32_t oc = l->out_c, n_pos = (uint32_t)l->out_h * l->out_w, pos, c, rows = 0;
    if (l->breaks != NULL) { /* rank cache: one byte per neuron */
        uint32_t R = (1u << l->outcome_bits) - 1u;
        uint8_t *rk = (uint8_t *)cache;
        for (pos = 0; pos < n_pos; pos++, rk += oc) {
            rows += spq_static_acc(l, pixels, pos, acc);
            spq_rank_row(l->breaks, R, acc, rk, oc);
        }
        return rows * oc;
    }
    for (pos = 0; pos < n_pos; pos++) { /* current cache: int32 I per neuron */
        int32_t *a = (int32_t *)cache + (size_t)pos * oc;
        rows += spq_static_acc(l, pixels, pos, a);
        for (c = 0; c < oc; c++) {
            a[c] = spq_current(a[c], l->mult[c], (uint32_t)l->shift[c]);
        }
    }
    return rows * oc;
}

/* Neurons of position pos of a static layer from their ranks: the outcome byte of each
 * (channel, code, rank) in its rank table (level_bits <= 2: a code never straddles words). */
static uint32_t spq_neuron_pos_rank(const spq_layer_t *l, const uint8_t *rk, uint32_t *mem,
                                    uint32_t pos, uint32_t *out)
{
    const uint8_t *t = l->outcome;
    uint32_t c, C = l->out_c, k = pos * C, spikes = 0;
    uint32_t b = l->level_bits, n = l->outcome_bits, mask = ((uint32_t)1 << b) - 1u;
    for (c = 0; c < C; c++, k++, t += (size_t)1 << (b + n)) {
        uint32_t at = k * b, w = mem[at >> 5], sh = at & 31u;
        uint32_t o = t[(((w >> sh) & mask) << n) + rk[c]];
        mem[at >> 5] = (w & ~(mask << sh)) | ((o & mask) << sh);
        out[k >> 5] |= (o >> 7) << (k & 31u);
        spikes += o >> 7;
    }
    return spikes;
}

void spq_static_step(spq_job_t *job)
{
    const spq_layer_t *l = job->l;
    uint32_t pos, c, oc = l->out_c, n_pos = (uint32_t)l->out_h * l->out_w;
    if (l->breaks == NULL) {
        const int32_t *cur = (const int32_t *)job->in;
        for (pos = 0; pos < n_pos; pos++, cur += oc) {
            job->spikes += spq_neuron_pos(l, cur, 0u, job->mem, pos, job->out);
        }
        return;
    }
#if SPQ_HAVE_MVE
    if (spq_rank_fire_mve_ok(l)) {
        job->spikes += spq_rank_fire_mve(l, (const uint8_t *)job->in, job->mem, job->out, n_pos);
        return;
    }
#endif
    if (SPQ_FAST && l->outcome != NULL && l->level_bits <= 2u) {
        /* no cached trains (T > 8): a neuron is one outcome byte at (code, rank) */
        const uint8_t *rk = (const uint8_t *)job->in;
        for (pos = 0; pos < n_pos; pos++, rk += oc) {
            job->spikes += spq_neuron_pos_rank(l, rk, job->mem, pos, job->out);
        }
        return;
    }
    { /* reference: the arithmetic of s5 on an accumulator of each rank */
        const uint8_t *rk = (const uint8_t *)job->in;
        int32_t *acc = (int32_t *)job->acc, bound = (int32_t)spq_acc_bound(l);
        uint32_t R = (1u << l->outcome_bits) - 1u;
        for (pos = 0; pos < n_pos; pos++, rk += oc) {
            for (c = 0; c < oc; c++) {
                acc[c] = rk[c] == 0u ? -bound : l->breaks[(size_t)c * R + rk[c] - 1u];
            }
            job->spikes += spq_neuron_pos_ref(l, acc, 32u, job->mem, pos, job->out);
        }
    }
}
