# SPDX-License-Identifier: MIT
"""`spq export-nir`: an spq checkpoint as a NIR graph (docs/interop.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from spq.cli import check_out_file, handle_errors


@handle_errors
def command(
    model: Annotated[Path, typer.Argument(help="spq checkpoint (model.pt)")],
    out: Annotated[Path, typer.Option("-o", "--out", help="NIR file to write (model.nir)")],
    dt: Annotated[float | None, typer.Option(
        help="seconds per step for the written time constants (default 1e-4)")] = None,
) -> None:
    """Write an spq model as a NIR graph; `spq import` gives back the identical model."""
    from spq.export.loading import load_model
    from spq.interop.graph import DEFAULT_DT
    from spq.interop.nir import to_nir, write

    check_out_file(out, (".nir",))
    net = load_model(model)
    if any(m.reset == "soft" for m in net.neurons):
        print("warning: NIR only resets to v_reset: soft-reset neurons are written as hard "
              "reset (spq import of this file still gives back the exact model)",
              file=sys.stderr)
    graph = to_nir(net, dt=DEFAULT_DT if dt is None else dt)
    write(graph, out)
    print(f"wrote {out}: {len(graph.nodes)} nodes")
