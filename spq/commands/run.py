# SPDX-License-Identifier: MIT
"""`spq run OUT`: the exported model on the host C runtime (runtime_c through ctypes)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from spq.cli import handle_errors
from spq.errors import SpqError

HELP = (
    "Run an export folder (spq-export ... -o OUT) on the host C runtime: the same C that runs "
    "on the board, compiled with the host compiler. --input takes a .npy with one input or a "
    "batch, in spq.nn's formats: static images (C,H,W) or (N,C,H,W) as uint8 or floats in "
    "[0, 1]; events (T,C,H,W) or (N,T,C,H,W) of 0/1. Without --input the export's "
    "samples.npz inputs are run and checked against the integer logits the exporter recorded."
)


def load_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise SpqError(f"input file not found: {path}")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise SpqError(f"{path} is not a readable .npy array ({str(exc)[:160]})") from None
    if not isinstance(arr, np.ndarray):
        raise SpqError(f"{path} holds several arrays; give a .npy with one array")
    return arr


def load_samples(out: Path) -> tuple[np.ndarray, np.ndarray | None]:
    path = out / "samples.npz"
    if not path.is_file():
        raise SpqError(f"{out} has no samples.npz; give an input with --input X.npy")
    try:
        with np.load(path, allow_pickle=False) as data:
            inputs = np.asarray(data["inputs"])
            expected = np.asarray(data["logits_int"]) if "logits_int" in data else None
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise SpqError(f"{path} is corrupted ({str(exc)[:160]})") from None
    return inputs, expected


def run_command(out: Path, input_path: Path | None, schedule: str | None,
                as_json: bool) -> dict[str, Any]:
    from spq.runtime import HostModel

    if schedule is not None and schedule not in ("time", "layer"):
        raise SpqError(f"--schedule must be 'time' or 'layer', got {schedule!r}")
    expected = None
    x = load_npy(input_path) if input_path is not None else None
    model = HostModel(out)
    if x is None:
        x, expected = load_samples(out)
    result = model.run(x, schedule=schedule)
    data = result.to_json()
    if expected is not None:
        data["matches_samples"] = bool(
            expected.shape == result.logits_int.shape
            and np.array_equal(expected, result.logits_int)
        )
    if as_json:
        print(json.dumps(data))
    else:
        _print_human(model, result, data.get("matches_samples"))
    if expected is not None and not data["matches_samples"]:
        raise SpqError("the C runtime's logits differ from the logits in samples.npz")
    return data


def _print_human(model: Any, result: Any, matches: bool | None) -> None:
    preds = np.atleast_1d(result.pred)
    logits = result.logits_int.reshape(len(preds), -1)
    spikes = result.spike_counts.reshape(len(preds), -1)
    for k, (p, lg, sp) in enumerate(zip(preds, logits, spikes, strict=True)):
        prefix = f"{k}: " if result.batched else ""
        print(f"{prefix}pred {int(p)}  logits_int {lg.tolist()}  spikes {sp.tolist()}")
    if matches is not None:
        verdict = "identical to" if matches else "DIFFERENT from"
        print(f"{len(preds)} samples: integer logits {verdict} samples.npz")


def register(app: typer.Typer) -> None:
    @app.command("run", help=HELP)
    @handle_errors
    def run(
        out: Annotated[Path, typer.Argument(help="export folder (holds manifest.json)")],
        input: Annotated[
            Path | None, typer.Option("--input", "-i", help=".npy input (one or a batch)")
        ] = None,
        schedule: Annotated[
            str | None, typer.Option(help="time or layer (default: the exporter's choice)")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    ) -> None:
        run_command(out, input, schedule, as_json)
