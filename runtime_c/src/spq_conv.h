/* SPDX-License-Identifier: MIT */
/**
 * @file spq_conv.h
 * @brief Synapse kernels shared between the reference and the fast variants.
 */
#ifndef SPQ_CONV_H
#define SPQ_CONV_H

#include <string.h>

#include "spq_fire.h"

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
uint32_t spq_w4_list_bytes(uint32_t in_c, uint32_t in_w, uint32_t k, uint32_t p);
/** Bytes of the nibble sums that follow the weights in weights_x where spq_w4_nib_shape
 *  (spq.export.tables.weights_x): [group of 4 input channels][their bits][tap][32 channels]. */
#define SPQ_W4_NIB_BYTES (4u * 16u * 9u * 32u)
/** 1 for a fused 4-bit conv of kernel 3, stride 1, 16 input and 32 output channels: its
 *  weights_x also holds the nibble sums (spq.export.tables.nibble_sums_apply). Defined in
 *  the Helium and host builds, which check the sums (spq_w4_valid). */
int spq_w4_nib_shape(const spq_layer_t *l);
/** The rule for the fused kernel and weights_x (spq.export.tables.w4_applies). */
int spq_w4_shape_ok(const spq_layer_t *l);
/** 1 if weights_x is absent, or present on a layer the rule allows and equal to the packed
 *  weights plus 8 (spq_init). */
int spq_w4_valid(const spq_layer_t *l);
/** 1 if the kernel's halfword lanes hold the layer's sums: |outcome_base| + bound +
 *  8 * in_c * kernel^2 <= 32767 for every channel (spq_conv_w4.c). */
int spq_w4_lanes_ok(const spq_layer_t *l);

#if SPQ_FAST
/* Portable fast kernels (each in its own file; see the file for what it does). */
/* The fused 4-bit kernel (spq_conv_w4.c) runs per output row. The set input channels of
 * every input position of `kernel` input rows are listed in a ring (the scratch after the
 * accumulators) as references to their weight rows: for channel ci the bytes of weights_x
 * at ci * kernel^2 * weight_row_bytes + SPQ_W4_REF_BIAS (a pointer where pointers are 32
 * bits wide, that byte offset otherwise). Each ring row has `padding` empty columns on
 * either side, and one more row of empty counts stands for the kernel rows outside the map,
 * so that a window needs no bounds. A row function sums and fires the out_w positions of
 * the row and returns the rows it added (synops / out_c). */
#define SPQ_W4_REF_BIAS 128u
#if defined(UINTPTR_MAX) && UINTPTR_MAX == 0xFFFFFFFFu
typedef const uint8_t *spq_w4_ref_t;
#define SPQ_W4_ROW(wxb, ref) ((void)(wxb), (ref))
#define SPQ_W4_REF(wxb, off) ((wxb) + (off))
#else
typedef uint32_t spq_w4_ref_t;
#define SPQ_W4_ROW(wxb, ref) ((wxb) + (ref))
#define SPQ_W4_REF(wxb, off) ((void)(wxb), (uint32_t)(off))
#endif
typedef struct {
    const spq_layer_t *l;
    const spq_w4_ref_t *refs[SPQ_W4_MAX_K]; /* kernel row ky: ring row, column 0 = x -p */
    const uint8_t *counts[SPQ_W4_MAX_K];    /* its counts (all zero outside the map) */
    uint32_t *acc;                          /* scratch: out_c / 2 words */
    uint32_t *mem, *out;
    uint32_t oy, pos; /* output row, its first position */
    uint32_t in_c;
    const uint8_t *wxb; /* the layer's weights_x */
    uint32_t init[SPQ_W4_MAX_OC / 2u]; /* halfword lanes 32768 - outcome_base, L order */
#if SPQ_FAST
    spq_fire_fn_t fire; /* spq_fire_select(l), chosen once per step (NULL: no table) */
#endif
} spq_w4_row_t;
typedef uint32_t (*spq_w4_row_fn_t)(const spq_w4_row_t *r);
void spq_conv_w4(spq_job_t *job, spq_w4_row_fn_t row_fn);
uint32_t spq_w4_row_scalar(const spq_w4_row_t *r);
/** L-order int16 lanes (h words) to the pair words of spq_neuron_pos. */
void spq_w4_natural(const uint32_t *L, uint32_t *acc, uint32_t h);
/** The byte-lane fire function if the window-row kernel applies to the layer, else NULL. */
spq_fire8_fn_t spq_conv_lut_fire(const spq_layer_t *l);
/* The window-row kernel runs per output row: tk[ky] is the table row of kernel row ky,
 * vk[ky][ox] the word offset of output column ox in it (spq_conv_lut.c); a row function
 * sums and fires the out_w positions from `pos` on (mem: the first one's membrane) and
 * returns their spikes. */
#define SPQ_LUT_RING_K 5u
#define SPQ_LUT_RING_W 32u
/* The byte lanes the scalar row kernel sums before one fire call (128 B of stack). */
#define SPQ_LUT_CHUNK_WORDS 32u
typedef struct {
    const spq_layer_t *l;
    const uint32_t *tk[SPQ_LUT_RING_K];
    const uint16_t *vk[SPQ_LUT_RING_K];
    uint32_t *mem, *out; /* the row's first membrane word; the output map */
    uint32_t pos;
    spq_fire8_fn_t fire; /* spq_fire8_select(l), chosen once per step */
} spq_lut_row_t;
typedef uint32_t (*spq_lut_row_fn_t)(const spq_lut_row_t *r);
void spq_conv_lut(spq_job_t *job, spq_fire8_fn_t fire, spq_lut_row_fn_t row_fn);
uint32_t spq_lut_row_scalar(const spq_lut_row_t *r);
#endif

/** Most tap pairs of the SMLAD static kernel (its stack array of pixel pairs). */
#define SPQ_SD_PAIRS 32u

#if SPQ_FAST
/* The static conv layer's accumulators with 4-bit weights (spq_static_w4.c). */
int spq_static_w4_ok(const spq_layer_t *l);
uint32_t spq_static_acc_w4(const spq_layer_t *l, const uint8_t *pixels, uint32_t pos,
                           int32_t *acc);
#endif

#if SPQ_HAVE_DSP && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* The static conv layer's accumulators with SMLAD on int16 pairs (spq_static_dsp.c): the
 * weight pairs (built once per inference into wp, in the scratch: spq_static_pairs_bytes)
 * and one position from them. */
#define SPQ_STATIC_DSP 1
void spq_static_pairs_dsp(const spq_layer_t *l, uint32_t *wp);
uint32_t spq_static_acc_dsp(const spq_layer_t *l, const uint32_t *wp, const uint8_t *pixels,
                            uint32_t pos, int32_t *acc);
#else
#define SPQ_STATIC_DSP 0
#endif

#if SPQ_HAVE_MVE
/* The static layer's step 0 with Helium (spq_static_mve.c), where spq_static_mve_ok: the
 * weights as offset-binary bytes (built once per inference into wb, the pairs' scratch) and
 * the taps' pixel offsets after them (NULL: a pixel buffer instead), one position's
 * accumulators from a pixel buffer, its ranks and trains (tab the whole train table; its
 * spikes at step t added to cnt[t]), the train table and the bit planes. */
#define SPQ_SMVE_MAX_TAPS 64u
int spq_static_mve_ok(const spq_layer_t *l);
void spq_static_bytes_mve(const spq_layer_t *l, uint8_t *wb);
const uint16_t *spq_static_offsets_mve(const spq_layer_t *l, uint8_t *wb);
void spq_train_table_mve(const spq_layer_t *l, uint8_t *tab, uint32_t T);
uint32_t spq_static_acc_mve(const spq_layer_t *l, const uint8_t *wb, const uint8_t *pixels,
                            uint32_t pos, int32_t *acc);
void spq_train_row_mve(const spq_layer_t *l, const int32_t *acc, const uint8_t *tab, uint8_t *dst,
                       uint32_t *cnt, uint32_t T);
void spq_train_planes_mve(uint8_t *cache, uint32_t groups, uint32_t T);
/* The positions of step 0 where the taps' offsets are made (32 taps, spq_static_offsets_mve;
 * the train table, weight bytes and zeroed counts in the scratch): every position's window
 * by gathers, its accumulators, ranks and trains ORed into the pool's (pool: the layer itself
 * without one) in the zeroed cache, the spikes at each step after them. Returns the synops. */
uint32_t spq_static_trains_mve(const spq_layer_t *l, const spq_layer_t *pool,
                               const uint8_t *pixels, uint8_t *cache, uint32_t *scratch,
                               const uint16_t *offs, uint32_t T);
#endif

#if SPQ_HAVE_THUMB2
/* Thumb-2 kernels (spq_*_thumb2.c). */
int spq_lut_row_thumb2_ok(const spq_layer_t *l);
uint32_t spq_lut_row_thumb2(const spq_lut_row_t *r);
int spq_w4_row_thumb2_ok(const spq_layer_t *l);
uint32_t spq_w4_row_thumb2(const spq_w4_row_t *r);
#endif

#if SPQ_HAVE_MVE
/* Helium kernels (spq_*_mve.c). */
int spq_lut_row_mve_ok(const spq_layer_t *l);
uint32_t spq_lut_row_mve(const spq_lut_row_t *r);
int spq_conv_lut_mve_ok(const spq_layer_t *l);
void spq_conv_lut_mve(spq_job_t *job);
int spq_w4_row_mve_ok(const spq_layer_t *l);
int spq_rank_fire_mve_ok(const spq_layer_t *l);
uint32_t spq_rank_fire_mve(const spq_layer_t *l, const uint8_t *ranks, uint32_t *mem,
                           uint32_t *out, uint32_t n_pos);
uint32_t spq_w4_row_mve(const spq_w4_row_t *r);
/* The fused 4-bit conv for kernel 3, stride 1, 16 input and 32 output channels: the whole
 * step with its own listing and assembly rows (spq_conv_w4_mve.c); its rule includes
 * weights_x and spq_w4_lanes_ok's. */
int spq_w4_k3_mve_ok(const spq_layer_t *l);
void spq_conv_w4_k3_mve(spq_job_t *job);
#endif

/** Add the weight rows of the non-zero inputs of a linear layer into acc: in is a
 *  position-major spike map or count map of map_c channels read flattened (feature
 *  c * H * W + position), or (kind SPQ_IN_U8) the caller's pixels; returns the rows added. */
uint32_t spq_linear_gather(const spq_layer_t *l, const void *in, uint32_t kind, uint32_t map_c,
                           void *acc, spq_row_fn_t row);

#endif /* SPQ_CONV_H */
