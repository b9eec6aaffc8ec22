/* SPDX-License-Identifier: MIT */
/* Corrupted model descriptors against spq_init, under ASan/UBSan (tests/test_fuzz.py,
 * bench/fuzz.py). Linked with generated models (tests/support/modelgen.py) and a table of them:
 *   const spq_model_t *const fuzz_models[]; const unsigned fuzz_num_models;
 * Each iteration copies one model into heap memory (every array in its own allocation of
 * exactly its recorded size, so ASan sees any access past it), applies 1-3 mutations and
 * asks spq_arena_size and spq_init for every schedule. What they accept is run (whole
 * inferences in both schedules and a stream of steps) on an input allocated to exactly the
 * size the mutated descriptor declares. An out-of-bounds access or undefined behaviour
 * aborts under the sanitizers; a layer whose arrays are shorter than its shapes need must
 * be refused (checked here independently).
 * usage: fuzz_model SEED ITERATIONS   -> prints "tried N rejected R ran K skipped S" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spq.h"

extern const spq_model_t *const fuzz_models[];
extern const unsigned fuzz_num_models;

#define MAX_LAYERS 64u
#define MAX_OWNED (9u * MAX_LAYERS + 8u)
/* inferences bigger than this (neurons x taps x steps) are not run, to keep runs short */
#define MAX_WORK 20000000.0
#define MAX_BYTES (16u << 20)

static unsigned long long rng_state;

static unsigned rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state >> 11);
}

static unsigned rnd_below(unsigned n)
{
    return n == 0u ? 0u : rnd() % n;
}

/* A mutable copy of a model: descriptor, layer table and arrays all on the heap. */
typedef struct {
    spq_model_t m;
    spq_layer_t *layers; /* MAX_LAYERS entries, num_layers in use */
    void *owned[MAX_OWNED];
    unsigned n_owned;
} fuzz_copy_t;

static void *own(fuzz_copy_t *f, size_t n)
{
    void *p = malloc(n);
    if (p == NULL && n != 0u) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    if (f->n_owned == MAX_OWNED) {
        fprintf(stderr, "too many allocations\n");
        exit(2);
    }
    f->owned[f->n_owned++] = p;
    return p;
}

static void *dup_array(fuzz_copy_t *f, const void *src, uint32_t bytes, uint32_t copy)
{
    uint8_t *p;
    if (src == NULL) {
        return NULL;
    }
    p = (uint8_t *)own(f, bytes);
    if (bytes != 0u) {
        memcpy(p, src, copy < bytes ? copy : bytes);
        if (copy < bytes) {
            memset(p + copy, 0, bytes - copy);
        }
    }
    return p;
}

static void copy_model(fuzz_copy_t *f, const spq_model_t *src)
{
    unsigned i;
    memset(f, 0, sizeof *f);
    f->m = *src;
    f->layers = (spq_layer_t *)own(f, MAX_LAYERS * sizeof(spq_layer_t));
    memset(f->layers, 0, MAX_LAYERS * sizeof(spq_layer_t));
    for (i = 0; i < src->num_layers && i < MAX_LAYERS; i++) {
        spq_layer_t *l = &f->layers[i];
        *l = src->layers[i];
        l->weights = (const uint8_t *)dup_array(f, l->weights, l->weights_bytes, l->weights_bytes);
        l->mult = (const int32_t *)dup_array(f, l->mult, l->mult_bytes, l->mult_bytes);
        l->shift = (const int8_t *)dup_array(f, l->shift, l->shift_bytes, l->shift_bytes);
        l->bias = (const int32_t *)dup_array(f, l->bias, l->bias_bytes, l->bias_bytes);
        l->outcome = (const uint8_t *)dup_array(f, l->outcome, l->outcome_bytes,
                                                l->outcome_bytes);
        l->outcome_base = (const int32_t *)dup_array(f, l->outcome_base, l->outcome_base_bytes,
                                                     l->outcome_base_bytes);
        l->lut = (const uint32_t *)dup_array(f, l->lut, l->lut_bytes, l->lut_bytes);
        l->weights_x = (const uint32_t *)dup_array(f, l->weights_x, l->weights_x_bytes,
                                                   l->weights_x_bytes);
        l->breaks = (const int32_t *)dup_array(f, l->breaks, l->breaks_bytes, l->breaks_bytes);
    }
    f->m.layers = f->layers;
}

static void free_copy(fuzz_copy_t *f)
{
    unsigned i;
    for (i = 0; i < f->n_owned; i++) {
        free(f->owned[i]);
    }
    f->n_owned = 0;
}

/* An integer near v, or an edge of [lo, hi], or anything in it. */
static long long pick(long long v, long long lo, long long hi)
{
    long long x;
    switch (rnd_below(9)) {
    case 0: x = 0; break;
    case 1: x = 1; break;
    case 2: x = v - 1; break;
    case 3: x = v + 1; break;
    case 4: x = 2 * v; break;
    case 5: x = v / 2; break;
    case 6: x = hi; break;
    case 7: x = lo; break;
    default: x = lo + (long long)(((unsigned long long)rnd() << 20 ^ rnd()) %
                                  (unsigned long long)(hi - lo + 1));
    }
    return x < lo ? lo : (x > hi ? hi : x);
}

/* One scalar field of a layer set to a new value. */
static void mutate_layer_field(spq_layer_t *l)
{
    switch (rnd_below(22)) {
    case 0: l->type = (uint8_t)pick(l->type, 0, 255); break;
    case 1: l->in_kind = (uint8_t)pick(l->in_kind, 0, 255); break;
    case 2: l->weight_bits = (uint8_t)pick(l->weight_bits, 0, 255); break;
    case 3: l->acc_bits = (uint8_t)pick(l->acc_bits, 0, 255); break;
    case 4: l->in_c = (uint16_t)pick(l->in_c, 0, 65535); break;
    case 5: l->in_h = (uint16_t)pick(l->in_h, 0, 65535); break;
    case 6: l->in_w = (uint16_t)pick(l->in_w, 0, 65535); break;
    case 7: l->out_c = (uint16_t)pick(l->out_c, 0, 65535); break;
    case 8: l->out_h = (uint16_t)pick(l->out_h, 0, 65535); break;
    case 9: l->out_w = (uint16_t)pick(l->out_w, 0, 65535); break;
    case 10: l->kernel = (uint8_t)pick(l->kernel, 0, 255); break;
    case 11: l->stride = (uint8_t)pick(l->stride, 0, 255); break;
    case 12: l->padding = (uint8_t)pick(l->padding, 0, 255); break;
    case 13: l->reset = (uint8_t)pick(l->reset, 0, 255); break;
    case 14: l->max_in = (uint16_t)pick(l->max_in, 0, 65535); break;
    case 15: l->weight_row_bytes = (uint16_t)pick(l->weight_row_bytes, 0, 65535); break;
    case 16: l->leak = (int32_t)pick(l->leak, -2147483647 - 1, 2147483647); break;
    case 17: l->lo = (int16_t)pick(l->lo, -32768, 32767); break;
    case 18: l->hi = (int16_t)pick(l->hi, -32768, 32767); break;
    case 19: l->outcome_bits = (uint8_t)pick(l->outcome_bits, 0, 255); break;
    case 20: l->lut_bits = (uint8_t)pick(l->lut_bits, 0, 255); break;
    default: l->level_bits = (uint8_t)pick(l->level_bits, 0, 255); break;
    }
}

static void mutate_model_field(fuzz_copy_t *f)
{
    spq_model_t *m = &f->m;
    switch (rnd_below(10)) {
    case 0: m->format_version = (uint32_t)pick(m->format_version, 0, 3); break;
    case 1: m->input_kind = (uint8_t)pick(m->input_kind, 0, 255); break;
    case 2: m->schedule = (uint8_t)pick(m->schedule, 0, 255); break;
    case 3: m->time_steps = (uint16_t)pick(m->time_steps, 0, 65535); break;
    case 4: m->in_c = (uint16_t)pick(m->in_c, 0, 65535); break;
    case 5: m->in_h = (uint16_t)pick(m->in_h, 0, 65535); break;
    case 6: m->in_w = (uint16_t)pick(m->in_w, 0, 65535); break;
    case 7: m->num_classes = (uint16_t)pick(m->num_classes, 0, 65535); break;
    case 8: /* the table holds MAX_LAYERS entries (zeroed beyond the model's) */
        m->num_layers = (uint16_t)pick(m->num_layers, 0, MAX_LAYERS);
        break;
    default: m->arena_bytes = (uint32_t)pick(m->arena_bytes, 0, 0xFFFFFFFFLL); break;
    }
}

/* One of a layer's arrays made shorter: reallocated (the size recorded honestly), or only
 * its recorded size lowered, or replaced by NULL. */
static void mutate_array(fuzz_copy_t *f, spq_layer_t *l)
{
    const void **ptr;
    uint32_t *bytes;
    switch (rnd_below(9)) {
    case 0: ptr = (const void **)&l->weights; bytes = &l->weights_bytes; break;
    case 1: ptr = (const void **)&l->mult; bytes = &l->mult_bytes; break;
    case 2: ptr = (const void **)&l->shift; bytes = &l->shift_bytes; break;
    case 3: ptr = (const void **)&l->outcome; bytes = &l->outcome_bytes; break;
    case 4: ptr = (const void **)&l->outcome_base; bytes = &l->outcome_base_bytes; break;
    case 5: ptr = (const void **)&l->lut; bytes = &l->lut_bytes; break;
    case 6: ptr = (const void **)&l->weights_x; bytes = &l->weights_x_bytes; break;
    case 7: ptr = (const void **)&l->breaks; bytes = &l->breaks_bytes; break;
    default: ptr = (const void **)&l->bias; bytes = &l->bias_bytes; break;
    }
    switch (rnd_below(4)) {
    case 0: /* a shorter array */
        if (*ptr != NULL) {
            uint32_t n = *bytes == 0u ? 0u : rnd_below(*bytes);
            *ptr = dup_array(f, *ptr, n, n);
            *bytes = n;
        }
        break;
    case 1: /* a smaller recorded size */
        *bytes = (uint32_t)pick(*bytes, 0, *bytes);
        break;
    case 2: /* a longer array, honestly recorded */
        if (*ptr != NULL) {
            uint32_t n = *bytes + 1u + rnd_below(64);
            *ptr = dup_array(f, *ptr, n, *bytes);
            *bytes = n;
        }
        break;
    default:
        *ptr = NULL;
        *bytes = 0;
    }
}

static int is_neuron(const spq_layer_t *l)
{
    return l->type == SPQ_LAYER_CONV || l->type == SPQ_LAYER_LINEAR;
}

static int is_synapse(const spq_layer_t *l)
{
    return is_neuron(l) || l->type == SPQ_LAYER_READOUT;
}

/* In-range packed weights: values in [-qmax, qmax] for the layer's width. */
static void fill_weights(uint8_t *p, uint32_t n, unsigned bits)
{
    uint32_t i;
    for (i = 0; i < n; i++) {
        uint8_t b = 0;
        unsigned k;
        if (bits == 8u) {
            b = (uint8_t)(rnd_below(255) - 127u);
        } else if (bits == 4u || bits == 2u) {
            unsigned qmax = bits == 4u ? 7u : 1u, per = 8u / bits;
            for (k = 0; k < per; k++) {
                unsigned v = (rnd_below(2u * qmax + 1u) - qmax) & ((1u << bits) - 1u);
                b = (uint8_t)(b | v << (k * bits));
            }
        }
        p[i] = b;
    }
}

static uint32_t bit_length(uint32_t x)
{
    uint32_t n = 0;
    while (x != 0u) {
        n++;
        x >>= 1;
    }
    return n;
}

/* After a change of geometry at layer `from`: every later shape follows from the one
 * before it (as a consistent exporter would write it), with weights of the new fan-in
 * reallocated and honestly sized, the accumulator width and the arena size recomputed. */
static void reshape(fuzz_copy_t *f, unsigned from)
{
    spq_model_t *m = &f->m;
    uint32_t c = m->in_c, h = m->in_h, w = m->in_w, i;
    for (i = 0; i < m->num_layers; i++) {
        spq_layer_t *l = &f->layers[i];
        if (i >= from) {
            uint32_t k = l->kernel, s = l->stride, p = l->padding;
            if (l->type == SPQ_LAYER_CONV) {
                l->in_c = (uint16_t)c;
                l->in_h = (uint16_t)h;
                l->in_w = (uint16_t)w;
                if (s != 0u && h + 2u * p >= k && w + 2u * p >= k) {
                    l->out_h = (uint16_t)((h + 2u * p - k) / s + 1u);
                    l->out_w = (uint16_t)((w + 2u * p - k) / s + 1u);
                }
            } else if (l->type == SPQ_LAYER_MAXPOOL || l->type == SPQ_LAYER_SUMPOOL) {
                l->in_c = l->out_c = (uint16_t)c;
                l->in_h = (uint16_t)h;
                l->in_w = (uint16_t)w;
                if (k != 0u) {
                    l->out_h = (uint16_t)(h / k);
                    l->out_w = (uint16_t)(w / k);
                }
            } else {
                l->in_c = (uint16_t)(c * h * w);
            }
            if (is_synapse(l) && l->weights != NULL) {
                unsigned long long rows = l->type == SPQ_LAYER_CONV
                                              ? (unsigned long long)l->in_c * k * k
                                              : l->in_c;
                unsigned long long n = rows * l->weight_row_bytes;
                if (n != l->weights_bytes && n <= MAX_BYTES) {
                    uint8_t *wts = (uint8_t *)own(f, (size_t)n);
                    fill_weights(wts, (uint32_t)n, l->weight_bits);
                    l->weights = wts;
                    l->weights_bytes = (uint32_t)n;
                }
                if (l->weight_bits >= 2u && l->weight_bits <= 8u) {
                    unsigned long long qmax = (1ull << (l->weight_bits - 1u)) - 1u;
                    l->acc_bits = rows * qmax * l->max_in <= 32767u ? 16u : 32u;
                }
            }
        }
        c = l->out_c;
        h = l->out_h;
        w = l->out_w;
    }
    m->arena_bytes = (uint32_t)spq_arena_size(m, (spq_schedule_t)m->schedule);
}

/* A geometry change that keeps the layer chain consistent. */
static void mutate_geometry(fuzz_copy_t *f)
{
    spq_model_t *m = &f->m;
    unsigned i = rnd_below(m->num_layers);
    spq_layer_t *l = &f->layers[i];
    switch (rnd_below(5)) {
    case 4: /* a layer's output map other than its input and window give, the rest following */
        l->out_h = (uint16_t)pick(l->out_h, 0, 64);
        l->out_w = (uint16_t)pick(l->out_w, 0, 64);
        reshape(f, i + 1u);
        return;
    case 0: /* the input map */
        m->in_h = (uint16_t)(1u + rnd_below(48));
        m->in_w = (uint16_t)(1u + rnd_below(48));
        i = 0;
        break;
    case 1: /* conv or pool window */
        l->kernel = (uint8_t)rnd_below(rnd_below(3) == 0u ? 40u : 8u);
        l->stride = (uint8_t)rnd_below(6);
        l->padding = (uint8_t)rnd_below(l->kernel + 3u);
        if (l->type == SPQ_LAYER_MAXPOOL || l->type == SPQ_LAYER_SUMPOOL) {
            l->stride = l->kernel;
            l->padding = 0;
        }
        break;
    case 2: /* output channels of a neuron layer (its arrays resized honestly) */
        if (is_neuron(l) && l->weight_bits >= 2u && l->weight_bits <= 8u && l->out_c > 0u &&
            l->mult != NULL && l->shift != NULL && l->bias != NULL &&
            l->mult_bytes >= 4u * l->out_c && l->shift_bytes >= l->out_c &&
            l->bias_bytes >= 4u * l->out_c) {
            uint32_t oc = 1u + rnd_below(40);
            int32_t *mult = (int32_t *)own(f, 4u * oc), *bias = (int32_t *)own(f, 4u * oc);
            int8_t *shift = (int8_t *)own(f, oc);
            uint32_t c;
            for (c = 0; c < oc; c++) {
                mult[c] = l->mult[c % l->out_c];
                shift[c] = l->shift[c % l->out_c];
                bias[c] = l->bias[c % l->out_c];
            }
            l->out_c = (uint16_t)oc;
            l->weight_row_bytes = (uint16_t)((oc * l->weight_bits + 7u) / 8u);
            l->weights_bytes = 0; /* refilled by reshape */
            l->mult = mult;
            l->shift = shift;
            l->bias = bias;
            l->mult_bytes = l->bias_bytes = 4u * oc;
            l->shift_bytes = oc;
        }
        break;
    default: /* membrane levels */
        if (is_neuron(l)) {
            uint32_t levels = 2u + rnd_below(255);
            l->hi = 1;
            l->lo = (int16_t)(2 - (int32_t)levels);
            l->level_bits = (uint8_t)bit_length(levels - 1u);
        }
    }
    reshape(f, i);
}

static void mutate(fuzz_copy_t *f)
{
    spq_model_t *m = &f->m;
    unsigned n = 1u + rnd_below(3), k;
    for (k = 0; k < n; k++) {
        unsigned r = rnd_below(10);
        spq_layer_t *l = m->num_layers ? &f->layers[rnd_below(m->num_layers)] : NULL;
        if (r < 3u && l != NULL) {
            mutate_layer_field(l);
        } else if (r < 5u && l != NULL) {
            mutate_array(f, l);
        } else if (r < 8u && m->num_layers > 0u) {
            mutate_geometry(f);
        } else {
            mutate_model_field(f);
        }
    }
}

/* Is a kernel table of the layer shorter than its fields address (docs/formats.md, "Kernel
 * tables": outcome 2^(level_bits + outcome_bits) bytes per channel, outcome_base an int32 per
 * channel, breaks 2^outcome_bits - 1 int32 per channel, lut out_c bytes per kernel row and
 * window-row value, weights_x a byte per weight)? Fields too large to address any table
 * count as short. */
static int tables_short(const spq_layer_t *l)
{
    unsigned long long oc = l->out_c, k = l->kernel, b = l->level_bits, n = l->outcome_bits;
    unsigned long long g = l->lut_bits;
    int wide = b > 16u || n > 16u || g > 16u;
    if (l->outcome != NULL && (wide || l->outcome_bytes < oc * (1ull << (b + n)))) {
        return 1;
    }
    if (l->outcome_base != NULL && l->outcome_base_bytes < 4u * oc) {
        return 1;
    }
    if (l->breaks != NULL && (wide || n == 0u || l->breaks_bytes < 4u * oc * ((1ull << n) - 1u))) {
        return 1;
    }
    if (l->lut != NULL && (wide || l->lut_bytes < 4u * k * (1ull << g) * (oc / 4u))) {
        return 1;
    }
    return l->weights_x != NULL && l->weights_x_bytes < (unsigned long long)l->in_c * k * k * oc;
}

/* Does some layer point to an array shorter than its own fields say it reads? Then the
 * model must be refused (an oracle written here, apart from the runtime's checks). */
static int arrays_short(const spq_model_t *m)
{
    unsigned i;
    for (i = 0; i < m->num_layers; i++) {
        const spq_layer_t *l = &m->layers[i];
        unsigned long long out_c = l->out_c;
        if (is_synapse(l)) {
            unsigned long long rows = l->type == SPQ_LAYER_CONV
                                          ? (unsigned long long)l->in_c * l->kernel * l->kernel
                                          : l->in_c;
            if (l->weights_bytes < rows * l->weight_row_bytes || l->bias_bytes < 4u * out_c) {
                return 1;
            }
        }
        if (is_neuron(l) && (l->mult_bytes < 4u * out_c || l->shift_bytes < out_c)) {
            return 1;
        }
        if (tables_short(l)) {
            return 1;
        }
    }
    return 0;
}

/* Rough cost of one inference: taps x output neurons x steps. */
static double work(const spq_model_t *m)
{
    double total = 0;
    unsigned i;
    for (i = 0; i < m->num_layers; i++) {
        const spq_layer_t *l = &m->layers[i];
        double taps = l->type == SPQ_LAYER_CONV ? (double)l->in_c * l->kernel * l->kernel
                      : is_synapse(l)          ? (double)l->in_c
                                               : (double)l->kernel * l->kernel;
        total += taps * l->out_c * l->out_h * l->out_w;
    }
    return total * (m->time_steps ? m->time_steps : 1u);
}

static int run_all(const spq_model_t *m)
{
    size_t frame = (size_t)m->in_c * m->in_h * m->in_w;
    size_t in_bytes = frame * (m->input_kind == SPQ_INPUT_EVENTS ? m->time_steps : 1u);
    int32_t *logits = (int32_t *)malloc(4u * m->num_classes);
    uint8_t *input = (uint8_t *)malloc(in_bytes);
    int sched, ran = 0;
    size_t i;
    for (i = 0; i < in_bytes; i++) {
        input[i] = (uint8_t)(m->input_kind == SPQ_INPUT_EVENTS ? rnd_below(2) : rnd());
    }
    for (sched = 0; sched < 3; sched++) {
        spq_schedule_t s = sched == 1 ? SPQ_SCHEDULE_LAYER : SPQ_SCHEDULE_TIME;
        size_t need = spq_arena_size(m, s);
        uint8_t *arena = (uint8_t *)malloc(need ? need : 1u);
        spq_ctx_t ctx;
        if (need != 0u && spq_init_schedule(&ctx, m, arena, need, s) == SPQ_OK) {
            uint16_t t;
            ran = 1;
            if (sched < 2) {
                spq_run(&ctx, input, logits);
            } else {
                for (t = 0; t < m->time_steps; t++) {
                    spq_step(&ctx, m->input_kind == SPQ_INPUT_EVENTS ? input + t * frame : input);
                }
                spq_get_logits(&ctx, logits);
            }
            for (t = 0; t < m->num_layers; t++) {
                (void)spq_spike_count(&ctx, t);
                (void)spq_synop_count(&ctx, t);
            }
        }
        free(arena);
    }
    free(input);
    free(logits);
    return ran;
}

int main(int argc, char **argv)
{
    unsigned long long seed, iters, it;
    unsigned long tried = 0, rejected = 0, ran = 0, skipped = 0;
    if (argc != 3) {
        fprintf(stderr, "usage: fuzz_model SEED ITERATIONS\n");
        return 2;
    }
    seed = strtoull(argv[1], NULL, 10);
    iters = strtoull(argv[2], NULL, 10);
    rng_state = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    for (it = 0; it < iters; it++) {
        fuzz_copy_t f;
        spq_ctx_t ctx;
        uint8_t probe[8];
        spq_status_t st;
        int short_arrays;
        copy_model(&f, fuzz_models[rnd_below(fuzz_num_models)]);
        mutate(&f);
        tried++;
        short_arrays = arrays_short(&f.m);
        /* a zero-length arena: validation happens before any arena check */
        st = spq_init(&ctx, &f.m, probe, 0);
        if (short_arrays && (st != SPQ_ERR_MODEL || spq_arena_size(&f.m, SPQ_SCHEDULE_TIME) != 0u ||
                             spq_arena_size(&f.m, SPQ_SCHEDULE_LAYER) != 0u)) {
            printf("iteration %llu: a layer with arrays shorter than its shapes was accepted\n",
                   it);
            return 1;
        }
        if (spq_arena_size(&f.m, SPQ_SCHEDULE_TIME) == 0u &&
            spq_arena_size(&f.m, SPQ_SCHEDULE_LAYER) == 0u) {
            rejected++;
        } else if (work(&f.m) > MAX_WORK ||
                   spq_arena_size(&f.m, SPQ_SCHEDULE_LAYER) > MAX_BYTES ||
                   (size_t)f.m.in_c * f.m.in_h * f.m.in_w * f.m.time_steps > MAX_BYTES) {
            skipped++;
        } else if (run_all(&f.m)) {
            ran++;
        } else {
            rejected++;
        }
        free_copy(&f);
    }
    printf("tried %lu rejected %lu ran %lu skipped %lu\n", tried, rejected, ran, skipped);
    return 0;
}
