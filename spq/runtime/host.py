# SPDX-License-Identifier: MIT
"""HostModel: an exported model run by the C runtime on the host, through ctypes."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spq.errors import SpqError, SpqFormatError
from spq.export.directory import LAYER_TYPES, ExportDir, as_array, events_u8, open_export
from spq.runtime.library import build_model_library

SCHEDULES = {"time": 0, "layer": 1}
_SCHEDULE_NAMES = {v: k for k, v in SCHEDULES.items()}
_STATUS = {
    -1: "a required pointer is NULL",
    -2: "arena too small",
    -3: "arena not 4-byte aligned",
    -4: "the model fails validation in the C runtime (format version, shapes, parameters, "
    "array sizes or arena size disagree)",
    -5: "all time steps already run; reset the stream first",
    -6: "operation not available with this schedule",
}


class _ModelStruct(ctypes.Structure):
    """spq_model_t (runtime_c/include/spq.h)."""

    _fields_ = [
        ("format_version", ctypes.c_uint32),
        ("name", ctypes.c_char_p),
        ("input_kind", ctypes.c_uint8),
        ("schedule", ctypes.c_uint8),
        ("time_steps", ctypes.c_uint16),
        ("in_c", ctypes.c_uint16),
        ("in_h", ctypes.c_uint16),
        ("in_w", ctypes.c_uint16),
        ("num_classes", ctypes.c_uint16),
        ("num_layers", ctypes.c_uint16),
        ("layers", ctypes.c_void_p),
        ("arena_bytes", ctypes.c_uint32),
    ]


@dataclass
class HostResult:
    """Integer logits and counters of one input (1-d arrays) or a batch (a leading N axis)."""

    logits_int: np.ndarray  # int64 (classes,) or (N, classes)
    logits: np.ndarray  # float64: logits_int * out_scale
    pred: np.ndarray  # int64 () or (N,): argmax of the logits (first maximum)
    spike_counts: np.ndarray  # int64 (neuron layers,) or (N, neuron layers)
    synops: np.ndarray  # int64 (synapse layers,) or (N, synapse layers)
    batched: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "pred": self.pred.tolist(),
            "logits_int": self.logits_int.tolist(),
            "logits": self.logits.tolist(),
            "spike_counts": self.spike_counts.tolist(),
            "synops": self.synops.tolist(),
        }


class HostModel:
    """An export folder (``spq-export ... -o OUT``) compiled with runtime_c for the host.

    >>> m = HostModel("out")
    >>> r = m.run(x)            # one input or a batch, same formats as spq.nn.Sequential
    >>> r.logits_int, r.pred, r.spike_counts, r.synops

    The library is compiled once per content (runtime sources, model C, flags) and cached
    (``$SPQ_CACHE_DIR`` or ``~/.cache/spq/build``). ``sanitize=True`` builds it with
    AddressSanitizer and UBSan; loading that into Python needs libasan preloaded
    (``LD_PRELOAD=$(gcc -print-file-name=libasan.so)``).
    """

    def __init__(self, out_dir: str | Path | ExportDir, *, sanitize: bool = False) -> None:
        # open_export checks the export whole (hashes, manifest checksum) before any compile
        self.export = out_dir if isinstance(out_dir, ExportDir) else open_export(out_dir)
        self.out_dir = self.export.path
        self.manifest = self.export.manifest
        self.name: str = self.export.name
        self.input_kind: str = self.export.input.kind
        self.input_shape = self.export.input.frame_shape  # one frame (C, H, W)
        self.time_steps = self.export.time_steps
        self.num_classes = self.export.num_classes
        self.out_scale = self.export.out_scale
        self.library_path = build_model_library(self.out_dir, self.name, sanitize=sanitize)
        self._lib = ctypes.CDLL(str(self.library_path))
        self._bind()
        model = self._lib.spqh_model().contents
        self._model_ptr = self._lib.spqh_model()
        self._check_model(model)
        self.default_schedule = _SCHEDULE_NAMES.get(model.schedule, "time")
        self.num_layers = int(model.num_layers)
        self.layer_types = list(self.export.layer_types)
        self.neuron_layers = self.export.neuron_layers
        self.synapse_layers = self.export.synapse_layers
        self._contexts: dict[int, tuple[ctypes.Array[ctypes.c_char], np.ndarray]] = {}
        self._stream: tuple[ctypes.Array[ctypes.c_char], np.ndarray] | None = None

    # ------------------------------------------------------------------ setup
    def _bind(self) -> None:
        lib = self._lib
        lib.spqh_model.restype = ctypes.POINTER(_ModelStruct)
        lib.spqh_ctx_size.restype = ctypes.c_size_t
        lib.spqh_layer_type.argtypes = [ctypes.c_uint]
        lib.spqh_layer_type.restype = ctypes.c_int
        lib.spq_arena_size.argtypes = [ctypes.POINTER(_ModelStruct), ctypes.c_int]
        lib.spq_arena_size.restype = ctypes.c_size_t
        lib.spq_init_schedule.argtypes = [ctypes.c_void_p, ctypes.POINTER(_ModelStruct),
                                          ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        lib.spq_init_schedule.restype = ctypes.c_int
        lib.spq_reset.argtypes = [ctypes.c_void_p]
        lib.spq_reset.restype = ctypes.c_int
        lib.spq_step.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.spq_step.restype = ctypes.c_int
        lib.spqh_run_batch.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                       ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p,
                                       ctypes.c_void_p]
        lib.spqh_run_batch.restype = ctypes.c_int
        lib.spqh_totals.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                    ctypes.c_void_p]
        lib.spqh_totals.restype = ctypes.c_int

    def _check_model(self, model: _ModelStruct) -> None:
        where = f"{self.out_dir / (self.name + '.c')} and manifest.json disagree"
        kind = "static" if model.input_kind == 0 else "events"
        if kind != self.input_kind:
            raise SpqFormatError(f"{where} on the input kind")
        if (model.in_c, model.in_h, model.in_w) != self.input_shape:
            raise SpqFormatError(f"{where} on the input shape")
        if model.time_steps != self.time_steps or model.num_classes != self.num_classes:
            raise SpqFormatError(f"{where} on time_steps or num_classes")
        if model.num_layers != len(self.export.layer_types):
            raise SpqFormatError(f"{where} on the number of layers ({model.num_layers} in the "
                                 f"C, {len(self.export.layer_types)} in the manifest)")
        codes = [self._lib.spqh_layer_type(i) for i in range(model.num_layers)]
        types = [LAYER_TYPES[c] if 0 <= c < len(LAYER_TYPES) else f"type {c}" for c in codes]
        if types != list(self.export.layer_types):
            i = next(i for i, (a, b) in enumerate(zip(types, self.export.layer_types,
                                                      strict=True)) if a != b)
            raise SpqFormatError(f"{where} on the type of layer {i} ({types[i]} in the C, "
                                 f"{self.export.layer_types[i]} in the manifest)")

    def arena_size(self, schedule: str | None = None) -> int:
        """spq_arena_size() of the model for `schedule` (default: the exporter's choice)."""
        return int(self._lib.spq_arena_size(self._model_ptr, SCHEDULES[self._schedule(schedule)]))

    def _schedule(self, schedule: str | None) -> str:
        s = schedule or self.default_schedule
        if s not in SCHEDULES:
            raise SpqError(f"unknown schedule {s!r} (expected 'time' or 'layer')")
        return s

    def _new_context(self, schedule: int) -> tuple[ctypes.Array[ctypes.c_char], np.ndarray]:
        size = int(self._lib.spq_arena_size(self._model_ptr, schedule))
        if size == 0:
            raise SpqFormatError(f"the C runtime rejects model {self.name!r}: its descriptor "
                                 "fails validation (format version, shapes, parameters or "
                                 "array sizes; spq_arena_size is 0)")
        ctx = ctypes.create_string_buffer(int(self._lib.spqh_ctx_size()))
        raw = np.zeros(size + 16, dtype=np.uint8)  # keep a reference: it is the arena
        offset = (-raw.ctypes.data) % 16
        arena = raw[offset : offset + size]
        status = self._lib.spq_init_schedule(ctx, self._model_ptr, arena.ctypes.data, size,
                                             schedule)
        if status != 0:
            raise SpqFormatError(f"spq_init failed for {self.name!r}: "
                                 f"{_STATUS.get(status, status)}")
        return ctx, raw

    def _context(self, schedule: str | None) -> ctypes.Array[ctypes.c_char]:
        code = SCHEDULES[self._schedule(schedule)]
        if code not in self._contexts:
            self._contexts[code] = self._new_context(code)
        return self._contexts[code][0]

    # ------------------------------------------------------------------ inputs
    def prepare_input(self, x: Any) -> tuple[np.ndarray, bool]:
        """Check and convert input(s) to what the C runtime reads: (N, ...) uint8, batched?
        (spq.export.directory.InputSpec.prepare: one rule for every command)."""
        return self.export.input.prepare(x)

    # ------------------------------------------------------------------ running
    def _result(self, logits: np.ndarray, spikes: np.ndarray, synops: np.ndarray,
                batched: bool) -> HostResult:
        logits_int = logits.astype(np.int64)
        spike_counts = spikes.astype(np.int64)[:, self.neuron_layers]
        syn = synops.astype(np.int64)[:, self.synapse_layers]
        pred = (np.argmax(logits_int, axis=1) if logits_int.shape[0]
                else np.zeros(0, dtype=np.int64)).astype(np.int64)
        if not batched:
            logits_int, spike_counts, syn, pred = logits_int[0], spike_counts[0], syn[0], pred[0]
        return HostResult(
            logits_int=logits_int,
            logits=logits_int.astype(np.float64) * self.out_scale,
            pred=np.asarray(pred, dtype=np.int64),
            spike_counts=spike_counts,
            synops=syn,
            batched=batched,
        )

    def run(self, x: Any, schedule: str | None = None) -> HostResult:
        """Whole inferences of one input or a batch (state reset before each)."""
        q, batched = self.prepare_input(x)
        ctx = self._context(schedule)
        n = q.shape[0]
        logits = np.zeros((n, self.num_classes), dtype=np.int32)
        spikes = np.zeros((n, self.num_layers), dtype=np.uint32)
        synops = np.zeros((n, self.num_layers), dtype=np.uint32)
        stride = int(np.prod(q.shape[1:]))
        status = self._lib.spqh_run_batch(ctx, q.ctypes.data, n, stride, logits.ctypes.data,
                                          spikes.ctypes.data, synops.ctypes.data)
        if status != 0:
            raise SpqError(f"spq_run failed: {_STATUS.get(status, status)}")
        return self._result(logits, spikes, synops, batched)

    # ------------------------------------------------------------------ streaming
    def reset(self) -> None:
        """Start a new stream: the next step() is time step 0 (time-major schedule)."""
        if self._stream is None:
            self._stream = self._new_context(SCHEDULES["time"])
        self._lib.spq_reset(self._stream[0])

    def step(self, frame: Any) -> HostResult:
        """One time step of a stream; returns the totals so far (logits, spikes, synops).

        `frame` is one event frame (C, H, W) of 0/1 values, or the image for static input
        (its current is computed at step 0 and reused)."""
        if self._stream is None:
            self.reset()
        assert self._stream is not None
        if self.input_kind == "events":
            arr = as_array(frame)
            if tuple(arr.shape) != self.input_shape:
                raise SpqError(f"an event frame must have shape {self.input_shape}, "
                               f"got {tuple(arr.shape)}")
            data = np.ascontiguousarray(events_u8(arr))
        else:
            q, batched = self.prepare_input(frame)
            if batched:
                raise SpqError(f"step() takes one image of shape {self.input_shape}")
            data = np.ascontiguousarray(q[0])
        ctx = self._stream[0]
        status = self._lib.spq_step(ctx, data.ctypes.data)
        if status != 0:
            raise SpqError(f"spq_step failed: {_STATUS.get(status, status)}")
        logits = np.zeros((1, self.num_classes), dtype=np.int32)
        spikes = np.zeros((1, self.num_layers), dtype=np.uint32)
        synops = np.zeros((1, self.num_layers), dtype=np.uint32)
        self._lib.spqh_totals(ctx, logits.ctypes.data, spikes.ctypes.data, synops.ctypes.data)
        return self._result(logits, spikes, synops, batched=False)
