/* SPDX-License-Identifier: MIT */
/* C unit tests of the runtime: integer helpers, the neuron, membrane packing, hand-built
 * models with hand-computed outputs, both schedules, streaming, arena and model checks.
 * Built by tests/test_runtime_c.py with gcc and clang, with and without ASan/UBSan. */
#include <stdio.h>
#include <string.h>

#include "spq.h"
#include "spq_internal.h"
#include "spq_rows.h"

static int failures = 0;
static int checks = 0;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        checks++;                                                                        \
        if (!(cond)) {                                                                   \
            failures++;                                                                  \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                       \
        }                                                                                \
    } while (0)

#define CHECK_EQ(a, b)                                                                   \
    do {                                                                                 \
        long long va_ = (long long)(a), vb_ = (long long)(b);                            \
        checks++;                                                                        \
        if (va_ != vb_) {                                                                \
            failures++;                                                                  \
            printf("FAIL %s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a, va_, \
                   vb_);                                                                 \
        }                                                                                \
    } while (0)

static uint32_t rng_state = 12345u;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

/* ------------------------------------------------------------------ integer helpers */
static long long slow_floor_div(long long x, unsigned s)
{
    long long d = 1LL << s, q = x / d;
    if (x % d != 0 && x < 0) {
        q -= 1; /* C division truncates; floor is one lower for negative non-multiples */
    }
    return q;
}

static void test_floor_div(void)
{
    static const long long xs[] = {0, 1, -1, 2, -2, 3, -3, 32767, -32768, 65535, -65536,
                                   -65537, 4611686018427387903LL, -4611686018427387904LL,
                                   6917529027641081855LL, -6917529027641081856LL};
    unsigned s, i;
    for (s = 1; s <= 62; s++) {
        for (i = 0; i < sizeof xs / sizeof xs[0]; i++) {
            CHECK_EQ(spq_floor_div_pow2_64(xs[i], s), slow_floor_div(xs[i], s));
        }
        for (i = 0; i < 200; i++) {
            unsigned long long r = ((unsigned long long)rnd() << 40) ^
                                   ((unsigned long long)rnd() << 16) ^ rnd();
            long long x = (long long)(r & ((1ULL << 62) - 1u)) - (1LL << 61);
            CHECK_EQ(spq_floor_div_pow2_64(x, s), slow_floor_div(x, s));
        }
    }
    for (s = 1; s <= 31; s++) {
        for (i = 0; i < 200; i++) {
            int32_t x = (int32_t)(rnd() ^ (rnd() << 16));
            CHECK_EQ(spq_floor_div_pow2_32(x, s), slow_floor_div(x, s));
        }
    }
    CHECK_EQ(spq_floor_div_pow2_32(-1, 16), -1);
    CHECK_EQ(spq_floor_div_pow2_32(-65536, 16), -1);
    CHECK_EQ(spq_floor_div_pow2_32(-65537, 16), -2);
    CHECK_EQ(spq_floor_div_pow2_32(65535, 16), 0);
}

static void test_current(void)
{
    /* I = floor((acc*M + 2^(S-1)) / 2^S): ties round up (toward +inf) */
    CHECK_EQ(spq_current(1, 1, 1), 1);   /* 0.5 -> 1 */
    CHECK_EQ(spq_current(-1, 1, 1), 0);  /* -0.5 -> 0 */
    CHECK_EQ(spq_current(-3, 1, 1), -1); /* -1.5 -> -1 */
    CHECK_EQ(spq_current(3, 1, 1), 2);   /* 1.5 -> 2 */
    CHECK_EQ(spq_current(-5, 3, 2), -4); /* -3.75 -> -4 */
    CHECK_EQ(spq_current(7, 1 << 30, 14), 7 * 65536);
    /* S = 0: the product itself, saturated at 2^29 */
    CHECK_EQ(spq_current(1000, 1000, 0), 1000000);
    CHECK_EQ(spq_current(1 << 20, 1 << 20, 0), 1 << 29);
    CHECK_EQ(spq_current(-(1 << 20), 1 << 20, 0), -(1 << 29));
    /* extreme product and shift */
    CHECK_EQ(spq_current(2147483647, 2147483647, 62), 1); /* (2^31-1)^2 / 2^62 = 0.99.. */
    CHECK_EQ(spq_current(-2147483647, 2147483647, 62), -1);
    CHECK_EQ(spq_current(2147483647, -2147483647, 1), -(1 << 29));
}

static spq_neuron_cfg_t cfg_for(int32_t leak, int32_t lo, int32_t hi, int soft)
{
    spq_neuron_cfg_t c;
    int32_t levels = hi - lo + 1;
    uint32_t bits = 0;
    while ((1 << bits) < levels) {
        bits++;
    }
    c.leak = leak;
    c.lo = lo;
    c.hi = hi;
    c.theta = hi * 65536;
    c.zero_code = (uint32_t)(-lo);
    c.bits = bits ? bits : 1u;
    c.mask = (1u << c.bits) - 1u;
    c.soft = (uint8_t)soft;
    return c;
}

static void test_neuron_step(void)
{
    spq_neuron_cfg_t tern = cfg_for(32768, -1, 1, 0);
    spq_neuron_cfg_t tern_soft = cfg_for(32768, -1, 1, 1);
    spq_neuron_cfg_t five = cfg_for(32768, -3, 1, 0);
    int32_t u;
    /* V = 65536 = THETA: spike, hard reset to 0 */
    u = 0;
    CHECK_EQ(spq_neuron_step(&tern, 65536, 0, &u), 1);
    CHECK_EQ(u, 0);
    /* V = 65535: no spike, rounds to level 1 */
    u = 0;
    CHECK_EQ(spq_neuron_step(&tern, 65535, 0, &u), 0);
    CHECK_EQ(u, 1);
    /* V = 32768 (half a level): ties round up to 1; V = 32767 rounds to 0 */
    u = 0;
    CHECK_EQ(spq_neuron_step(&tern, 30000, 2768, &u), 0);
    CHECK_EQ(u, 1);
    u = 0;
    spq_neuron_step(&tern, 32767, 0, &u);
    CHECK_EQ(u, 0);
    /* V = -32768 rounds up to 0, V = -32769 down to -1 */
    u = 0;
    spq_neuron_step(&tern, -32768, 0, &u);
    CHECK_EQ(u, 0);
    u = 0;
    spq_neuron_step(&tern, -32769, 0, &u);
    CHECK_EQ(u, -1);
    /* leak: u = 1, K = 0.5: V = 32768 + 32768 = THETA -> spike */
    u = 1;
    CHECK_EQ(spq_neuron_step(&tern, 32768, 0, &u), 1);
    CHECK_EQ(u, 0);
    /* u = -1: V = -32768 + 0 -> rounds to 0 */
    u = -1;
    CHECK_EQ(spq_neuron_step(&tern, 0, 0, &u), 0);
    CHECK_EQ(u, 0);
    /* soft reset: V = 65536 + 40000 -> spike, V' = 40000 -> u' = 1 */
    u = 0;
    CHECK_EQ(spq_neuron_step(&tern_soft, 65536 + 40000, 0, &u), 1);
    CHECK_EQ(u, 1);
    /* soft reset, V = 3*THETA: spike, V' = 2*THETA -> clamped to hi = 1 */
    u = 0;
    CHECK_EQ(spq_neuron_step(&tern_soft, 3 * 65536, 0, &u), 1);
    CHECK_EQ(u, 1);
    /* five levels {-3..1}: V = -300000 -> floor(-4.08) = -5 -> clamp -3 */
    u = 0;
    CHECK_EQ(spq_neuron_step(&five, -300000, 0, &u), 0);
    CHECK_EQ(u, -3);
    /* u = -3, K = 0.5: V = -98304 + 0 -> floor(-1.5 + 0.5) = -1 */
    u = -3;
    spq_neuron_step(&five, 0, 0, &u);
    CHECK_EQ(u, -1);
    /* u = -3: V = -98304 - 32768 = -2 THETA, exactly -2 */
    u = -3;
    spq_neuron_step(&five, -32768, 0, &u);
    CHECK_EQ(u, -2);
    {
        /* threshold level 3 of six levels {-2..3}: THETA = 3 * 2^16 */
        spq_neuron_cfg_t six = cfg_for(65536, -2, 3, 0);
        spq_neuron_cfg_t six_soft = cfg_for(65536, -2, 3, 1);
        u = 0; /* V = 3 * 65536 - 1: no spike, rounds to level 3 */
        CHECK_EQ(spq_neuron_step(&six, 3 * 65536 - 1, 0, &u), 0);
        CHECK_EQ(u, 3);
        u = 2; /* K = 1: V = 2 * 65536 + 65536 = THETA: spike, hard reset */
        CHECK_EQ(spq_neuron_step(&six, 65536, 0, &u), 1);
        CHECK_EQ(u, 0);
        u = 3; /* soft: V = 3 * 65536 + 65536 + 40000 -> V' = 65536 + 40000 -> u' = 2 */
        CHECK_EQ(spq_neuron_step(&six_soft, 65536 + 40000, 0, &u), 1);
        CHECK_EQ(u, 2);
        u = 0; /* one level below threshold (as for ternary, hi = 1) does not fire */
        CHECK_EQ(spq_neuron_step(&six, 65536, 0, &u), 0);
        CHECK_EQ(u, 1);
    }
}

static void test_membrane_packing(void)
{
    uint32_t mem[16];
    int32_t expect[100];
    uint32_t bits, i, n = 100;
    for (bits = 1; bits <= 8; bits++) {
        int32_t lo = bits == 1 ? 0 : -(int32_t)((1u << bits) - 2u);
        spq_neuron_cfg_t c = cfg_for(0, lo, 1, 0);
        uint32_t count = 16u * 32u / bits < n ? 16u * 32u / bits : n;
        CHECK_EQ(c.bits, bits);
        memset(mem, 0, sizeof mem);
        for (i = 0; i < count; i++) {
            CHECK_EQ(spq_mem_get(mem, i * bits, &c), 0); /* zero bytes are level 0 */
        }
        for (i = 0; i < count; i++) {
            expect[i] = lo + (int32_t)(rnd() % (uint32_t)(1 - lo + 1));
            spq_mem_put(mem, i * bits, &c, expect[i]);
        }
        for (i = 0; i < count; i += 3) { /* overwrite some; neighbours must keep theirs */
            expect[i] = lo + (int32_t)(rnd() % (uint32_t)(1 - lo + 1));
            spq_mem_put(mem, i * bits, &c, expect[i]);
        }
        for (i = 0; i < count; i++) {
            CHECK_EQ(spq_mem_get(mem, i * bits, &c), expect[i]);
        }
    }
}

/* Pair words of int16 accumulators: any sequence of adds whose per-lane totals stay in
 * int16 reads back exactly, and the decoded weight tables match the packing rules. */
static void test_acc16_pairs(void)
{
    uint32_t b, i, k;
    for (b = 0; b < 256; b++) {
        int32_t e0 = (int32_t)(b & 15u) - ((b & 8u) ? 16 : 0);
        int32_t e1 = (int32_t)(b >> 4) - ((b & 128u) ? 16 : 0);
        CHECK_EQ(spq_acc16_lo(spq_pairs_w4[b]), e0);
        CHECK_EQ(spq_acc16_hi(spq_pairs_w4[b]), e1);
        for (k = 0; k < 4; k++) {
            uint32_t f = (b >> (2u * k)) & 3u;
            int32_t e = f >= 2u ? (int32_t)f - 4 : (int32_t)f;
            uint32_t word = spq_pairs_w2[2u * b + (k >> 1)];
            CHECK_EQ((k & 1u) ? spq_acc16_hi(word) : spq_acc16_lo(word), e);
        }
    }
    for (i = 0; i < 2000; i++) {
        uint32_t v = 0;
        int32_t lo = 0, hi = 0, target_lo = (int32_t)(rnd() % 65536u) - 32768;
        int32_t target_hi = (int32_t)(rnd() % 65536u) - 32768;
        for (k = 0; k < 8; k++) { /* reach the targets in steps of mixed sign */
            int32_t dl = k == 7 ? target_lo - lo : (int32_t)(rnd() % 8001u) - 4000;
            int32_t dh = k == 7 ? target_hi - hi : (int32_t)(rnd() % 8001u) - 4000;
            if (lo + dl < -32768 || lo + dl > 32767) {
                dl = 0;
            }
            if (hi + dh < -32768 || hi + dh > 32767) {
                dh = 0;
            }
            v += (uint32_t)dl + ((uint32_t)dh << 16);
            lo += dl;
            hi += dh;
            CHECK_EQ(spq_acc16_lo(v), lo);
            CHECK_EQ(spq_acc16_hi(v), hi);
        }
    }
}

/* ------------------------------------------------------------------ hand-built models */
/* Model A: events (4,1,1), T = 3.
 * layer 0: linear 4 -> 2, w = [[1,1,0,0],[0,0,2,-1]], M = 2^30, S = 14 (I = acc * THETA),
 *          B = 0, K = 0.5, ternary, hard reset.
 * layer 1: readout 2 -> 2, w = [[3,-2],[1,1]], bias (10, -5).
 * frames: [1,0,0,0], [1,1,0,0], [0,0,1,1]
 *   t0: acc (1,0) -> V (THETA, 0) -> spikes (1,0), u (0,0)
 *   t1: acc (2,0) -> spikes (1,0)
 *   t2: acc (0,1) -> spikes (0,1)
 *   logits = (3,1) + (3,1) + (-2,1) + 3*(10,-5) = (34, -12)
 *   spikes: 3; synops: layer 0 (1+2+2 inputs) * 2 = 10, readout 3 spikes * 2 = 6. */
static const uint8_t a_w0[4 * 2] = {1, 0, 1, 0, 0, 2, 0, 0xFF}; /* rows [i][o], int8 */
static const int32_t a_m0[2] = {1 << 30, 1 << 30};
static const int8_t a_s0[2] = {14, 14};
static const int32_t a_b0[2] = {0, 0};
static const uint8_t a_w1_packed[2 * 1] = {(uint8_t)((3 & 15) | ((1 & 15) << 4)),
                                           (uint8_t)((-2 & 15) | ((1 & 15) << 4))};
static const int32_t a_b1[2] = {10, -5};

static spq_layer_t a_layers[2];
static spq_model_t model_a;

static void build_model_a(void)
{
    spq_layer_t l0, l1;
    memset(&l0, 0, sizeof l0);
    memset(&l1, 0, sizeof l1);
    l0.type = SPQ_LAYER_LINEAR;
    l0.in_kind = SPQ_IN_SPIKE;
    l0.weight_bits = 8;
    l0.acc_bits = 16;
    l0.in_c = 4;
    l0.in_h = l0.in_w = 1;
    l0.out_c = 2;
    l0.out_h = l0.out_w = 1;
    l0.kernel = l0.stride = 1;
    l0.reset = SPQ_RESET_HARD;
    l0.max_in = 1;
    l0.weight_row_bytes = 2;
    l0.weights = a_w0;
    l0.mult = a_m0;
    l0.shift = a_s0;
    l0.bias = a_b0;
    l0.weights_bytes = sizeof a_w0;
    l0.mult_bytes = sizeof a_m0;
    l0.shift_bytes = sizeof a_s0;
    l0.bias_bytes = sizeof a_b0;
    l0.leak = 32768;
    l0.lo = -1;
    l0.hi = 1;
    l0.level_bits = 2;
    l1.type = SPQ_LAYER_READOUT;
    l1.in_kind = SPQ_IN_SPIKE;
    l1.weight_bits = 4;
    l1.acc_bits = 32;
    l1.in_c = 2;
    l1.in_h = l1.in_w = 1;
    l1.out_c = 2;
    l1.out_h = l1.out_w = 1;
    l1.kernel = l1.stride = 1;
    l1.max_in = 1;
    l1.weight_row_bytes = 1;
    l1.weights = a_w1_packed;
    l1.bias = a_b1;
    l1.weights_bytes = sizeof a_w1_packed;
    l1.bias_bytes = sizeof a_b1;
    a_layers[0] = l0;
    a_layers[1] = l1;
    memset(&model_a, 0, sizeof model_a);
    model_a.format_version = SPQ_FORMAT_VERSION;
    model_a.name = "a";
    model_a.input_kind = SPQ_INPUT_EVENTS;
    model_a.schedule = SPQ_SCHEDULE_TIME;
    model_a.time_steps = 3;
    model_a.in_c = 4;
    model_a.in_h = model_a.in_w = 1;
    model_a.num_classes = 2;
    model_a.num_layers = 2;
    model_a.layers = a_layers;
    model_a.arena_bytes = (uint32_t)spq_arena_size(&model_a, SPQ_SCHEDULE_TIME);
}

static const uint8_t a_input[3 * 4] = {1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1};

static uint32_t arena_words[4096];

typedef struct {
    int calls, before, after;
    uint16_t last_t;
} hook_log_t;

static void count_hook(void *user, uint16_t layer, uint16_t t, uint8_t phase)
{
    hook_log_t *log = (hook_log_t *)user;
    (void)layer;
    log->calls++;
    if (phase == 0) {
        log->before++;
    } else {
        log->after++;
    }
    log->last_t = t;
}

static void test_model_a(void)
{
    spq_ctx_t ctx;
    int32_t logits[2];
    uint8_t *arena = (uint8_t *)arena_words;
    int sched;
    hook_log_t log;
    build_model_a();
    CHECK(spq_arena_size(&model_a, SPQ_SCHEDULE_TIME) > 0u);
    for (sched = 0; sched < 2; sched++) {
        memset(&log, 0, sizeof log);
        CHECK_EQ(spq_init_schedule(&ctx, &model_a, arena, sizeof arena_words,
                                   (spq_schedule_t)sched),
                 SPQ_OK);
        spq_set_hook(&ctx, count_hook, &log);
        CHECK_EQ(spq_run(&ctx, a_input, logits), SPQ_OK);
        CHECK_EQ(logits[0], 34);
        CHECK_EQ(logits[1], -12);
        CHECK_EQ(spq_spike_count(&ctx, 0), 3);
        CHECK_EQ(spq_spike_count(&ctx, 1), 0);
        CHECK_EQ(spq_synop_count(&ctx, 0), 10);
        CHECK_EQ(spq_synop_count(&ctx, 1), 6);
        CHECK_EQ(spq_spike_count(&ctx, 7), 0); /* out of range */
        CHECK_EQ(log.before, sched == 0 ? 6 : 2);
        CHECK_EQ(log.after, log.before);
        CHECK_EQ(log.last_t, sched == 0 ? 2 : 0xFFFF);
        /* a second run starts from a clean state */
        spq_set_hook(&ctx, NULL, NULL);
        CHECK_EQ(spq_run(&ctx, a_input, logits), SPQ_OK);
        CHECK_EQ(logits[0], 34);
        CHECK_EQ(spq_synop_count(&ctx, 0), 10);
    }
    /* streaming: three steps, logits after each */
    CHECK_EQ(spq_init(&ctx, &model_a, arena, sizeof arena_words), SPQ_OK);
    CHECK_EQ(spq_step(&ctx, a_input), SPQ_OK);
    spq_get_logits(&ctx, logits);
    CHECK_EQ(logits[0], 13);
    CHECK_EQ(logits[1], -4);
    CHECK_EQ(spq_step(&ctx, a_input + 4), SPQ_OK);
    CHECK_EQ(spq_step(&ctx, a_input + 8), SPQ_OK);
    spq_get_logits(&ctx, logits);
    CHECK_EQ(logits[0], 34);
    CHECK_EQ(logits[1], -12);
    CHECK_EQ(spq_step(&ctx, a_input), SPQ_ERR_STATE);
    CHECK_EQ(spq_reset(&ctx), SPQ_OK);
    CHECK_EQ(spq_step(&ctx, a_input), SPQ_OK);
    spq_get_logits(&ctx, logits);
    CHECK_EQ(logits[0], 13);
    /* layer-major contexts cannot stream */
    CHECK_EQ(spq_init_schedule(&ctx, &model_a, arena, sizeof arena_words, SPQ_SCHEDULE_LAYER),
             SPQ_OK);
    CHECK_EQ(spq_step(&ctx, a_input), SPQ_ERR_SCHEDULE);
}

static void test_arena_checks(void)
{
    spq_ctx_t ctx;
    uint8_t *arena = (uint8_t *)arena_words;
    size_t need;
    int sched;
    build_model_a();
    for (sched = 0; sched < 2; sched++) {
        need = spq_arena_size(&model_a, (spq_schedule_t)sched);
        CHECK(need > 0u && need % 4u == 0u);
        CHECK_EQ(spq_init_schedule(&ctx, &model_a, arena, need - 1u, (spq_schedule_t)sched),
                 SPQ_ERR_ARENA_SMALL);
        CHECK_EQ(spq_init_schedule(&ctx, &model_a, arena, need, (spq_schedule_t)sched), SPQ_OK);
        CHECK_EQ(spq_init_schedule(&ctx, &model_a, arena + 1, need + 8u, (spq_schedule_t)sched),
                 SPQ_ERR_ARENA_ALIGN);
        CHECK_EQ(spq_init_schedule(&ctx, &model_a, arena + 2, need + 8u, (spq_schedule_t)sched),
                 SPQ_ERR_ARENA_ALIGN);
    }
    CHECK_EQ(spq_init_schedule(&ctx, &model_a, arena, sizeof arena_words, (spq_schedule_t)2),
             SPQ_ERR_SCHEDULE);
    CHECK_EQ(spq_arena_size(&model_a, (spq_schedule_t)5), 0);
    CHECK_EQ(spq_init(NULL, &model_a, arena, 64), SPQ_ERR_NULL);
    CHECK_EQ(spq_init(&ctx, NULL, arena, 64), SPQ_ERR_NULL);
    CHECK_EQ(spq_init(&ctx, &model_a, NULL, 64), SPQ_ERR_NULL);
    CHECK_EQ(spq_arena_size(NULL, SPQ_SCHEDULE_TIME), 0);
    CHECK_EQ(spq_run(NULL, a_input, NULL), SPQ_ERR_NULL);
}

/* Each mutation of model A must be refused by spq_init and spq_arena_size. */
static void expect_bad(const char *what)
{
    spq_ctx_t ctx;
    checks++;
    if (spq_arena_size(&model_a, SPQ_SCHEDULE_TIME) != 0u ||
        spq_init(&ctx, &model_a, (uint8_t *)arena_words, sizeof arena_words) != SPQ_ERR_MODEL) {
        failures++;
        printf("FAIL: bad model accepted: %s\n", what);
    }
    build_model_a();
}

static void test_bad_models(void)
{
    static const int32_t big_logit_bias[2] = {1 << 30, 0};
    static const int8_t bad_shift[2] = {14, 63};
    static const int8_t neg_shift[2] = {-1, 14};
    static const int32_t big_bias[2] = {0, (1 << 29) + 1};
    spq_ctx_t ctx;
    build_model_a();
    model_a.format_version = SPQ_FORMAT_VERSION + 1u;
    expect_bad("format version");
    model_a.format_version = 1u; /* the layout before the array sizes */
    expect_bad("format version 1");
    model_a.num_layers = 0;
    expect_bad("no layers");
    model_a.time_steps = 0;
    expect_bad("T = 0");
    model_a.input_kind = 2;
    expect_bad("input kind");
    model_a.schedule = 2;
    expect_bad("default schedule");
    model_a.in_c = 5;
    expect_bad("input shape vs first layer");
    a_layers[0].in_c = 3;
    expect_bad("layer in_c");
    a_layers[1].in_c = 3;
    expect_bad("readout in_c vs previous out");
    a_layers[0].in_kind = SPQ_IN_U8;
    expect_bad("u8 layer with event input");
    a_layers[0].weight_bits = 3;
    expect_bad("weight bits 3");
    a_layers[0].weight_row_bytes = 1;
    expect_bad("row bytes");
    a_layers[0].acc_bits = 8;
    expect_bad("acc bits 8");
    a_layers[0].shift = bad_shift;
    expect_bad("shift 63");
    a_layers[0].shift = neg_shift;
    expect_bad("shift -1");
    a_layers[0].level_bits = 3;
    expect_bad("level bits 3 for ternary");
    a_layers[0].lo = -300;
    expect_bad("more than 256 levels");
    a_layers[0].lo = 1;
    expect_bad("lo = hi");
    a_layers[0].leak = 65537;
    expect_bad("leak > 1");
    a_layers[0].bias = big_bias;
    expect_bad("bias beyond 2^29");
    a_layers[0].reset = 2;
    expect_bad("reset kind");
    a_layers[0].weights = NULL;
    expect_bad("no weights");
    a_layers[0].mult = NULL;
    expect_bad("no multipliers");
    a_layers[0].hi = 0;
    a_layers[0].lo = -2;
    expect_bad("threshold level hi = 0");
    a_layers[0].type = SPQ_LAYER_SPIKE_READOUT;
    expect_bad("spike readout first");
    a_layers[1].type = SPQ_LAYER_SPIKE_READOUT; /* a readout without neuron constants */
    expect_bad("spike readout without mult/shift");
    /* arrays shorter than the shapes need (the sizeof the generated tables carry) */
    a_layers[0].weights_bytes -= 1u;
    expect_bad("weights one byte short");
    a_layers[0].mult_bytes = 4u;
    expect_bad("one multiplier for two channels");
    a_layers[0].shift_bytes = 1u;
    expect_bad("one shift for two channels");
    a_layers[0].bias_bytes = 7u;
    expect_bad("neuron bias short");
    a_layers[1].weights_bytes = 0u;
    expect_bad("readout without weight bytes");
    a_layers[1].bias_bytes = 4u;
    expect_bad("readout bias short");
    a_layers[0].weights_bytes += 1u; /* longer arrays are fine */
    a_layers[1].bias_bytes = 12u;
    CHECK_EQ(spq_init(&ctx, &model_a, (uint8_t *)arena_words, sizeof arena_words), SPQ_OK);
    build_model_a();
    a_layers[0].type = SPQ_LAYER_READOUT;
    expect_bad("readout first");
    a_layers[1].type = SPQ_LAYER_LINEAR;
    expect_bad("no readout last");
    a_layers[0].type = SPQ_LAYER_MAXPOOL;
    expect_bad("pool first");
    a_layers[0].type = 9;
    expect_bad("unknown type");
    a_layers[0].max_in = 0;
    expect_bad("max_in below the largest spike");
    a_layers[0].max_in = 300; /* 4 inputs * 127 * 300 > 32767 for an int16 accumulator */
    expect_bad("int16 accumulator bound");
    a_layers[1].bias = big_logit_bias; /* 3 * (2^30 + 14) >= 2^31 */
    expect_bad("logits could overflow");
    model_a.num_classes = 3;
    expect_bad("classes vs readout");
    a_layers[0].out_h = 2;
    expect_bad("linear with spatial output");
    /* arena_bytes is checked by spq_init only */
    model_a.arena_bytes += 4u;
    CHECK(spq_arena_size(&model_a, SPQ_SCHEDULE_TIME) > 0u);
    CHECK_EQ(spq_init(&ctx, &model_a, (uint8_t *)arena_words, sizeof arena_words),
             SPQ_ERR_MODEL);
    build_model_a();
    CHECK_EQ(spq_init(&ctx, &model_a, (uint8_t *)arena_words, sizeof arena_words), SPQ_OK);
}

/* Model B: static 1x3x3 image, conv 1 -> 1, k = 3, stride 2, pad 1 (output 2x2), 8-bit
 * weights w[ky][kx] = 3*ky + kx + 1, I = acc * THETA, B = -5 THETA; a 2x2 max pool (1x1);
 * readout 1 -> 2 with weights (2, -1), bias (0, 7); T = 2.
 * Image: only the centre pixel = 1. The centre (1,1) reaches all four outputs:
 *   out (oy,ox) sees tap (ky,kx) = (2-2oy, 2-2ox): acc = (w22, w20, w02, w00) = (9, 7, 3, 1)
 *   V = (acc - 5) THETA -> spikes at (0,0), (0,1); the pool ORs them to 1 at every step.
 *   logits = T * ((2, -1) + (0, 7)) = (4, 12); spikes 2 per step = 4; synops: one pixel
 *   reaching 4 positions, counted once per inference = 4; readout 1 spike * 2 per step = 4.
 * A corner pixel (0,0) = 2 reaches only (0,0) through tap (1,1): acc = 5*2 = 10.
 */
static const uint8_t b_w0[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}; /* [ci][ky][kx][co], co = 1 */
static const int32_t b_m0[1] = {1 << 30};
static const int8_t b_s0[1] = {14};
static const int32_t b_b0[1] = {-5 * 65536};
static const uint8_t b_w2[2] = {2, 0xFF}; /* row i0: (2, -1) int8 */
static const int32_t b_b2[2] = {0, 7};
static spq_layer_t b_layers[3];
static spq_model_t model_b;

static void build_model_b(void)
{
    spq_layer_t *l = b_layers;
    memset(b_layers, 0, sizeof b_layers);
    l[0].type = SPQ_LAYER_CONV;
    l[0].in_kind = SPQ_IN_U8;
    l[0].weight_bits = 8;
    l[0].acc_bits = 32;
    l[0].in_c = 1;
    l[0].in_h = l[0].in_w = 3;
    l[0].out_c = 1;
    l[0].out_h = l[0].out_w = 2;
    l[0].kernel = 3;
    l[0].stride = 2;
    l[0].padding = 1;
    l[0].max_in = 255;
    l[0].weight_row_bytes = 1;
    l[0].weights = b_w0;
    l[0].mult = b_m0;
    l[0].shift = b_s0;
    l[0].bias = b_b0;
    l[0].weights_bytes = sizeof b_w0;
    l[0].mult_bytes = sizeof b_m0;
    l[0].shift_bytes = sizeof b_s0;
    l[0].bias_bytes = sizeof b_b0;
    l[0].leak = 32768;
    l[0].lo = -3;
    l[0].hi = 1;
    l[0].level_bits = 3;
    l[1].type = SPQ_LAYER_MAXPOOL;
    l[1].in_kind = SPQ_IN_SPIKE;
    l[1].in_c = l[1].out_c = 1;
    l[1].in_h = l[1].in_w = 2;
    l[1].out_h = l[1].out_w = 1;
    l[1].kernel = l[1].stride = 2;
    l[2].type = SPQ_LAYER_READOUT;
    l[2].in_kind = SPQ_IN_SPIKE;
    l[2].weight_bits = 8;
    l[2].acc_bits = 16;
    l[2].in_c = 1;
    l[2].in_h = l[2].in_w = 1;
    l[2].out_c = 2;
    l[2].out_h = l[2].out_w = 1;
    l[2].kernel = l[2].stride = 1;
    l[2].max_in = 1;
    l[2].weight_row_bytes = 2;
    l[2].weights = b_w2;
    l[2].bias = b_b2;
    l[2].weights_bytes = sizeof b_w2;
    l[2].bias_bytes = sizeof b_b2;
    memset(&model_b, 0, sizeof model_b);
    model_b.format_version = SPQ_FORMAT_VERSION;
    model_b.name = "b";
    model_b.input_kind = SPQ_INPUT_STATIC;
    model_b.schedule = SPQ_SCHEDULE_LAYER;
    model_b.time_steps = 2;
    model_b.in_c = 1;
    model_b.in_h = model_b.in_w = 3;
    model_b.num_classes = 2;
    model_b.num_layers = 3;
    model_b.layers = b_layers;
    model_b.arena_bytes = (uint32_t)spq_arena_size(&model_b, SPQ_SCHEDULE_LAYER);
}

static void test_model_b(void)
{
    static const uint8_t centre[9] = {0, 0, 0, 0, 1, 0, 0, 0, 0};
    static const uint8_t corner[9] = {2, 0, 0, 0, 0, 0, 0, 0, 0};
    spq_ctx_t ctx;
    int32_t logits[2];
    int sched;
    build_model_b();
    for (sched = 0; sched < 2; sched++) {
        CHECK_EQ(spq_init_schedule(&ctx, &model_b, (uint8_t *)arena_words, sizeof arena_words,
                                   (spq_schedule_t)sched),
                 SPQ_OK);
        CHECK_EQ(spq_run(&ctx, centre, logits), SPQ_OK);
        CHECK_EQ(logits[0], 4);
        CHECK_EQ(logits[1], 12);
        CHECK_EQ(spq_spike_count(&ctx, 0), 4);
        CHECK_EQ(spq_synop_count(&ctx, 0), 4);
        CHECK_EQ(spq_synop_count(&ctx, 1), 0);
        CHECK_EQ(spq_synop_count(&ctx, 2), 4);
        /* corner pixel 2: acc(0,0) = 10 -> V = 5 THETA: spike every step at (0,0) only */
        CHECK_EQ(spq_run(&ctx, corner, logits), SPQ_OK);
        CHECK_EQ(logits[0], 4);
        CHECK_EQ(logits[1], 12);
        CHECK_EQ(spq_spike_count(&ctx, 0), 2);
        CHECK_EQ(spq_synop_count(&ctx, 0), 1);
    }
}

/* Model C: rounding ties through the whole layer path. events (1,1,1), T = 2, frames [1, 0].
 * layer 0: linear 1 -> 2, w = 1, S = 1 and M = 2*I0 so that I = I0 exactly:
 *   I0 = (58304, 58303); B = 40000; K = 0.5; ternary; soft reset.
 *   t0: V = (98304, 98303): both spike; V' = (32768, 32767) -> u = (1, 0) (the tie rounds up)
 *   t1: V = K*u + B = (72768, 40000): channel 0 spikes, channel 1 does not.
 * readout 2 -> 1, w = (1, 10), bias 0: logit = 2 * 1 + 1 * 10 = 12. */
static const uint8_t c_w0[2] = {1, 1};
static const int32_t c_m0[2] = {2 * 58304, 2 * 58303};
static const int8_t c_s0[2] = {1, 1};
static const int32_t c_b0[2] = {40000, 40000};
static const uint8_t c_w1[2] = {1, 10};
static const int32_t c_b1[1] = {0};

static void test_model_c_ties(void)
{
    static const uint8_t frames[2] = {1, 0};
    spq_layer_t layers[2];
    spq_model_t m;
    spq_ctx_t ctx;
    int32_t logit;
    int sched;
    memset(layers, 0, sizeof layers);
    memset(&m, 0, sizeof m);
    layers[0].type = SPQ_LAYER_LINEAR;
    layers[0].in_kind = SPQ_IN_SPIKE;
    layers[0].weight_bits = 8;
    layers[0].acc_bits = 16;
    layers[0].in_c = 1;
    layers[0].in_h = layers[0].in_w = 1;
    layers[0].out_c = 2;
    layers[0].out_h = layers[0].out_w = 1;
    layers[0].kernel = layers[0].stride = 1;
    layers[0].reset = SPQ_RESET_SOFT;
    layers[0].max_in = 1;
    layers[0].weight_row_bytes = 2;
    layers[0].weights = c_w0;
    layers[0].mult = c_m0;
    layers[0].shift = c_s0;
    layers[0].bias = c_b0;
    layers[0].weights_bytes = sizeof c_w0;
    layers[0].mult_bytes = sizeof c_m0;
    layers[0].shift_bytes = sizeof c_s0;
    layers[0].bias_bytes = sizeof c_b0;
    layers[0].leak = 32768;
    layers[0].lo = -1;
    layers[0].hi = 1;
    layers[0].level_bits = 2;
    layers[1].type = SPQ_LAYER_READOUT;
    layers[1].in_kind = SPQ_IN_SPIKE;
    layers[1].weight_bits = 8;
    layers[1].acc_bits = 32;
    layers[1].in_c = 2;
    layers[1].in_h = layers[1].in_w = 1;
    layers[1].out_c = 1;
    layers[1].out_h = layers[1].out_w = 1;
    layers[1].kernel = layers[1].stride = 1;
    layers[1].max_in = 1;
    layers[1].weight_row_bytes = 1;
    layers[1].weights = c_w1;
    layers[1].bias = c_b1;
    layers[1].weights_bytes = sizeof c_w1;
    layers[1].bias_bytes = sizeof c_b1;
    m.format_version = SPQ_FORMAT_VERSION;
    m.name = "c";
    m.input_kind = SPQ_INPUT_EVENTS;
    m.time_steps = 2;
    m.in_c = m.in_h = m.in_w = 1;
    m.num_classes = 1;
    m.num_layers = 2;
    m.layers = layers;
    m.arena_bytes = (uint32_t)spq_arena_size(&m, SPQ_SCHEDULE_TIME);
    for (sched = 0; sched < 2; sched++) {
        CHECK_EQ(spq_init_schedule(&ctx, &m, (uint8_t *)arena_words, sizeof arena_words,
                                   (spq_schedule_t)sched),
                 SPQ_OK);
        CHECK_EQ(spq_run(&ctx, frames, &logit), SPQ_OK);
        CHECK_EQ(logit, 12);
        CHECK_EQ(spq_spike_count(&ctx, 0), 3);
    }
}

int main(void)
{
    test_floor_div();
    test_current();
    test_neuron_step();
    test_membrane_packing();
    test_acc16_pairs();
    test_model_a();
    test_arena_checks();
    test_bad_models();
    test_model_b();
    test_model_c_ties();
    printf("%d checks, %d failures\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
