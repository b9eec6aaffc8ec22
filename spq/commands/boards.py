# SPDX-License-Identifier: MIT
"""`spq boards`: the board table."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from spq.cli import JsonFlag, handle_errors
from spq.tools.boards import BOARDS, DEFAULT_BOARD


def _size(n: int) -> str:
    if n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    return f"{n // 1024} KiB"


def _mhz(hz: int) -> str:
    return f"{hz / 1e6:g} MHz"


@handle_errors
def command(
    as_json: JsonFlag = False,
) -> None:
    """List the boards the firmware builds for (QEMU machines and real boards)."""
    if as_json:
        rows = [
            {
                "name": b.name,
                "core": b.core,
                "flash_origin": b.flash_origin,
                "flash_bytes": b.flash_size,
                "ram_origin": b.ram_origin,
                "ram_bytes": b.ram_size,
                "clock_hz": b.clock_hz,
                "max_clock_hz": b.max_clock_hz or b.clock_hz,
                "uart": {"kind": b.uart_kind, "base": b.uart_base},
                "qemu_machine": b.qemu_machine,
                "timer": b.timer,
                "unit": b.unit,
                "default": b.name == DEFAULT_BOARD,
            }
            for b in BOARDS.values()
        ]
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="spq boards")
    for col in ("name", "core", "flash", "RAM", "clock", "qemu machine"):
        table.add_column(col, no_wrap=col in ("name", "core"))
    for b in BOARDS.values():
        clock = _mhz(b.clock_hz)
        name = b.name + (" *" if b.name == DEFAULT_BOARD else "")
        table.add_row(
            name,
            b.core,
            _size(b.flash_size),
            _size(b.ram_size),
            clock,
            b.qemu_machine or "-",
        )
    console = Console()
    console.print(table)
    console.print("* default board; the clock is the one the harness runs at. Memory maps,")
    console.print("  UARTs, rated clocks: spq boards --json and docs/boards.md.")
