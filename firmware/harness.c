/* SPDX-License-Identifier: MIT */
/* The spq device harness: answers the framed serial protocol (protocol.h), runs the model on
 * the inputs it receives, and reports integer logits, spike counts, synaptic operations,
 * per-layer timings and the stack peak. A model whose NAME.h disagrees with its descriptor
 * is never run: every request gets ERR_MODEL_HEADER.
 *
 * Build variants (spq/tools/build.py):
 *   FW_MODEL_HEADER defined  model harness: HELLO, INFER, ECHO, BYE
 *   otherwise                self-test firmware: HELLO, ECHO, BYE (INFER -> ERR_NO_MODEL)
 *   FW_VARIANT_SILENT        reads frames and never answers (host timeout tests)
 *   FW_VARIANT_CRASH         faults on the first frame (host crash tests) */
#include <stdint.h>
#include <string.h>

#include "fw.h"
#include "protocol.h"

#if defined(FW_MODEL_HEADER)
#include "spq.h"
#include FW_MODEL_HEADER
#endif

#ifndef FW_BOARD_NAME
#define FW_BOARD_NAME "unknown"
#endif

#if defined(FW_MODEL_HEADER)
#define HAVE_MODEL 1
#define IN_BYTES FW_INPUT_BYTES
#define N_CLASSES FW_NUM_CLASSES
#define N_LAYERS FW_NUM_LAYERS
static uint8_t fw_arena[FW_ARENA_SIZE] __attribute__((aligned(8)));
#else
#define HAVE_MODEL 0
#define IN_BYTES 0u
#define N_CLASSES 1u
#define N_LAYERS 1u
#endif

/* The receive buffer holds the largest request: one input, or a 256-byte echo. */
#define RX_CAP (IN_BYTES > 256u ? IN_BYTES : 256u)
static uint8_t rx[RX_CAP] __attribute__((aligned(4)));

#if HAVE_MODEL
/* per-layer timing through the runtime's profiling hook */
static uint64_t layer_raw[N_LAYERS];
static uint64_t layer_start;

static void profile_hook(void *user, uint16_t layer, uint16_t t, uint8_t phase)
{
    uint64_t now = timer_now();
    (void)user;
    (void)t;
    if (phase == 0u) {
        layer_start = now;
    } else if (layer < N_LAYERS) {
        layer_raw[layer] += now - layer_start;
    }
}
#endif

#if HAVE_MODEL
/* The buffers above are sized from NAME.h's macros; the runtime reads the descriptor in
 * NAME.c. Returns 0 when they agree, else ERR_MODEL_HEADER's detail: the first macro that
 * differs (top 4 bits) and the descriptor's value (low 28 bits). */
static uint32_t model_header_mismatch(void)
{
    const spq_model_t *m = &FW_MODEL;
    uint32_t steps = m->input_kind == SPQ_INPUT_EVENTS ? m->time_steps : 1u;
    uint32_t in_bytes = (uint32_t)m->in_c * m->in_h * m->in_w * steps;
    uint32_t field = 0, value = 0;
    if (m->num_classes != (uint32_t)N_CLASSES) {
        field = MODEL_HEADER_NUM_CLASSES;
        value = m->num_classes;
    } else if (m->num_layers != (uint32_t)N_LAYERS) {
        field = MODEL_HEADER_NUM_LAYERS;
        value = m->num_layers;
    } else if (in_bytes != (uint32_t)IN_BYTES) {
        field = MODEL_HEADER_INPUT_BYTES;
        value = in_bytes;
    } else if (m->arena_bytes != (uint32_t)FW_ARENA_SIZE) {
        field = MODEL_HEADER_ARENA_SIZE;
        value = m->arena_bytes;
    }
    return field << 28 | (value & 0x0FFFFFFFu);
}
#endif

static void send_info(uint8_t seq)
{
    uint8_t head[40];
    uint8_t *p = head;
    static const char board[] = FW_BOARD_NAME;
#if HAVE_MODEL
    const char *model = FW_MODEL.name ? FW_MODEL.name : "";
    uint32_t arena_bytes = (uint32_t)sizeof fw_arena;
    uint16_t time_steps = FW_MODEL.time_steps;
#else
    const char *model = "";
    uint32_t arena_bytes = 0;
    uint16_t time_steps = 0;
#endif
    uint8_t board_len = (uint8_t)(sizeof board - 1u);
    uint8_t model_len = (uint8_t)strlen(model);
    proto_part_t parts[5];
    p = proto_put_u8(p, PROTO_VERSION);
    p = proto_put_u8(p, timer_unit());
    p = proto_put_u8(p, timer_source());
    p = proto_put_u8(p, HAVE_MODEL ? 1u : 0u);
    p = proto_put_u32(p, arena_bytes);
    p = proto_put_u32(p, IN_BYTES);
    p = proto_put_u16(p, HAVE_MODEL ? (uint16_t)N_CLASSES : 0u);
    p = proto_put_u16(p, HAVE_MODEL ? (uint16_t)N_LAYERS : 0u);
    p = proto_put_u16(p, time_steps);
    p = proto_put_u32(p, fw_stack_size());
    p = proto_put_u32(p, RX_CAP);
    p = proto_put_u32(p, FW_CLOCK_HZ);
    p = proto_put_u8(p, board_len);
    parts[0].data = head;
    parts[0].len = (uint32_t)(p - head);
    parts[1].data = board;
    parts[1].len = board_len;
    parts[2].data = &model_len;
    parts[2].len = 1u;
    parts[3].data = model;
    parts[3].len = model_len;
    proto_send(MSG_INFO, seq, parts, 4u);
}

#if HAVE_MODEL
static void run_inference(uint8_t seq, uint32_t len)
{
    static spq_ctx_t ctx;
    static int32_t logits[N_CLASSES];
    /* status, unit, pad, classes, layers, pad, total, stack peak; logits; per layer */
#define RESULT_HEAD_BYTES (4u + 1u + 1u + 2u + 2u + 2u + 8u + 4u)
    static uint8_t result[RESULT_HEAD_BYTES + 4u * N_CLASSES + 16u * N_LAYERS];
    uint8_t *p = result;
    uint64_t t0, t1;
    uint32_t i;
    spq_status_t st;
    proto_part_t part;

    if (len != IN_BYTES) {
        proto_send_error(seq, ERR_INPUT_SIZE, IN_BYTES);
        return;
    }
    st = spq_init(&ctx, &FW_MODEL, fw_arena, sizeof fw_arena);
    if (st != SPQ_OK) {
        proto_send_error(seq, ERR_RUNTIME, (uint32_t)st);
        return;
    }
    spq_set_hook(&ctx, profile_hook, 0);
    for (i = 0; i < N_LAYERS; i++) {
        layer_raw[i] = 0;
    }
    fw_stack_paint();
    timer_restart();
    t0 = timer_now();
    st = spq_run(&ctx, rx, logits);
    t1 = timer_now();
    p = proto_put_u32(p, (uint32_t)st);
    p = proto_put_u8(p, timer_unit());
    p = proto_put_u8(p, 0u);
    p = proto_put_u16(p, (uint16_t)N_CLASSES);
    p = proto_put_u16(p, (uint16_t)N_LAYERS);
    p = proto_put_u16(p, 0u);
    p = proto_put_u64(p, timer_to_unit(t1 - t0));
    p = proto_put_u32(p, fw_stack_peak());
    for (i = 0; i < N_CLASSES; i++) {
        p = proto_put_u32(p, (uint32_t)logits[i]);
    }
    for (i = 0; i < N_LAYERS; i++) {
        p = proto_put_u32(p, spq_spike_count(&ctx, (uint16_t)i));
        p = proto_put_u32(p, spq_synop_count(&ctx, (uint16_t)i));
        p = proto_put_u64(p, timer_to_unit(layer_raw[i]));
    }
    part.data = result;
    part.len = (uint32_t)(p - result);
    proto_send(MSG_RESULT, seq, &part, 1u);
}
#endif

int main(void)
{
    proto_header_t hdr;
    proto_part_t part;
#if HAVE_MODEL
    uint32_t mismatch = model_header_mismatch();
#else
    uint32_t mismatch = 0;
#endif
    uart_init();
    timer_init();
    for (;;) {
        if (proto_recv(&hdr, rx, RX_CAP) != 0u) {
            continue;
        }
        if (mismatch != 0u) {
            /* running this model could overrun the buffers: refuse every request */
            proto_send_error(hdr.seq, ERR_MODEL_HEADER, mismatch);
            continue;
        }
#if defined(FW_VARIANT_SILENT)
        continue;
#elif defined(FW_VARIANT_CRASH)
        {
            /* a call through an invalid (non-Thumb) address: UsageFault -> HardFault */
            void (*volatile bad)(void) = 0;
            bad();
        }
#endif
        switch (hdr.type) {
        case MSG_HELLO:
            send_info(hdr.seq);
            break;
        case MSG_ECHO:
            part.data = rx;
            part.len = hdr.len;
            proto_send(MSG_ECHO_REPLY, hdr.seq, &part, 1u);
            break;
        case MSG_INFER:
#if HAVE_MODEL
            run_inference(hdr.seq, hdr.len);
#else
            proto_send_error(hdr.seq, ERR_NO_MODEL, 0);
#endif
            break;
        case MSG_BYE:
            proto_send(MSG_BYE_ACK, hdr.seq, 0, 0u);
            fw_exit(0);
        default:
            proto_send_error(hdr.seq, ERR_TYPE, hdr.type);
            break;
        }
    }
}
