# SPDX-License-Identifier: MIT
"""Run an exported model on a device (QEMU or a serial board) over the protocol and check
every answer against the host runtime: the shared engine of `spq qemu` and `spq profile`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spq.errors import SpqError
from spq.tools.boards import Board
from spq.tools.build import Firmware, build_firmware, find_model
from spq.tools.protocol import DeviceInfo, InferResult
from spq.tools.runner import QemuRunner, open_runner

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def load_manifest(out_dir: Path) -> dict[str, Any]:
    path = Path(out_dir) / "manifest.json"
    if not path.is_file():
        raise SpqError(f"{out_dir}: no manifest.json (not an spq-export directory)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SpqError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or "input" not in manifest or "layers" not in manifest:
        raise SpqError(f"{path}: not an spq manifest")
    return manifest


def load_inputs(
    out_dir: Path, input_path: Path | None
) -> tuple[np.ndarray, bool, dict[str, np.ndarray] | None]:
    """Inputs from --input X.npy (one input or a batch), else OUT/samples.npz (with its
    expected outputs). Returns (N, ...) uint8 inputs exactly as spq_run reads them, whether
    the input was a batch, and the samples (or None). Checked and converted by the host
    runtime's own rules (spq.runtime.HostModel.prepare_input), as `spq run` does."""
    from spq.runtime import HostModel

    samples: dict[str, np.ndarray] | None = None
    if input_path is not None:
        try:
            x = np.load(input_path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            raise SpqError(f"{input_path}: not a .npy array ({exc})") from None
        if not isinstance(x, np.ndarray):
            raise SpqError(f"{input_path}: expected one array (.npy), not an archive")
    else:
        path = Path(out_dir) / "samples.npz"
        if not path.is_file():
            raise SpqError(f"{out_dir}: no samples.npz; pass --input X.npy")
        with np.load(path, allow_pickle=False) as npz:
            samples = {k: npz[k] for k in npz.files}
        if "inputs" not in samples:
            raise SpqError(f"{path}: no 'inputs' array")
        x = samples["inputs"]
    q, batched = HostModel(Path(out_dir)).prepare_input(x)
    if q.shape[0] == 0:
        raise SpqError("no inputs to run")
    return q, batched, samples


def neuron_layers(manifest: dict[str, Any]) -> list[int]:
    """Indices of the layers that emit spikes."""
    return [i for i, rec in enumerate(manifest["layers"]) if rec.get("levels") is not None]


def synapse_layers(manifest: dict[str, Any]) -> list[int]:
    """Indices of the layers with weights (conv, linear, readout)."""
    return [i for i, rec in enumerate(manifest["layers"]) if rec.get("weight_bits") is not None]


def device_counts(res: InferResult, manifest: dict[str, Any]) -> dict[str, np.ndarray]:
    """A device result in the layout of spq.runtime.RunResult (and `spq run`): spike counts
    per neuron layer, synops per synapse layer."""
    spikes = np.asarray(res.spike_counts, dtype=np.int64)
    synops = np.asarray(res.synops, dtype=np.int64)
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


@dataclass
class DeviceRun:
    board: Board
    firmware: Firmware
    info: DeviceInfo
    inputs: np.ndarray
    results: list[InferResult]


def run_on_device(
    out_dir: Path,
    board: Board,
    inputs: np.ndarray,
    port: str | None = None,
    timeout: float = 60.0,
    progress: Progress | None = None,
    extra_cflags: tuple[str, ...] = (),
) -> DeviceRun:
    """Build the harness for `board` (with `extra_cflags`, e.g. the runtime's -DSPQ_NO_DSP),
    start it (QEMU unless `port`), check its INFO frame against the export, and run every
    input."""
    model = find_model(Path(out_dir))
    if progress:
        progress("build", 0, 1)
    firmware = build_firmware(board, model.directory, variant="harness",
                              extra_cflags=extra_cflags)
    if progress:
        progress("build", 1, 1)
    results: list[InferResult] = []
    with open_runner(board, firmware.elf, port=port, timeout=timeout) as runner:
        info = runner.hello()
        per_input = int(np.prod(inputs.shape[1:]))
        if not info.has_model or info.input_bytes != per_input:
            raise SpqError(
                f"{board.name}: the device runs model {info.model!r} with "
                f"{info.input_bytes}-byte inputs, not {model.name!r} with {per_input}"
            )
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
    return DeviceRun(board, firmware, info, inputs, results)
