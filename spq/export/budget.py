# SPDX-License-Identifier: MIT
"""The memory an export needs: the arena of each schedule and the one chosen
(:func:`plan_memory`), the flash of its tables (:func:`const_bytes`), and whether it fits a
board (:func:`check_board`; docs/formats.md, "Board check")."""

from __future__ import annotations

from typing import Any

from spq.errors import SpqError
from spq.export import memory
from spq.export.packing import PackedModel
from spq.ir import ModelIR, align4
from spq.tools.boards import get_board

SCHEDULE_CHOICES = ("auto", "time", "layer")
# Rough flash of the code that runs a model: the runtime's kernels plus a minimal harness
# (docs/formats.md, "Board check"). The constant tables are counted exactly on top of it.
CODE_BYTES_ESTIMATE = 40 * 1024
# sizeof(spq_layer_t) and sizeof(spq_model_t) on a 32-bit target
LAYER_DESC_BYTES = 112
MODEL_DESC_BYTES = 32


def check_schedule(schedule: str) -> str:
    if schedule not in SCHEDULE_CHOICES:
        raise SpqError(f"--schedule {schedule!r} is not one of auto, time, layer")
    return schedule


def plan_memory(ir: ModelIR, schedule: str) -> dict[str, Any]:
    """Arena bytes of both schedules, the one chosen (``auto``: the smaller) and the
    membranes: the ``memory`` record of manifest.json without the flash figures."""
    check_schedule(schedule)
    by = {s: int(memory.arena_bytes(ir, s)) for s in ("time", "layer")}
    chosen = schedule if schedule != "auto" else min(("time", "layer"), key=lambda s: by[s])
    return {
        "arena_bytes": by[chosen],
        "membrane_bytes": int(memory.membrane_bytes(ir)),
        "schedule": chosen,
        "arena_bytes_time": by["time"],
        "arena_bytes_layer": by["layer"],
    }


def const_bytes(packed: PackedModel) -> int:
    """Flash of the generated tables (weights, per-channel constants, descriptors, name).

    An upper bound on their ``.rodata`` for a 32-bit Arm target: each array and the name
    string are rounded up to 4 bytes (the alignment padding the linker may insert)."""
    total = MODEL_DESC_BYTES + LAYER_DESC_BYTES * len(packed.layers)
    total += align4(len(packed.name) + 1)
    for la in packed.layers:
        for arr in (la.weights, la.mult, la.shift, la.bias, la.outcome, la.outcome_base,
                    la.lut, la.weights_x, la.breaks):
            if arr is not None:
                total += align4(int(arr.nbytes))
    return total


def check_board(board_name: str, packed: PackedModel, arena: int) -> dict[str, Any]:
    """Flash and RAM budget of ``packed`` on ``board_name``; refuse a model that cannot fit."""
    board = get_board(board_name)
    flash = const_bytes(packed) + CODE_BYTES_ESTIMATE
    ram = arena + packed.input_bytes + board.stack_size
    info = {
        "name": board_name, "flash_bytes": board.flash_size, "ram_bytes": board.ram_size,
        "flash_needed": flash, "ram_needed": ram, "code_estimate": CODE_BYTES_ESTIMATE,
        "stack_reserve": board.stack_size,
    }
    problems = []
    if flash > board.flash_size:
        problems.append(
            f"flash: needs {flash} bytes (tables {flash - CODE_BYTES_ESTIMATE} + code estimate "
            f"{CODE_BYTES_ESTIMATE}), has {board.flash_size}: {flash - board.flash_size} "
            "bytes over"
        )
    if ram > board.ram_size:
        problems.append(
            f"RAM: needs {ram} bytes (arena {arena} + input {packed.input_bytes} + stack "
            f"{board.stack_size}), has {board.ram_size}: {ram - board.ram_size} bytes over"
        )
    if problems:
        raise SpqError(f"the model does not fit {board_name}: " + "; ".join(problems))
    return info
