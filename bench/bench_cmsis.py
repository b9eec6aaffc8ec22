# SPDX-License-Identifier: MIT
"""The dense int8 CNN a user would otherwise run: spq's bench topology with CMSIS-NN's kernels,
measured on the same QEMU boards with the same firmware timer as spq's harness.

Topology (NHWC, one dense pass: a CNN has no time steps): input HxWxC int8 (2x16x16 for
bench_events, 3x16x16 for bench_static), conv 3x3 pad 1 -> 16 with fused ReLU, maxpool 2,
conv 3x3 pad 1 -> 32 with fused ReLU, maxpool 2, fully connected 512 -> 10. Kernels:
`arm_convolve_wrapper_s8`, `arm_max_pool_s8`, `arm_fully_connected_s8` (int8 weights), or
`arm_convolve_wrapper_s4` and `arm_fully_connected_s4` (int4 weights, two per byte); TFLite
quantization: per-channel multipliers and shifts for the convolutions, per-tensor for the
fully connected layer (the only form `arm_fully_connected_s8/_s4` take), symmetric weights,
activations with zero point -128 after each ReLU. Weights and biases are seeded random; the
multipliers are chosen from the accumulators on the inputs so that every layer's outputs
spread over most of the int8 range without saturating.

The firmware (bench/cmsis_harness.c on spq's startup, timer, UART and stack paint) runs every
input twice: once as a whole (instructions per inference, stack peak) and once layer by layer
(instructions per layer, and every output byte, which is checked against this module's numpy
reference of the same integer arithmetic: a mismatch is an error). RAM: the activations at
the offsets of a greedy plan (TFLM's GreedyMemoryPlanner: largest buffer first, lowest offset
that no buffer alive at the same time uses, 16-byte alignment), the scratch buffers the
`*_get_buffer_size` functions ask for (one area shared by the layers, as TFLM plans them, plus
the fully connected layer's persistent kernel sums on MVE), and the stack peak. `.text`: the
code of CMSIS-NN's sources linked into the firmware (function symbol sizes attributed with
the debug information, spq.tools.elfinfo.code_bytes_by_source).

CMSIS-NN's sources: $CMSIS_NN_DIR, else the first `shared/third_party/CMSIS-NN` beside the
repository or one of its parent folders (commit 99f736a, see docs/performance.md). Compiled
for each board with spq's compiler and the board's flags at -O2 (`-mcpu=cortex-m55` enables
MVE, M4/M7/M33 DSP), cached like spq's firmware.

    .venv/bin/python bench/bench_cmsis.py [--boards B1,B2] [--models events,static] [--n 4]
        [--json FILE]

bench/bench_qemu.py runs this next to spq and prints both side by side.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spq.errors import SpqError  # noqa: E402
from spq.paths import firmware_dir  # noqa: E402
from spq.tools.boards import Board, get_board, qemu_boards  # noqa: E402
from spq.tools.elfinfo import code_bytes_by_source, code_bytes_under  # noqa: E402
from spq.tools.firmware import (  # noqa: E402
    CFLAGS,
    FIRMWARE_SOURCES,
    board_defines,
    build_elf,
    build_library,
)
from spq.tools.runner import QemuRunner  # noqa: E402

HARNESS = Path(__file__).resolve().parent / "cmsis_harness.c"
ENV = "CMSIS_NN_DIR"
SHARED = Path("shared") / "third_party" / "CMSIS-NN"
COMMIT = "99f736a6"
# What the harness links, for every core (the union of the archive members the linker pulls
# in for M3, M4/M7/M33 and M55): the two wrappers reach every convolution variant they may
# dispatch to.
SOURCES = tuple(
    f"Source/{folder}/{name}.c"
    for folder, names in {
        "ConvolutionFunctions": (
            "arm_convolve_wrapper_s8", "arm_convolve_wrapper_s4", "arm_convolve_s8",
            "arm_convolve_s4", "arm_convolve_even_s4", "arm_convolve_1x1_s8",
            "arm_convolve_1x1_s8_fast", "arm_convolve_1x1_s4", "arm_convolve_1x1_s4_fast",
            "arm_convolve_1_x_n_s8", "arm_convolve_1_x_n_s4",
            "arm_convolve_get_buffer_sizes_s8", "arm_convolve_get_buffer_sizes_s4",
            "arm_nn_mat_mult_kernel_s8_s16", "arm_nn_mat_mult_kernel_s4_s16",
            "arm_nn_mat_mult_kernel_row_offset_s8_s16",
        ),
        "FullyConnectedFunctions": (
            "arm_fully_connected_s8", "arm_fully_connected_s4",
            "arm_fully_connected_get_buffer_sizes_s8", "arm_vector_sum_s8",
        ),
        "PoolingFunctions": ("arm_max_pool_s8",),
        "NNSupportFunctions": (
            "arm_nn_mat_mult_nt_t_s8", "arm_nn_mat_mult_nt_t_s4", "arm_nn_vec_mat_mult_t_s8",
            "arm_nn_vec_mat_mult_t_s4", "arm_nn_mat_mul_core_1x_s4",
            "arm_nn_mat_mult_nt_interleaved_t_even_s4", "arm_q7_to_q15_with_offset",
            "arm_s8_to_s16_unordered_with_offset",
        ),
    }.items()
    for name in names
)
# CMSIS-NN's own build uses -Ofast; spq's firmware is -O2, and so is the peer here.
LIB_CFLAGS = ("-O2", "-ffunction-sections", "-fdata-sections", "-g1")  # -g1: functions, lines
LAYERS = ("conv1", "pool1", "conv2", "pool2", "fc")
SIZES = {"events": (16, 16, 2), "static": (16, 16, 3)}  # H, W, C
TIME_STEPS = 8
C1, C2, OUT = 16, 32, 10
ALIGN = 16  # TFLM's buffer alignment
RELU_ZERO = -128  # output zero point after a ReLU: the whole int8 range for values >= 0
TARGET = {"relu": 200, "fc": 100}  # largest output step above the zero point


def cmsis_nn_dir() -> Path | None:
    """CMSIS-NN's source folder: $CMSIS_NN_DIR if set, else the first
    shared/third_party/CMSIS-NN beside the repository or a parent folder; None if absent."""
    env = os.environ.get(ENV)
    candidates = [Path(env)] if env else [base / SHARED for base in ROOT.parents]
    for path in candidates:
        if (path / "Include" / "arm_nnfunctions.h").is_file():
            return path
    return None


def missing_message() -> str:
    where = os.environ.get(ENV) or f"../{SHARED}"
    return (f"CMSIS-NN sources not found ({ENV}={where}): no CMSIS-NN comparison; get them "
            f"with `git clone https://github.com/ARM-software/CMSIS-NN && git -C CMSIS-NN "
            f"checkout {COMMIT}` and set {ENV}")


# ---------------------------------------------------------------------------- the network


@dataclass(frozen=True)
class Layer:
    """A conv (w: out, kh, kw, in) or fully connected (w: out, in) layer's integers."""

    w: np.ndarray
    bias: np.ndarray  # int32 per output channel
    mult: np.ndarray  # Q31 multipliers: one per channel (conv) or one (fully connected)
    shift: np.ndarray
    in_offset: int  # minus the input zero point
    out_offset: int  # the output zero point
    act_min: int


@dataclass(frozen=True)
class Network:
    kind: str
    bits: int
    conv1: Layer
    conv2: Layer
    fc: Layer
    inputs: np.ndarray  # (n, H, W, C) int8

    @property
    def name(self) -> str:
        return f"bench_{self.kind}"


def dense_inputs(kind: str, spq_inputs: np.ndarray) -> np.ndarray:
    """The CNN's int8 NHWC inputs for spq's bench inputs: a static image's pixels minus 128;
    an event stream's count per pixel over the time steps, scaled to 0..255, minus 128."""
    x = np.asarray(spq_inputs).astype(np.int64)
    if kind == "events":  # (n, T, C, H, W) of 0/1
        steps = x.shape[1]
        q = (x.sum(axis=1) * 255 + steps // 2) // steps
    else:  # (n, C, H, W) of 0..255
        q = x
    return (q - 128).transpose(0, 2, 3, 1).astype(np.int8)


def random_spq_inputs(kind: str, n: int, seed: int) -> np.ndarray:
    """Inputs shaped like bench_qemu.py's (events of 15 % density, images with 30 % zeros)."""
    rng = np.random.default_rng(seed)
    H, W, C = SIZES[kind]
    if kind == "events":
        return (rng.random((n, TIME_STEPS, C, H, W)) < 0.15).astype(np.uint8)
    img = rng.integers(0, 256, (n, C, H, W)) * (rng.random((n, C, H, W)) > 0.3)
    return img.astype(np.uint8)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: real = q * 2^shift, q a Q31 number in [0.5, 1)."""
    q, shift = math.frexp(real)
    q_fixed = round(q * (1 << 31))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    return q_fixed, shift


def requantize(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """CMSIS-NN's arm_nn_requantize (the default double rounding, TFLite's reference):
    a rounding doubling high multiply, then a rounding right shift (ties away from zero)."""
    acc = np.asarray(acc, dtype=np.int64)
    mult = np.asarray(mult, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    v = acc << left
    if np.any(v != v.astype(np.int32)):
        raise SpqError("requantize: the left-shifted accumulator overflows int32")
    high = (v * mult + (1 << 30)) >> 31
    mask = (np.int64(1) << right) - 1
    result = high >> right
    threshold = (mask >> 1) + (result < 0)
    return result + ((high & mask) > threshold)


def conv_acc(x: np.ndarray, w: np.ndarray, in_offset: int) -> np.ndarray:
    """3x3, stride 1, pad 1 convolution of (n, H, W, C) inputs: int64 (n, H, W, out)
    accumulators of (x + in_offset) * w; padded taps add nothing (they hold the zero point)."""
    n, H, W, _ = x.shape
    xo = np.pad(x.astype(np.int64) + in_offset, ((0, 0), (1, 1), (1, 1), (0, 0)))
    acc = np.zeros((n, H, W, w.shape[0]), dtype=np.int64)
    for ky in range(3):
        for kx in range(3):
            acc += xo[:, ky:ky + H, kx:kx + W, :] @ w[:, ky, kx, :].T.astype(np.int64)
    return acc


def max_pool(x: np.ndarray) -> np.ndarray:
    n, H, W, C = x.shape
    return x.reshape(n, H // 2, 2, W // 2, 2, C).max(axis=(2, 4))


def apply(layer: Layer, acc: np.ndarray) -> np.ndarray:
    out = requantize(acc + layer.bias, layer.mult, layer.shift) + layer.out_offset
    return np.clip(out, layer.act_min, 127).astype(np.int8)


def reference(net: Network, x: np.ndarray) -> list[np.ndarray]:
    """Every layer's int8 output for inputs (n, H, W, C): conv1, pool1, conv2, pool2, fc."""
    c1 = apply(net.conv1, conv_acc(x, net.conv1.w, net.conv1.in_offset))
    p1 = max_pool(c1)
    c2 = apply(net.conv2, conv_acc(p1, net.conv2.w, net.conv2.in_offset))
    p2 = max_pool(c2)
    flat = p2.reshape(len(x), -1).astype(np.int64) + net.fc.in_offset
    fc = apply(net.fc, flat @ net.fc.w.T.astype(np.int64))
    return [c1, p1, c2, p2, fc]


def _weights(rng: np.random.Generator, shape: tuple[int, ...], qmax: int,
             per_channel: bool) -> np.ndarray:
    """Symmetric integer weights: each output channel's (or the tensor's) largest is qmax."""
    w = rng.standard_normal(shape)
    axes = tuple(range(1, len(shape)))
    top = np.abs(w).max(axis=axes, keepdims=True) if per_channel else np.abs(w).max()
    return np.rint(w / top * qmax).astype(np.int64)


def _calibrate(rng: np.random.Generator, acc: np.ndarray, axes: tuple[int, ...], target: int,
               per_channel: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-channel biases of about half an accumulator's spread, and multipliers (per channel,
    or one for the tensor) that map the largest output (positive, for a ReLU; in magnitude
    otherwise) to `target` steps from the zero point."""
    spread = acc.std(axis=axes)
    bias = np.rint(rng.normal(0.0, 0.5, spread.shape) * spread).astype(np.int64)
    out = acc + bias
    top = out.max(axis=axes) if per_channel else np.array([np.abs(out).max()])
    pairs = [quantize_multiplier(target / max(float(t), 1.0)) for t in top]
    mult = np.array([m for m, _ in pairs], dtype=np.int64)
    shift = np.array([s for _, s in pairs], dtype=np.int64)
    return bias, mult, shift


def make_network(kind: str, bits: int, inputs: np.ndarray, seed: int = 0) -> Network:
    """The CMSIS-NN network for `kind` with `bits`-bit weights (8 or 4), calibrated on
    `inputs` (n, H, W, C) int8."""
    if bits not in (4, 8):
        raise SpqError(f"weights of {bits} bits: CMSIS-NN has int8 and int4 kernels")
    rng = np.random.default_rng(seed * 1000 + bits)
    qmax = (1 << (bits - 1)) - 1  # symmetric: int4 weights in -7..7
    _, _, C = SIZES[kind]
    layers = []
    x = inputs
    in_offset = 128  # inputs have zero point -128
    for cin, cout in ((C, C1), (C1, C2)):
        w = _weights(rng, (cout, 3, 3, cin), qmax, per_channel=True)
        acc = conv_acc(x, w, in_offset)
        bias, mult, shift = _calibrate(rng, acc, (0, 1, 2), TARGET["relu"], per_channel=True)
        layer = Layer(w, bias, mult, shift, in_offset, RELU_ZERO, RELU_ZERO)
        layers.append(layer)
        x = max_pool(apply(layer, acc))
        in_offset = -RELU_ZERO
    w = _weights(rng, (OUT, x[0].size), qmax, per_channel=False)
    acc = (x.reshape(len(x), -1).astype(np.int64) + in_offset) @ w.T
    bias, mult, shift = _calibrate(rng, acc, (0,), TARGET["fc"], per_channel=False)
    fc = Layer(w, bias, mult, shift, in_offset, 0, -128)
    return Network(kind, bits, layers[0], layers[1], fc, np.asarray(inputs, dtype=np.int8))


# ---------------------------------------------------------------------------- the arena


@dataclass(frozen=True)
class Buffer:
    name: str
    size: int
    first: int  # index of the first and last layer that uses it
    last: int


def activation_buffers(kind: str) -> list[Buffer]:
    H, W, C = SIZES[kind]
    return [
        Buffer("input", H * W * C, 0, 0),
        Buffer("conv1", H * W * C1, 0, 1),
        Buffer("pool1", H * W * C1 // 4, 1, 2),
        Buffer("conv2", H * W * C2 // 4, 2, 3),
        Buffer("pool2", H * W * C2 // 16, 3, 4),
        Buffer("fc", OUT, 4, 4),
    ]


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def greedy_plan(buffers: list[Buffer]) -> tuple[dict[str, int], int]:
    """TFLM's greedy planner: buffers in order of decreasing size, each at the lowest aligned
    offset that overlaps no buffer placed before it whose lifetime overlaps its own.
    Returns the offsets and the arena size."""
    placed: list[tuple[Buffer, int]] = []
    for buf in sorted(buffers, key=lambda b: -b.size):  # stable: ties keep their order
        live = sorted(
            ((b, off) for b, off in placed if b.first <= buf.last and buf.first <= b.last),
            key=lambda p: p[1],
        )
        offset = 0
        for other, off in live:
            if offset + buf.size <= off:
                break
            offset = max(offset, _align(off + other.size))
        placed.append((buf, offset))
    offsets = {b.name: off for b, off in placed}
    return offsets, max(off + b.size for b, off in placed)


def live_peak(buffers: list[Buffer]) -> int:
    """The largest sum of the buffers alive during one layer (no plan can do better)."""
    last = max(b.last for b in buffers)
    return max(sum(b.size for b in buffers if b.first <= t <= b.last) for t in range(last + 1))


# ---------------------------------------------------------------------------- the firmware


def _c_array(ctype: str, name: str, values: np.ndarray) -> str:
    items = [str(int(v)) for v in np.asarray(values).ravel()]
    lines = [", ".join(items[i:i + 24]) for i in range(0, len(items), 24)]
    body = ",\n    ".join(lines)
    return f"static const {ctype} {name}[{len(items)}] = {{\n    {body}}};\n"


def pack_int4(w: np.ndarray) -> np.ndarray:
    """Two weights per byte, element 2i in the low nibble (CMSIS-NN's int4 layout)."""
    flat = np.asarray(w, dtype=np.int64).ravel()
    if flat.size % 2:
        flat = np.append(flat, 0)
    lo, hi = flat[0::2] & 0xF, flat[1::2] & 0xF
    return ((hi << 4) | lo).astype(np.uint8).view(np.int8)


def render_header(net: Network, offsets: dict[str, int], arena: int) -> str:
    H, W, C = SIZES[net.kind]

    def weights(w: np.ndarray) -> np.ndarray:
        return pack_int4(w) if net.bits == 4 else w.ravel()

    lines = [
        f"/* generated by bench/bench_cmsis.py: {net.name}, int{net.bits} weights, "
        f"{len(net.inputs)} inputs */",
        "#ifndef CMSIS_NET_H",
        "#define CMSIS_NET_H",
        "#include <stdint.h>",
        f"#define NET_WEIGHT_BITS {net.bits}",
        f"#define NET_IN_H {H}",
        f"#define NET_IN_W {W}",
        f"#define NET_IN_C {C}",
        f"#define NET_C1 {C1}",
        f"#define NET_C2 {C2}",
        f"#define NET_FC_IN {net.fc.w.shape[1]}",
        f"#define NET_FC_OUT {OUT}",
        f"#define NET_C1_IN_OFFSET {net.conv1.in_offset}",
        f"#define NET_C1_OUT_OFFSET ({net.conv1.out_offset})",
        f"#define NET_C2_IN_OFFSET {net.conv2.in_offset}",
        f"#define NET_C2_OUT_OFFSET ({net.conv2.out_offset})",
        f"#define NET_FC_IN_OFFSET {net.fc.in_offset}",
        f"#define NET_FC_OUT_OFFSET ({net.fc.out_offset})",
        f"#define NET_FC_MULT {int(net.fc.mult[0])}",
        f"#define NET_FC_SHIFT ({int(net.fc.shift[0])})",
        f"#define NET_ARENA_BYTES {arena}",
        *(f"#define NET_OFF_{name.upper()} {off}" for name, off in offsets.items()),
        f"#define NET_SCRATCH_CAPACITY {scratch_capacity(net.kind)}",
        f"#define NET_N_INPUTS {len(net.inputs)}",
        f"static const int8_t net_inputs[{len(net.inputs)}][{H * W * C}] = {{",
        *(f"    {{{', '.join(str(int(v)) for v in x.ravel())}}}," for x in net.inputs),
        "};",
    ]
    for tag, layer in (("c1", net.conv1), ("c2", net.conv2), ("fc", net.fc)):
        lines.append(_c_array("int8_t", f"net_{tag}_w", weights(layer.w)))
        lines.append(_c_array("int32_t", f"net_{tag}_b", layer.bias))
        if tag != "fc":
            lines.append(_c_array("int32_t", f"net_{tag}_mult", layer.mult))
            lines.append(_c_array("int32_t", f"net_{tag}_shift", layer.shift))
    lines.append("#endif")
    return "\n".join(lines) + "\n"


def scratch_capacity(kind: str) -> int:
    """Room for any convolution's scratch on any core: the largest im2col buffer the
    get_buffer_size functions of this CMSIS-NN can ask for (the harness checks it)."""
    _, _, C = SIZES[kind]
    return 4 * _align(9 * max(C, C1)) * 2


def build(board: Board, net: Network, cmsis: Path) -> Path:
    """The harness ELF for `net` on `board` (CMSIS-NN as a cached static library)."""
    include = cmsis / "Include"
    headers = sorted(include.rglob("*.h")) + sorted((cmsis / "Source").rglob("*.h"))
    sources = [cmsis / s for s in SOURCES]
    missing = [str(s) for s in sources if not s.is_file()]
    if missing:
        raise SpqError(f"{cmsis} lacks {missing[0]} (expected CMSIS-NN commit {COMMIT})")
    lib = build_library(board, "cmsis-nn", sources, headers, LIB_CFLAGS, [include])
    fw = firmware_dir()
    buffers = activation_buffers(net.kind)
    offsets, arena = greedy_plan(buffers)
    cflags = [*CFLAGS, *board_defines(board), "-isystem", str(include)]
    fw_sources = [fw / s for s in FIRMWARE_SOURCES if s != "harness.c"] + [HARNESS]
    elf, _ = build_elf(
        board, f"cmsis-{net.kind}-int{net.bits}", fw_sources,
        [*sorted(fw.glob("*.h")), *headers], cflags, [fw],
        {"cmsis_net.h": render_header(net, offsets, arena)}, [lib],
        info={"variant": "cmsis-nn", "model": net.name, "bits": net.bits},
    )
    return elf


def run_qemu(board: Board, elf: Path, timeout: float = 120.0) -> list[str]:
    """Run the harness to its semihosting exit with UART0 on stdout; its lines."""
    cmd = QemuRunner(board, elf).command(0)  # spq's machine, icount and semihosting flags
    cmd[cmd.index("-serial") + 1] = "stdio"
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise SpqError(f"the CMSIS-NN harness on {board.name} did not finish within "
                       f"{timeout:.0f} s") from None
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 or not lines or lines[-1] != "end":
        tail = " | ".join([*lines[-3:], *proc.stderr.splitlines()[-3:]])[-500:]
        raise SpqError(f"the CMSIS-NN harness on {board.name} failed (exit "
                       f"{proc.returncode}): {tail}")
    return lines


def _mean(values: list[int]) -> int:
    return (2 * sum(values) + len(values)) // (2 * len(values))


def parse_and_check(net: Network, board: Board, lines: list[str]) -> dict[str, Any]:
    """Read the harness's lines and compare every layer output with the reference (an
    SpqError names the first byte that differs)."""
    expected = reference(net, net.inputs)
    what = f"CMSIS-NN int{net.bits} {net.name} on {board.name}"
    scratch = [0] * len(LAYERS)
    totals: list[int] = []
    stacks: list[int] = []
    per_layer: list[list[int]] = [[] for _ in LAYERS]
    checked = 0
    for line in lines:
        f = line.split()
        if f[0] == "scratch":
            scratch[int(f[1])] = int(f[2])
        elif f[0] == "input":
            if int(f[7]) != 0:
                raise SpqError(f"{what}: input {f[1]}: status {f[7]}")
            totals.append(int(f[3]))
            stacks.append(int(f[5]))
        elif f[0] == "layer":
            i, layer, status = int(f[1]), int(f[2]), int(f[4])
            if status != 0:
                raise SpqError(f"{what}: input {i} {LAYERS[layer]}: status {status}")
            per_layer[layer].append(int(f[3]))
            got = np.frombuffer(bytes.fromhex(f[5]), dtype=np.int8)
            want = expected[layer][i].ravel()
            if got.shape != want.shape or not np.array_equal(got, want):
                k = int(np.argmax(got != want)) if got.shape == want.shape else -1
                detail = (f"byte {k}: device {got[k]} != reference {want[k]}" if k >= 0
                          else f"{got.size} bytes, expected {want.size}")
                raise SpqError(f"{what}: input {i} {LAYERS[layer]} differs from the reference "
                               f"at {detail}")
            checked += 1
    if len(totals) != len(net.inputs) or checked != len(net.inputs) * len(LAYERS):
        raise SpqError(f"{what}: incomplete output ({len(totals)} inputs, {checked} layers)")
    return {"scratch": dict(zip(LAYERS, scratch, strict=True)), "total": _mean(totals),
            "layers": {name: _mean(v) for name, v in zip(LAYERS, per_layer, strict=True)},
            "stack_peak": max(stacks), "checked_layer_outputs": checked}


def measure(board: Board, net: Network, cmsis: Path) -> dict[str, Any]:
    """Build, run and check `net` on `board`; instructions, RAM and .text."""
    elf = build(board, net, cmsis)
    res = parse_and_check(net, board, run_qemu(board, elf))
    buffers = activation_buffers(net.kind)
    offsets, arena = greedy_plan(buffers)
    conv_scratch = max(res["scratch"][name] for name in ("conv1", "conv2"))
    persistent = res["scratch"]["fc"]  # MVE kernel sums, kept from Prepare on
    ram = arena + conv_scratch + persistent + res["stack_peak"]
    return {
        "model": net.name, "board": board.name, "core": board.core, "bits": net.bits,
        "inputs": len(net.inputs), **res,
        "activations": {"plan_bytes": arena, "live_peak_bytes": live_peak(buffers),
                        "offsets": offsets},
        "scratch_bytes": conv_scratch + persistent,
        "ram_bytes": ram,
        "text_bytes": code_bytes_under(code_bytes_by_source(elf), cmsis),
        "firmware": str(elf),
    }


def measure_model(kind: str, board: Board, spq_inputs: np.ndarray, cmsis: Path,
                  seed: int = 0) -> dict[str, dict[str, Any]]:
    """int8 and int4 results for one model on one board: {"int8": ..., "int4": ...}."""
    x = dense_inputs(kind, spq_inputs)
    return {f"int{bits}": measure(board, make_network(kind, bits, x, seed), cmsis)
            for bits in (8, 4)}


def print_result(r: dict[str, Any]) -> None:
    layers = ", ".join(f"{k} {v:,}" for k, v in r["layers"].items())
    act = r["activations"]
    print(f"{r['model']} on {r['board']} ({r['core']}), CMSIS-NN int{r['bits']} weights: "
          f"{r['total']:,} instructions ({layers}); RAM {r['ram_bytes']:,} B = activations "
          f"{act['plan_bytes']:,} (live peak {act['live_peak_bytes']:,}) + scratch "
          f"{r['scratch_bytes']:,} + stack {r['stack_peak']:,}; .text {r['text_bytes']:,} B; "
          f"{r['checked_layer_outputs']} layer outputs byte-exact")


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--boards", default=",".join(b.name for b in qemu_boards()))
    ap.add_argument("--models", default="events,static")
    ap.add_argument("--n", type=int, default=4, help="inputs per model")
    ap.add_argument("--json", type=Path, default=None, help="write all results as JSON")
    args = ap.parse_args()
    cmsis = cmsis_nn_dir()
    if cmsis is None:
        print(f"error: {missing_message()}", file=sys.stderr)
        return 2
    results = []
    try:
        for kind in args.models.split(","):
            x = random_spq_inputs(kind, args.n, 1234)
            for name in args.boards.split(","):
                for r in measure_model(kind, get_board(name), x, cmsis).values():
                    print_result(r)
                    results.append(r)
    except SpqError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
