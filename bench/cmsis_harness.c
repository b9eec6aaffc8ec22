/* SPDX-License-Identifier: MIT */
/* The CMSIS-NN peer of spq's bench models: one dense int8 pass of conv 3x3 p1 -> ReLU ->
 * maxpool 2 -> conv 3x3 p1 -> ReLU -> maxpool 2 -> fully connected, with CMSIS-NN's kernels
 * (int8 weights, or int4 weights with -DNET_WEIGHT_BITS=4), on spq's firmware (startup,
 * SysTick timer under QEMU icount, stack paint, UART, semihosting exit).
 *
 * bench/bench_cmsis.py generates cmsis_net.h (weights, quantization, inputs, the arena plan)
 * and checks every layer's output byte for byte against its numpy reference. The harness
 * runs once and prints text lines on UART0, then exits:
 *
 *   cmsis-nn BOARD int8|int4
 *   scratch L BYTES              per layer, from the *_get_buffer_size functions
 *   input I total N stack S      a timed pass of the whole network (instructions, stack peak)
 *   layer I L N STATUS HEX       the same pass layer by layer: time, status, output bytes
 *   end
 */
#include <stdint.h>
#include <string.h>

#include "arm_nnfunctions.h"
#include "cmsis_net.h"
#include "fw.h"

#ifndef FW_BOARD_NAME
#define FW_BOARD_NAME "unknown"
#endif

#define N_LAYERS 5u

/* Activations at the offsets of the greedy plan (bench_cmsis.py), scratch shared by the
 * layers (one at a time, as TFLM's planner lets them), the fully connected layer's
 * persistent kernel sums (MVE only; computed once, as TFLM's Prepare does). */
static int8_t arena[NET_ARENA_BYTES] __attribute__((aligned(16)));
static int8_t scratch[NET_SCRATCH_CAPACITY] __attribute__((aligned(16)));
#if NET_WEIGHT_BITS != 4
static int32_t fc_sums[NET_FC_OUT];
#endif

static int32_t scratch_bytes[N_LAYERS];

static const cmsis_nn_dims in_dims = {1, NET_IN_H, NET_IN_W, NET_IN_C};
static const cmsis_nn_dims c1_filter = {NET_C1, 3, 3, NET_IN_C};
static const cmsis_nn_dims c1_dims = {1, NET_IN_H, NET_IN_W, NET_C1};
static const cmsis_nn_dims p1_dims = {1, NET_IN_H / 2, NET_IN_W / 2, NET_C1};
static const cmsis_nn_dims c2_filter = {NET_C2, 3, 3, NET_C1};
static const cmsis_nn_dims c2_dims = {1, NET_IN_H / 2, NET_IN_W / 2, NET_C2};
static const cmsis_nn_dims p2_dims = {1, NET_IN_H / 4, NET_IN_W / 4, NET_C2};
static const cmsis_nn_dims fc_filter = {NET_FC_IN, 1, 1, NET_FC_OUT};
static const cmsis_nn_dims fc_in_dims = {1, 1, 1, NET_FC_IN};
static const cmsis_nn_dims fc_dims = {1, 1, 1, NET_FC_OUT};
static const cmsis_nn_dims pool_filter = {1, 2, 2, 1};
static const cmsis_nn_dims c1_bias = {1, 1, 1, NET_C1};
static const cmsis_nn_dims c2_bias = {1, 1, 1, NET_C2};
static const cmsis_nn_dims fc_bias = {1, 1, 1, NET_FC_OUT};

static const cmsis_nn_conv_params c1_params = {
    NET_C1_IN_OFFSET, NET_C1_OUT_OFFSET, {1, 1}, {1, 1}, {1, 1}, {-128, 127}};
static const cmsis_nn_conv_params c2_params = {
    NET_C2_IN_OFFSET, NET_C2_OUT_OFFSET, {1, 1}, {1, 1}, {1, 1}, {-128, 127}};
static const cmsis_nn_pool_params pool_params = {{2, 2}, {0, 0}, {-128, 127}};
static const cmsis_nn_fc_params fc_params = {
    NET_FC_IN_OFFSET, 0, NET_FC_OUT_OFFSET, {-128, 127}};

/* The kernels do not write the quantization arrays; their API takes non-const pointers. */
static const cmsis_nn_per_channel_quant_params c1_quant = {
    (int32_t *)net_c1_mult, (int32_t *)net_c1_shift};
static const cmsis_nn_per_channel_quant_params c2_quant = {
    (int32_t *)net_c2_mult, (int32_t *)net_c2_shift};
static const cmsis_nn_per_tensor_quant_params fc_quant = {NET_FC_MULT, NET_FC_SHIFT};

static int8_t *const buf_in = arena + NET_OFF_INPUT;
static int8_t *const buf_c1 = arena + NET_OFF_CONV1;
static int8_t *const buf_p1 = arena + NET_OFF_POOL1;
static int8_t *const buf_c2 = arena + NET_OFF_CONV2;
static int8_t *const buf_p2 = arena + NET_OFF_POOL2;
static int8_t *const buf_fc = arena + NET_OFF_FC;

static const int8_t *const layer_out[N_LAYERS] = {
    arena + NET_OFF_CONV1, arena + NET_OFF_POOL1, arena + NET_OFF_CONV2,
    arena + NET_OFF_POOL2, arena + NET_OFF_FC};
static const uint32_t layer_bytes[N_LAYERS] = {
    NET_IN_H * NET_IN_W * NET_C1, NET_IN_H * NET_IN_W * NET_C1 / 4u,
    NET_IN_H * NET_IN_W * NET_C2 / 4u, NET_IN_H * NET_IN_W * NET_C2 / 16u, NET_FC_OUT};

static void put_str(const char *s)
{
    while (*s != '\0') {
        uart_putc((uint8_t)*s++);
    }
}

static void put_dec(uint64_t v)
{
    char digits[21];
    int n = 0;
    do {
        digits[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    while (n > 0) {
        uart_putc((uint8_t)digits[--n]);
    }
}

static void put_int(int32_t v)
{
    if (v < 0) {
        uart_putc('-');
        put_dec((uint64_t)(-(int64_t)v));
    } else {
        put_dec((uint64_t)v);
    }
}

static void put_hex(const int8_t *data, uint32_t len)
{
    static const char hex[] = "0123456789abcdef";
    uint32_t i;
    for (i = 0; i < len; i++) {
        uint8_t b = (uint8_t)data[i];
        uart_putc((uint8_t)hex[b >> 4]);
        uart_putc((uint8_t)hex[b & 15u]);
    }
}

static cmsis_nn_context scratch_ctx(uint32_t layer)
{
    cmsis_nn_context ctx;
    ctx.buf = scratch_bytes[layer] > 0 ? scratch : 0;
    ctx.size = scratch_bytes[layer];
    return ctx;
}

#if NET_WEIGHT_BITS == 4
#define CONV_KERNEL arm_convolve_wrapper_s4
#define CONV_BUFFER_SIZE arm_convolve_wrapper_s4_get_buffer_size
#else
#define CONV_KERNEL arm_convolve_wrapper_s8
#define CONV_BUFFER_SIZE arm_convolve_wrapper_s8_get_buffer_size
#endif

static arm_cmsis_nn_status run_layer(uint32_t layer)
{
    cmsis_nn_context ctx = scratch_ctx(layer);
    switch (layer) {
    case 0:
        return CONV_KERNEL(&ctx, &c1_params, &c1_quant, &in_dims, buf_in, &c1_filter, net_c1_w,
                           &c1_bias, net_c1_b, &c1_dims, buf_c1);
    case 1:
        return arm_max_pool_s8(&ctx, &pool_params, &c1_dims, buf_c1, &pool_filter, &p1_dims,
                               buf_p1);
    case 2:
        return CONV_KERNEL(&ctx, &c2_params, &c2_quant, &p1_dims, buf_p1, &c2_filter, net_c2_w,
                           &c2_bias, net_c2_b, &c2_dims, buf_c2);
    case 3:
        return arm_max_pool_s8(&ctx, &pool_params, &c2_dims, buf_c2, &pool_filter, &p2_dims,
                               buf_p2);
    default:
#if NET_WEIGHT_BITS == 4
        return arm_fully_connected_s4(&ctx, &fc_params, &fc_quant, &fc_in_dims, buf_p2,
                                      &fc_filter, net_fc_w, &fc_bias, net_fc_b, &fc_dims,
                                      buf_fc);
#else
        ctx.buf = scratch_bytes[layer] > 0 ? fc_sums : 0;
        return arm_fully_connected_s8(&ctx, &fc_params, &fc_quant, &fc_in_dims, buf_p2,
                                      &fc_filter, net_fc_w, &fc_bias, net_fc_b, &fc_dims,
                                      buf_fc);
#endif
    }
}

static arm_cmsis_nn_status run_network(void)
{
    uint32_t layer;
    for (layer = 0; layer < N_LAYERS; layer++) {
        arm_cmsis_nn_status st = run_layer(layer);
        if (st != ARM_CMSIS_NN_SUCCESS) {
            return st;
        }
    }
    return ARM_CMSIS_NN_SUCCESS;
}

/* Scratch sizes as TFLM's Prepare asks for them; the fully connected layer's buffer holds
 * kernel sums that are computed here, once. Returns 0 when a buffer does not fit. */
static int prepare(void)
{
    uint32_t layer;
    scratch_bytes[0] = CONV_BUFFER_SIZE(&c1_params, &in_dims, &c1_filter, &c1_dims);
    scratch_bytes[1] = 0;
    scratch_bytes[2] = CONV_BUFFER_SIZE(&c2_params, &p1_dims, &c2_filter, &c2_dims);
    scratch_bytes[3] = 0;
#if NET_WEIGHT_BITS == 4
    scratch_bytes[4] = 0;
#else
    scratch_bytes[4] = arm_fully_connected_s8_get_buffer_size(&fc_filter);
    if (scratch_bytes[4] > (int32_t)sizeof fc_sums) {
        return 0;
    }
    if (scratch_bytes[4] > 0) {
        (void)arm_vector_sum_s8(fc_sums, NET_FC_IN, NET_FC_OUT, net_fc_w, NET_FC_IN_OFFSET,
                                0, net_fc_b);
    }
#endif
    for (layer = 0; layer < N_LAYERS; layer++) {
        put_str("scratch ");
        put_dec(layer);
        put_str(" ");
        put_int(scratch_bytes[layer]);
        put_str("\n");
        if (layer != 4u && scratch_bytes[layer] > NET_SCRATCH_CAPACITY) {
            return 0;
        }
    }
    return 1;
}

int main(void)
{
    uint32_t i, layer;
    uart_init();
    timer_init();
    put_str("cmsis-nn " FW_BOARD_NAME);
    put_str(NET_WEIGHT_BITS == 4 ? " int4\n" : " int8\n");
    if (!prepare()) {
        put_str("error scratch capacity\n");
        fw_exit(1);
    }
    for (i = 0; i < NET_N_INPUTS; i++) {
        uint64_t t0, t1;
        arm_cmsis_nn_status st;
        uint32_t peak;

        memcpy(buf_in, net_inputs[i], sizeof net_inputs[i]);
        fw_stack_paint();
        timer_restart();
        t0 = timer_now();
        st = run_network();
        t1 = timer_now();
        peak = fw_stack_peak();
        put_str("input ");
        put_dec(i);
        put_str(" total ");
        put_dec(timer_to_unit(t1 - t0));
        put_str(" stack ");
        put_dec(peak);
        put_str(" status ");
        put_int((int32_t)st);
        put_str("\n");

        /* again, layer by layer, each output printed before the plan reuses its bytes */
        memcpy(buf_in, net_inputs[i], sizeof net_inputs[i]);
        for (layer = 0; layer < N_LAYERS; layer++) {
            timer_restart();
            t0 = timer_now();
            st = run_layer(layer);
            t1 = timer_now();
            put_str("layer ");
            put_dec(i);
            put_str(" ");
            put_dec(layer);
            put_str(" ");
            put_dec(timer_to_unit(t1 - t0));
            put_str(" ");
            put_int((int32_t)st);
            put_str(" ");
            put_hex(layer_out[layer], layer_bytes[layer]);
            put_str("\n");
        }
    }
    put_str("end\n");
    fw_exit(0);
}
