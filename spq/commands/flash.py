# SPDX-License-Identifier: MIT
"""`spq flash OUT --board B`: build the harness firmware for B, program it through a debug
probe (pyOCD, OpenOCD) or any GDB server, verify, start it, and optionally check that it
answers on its serial port."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from spq.cli import ExportDirArg, JsonFlag, handle_errors
from spq.errors import SpqError

PROBES = ("auto", "pyocd", "openocd")


def flash_command(out: Path, board_name: str, probe: str, uid: str | None, gdb: str | None,
                  timeout: float, port: str | None) -> dict[str, Any]:
    from spq.export.directory import open_export
    from spq.tools import flash as fl
    from spq.tools.boards import get_board
    from spq.tools.firmware import build_firmware
    from spq.tools.gdbremote import parse_host_port

    if probe not in PROBES:
        raise SpqError(f"--probe must be one of {', '.join(PROBES)}, got {probe!r}")
    if gdb is not None and probe != "auto":
        raise SpqError("--gdb and --probe are two ways to flash: give one of them")
    if timeout <= 0:
        raise SpqError(f"--timeout must be positive, got {timeout:g}")
    board = get_board(board_name)
    host_port = parse_host_port(gdb) if gdb is not None else None
    export = open_export(out)
    firmware = build_firmware(board, export, variant="harness")  # refuses a misfit
    image = fl.load_image(firmware.elf, board)  # and checks the image, before any write
    if host_port is not None:
        result = fl.flash_gdb(image, *host_port, timeout=timeout)
    elif probe == "pyocd":
        result = fl.flash_pyocd(image, uid)
    elif probe == "openocd":
        result = fl.flash_openocd(image, uid, timeout=max(timeout, 60.0))
    else:
        result = _flash_auto(image, uid, timeout)
    record: dict[str, Any] = {
        "board": board.name, "core": board.core, "clock_hz": board.clock_hz,
        "model": export.name, "firmware": str(firmware.elf), "bytes": result.bytes_written,
        "segments": len(image.segments), "method": result.method,
        "verified": result.verified, "started": result.started,
    }
    if port is not None:
        record["answering"] = check_answers(export, board, port, timeout)
    return record


def _flash_auto(image: Any, uid: str | None, timeout: float) -> Any:
    """pyOCD when it sees a probe; else OpenOCD when installed and configured for the board;
    else one error naming everything that was looked for."""
    import shutil

    from spq.tools import flash as fl

    board = image.board
    looked: list[str] = []
    if board.pyocd_target is not None:
        if not fl.pyocd_installed():
            looked.append("pyOCD is not installed")
        elif fl.pyocd_probes(uid):
            return fl.flash_pyocd(image, uid)
        else:
            looked.append(f"pyOCD found no {fl.PYOCD_PROBES}"
                          + (f" with unique id {uid!r}" if uid else ""))
    if board.openocd_target is not None:
        if shutil.which(fl.OPENOCD) is None:
            looked.append("OpenOCD is not installed")
        else:
            try:
                return fl.flash_openocd(image, uid, timeout=max(timeout, 60.0))
            except fl.NoProbeError as exc:
                looked.append(str(exc).removeprefix("no debug probe found: "))
    if not looked:
        raise SpqError(f"board {board.name} has no probe configuration"
                       + (" (a QEMU machine: start QEMU with -gdb and use --gdb HOST:PORT)"
                          if board.is_qemu else ""))
    raise fl.NoProbeError(f"no debug probe found for {board.name}: " + "; ".join(looked))


def check_answers(export: Any, board: Any, port: str, timeout: float) -> dict[str, Any]:
    """HELLO over `port`: the flashed firmware must answer with the export's model."""
    from spq.tools.device import check_device
    from spq.tools.runner import SerialRunner

    wait = min(timeout, 10.0)
    try:
        with SerialRunner(board, port, timeout=wait) as runner:
            info = runner.hello()
    except SpqError as exc:
        if "timed out" not in str(exc):
            raise
        raise SpqError(
            f"{board.name}: flashed and started, but the firmware is silent on {port} (no "
            f"answer to HELLO within {wait:g} s): check the port, the baud rate (115200 8N1) "
            f"and that the board's UART reaches it ({board.serial_note})") from None
    check_device(info, export, board)
    return {"port": port, "board": info.board, "model": info.model, "clock_hz": info.clock_hz,
            "unit": info.unit}


@handle_errors
def command(
    out: ExportDirArg,
    board: Annotated[str, typer.Option("--board", "-b", help="board (spq boards)")],
    probe: Annotated[str, typer.Option(
        help="auto, pyocd or openocd")] = "auto",
    uid: Annotated[str | None, typer.Option(
        "--uid", help="the probe's unique id / serial number")] = None,
    gdb: Annotated[str | None, typer.Option(
        "--gdb", help="load through the GDB server at HOST:PORT instead of a probe")] = None,
    timeout: Annotated[float, typer.Option(
        help="seconds to wait for the GDB server, the probe and the firmware")] = 10.0,
    port: Annotated[str | None, typer.Option(
        "--port", help="after flashing, check that the firmware answers here "
        "(/dev/ttyACM0 or socket://HOST:PORT)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Build the harness firmware for --board (the same build and cache as spq profile),
    program it, verify what was written (read back), reset or start it. --probe auto
    (default) uses pyOCD when it finds a probe (CMSIS-DAP, ST-LINK, J-Link), else OpenOCD;
    --gdb HOST:PORT loads through any GDB server (OpenOCD, pyOCD gdbserver, J-Link GDB
    server, QEMU -gdb) and sets SP/PC from the vector table. With --port the firmware must
    then answer on its serial port (HELLO, its model and board checked), else the error says
    it stayed silent."""
    rec = flash_command(out, board, probe, uid, gdb, timeout, port)
    if as_json:
        print(json.dumps(rec))
        return
    print(f"flashed {rec['model']} to {rec['board']} ({rec['core']}, "
          f"{rec['clock_hz'] / 1e6:g} MHz) through {rec['method']}: {rec['bytes']:,} bytes "
          f"in {rec['segments']} segment(s), verified ({rec['verified']}), started "
          f"({rec['started']})")
    if "answering" in rec:
        a = rec["answering"]
        print(f"the firmware answers on {a['port']}: model {a['model']}, board "
              f"{a['board']}, {a['clock_hz'] / 1e6:g} MHz, timing in {a['unit']}")
