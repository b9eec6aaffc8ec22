# SPDX-License-Identifier: MIT
"""The exporter's check that what it writes is what was trained: the reference interpreter
on the packed model against eval-mode spq.nn, every logit and every spike, on seeded random
inputs (:func:`sample_inputs`, :func:`verify`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from spq.errors import SpqError
from spq.export.packing import PackedModel
from spq.export.reference import ReferenceResult
from spq.export.reference import run as reference_run
from spq.ir import ModelIR
from spq.nn import Sequential

VERIFY_CHUNK = 4

Progress = Callable[[int, int], None]


def sample_inputs(ir: ModelIR, n: int, seed: int) -> np.ndarray:
    """``n`` seeded random inputs in spq_run's format (uint8)."""
    rng = np.random.default_rng(seed)
    c, h, w = (int(d) for d in ir.input_shape)
    if ir.input_kind == "static":
        return rng.integers(0, 256, size=(n, c, h, w), dtype=np.uint8)
    density = rng.uniform(0.05, 0.5, size=(n, 1, 1, 1, 1))
    return (rng.random((n, ir.time_steps, c, h, w)) < density).astype(np.uint8)


def _nn_run(net: Sequential, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Eval-mode spq.nn on a uint8 batch: (logits_int, spike trains per neuron layer)."""
    try:
        with torch.no_grad():
            out = net.run_int(torch.from_numpy(np.ascontiguousarray(x)))
    except SpqError:
        raise
    except Exception as exc:  # a bug in spq.nn: report it without a traceback
        raise SpqError(
            f"eval-mode spq.nn failed on the verification inputs: {type(exc).__name__}: {exc}"
        ) from None
    return out.logits_int.numpy().astype(np.int64), [s.numpy() for s in out.spikes]


def first_difference(ir: ModelIR, ref: ReferenceResult, logits: np.ndarray,
                     spikes: list[np.ndarray], offset: int = 0) -> str | None:
    """None if spq.nn's ``logits`` and ``spikes`` (every channel, pruned ones included) equal
    the reference's on the pruned ``ir``; else a message naming the earliest time step, and
    in it the first layer, where they differ (samples numbered from ``offset``)."""
    neuron_layers = [(i, la) for i, la in enumerate(ir.layers) if la.neuron is not None]
    if len(spikes) != len(neuron_layers):
        return f"spq.nn reports {len(spikes)} spiking layers, the export has {len(neuron_layers)}"
    first: tuple[int, int, int, str] | None = None  # (step, layer, sample, name)
    for (i, la), got_nn, got_ref in zip(neuron_layers, spikes, ref.spikes, strict=True):
        kept = la.kept_channels if la.kept_channels is not None else list(range(la.out_shape[0]))
        n, T = got_ref.shape[:2]
        if got_nn.shape[:2] != (n, T) or got_nn.shape[3:] != got_ref.shape[3:]:
            return (f"layer {i} ({la.name}): spq.nn spike shape {tuple(got_nn.shape)} does "
                    f"not match the export's {tuple(got_ref.shape)}")
        full = np.zeros(got_nn.shape, dtype=np.uint8)
        full[:, :, kept] = got_ref
        diff = (full != (got_nn != 0)).reshape(n, T, -1).any(axis=2)  # (n, T)
        if diff.any():
            samples, steps = np.nonzero(diff)
            k = int(np.argmin(steps))
            here = (int(steps[k]), i, int(samples[k]), la.name)
            if first is None or here[:2] < first[:2]:
                first = here
    if first is not None:
        t, i, s, name = first
        return f"spikes differ first at layer {i} ({name}), time step {t}, sample {s + offset}"
    if logits.shape != ref.logits_int.shape:
        return f"integer logits differ (readout layer {len(ir.layers) - 1}), sample {offset}"
    bad = np.nonzero((logits != ref.logits_int).any(axis=1))[0]
    if bad.size:
        return (f"integer logits differ (readout layer {len(ir.layers) - 1}), sample "
                f"{int(bad[0]) + offset}")
    return None


def verify(net: Sequential, ir: ModelIR, packed: PackedModel, inputs: np.ndarray,
           progress: Progress | None = None) -> ReferenceResult:
    """Run reference and spq.nn on ``inputs``; raise SpqError on the first difference.
    Returns the reference's result on all of ``inputs``."""
    n = inputs.shape[0]
    parts: list[ReferenceResult] = []
    if progress:
        progress(0, n)
    for start in range(0, n, VERIFY_CHUNK):
        x = inputs[start:start + VERIFY_CHUNK]
        ref = reference_run(packed, x)
        msg = first_difference(ir, ref, *_nn_run(net, x), offset=start)
        if msg is not None:
            raise SpqError(f"verification failed: the exported integers differ from spq.nn: {msg}")
        parts.append(ref)
        if progress:
            progress(min(start + VERIFY_CHUNK, n), n)
    if not parts:
        return reference_run(packed, inputs)
    return ReferenceResult(
        logits_int=np.concatenate([p.logits_int for p in parts]),
        spikes=[np.concatenate(s) for s in zip(*(p.spikes for p in parts), strict=True)],
        spike_counts=np.concatenate([p.spike_counts for p in parts]),
        synops=np.concatenate([p.synops for p in parts]),
    )
