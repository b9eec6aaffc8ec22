# SPDX-License-Identifier: MIT
"""Cross-compile the device harness (firmware/) with the C runtime (runtime_c/src) and an
exported model (OUT/NAME.c) for one board, with arm-none-eabi-gcc (build_firmware); the same
recipe builds other firmwares from firmware/ pieces (build_elf) and third-party static
libraries (build_library), as bench/bench_cmsis.py does for CMSIS-NN.

Builds are cached by content: the hash covers every source file, the model files, the board
entry, the flags and the compiler version, so an unchanged build is a lookup.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from spq.errors import SpqError
from spq.paths import firmware_dir, runtime_dir
from spq.runtime.build import WARNING_FLAGS
from spq.tools.boards import Board

Variant = Literal["harness", "selftest", "silent", "crash"]

CC = "arm-none-eabi-gcc"
AR = "arm-none-eabi-ar"
CFLAGS = (  # after -mthumb and the board's CPU flags
    "-O2",
    *WARNING_FLAGS,
    "-ffunction-sections",
    "-fdata-sections",
    "-ffreestanding",
    "-g",
)
LDFLAGS = ("-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections")
FIRMWARE_SOURCES = ("startup.c", "system.c", "uart.c", "timer.c", "protocol.c", "harness.c")
BUILD_FORMAT = 2  # bump when the build recipe changes


@dataclass(frozen=True)
class ExportedModel:
    """The C side of an export directory: OUT/NAME.c and OUT/NAME.h."""

    directory: Path
    name: str

    @property
    def c_file(self) -> Path:
        return self.directory / f"{self.name}.c"

    @property
    def h_file(self) -> Path:
        return self.directory / f"{self.name}.h"


def _macro_prefix(header: str, name: str) -> str | None:
    """The prefix of the model's #defines (NAME_ARENA_SIZE, ...): NAME as written, or
    upper-cased."""
    for prefix in (name, name.upper()):
        if re.search(rf"#define\s+{re.escape(prefix)}_ARENA_SIZE\b", header):
            return prefix
    return None


def find_model(out_dir: Path) -> ExportedModel:
    """Locate NAME.c/NAME.h in an export directory (the name comes from manifest.json when
    present, else from the single NAME.h that defines NAME_ARENA_SIZE)."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise SpqError(f"{out_dir} is not an export directory")
    manifest = out_dir / "manifest.json"
    names: list[str] = []
    if manifest.is_file():
        try:
            name = json.loads(manifest.read_text()).get("name")
        except (json.JSONDecodeError, AttributeError):
            name = None
        if isinstance(name, str):
            names = [name]
    if not names:
        for h in sorted(out_dir.glob("*.h")):
            if _macro_prefix(h.read_text(), h.stem) is not None:
                names.append(h.stem)
    if len(names) != 1:
        raise SpqError(f"{out_dir}: expected one exported model (NAME.c, NAME.h), found {names}")
    model = ExportedModel(out_dir, names[0])
    for f in (model.c_file, model.h_file):
        if not f.is_file():
            raise SpqError(f"{out_dir}: missing {f.name} (run spq-export first)")
    return model


@dataclass(frozen=True)
class Firmware:
    elf: Path
    board: Board
    variant: Variant
    model_name: str | None
    cached: bool


def cache_root() -> Path:
    env = os.environ.get("SPQ_CACHE_DIR")
    base = Path(env) if env else Path.home() / ".cache" / "spq"
    return base / "firmware"


def _compiler_version() -> str:
    if shutil.which(CC) is None:
        raise SpqError(
            f"{CC} not found: install gcc-arm-none-eabi and libnewlib-arm-none-eabi "
            "(make toolchain)"
        )
    out = subprocess.run([CC, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else "unknown"


def board_defines(board: Board) -> list[str]:
    defs = [
        f"-DFW_UART_{board.uart_kind.upper()}",
        f"-DFW_UART_BASE={board.uart_base:#x}u",
        f"-DFW_CLOCK_HZ={board.clock_hz}u",
        f'-DFW_BOARD_NAME="{board.name}"',
        f"-DFW_RX_GAP_MS={board.rx_gap_ms}u",
    ]
    if board.is_qemu:
        ipt = board.instructions_per_tick()
        defs += [
            "-DFW_SEMIHOSTING",
            f"-DFW_IPT_NUM={ipt.numerator}u",
            f"-DFW_IPT_DEN={ipt.denominator}u",
        ]
    return defs


def linker_script(board: Board) -> str:
    template = (firmware_dir() / "link.ld.in").read_text()
    fields = {
        "FLASH_ORIGIN": f"{board.flash_origin:#010x}",
        "FLASH_SIZE": f"{board.flash_size:#x}",
        "RAM_ORIGIN": f"{board.ram_origin:#010x}",
        "RAM_SIZE": f"{board.ram_size:#x}",
        "STACK_SIZE": f"{board.stack_size:#x}",
    }
    for key, value in fields.items():
        template = template.replace(f"@{key}@", value)
    left = re.findall(r"@[A-Z_]+@", template)
    if left:
        raise SpqError(f"firmware/link.ld.in has unknown fields {left}")
    return template


def _model_config(model: ExportedModel) -> str:
    up = _macro_prefix(model.h_file.read_text(), model.name)
    if up is None:
        raise SpqError(f"{model.h_file} does not define {model.name}_ARENA_SIZE")
    return (
        "/* generated by spq.tools.build */\n"
        f'#include "{model.name}.h"\n'
        f"#define FW_MODEL {model.name}_model\n"
        f"#define FW_ARENA_SIZE {up}_ARENA_SIZE\n"
        f"#define FW_INPUT_BYTES {up}_INPUT_BYTES\n"
        f"#define FW_NUM_CLASSES {up}_NUM_CLASSES\n"
        f"#define FW_NUM_LAYERS {up}_NUM_LAYERS\n"
    )


def _hash_files(digest: Any, files: Sequence[Path]) -> None:
    for f in files:
        digest.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")


def _publish(tmp: Path, target: Path, product: Path) -> None:
    """Move a finished build directory into the cache (atomic; a concurrent identical build
    may win)."""
    try:
        os.replace(tmp, target)
    except OSError:
        if not product.is_file():
            raise
    else:
        tmp.mkdir()  # TemporaryDirectory cleans up the (now empty) name


def build_elf(
    board: Board,
    tag: str,
    sources: Sequence[Path],
    headers: Sequence[Path],
    cflags: Sequence[str],
    include_dirs: Sequence[Path] = (),
    generated: Mapping[str, str] | None = None,
    libraries: Sequence[Path] = (),
    info: Mapping[str, object] | None = None,
) -> tuple[Path, bool]:
    """Compile and link `sources` for `board` in one arm-none-eabi-gcc call, or fetch the
    ELF from the cache: `(elf, cached)`.

    `cflags` come after the board's CPU flags and `-mthumb`; `generated` files (name -> text)
    are written to the build folder, which is on the include path; `libraries` are linked
    after the sources. The cache key covers every input, the flags and the compiler."""
    generated = dict(generated or {})
    cmd_flags = ["-mthumb", *board.cpu_flags, *cflags]
    digest = hashlib.sha256()
    digest.update(f"{BUILD_FORMAT}\n{_compiler_version()}\n{board!r}\n{tag}\n".encode())
    digest.update("\0".join([*cmd_flags, *LDFLAGS, *map(str, include_dirs)]).encode())
    digest.update(linker_script(board).encode())
    for name, text in sorted(generated.items()):
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    _hash_files(digest, [*sources, *headers, *libraries])
    target = cache_root() / f"{board.name}-{tag}-{digest.hexdigest()[:24]}"
    elf = target / "firmware.elf"
    if elf.is_file():
        return elf, True

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "link.ld").write_text(linker_script(board))
        for name, text in generated.items():
            (tmp / name).write_text(text)
        cmd = [
            CC,
            *cmd_flags,
            *[f"-I{d}" for d in include_dirs],
            f"-I{tmp}",
            *[str(s) for s in sources],
            *[str(lib) for lib in libraries],
            f"-T{tmp / 'link.ld'}",
            *LDFLAGS,
            f"-Wl,-Map={tmp / 'firmware.map'}",
            "-o",
            str(tmp / "firmware.elf"),
            "-lgcc",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            text = (proc.stderr or proc.stdout).strip()
            overflows = re.findall(r"region [`']?(\w+)'? overflowed by (\d+) bytes", text)
            if overflows:
                parts = ", ".join(f"{reg} overflows by {int(n):,} bytes" for reg, n in overflows)
                raise SpqError(
                    f"the firmware does not fit {board.name} "
                    f"(flash {board.flash_size:,} B, RAM {board.ram_size:,} B): "
                    f"{parts}"
                )
            detail = "\n".join(text.splitlines()[-25:])
            raise SpqError(f"firmware build for {board.name} failed:\n{detail}")
        (tmp / "build.json").write_text(json.dumps({"board": board.name, **(info or {}),
                                                    "cmd": cmd}))
        _publish(tmp, target, elf)
    return elf, False


def build_library(
    board: Board,
    name: str,
    sources: Sequence[Path],
    headers: Sequence[Path],
    cflags: Sequence[str],
    include_dirs: Sequence[Path] = (),
) -> Path:
    """Compile `sources` (third-party code, with its own `cflags`) for `board` into a static
    library `lib<name>.a`, or fetch it from the cache (keyed like build_elf). The sources
    compile in parallel, one compiler per core; their file names must differ."""
    if len({Path(s).stem for s in sources}) != len(sources):
        raise SpqError(f"lib{name}: two sources share a file name (their objects would clash)")
    cmd_flags = ["-mthumb", *board.cpu_flags, *cflags]
    digest = hashlib.sha256()
    digest.update(f"{BUILD_FORMAT}\n{_compiler_version()}\n{board!r}\n{name}\n".encode())
    digest.update("\0".join([*cmd_flags, *map(str, include_dirs)]).encode())
    _hash_files(digest, [*sources, *headers])
    target = cache_root() / f"{board.name}-lib{name}-{digest.hexdigest()[:24]}"
    lib = target / f"lib{name}.a"
    if lib.is_file():
        return lib

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp_name:
        tmp = Path(tmp_name)
        cmd = [CC, *cmd_flags, *[f"-I{d}" for d in include_dirs], "-c"]
        jobs = max(1, min(os.cpu_count() or 1, len(sources)))
        chunks = [[str(s) for s in sources[i::jobs]] for i in range(jobs)]
        with ThreadPoolExecutor(max_workers=jobs) as pool:  # one compiler per core
            procs = list(pool.map(
                lambda chunk: subprocess.run([*cmd, *chunk], capture_output=True, text=True,
                                             check=False, cwd=tmp), chunks))
        proc = next((p for p in procs if p.returncode != 0), procs[0])
        if proc.returncode == 0:
            objects = sorted(p.name for p in tmp.glob("*.o"))
            proc = subprocess.run([AR, "rcs", lib.name, *objects], capture_output=True,
                                  text=True, check=False, cwd=tmp)
        if proc.returncode != 0:
            detail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-25:])
            raise SpqError(f"building lib{name}.a for {board.name} failed:\n{detail}")
        for obj in tmp.glob("*.o"):
            obj.unlink()
        _publish(tmp, target, lib)
    return lib


def build_firmware(
    board: Board,
    model_dir: Path | None = None,
    variant: Variant = "harness",
    extra_cflags: tuple[str, ...] = (),
) -> Firmware:
    """Build (or fetch from the cache) the firmware ELF for `board`.

    `variant` "harness" needs `model_dir` (an export directory); "selftest", "silent" and
    "crash" are model-free firmwares for protocol and error-path checks."""
    model: ExportedModel | None = None
    if variant == "harness":
        if model_dir is None:
            raise SpqError("the harness firmware needs an export directory")
        model = find_model(Path(model_dir))
    fw_dir = firmware_dir()
    rt_dir = runtime_dir()
    rt_sources = sorted((rt_dir / "src").glob("*.c")) if model else []
    if model and not rt_sources:
        raise SpqError(f"no C runtime sources in {rt_dir / 'src'}")

    cflags = [*CFLAGS, *board_defines(board), *extra_cflags]
    if variant == "silent":
        cflags.append("-DFW_VARIANT_SILENT")
    elif variant == "crash":
        cflags.append("-DFW_VARIANT_CRASH")
    if model:
        cflags.append('-DFW_MODEL_HEADER="fw_model.h"')
    sources = [fw_dir / s for s in FIRMWARE_SOURCES]
    if model:
        sources += [*rt_sources, model.c_file]
    headers = sorted(fw_dir.glob("*.h")) + sorted((rt_dir / "include").glob("*.h"))
    headers += sorted((rt_dir / "src").glob("*.h")) if model else []
    if model:
        headers.append(model.h_file)
    includes = [fw_dir, rt_dir / "include"]
    generated = {}
    if model:
        generated["fw_model.h"] = _model_config(model)
        includes += [rt_dir / "src", model.directory]
    name = model.name if model else None
    elf, cached = build_elf(board, variant, sources, headers, cflags, includes, generated,
                            info={"variant": variant, "model": name})
    return Firmware(elf, board, variant, name, cached=cached)
