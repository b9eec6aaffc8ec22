# SPDX-License-Identifier: MIT
"""Program a firmware ELF into a board and start it: through any GDB server (our own remote
serial protocol client, spq.tools.gdbremote), pyOCD's Python API or OpenOCD. Every path
writes the ELF's loadable segments, verifies what was written, and starts the firmware.

    image = load_image(elf, board)          # refuses an image that does not fit the board
    result = flash_gdb(image, "127.0.0.1", 3333, timeout=10)
    result = flash_pyocd(image, uid=None)   # or flash_openocd(image, uid=None)

Errors are SpqErrors of one line: no probe found (and what was looked for), an image that
does not fit (before anything is written), a GDB server that does not answer, a verify
mismatch.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elftools.elf.elffile import ELFFile

from spq.errors import SpqError
from spq.tools.boards import Board
from spq.tools.gdbremote import GdbRemote, Region

OPENOCD = "openocd"
THUMB_XPSR = 1 << 24  # xPSR.T: M-profile cores execute Thumb only


class NoProbeError(SpqError):
    """No debug probe was found."""


@dataclass(frozen=True)
class Segment:
    addr: int  # load (physical) address
    data: bytes


@dataclass(frozen=True)
class Image:
    """The loadable part of a firmware ELF for one board."""

    elf: Path
    board: Board
    segments: tuple[Segment, ...]
    initial_sp: int
    reset_handler: int  # with the Thumb bit

    @property
    def size(self) -> int:
        return sum(len(s.data) for s in self.segments)


@dataclass
class FlashResult:
    method: str  # "gdb 127.0.0.1:3333", "pyocd (probe 0670FF...)", "openocd (interface/...)"
    bytes_written: int
    verified: str  # how: "read back", "OpenOCD verify"
    started: str  # how: "SP/PC from the vector table", "reset"
    log: list[str] = field(default_factory=list)


def load_image(elf: Path, board: Board) -> Image:
    """The ELF's PT_LOAD segments with file bytes, at their load addresses, checked against
    the board's flash; the initial SP and reset handler from its vector table. Raises an
    SpqError for an image that does not fit, before anything is written anywhere."""
    with open(elf, "rb") as f:
        ef = ELFFile(f)
        segs = [Segment(int(s["p_paddr"]), s.data()[: s["p_filesz"]])
                for s in ef.iter_segments()
                if s["p_type"] == "PT_LOAD" and s["p_filesz"] > 0]
    segs.sort(key=lambda s: s.addr)
    lo, hi = board.flash_origin, board.flash_origin + board.flash_size
    for s in segs:
        if not (lo <= s.addr and s.addr + len(s.data) <= hi):
            raise SpqError(
                f"{elf.name} does not fit {board.name}: {len(s.data):,} bytes at "
                f"{s.addr:#010x} lie outside its flash ({board.flash_size:,} B at {lo:#010x}); "
                "nothing was written")
    total = sum(len(s.data) for s in segs)
    if total > board.flash_size:
        raise SpqError(f"{elf.name} ({total:,} B) does not fit the {board.flash_size:,} B of "
                       f"flash of {board.name}; nothing was written")
    vec = board.vectors_origin
    words = _read_words(segs, vec, 2)
    if words is None:
        raise SpqError(f"{elf.name} has no vector table at {vec:#010x} (built for another "
                       "board?)")
    sp, reset = words
    if not (board.ram_origin < sp <= board.ram_origin + board.ram_size) or not reset & 1:
        raise SpqError(f"{elf.name}: the vector table at {vec:#010x} holds SP {sp:#010x} and "
                       f"reset {reset:#010x}, not a {board.name} firmware")
    return Image(Path(elf), board, tuple(segs), sp, reset)


def _read_words(segs: Sequence[Segment], addr: int, n: int) -> tuple[int, ...] | None:
    for s in segs:
        if s.addr <= addr and addr + 4 * n <= s.addr + len(s.data):
            off = addr - s.addr
            return tuple(int.from_bytes(s.data[off + 4 * i : off + 4 * i + 4], "little")
                         for i in range(n))
    return None


def _first_difference(want: bytes, got: bytes) -> int:
    return next((i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b),
                min(len(want), len(got)))


def verify_segments(image: Image, read: Callable[[int, int], bytes], where: str) -> None:
    """Read every segment back and compare; raise on the first difference."""
    for s in image.segments:
        got = read(s.addr, len(s.data))
        if got != s.data:
            i = _first_difference(s.data, got)
            raise SpqError(
                f"{image.board.name}: verify failed after writing through {where}: at "
                f"{s.addr + i:#010x} wrote {s.data[i:i + 4].hex(' ')}, read back "
                f"{got[i:i + 4].hex(' ') or '(nothing)'}")


# ---- GDB server -------------------------------------------------------------------------


def _blocks(region: Region, addr: int, size: int) -> tuple[int, int]:
    """The erase range (start, length) of whole blocks covering [addr, addr + size)."""
    bs = region.blocksize or 1
    start = region.start + (addr - region.start) // bs * bs
    end = region.start + -(-(addr + size - region.start) // bs) * bs
    return start, end - start


def flash_gdb(image: Image, host: str, port: int, timeout: float = 10.0) -> FlashResult:
    """Load `image` through the GDB server at host:port: flash regions of the server's memory
    map through vFlashErase/vFlashWrite/vFlashDone, everything else with X/M writes; read
    every segment back; set SP, PC (and xPSR's Thumb bit) from the vector table, as a reset
    does; detach, which lets the target run."""
    where = f"the GDB server at {host}:{port}"
    log: list[str] = []
    with GdbRemote(host, port, timeout=timeout) as gdb:
        gdb.handshake()
        regions = gdb.memory_map()
        flash_parts: list[tuple[Region, Segment]] = []
        plain: list[Segment] = []
        for s in image.segments:
            region = None
            if regions is not None:
                region = next((r for r in regions if r.contains(s.addr, len(s.data))), None)
                if region is None:
                    raise SpqError(
                        f"{image.board.name}: {where} maps no memory at {s.addr:#010x} "
                        f"({len(s.data):,} B): wrong board or wrong server")
            if region is not None and region.kind == "flash":
                flash_parts.append((region, s))
            else:
                plain.append(s)
        if flash_parts:
            erased: set[tuple[int, int]] = set()
            for region, s in flash_parts:
                rng = _blocks(region, s.addr, len(s.data))
                if rng not in erased:
                    gdb.flash_erase(*rng)
                    erased.add(rng)
            for _region, s in flash_parts:
                gdb.flash_write(s.addr, s.data)
            gdb.flash_done()
            log.append(f"flash: {len(flash_parts)} segment(s) through vFlash")
        for s in plain:
            gdb.write_memory(s.addr, s.data)
        log.append(f"memory writes: {len(plain)} segment(s)")
        verify_segments(image, gdb.read_memory, where)
        gdb.write_register("sp", image.initial_sp)
        gdb.write_register("pc", image.reset_handler & ~1)
        gdb.write_register("xpsr", THUMB_XPSR)
        gdb.detach()
    return FlashResult(f"GDB server {host}:{port}", image.size, "read back",
                       f"SP {image.initial_sp:#010x}, PC {image.reset_handler & ~1:#010x} from "
                       "the vector table", log)


# ---- pyOCD ------------------------------------------------------------------------------

PYOCD_PROBES = "CMSIS-DAP, ST-LINK and J-Link probes"


def _pyocd() -> Any:
    try:
        from pyocd.core.helpers import ConnectHelper
        from pyocd.flash.file_programmer import FileProgrammer
    except ImportError:
        return None
    return ConnectHelper, FileProgrammer


def pyocd_installed() -> bool:
    return _pyocd() is not None


def pyocd_probes(uid: str | None = None) -> list[Any]:
    """The debug probes pyOCD sees (filtered by unique id), [] without pyOCD."""
    api = _pyocd()
    if api is None:
        return []
    return list(api[0].get_all_connected_probes(blocking=False, unique_id=uid))


def pyocd_options(board: Board) -> dict[str, Any]:
    """The session options spq passes to pyOCD for `board`."""
    return {"target_override": board.pyocd_target, "connect_mode": "halt",
            "frequency": 4_000_000, "auto_unlock": False}


def flash_pyocd(image: Image, uid: str | None = None, api: Any = None) -> FlashResult:
    """Program through pyOCD's Python API: a session on the chosen probe with the board's
    target type, FileProgrammer for the ELF (pyOCD's flash algorithms erase and write),
    every segment read back through the target, then a reset that starts the firmware.
    `api` is (ConnectHelper, FileProgrammer); tests pass fakes of the two."""
    board = image.board
    if board.pyocd_target is None:
        raise SpqError(f"board {board.name} has no pyOCD target type"
                       + (" (a QEMU machine: use --gdb with QEMU's -gdb)" if board.is_qemu
                          else ""))
    api = api or _pyocd()
    if api is None:
        raise NoProbeError("pyOCD is not installed (pip install pyocd; it finds "
                           f"{PYOCD_PROBES})")
    connect_helper, file_programmer = api
    probes = list(connect_helper.get_all_connected_probes(blocking=False, unique_id=uid))
    if not probes:
        wanted = f" with unique id {uid!r}" if uid else ""
        raise NoProbeError(f"no debug probe found: pyOCD looked for {PYOCD_PROBES}{wanted} "
                           "on USB")
    if len(probes) > 1:
        ids = ", ".join(str(p.unique_id) for p in probes)
        raise SpqError(f"{len(probes)} debug probes found ({ids}): choose one with --uid")
    probe_id = str(probes[0].unique_id)
    opts = pyocd_options(board)
    try:
        session = connect_helper.session_with_chosen_probe(
            blocking=False, unique_id=probe_id, target_override=opts.pop("target_override"),
            options=opts)
    except Exception as exc:  # pyOCD raises its own error classes
        raise SpqError(_pyocd_error(board, exc)) from None
    if session is None:
        raise NoProbeError(f"no debug probe found: pyOCD could not open probe {probe_id}")
    try:
        with session:
            file_programmer(session).program(str(image.elf), file_format="elf")
            target = session.target

            def read(addr: int, size: int) -> bytes:
                return bytes(target.read_memory_block8(addr, size))

            verify_segments(image, read, f"pyOCD (probe {probe_id})")
            target.reset()
    except SpqError:
        raise
    except Exception as exc:
        raise SpqError(_pyocd_error(board, exc)) from None
    return FlashResult(f"pyOCD, probe {probe_id}, target {board.pyocd_target}", image.size,
                       "read back", "reset")


def _pyocd_error(board: Board, exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if "not recognized" in text.lower() or "target type" in text.lower():
        hint = (f"; install its pack first: pyocd pack install {board.pyocd_pack}"
                if board.pyocd_pack else "")
        return f"pyOCD does not know target {board.pyocd_target!r}{hint} ({text})"
    return f"{board.name}: pyOCD failed: {text}"


# ---- OpenOCD ----------------------------------------------------------------------------

# OpenOCD's words for "no adapter there" (ST-LINK, CMSIS-DAP, J-Link, libusb)
_OPENOCD_NO_PROBE = re.compile(
    r"open failed|unable to find a matching CMSIS-DAP device|No J-Link device found|"
    r"No device selected|unable to open ftdi device|No CMSIS-DAP device found|"
    r"could not find or open device|can't find a matching", re.I)


def openocd_command(image: Image, uid: str | None = None) -> list[str]:
    """The OpenOCD command line that programs, verifies (read back), resets and exits."""
    board = image.board
    if board.openocd_interface is None or board.openocd_target is None:
        raise SpqError(f"board {board.name} has no OpenOCD configuration"
                       + (" (a QEMU machine: use --gdb with QEMU's -gdb)" if board.is_qemu
                          else " in Debian's OpenOCD 0.12: use --probe pyocd"))
    cmd = [OPENOCD, "-f", board.openocd_interface]
    if uid:
        cmd += ["-c", f"adapter serial {uid}"]
    cmd += ["-f", board.openocd_target,
            "-c", f"program {{{image.elf}}} verify reset exit"]
    return cmd


def flash_openocd(image: Image, uid: str | None = None, timeout: float = 120.0,
                  run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run
                  ) -> FlashResult:
    """Program with OpenOCD's `program ... verify reset exit`."""
    cmd = openocd_command(image, uid)
    if run is subprocess.run and shutil.which(OPENOCD) is None:
        raise NoProbeError("OpenOCD is not installed (apt-get install openocd)")
    try:
        proc = run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise SpqError(f"{image.board.name}: OpenOCD did not finish within {timeout:g} s") \
            from None
    out = (proc.stderr or "") + (proc.stdout or "")
    if proc.returncode == 0 and "Verified OK" in out:
        return FlashResult(f"OpenOCD ({image.board.openocd_interface}, "
                           f"{image.board.openocd_target})", image.size,
                           "OpenOCD verify (read back)", "reset")
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("Error")]
    if _OPENOCD_NO_PROBE.search(out):
        wanted = f" with serial {uid!r}" if uid else ""
        raise NoProbeError(
            f"no debug probe found: OpenOCD looked for the adapter of "
            f"{image.board.openocd_interface}{wanted} ({errors[0] if errors else lines[-1]})")
    if "verify failed" in out.lower():
        raise SpqError(f"{image.board.name}: OpenOCD's verify failed after programming")
    detail = errors[0] if errors else (lines[-1] if lines else f"exit code {proc.returncode}")
    raise SpqError(f"{image.board.name}: OpenOCD failed: {detail}")
