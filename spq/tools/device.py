# SPDX-License-Identifier: MIT
"""Run an exported model on a device (QEMU or a serial board) over the protocol and check
every answer against the host runtime: the shared engine of `spq run --board`, `spq qemu`,
`spq profile` and `spq flash --port`.

Everything here takes the :class:`~spq.export.directory.ExportDir` the caller opened (and so
checked) once."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spq.errors import SpqError
from spq.export.directory import ExportDir, Inputs, open_export
from spq.tools.boards import Board, get_board
from spq.tools.firmware import Firmware, build_firmware
from spq.tools.protocol import DeviceInfo, InferResult
from spq.tools.runner import QemuRunner, open_runner

Progress = Callable[[str, int, int], None]  # (stage, done, total)
MAX_SHOWN_DIFFS = 5
COUNTS = ("logits_int", "spike_counts", "synops")


def device_counts(res: InferResult, export: ExportDir) -> dict[str, np.ndarray]:
    """A device result in the layout of spq.runtime.HostResult (and `spq run`): the logits,
    spike counts per neuron layer, synops per synapse layer."""
    spikes = np.asarray(res.spike_counts, dtype=np.int64)
    synops = np.asarray(res.synops, dtype=np.int64)
    layers, classes = len(export.layer_types), export.num_classes
    if len(spikes) != layers or len(res.logits_int) != classes:
        raise SpqError(
            f"the device reports {len(spikes)} layers and {len(res.logits_int)} logits, the "
            f"export {layers} and {classes}: the firmware was built from another model"
        )
    return {
        "logits_int": np.asarray(res.logits_int, dtype=np.int64),
        "spike_counts": spikes[export.neuron_layers],
        "synops": synops[export.synapse_layers],
    }


def host_reference(export: ExportDir, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """The host C runtime (spq.runtime.HostModel) on a batch: arrays with a leading N axis."""
    from spq.runtime import HostModel

    r = HostModel(export).run(inputs)
    return {key: np.asarray(getattr(r, key), dtype=np.int64) for key in COUNTS}


def differences(device: list[InferResult], expected: dict[str, np.ndarray],
                export: ExportDir, what: str = "host runtime") -> list[str]:
    """Every difference between device results and ``expected`` arrays (a leading N axis;
    the layout of :func:`host_reference` and samples.npz), as readable lines."""
    problems: list[str] = []
    for i, res in enumerate(device):
        got = device_counts(res, export)
        for key in COUNTS:
            if key not in expected:
                continue
            if i >= len(expected[key]):
                problems.append(f"input {i}: {what} has no {key}")
                continue
            want = np.asarray(expected[key][i], dtype=np.int64)
            if got[key].shape != want.shape or not np.array_equal(got[key], want):
                problems.append(f"input {i}: {key} device {got[key].tolist()} != {what} "
                                f"{want.tolist()}")
    return problems


def check_device(info: DeviceInfo, export: ExportDir, board: Board) -> None:
    """Refuse a device whose INFO frame does not describe the export's model."""
    per_input = int(np.prod(export.input.shape))
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
    export: ExportDir
    board: Board
    firmware: Firmware
    info: DeviceInfo
    inputs: np.ndarray
    results: list[InferResult]
    port: str | None = None  # the serial port, None under QEMU


def run_on_device(
    export: ExportDir,
    board: Board,
    inputs: np.ndarray,
    port: str | None = None,
    timeout: float = 60.0,
    progress: Progress | None = None,
    extra_cflags: tuple[str, ...] = (),
) -> DeviceRun:
    """Build the harness for `board` (with `extra_cflags`, e.g. the runtime's -DSPQ_NO_DSP),
    start it (QEMU unless `port`), check its INFO frame against the export, and run every
    input (``(N, ...)`` uint8 as spq_run reads them)."""
    if len(inputs) == 0:
        raise SpqError("no inputs to run")
    if progress:
        progress("build", 0, 1)
    firmware = build_firmware(board, export, variant="harness", extra_cflags=extra_cflags)
    if progress:
        progress("build", 1, 1)
    results: list[InferResult] = []
    with open_runner(board, firmware.elf, port=port, timeout=timeout) as runner:
        info = runner.hello()
        check_device(info, export, board)
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
    return DeviceRun(export, board, firmware, info, inputs, results, port)


def check_against_host(run: DeviceRun, samples: dict[str, np.ndarray] | None = None) -> None:
    """Raise SpqError listing the differences from the host runtime (and from the expected
    outputs in samples.npz when those inputs were used)."""
    problems = differences(run.results, host_reference(run.export, run.inputs), run.export)
    if samples is not None:
        problems += differences(run.results, samples, run.export, what="samples.npz")
    if problems:
        shown = "\n  ".join(problems[:MAX_SHOWN_DIFFS])
        more = len(problems) - MAX_SHOWN_DIFFS
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise SpqError(
            f"{run.board.name} differs from the expected results in {len(problems)} place(s):"
            f"\n  {shown}{tail}"
        )


def run_on_board(out: Path, board_name: str, port: str | None, input_path: Path | None,
                 timeout: float, *, limit: int | None = None,
                 show_progress: bool = True) -> tuple[DeviceRun, Inputs]:
    """What `spq run OUT --board B [--port URL]`, `spq qemu` and `spq profile` run: OUT
    opened and checked, its inputs (``--input X.npy`` or samples.npz, the first ``limit``)
    run on the board (under QEMU unless ``port``), every logit, spike count and synop count
    checked against the host runtime (and against samples.npz when those were the inputs):
    a difference raises an SpqError."""
    from spq.tools.progress import device_progress

    board = get_board(board_name)
    if port is None and not board.is_qemu:
        raise SpqError(f"board {board.name} has no QEMU machine: flash it (spq flash OUT "
                       f"--board {board.name}) and pass its serial port, e.g. --port "
                       "/dev/ttyACM0")
    if timeout <= 0:
        raise SpqError(f"--timeout must be positive, got {timeout:g}")
    export = open_export(out)
    inputs = export.load_inputs(input_path)
    if limit is not None:
        inputs = inputs.first(limit)
    with device_progress(board.name, enabled=show_progress) as progress:
        run = run_on_device(export, board, inputs.data, port=port, timeout=timeout,
                            progress=progress)
    check_against_host(run, inputs.samples)
    return run, inputs


def run_record(run: DeviceRun, batched: bool) -> dict[str, Any]:
    """The JSON of `spq run` (pred, logits_int, logits, spike_counts, synops) plus the
    device's time per inference under its unit ("instructions" on QEMU)."""
    counts = [device_counts(r, run.export) for r in run.results]
    logits_int = np.stack([c["logits_int"] for c in counts])
    rec: dict[str, Any] = {
        "pred": np.argmax(logits_int, axis=1).tolist(),
        "logits_int": logits_int.tolist(),
        "logits": (logits_int.astype(np.float64) * run.export.out_scale).tolist(),
        "spike_counts": np.stack([c["spike_counts"] for c in counts]).tolist(),
        "synops": np.stack([c["synops"] for c in counts]).tolist(),
        run.results[0].unit: [int(r.total) for r in run.results],
    }
    if not batched:
        rec = {k: v[0] for k, v in rec.items()}
    rec["board"] = run.board.name
    return rec


def report_board_run(run: DeviceRun, inputs: Inputs, as_json: bool) -> dict[str, Any]:
    """Print a checked board run as `spq run --board` does (one JSON object, or a table of
    the inputs with their time and stack peak); return the JSON record."""
    from rich.console import Console
    from rich.table import Table

    data = run_record(run, inputs.batched)
    data["clock_hz"] = run.info.clock_hz
    data["port"] = run.port
    if inputs.samples is not None:
        data["matches_samples"] = True  # checked by run_on_board
    if as_json:
        print(json.dumps(data))
        return data
    rec = run_record(run, batched=True)
    unit = run.results[0].unit
    b = run.board
    where = f"QEMU {b.qemu_machine}" if run.port is None else run.port
    table = Table(title=f"{run.export.name} on {b.name} ({b.core}, "
                        f"{run.info.clock_hz / 1e6:g} MHz, {where})")
    for col in ("input", "pred", "logits_int", unit, "stack peak"):
        table.add_column(col, justify="left" if col == "logits_int" else "right")
    for i, r in enumerate(run.results):
        table.add_row(str(i), str(rec["pred"][i]), " ".join(str(v) for v in rec["logits_int"][i]),
                      f"{r.total:,}", f"{r.stack_peak_bytes} B")
    console = Console()
    console.print(table)
    console.print(
        f"[green]bit-exact[/green]: logits, spike counts and synops of {len(run.results)} "
        "input(s) identical to the host runtime"
    )
    return data
