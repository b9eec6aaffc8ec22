/* SPDX-License-Identifier: MIT */
/* QuantLIF neuron update (docs/semantics.md s5) over one layer for one time step: reads the
 * accumulators (position-major), updates the packed membranes and writes the spike map
 * (channel-major).
 *
 * Neurons go in blocks of 32, the neurons of one spike-map word, whose membrane codes fill
 * exactly level_bits words. Each block runs three short loops with few live values (so they
 * stay in registers on a Cortex-M): currents I + B, then + K*u from the decoded membranes,
 * then fire / reset / round / clamp, re-encoding the membranes in place. */
#include "spq_rows.h"

#define SPQ_BLOCK 32u

static void spq_neuron_cfg(const spq_layer_t *l, spq_neuron_cfg_t *cfg)
{
    cfg->leak = l->leak;
    cfg->lo = l->lo;
    cfg->hi = l->hi;
    cfg->zero_code = (uint32_t)(0 - (int32_t)l->lo);
    cfg->bits = l->level_bits;
    cfg->mask = ((uint32_t)1 << l->level_bits) - 1u;
    cfg->soft = (uint8_t)(l->reset == SPQ_RESET_SOFT);
}

/* Walks the neurons in (C, H, W) order: channel c, position p. */
typedef struct {
    uint32_t c, p, n_pos, channels;
} spq_cursor_t;

static void spq_cursor_init(const spq_layer_t *l, spq_cursor_t *cur)
{
    cur->c = 0;
    cur->p = 0;
    cur->n_pos = (uint32_t)l->out_h * l->out_w;
    cur->channels = l->out_c;
}

/* v[k] = I + B for the next `count` neurons, in runs of one channel so that its constants
 * stay in registers; CURRENT(p) is I of channel c at position p (`stride` accumulator
 * words per position). */
#define SPQ_CURRENTS(NAME, ACC_T, STRIDE, CURRENT)                                       \
    static void NAME(const spq_layer_t *l, const ACC_T *acc, spq_cursor_t *cur,          \
                     uint32_t count, int32_t *v)                                         \
    {                                                                                    \
        uint32_t k = 0;                                                                  \
        while (k < count) {                                                              \
            uint32_t c = cur->c, p = cur->p, end;                                        \
            uint32_t run = cur->n_pos - p < count - k ? cur->n_pos - p : count - k;      \
            uint32_t stride = STRIDE;                                                    \
            int32_t bias = l->bias[c];                                                   \
            spq_scale_t q = spq_scale(l->mult[c], (uint32_t)l->shift[c]);                \
            (void)q;                                                                     \
            for (end = p + run; p < end; p++) {                                          \
                v[k++] = CURRENT(p) + bias;                                              \
            }                                                                            \
            if (p == cur->n_pos) {                                                       \
                cur->c = c + 1u;                                                         \
                p = 0;                                                                   \
            }                                                                            \
            cur->p = p;                                                                  \
        }                                                                                \
    }

#define SPQ_FROM_ACC32(p) spq_current_scaled(acc[(p) * stride + c], &q)
#define SPQ_FROM_ACC16(p)                                                                \
    spq_current_scaled((c & 1u) ? spq_acc16_hi(acc[(p) * stride + (c >> 1)])             \
                                : spq_acc16_lo(acc[(p) * stride + (c >> 1)]),            \
                       &q)
#define SPQ_FROM_CURRENT(p) acc[(p) * stride + c]

SPQ_CURRENTS(spq_currents_a16, uint32_t, (cur->channels + 1u) >> 1, SPQ_FROM_ACC16)
SPQ_CURRENTS(spq_currents_a32, int32_t, cur->channels, SPQ_FROM_ACC32)
SPQ_CURRENTS(spq_currents_cached, int32_t, cur->channels, SPQ_FROM_CURRENT)

/* v[k] += K * u for the block's membranes (mw: its level_bits words). */
static void spq_leak_block(const uint32_t *mw, uint32_t count, const spq_neuron_cfg_t *cfg,
                           int32_t *v)
{
    uint32_t k, bits = cfg->bits, mask = cfg->mask, zero = cfg->zero_code;
    int32_t lo = cfg->lo, leak = cfg->leak;
    if ((32u % bits) == 0u) { /* 1, 2, 4, 8 bits: no code straddles two words */
        uint32_t w = 0, left = 0;
        for (k = 0; k < count; k++) {
            if (left == 0u) {
                w = *mw++;
                left = 32u;
            }
            v[k] += leak * ((int32_t)((w & mask) ^ zero) + lo);
            w >>= bits;
            left -= bits;
        }
    } else {
        uint64_t rb = 0;
        uint32_t rn = 0;
        for (k = 0; k < count; k++) {
            if (rn < bits) {
                rb |= (uint64_t)*mw++ << rn;
                rn += 32u;
            }
            v[k] += leak * ((int32_t)(((uint32_t)rb & mask) ^ zero) + lo);
            rb >>= bits;
            rn -= bits;
        }
    }
}

/* Spike, reset, round and clamp V = v[k] (it holds K*u + I + B): u' = codes[k], spikes
 * as bits of the returned word. */
static uint32_t spq_fire_block(uint32_t count, const spq_neuron_cfg_t *cfg, const int32_t *v,
                               uint8_t *codes)
{
    uint32_t k, word = 0, zero = cfg->zero_code;
    int32_t lo = cfg->lo;
    for (k = 0; k < count; k++) {
        int32_t u = 0; /* with u = 0 and B = 0, spq_neuron_step's V is v[k] itself */
        uint32_t s = spq_neuron_step(cfg, v[k], 0, &u);
        codes[k] = (uint8_t)(((uint32_t)(u - lo)) ^ zero);
        word |= s << k;
    }
    return word;
}

/* Write the block's codes back into its level_bits membrane words. */
static void spq_store_block(uint32_t *mw, uint32_t count, uint32_t bits, const uint8_t *codes)
{
    uint32_t k;
    if ((32u % bits) == 0u) {
        uint32_t w = 0, fill = 0;
        for (k = 0; k < count; k++) {
            w |= (uint32_t)codes[k] << fill;
            fill += bits;
            if (fill == 32u) {
                *mw++ = w;
                w = 0;
                fill = 0;
            }
        }
        if (fill != 0u) {
            *mw = w;
        }
    } else {
        uint64_t wb = 0;
        uint32_t wn = 0;
        for (k = 0; k < count; k++) {
            wb |= (uint64_t)codes[k] << wn;
            wn += bits;
            if (wn >= 32u) {
                *mw++ = (uint32_t)wb;
                wb >>= 32;
                wn -= 32u;
            }
        }
        if (wn != 0u) {
            *mw = (uint32_t)wb;
        }
    }
}

SPQ_INLINE uint32_t spq_popcount(uint32_t x)
{
    x = x - ((x >> 1) & 0x55555555u);
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    x = (x + (x >> 4)) & 0x0F0F0F0Fu;
    return (x * 0x01010101u) >> 24;
}

#define SPQ_NEURON_LAYER(CURRENTS)                                                       \
    spq_neuron_cfg_t cfg;                                                                \
    spq_cursor_t cur;                                                                    \
    int32_t v[SPQ_BLOCK];                                                                \
    uint8_t codes[SPQ_BLOCK];                                                            \
    uint32_t n0, j, spikes = 0;                                                          \
    uint32_t total = (uint32_t)l->out_c * l->out_h * l->out_w;                           \
    spq_neuron_cfg(l, &cfg);                                                             \
    spq_cursor_init(l, &cur);                                                            \
    for (n0 = 0, j = 0; n0 < total; n0 += SPQ_BLOCK, j++) {                              \
        uint32_t count = total - n0 < SPQ_BLOCK ? total - n0 : SPQ_BLOCK;                \
        uint32_t *mw = mem + j * cfg.bits;                                               \
        CURRENTS(l, acc, &cur, count, v);                                                \
        spq_leak_block(mw, count, &cfg, v);                                              \
        out_bits[j] = spq_fire_block(count, &cfg, v, codes);                             \
        spikes += spq_popcount(out_bits[j]);                                             \
        spq_store_block(mw, count, cfg.bits, codes);                                     \
    }                                                                                    \
    return spikes;

uint32_t spq_neuron_acc_a16(const spq_layer_t *l, const uint32_t *acc, uint32_t *mem,
                            uint32_t *out_bits)
{
    SPQ_NEURON_LAYER(spq_currents_a16)
}

uint32_t spq_neuron_acc_a32(const spq_layer_t *l, const int32_t *acc, uint32_t *mem,
                            uint32_t *out_bits)
{
    SPQ_NEURON_LAYER(spq_currents_a32)
}

uint32_t spq_neuron_current(const spq_layer_t *l, const int32_t *current, uint32_t *mem,
                            uint32_t *out_bits)
{
    const int32_t *acc = current;
    SPQ_NEURON_LAYER(spq_currents_cached)
}

void spq_neuron_precompute_current(const spq_layer_t *l, int32_t *acc)
{
    uint32_t n_pos = (uint32_t)l->out_h * l->out_w, C = l->out_c, c, p;
    for (c = 0; c < C; c++) {
        spq_scale_t q = spq_scale(l->mult[c], (uint32_t)l->shift[c]);
        for (p = 0; p < n_pos; p++) {
            acc[p * C + c] = spq_current_scaled(acc[p * C + c], &q);
        }
    }
}
