# SPDX-License-Identifier: MIT
"""RAM of the C runtime's arena, computed exactly as ``spq_arena_size()`` computes it.

The layout is described in docs/formats.md ("Arena layout"); this module and
runtime_c/src/spq_runtime.c must change together (a test compiles the C and compares).
Every buffer starts on a 4-byte boundary. In order:

1. counters: ``spike_counts`` and ``synops`` (uint32 per layer), ``logits`` (int32 per class)
2. static cache: for a static (uint8) first layer, its input current ``I`` per output neuron
   (int32), or its accumulator per class when the first layer is the readout
3. accumulators: the scratch of one output position, shared by the conv/linear layers that
   read spikes or counts, sized for the largest (int32 per output channel; int16 two per
   32-bit word)
4. membranes: packed levels, ``level_bits`` per neuron; time-major keeps every neuron
   layer's membrane, layer-major only the largest
5. two ping-pong activation regions: layer ``i`` writes region ``i % 2`` and reads region
   ``(i + 1) % 2``; a frame is a spike bitmap (uint32 words) or, after a sum pool, uint8
   counts; time-major holds one frame per layer, layer-major all ``T`` frames; region 1 also
   holds the packed event input frame (the input is "layer -1").
"""

from __future__ import annotations

from math import prod

from spq.errors import SpqError
from spq.export import tables
from spq.ir import LayerIR, ModelIR, align4, level_bits

SCHEDULES = ("time", "layer")


def _neurons(shape: tuple[int, ...]) -> int:
    return int(prod(shape))


def count_planes(time_steps: int) -> int:
    """Bits of a spike count that reaches T (spq_count_planes)."""
    return int(time_steps).bit_length()


def static_trains(layer: LayerIR, time_steps: int) -> bool:
    """A static layer with a rank table and T <= 8 (spq_static_trains_ok): the runtime caches
    its spike trains in the cache part and gives it no membrane region."""
    return (_rank_cache(layer) and time_steps <= 8
            and _neurons(layer.out_shape) <= 0xFFFF)


def _static_pairs_bytes(layer: LayerIR) -> int:
    """The SMLAD weight pairs of a static layer of their shape (spq_static_pairs_bytes)."""
    channels = int(layer.out_shape[0])
    pairs = (int(layer.in_shape[0]) * layer.kernel * layer.kernel + 1) // 2
    if layer.type == "conv" and layer.weight_bits == 4 and channels % 16 == 0 and pairs <= 32:
        return 4 * pairs * channels
    return 0


def layer_membrane_bytes(layer: LayerIR, time_steps: int = 1) -> int:
    """The state of one layer: the packed membrane of a neuron layer; for a readout that
    reads spikes, its per-feature spike counts (bit-sliced, one plane of ceil(F/32) words
    per count bit); 0 for other layers."""
    if layer.type == "readout" and layer.in_kind == "spike":
        return 4 * count_planes(time_steps) * ((_neurons(layer.in_shape) + 31) // 32)
    if layer.neuron is None:
        return 0
    return align4((_neurons(layer.out_shape) * level_bits(layer.neuron.levels) + 7) // 8)


def _state_bytes(ir: ModelIR) -> list[int]:
    """Each layer's part of the membrane region: its state, none for a static first layer
    with cached trains (the cache part holds them, or the reference build's membranes)."""
    return [0 if static_trains(layer, ir.time_steps) else
            layer_membrane_bytes(layer, ir.time_steps) for layer in ir.layers]


def membrane_bytes(ir: ModelIR) -> int:
    """The membrane region of the time-major schedule: every layer's state at once, packed at
    ``level_bits`` per neuron."""
    return sum(_state_bytes(ir))


def frame_bytes(layer: LayerIR) -> int:
    """One time step of a layer's output: a spike bitmap, uint8 counts, or nothing (readout).
    A spike readout writes its spike bitmap too (then adds it to the logits)."""
    n = _neurons(layer.out_shape)
    if layer.type == "readout":
        return 0
    if layer.type == "sumpool":
        return align4(n)
    return 4 * ((n + 31) // 32)


def input_frame_bytes(ir: ModelIR) -> int:
    """The packed event frame the runtime builds from the caller's 0/1 bytes."""
    if ir.input_kind != "events":
        return 0
    return 4 * ((_neurons(ir.input_shape) + 31) // 32)


def acc_bytes(layer: LayerIR, time_steps: int = 1) -> int:
    """The scratch of a conv/linear layer that reads spikes or counts (0 otherwise): the
    accumulators of one output position (one int32 per output channel, or int16 kept two per
    32-bit word: channels 2j and 2j+1 share word j, so ceil(C/2) words), and for a layer that
    runs the fused 4-bit conv kernel its input lists (spq.export.tables.w4_list_bytes). A
    static layer with a rank cache: int32 of one position, and when its trains are cached
    the SMLAD weight pairs, the train table (a byte per channel and rank) and a uint16
    histogram of the 2^T train values (spq_static_scratch_bytes)."""
    if layer.type not in ("conv", "linear", "spike_readout"):
        return 0
    channels = int(layer.out_shape[0])
    if layer.in_kind == "u8":
        if static_trains(layer, time_steps):
            return (4 * channels + _static_pairs_bytes(layer)
                    + (channels << tables.RANK_BITS) + (2 << time_steps))
        return 4 * channels if _rank_cache(layer) else 0
    acc = 4 * ((channels + 1) // 2 if layer.acc_bits == 16 else channels)
    if layer.type == "conv":
        c, _, w = (int(d) for d in layer.in_shape)
        fan_in = c * layer.kernel * layer.kernel
        bound = fan_in * ((1 << (layer.weight_bits - 1)) - 1) * layer.max_in
        if tables.w4_applies(layer.type, layer.in_kind, layer.weight_bits, layer.acc_bits, c,
                             w, channels, layer.kernel, layer.padding, bound):
            acc += tables.w4_list_bytes(c, w, layer.kernel, layer.padding)
    return acc


def _rank_cache(layer: LayerIR) -> bool:
    """A static layer with at most 4 levels: spq-export gives it a rank table
    (spq.export.tables.rank_table) and the runtime caches a byte per neuron."""
    neuron = layer.neuron
    return layer.in_kind == "u8" and neuron is not None and level_bits(neuron.levels) <= 2


def cache_bytes(ir: ModelIR) -> int:
    """Static first layer, computed once per inference: with a rank table and T <= 8 its
    spike trains (a byte per neuron of the map they feed: the max pool's output when layer 1
    is a max pool, else the layer's; 32 bytes per 32 neurons) and its spike count per step,
    or the reference build's membranes if larger; with a rank table and T > 8 the rank of each
    neuron's accumulator (a byte), else its input current (int32); the readout accumulator per
    class when the first layer is the readout."""
    if not ir.layers or ir.layers[0].in_kind != "u8":
        return 0
    first = ir.layers[0]
    if static_trains(first, ir.time_steps):
        fed = ir.layers[1] if len(ir.layers) > 1 and ir.layers[1].type == "maxpool" else first
        trains = 32 * ((_neurons(fed.out_shape) + 31) // 32) + 4 * ir.time_steps
        assert first.neuron is not None
        mem = align4((_neurons(first.out_shape) * level_bits(first.neuron.levels) + 7) // 8)
        return max(trains, mem)
    if _rank_cache(ir.layers[0]):
        return align4(_neurons(ir.layers[0].out_shape))
    return 4 * _neurons(ir.layers[0].out_shape)


def arena_breakdown(ir: ModelIR, schedule: str) -> dict[str, int]:
    """Bytes of each part of the arena (their sum is :func:`arena_bytes`)."""
    if schedule not in SCHEDULES:
        raise SpqError(f"unknown schedule {schedule!r} (expected 'time' or 'layer')")
    n_layers = len(ir.layers)
    steps = ir.time_steps if schedule == "layer" else 1
    regions = [0, 0]
    for i, layer in enumerate(ir.layers):
        regions[i % 2] = max(regions[i % 2], steps * frame_bytes(layer))
    regions[1] = max(regions[1], input_frame_bytes(ir))
    mems = _state_bytes(ir)
    return {
        "counters": 4 * 2 * n_layers + 4 * ir.num_classes,
        "cache": cache_bytes(ir),
        "acc": max((acc_bytes(layer, ir.time_steps) for layer in ir.layers), default=0),
        "membrane": sum(mems) if schedule == "time" else max(mems, default=0),
        "activations": regions[0] + regions[1],
    }


def arena_bytes(ir: ModelIR, schedule: str) -> int:
    """Arena size in bytes for ``schedule`` ("time" or "layer"), equal to spq_arena_size()."""
    return sum(arena_breakdown(ir, schedule).values())
