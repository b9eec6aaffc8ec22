# SPDX-License-Identifier: MIT
"""Rich progress on stderr for the slow device steps (firmware build, QEMU inferences)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from spq.tools.device import Progress as ProgressFn

_LABELS = {"build": "building firmware", "infer": "running inferences"}


@contextmanager
def device_progress(board_name: str, enabled: bool = True) -> Iterator[ProgressFn | None]:
    """A callback for spq.tools.device.run_on_device that draws one task per stage."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, object] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                label = f"{_LABELS.get(stage, stage)} ({board_name})"
                tasks[stage] = bar.add_task(label, total=total)
            bar.update(tasks[stage], completed=done, total=total)  # type: ignore[arg-type]

        yield update
