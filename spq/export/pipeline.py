# SPDX-License-Identifier: MIT
"""``spq-export``: checkpoint -> IR -> pruned, packed integer C + manifest, verified.

:func:`export` does everything in memory first (load and fold, :mod:`~spq.export.loading`;
prune, pack, plan memory and check the board, :mod:`~spq.export.budget`; verify against
eval-mode spq.nn, :mod:`~spq.export.verify`; describe and render,
:mod:`~spq.export.manifest`) and only then writes its four files into ``OUT``
(:mod:`spq.export.directory`: temporary names, renamed into place at the end), so a failure at
any step leaves ``OUT`` as it was, and nothing in ``OUT`` but an earlier export's own files is
ever replaced.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spq.errors import SpqError
from spq.export.budget import check_board, check_schedule, plan_memory
from spq.export.directory import SAMPLES, plan_write, samples_npz, sha256_file, write_export
from spq.export.loading import fold_model, load_model, prepare
from spq.export.manifest import build_manifest, render_files
from spq.export.packing import PackedModel, pack_model
from spq.export.reference import run as reference_run
from spq.export.render import check_name, default_name
from spq.export.tables import add_tables
from spq.export.verify import Progress, sample_inputs, verify
from spq.ir import ModelIR

DEFAULT_VERIFY = 16
DEFAULT_SEED = 0


@dataclass
class ExportResult:
    out_dir: Path
    name: str
    manifest: dict[str, Any]
    ir: ModelIR  # pruned
    packed: PackedModel
    board: dict[str, Any] | None = None
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what happened to an earlier export's files


def export(
    model_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    name: str | None = None,
    board: str | None = None,
    schedule: str = "auto",
    verify_n: int = DEFAULT_VERIFY,
    seed: int = DEFAULT_SEED,
    progress: Progress | None = None,
) -> ExportResult:
    """Export ``model_path`` to ``out_dir`` (see the module docstring and docs/formats.md)."""
    path, out = Path(model_path), Path(out_dir)
    if verify_n < 0:
        raise SpqError("--verify must be 0 or more")
    check_schedule(schedule)
    cname = check_name(name) if name is not None else default_name(path)
    plan_write(out, cname, keep=[path])  # fail before the slow part; checked again to write

    net = load_model(path)
    sha = sha256_file(path)  # of the file just loaded
    ir_full = fold_model(net)
    ir = prepare(ir_full, cname)
    mem = plan_memory(ir, schedule)
    packed = pack_model(ir, mem["schedule"], mem["arena_bytes"])
    packed.layers = [add_tables(la) for la in packed.layers]
    board_info = check_board(board, packed, mem["arena_bytes"]) if board else None

    inputs = sample_inputs(ir, verify_n, seed)
    ref = verify(net, ir, packed, inputs, progress) if verify_n else reference_run(packed, inputs)
    verified = {"inputs": verify_n, "bit_exact": True if verify_n else None, "seed": seed}
    manifest = build_manifest(ir_full, ir, packed, path, sha, mem, verified, board_info)
    header, source = render_files(manifest, packed)
    synapses = [i for i, la in enumerate(packed.layers) if la.weights is not None]
    samples = samples_npz(inputs, ref.logits_int, ref.spike_counts, ref.synops[:, synapses])
    files = {f"{cname}.h": header.encode(), f"{cname}.c": source.encode(), SAMPLES: samples}
    report = write_export(out, manifest, files, keep=[path])
    return ExportResult(out_dir=out, name=cname, manifest=report.manifest, ir=ir,
                        packed=packed, board=board_info, files=report.written,
                        notes=report.notes)


__all__ = ["ExportResult", "export"]
