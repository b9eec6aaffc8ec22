# SPDX-License-Identifier: MIT
"""Run an exported model on a device (QEMU or a serial board) over the protocol and check
every answer against the host runtime: the shared engine of `spq run --board`, `spq profile`
and `spq flash --port`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spq.errors import SpqError
from spq.export.directory import NEURON_TYPES, SYNAPSE_TYPES, ExportDir, open_export
from spq.tools.boards import Board
from spq.tools.firmware import Firmware, build_firmware
from spq.tools.protocol import DeviceInfo, InferResult
from spq.tools.runner import QemuRunner, open_runner

Progress = Callable[[str, int, int], None]  # (stage, done, total)
MAX_SHOWN_DIFFS = 5


def load_manifest(out_dir: Path) -> dict[str, Any]:
    """OUT/manifest.json of a checked export (spq.export.directory.open_export)."""
    return open_export(out_dir).manifest


def load_inputs(
    out_dir: Path, input_path: Path | None
) -> tuple[np.ndarray, bool, dict[str, np.ndarray] | None]:
    """Inputs from --input X.npy (one input or a batch), else OUT/samples.npz (with its
    expected outputs). Returns (N, ...) uint8 inputs exactly as spq_run reads them, whether
    the input was a batch, and the samples (or None): ExportDir.load_inputs, the rules of
    `spq run`."""
    inputs = open_export(out_dir).load_inputs(input_path)
    if inputs.data.shape[0] == 0:
        raise SpqError("no inputs to run")
    return inputs.data, inputs.batched, inputs.samples


def _layers(manifest: dict[str, Any], kinds: tuple[str, ...]) -> list[int]:
    return [i for i, rec in enumerate(manifest["layers"]) if rec.get("type") in kinds]


def neuron_layers(manifest: dict[str, Any]) -> list[int]:
    """Indices of the layers that emit spikes."""
    return _layers(manifest, NEURON_TYPES)


def synapse_layers(manifest: dict[str, Any]) -> list[int]:
    """Indices of the layers with weights (conv, linear, readout)."""
    return _layers(manifest, SYNAPSE_TYPES)


def device_counts(res: InferResult, manifest: dict[str, Any]) -> dict[str, np.ndarray]:
    """A device result in the layout of spq.runtime.HostResult (and `spq run`): spike counts
    per neuron layer, synops per synapse layer."""
    spikes = np.asarray(res.spike_counts, dtype=np.int64)
    synops = np.asarray(res.synops, dtype=np.int64)
    layers, classes = len(manifest["layers"]), int(manifest["num_classes"])
    if len(spikes) != layers or len(res.logits_int) != classes:
        raise SpqError(
            f"the device reports {len(spikes)} layers and {len(res.logits_int)} logits, the "
            f"export {layers} and {classes}: the firmware was built from another model"
        )
    return {
        "logits_int": np.asarray(res.logits_int, dtype=np.int64),
        "spike_counts": spikes[neuron_layers(manifest)],
        "synops": synops[synapse_layers(manifest)],
        "synops_all": synops,
    }


def host_reference(out_dir: Path, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """The host C runtime (spq.runtime.HostModel) on a batch: arrays with a leading N axis."""
    from spq.runtime import HostModel

    r = HostModel(Path(out_dir)).run(inputs)
    return {
        "logits_int": np.asarray(r.logits_int, dtype=np.int64),
        "spike_counts": np.asarray(r.spike_counts, dtype=np.int64),
        "synops": np.asarray(r.synops, dtype=np.int64),
    }


def compare(
    device: list[InferResult],
    expected: dict[str, np.ndarray],
    manifest: dict[str, Any],
    what: str = "host runtime",
) -> list[str]:
    """Every difference between device results and expected arrays (leading N axis), as
    readable lines. A synops array may hold every layer or only the synapse layers."""
    problems: list[str] = []
    for i, res in enumerate(device):
        got = device_counts(res, manifest)
        for key in ("logits_int", "spike_counts", "synops"):
            if key not in expected:
                continue
            if i >= len(expected[key]):
                problems.append(f"input {i}: {what} has no {key}")
                continue
            want = np.asarray(expected[key][i], dtype=np.int64)
            dv = got[key]
            if key == "synops" and want.shape != dv.shape:
                dv = got["synops_all"]
            if dv.shape != want.shape or not np.array_equal(dv, want):
                problems.append(f"input {i}: {key} device {dv.tolist()} != {what} {want.tolist()}")
    return problems


def check_device(info: DeviceInfo, export: ExportDir, per_input: int, board: Board) -> None:
    """Refuse a device whose INFO frame does not describe the export's model."""
    want = (export.name, per_input, export.num_classes, len(export.layer_types),
            export.time_steps)
    got = (info.model, info.input_bytes, info.num_classes, info.num_layers, info.time_steps)
    if not info.has_model or got != want:
        raise SpqError(
            f"{board.name}: the device runs model {info.model!r} ({info.input_bytes}-byte "
            f"inputs, {info.num_classes} classes, {info.num_layers} layers, T={info.time_steps}"
            f"), not {export.name!r} ({per_input}-byte inputs, {export.num_classes} classes, "
            f"{len(export.layer_types)} layers, T={export.time_steps})"
        )


@dataclass
class DeviceRun:
    board: Board
    firmware: Firmware
    info: DeviceInfo
    inputs: np.ndarray
    results: list[InferResult]
    port: str | None = None  # the serial port, None under QEMU


def run_on_device(
    out_dir: Path,
    board: Board,
    inputs: np.ndarray,
    port: str | None = None,
    timeout: float = 60.0,
    progress: Progress | None = None,
) -> DeviceRun:
    """Build the harness for `board`, start it (QEMU unless `port`), check its INFO frame
    against the export, and run every input."""
    export = open_export(out_dir)
    if progress:
        progress("build", 0, 1)
    firmware = build_firmware(board, export.path, variant="harness")
    if progress:
        progress("build", 1, 1)
    results: list[InferResult] = []
    with open_runner(board, firmware.elf, port=port, timeout=timeout) as runner:
        info = runner.hello()
        check_device(info, export, int(np.prod(inputs.shape[1:])), board)
        for i, x in enumerate(inputs):
            if progress:
                progress("infer", i, len(inputs))
            res = runner.infer(np.ascontiguousarray(x).tobytes())
            if res.status != 0:
                raise SpqError(f"{board.name}: spq_run returned status {res.status}")
            results.append(res)
        if progress:
            progress("infer", len(inputs), len(inputs))
        if isinstance(runner, QemuRunner):
            runner.bye()  # QEMU exits by itself (semihosting)
    return DeviceRun(board, firmware, info, inputs, results, port)


def run_record(run: DeviceRun, manifest: dict[str, Any], batched: bool) -> dict[str, Any]:
    """The JSON of `spq run` (pred, logits_int, logits, spike_counts, synops) plus the
    device's time per inference under its unit ("instructions" on QEMU)."""
    out_scale = float(manifest.get("out_scale", 1.0))
    counts = [device_counts(r, manifest) for r in run.results]
    logits_int = np.stack([c["logits_int"] for c in counts])
    rec: dict[str, Any] = {
        "pred": np.argmax(logits_int, axis=1).tolist(),
        "logits_int": logits_int.tolist(),
        "logits": (logits_int.astype(np.float64) * out_scale).tolist(),
        "spike_counts": np.stack([c["spike_counts"] for c in counts]).tolist(),
        "synops": np.stack([c["synops"] for c in counts]).tolist(),
        run.results[0].unit: [int(r.total) for r in run.results],
    }
    if not batched:
        rec = {k: v[0] for k, v in rec.items()}
    rec["board"] = run.board.name
    return rec


def check_against_host(
    run: DeviceRun, out: Path, manifest: dict[str, Any], samples: dict[str, np.ndarray] | None
) -> None:
    """Raise SpqError listing the differences from the host runtime (and from the expected
    outputs in samples.npz when those inputs were used)."""
    problems = compare(run.results, host_reference(out, run.inputs), manifest)
    if samples is not None:
        problems += compare(run.results, samples, manifest, what="samples.npz")
    if problems:
        shown = "\n  ".join(problems[:MAX_SHOWN_DIFFS])
        more = len(problems) - MAX_SHOWN_DIFFS
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise SpqError(
            f"{run.board.name} differs from the expected results in {len(problems)} place(s):"
            f"\n  {shown}{tail}"
        )


def run_checked(
    out_dir: Path,
    board: Board,
    inputs: np.ndarray,
    port: str | None = None,
    timeout: float = 60.0,
    progress: Progress | None = None,
    samples: dict[str, np.ndarray] | None = None,
) -> DeviceRun:
    """`spq run OUT --board B [--port URL]`: run_on_device, then every logit, spike count and
    synop count checked against the host runtime (and samples.npz's expected outputs when
    those were the inputs); any difference raises an SpqError. `spq profile` and `make demo`
    go the same way."""
    run = run_on_device(out_dir, board, inputs, port=port, timeout=timeout, progress=progress)
    check_against_host(run, out_dir, open_export(out_dir).manifest, samples)
    return run
