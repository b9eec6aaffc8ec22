/* SPDX-License-Identifier: MIT */
/* Weight-row kernels as functions (for the value-input paths, selected once per layer);
 * the spike paths inline the same code from spq_rows.h. */
#include "spq_rows.h"

void spq_row_add_w8_a32(void *acc, const uint8_t *row, uint32_t n, int32_t x)
{
    spq_rowt_w8_a32(acc, row, n, x, 0);
}

void spq_row_add_w4_a32(void *acc, const uint8_t *row, uint32_t n, int32_t x)
{
    spq_rowt_w4_a32(acc, row, n, x, 0);
}

void spq_row_add_w2_a32(void *acc, const uint8_t *row, uint32_t n, int32_t x)
{
    spq_rowt_w2_a32(acc, row, n, x, 0);
}

void spq_row_add_w8_a16(void *acc, const uint8_t *row, uint32_t n, int32_t x)
{
    spq_rowt_w8_a16(acc, row, n, x, 0);
}

void spq_row_add_w4_a16(void *acc, const uint8_t *row, uint32_t n, int32_t x)
{
    spq_rowt_w4_a16(acc, row, n, x, 0);
}

void spq_row_add_w2_a16(void *acc, const uint8_t *row, uint32_t n, int32_t x)
{
    spq_rowt_w2_a16(acc, row, n, x, 0);
}

void spq_row_mac_w8_a32(void *acc, const uint8_t *row, uint32_t n, int32_t x)
{
    spq_rowt_w8_a32(acc, row, n, x, 1);
}

void spq_row_mac_w4_a32(void *acc, const uint8_t *row, uint32_t n, int32_t x)
{
    spq_rowt_w4_a32(acc, row, n, x, 1);
}

void spq_row_mac_w2_a32(void *acc, const uint8_t *row, uint32_t n, int32_t x)
{
    spq_rowt_w2_a32(acc, row, n, x, 1);
}

void spq_row_mac_w8_a16(void *acc, const uint8_t *row, uint32_t n, int32_t x)
{
    spq_rowt_w8_a16(acc, row, n, x, 1);
}

void spq_row_mac_w4_a16(void *acc, const uint8_t *row, uint32_t n, int32_t x)
{
    spq_rowt_w4_a16(acc, row, n, x, 1);
}

void spq_row_mac_w2_a16(void *acc, const uint8_t *row, uint32_t n, int32_t x)
{
    spq_rowt_w2_a16(acc, row, n, x, 1);
}

spq_row_fn_t spq_row_select(uint32_t weight_bits, uint32_t acc_bits, int value_input)
{
    static const spq_row_fn_t table[2][2][3] = {
        {{spq_row_add_w2_a16, spq_row_add_w4_a16, spq_row_add_w8_a16},
         {spq_row_add_w2_a32, spq_row_add_w4_a32, spq_row_add_w8_a32}},
        {{spq_row_mac_w2_a16, spq_row_mac_w4_a16, spq_row_mac_w8_a16},
         {spq_row_mac_w2_a32, spq_row_mac_w4_a32, spq_row_mac_w8_a32}},
    };
    uint32_t wi = weight_bits == 2u ? 0u : (weight_bits == 4u ? 1u : 2u);
    return table[value_input ? 1 : 0][acc_bits == 16u ? 0 : 1][wi];
}
