/* SPDX-License-Identifier: MIT */
/**
 * @file spq_fire.h
 * @brief The outcome-table neuron update of one output position for the fused kernels.
 */
#ifndef SPQ_FIRE_H
#define SPQ_FIRE_H

#include "spq_neuron.h"

#if SPQ_FAST
/**
 * Neurons of one output position from their accumulators: a holds acc - outcome_base as
 * int16 pair words (C / 2), t is the layer's outcome table, mem the position's membrane
 * words (C * level_bits / 32 of them), spikes are ORed into out at bit k (k = position * C);
 * the caller counts the spikes of its output map (spq_count_spikes).
 */
typedef void (*spq_fire_fn_t)(const uint32_t *a, const uint8_t *t, uint32_t *mem,
                                  uint32_t *out, uint32_t k, uint32_t C);

/**
 * Neurons of one output position from byte lanes: lanes holds acc + bound for each channel
 * (four per word, channel 4j + i in byte i of word j), which is the column of a full-range
 * outcome table (outcome_bits 8, outcome_base -bound); otherwise as spq_fire_fn_t.
 */
typedef void (*spq_fire8_fn_t)(const uint32_t *lanes, const uint8_t *t, uint32_t *mem,
                               uint32_t *out, uint32_t k, uint32_t C);

/** The byte-lane fire function for the layer, or NULL (no full-range outcome table, bound
 *  above 127, or out_c * level_bits not a multiple of 32). */
spq_fire8_fn_t spq_fire8_select(const spq_layer_t *l);

/** The fire function for the layer, or NULL (no outcome table, a window outside 2^5..2^8,
 *  out_c * level_bits not a multiple of 32, or acc - outcome_base not an int16). */
spq_fire_fn_t spq_fire_select(const spq_layer_t *l);
#endif

#endif /* SPQ_FIRE_H */
