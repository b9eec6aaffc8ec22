/* SPDX-License-Identifier: MIT */
/**
 * @file spq_conv.h
 * @brief Synapse kernels shared between the reference and the fast variants.
 */
#ifndef SPQ_CONV_H
#define SPQ_CONV_H

#include <string.h>

#include "spq_neuron.h"

/** The reference conv + neuron layer step (spike or count input, any shape). */
void spq_conv_ref(spq_job_t *job);

/** Add the weight rows of the non-zero inputs of a linear layer into acc: in is a
 *  position-major spike map or count map of map_c channels read flattened (feature
 *  c * H * W + position), or (kind SPQ_IN_U8) the caller's pixels; returns the rows added. */
uint32_t spq_linear_gather(const spq_layer_t *l, const void *in, uint32_t kind, uint32_t map_c,
                           void *acc, spq_row_fn_t row);

#endif /* SPQ_CONV_H */
