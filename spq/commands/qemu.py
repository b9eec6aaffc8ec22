# SPDX-License-Identifier: MIT
"""`spq qemu OUT`: an alias of `spq run OUT --board B` for QEMU boards, kept for old scripts."""

from __future__ import annotations

from spq.cli import BoardOption, ExportDirArg, InputOption, JsonFlag, TimeoutOption, handle_errors
from spq.errors import SpqError
from spq.tools.boards import DEFAULT_BOARD, get_board


@handle_errors
def command(
    out: ExportDirArg,
    board: BoardOption = DEFAULT_BOARD,
    input: InputOption = None,
    as_json: JsonFlag = False,
    timeout: TimeoutOption = 60.0,
) -> None:
    """Alias of `spq run OUT --board B` (default mps2-an386), kept for old scripts: use `spq run
    --board`. Runs OUT on a QEMU board and exits 2 on any difference from the host runtime."""
    from spq.tools.device import report_board_run, run_on_board

    if not get_board(board).is_qemu:
        raise SpqError(f"board {board} has no QEMU machine (use `spq run OUT --board {board} "
                       "--port PORT` on the flashed board)")
    run, inputs = run_on_board(out, board, None, input, timeout, show_progress=not as_json)
    report_board_run(run, inputs, as_json)
