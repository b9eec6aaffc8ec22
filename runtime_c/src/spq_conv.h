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

/** Largest lut_bits (input bits per kernel row of a window-row table). */
#define SPQ_LUT_MAX_BITS 8u
/** Widest layer the window-row kernel takes (its stack arrays). */
#define SPQ_LUT_MAX_OC 64u
/** Largest window-row table (spq.export.tables.LUT_MAX_BYTES). */
#define SPQ_LUT_MAX_BYTES 16384u

/** 1 if the layer's window-row table (if any) holds the weight sums it must (spq_init). */
int spq_lut_valid(const spq_layer_t *l);
/** The rule for a window-row table (spq.export.tables.lut_applies); bound: spq_acc_bound. */
int spq_lut_applies(const spq_layer_t *l, uint64_t bound);

/* The fused 4-bit conv kernel (spq_conv_w4.c): its limits (spq.export.tables). */
#define SPQ_W4_MAX_OC 64u
#define SPQ_W4_MAX_IN_C 32u
#define SPQ_W4_MAX_K 8u
#define SPQ_W4_MAX_LIST_BYTES 4096u
/** Scratch of its input lists, after the accumulators (spq.export.tables.w4_list_bytes). */
uint32_t spq_w4_list_bytes(uint32_t in_c, uint32_t in_w, uint32_t k);
/** The rule for the fused kernel and weights_x (spq.export.tables.w4_applies). */
int spq_w4_shape_ok(const spq_layer_t *l);
/** 1 if weights_x is absent, or present on a layer the rule allows and equal to the packed
 *  weights XOR 0x88 (spq_init). */
int spq_w4_valid(const spq_layer_t *l);

#if SPQ_FAST
/* Portable fast kernels (each in its own file; see the file for what it does). */
/* The fused 4-bit kernel (spq_conv_w4.c) runs per output row: the set input channels of
 * every input position of the window rows are listed in a ring of `kernel` input rows (idx:
 * in_c bytes per position, counts: how many), slot[ky] the ring offset (in positions) of
 * kernel row ky; a row function sums and fires the out_w positions of the row and returns
 * the rows it added (synops / out_c). */
typedef struct {
    const spq_layer_t *l;
    const uint8_t *idx, *counts;
    uint32_t slot[SPQ_W4_MAX_K];
    uint32_t ky0, ky1; /* kernel rows inside the map */
    uint32_t *acc;     /* scratch: out_c / 2 words */
    uint32_t *mem, *out;
    uint32_t oy, pos; /* output row, its first position */
} spq_w4_row_t;
typedef uint32_t (*spq_w4_row_fn_t)(const spq_w4_row_t *r);
void spq_conv_w4(spq_job_t *job, spq_w4_row_fn_t row_fn);
uint32_t spq_w4_row_scalar(const spq_w4_row_t *r);
int spq_conv_lut_ok(const spq_layer_t *l);
/* The window-row kernel runs per output row: tk[ky] is the table row of kernel row ky,
 * vk[ky][ox] the word offset of output column ox in it (spq_conv_lut.c); a row function
 * sums and fires the out_w positions from `pos` on (mem: the first one's membrane) and
 * returns their spikes. */
#define SPQ_LUT_RING_K 5u
#define SPQ_LUT_RING_W 32u
typedef uint32_t (*spq_lut_row_fn_t)(const spq_layer_t *l, const uint32_t *const *tk,
                                     const uint16_t *const *vk, uint32_t *mem, uint32_t *out,
                                     uint32_t pos);
void spq_conv_lut(spq_job_t *job, spq_lut_row_fn_t row_fn);
uint32_t spq_lut_row_scalar(const spq_layer_t *l, const uint32_t *const *tk,
                            const uint16_t *const *vk, uint32_t *mem, uint32_t *out, uint32_t pos);
#endif

#if SPQ_HAVE_MVE
/* Helium kernels (spq_*_mve.c). */
int spq_lut_row_mve_ok(const spq_layer_t *l);
uint32_t spq_lut_row_mve(const spq_layer_t *l, const uint32_t *const *tk,
                         const uint16_t *const *vk, uint32_t *mem, uint32_t *out, uint32_t pos);
int spq_w4_row_mve_ok(const spq_layer_t *l);
uint32_t spq_w4_row_mve(const spq_w4_row_t *r);
#endif

/** Add the weight rows of the non-zero inputs of a linear layer into acc: in is a
 *  position-major spike map or count map of map_c channels read flattened (feature
 *  c * H * W + position), or (kind SPQ_IN_U8) the caller's pixels; returns the rows added. */
uint32_t spq_linear_gather(const spq_layer_t *l, const void *in, uint32_t kind, uint32_t map_c,
                           void *acc, spq_row_fn_t row);

#endif /* SPQ_CONV_H */
