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
 * Neurons of one output position from pair words: x holds, for each group of 4 channels
 * 4j .. 4j + 3, the words x[2j] (channels 4j, 4j + 2) and x[2j + 1] (4j + 1, 4j + 3), each
 * halfword the neuron's table column (acc - outcome_base clamped to 0 .. 2^n - 1, n =
 * outcome_bits); t is the layer's outcome table, mem the position's membrane words
 * (C * level_bits / 32 of them); spikes are ORed into out at bit k (k = position * C); the
 * caller counts the spikes of its output map.
 */
typedef void (*spq_fire_fn_t)(const uint32_t *x, const uint8_t *t, uint32_t *mem,
                              uint32_t *out, uint32_t k, uint32_t C);

/**
 * Neurons of npos consecutive output positions from byte lanes: lanes holds the table column
 * of each channel (four per word, channel 4j + i in byte i of word j; C / 4 words a position):
 * acc + bound with a full-range outcome table (outcome_bits 8, outcome_base -bound), or the
 * rank of a static layer's accumulator (rank tables, outcome_bits 5); mem and out as for
 * spq_fire_fn_t, for the first position.
 */
typedef void (*spq_fire8_fn_t)(const uint32_t *lanes, const uint8_t *t, uint32_t *mem,
                               uint32_t *out, uint32_t k, uint32_t C, uint32_t npos);

/** The byte-lane fire function for the layer, or NULL (no full-range outcome table, bound
 *  above 127, or out_c * level_bits not a multiple of 32). */
spq_fire8_fn_t spq_fire8_select(const spq_layer_t *l);

/** The pair-word fire function for the layer, or NULL (no outcome table, a window outside
 *  2^5 .. 2^8, or out_c * level_bits not a multiple of 32). */
spq_fire_fn_t spq_fire_select(const spq_layer_t *l);

#if SPQ_HAVE_THUMB2
/* Thumb-2 versions for 2-bit membranes (spq_fire_thumb2.c): byte lanes with rows of 256
 * bytes (fire8), pair words for window bits n. */
void spq_fire8_thumb2(const uint32_t *x, const uint8_t *t, uint32_t *mem, uint32_t *out,
                      uint32_t k, uint32_t C, uint32_t npos);
spq_fire_fn_t spq_fire16_thumb2_select(uint32_t n);
#endif
#endif

#endif /* SPQ_FIRE_H */
