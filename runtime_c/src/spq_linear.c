/* SPDX-License-Identifier: MIT */
/* Fully connected synapse kernels (also the readout), input driven: every non-zero input
 * feature i adds weight row i (its out_c weights) into the accumulators. */
#include "spq_rows.h"

SPQ_TEMPLATE uint32_t spq_linear_spike_impl(const spq_layer_t *l, const uint32_t *in_bits,
                                            void *acc, spq_row_fn_t row_fn)
{
    uint32_t n_in = l->in_c, words = (n_in + 31u) >> 5, wi, rows = 0;
    uint32_t rb = l->weight_row_bytes;
    for (wi = 0; wi < words; wi++) {
        uint32_t word = in_bits[wi];
        while (word != 0u) {
            uint32_t i = (wi << 5) + SPQ_CTZ(word);
            word &= word - 1u;
            row_fn(acc, l->weights + (size_t)i * rb, l->out_c, 1);
            rows++;
        }
    }
    return rows * l->out_c;
}

#define SPQ_LINEAR_SPIKE(VARIANT)                                                        \
    static uint32_t spq_linear_spike_##VARIANT(const spq_layer_t *l,                     \
                                               const uint32_t *in_bits, void *acc)       \
    {                                                                                    \
        return spq_linear_spike_impl(l, in_bits, acc, spq_rowi_add_##VARIANT);           \
    }

SPQ_LINEAR_SPIKE(w2_a16)
SPQ_LINEAR_SPIKE(w4_a16)
SPQ_LINEAR_SPIKE(w8_a16)
SPQ_LINEAR_SPIKE(w2_a32)
SPQ_LINEAR_SPIKE(w4_a32)
SPQ_LINEAR_SPIKE(w8_a32)
SPQ_LINEAR_SPIKE(w2_a16_g)
SPQ_LINEAR_SPIKE(w4_a16_g)
SPQ_LINEAR_SPIKE(w8_a16_g)

uint32_t spq_linear_spike(const spq_layer_t *l, const uint32_t *in_bits, void *acc,
                          uint32_t acc_bits)
{
    if (acc_bits == 16u && spq_row_whole_words(l->out_c, l->weight_bits)) {
        return l->weight_bits == 2u   ? spq_linear_spike_w2_a16_g(l, in_bits, acc)
               : l->weight_bits == 4u ? spq_linear_spike_w4_a16_g(l, in_bits, acc)
                                      : spq_linear_spike_w8_a16_g(l, in_bits, acc);
    }
    if (acc_bits == 16u) {
        return l->weight_bits == 2u   ? spq_linear_spike_w2_a16(l, in_bits, acc)
               : l->weight_bits == 4u ? spq_linear_spike_w4_a16(l, in_bits, acc)
                                      : spq_linear_spike_w8_a16(l, in_bits, acc);
    }
    return l->weight_bits == 2u   ? spq_linear_spike_w2_a32(l, in_bits, acc)
           : l->weight_bits == 4u ? spq_linear_spike_w4_a32(l, in_bits, acc)
                                  : spq_linear_spike_w8_a32(l, in_bits, acc);
}

uint32_t spq_linear_value(const spq_layer_t *l, const uint8_t *in, void *acc, uint32_t acc_bits)
{
    spq_row_fn_t row_fn = spq_row_select(l->weight_bits, acc_bits, 1);
    uint32_t i, rows = 0, rb = l->weight_row_bytes;
    for (i = 0; i < l->in_c; i++) {
        if (in[i] != 0u) {
            row_fn(acc, l->weights + (size_t)i * rb, l->out_c, (int32_t)in[i]);
            rows++;
        }
    }
    return rows * l->out_c;
}
