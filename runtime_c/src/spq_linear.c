/* SPDX-License-Identifier: MIT */
/* Fully connected layers (hidden and readout), input driven: every non-zero input feature f
 * adds weight row f (its out_c weights) into the accumulators. A linear layer reads the
 * (C, H, W) map before it flattened in channel-major order (feature c * H * W + position,
 * docs/semantics.md s1) while maps are stored position-major (bit position * C + c), so the
 * bit index is mapped to the feature here. */
#include "spq_conv.h"
#include "spq_swar.h"

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

/* The counts never carry out of the top plane: a count is at most T < 2^planes. The map's
 * bits past in_c are zero (its frame is cleared before each step). */
void spq_readout_count(spq_job_t *job)
{
    const spq_layer_t *l = job->l;
    const uint32_t *in = (const uint32_t *)job->in;
    uint32_t *counts = job->mem, words = (l->in_c + 31u) / 32u, i, rows = 0;
    for (i = 0; i < words; i++) {
        uint32_t carry = in[i], *c = counts + i;
        rows += spq_popcount(carry);
        while (carry != 0u) { /* ripple-carry add of one bit */
            uint32_t next = *c & carry;
            *c ^= carry;
            carry = next;
            c += words;
        }
    }
    job->synops += rows * l->out_c;
}

/* Rows summed in the byte lanes before they are widened: 17 * 15 <= 255. */
#define SPQ_READOUT_FLUSH 17u

/* The byte lanes of e0 (classes 0, 2, 4, 6 of a row's first word) and o0 (1, 3, 5, 7) added
 * into the halfword lanes of four pair words: a[0] classes 0 and 4, a[1] 2 and 6, a[2] 1 and
 * 5, a[3] 3 and 7; e1 and o1 (the second word) into a[4..7]. Not inlined: one copy. */
static SPQ_NOINLINE void spq_readout_widen(uint32_t *a, uint32_t e0, uint32_t o0, uint32_t e1,
                                           uint32_t o1)
{
    a[0] = spq_add_b02(a[0], e0);
    a[1] = spq_add_b13(a[1], e0);
    a[2] = spq_add_b02(a[2], o0);
    a[3] = spq_add_b13(a[3], o0);
    a[4] = spq_add_b02(a[4], e1);
    a[5] = spq_add_b13(a[5], e1);
    a[6] = spq_add_b02(a[6], o1);
    a[7] = spq_add_b13(a[7], o1);
}

/* One plane of the counts weighed for 4-bit weights, 7 to 16 classes (rows of 4 to 8 bytes):
 * logits += the sum of the rows of the features whose bit is set in `plane`. A row is read
 * as two words, bytes 0..3 and rb - 4..rb - 1, its nibbles in offset binary (w + 8: XOR 8)
 * summed in byte lanes, even and odd classes apart, and widened every SPQ_READOUT_FLUSH
 * rows into halfword lanes (each at most in_c * 15 < 2^16); a class's sum is its lane minus
 * 8 * rows. The map's channels are a multiple of 32 (or the map is flat), so that a word
 * of it holds channels c .. c + 31 of one position, whose rows are S = hw * rb bytes apart:
 * no division per bit. */
static void spq_readout_w4(const spq_layer_t *l, uint32_t map_c, const uint32_t *plane,
                           int32_t *logits)
{
    uint32_t n = l->in_c, rb = l->weight_row_bytes, hw = n / map_c, S, off1 = rb - 4u;
    uint32_t words = (n + 31u) >> 5, wi, o, c = 0, pos = 0, rows = 0, left = SPQ_READOUT_FLUSH;
    uint32_t a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, e0 = 0, o0 = 0, e1 = 0, o1 = 0;
    uint32_t m = 0x0F0F0F0Fu;
#if defined(__GNUC__) && defined(__thumb2__)
    __asm__("" : "+r"(m)); /* in a register: AND with a shifted operand is one instruction */
#endif
    if (map_c == 1u || hw == 1u) { /* the map order is the feature order */
        map_c = words * 32u;
        hw = 1u;
    }
    S = hw * rb;
    for (wi = 0; wi < words; wi++) { /* channels c .. c + 31 of position pos */
        uint32_t bits = plane[wi];
        const uint8_t *base = l->weights + (c * hw + pos) * rb;
        while (bits != 0u) {
            const uint8_t *r = base + SPQ_CTZ(bits) * S;
            uint32_t w0 = spq_load32(r) ^ 0x88888888u, w1 = spq_load32(r + off1) ^ 0x88888888u;
            bits &= bits - 1u;
            e0 += w0 & m;
            o0 += (w0 >> 4) & m;
            e1 += w1 & m;
            o1 += (w1 >> 4) & m;
            rows++;
            if (--left == 0u) {
                spq_readout_widen(a, e0, o0, e1, o1);
                e0 = o0 = e1 = o1 = 0;
                left = SPQ_READOUT_FLUSH;
            }
        }
        c += 32u;
        if (c == map_c) {
            c = 0;
            pos++;
        }
    }
    spq_readout_widen(a, e0, o0, e1, o1);
    for (o = 0; o < l->out_c; o++) { /* class o: byte o / 2 of the row, in w0 or w1 */
        uint32_t byte = o < 8u ? o >> 1 : (o >> 1) - off1;
        uint32_t v = a[(o & 8u) / 2u + (o & 1u) * 2u + (byte & 1u)] >> (byte & 2u) * 8u;
        logits[o] += (int32_t)(v & 0xFFFFu) - (int32_t)(8u * rows);
    }
}

/* The logits are zero on entry (a summed readout on spikes writes them only here), so the
 * planes are weighed from the top one down, doubling between them: logits = 2 * logits +
 * (the rows of the features whose count has bit p set). */
void spq_readout_finish(const spq_layer_t *l, uint32_t map_c, const uint32_t *counts,
                        uint32_t planes, uint32_t steps, int32_t *logits)
{
    uint32_t words = (l->in_c + 31u) / 32u, p, o;
    for (p = planes; p-- > 0u;) {
        const uint32_t *plane = counts + p * words;
        for (o = 0; o < l->out_c; o++) {
            logits[o] *= 2;
        }
        if (SPQ_FAST && l->weight_bits == 4u && l->weight_row_bytes >= 4u &&
            l->weight_row_bytes <= 8u && l->in_c <= 4095u &&
            ((map_c & 31u) == 0u || map_c == 1u || map_c == l->in_c)) {
            spq_readout_w4(l, map_c, plane, logits);
        } else {
            (void)spq_linear_gather(l, plane, SPQ_IN_SPIKE, map_c, logits,
                                    spq_row_select(l->weight_bits, 32u, 0));
        }
    }
    for (o = 0; o < l->out_c; o++) {
        logits[o] += l->bias[o] * (int32_t)steps;
    }
}

uint32_t spq_static_readout(const spq_layer_t *l, const uint8_t *pixels, int32_t *cache)
{
    memset(cache, 0, 4u * l->out_c);
    return spq_linear_gather(l, pixels, SPQ_IN_U8, 1u, cache,
                             spq_row_select(l->weight_bits, 32u, 1)) *
           l->out_c;
}
