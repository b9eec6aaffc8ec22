/* SPDX-License-Identifier: MIT */
/* Runs a generated model on inputs from a file and compares with expected results, in both
 * schedules and as a stream of spq_step calls. Built by tests/test_runtime_c.py with
 * -DSPQ_MODEL=NAME_model, normally under -fsanitize=address,undefined.
 * usage: run_model INPUTS.bin LOGITS.bin SPIKES.bin N
 *   INPUTS: N inputs as spq_run reads them; LOGITS: N x classes int32;
 *   SPIKES: N x neuron-layers int32 (spike counts). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spq.h"

#ifndef SPQ_MODEL
#error "compile with -DSPQ_MODEL=NAME_model"
#endif
extern const spq_model_t SPQ_MODEL;

static void *read_file(const char *path, size_t want)
{
    FILE *f = fopen(path, "rb");
    void *buf = malloc(want ? want : 1u);
    size_t got;
    if (f == NULL || buf == NULL) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    got = fread(buf, 1, want, f);
    fclose(f);
    if (got != want) {
        fprintf(stderr, "%s: %zu bytes, expected %zu\n", path, got, want);
        exit(2);
    }
    return buf;
}

int main(int argc, char **argv)
{
    const spq_model_t *m = &SPQ_MODEL;
    size_t n, frame, in_bytes, k, arena_len;
    uint16_t l, C = m->num_classes, neurons = 0;
    uint8_t *inputs;
    int32_t *logits, *spikes, got[256];
    int sched, failures = 0;
    if (argc != 5) {
        fprintf(stderr, "usage: run_model INPUTS LOGITS SPIKES N\n");
        return 2;
    }
    n = (size_t)strtoul(argv[4], NULL, 10);
    for (l = 0; l < m->num_layers; l++) {
        neurons += m->layers[l].type <= SPQ_LAYER_LINEAR ||
                   m->layers[l].type == SPQ_LAYER_SPIKE_READOUT;
    }
    frame = (size_t)m->in_c * m->in_h * m->in_w;
    in_bytes = frame * (m->input_kind == SPQ_INPUT_EVENTS ? m->time_steps : 1u);
    inputs = (uint8_t *)read_file(argv[1], n * in_bytes);
    logits = (int32_t *)read_file(argv[2], n * C * 4u);
    spikes = (int32_t *)read_file(argv[3], n * neurons * 4u);
    for (sched = 0; sched < 3; sched++) { /* time, layer, time as a stream */
        spq_ctx_t ctx;
        uint8_t *arena;
        arena_len = spq_arena_size(m, sched == 1 ? SPQ_SCHEDULE_LAYER : SPQ_SCHEDULE_TIME);
        /* exactly the size asked for, so ASan sees any access past it */
        arena = (uint8_t *)malloc(arena_len);
        if (arena == NULL || arena_len == 0u ||
            spq_init_schedule(&ctx, m, arena, arena_len,
                              sched == 1 ? SPQ_SCHEDULE_LAYER : SPQ_SCHEDULE_TIME) != SPQ_OK) {
            fprintf(stderr, "spq_init failed\n");
            return 1;
        }
        for (k = 0; k < n; k++) {
            const uint8_t *x = inputs + k * in_bytes;
            uint16_t t, j = 0;
            if (sched < 2) {
                spq_run(&ctx, x, got);
            } else {
                spq_reset(&ctx);
                for (t = 0; t < m->time_steps; t++) {
                    spq_step(&ctx, m->input_kind == SPQ_INPUT_EVENTS ? x + t * frame : x);
                }
                spq_get_logits(&ctx, got);
            }
            if (memcmp(got, logits + k * C, C * 4u) != 0) {
                printf("input %zu schedule %d: logits differ\n", k, sched);
                failures++;
            }
            for (l = 0; l < m->num_layers; l++) {
                if (m->layers[l].type <= SPQ_LAYER_LINEAR ||
                    m->layers[l].type == SPQ_LAYER_SPIKE_READOUT) {
                    if ((int32_t)spq_spike_count(&ctx, l) != spikes[k * neurons + j]) {
                        printf("input %zu schedule %d: spikes of layer %u differ\n", k, sched,
                               (unsigned)l);
                        failures++;
                    }
                    j++;
                }
                if (sched == 0) { /* synop counts, for the caller to compare */
                    printf("synops %zu %u %lu\n", k, (unsigned)l,
                           (unsigned long)spq_synop_count(&ctx, l));
                }
            }
        }
        free(arena);
    }
    free(inputs);
    free(logits);
    free(spikes);
    printf("%zu inputs x 3 schedules, %d failures\n", n, failures);
    return failures == 0 ? 0 : 1;
}
