/* SPDX-License-Identifier: MIT */
/* Fully connected layers (hidden and readout), input driven: every non-zero input feature f
 * adds weight row f (its out_c weights) into the accumulators. A linear layer reads the
 * (C, H, W) map before it flattened in channel-major order (feature c * H * W + position,
 * docs/semantics.md s1) while maps are stored position-major (bit position * C + c), so the
 * bit index is mapped to the feature here. */
#include "spq_conv.h"

/* Feature of map index j = position * map_c + c: c * hw + position. */
SPQ_INLINE uint32_t spq_feature(uint32_t j, uint32_t map_c, uint32_t hw)
{
    uint32_t pos;
    if (map_c == 1u || hw == 1u) {
        return j;
    }
    pos = j / map_c;
    return (j - pos * map_c) * hw + pos;
}

uint32_t spq_linear_gather(const spq_layer_t *l, const void *in, uint32_t kind, uint32_t map_c,
                           void *acc, spq_row_fn_t row)
{
    uint32_t n = l->in_c, hw = n / map_c, rb = l->weight_row_bytes, oc = l->out_c;
    uint32_t j, rows = 0;
    if (kind == SPQ_IN_SPIKE) {
        const uint32_t *bits = (const uint32_t *)in;
        uint32_t wi, words = (n + 31u) >> 5;
        for (wi = 0; wi < words; wi++) {
            uint32_t word = bits[wi];
            if (wi == words - 1u && (n & 31u) != 0u) {
                word &= ((uint32_t)1 << (n & 31u)) - 1u;
            }
            while (word != 0u) {
                j = (wi << 5) + SPQ_CTZ(word);
                word &= word - 1u;
                row(acc, l->weights + (size_t)spq_feature(j, map_c, hw) * rb, oc, 1);
                rows++;
            }
        }
    } else {
        const uint8_t *v = (const uint8_t *)in;
        for (j = 0; j < n; j++) {
            if (v[j] != 0u) {
                uint32_t f = kind == SPQ_IN_U8 ? j : spq_feature(j, map_c, hw);
                row(acc, l->weights + (size_t)f * rb, oc, (int32_t)v[j]);
                rows++;
            }
        }
    }
    return rows;
}

void spq_linear_step(spq_job_t *job)
{
    const spq_layer_t *l = job->l;
    uint32_t acc_bits = l->acc_bits, rows;
    spq_row_fn_t row = spq_row_select(l->weight_bits, acc_bits, l->in_kind != SPQ_IN_SPIKE);
    memset(job->acc, 0, spq_acc_pos_bytes(l->out_c, acc_bits));
    rows = spq_linear_gather(l, job->in, l->in_kind, job->map_c, job->acc, row);
    job->spikes += spq_neuron_pos(l, job->acc, acc_bits, job->mem, 0u, job->out);
    job->synops += rows * l->out_c;
}

void spq_readout_step(spq_job_t *job, int32_t *logits)
{
    const spq_layer_t *l = job->l;
    spq_row_fn_t row = spq_row_select(l->weight_bits, 32u, l->in_kind != SPQ_IN_SPIKE);
    job->synops += spq_linear_gather(l, job->in, l->in_kind, job->map_c, logits, row) * l->out_c;
}

uint32_t spq_count_planes(uint32_t T)
{
    uint32_t n = 0;
    while (T != 0u) {
        n++;
        T >>= 1;
    }
    return n;
}

void spq_readout_count(spq_job_t *job, uint32_t planes)
{
    const spq_layer_t *l = job->l;
    const uint32_t *in = (const uint32_t *)job->in;
    uint32_t *counts = job->mem, words = (l->in_c + 31u) / 32u, i, p, rows = 0;
    for (i = 0; i < words; i++) {
        uint32_t carry = in[i];
        if (i + 1u == words && (l->in_c & 31u) != 0u) {
            carry &= ((uint32_t)1 << (l->in_c & 31u)) - 1u;
        }
        rows += spq_popcount(carry);
        for (p = 0; p < planes && carry != 0u; p++) { /* ripple-carry add of one bit */
            uint32_t *c = counts + p * words + i, next = *c & carry;
            *c ^= carry;
            carry = next;
        }
    }
    job->synops += rows * l->out_c;
}

/* Classes weighed at a time by the plane-wise finish (its int16 pair sums on the stack). */
#define SPQ_READOUT_BLOCK 32u

/* The counts weighed plane by plane: for each bit plane p, the weight rows of the features
 * whose count has bit p set are added into int16 pair sums (adds, no multiplies; every plane
 * sum is bounded by in_c * qmax <= 32767), then logits += sum << p. */
static void spq_readout_planes(const spq_layer_t *l, uint32_t map_c, const uint32_t *counts,
                               uint32_t planes, int32_t *logits)
{
    spq_row_fn_t row = spq_row_select(l->weight_bits, 16u, 0);
    uint32_t n = l->in_c, hw = n / map_c, rb = l->weight_row_bytes, oc = l->out_c;
    uint32_t words = (n + 31u) / 32u, wi, p, c0, o;
    uint32_t acc[SPQ_READOUT_BLOCK / 2u];
    for (c0 = 0; c0 < oc; c0 += SPQ_READOUT_BLOCK) {
        uint32_t nb = oc - c0 < SPQ_READOUT_BLOCK ? oc - c0 : SPQ_READOUT_BLOCK;
        const uint8_t *w = l->weights + c0 * l->weight_bits / 8u;
        for (p = 0; p < planes; p++) {
            const uint32_t *plane = counts + p * words;
            for (o = 0; o < (nb + 1u) / 2u; o++) {
                acc[o] = 0;
            }
            for (wi = 0; wi < words; wi++) {
                uint32_t bits = plane[wi];
                while (bits != 0u) {
                    uint32_t j = (wi << 5) + SPQ_CTZ(bits);
                    bits &= bits - 1u;
                    row(acc, w + (size_t)spq_feature(j, map_c, hw) * rb, nb, 1);
                }
            }
            for (o = 0; o < nb; o++) {
                uint32_t v = acc[o / 2u];
                int32_t a = (o & 1u) ? spq_acc16_hi(v) : spq_acc16_lo(v);
                logits[c0 + o] += (int32_t)((uint32_t)a << p);
            }
        }
    }
}

void spq_readout_finish(const spq_layer_t *l, uint32_t map_c, const uint32_t *counts,
                        uint32_t planes, int32_t *logits)
{
    spq_row_fn_t row = spq_row_select(l->weight_bits, 32u, 1);
    uint32_t n = l->in_c, hw = n / map_c, rb = l->weight_row_bytes;
    uint32_t words = (n + 31u) / 32u, wi, p;
    if (SPQ_FAST && (uint64_t)n * ((1u << (l->weight_bits - 1u)) - 1u) <= 32767u) {
        spq_readout_planes(l, map_c, counts, planes, logits);
        return;
    }
    for (wi = 0; wi < words; wi++) {
        uint32_t any = 0;
        for (p = 0; p < planes; p++) {
            any |= counts[p * words + wi];
        }
        while (any != 0u) {
            uint32_t b = SPQ_CTZ(any), j = (wi << 5) + b, c = 0;
            any &= any - 1u;
            for (p = 0; p < planes; p++) {
                c |= ((counts[p * words + wi] >> b) & 1u) << p;
            }
            row(logits, l->weights + (size_t)spq_feature(j, map_c, hw) * rb, l->out_c,
                (int32_t)c);
        }
    }
}

uint32_t spq_static_readout(const spq_layer_t *l, const uint8_t *pixels, int32_t *cache)
{
    memset(cache, 0, 4u * l->out_c);
    return spq_linear_gather(l, pixels, SPQ_IN_U8, 1u, cache,
                             spq_row_select(l->weight_bits, 32u, 1)) *
           l->out_c;
}
