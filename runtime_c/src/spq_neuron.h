/* SPDX-License-Identifier: MIT */
/**
 * @file spq_neuron.h
 * @brief Neuron helpers shared by the neuron update and the fused conv kernels.
 *
 * Outcome tables (docs/formats.md, "Kernel tables"): for a layer with level_bits <= 2 the
 * exporter may emit `outcome[c][code][a]`, a in 0 .. 2^outcome_bits - 1, the outcome of a
 * neuron of channel c whose membrane holds `code` and whose accumulator is
 * outcome_base[c] + a (accumulators below / above the window give the outcome of column 0 /
 * the last column): bits 0..level_bits-1 the new membrane code, bit 7 the spike.
 */
#ifndef SPQ_NEURON_H
#define SPQ_NEURON_H

#include "spq_rows.h"

/** Largest outcome_bits spq_init accepts (a window of 256 accumulators). */
#define SPQ_OUTCOME_MAX_BITS 8u
/** The spike bit of an outcome byte. */
#define SPQ_OUTCOME_SPIKE 0x80u

void spq_neuron_cfg(const spq_layer_t *l, spq_neuron_cfg_t *cfg);

/** Reference outcome byte of one neuron of channel c at level u with accumulator acc. */
uint32_t spq_neuron_outcome(const spq_layer_t *l, const spq_neuron_cfg_t *cfg, uint32_t c,
                            int32_t u, int32_t acc);

#endif /* SPQ_NEURON_H */
