/* SPDX-License-Identifier: MIT */
/* QuantLIF neuron update (docs/semantics.md s5) over one layer for one time step: reads the
 * accumulators (position-major), updates the packed membranes and writes the spike map
 * (channel-major).
 *
 * Two implementations with identical results:
 *  - the fast path (below, "fast path"), for 1, 2, 4 and 8-bit membranes: one pass per
 *    channel with its constants hoisted, membranes and spikes a word at a time, the current
 *    without 64-bit shifts where the accumulator bound allows;
 *  - the block path, for 3, 5, 6 and 7-bit membranes (codes straddle words): neurons in
 *    blocks of 32, the neurons of one spike-map word, whose membrane codes fill exactly
 *    level_bits words. Each block runs three short loops with few live values: currents
 *    I + B, then + K*u from the decoded membranes, then fire / reset / round / clamp,
 *    re-encoding the membranes in place. */
#include "spq_rows.h"

#define SPQ_BLOCK 32u

static void spq_neuron_cfg(const spq_layer_t *l, spq_neuron_cfg_t *cfg)
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

/* ---- fast path: membranes of 1, 2, 4 or 8 bits (no code straddles two words) ----
 *
 * One pass over the neurons in (C, H, W) order with the per-channel constants hoisted: the
 * membrane word and the spike word stay in registers and are loaded / stored once per word.
 *
 * Input current without 64-bit shifts: when the layer's accumulator bound amax proves
 * |I| <= 2^29 for a channel (no saturation), and x * 2^k fits in int32 for a k with
 * t = S + k - 32 in 1..31, then with xh = the high word of (x * 2^k) * M, which is
 * floor(x*M / 2^(S-t)),
 *     I = floor((x*M + 2^(S-1)) / 2^S) = floor((xh + 2^(t-1)) / 2^t)
 * (nested floors), computed as ((xh + 2^(t-1) + 2^31) >> t) - 2^(31-t) in uint32 with the
 * constant folded into the channel's bias. int16 pair accumulators give x * 2^16 directly
 * (SPQ_CUR_MUL16, k = 16). Other channels use spq_current_scaled (SPQ_CUR_ANY).
 * Bit-exact with the block path above, which serves 3, 5, 6 and 7-bit membranes. */

enum { SPQ_CUR_ANY = 0, SPQ_CUR_MUL = 1, SPQ_CUR_MUL16 = 2, SPQ_CUR_CACHED = 3 };

typedef struct {
    /* per layer */
    const uint32_t *acc; /* accumulator (or cached current) words, position-major */
    uint32_t stride;     /* words per position */
    uint32_t n_pos, bits, mask, zw, per_word;
    int32_t leak, lo;
    uint32_t theta; /* hi * 2^F */
    uint32_t soft;
    int32_t range; /* hi - lo */
    /* running state */
    uint32_t *mw;   /* current membrane word */
    uint32_t mword; /* its codes ^ zw, rotated so that the next code is lowest */
    uint32_t mleft; /* codes left in the current membrane word */
    uint32_t todo;  /* neurons not finished yet */
    uint32_t *ow;   /* current spike word */
    uint32_t sword; /* spikes shifted in from the top */
    uint32_t sleft; /* neurons left in the current spike word */
    uint32_t spikes;
} spq_fast_t;

SPQ_INLINE int32_t spq_sext16(uint32_t x)
{
    return (int32_t)((x & 0xFFFFu) ^ 0x8000u) - 0x8000;
}

SPQ_INLINE uint32_t spq_ror(uint32_t x, uint32_t n) /* 1 <= n <= 31 */
{
    return (x >> n) | (x << ((32u - n) & 31u));
}

/* Channel c, all its positions. acc16: 0 int32 accumulators, 1 the low half of a pair word,
 * 2 the high half. The membrane word w is kept as w ^ zw (zw: zero_code in every slot), so
 * its low `bits` bits are u - lo; each neuron replaces them with the new u - lo and rotates
 * w right by `bits`: after 32 / bits neurons the word is back in place. All sums are
 * uint32 (mod 2^32); V itself fits int32 (docs/semantics.md s5). */
SPQ_TEMPLATE void spq_fast_channel(spq_fast_t *st, uint32_t c, int mode, int acc16,
                                   int32_t mult, uint32_t shift, int32_t bias, uint32_t k,
                                   uint32_t cbits)
{
    const uint32_t *a;
    uint32_t stride = st->stride, bits = cbits ? cbits : st->bits;
    uint32_t mask = cbits ? ((uint32_t)1 << cbits) - 1u : st->mask;
    uint32_t p = 0, n_pos = st->n_pos, t = 1, c1 = 0;
    uint32_t leak = (uint32_t)st->leak, base = (uint32_t)(st->leak * st->lo + bias);
    uint32_t softmask = st->soft ? 0xFFFFFFFFu : 0u, theta = st->theta;
    int32_t range = st->range, blo = st->lo + (1 << (31 - SPQ_FRAC_BITS));
    spq_scale_t q = spq_scale(mult, shift);
    a = st->acc + (acc16 ? (c >> 1) : c);
    if (mode == SPQ_CUR_MUL || mode == SPQ_CUR_MUL16) {
        t = shift + k - 32u;
        c1 = ((uint32_t)1 << (t - 1u)) + 0x80000000u;
        base -= (uint32_t)1 << (31u - t);
    }
    while (p < n_pos) {
        uint32_t run = n_pos - p;
        uint32_t w = st->mword, sword = st->sword;
        const uint32_t *end;
        if (run > st->mleft) {
            run = st->mleft;
        }
        if (run > st->sleft) {
            run = st->sleft;
        }
        end = a + run * stride;
        do {
            uint32_t cur, v;
            int32_t d;
            if (mode == SPQ_CUR_CACHED) {
                cur = *a;
            } else if (mode == SPQ_CUR_ANY) {
                int32_t x = acc16 == 1   ? spq_sext16(*a)
                            : acc16 == 2 ? spq_sext16((*a + 0x8000u) >> 16)
                                         : spq_from_u32(*a);
                cur = (uint32_t)spq_current_scaled(x, &q);
            } else {
                int32_t xk; /* x * 2^k */
                uint32_t xh;
                if (mode == SPQ_CUR_MUL16) {
                    xk = spq_from_u32(acc16 == 1 ? *a << 16 : (*a + 0x8000u) & 0xFFFF0000u);
                } else {
                    int32_t x = acc16 == 1   ? spq_sext16(*a)
                                : acc16 == 2 ? spq_sext16((*a + 0x8000u) >> 16)
                                             : spq_from_u32(*a);
                    xk = spq_from_u32((uint32_t)x << k);
                }
                xh = (uint32_t)((uint64_t)((int64_t)xk * mult) >> 32);
                cur = (xh + c1) >> t;
            }
            a += stride;
            v = cur + base + leak * (w & mask);
            sword >>= 1;
            if (spq_from_u32(v) >= (int32_t)theta) {
                sword |= 0x80000000u;
                v = (v - theta) & softmask;
            }
            /* u' - lo = floor((V + 2^(F-1)) / 2^F) - lo, clamped to [0, hi - lo] */
            d = (int32_t)((v + 0x80008000u) >> SPQ_FRAC_BITS) - blo;
            d = d < 0 ? 0 : (d > range ? range : d);
            w = spq_ror((w & ~mask) | (uint32_t)d, bits);
        } while (a != end);
        p += run;
        st->todo -= run;
        st->mleft -= run;
        st->sleft -= run;
        st->mword = w;
        st->sword = sword;
        if (st->mleft == 0u) {
            *st->mw++ = w ^ st->zw;
            st->mleft = st->per_word;
            st->mword = st->todo != 0u ? *st->mw ^ st->zw : 0u;
        }
        if (st->sleft == 0u) {
            *st->ow++ = sword;
            st->spikes += spq_popcount(sword);
            st->sword = 0;
            st->sleft = 32;
        }
    }
}

/* Largest |accumulator| of a synapse layer: fan_in * qmax * max_in (docs/semantics.md s4). */
static uint64_t spq_acc_max(const spq_layer_t *l)
{
    uint64_t fan_in = l->type == SPQ_LAYER_CONV
                          ? (uint64_t)l->in_c * l->kernel * l->kernel
                          : (uint64_t)l->in_c;
    return fan_in * ((((uint64_t)1) << (l->weight_bits - 1u)) - 1u) * l->max_in;
}

/* The current mode of a channel (and its k for SPQ_CUR_MUL), see above. No saturation:
 * amax*|M| + 2^(S-1) <= 2^(S+29) (then |floor((acc*M + 2^(S-1)) / 2^S)| <= 2^29). */
static int spq_cur_mode(uint64_t amax, int acc16, int32_t mult, uint32_t shift, uint32_t *k)
{
    uint64_t m = mult < 0 ? (uint64_t)0 - (uint64_t)(int64_t)mult : (uint64_t)mult;
    uint64_t round = shift ? (uint64_t)1 << (shift - 1u) : 0u;
    if (shift + 29u < 63u && amax * m + round > (uint64_t)1 << (shift + 29u)) {
        return SPQ_CUR_ANY;
    }
    if (acc16 && shift >= 17u && shift <= 47u) {
        *k = 16u;
        return SPQ_CUR_MUL16;
    }
    *k = shift >= 33u ? 0u : 33u - shift;
    if (*k > 30u || (amax << *k) >= ((uint64_t)1 << 31)) {
        return SPQ_CUR_ANY;
    }
    return SPQ_CUR_MUL;
}

/* One out-of-line function per (mode, accumulator kind), so that each channel loop gets the
 * registers to itself. */
#define SPQ_FAST_FN(NAME, MODE, ACC16)                                                   \
    SPQ_NOINLINE static void NAME(spq_fast_t *st, uint32_t c, int32_t m, uint32_t s,      \
                                  int32_t b, uint32_t k)                                  \
    {                                                                                    \
        if (st->bits == 2u) { /* ternary membranes: shifts and masks as immediates */    \
            spq_fast_channel(st, c, MODE, ACC16, m, s, b, k, 2u);                        \
        } else {                                                                         \
            spq_fast_channel(st, c, MODE, ACC16, m, s, b, k, 0u);                        \
        }                                                                                \
    }

SPQ_FAST_FN(spq_fast_cached, SPQ_CUR_CACHED, 0)
SPQ_FAST_FN(spq_fast_mul16_lo, SPQ_CUR_MUL16, 1)
SPQ_FAST_FN(spq_fast_mul16_hi, SPQ_CUR_MUL16, 2)
SPQ_FAST_FN(spq_fast_mul_lo, SPQ_CUR_MUL, 1)
SPQ_FAST_FN(spq_fast_mul_hi, SPQ_CUR_MUL, 2)
SPQ_FAST_FN(spq_fast_mul_32, SPQ_CUR_MUL, 0)
/* saturating channels are rare: one generic copy each */
#define SPQ_FAST_FN_ANY(NAME, ACC16)                                                     \
    SPQ_NOINLINE static void NAME(spq_fast_t *st, uint32_t c, int32_t m, uint32_t s,      \
                                  int32_t b, uint32_t k)                                  \
    {                                                                                    \
        spq_fast_channel(st, c, SPQ_CUR_ANY, ACC16, m, s, b, k, 0u);                     \
    }

SPQ_FAST_FN_ANY(spq_fast_any_lo, 1)
SPQ_FAST_FN_ANY(spq_fast_any_hi, 2)
SPQ_FAST_FN_ANY(spq_fast_any_32, 0)

typedef void (*spq_fast_fn_t)(spq_fast_t *st, uint32_t c, int32_t m, uint32_t s, int32_t b,
                              uint32_t k);

/* kind: 0 int16 pair accumulators, 1 int32 accumulators, 2 cached int32 currents. */
static uint32_t spq_neuron_fast(const spq_layer_t *l, const uint32_t *acc, int kind,
                                uint32_t *mem, uint32_t *out_bits)
{
    spq_fast_t st;
    uint32_t c, C = l->out_c;
    uint64_t amax = kind == 2 ? 0u : spq_acc_max(l);
    st.acc = acc;
    st.n_pos = (uint32_t)l->out_h * l->out_w;
    st.stride = kind == 0 ? (C + 1u) >> 1 : C;
    st.bits = l->level_bits;
    st.mask = ((uint32_t)1 << st.bits) - 1u;
    st.zw = 0;
    for (c = 0; c < 32u; c += st.bits) { /* zero_code in every slot */
        st.zw |= (uint32_t)(0 - (int32_t)l->lo) << c;
    }
    st.per_word = 32u / st.bits;
    st.leak = l->leak;
    st.lo = l->lo;
    st.range = (int32_t)l->hi - (int32_t)l->lo;
    st.theta = (uint32_t)l->hi << SPQ_FRAC_BITS;
    st.soft = l->reset == SPQ_RESET_SOFT;
    st.mw = mem;
    st.todo = C * st.n_pos;
    st.mword = st.todo != 0u ? *mem ^ st.zw : 0u;
    st.mleft = st.per_word;
    st.ow = out_bits;
    st.sword = 0;
    st.sleft = 32;
    st.spikes = 0;
    if (st.n_pos == 0u) {
        return 0;
    }
    for (c = 0; c < C; c++) {
        int32_t m = l->mult[c], b = l->bias[c];
        uint32_t s = (uint32_t)l->shift[c], k = 0, half = c & 1u;
        spq_fast_fn_t fn;
        if (kind == 2) {
            fn = spq_fast_cached;
        } else {
            switch (spq_cur_mode(amax, kind == 0, m, s, &k)) {
            case SPQ_CUR_MUL16:
                fn = half ? spq_fast_mul16_hi : spq_fast_mul16_lo;
                break;
            case SPQ_CUR_MUL:
                fn = kind == 1 ? spq_fast_mul_32 : (half ? spq_fast_mul_hi : spq_fast_mul_lo);
                break;
            default:
                fn = kind == 1 ? spq_fast_any_32 : (half ? spq_fast_any_hi : spq_fast_any_lo);
                break;
            }
        }
        fn(&st, c, m, s, b, k);
    }
    if (st.mleft != st.per_word) {
        /* rotate the finished codes down to bit 0 (unused high bits: zero codes) */
        uint32_t used = (st.per_word - st.mleft) * st.bits;
        *st.mw = (spq_ror(st.mword, 32u - used) ^ st.zw) & (((uint32_t)1 << used) - 1u);
    }
    if (st.sleft != 32u) {
        *st.ow = st.sword >> st.sleft;
        st.spikes += spq_popcount(*st.ow);
    }
    return st.spikes;
}

#define SPQ_FAST_OK(l) ((32u % (l)->level_bits) == 0u)

uint32_t spq_neuron_acc_a16(const spq_layer_t *l, const uint32_t *acc, uint32_t *mem,
                            uint32_t *out_bits)
{
    if (SPQ_FAST_OK(l)) {
        return spq_neuron_fast(l, acc, 0, mem, out_bits);
    }
    SPQ_NEURON_LAYER(spq_currents_a16)
}

uint32_t spq_neuron_acc_a32(const spq_layer_t *l, const int32_t *acc, uint32_t *mem,
                            uint32_t *out_bits)
{
    if (SPQ_FAST_OK(l)) {
        return spq_neuron_fast(l, (const uint32_t *)(const void *)acc, 1, mem, out_bits);
    }
    SPQ_NEURON_LAYER(spq_currents_a32)
}

uint32_t spq_neuron_current(const spq_layer_t *l, const int32_t *current, uint32_t *mem,
                            uint32_t *out_bits)
{
    const int32_t *acc = current;
    if (SPQ_FAST_OK(l)) {
        return spq_neuron_fast(l, (const uint32_t *)(const void *)current, 2, mem, out_bits);
    }
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
