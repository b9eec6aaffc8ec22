# SPDX-License-Identifier: MIT
"""The exporter: checkpoint -> IR -> pruned, packed integer C + manifest, verified.

* :mod:`spq.export.pipeline`: :func:`export`, what ``spq-export`` runs (the recipe)
* :mod:`spq.export.loading`: the checkpoint loaded, folded, its pruned channels removed
* :mod:`spq.export.checks`: grammar and range checks of a ModelIR
* :mod:`spq.export.shrink`: physical removal of pruned channels
* :mod:`spq.export.packing`: weight packing and the spq.h descriptor mirror (PackedModel)
* :mod:`spq.export.memory`: the arena planner (equal to spq_arena_size())
* :mod:`spq.export.budget`: the schedule chosen, flash of the tables, the board check
* :mod:`spq.export.reference`: the integer reference interpreter (docs/semantics.md)
* :mod:`spq.export.verify`: the reference against eval-mode spq.nn on sample inputs
* :mod:`spq.export.manifest`: manifest.json, and the C comments and macros rendered from it
* :mod:`spq.export.render`: NAME.h / NAME.c from the jinja2 templates
* :mod:`spq.export.directory`: an export directory: reading, checking, inputs, writing
"""

from __future__ import annotations

from typing import Any

__all__ = ["export"]


def __getattr__(name: str) -> Any:
    # keep `import spq.export.memory` light: the pipeline pulls in jinja2 and the nn side
    if name == "export":
        from spq.export.pipeline import export

        return export
    raise AttributeError(f"module 'spq.export' has no attribute {name!r}")
