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
 * bits past in_c are zero (its frame is cleared before each step). The synops are counted
 * from the counts when asked for (spq_synop_count). */
void spq_readout_count(const spq_layer_t *l, const uint32_t *in, uint32_t *counts)
{
    uint32_t words = (l->in_c + 31u) / 32u, i;
    for (i = 0; i < words; i++) {
        uint32_t carry = in[i], *c = counts + i;
        while (carry != 0u) { /* ripple-carry add of one bit */
            uint32_t next = *c & carry;
            *c ^= carry;
            carry = next;
            c += words;
        }
    }
}

/* The offset-binary rows of a summed readout (weights_x, docs/formats.md "Kernel tables"):
 * 4-bit weights, spikes in, at most 16 classes (a row of 16 bytes, four words), every
 * halfword lane sum (at most in_c * 15) below 2^16. */
static int spq_readout_x_ok(const spq_layer_t *l)
{
    return l->type == SPQ_LAYER_READOUT && l->in_kind == SPQ_IN_SPIKE && l->weight_bits == 4u &&
           l->out_c <= 16u && l->in_c <= 4095u;
}

SPQ_COLD
int spq_readout_x_valid(const spq_layer_t *l)
{
    const uint8_t *x = (const uint8_t *)l->weights_x;
    uint32_t i;
    if (x == NULL) {
        return 1;
    }
    if (!spq_readout_x_ok(l) || l->weights_x_bytes < 16u * l->in_c) {
        return 0;
    }
    for (i = 0; i < 16u * l->in_c; i++) { /* byte o of row f: w + 8, 0 past the classes */
        uint32_t o = i & 15u, want = 0;
        if (o < l->out_c) {
            want = ((l->weights[(i >> 4) * l->weight_row_bytes + o / 2u] >> (4u * (o & 1u))) &
                    15u) ^ 8u;
        }
        if (x[i] != want) {
            return 0;
        }
    }
    return 1;
}

#if !SPQ_HAVE_MVE /* Helium: spq_readout_x_mve (spq_linear_mve.c) */
/* The byte lanes of x0 .. x3 (classes 4k .. 4k + 3 in word xk) added into the halfword lanes
 * of the pair words a[2k] (classes 4k and 4k + 2) and a[2k + 1] (4k + 1 and 4k + 3). Not
 * inlined: one copy. */
static SPQ_NOINLINE void spq_readout_widen(uint32_t *a, uint32_t x0, uint32_t x1, uint32_t x2,
                                           uint32_t x3)
{
    a[0] = spq_add_b02(a[0], x0);
    a[1] = spq_add_b13(a[1], x0);
    a[2] = spq_add_b02(a[2], x1);
    a[3] = spq_add_b13(a[3], x1);
    a[4] = spq_add_b02(a[4], x2);
    a[5] = spq_add_b13(a[5], x2);
    a[6] = spq_add_b02(a[6], x3);
    a[7] = spq_add_b13(a[7], x3);
}

/* One plane of the counts weighed with the offset-binary rows (weights_x): logits = 2 * logits
 * + the sum of the rows of the features whose bit is set in `plane`. A row's four words are
 * added into byte lanes (each byte w + 8 <= 15, 0 past the classes), widened every
 * SPQ_READOUT_FLUSH rows into halfword lanes; a class's sum is its lane minus 8 * rows. The
 * features and the map's channels are multiples of 32 (or the map is flat), so that a word
 * of the plane holds channels c .. c + 31 of one position, whose rows are S = 16 * hw bytes
 * apart: no division per bit. Stack scratch: the lanes as 16 halfwords (32 B). */
static void spq_readout_x(const spq_layer_t *l, uint32_t map_c, const uint32_t *plane,
                          int32_t *logits)
{
    const uint8_t *x = (const uint8_t *)l->weights_x;
    uint32_t n = l->in_c, hw = n / map_c, S, top;
    uint32_t words = n >> 5, wi, o, c = 0, flushes = 0, left = SPQ_READOUT_FLUSH, rows;
    uint32_t a[8] = {0, 0, 0, 0, 0, 0, 0, 0}, x0 = 0, x1 = 0, x2 = 0, x3 = 0;
    uint16_t h[16];
    if (map_c == 1u || hw == 1u) { /* the map order is the feature order */
        map_c = n;
        hw = 1u;
    }
    S = 16u * hw;
    top = 31u * S; /* the offset of the row of bit 31 of the word (position 0, channel 31) */
    for (wi = 0; wi < words; wi++) { /* channels c .. c + 31 of one position */
        uint32_t bits = plane[wi];
        const uint8_t *t = x + top; /* a row of the table: in_c is a multiple of 32 */
        while (bits != 0u) { /* bit 31 - z: z channels (z * S bytes) before bit 31's row */
            uint32_t z = SPQ_CLZ(bits);
            const uint32_t *r = (const uint32_t *)(const void *)(t - z * S);
            bits &= ~(0x80000000u >> z);
            x0 += r[0];
            x1 += r[1];
            x2 += r[2];
            x3 += r[3];
            if (--left == 0u) {
                spq_readout_widen(a, x0, x1, x2, x3);
                x0 = x1 = x2 = x3 = 0;
                left = SPQ_READOUT_FLUSH;
                flushes++;
            }
        }
        c += 32u;
        top += 32u * S;
        if (c == map_c) { /* channel 31 of the next position (mod 2^32 until then) */
            c = 0;
            top += 16u - map_c * S;
        }
    }
    spq_readout_widen(a, x0, x1, x2, x3);
    rows = SPQ_READOUT_FLUSH * (flushes + 1u) - left;
    for (o = 0; o < 8u; o++) { /* classes 4k, 4k + 2 in a[2k]; 4k + 1, 4k + 3 in a[2k + 1] */
        h[2u * o] = (uint16_t)(a[o] & 0xFFFFu);
        h[2u * o + 1u] = (uint16_t)(a[o] >> 16);
    }
    for (o = 0; o < l->out_c; o++) { /* class o: halfword 4 * (o / 4) + 2 * (o % 2) + bit 1 */
        logits[o] = 2 * logits[o] + (int32_t)h[(o & 12u) + (o & 1u) * 2u + ((o >> 1) & 1u)] -
                    (int32_t)(8u * rows);
    }
}

#endif

/* The logits are zero on entry (a summed readout on spikes writes them only here), so the
 * planes are weighed from the top one down, doubling between them: logits = 2 * logits +
 * (the rows of the features whose count has bit p set). */
void spq_readout_finish(const spq_layer_t *l, uint32_t map_c, const uint32_t *counts,
                        uint32_t planes, uint32_t steps, int32_t *logits)
{
    uint32_t words = (l->in_c + 31u) / 32u, p, o;
    int fast = SPQ_FAST && l->weights_x != NULL && (l->in_c & 31u) == 0u &&
               ((map_c & 31u) == 0u || map_c == 1u || map_c == l->in_c);
    for (p = planes; p-- > 0u;) {
        const uint32_t *plane = counts + p * words;
        if (fast) { /* doubles the logits as it adds */
#if SPQ_HAVE_MVE
            spq_readout_x_mve(l, map_c, plane, logits);
#else
            spq_readout_x(l, map_c, plane, logits);
#endif
            continue;
        }
        for (o = 0; o < l->out_c; o++) {
            logits[o] *= 2;
        }
        (void)spq_linear_gather(l, plane, SPQ_IN_SPIKE, map_c, logits,
                                spq_row_select(l->weight_bits, 32u, 0));
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
