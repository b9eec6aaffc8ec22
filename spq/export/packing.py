# SPDX-License-Identifier: MIT
"""Pack a (pruned) ModelIR into the data the C runtime reads (runtime_c/include/spq.h).

:class:`PackedModel` / :class:`PackedLayer` mirror ``spq_model_t`` / ``spq_layer_t`` field
for field. The C templates lay them out and the reference interpreter
(:mod:`spq.export.reference`) runs them, so what is verified is exactly what is emitted.

Weight layout (docs/formats.md): conv ``[ci][ky][kx][co]``, linear/readout ``[i][o]``. Each
run of ``out_c`` values is a *row*, padded to whole bytes. 8 bit: int8. 4 bit: two's
complement nibbles, element ``2j`` of a row in the low nibble of byte ``j``. 2 bit: four per
byte, element ``4j+k`` in bits ``2k..2k+1`` (two's complement, ``-1 = 0b11``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spq.ir import FORMAT_VERSION, LayerIR, ModelIR, level_bits

LAYER_TYPES = {"conv": 0, "linear": 1, "maxpool": 2, "sumpool": 3, "readout": 4,
               "spike_readout": 5}
IN_KINDS = {"u8": 0, "spike": 1, "count": 2}
RESETS = {"hard": 0, "soft": 1}
SCHEDULES = {"time": 0, "layer": 1}
INPUT_KINDS = {"static": 0, "events": 1}


def row_bytes(n: int, bits: int) -> int:
    """Bytes of one packed row of ``n`` values of ``bits`` bits."""
    return (n * bits + 7) // 8


def pack_rows(rows: np.ndarray, bits: int) -> np.ndarray:
    """Pack a 2-D integer array ``(R, n)`` row by row; returns ``R * row_bytes`` uint8."""
    rows = np.asarray(rows)
    if rows.ndim != 2:
        raise ValueError("pack_rows needs a 2-D array")
    r, n = rows.shape
    if bits == 8:
        return rows.astype(np.int8).view(np.uint8).reshape(-1).copy()
    if bits not in (2, 4):
        raise ValueError(f"unsupported weight width {bits}")
    per = 8 // bits
    nb = row_bytes(n, bits)
    padded = np.zeros((r, nb * per), dtype=np.int64)
    padded[:, :n] = rows
    fields = (padded & ((1 << bits) - 1)).reshape(r, nb, per)
    shifts = np.arange(per, dtype=np.int64) * bits
    return (fields << shifts).sum(axis=2).astype(np.uint8).reshape(-1)


def unpack_rows(data: np.ndarray | bytes, r: int, n: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_rows`: ``(R, n)`` int8 with sign extension."""
    raw = np.frombuffer(bytes(data), dtype=np.uint8) if isinstance(data, bytes) else data
    nb = row_bytes(n, bits)
    if raw.size != r * nb:
        raise ValueError(f"packed size {raw.size} is not {r} rows of {nb} bytes")
    raw = raw.reshape(r, nb).astype(np.int64)
    if bits == 8:
        return raw.astype(np.uint8).view(np.int8)[:, :n].copy()
    per = 8 // bits
    shifts = np.arange(per, dtype=np.int64) * bits
    fields = (raw[:, :, None] >> shifts) & ((1 << bits) - 1)
    signed = np.where(fields >= (1 << (bits - 1)), fields - (1 << bits), fields)
    return signed.reshape(r, nb * per)[:, :n].astype(np.int8)


def weight_rows(layer: LayerIR) -> np.ndarray:
    """The layer's weights as rows of ``out_c`` values in spq.h order."""
    w = layer.weight
    assert w is not None
    if w.ndim == 4:  # (O, I, kh, kw) -> [ci][ky][kx][co]
        return np.ascontiguousarray(w.transpose(1, 2, 3, 0).reshape(-1, w.shape[0]))
    return np.ascontiguousarray(w.T)  # (O, I) -> [i][o]


@dataclass
class PackedLayer:
    """One ``spq_layer_t`` (field names as in spq.h; enums as their names)."""

    type: str
    in_kind: str
    weight_bits: int
    acc_bits: int
    in_c: int
    in_h: int
    in_w: int
    out_c: int
    out_h: int
    out_w: int
    kernel: int
    stride: int
    padding: int
    reset: str
    max_in: int
    weight_row_bytes: int
    weights: np.ndarray | None  # uint8, packed
    mult: np.ndarray | None  # int32 (out_c,)
    shift: np.ndarray | None  # int8 (out_c,)
    bias: np.ndarray | None  # int32: neuron B (out_c,) or readout bias_q (classes,)
    leak: int
    lo: int
    hi: int
    level_bits: int
    # kernel tables (docs/formats.md "Kernel tables"), None / 0 when not emitted
    outcome: np.ndarray | None = None  # uint8 [out_c][2^level_bits][2^outcome_bits]
    outcome_base: np.ndarray | None = None  # int32 (out_c,)
    outcome_bits: int = 0
    lut: np.ndarray | None = None  # uint32 words of the bytes [kernel][2^lut_bits][out_c]
    lut_bits: int = 0
    weights_x: np.ndarray | None = None  # uint32: 4-bit weights as bytes w + 8
    breaks: np.ndarray | None = None  # int32 [out_c][2^outcome_bits - 1]: rank breakpoints

    @property
    def weight_rows_count(self) -> int:
        if self.type == "conv":
            return self.in_c * self.kernel * self.kernel
        return self.in_c

    def unpacked_weights(self) -> np.ndarray:
        """Rows ``(R, out_c)`` int8, decoded from :attr:`weights`."""
        assert self.weights is not None
        return unpack_rows(self.weights, self.weight_rows_count, self.out_c, self.weight_bits)


@dataclass
class PackedModel:
    """One ``spq_model_t``."""

    format_version: int
    name: str
    input_kind: str
    schedule: str
    time_steps: int
    in_c: int
    in_h: int
    in_w: int
    num_classes: int
    layers: list[PackedLayer]
    arena_bytes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input as spq_run takes it (uint8)."""
        chw = (self.in_c, self.in_h, self.in_w)
        return (self.time_steps, *chw) if self.input_kind == "events" else chw

    @property
    def input_bytes(self) -> int:
        return int(np.prod(self.input_shape))

    @property
    def weights_bytes(self) -> int:
        return sum(int(la.weights.size) for la in self.layers if la.weights is not None)


def _chw(shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) == 3:
        return int(shape[0]), int(shape[1]), int(shape[2])
    return int(shape[0]), 1, 1


def pack_layer(layer: LayerIR) -> PackedLayer:
    in_c, in_h, in_w = _chw(layer.in_shape)
    out_c, out_h, out_w = _chw(layer.out_shape)
    common = {
        "type": layer.type, "in_kind": layer.in_kind,
        "in_c": in_c, "in_h": in_h, "in_w": in_w,
        "out_c": out_c, "out_h": out_h, "out_w": out_w, "max_in": int(layer.max_in),
    }
    if layer.type in ("maxpool", "sumpool"):
        return PackedLayer(
            **common, weight_bits=0, acc_bits=0, kernel=layer.pool, stride=layer.pool,
            padding=0, reset="hard", weight_row_bytes=0, weights=None, mult=None, shift=None,
            bias=None, leak=0, lo=0, hi=0, level_bits=0,
        )
    bits = int(layer.weight_bits)
    packed = pack_rows(weight_rows(layer), bits)
    conv = layer.type == "conv"
    n = layer.neuron
    if n is None:
        assert layer.readout_bias is not None
        neuron = {
            "reset": "hard", "mult": None, "shift": None,
            "bias": layer.readout_bias.astype(np.int32), "leak": 0, "lo": 0, "hi": 0,
            "level_bits": 0,
        }
    else:
        neuron = {
            "reset": n.reset, "mult": n.mult.astype(np.int32), "shift": n.shift.astype(np.int8),
            "bias": n.bias.astype(np.int32), "leak": int(n.leak), "lo": int(n.lo),
            "hi": int(n.hi), "level_bits": level_bits(n.levels),
        }
    return PackedLayer(
        **common, **neuron, weight_bits=bits, acc_bits=int(layer.acc_bits),
        kernel=int(layer.kernel) if conv else 1, stride=int(layer.stride) if conv else 1,
        padding=int(layer.padding) if conv else 0, weight_row_bytes=row_bytes(out_c, bits),
        weights=packed,
    )


def pack_model(ir: ModelIR, schedule: str = "time", arena_bytes: int = 0) -> PackedModel:
    """Pack a checked, pruned IR (see :func:`spq.export.checks.check_ir`)."""
    c, h, w = (int(d) for d in ir.input_shape)
    return PackedModel(
        format_version=FORMAT_VERSION, name=ir.name, input_kind=ir.input_kind,
        schedule=schedule, time_steps=int(ir.time_steps), in_c=c, in_h=h, in_w=w,
        num_classes=int(ir.num_classes), layers=[pack_layer(la) for la in ir.layers],
        arena_bytes=int(arena_bytes),
    )
