/* SPDX-License-Identifier: MIT */
/* QuantLIF neuron update (docs/semantics.md s5) of the out_c neurons of one output position:
 * reads their accumulators, updates their packed membranes and ORs their spikes into the
 * position-major spike map.
 *
 * Two implementations with identical results:
 *  - the reference (spq_neuron_pos_ref): the arithmetic of semantics.md s5 per neuron;
 *  - the outcome table (spq_neuron_pos_table), for layers whose exporter emitted one: with
 *    few levels the outcome (spike, u') of a neuron is, for each level u, a step function
 *    of its accumulator, so spq-export tabulates it per channel over the accumulator window
 *    where it changes (docs/formats.md, "Kernel tables"); spq_init checks the table against
 *    the reference step (spq_outcome_valid). */
#include "spq_neuron.h"

void spq_neuron_cfg(const spq_layer_t *l, spq_neuron_cfg_t *cfg)
{
    cfg->leak = l->leak;
    cfg->lo = l->lo;
    cfg->hi = l->hi;
    cfg->theta = (int32_t)l->hi * SPQ_THETA;
    cfg->zero_code = (uint32_t)(0 - (int32_t)l->lo);
    cfg->bits = l->level_bits;
    cfg->mask = ((uint32_t)1 << l->level_bits) - 1u;
    cfg->soft = (uint8_t)(l->reset == SPQ_RESET_SOFT);
}

/* Accumulator c of a position: int16 pair words, int32, or (acc_bits 0) input currents. */
SPQ_INLINE int32_t spq_acc_at(const void *acc, uint32_t acc_bits, uint32_t c)
{
    if (acc_bits == 16u) {
        uint32_t w = ((const uint32_t *)acc)[c >> 1];
        return (c & 1u) ? spq_acc16_hi(w) : spq_acc16_lo(w);
    }
    return ((const int32_t *)acc)[c];
}

SPQ_COLD
uint32_t spq_neuron_outcome(const spq_layer_t *l, const spq_neuron_cfg_t *cfg, uint32_t c,
                            int32_t u, int32_t acc)
{
    int32_t cur = spq_current(acc, l->mult[c], (uint32_t)l->shift[c]);
    uint32_t s = spq_neuron_step(cfg, cur, l->bias[c], &u);
    return (((uint32_t)(u - cfg->lo)) ^ cfg->zero_code) | (s << 7);
}

SPQ_SIZE
uint32_t spq_neuron_pos_ref(const spq_layer_t *l, const void *acc, uint32_t acc_bits,
                            uint32_t *mem, uint32_t pos, uint32_t *out)
{
    spq_neuron_cfg_t cfg;
    uint32_t c, C = l->out_c, k = pos * C, spikes = 0;
    spq_neuron_cfg(l, &cfg);
    for (c = 0; c < C; c++, k++) {
        int32_t a = spq_acc_at(acc, acc_bits, c);
        int32_t cur = acc_bits == 0u ? a : spq_current(a, l->mult[c], (uint32_t)l->shift[c]);
        int32_t u = spq_mem_get(mem, k * cfg.bits, &cfg);
        uint32_t s = spq_neuron_step(&cfg, cur, l->bias[c], &u);
        spq_mem_put(mem, k * cfg.bits, &cfg, u);
        out[k >> 5] |= s << (k & 31u);
        spikes += s;
    }
    return spikes;
}

/* Column of the outcome table for accumulator a of channel c: a - base clamped to the
 * window [0, 2^n - 1] (the outcome is constant beyond it). */
SPQ_INLINE uint32_t spq_outcome_col(int32_t a, int32_t base, uint32_t n)
{
    int64_t d = (int64_t)a - base;
    return d < 0 ? 0u : (d > (int64_t)((1u << n) - 1u) ? (1u << n) - 1u : (uint32_t)d);
}

static uint32_t spq_neuron_pos_table(const spq_layer_t *l, const void *acc, uint32_t acc_bits,
                                     uint32_t *mem, uint32_t pos, uint32_t *out)
{
    const uint8_t *t = l->outcome;
    uint32_t c, C = l->out_c, k = pos * C, spikes = 0;
    uint32_t b = l->level_bits, n = l->outcome_bits, mask = ((uint32_t)1 << b) - 1u;
    for (c = 0; c < C; c++, k++, t += (size_t)1 << (b + n)) {
        uint32_t at = k * b, w = mem[at >> 5], sh = at & 31u; /* b <= 2: no straddle */
        uint32_t code = (w >> sh) & mask;
        uint32_t o = t[(code << n) + spq_outcome_col(spq_acc_at(acc, acc_bits, c),
                                                      l->outcome_base[c], n)];
        mem[at >> 5] = (w & ~(mask << sh)) | ((o & mask) << sh);
        out[k >> 5] |= (o >> 7) << (k & 31u);
        spikes += o >> 7;
    }
    return spikes;
}

uint32_t spq_neuron_pos(const spq_layer_t *l, const void *acc, uint32_t acc_bits,
                        uint32_t *mem, uint32_t pos, uint32_t *out)
{
    if (SPQ_FAST && l->outcome != NULL && acc_bits != 0u) {
        return spq_neuron_pos_table(l, acc, acc_bits, mem, pos, out);
    }
    return spq_neuron_pos_ref(l, acc, acc_bits, mem, pos, out);
}

/* The table row of (channel c, level u) against the reference step: every column where the
 * row changes (both sides) and both ends, and the clamped accumulators beyond the window
 * (-bound .. base and base + 2^n - 1 .. bound). The reference outcome is a monotone
 * function of the accumulator for a fixed u (I is monotone in acc, and (spike, u') is
 * determined by how many of the thresholds of s5 V reaches), so a row that agrees at those
 * points agrees everywhere between them. */
SPQ_COLD
static int spq_outcome_row_valid(const spq_layer_t *l, const spq_neuron_cfg_t *cfg, uint32_t c,
                                 int32_t u, const uint8_t *row, int32_t bound)
{
    uint32_t n = l->outcome_bits, last = (1u << n) - 1u, a;
    int32_t base = l->outcome_base[c];
    for (a = 0; a <= last; a++) {
        int check = a == 0u || a == last || row[a] != row[a - 1u] ||
                    (a < last && row[a] != row[a + 1u]);
        if (check && row[a] != spq_neuron_outcome(l, cfg, c, u, base + (int32_t)a)) {
            return 0;
        }
    }
    if (base > -bound && spq_neuron_outcome(l, cfg, c, u, -bound) != row[0]) {
        return 0;
    }
    if (base + (int32_t)last < bound && spq_neuron_outcome(l, cfg, c, u, bound) != row[last]) {
        return 0;
    }
    return 1;
}

/* A rank table (a static layer), the row of (channel c, level u): for every rank r the
 * accumulators from breaks[r - 1] (-bound for r = 0) to breaks[r] - 1 (bound for the last)
 * share the outcome of row entry r: checked at both ends of each interval (the outcome is
 * monotone). */
SPQ_COLD
static int spq_rank_row_valid(const spq_layer_t *l, const spq_neuron_cfg_t *cfg, uint32_t c,
                              int32_t u, const uint8_t *row, int32_t bound)
{
    uint32_t r, R = (1u << l->outcome_bits) - 1u;
    const int32_t *br = l->breaks + (size_t)c * R;
    for (r = 0; r <= R; r++) {
        int64_t lo = r == 0u ? -bound : br[r - 1u], hi = r == R ? bound : br[r] - 1;
        if (lo < -bound) {
            lo = -bound;
        }
        if (hi > bound) {
            hi = bound;
        }
        if (lo <= hi && (row[r] != spq_neuron_outcome(l, cfg, c, u, (int32_t)lo) ||
                         row[r] != spq_neuron_outcome(l, cfg, c, u, (int32_t)hi))) {
            return 0;
        }
    }
    return 1;
}

/* The outcome table (outcome_base: a window per channel) or the rank table (breaks: a static
 * layer, spike-count input u8) of a layer against the reference step; rows of 2^n entries
 * either way (a rank row: one per rank, 2^n - 1 breaks), one per channel and code. */
SPQ_COLD
int spq_outcome_valid(const spq_layer_t *l)
{
    spq_neuron_cfg_t cfg;
    uint32_t c, code, a, r, n = l->outcome_bits, R = (1u << n) - 1u;
    int rank = l->breaks != NULL;
    uint64_t bound64;
    int32_t bound;
    const uint8_t *row = l->outcome;
    if (row == NULL) {
        return !rank && l->outcome_base == NULL && n == 0u;
    }
    bound64 = spq_acc_bound(l);
    bound = (int32_t)bound64;
    if ((l->outcome_base == NULL) != rank || (rank && l->in_kind != SPQ_IN_U8) ||
        l->level_bits > 2u || n == 0u || n > SPQ_OUTCOME_MAX_BITS || bound64 > 0x3FFFFFFFu) {
        return 0;
    }
    spq_neuron_cfg(l, &cfg);
    for (c = 0; c < l->out_c; c++) {
        if (rank) { /* breaks sorted */
            const int32_t *br = l->breaks + (size_t)c * R;
            for (r = 1; r < R; r++) {
                if (br[r] < br[r - 1u]) {
                    return 0;
                }
            }
        } else if (l->outcome_base[c] < -0x3FFFFFFF || l->outcome_base[c] > 0x3FFFFFFF) {
            return 0;
        }
        for (code = 0; code <= cfg.mask; code++, row += (size_t)1 << n) {
            int32_t u = (int32_t)(code ^ cfg.zero_code) + cfg.lo;
            if (u > cfg.hi) { /* no membrane holds this code: the row is all zero */
                for (a = 0; a <= R; a++) {
                    if (row[a] != 0u) {
                        return 0;
                    }
                }
            } else if (rank ? !spq_rank_row_valid(l, &cfg, c, u, row, bound)
                            : !spq_outcome_row_valid(l, &cfg, c, u, row, bound)) {
                return 0;
            }
        }
    }
    return 1;
}
