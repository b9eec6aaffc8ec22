/* SPDX-License-Identifier: MIT */
/* The public API: model validation, arena layout, reset, and the two schedules. */
#include "spq_conv.h"

enum { SPQ_P_CACHE = 0, SPQ_P_ACC, SPQ_P_MEM, SPQ_P_MEM_END, SPQ_P_REGION0, SPQ_P_REGION1 };

#define SPQ_ALIGN4(x) (((x) + 3u) & ~(size_t)3u)

/* Offsets of the arena parts (docs/formats.md, "Arena layout"). */
typedef struct {
    size_t counters, cache, acc, mem, mem_len, region0, region1, total;
} spq_layout_t;

static size_t spq_layer_neurons(const spq_layer_t *l)
{
    return (size_t)l->out_c * l->out_h * l->out_w;
}

static int spq_is_neuron(const spq_layer_t *l)
{
    return l->type == SPQ_LAYER_CONV || l->type == SPQ_LAYER_LINEAR ||
           l->type == SPQ_LAYER_SPIKE_READOUT;
}

static int spq_is_readout(const spq_layer_t *l)
{
    return l->type == SPQ_LAYER_READOUT || l->type == SPQ_LAYER_SPIKE_READOUT;
}

static size_t spq_bitmap_bytes(size_t n)
{
    return 4u * ((n + 31u) / 32u);
}

static size_t spq_frame_bytes(const spq_layer_t *l)
{
    size_t n = spq_layer_neurons(l);
    if (l->type == SPQ_LAYER_READOUT) {
        return 0;
    }
    if (l->type == SPQ_LAYER_SUMPOOL) {
        return SPQ_ALIGN4(n);
    }
    return spq_bitmap_bytes(n);
}

/* spq_static_trains_ok with its first test inline, for the callers run at every layer step
 * (most layers read spikes: no call for them). */
SPQ_INLINE int spq_trains_cached(const spq_layer_t *l, uint32_t T)
{
    return l->in_kind == SPQ_IN_U8 && spq_static_trains_ok(l, T);
}

/* The max pool that reads a static first layer's cached trains (layer 1), or NULL. */
static const spq_layer_t *spq_trains_pool(const spq_model_t *m)
{
    return m->num_layers > 1u && m->layers[1].type == SPQ_LAYER_MAXPOOL ? &m->layers[1] : NULL;
}

/* A layer's state: the packed membranes of a neuron layer; for a readout that reads spikes,
 * the spike count of each input feature so far, bit-sliced (spq_readout_count); none for a
 * static layer with cached trains (its cache part holds them). */
static size_t spq_mem_bytes(const spq_model_t *m, const spq_layer_t *l)
{
    if (spq_trains_cached(l, m->time_steps)) {
        return 0;
    }
    if (l->type == SPQ_LAYER_READOUT && l->in_kind == SPQ_IN_SPIKE) {
        return 4u * spq_count_planes(m->time_steps) * (((size_t)l->in_c + 31u) / 32u);
    }
    if (!spq_is_neuron(l)) {
        return 0;
    }
    return SPQ_ALIGN4((spq_layer_neurons(l) * l->level_bits + 7u) / 8u);
}

/* Accumulators of one output position, the kernels' scratch: int32 per channel, or int16
 * two per word (ceil(C/2) words); int32 for a static layer with a rank cache, with the
 * trains' scratch when they are cached. */
static size_t spq_acc_bytes(const spq_layer_t *l, uint32_t T)
{
    size_t n;
    if (spq_static_trains_ok(l, T)) {
        return spq_static_scratch_bytes(l, T);
    }
    n = l->in_kind == SPQ_IN_U8 ? 4u * (size_t)l->out_c /* int32 accumulators */
                                       : spq_acc_pos_bytes(l->out_c, l->acc_bits);
    if (l->type == SPQ_LAYER_CONV && l->weights_x != NULL) { /* the fused kernel's lists */
        n += spq_w4_list_bytes(l->in_c, l->in_w, l->kernel, l->padding);
    }
    return n;
}

static size_t spq_input_neurons(const spq_model_t *m)
{
    return (size_t)m->in_c * m->in_h * m->in_w;
}

/* Synapse checks shared by conv, linear and readout: packing, and the accumulator bound
 * fan_in * qmax * max_in (docs/semantics.md s4) within the accumulator's width. */
SPQ_COLD
static int spq_valid_synapse(const spq_layer_t *l, uint32_t need_max_in, uint32_t T)
{
    uint32_t row_bits = (uint32_t)l->out_c * l->weight_bits;
    uint64_t fan_in = l->type == SPQ_LAYER_CONV
                          ? (uint64_t)l->in_c * l->kernel * l->kernel
                          : (uint64_t)l->in_c;
    uint64_t qmax, bound;
    uint32_t o;
    if (l->weights == NULL || l->bias == NULL) {
        return 0;
    }
    if (l->weight_bits != 2u && l->weight_bits != 4u && l->weight_bits != 8u) {
        return 0;
    }
    if (l->weight_row_bytes != (row_bits + 7u) / 8u || l->max_in < need_max_in) {
        return 0;
    }
    /* the arrays hold what the shapes address (fan_in rows of weights, a bias per output) */
    if (l->weights_bytes < fan_in * l->weight_row_bytes ||
        l->bias_bytes < 4u * (uint32_t)l->out_c) {
        return 0;
    }
    qmax = ((uint64_t)1 << (l->weight_bits - 1u)) - 1u;
    bound = fan_in * qmax * l->max_in;
    if (l->acc_bits == 16u ? bound > 32767u : (l->acc_bits != 32u || bound > 0x7FFFFFFFu)) {
        return 0;
    }
    if (l->type == SPQ_LAYER_READOUT) { /* T * (|bias| + bound) < 2^31: int32 logits */
        for (o = 0; o < l->out_c; o++) {
            uint64_t b = l->bias[o] < 0 ? (uint64_t)(-(int64_t)l->bias[o]) : (uint64_t)l->bias[o];
            if ((uint64_t)T * (b + bound) >= ((uint64_t)1 << 31)) {
                return 0;
            }
        }
    }
    return 1;
}

SPQ_COLD
static int spq_valid_neuron(const spq_layer_t *l)
{
    int32_t levels = (int32_t)l->hi - (int32_t)l->lo + 1;
    uint32_t c;
    if (l->mult == NULL || l->shift == NULL || l->reset > SPQ_RESET_SOFT) {
        return 0;
    }
    if (l->mult_bytes < 4u * (uint32_t)l->out_c || l->shift_bytes < l->out_c ||
        l->bias_bytes < 4u * (uint32_t)l->out_c) {
        return 0;
    }
    if (levels < 2 || levels > 256 || l->lo > 0 || l->hi < 1) { /* threshold level hi >= 1 */
        return 0;
    }
    if (l->level_bits != spq_count_planes((uint32_t)(levels - 1))) {
        return 0;
    }
    if (l->leak < -(SPQ_THETA) || l->leak > SPQ_THETA) {
        return 0;
    }
    for (c = 0; c < l->out_c; c++) {
        if (l->shift[c] < 0 || l->shift[c] > 62) {
            return 0;
        }
        if (l->bias[c] < -SPQ_I_MAX || l->bias[c] > SPQ_I_MAX) {
            return 0;
        }
    }
    return spq_outcome_valid(l);
}

/* The kernel tables hold what the layer's shapes and table bits address (their sizes as
 * compiled, recorded by spq-export beside each pointer); checked before any is read. */
SPQ_COLD
static int spq_tables_sized(const spq_layer_t *l)
{
    uint64_t oc = l->out_c, k = l->kernel, b = l->level_bits, n = l->outcome_bits;
    uint64_t g = l->lut_bits;
    if (n > SPQ_OUTCOME_MAX_BITS || b > 8u || g > SPQ_LUT_MAX_BITS) {
        return 0;
    }
    if (l->outcome != NULL && l->outcome_bytes < (oc << (b + n))) {
        return 0; /* a row of 2^n outcomes per (channel, membrane code) */
    }
    if (l->outcome_base != NULL && l->outcome_base_bytes < 4u * oc) {
        return 0;
    }
    if (l->breaks != NULL && (n == 0u || l->breaks_bytes < 4u * oc * ((1u << n) - 1u))) {
        return 0; /* 2^n - 1 breakpoints per channel */
    }
    if (l->lut != NULL && l->lut_bytes < 4u * k * ((uint64_t)1 << g) * (oc / 4u)) {
        return 0; /* per (kernel row, window-row bits): out_c bytes in words */
    }
    if (l->weights_x != NULL && l->weights_x_bytes < (uint64_t)l->in_c * k * k * oc) {
        return 0; /* a byte per weight */
    }
    return 1;
}

/* Layer i against the shape (c, h, w), kind and largest value of what feeds it. */
SPQ_COLD
static int spq_valid_layer(const spq_model_t *m, uint32_t i, uint32_t c, uint32_t h,
                           uint32_t w, uint32_t kind, uint32_t max_in)
{
    const spq_layer_t *l = &m->layers[i];
    uint32_t last = (uint32_t)m->num_layers - 1u;
    if (l->in_kind != kind || l->out_c == 0u || l->out_h == 0u || l->out_w == 0u) {
        return 0;
    }
    if (!spq_is_neuron(l) && (l->outcome != NULL || l->outcome_base != NULL ||
                              l->breaks != NULL || l->outcome_bits != 0u)) {
        return 0;
    }
    if (l->type != SPQ_LAYER_CONV && (l->lut != NULL || l->lut_bits != 0u ||
                                      (l->weights_x != NULL && l->type != SPQ_LAYER_READOUT))) {
        return 0;
    }
    if (!spq_tables_sized(l)) {
        return 0;
    }
    if (spq_is_readout(l) != (i == last)) {
        return 0; /* the readout is the last layer, and only it */
    }
    switch (l->type) {
    case SPQ_LAYER_CONV: {
        uint32_t k = l->kernel, s = l->stride, p = l->padding;
        if (l->in_c != c || l->in_h != h || l->in_w != w || k == 0u || s == 0u) {
            return 0;
        }
        if (h + 2u * p < k || w + 2u * p < k) {
            return 0;
        }
        if (l->out_h != (h + 2u * p - k) / s + 1u || l->out_w != (w + 2u * p - k) / s + 1u) {
            return 0;
        }
        return spq_valid_synapse(l, max_in, m->time_steps) && spq_valid_neuron(l) &&
               spq_lut_valid(l) && spq_w4_valid(l);
    }
    case SPQ_LAYER_LINEAR:
    case SPQ_LAYER_READOUT:
    case SPQ_LAYER_SPIKE_READOUT:
        /* a linear layer reads the (C, H, W) map flattened */
        if ((uint32_t)l->in_c != c * h * w || l->in_h != 1u || l->in_w != 1u) {
            return 0;
        }
        if (l->out_h != 1u || l->out_w != 1u) {
            return 0;
        }
        if (spq_is_readout(l) && l->out_c != m->num_classes) {
            return 0;
        }
        if (l->type == SPQ_LAYER_READOUT) {
            return spq_valid_synapse(l, max_in, m->time_steps) && spq_readout_x_valid(l);
        }
        return spq_valid_synapse(l, max_in, m->time_steps) && spq_valid_neuron(l);
    case SPQ_LAYER_MAXPOOL:
    case SPQ_LAYER_SUMPOOL: {
        uint32_t k = l->kernel;
        const spq_layer_t *prev = i > 0u ? &m->layers[i - 1u] : NULL;
        if (prev == NULL || !spq_is_neuron(prev) || k == 0u) {
            return 0; /* a pool follows a neuron layer */
        }
        if (l->type == SPQ_LAYER_SUMPOOL && k * k > 255u) {
            return 0; /* counts are uint8 */
        }
        return l->in_c == c && l->in_h == h && l->in_w == w && l->out_c == c &&
               l->out_h == h / k && l->out_w == w / k;
    }
    default:
        return 0;
    }
}

SPQ_COLD
static int spq_valid_model(const spq_model_t *m)
{
    uint32_t i, c, h, w, kind, max_in;
    if (m == NULL || m->format_version != SPQ_FORMAT_VERSION || m->layers == NULL) {
        return 0;
    }
    if (m->num_layers == 0u || m->time_steps == 0u || m->num_classes == 0u) {
        return 0;
    }
    if (m->input_kind > SPQ_INPUT_EVENTS || m->schedule > SPQ_SCHEDULE_LAYER) {
        return 0;
    }
    if (m->in_c == 0u || m->in_h == 0u || m->in_w == 0u) {
        return 0;
    }
    c = m->in_c;
    h = m->in_h;
    w = m->in_w;
    kind = m->input_kind == SPQ_INPUT_STATIC ? SPQ_IN_U8 : SPQ_IN_SPIKE;
    max_in = m->input_kind == SPQ_INPUT_STATIC ? 255u : 1u;
    for (i = 0; i < m->num_layers; i++) {
        const spq_layer_t *l = &m->layers[i];
        if (!spq_valid_layer(m, i, c, h, w, kind, max_in)) {
            return 0;
        }
        c = l->out_c;
        h = l->out_h;
        w = l->out_w;
        kind = l->type == SPQ_LAYER_SUMPOOL ? SPQ_IN_COUNT : SPQ_IN_SPIKE;
        max_in = l->type == SPQ_LAYER_SUMPOOL ? (uint32_t)l->kernel * l->kernel : 1u;
    }
    return 1;
}

/* Lay out the arena; returns 0 (total = 0) for an invalid model or schedule. */
SPQ_COLD
static int spq_layout(const spq_model_t *m, spq_schedule_t schedule, spq_layout_t *lay)
{
    size_t steps, region[2] = {0, 0}, acc = 0, cache = 0, mem_sum = 0, mem_max = 0;
    uint32_t i;
    memset(lay, 0, sizeof *lay);
    if (!spq_valid_model(m) ||
        (schedule != SPQ_SCHEDULE_TIME && schedule != SPQ_SCHEDULE_LAYER)) {
        return 0;
    }
    steps = schedule == SPQ_SCHEDULE_LAYER ? m->time_steps : 1u;
    for (i = 0; i < m->num_layers; i++) {
        const spq_layer_t *l = &m->layers[i];
        size_t frame = steps * spq_frame_bytes(l), mem = spq_mem_bytes(m, l);
        if (frame > region[i & 1u]) {
            region[i & 1u] = frame;
        }
        mem_sum += mem;
        if (mem > mem_max) {
            mem_max = mem;
        }
        if (spq_is_neuron(l) && (l->in_kind != SPQ_IN_U8 || l->breaks != NULL)) {
            size_t a = spq_acc_bytes(l, m->time_steps);
            if (a > acc) {
                acc = a;
            }
        }
    }
    if (m->input_kind == SPQ_INPUT_EVENTS && spq_bitmap_bytes(spq_input_neurons(m)) > region[1]) {
        region[1] = spq_bitmap_bytes(spq_input_neurons(m));
    }
    if (m->layers[0].in_kind == SPQ_IN_U8) {
        const spq_layer_t *l0 = &m->layers[0];
        cache = l0->breaks != NULL ? SPQ_ALIGN4(spq_layer_neurons(l0)) /* ranks: a byte */
                                   : 4u * spq_layer_neurons(l0);         /* currents */
        if (spq_static_trains_ok(l0, m->time_steps)) { /* trains, or the reference's membranes */
            size_t mem0 = SPQ_ALIGN4((spq_layer_neurons(l0) * l0->level_bits + 7u) / 8u);
            cache = spq_static_trains_bytes(l0, spq_trains_pool(m), m->time_steps);
            cache = cache > mem0 ? cache : mem0;
        }
    }
    lay->counters = 0;
    lay->cache = 8u * m->num_layers + 4u * m->num_classes;
    lay->acc = lay->cache + cache;
    lay->mem = lay->acc + acc;
    lay->mem_len = schedule == SPQ_SCHEDULE_LAYER ? mem_max : mem_sum;
    lay->region0 = lay->mem + lay->mem_len;
    lay->region1 = lay->region0 + region[0];
    lay->total = lay->region1 + region[1];
    return 1;
}

size_t spq_arena_size(const spq_model_t *model, spq_schedule_t schedule)
{
    spq_layout_t lay;
    spq_layout(model, schedule, &lay);
    return lay.total;
}

SPQ_COLD
spq_status_t spq_init_schedule(spq_ctx_t *ctx, const spq_model_t *model, uint8_t *arena,
                               size_t arena_len, spq_schedule_t schedule)
{
    spq_layout_t lay;
    if (ctx == NULL || model == NULL || arena == NULL) {
        return SPQ_ERR_NULL;
    }
    memset(ctx, 0, sizeof *ctx);
    if (!spq_valid_model(model)) {
        return SPQ_ERR_MODEL;
    }
    if (!spq_layout(model, schedule, &lay)) {
        return SPQ_ERR_SCHEDULE; /* the model is valid, so the schedule is not */
    }
    /* the exporter's arena size for its default schedule must be the runtime's */
    if ((size_t)model->arena_bytes != spq_arena_size(model, (spq_schedule_t)model->schedule)) {
        return SPQ_ERR_MODEL;
    }
    if (((size_t)arena & 3u) != 0u) {
        return SPQ_ERR_ARENA_ALIGN;
    }
    if (arena_len < lay.total) {
        return SPQ_ERR_ARENA_SMALL;
    }
    ctx->model = model;
    ctx->arena = arena;
    ctx->arena_len = arena_len;
    ctx->schedule = (uint8_t)schedule;
    ctx->spike_counts = (uint32_t *)(void *)arena;
    ctx->synops = ctx->spike_counts + model->num_layers;
    ctx->logits = (int32_t *)(void *)(ctx->synops + model->num_layers);
    ctx->priv[SPQ_P_CACHE] = arena + lay.cache;
    ctx->priv[SPQ_P_ACC] = arena + lay.acc;
    ctx->priv[SPQ_P_MEM] = arena + lay.mem;
    ctx->priv[SPQ_P_MEM_END] = arena + lay.mem + lay.mem_len;
    ctx->priv[SPQ_P_REGION0] = arena + lay.region0;
    ctx->priv[SPQ_P_REGION1] = arena + lay.region1;
    return spq_reset(ctx);
}

spq_status_t spq_init(spq_ctx_t *ctx, const spq_model_t *model, uint8_t *arena,
                      size_t arena_len)
{
    if (model == NULL) {
        return SPQ_ERR_NULL;
    }
    return spq_init_schedule(ctx, model, arena, arena_len, (spq_schedule_t)model->schedule);
}

spq_status_t spq_reset(spq_ctx_t *ctx)
{
    const spq_model_t *m;
    uint8_t *mem;
    if (ctx == NULL || ctx->model == NULL) {
        return SPQ_ERR_NULL;
    }
    m = ctx->model;
    memset(ctx->arena, 0, 8u * m->num_layers + 4u * m->num_classes);
    mem = (uint8_t *)ctx->priv[SPQ_P_MEM];
    memset(mem, 0, (size_t)((uint8_t *)ctx->priv[SPQ_P_MEM_END] - mem));
    ctx->step = 0;
    return SPQ_OK;
}

static void spq_call_hook(const spq_ctx_t *ctx, uint32_t layer, uint32_t t, uint8_t phase)
{
    if (ctx->hook != NULL) {
        ctx->hook(ctx->hook_user, (uint16_t)layer, (uint16_t)t, phase);
    }
}

/* Layer i at time step t: src is its input frame, dst its output frame. */
static void spq_layer_step(spq_ctx_t *ctx, uint32_t i, const void *src, void *dst, uint8_t *mem,
                           uint32_t t)
{
    const spq_model_t *m = ctx->model;
    const spq_layer_t *l = &m->layers[i];
    int32_t *cache = (int32_t *)ctx->priv[SPQ_P_CACHE];
    spq_job_t job;
    uint32_t o;
    job.l = l;
    job.in = src;
    job.mem = (uint32_t *)(void *)mem;
    job.out = (uint32_t *)dst;
    job.acc = ctx->priv[SPQ_P_ACC];
    job.map_c = i == 0u ? m->in_c : m->layers[i - 1u].out_c;
    job.synops = 0;
    job.spikes = 0;
    job.t = t;
    job.steps = m->time_steps;
    if (l->type != SPQ_LAYER_READOUT && l->type != SPQ_LAYER_SUMPOOL) {
        spq_zero_words((uint32_t *)dst, spq_frame_bytes(l) / 4u); /* frames: whole words */
    }
    switch (l->type) {
    case SPQ_LAYER_CONV:
    case SPQ_LAYER_LINEAR:
    case SPQ_LAYER_SPIKE_READOUT:
        if (spq_trains_cached(l, m->time_steps)) { /* the cache is the layer's state */
            job.mem = (uint32_t *)(void *)cache;
            spq_static_trains_step(&job, spq_trains_pool(m));
        } else if (l->in_kind == SPQ_IN_U8) {
            /* static first layer: its current is the same at every step */
            if (t == 0u) {
                job.synops = spq_static_prepare(l, (const uint8_t *)src, cache,
                                                (int32_t *)job.acc);
            }
            job.in = cache;
            spq_static_step(&job);
        } else if (l->type == SPQ_LAYER_CONV) {
            spq_conv_step(&job);
        } else {
            spq_linear_step(&job);
        }
        if (l->type == SPQ_LAYER_SPIKE_READOUT) { /* logits count the output spikes */
            const uint32_t *bits = (const uint32_t *)dst;
            for (o = 0; o < l->out_c; o++) {
                ctx->logits[o] += (int32_t)((bits[o >> 5] >> (o & 31u)) & 1u);
            }
        }
        break;
    case SPQ_LAYER_MAXPOOL:
#if SPQ_FAST
        if (i == 1u && spq_trains_cached(&m->layers[0], m->time_steps)) {
            spq_static_trains_copy((const uint32_t *)cache, spq_layer_neurons(l), t,
                                   (uint32_t *)dst); /* the static layer's pooled trains */
            break;
        }
#endif
        spq_maxpool_spike(l, (const uint32_t *)src, (uint32_t *)dst);
        break;
    case SPQ_LAYER_SUMPOOL:
        spq_sumpool_spike(l, (const uint32_t *)src, (uint8_t *)dst);
        break;
    default: { /* SPQ_LAYER_READOUT: logits += acc_t + bias_q */
        int32_t *logits = ctx->logits;
        if (l->in_kind == SPQ_IN_U8) {
            if (t == 0u) {
                job.synops = spq_static_readout(l, (const uint8_t *)src, cache);
            }
            for (o = 0; o < l->out_c; o++) {
                logits[o] += cache[o] + l->bias[o];
            }
        } else if (l->in_kind == SPQ_IN_SPIKE) { /* count now, weigh counts and bias at the end */
#if SPQ_HAVE_MVE
            spq_readout_count_mve(l, (const uint32_t *)src, job.mem,
                                  spq_count_planes(m->time_steps));
#else
            spq_readout_count(l, (const uint32_t *)src, job.mem);
#endif
            ctx->synops[i] = 1u; /* its counts are live: spq_synop_count reads them */
            if (t + 1u == m->time_steps) {
                spq_readout_finish(l, job.map_c, job.mem, spq_count_planes(m->time_steps),
                                   m->time_steps, logits);
            }
        } else {
            for (o = 0; o < l->out_c; o++) {
                logits[o] += l->bias[o];
            }
            spq_readout_step(&job, logits);
        }
        break;
    }
    }
    ctx->synops[i] += job.synops;
    ctx->spike_counts[i] += job.spikes;
}

/* One time step of every layer (time-major). */
static void spq_step_time(spq_ctx_t *ctx, const uint8_t *frame)
{
    const spq_model_t *m = ctx->model;
    uint8_t *region[2];
    uint8_t *mem = (uint8_t *)ctx->priv[SPQ_P_MEM];
    const void *src = frame;
    uint32_t i, t = ctx->step;
    region[0] = (uint8_t *)ctx->priv[SPQ_P_REGION0];
    region[1] = (uint8_t *)ctx->priv[SPQ_P_REGION1];
    if (m->input_kind == SPQ_INPUT_EVENTS) {
        spq_pack_events(frame, m->in_c, (uint32_t)m->in_h * m->in_w,
                        (uint32_t *)(void *)region[1]);
        src = region[1];
    }
    for (i = 0; i < m->num_layers; i++) {
        const spq_layer_t *l = &m->layers[i];
        spq_call_hook(ctx, i, t, 0);
        spq_layer_step(ctx, i, src, region[i & 1u], mem, t);
        spq_call_hook(ctx, i, t, 1);
        mem += spq_mem_bytes(m, l);
        src = region[i & 1u];
    }
    ctx->step++;
}

/* All time steps of one layer after the other (layer-major). */
SPQ_SIZE SPQ_NOINLINE
static void spq_run_layers(spq_ctx_t *ctx, const uint8_t *input)
{
    const spq_model_t *m = ctx->model;
    uint8_t *region[2];
    uint8_t *mem = (uint8_t *)ctx->priv[SPQ_P_MEM];
    size_t n_in = spq_input_neurons(m), in_frame = 0;
    uint32_t i, t, T = m->time_steps;
    region[0] = (uint8_t *)ctx->priv[SPQ_P_REGION0];
    region[1] = (uint8_t *)ctx->priv[SPQ_P_REGION1];
    for (i = 0; i < m->num_layers; i++) {
        const spq_layer_t *l = &m->layers[i];
        size_t out_frame = spq_frame_bytes(l);
        memset(mem, 0, spq_mem_bytes(m, l));
        spq_call_hook(ctx, i, 0xFFFFu, 0);
        for (t = 0; t < T; t++) {
            const void *src;
            if (i > 0u) {
                src = region[(i + 1u) & 1u] + t * in_frame;
            } else if (m->input_kind == SPQ_INPUT_EVENTS) {
                spq_pack_events(input + t * n_in, m->in_c, (uint32_t)m->in_h * m->in_w,
                                (uint32_t *)(void *)region[1]);
                src = region[1];
            } else {
                src = input;
            }
            spq_layer_step(ctx, i, src, region[i & 1u] + t * out_frame, mem, t);
        }
        spq_call_hook(ctx, i, 0xFFFFu, 1);
        in_frame = out_frame;
    }
    ctx->step = (uint16_t)T;
}

spq_status_t spq_run(spq_ctx_t *ctx, const uint8_t *input, int32_t *logits)
{
    const spq_model_t *m;
    uint32_t t;
    if (ctx == NULL || ctx->model == NULL || input == NULL || logits == NULL) {
        return SPQ_ERR_NULL;
    }
    m = ctx->model;
    spq_reset(ctx);
    if (ctx->schedule == SPQ_SCHEDULE_LAYER) {
        spq_run_layers(ctx, input);
    } else {
        size_t stride = m->input_kind == SPQ_INPUT_EVENTS ? spq_input_neurons(m) : 0u;
        for (t = 0; t < m->time_steps; t++) {
            spq_step_time(ctx, input + t * stride);
        }
    }
    memcpy(logits, ctx->logits, 4u * m->num_classes);
    return SPQ_OK;
}

spq_status_t spq_step(spq_ctx_t *ctx, const uint8_t *frame)
{
    if (ctx == NULL || ctx->model == NULL || frame == NULL) {
        return SPQ_ERR_NULL;
    }
    if (ctx->schedule != SPQ_SCHEDULE_TIME) {
        return SPQ_ERR_SCHEDULE;
    }
    if (ctx->step >= ctx->model->time_steps) {
        return SPQ_ERR_STATE;
    }
    spq_step_time(ctx, frame);
    return SPQ_OK;
}

/* The spike counts of a summed readout on spikes (the last layer), else NULL: the end of the
 * state region (time-major: the layers' states one after the other), or all of it (layer-
 * major: the layers take turns). */
static const uint32_t *spq_readout_counts(const spq_ctx_t *ctx)
{
    const spq_model_t *m = ctx->model;
    const spq_layer_t *r = &m->layers[m->num_layers - 1u];
    if (r->type != SPQ_LAYER_READOUT || r->in_kind != SPQ_IN_SPIKE) {
        return NULL;
    }
    if (ctx->schedule == SPQ_SCHEDULE_LAYER) {
        return (const uint32_t *)ctx->priv[SPQ_P_MEM];
    }
    return (const uint32_t *)(const void *)((const uint8_t *)ctx->priv[SPQ_P_MEM_END] -
                                            spq_mem_bytes(m, r));
}

spq_status_t spq_get_logits(const spq_ctx_t *ctx, int32_t *logits)
{
    const spq_model_t *m;
    const uint32_t *counts;
    if (ctx == NULL || ctx->model == NULL || logits == NULL) {
        return SPQ_ERR_NULL;
    }
    m = ctx->model;
    counts = spq_readout_counts(ctx);
    memcpy(logits, ctx->logits, 4u * m->num_classes);
    if (ctx->step < m->time_steps && counts != NULL) {
        /* mid-stream: the readout's counts and biases so far are not weighed in yet
         * (time-major only: a layer-major context has run every step or none) */
        spq_readout_finish(&m->layers[m->num_layers - 1u],
                           m->num_layers > 1u ? m->layers[m->num_layers - 2u].out_c : m->in_c,
                           counts, spq_count_planes(m->time_steps), ctx->step, logits);
    }
    return SPQ_OK;
}

void spq_set_hook(spq_ctx_t *ctx, spq_hook_t hook, void *user)
{
    if (ctx != NULL) {
        ctx->hook = hook;
        ctx->hook_user = user;
    }
}

uint32_t spq_spike_count(const spq_ctx_t *ctx, uint16_t layer)
{
    if (ctx == NULL || ctx->model == NULL || layer >= ctx->model->num_layers) {
        return 0;
    }
    return ctx->spike_counts[layer];
}

/* A summed readout on spikes counts its synops from its spike counts (out_c per spike), once
 * they are live (ctx->synops of the readout is 1 from its first step on). */
uint32_t spq_synop_count(const spq_ctx_t *ctx, uint16_t layer)
{
    const spq_layer_t *l;
    const uint32_t *counts;
    uint32_t words, p, spikes = 0;
    if (ctx == NULL || ctx->model == NULL || layer >= ctx->model->num_layers) {
        return 0;
    }
    l = &ctx->model->layers[layer];
    counts = spq_readout_counts(ctx);
    if (layer + 1u < ctx->model->num_layers || counts == NULL || ctx->synops[layer] == 0u) {
        return ctx->synops[layer];
    }
    words = ((uint32_t)l->in_c + 31u) / 32u;
    for (p = 0; p < spq_count_planes(ctx->model->time_steps); p++) {
        spikes += spq_count_bits(counts + p * words, l->in_c) << p;
    }
    return spikes * l->out_c;
}
