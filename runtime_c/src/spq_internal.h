/* SPDX-License-Identifier: MIT */
/**
 * @file spq_internal.h
 * @brief Kernels and integer helpers shared by the runtime sources (not part of the API).
 *
 * Data layouts inside the arena (docs/formats.md, "Arena layout"), all position-major
 * (H, W, C): neuron (c, y, x) of a map with C channels and width W has index
 * k = (y * W + x) * C + c, so that the C neurons of one position are contiguous:
 *  - spike maps: uint32 words, neuron k in bit k % 32 of word k / 32;
 *  - counts (after a sum pool): uint8 per neuron;
 *  - accumulators of one output position (the kernels' scratch): int32 per channel, or int16
 *    two per uint32 word (spq_rows.h), ceil(C/2) words; the static current cache: int32 per
 *    neuron;
 *  - membranes: code (u - lo) ^ (-lo), level_bits per neuron, as a bit stream in uint32
 *    words (all-zero bits are u = 0, so a reset is a memset).
 */
#ifndef SPQ_INTERNAL_H
#define SPQ_INTERNAL_H

#include <string.h>

#include "spq_bits.h"

#define SPQ_THETA ((int32_t)1 << SPQ_FRAC_BITS)
#define SPQ_I_MAX ((int32_t)1 << 29)

/** floor(x / 2^s) for 1 <= s <= 62 without shifting a negative number. */
SPQ_INLINE int64_t spq_floor_div_pow2_64(int64_t x, uint32_t s)
{
    /* x + 2^63 is x's unsigned image with the sign bit flipped; 2^63 is a multiple of 2^s. */
    uint64_t biased = (uint64_t)x ^ ((uint64_t)1 << 63);
    return (int64_t)(biased >> s) - ((int64_t)1 << (63u - s));
}

/** floor(x / 2^s) for 1 <= s <= 31 on int32. */
SPQ_INLINE int32_t spq_floor_div_pow2_32(int32_t x, uint32_t s)
{
    uint32_t biased = (uint32_t)x ^ 0x80000000u;
    return (int32_t)(biased >> s) - (int32_t)((uint32_t)1 << (31u - s));
}

SPQ_INLINE int32_t spq_sat_i(int64_t x)
{
    if (x > SPQ_I_MAX) {
        return SPQ_I_MAX;
    }
    if (x < -SPQ_I_MAX) {
        return -SPQ_I_MAX;
    }
    return (int32_t)x;
}

/** A channel's multiplier and shift with the rounding constant of its shift. */
typedef struct {
    int32_t mult;
    uint32_t shift;
    int64_t round; /* 2^(S-1), 0 for S = 0 */
} spq_scale_t;

SPQ_INLINE spq_scale_t spq_scale(int32_t mult, uint32_t shift)
{
    spq_scale_t q;
    q.mult = mult;
    q.shift = shift;
    q.round = shift ? (int64_t)1 << (shift - 1u) : 0;
    return q;
}

/**
 * Input current I = sat(floor_div(acc*M + 2^(S-1), 2^S), 2^29) (docs/semantics.md s5), in
 * 32-bit steps: x = acc*M + 2^(S-1) is exact in 64 bits (|acc*M| <= 2^62); with xh:xl its
 * words, floor(x / 2^S) has high word floor_div(xh, 2^S) and low word
 * (xl >> S) | (xh << (32 - S)) for S < 32, and is floor_div(xh, 2^(S-32)) for S >= 32.
 */
SPQ_INLINE int32_t spq_current_scaled(int32_t acc, const spq_scale_t *q)
{
    int64_t p = (int64_t)acc * (int64_t)q->mult;
    uint32_t s = q->shift, xl, xh;
    uint64_t x;
    if (s == 0u) {
        return spq_sat_i(p);
    }
    x = (uint64_t)(p + q->round);
    xl = (uint32_t)x;
    xh = (uint32_t)(x >> 32);
    if (s < 32u) {
        int32_t qh = (int32_t)((xh ^ 0x80000000u) >> s) - (int32_t)((uint32_t)1 << (31u - s));
        uint32_t ql = (xl >> s) | (xh << (32u - s));
        if (qh == 0) {
            return ql <= (uint32_t)SPQ_I_MAX ? (int32_t)ql : SPQ_I_MAX;
        }
        if (qh == -1) {
            return ql >= (uint32_t)0 - (uint32_t)SPQ_I_MAX ? spq_from_u32(ql) : -SPQ_I_MAX;
        }
        return qh < 0 ? -SPQ_I_MAX : SPQ_I_MAX;
    } else {
        int32_t r = spq_from_u32(xh);
        if (s > 32u) {
            r = spq_floor_div_pow2_32(r, s - 32u);
        }
        return r > SPQ_I_MAX ? SPQ_I_MAX : (r < -SPQ_I_MAX ? -SPQ_I_MAX : r);
    }
}

SPQ_INLINE int32_t spq_current(int32_t acc, int32_t mult, uint32_t shift)
{
    spq_scale_t q = spq_scale(mult, shift);
    return spq_current_scaled(acc, &q);
}

/** Per-channel neuron constants, fixed for one layer call. */
typedef struct {
    int32_t leak;
    int32_t lo, hi;
    int32_t theta;      /* hi * 2^F: the threshold is the top level */
    uint32_t zero_code; /* (0 - lo): the code XORed into stored levels */
    uint32_t bits;      /* level_bits */
    uint32_t mask;      /* (1 << bits) - 1 */
    uint8_t soft;
} spq_neuron_cfg_t;

/* Membranes are a bit stream in uint32 words: the code of neuron k sits at stream bits
 * k*bits .. k*bits+bits-1, stream bit j in bit j % 32 of word j / 32 (a code may straddle two
 * words). The layer loop streams through it (spq_neuron.c); these two read and write one
 * code at random and serve the unit tests. */
SPQ_INLINE int32_t spq_mem_get(const uint32_t *mem, uint32_t pos, const spq_neuron_cfg_t *cfg)
{
    uint32_t word = pos >> 5;
    uint32_t sh = pos & 31u;
    uint32_t v = mem[word] >> sh;
    if (sh + cfg->bits > 32u) {
        v |= mem[word + 1u] << (32u - sh);
    }
    v = (v & cfg->mask) ^ cfg->zero_code;
    return (int32_t)v + cfg->lo;
}

SPQ_INLINE void spq_mem_put(uint32_t *mem, uint32_t pos, const spq_neuron_cfg_t *cfg, int32_t u)
{
    uint32_t word = pos >> 5;
    uint32_t sh = pos & 31u;
    uint32_t code = ((uint32_t)(u - cfg->lo)) ^ cfg->zero_code;
    mem[word] = (mem[word] & ~(cfg->mask << sh)) | (code << sh);
    if (sh + cfg->bits > 32u) {
        uint32_t r = 32u - sh;
        mem[word + 1u] = (mem[word + 1u] & ~(cfg->mask >> r)) | (code >> r);
    }
}

/**
 * One neuron, one step (docs/semantics.md s5): returns the spike and updates *u.
 * V = K*u + I + B; spike = V >= THETA (= hi * 2^F); reset;
 * u' = clamp(floor_div(V' + 2^(F-1), 2^F)).
 */
SPQ_INLINE uint32_t spq_neuron_step(const spq_neuron_cfg_t *cfg, int32_t current, int32_t bias,
                                    int32_t *u)
{
    int32_t v = cfg->leak * *u + current + bias;
    uint32_t spike = v >= cfg->theta ? 1u : 0u;
    int32_t nu;
    if (spike) {
        v = cfg->soft ? v - cfg->theta : 0;
    }
    nu = spq_floor_div_pow2_32(v + (SPQ_THETA >> 1), SPQ_FRAC_BITS);
    if (nu < cfg->lo) {
        nu = cfg->lo;
    } else if (nu > cfg->hi) {
        nu = cfg->hi;
    }
    *u = nu;
    return spike;
}

/* ---- weight rows (spq_rows.c): acc[o] += w[o] (spike) or w[o] * x (value) ---- */
typedef void (*spq_row_fn_t)(void *acc, const uint8_t *row, uint32_t n, int32_t x);

void spq_row_add_w8_a32(void *acc, const uint8_t *row, uint32_t n, int32_t x);
void spq_row_add_w4_a32(void *acc, const uint8_t *row, uint32_t n, int32_t x);
void spq_row_add_w2_a32(void *acc, const uint8_t *row, uint32_t n, int32_t x);
void spq_row_add_w8_a16(void *acc, const uint8_t *row, uint32_t n, int32_t x);
void spq_row_add_w4_a16(void *acc, const uint8_t *row, uint32_t n, int32_t x);
void spq_row_add_w2_a16(void *acc, const uint8_t *row, uint32_t n, int32_t x);
void spq_row_mac_w8_a32(void *acc, const uint8_t *row, uint32_t n, int32_t x);
void spq_row_mac_w4_a32(void *acc, const uint8_t *row, uint32_t n, int32_t x);
void spq_row_mac_w2_a32(void *acc, const uint8_t *row, uint32_t n, int32_t x);
void spq_row_mac_w8_a16(void *acc, const uint8_t *row, uint32_t n, int32_t x);
void spq_row_mac_w4_a16(void *acc, const uint8_t *row, uint32_t n, int32_t x);
void spq_row_mac_w2_a16(void *acc, const uint8_t *row, uint32_t n, int32_t x);

/** The row function for a layer: spike input adds, value input (pixels, counts) multiplies. */
spq_row_fn_t spq_row_select(uint32_t weight_bits, uint32_t acc_bits, int value_input);

/* ---- one layer, one time step ----
 * A synapse + neuron layer kernel computes, for each output position, the accumulators of
 * its out_c channels (into the scratch `acc`, or in registers) and updates those neurons at
 * once: membranes and spikes are written per position, so no layer-wide accumulator buffer
 * exists. */
typedef struct {
    const spq_layer_t *l;
    const void *in;   /* input frame: spike map or counts (position-major); the static
                         layer's cached currents */
    uint32_t *mem;    /* the layer's membranes */
    uint32_t *out;    /* output spike map, all zero on entry */
    void *acc;        /* scratch: accumulators of one output position */
    uint32_t map_c;   /* linear layers: channels of the (C, H, W) map they read, flattened */
    uint32_t synops;  /* synaptic operations, added by the kernel */
    uint32_t spikes;  /* spikes written, added by the kernel */
    uint32_t t;       /* the time step */
    uint32_t steps;   /* the model's time steps */
} spq_job_t;

void spq_conv_step(spq_job_t *job);
void spq_linear_step(spq_job_t *job);
/** Readout: logits += sum of the weight rows of the non-zero inputs (int32). */
void spq_readout_step(spq_job_t *job, int32_t *logits);
/** Bits of a spike count that reaches T: the bit length of T (0 for 0). */
uint32_t spq_count_planes(uint32_t T);
/** Readout on spikes, one step: add the input map `in` into the per-feature counts
 *  (spq_count_planes(T) bit planes of ceil(in_c / 32) words: plane p holds bit p of every
 *  count); the logits are weighed by spq_readout_finish. */
void spq_readout_count(const spq_layer_t *l, const uint32_t *in, uint32_t *counts);
/** logits = steps * bias + the sum over the input features of weight row * count (a map of
 *  map_c channels): the readout of `steps` steps whose input spikes `counts` holds. The
 *  logits must be zero on entry. */
void spq_readout_finish(const spq_layer_t *l, uint32_t map_c, const uint32_t *counts,
                        uint32_t planes, uint32_t steps, int32_t *logits);
/** 1 if the readout's offset-binary rows (weights_x) are absent, or present on a readout
 *  that may have them and equal to the definition (docs/formats.md, "Kernel tables"). */
int spq_readout_x_valid(const spq_layer_t *l);
/* A summed readout's offset-binary rows added in byte lanes before they are widened:
 * 17 * 15 <= 255 (spq_readout_x, spq_readout_x_mve). */
#define SPQ_READOUT_FLUSH 17u
/** Helium: one plane of a summed readout's counts weighed with its offset-binary rows
 *  (spq_linear_mve.c; the portable spq_readout_x in spq_linear.c): logits = 2 * logits +
 *  the sum of the rows of the features set in `plane` (in_c a multiple of 32). */
void spq_readout_x_mve(const spq_layer_t *l, uint32_t map_c, const uint32_t *plane,
                       int32_t *logits);
/** Helium: spq_readout_count over all `planes` planes, four words a vector (spq_linear_mve.c). */
void spq_readout_count_mve(const spq_layer_t *l, const uint32_t *in, uint32_t *counts,
                           uint32_t planes);
/** Static first layer with a rank table and T <= 8 steps (any build): its spike trains are
 *  cached (docs/formats.md, "Arena layout"): the layer keeps no membrane region, its cache
 *  part holds the trains (or, in the reference build, its membranes). */
int spq_static_trains_ok(const spq_layer_t *l, uint32_t T);
/** The trains' cache bytes: a byte per neuron of the cached map (the max pool's output when
 *  the next layer is a max pool, `pool`; else the layer's), 32 per 32 neurons, then the
 *  layer's spike count at each step. */
size_t spq_static_trains_bytes(const spq_layer_t *l, const spq_layer_t *pool, uint32_t T);
/** The trains' scratch (the accumulator part): the position's int32 accumulators, the SMLAD
 *  weight pairs (spq_static_pairs_bytes), the train table (out_c << outcome_bits bytes) and
 *  a uint16 histogram of the 2^T train values. */
size_t spq_static_scratch_bytes(const spq_layer_t *l, uint32_t T);
/** Bytes of the SMLAD weight pairs of a static layer of their shape, else 0 (any build). */
size_t spq_static_pairs_bytes(const spq_layer_t *l);
/** A static layer with cached trains, one step: job->in the pixels, job->mem the cache
 *  (built at step 0), pool the max pool that reads it or NULL; the fast build copies step t
 *  of the trains into job->out unless a max pool takes them (spq_static_trains_copy), the
 *  reference computes the accumulators at every step and updates the membranes. */
void spq_static_trains_step(spq_job_t *job, const spq_layer_t *pool);
/** Step t of the cached trains of n neurons into out (fast build). */
void spq_static_trains_copy(const uint32_t *cache, size_t n, uint32_t t, uint32_t *out);
/** Static first layer without cached trains, once per inference: with a rank table (breaks)
 *  the rank of every neuron's accumulator as a byte (position-major) into `cache`, else its
 *  input current I (int32). acc: scratch of out_c int32. Returns the synops. */
uint32_t spq_static_prepare(const spq_layer_t *l, const uint8_t *pixels, void *cache,
                            int32_t *acc);
/** Static first layer, one step: the neurons from the cache (job->in). */
void spq_static_step(spq_job_t *job);
/** Static readout: the accumulator per class, once per inference; returns the synops. */
uint32_t spq_static_readout(const spq_layer_t *l, const uint8_t *pixels, int32_t *cache);

/* ---- neuron update of one output position (spq_neuron.c) ----
 * acc: the position's accumulators, int16 pair words (acc_bits 16), int32 (32) or input
 * currents I (0); the out_c neurons of position pos are updated, their spikes ORed into out
 * (which the caller has cleared); returns the number of spikes. */
uint32_t spq_neuron_pos(const spq_layer_t *l, const void *acc, uint32_t acc_bits,
                        uint32_t *mem, uint32_t pos, uint32_t *out);
/** The reference: every neuron by the arithmetic of docs/semantics.md s5. */
uint32_t spq_neuron_pos_ref(const spq_layer_t *l, const void *acc, uint32_t acc_bits,
                            uint32_t *mem, uint32_t pos, uint32_t *out);
/** 1 if the layer's outcome table (if any) is the outcome of the fixed-point neuron step for
 *  every channel, code and accumulator (checked once by spq_init). */
int spq_outcome_valid(const spq_layer_t *l);

/* ---- pooling and input (spq_pool.c), position-major maps ---- */
void spq_maxpool_spike(const spq_layer_t *l, const uint32_t *in_bits, uint32_t *out_bits);
#if SPQ_HAVE_MVE
/* 2x2 max pools of 16 or 32 channels with Helium (spq_pool_mve.c); 0: not that shape. */
int spq_maxpool2_mve(const spq_layer_t *l, const uint32_t *in, uint32_t *out);
#endif
void spq_sumpool_spike(const spq_layer_t *l, const uint32_t *in_bits, uint8_t *out_counts);
/** Pack one event frame (C, H, W) bytes (non-zero = spike) into a position-major map. */
void spq_pack_events(const uint8_t *in, uint32_t c, uint32_t hw, uint32_t *out_bits);

#endif /* SPQ_INTERNAL_H */
