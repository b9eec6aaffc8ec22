# SPDX-License-Identifier: MIT
"""The board table, the linker scripts derived from it, and the firmware builds: every board
compiles, its ELF fits the board's memory map, the vector table is sound, the cache works."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from firmware_fixtures import fw_cache, static_model  # noqa: F401 (fixtures)

from spq.errors import SpqError
from spq.ir import FORMAT_VERSION
from spq.tools.boards import BOARDS, DEFAULT_BOARD, get_board
from spq.tools.build import build_firmware, linker_script

sys.path.insert(0, str(Path(__file__).resolve().parent / "c"))
import modelgen  # the hashes recomputed by hand (seal)

# Facts from the vendors' reference manuals and QEMU's machine models, written out
# independently of the table: (flash origin, flash size, RAM origin, RAM size, core).
EXPECTED = {
    "mps2-an385": (0x0, 4 << 20, 0x20000000, 4 << 20, "cortex-m3"),
    "mps2-an386": (0x0, 4 << 20, 0x20000000, 4 << 20, "cortex-m4"),
    "mps2-an500": (0x0, 4 << 20, 0x20000000, 4 << 20, "cortex-m7"),
    # QEMU 7.2 hw/arm/mps2-tz.c, an505_raminfo: SSRAM1 4 MiB at 0, SSRAM2/3 2 + 2 MiB at
    # 0x28000000; the Secure aliases (bit 28 set) because the M33 boots Secure at 0x10000000
    "mps2-an505": (0x10000000, 4 << 20, 0x38000000, 4 << 20, "cortex-m33"),
    "mps3-an547": (0x0, 512 << 10, 0x20000000, 128 << 10, "cortex-m55"),
    "nucleo-f446re": (0x08000000, 512 << 10, 0x20000000, 128 << 10, "cortex-m4"),
    "nucleo-h743zi": (0x08000000, 2 << 20, 0x20000000, 128 << 10, "cortex-m7"),
}


def test_board_table_matches_the_memory_maps() -> None:
    assert set(EXPECTED) <= set(BOARDS)
    for name, (fo, fs, ro, rs, core) in EXPECTED.items():
        b = get_board(name)
        assert (b.flash_origin, b.flash_size, b.ram_origin, b.ram_size, b.core) == (
            fo, fs, ro, rs, core,
        ), name
        assert f"-mcpu={core}" in b.cpu_flags
        assert b.stack_size < b.ram_size
    assert get_board(DEFAULT_BOARD).core == "cortex-m4"
    assert get_board("MPS2-AN386") is get_board("mps2-an386")


def test_qemu_boards_and_timers() -> None:
    for b in BOARDS.values():
        assert (b.qemu_machine is not None) == (b.timer == "systick-icount") == b.is_qemu
        assert b.unit == ("instructions" if b.is_qemu else "cycles")
    assert get_board("mps2-an386").instructions_per_tick() == 40
    assert float(get_board("mps3-an547").instructions_per_tick()) == 31.25
    assert get_board("mps3-an547").uart_base == 0x49303000
    hw = [b for b in BOARDS.values() if not b.is_qemu]
    assert len(hw) >= 2 and all(b.max_clock_hz > b.clock_hz for b in hw)


def test_unknown_board_lists_the_known_ones() -> None:
    with pytest.raises(SpqError) as info:
        get_board("stm32-nonexistent")
    for name in BOARDS:
        assert name in str(info.value)


def test_linker_script_comes_from_the_table() -> None:
    b = get_board("nucleo-h743zi")
    script = linker_script(b)
    assert "ORIGIN = 0x08000000, LENGTH = 0x200000" in script
    assert "ORIGIN = 0x20000000, LENGTH = 0x20000" in script
    assert f"STACK_SIZE = {b.stack_size:#x};" in script
    assert not re.search(r"@[A-Z_]+@", script)


def check_elf_layout(elf_path: Path, board_name: str) -> None:
    b = get_board(board_name)
    with open(elf_path, "rb") as f:
        elf = ELFFile(f)
        flash = (b.flash_origin, b.flash_origin + b.flash_size)
        ram = (b.ram_origin, b.ram_origin + b.ram_size)
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD" or seg["p_memsz"] == 0:
                continue
            lo, hi = seg["p_vaddr"], seg["p_vaddr"] + seg["p_memsz"]
            in_flash = flash[0] <= lo and hi <= flash[1]
            in_ram = ram[0] <= lo and hi <= ram[1]
            assert in_flash or in_ram, (board_name, hex(lo), hex(hi))
            if seg["p_filesz"]:  # loaded bytes (code, constants, .data image) live in flash
                plo = seg["p_paddr"]
                assert flash[0] <= plo and plo + seg["p_filesz"] <= flash[1]
        vectors = elf.get_section_by_name(".vectors")
        assert vectors["sh_addr"] == b.flash_origin
        words = [int.from_bytes(vectors.data()[i : i + 4], "little") for i in range(0, 16, 4)]
        sp, reset = words[0], words[1]
        assert ram[0] < sp <= ram[1] and sp % 8 == 0
        assert reset & 1 and flash[0] <= reset < flash[1]  # a Thumb address in flash
        assert elf.header["e_entry"] == reset & ~1 or elf.header["e_entry"] == reset


@pytest.mark.parametrize("board_name", sorted(EXPECTED))
def test_selftest_builds_for_every_board(board_name: str, fw_cache: Path) -> None:  # noqa: F811
    fw = build_firmware(get_board(board_name), variant="selftest")
    check_elf_layout(fw.elf, board_name)
    flags = json.loads((fw.elf.parent / "build.json").read_text())["cmd"]
    for flag in get_board(board_name).cpu_flags:
        assert flag in flags
    assert "-mthumb" in flags and "-Wl,--gc-sections" in flags


@pytest.mark.parametrize("board_name", ["nucleo-f446re", "nucleo-h743zi", "mps3-an547"])
def test_model_harness_builds_for_real_boards(
    board_name: str,
    static_model: Path,  # noqa: F811
    fw_cache: Path,  # noqa: F811
) -> None:
    fw = build_firmware(get_board(board_name), static_model)
    check_elf_layout(fw.elf, board_name)
    assert fw.model_name is not None
    # the model's descriptor and the runtime made it into the image
    syms = subprocess.run(
        ["arm-none-eabi-nm", str(fw.elf)], capture_output=True, text=True, check=True
    ).stdout
    assert f"{fw.model_name}_model" in syms and "spq_run" in syms


def test_build_cache(fw_cache: Path, static_model: Path) -> None:  # noqa: F811
    b = get_board("mps2-an386")
    first = build_firmware(b, static_model)
    again = build_firmware(b, static_model)
    assert again.cached and again.elf == first.elf
    other = build_firmware(b, static_model, extra_cflags=("-DSPQ_TEST_FLAG=1",))
    assert not other.cached and other.elf != first.elf
    assert first.elf.is_relative_to(fw_cache)


def test_build_errors_are_spq_errors(tmp_path: Path, fw_cache: Path,  # noqa: F811
                                    static_model: Path) -> None:  # noqa: F811
    with pytest.raises(SpqError, match=r"has no manifest\.json"):
        build_firmware(get_board("mps2-an386"), tmp_path)
    with pytest.raises(SpqError, match="needs an export directory"):
        build_firmware(get_board("mps2-an386"))
    broken = tmp_path / "broken"
    shutil.copytree(static_model, broken)
    name = json.loads((broken / "manifest.json").read_text())["name"]
    (broken / f"{name}.c").write_text("this is not C;\n")
    with pytest.raises(SpqError, match=rf"{name}\.c was changed after spq-export"):
        build_firmware(get_board("mps2-an386"), broken)
    modelgen.seal(broken)  # hashes recomputed: the compiler's error is reported
    with pytest.raises(SpqError, match="build for mps2-an386 failed"):
        build_firmware(get_board("mps2-an386"), broken)


def spq_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spq", *args], capture_output=True, text=True, timeout=60
    )


def test_spq_boards_command() -> None:
    proc = spq_cli("boards")
    assert proc.returncode == 0, proc.stderr
    for name in BOARDS:
        assert name in proc.stdout
    proc = spq_cli("boards", "--json")
    rows = json.loads(proc.stdout)
    assert [r["name"] for r in rows] == list(BOARDS)
    an547 = next(r for r in rows if r["name"] == "mps3-an547")
    assert an547["qemu_machine"] == "mps3-an547" and an547["ram_bytes"] == 128 * 1024


def test_a_model_too_big_for_the_board_is_a_clear_error(tmp_path: Path, fw_cache: Path) -> None:  # noqa: F811
    # A hand-written model whose constant tables exceed the AN547's 512 KiB of code memory.
    (tmp_path / "huge.h").write_text(
        '#include "spq.h"\n'
        "#define huge_ARENA_SIZE 64\n#define huge_INPUT_BYTES 4\n"
        "#define huge_NUM_CLASSES 2\n#define huge_NUM_LAYERS 1\n"
        "extern const spq_model_t huge_model;\n"
    )
    (tmp_path / "huge.c").write_text(
        '#include "huge.h"\n'
        "static const uint8_t weights[600000] = {1};\n"
        "static const spq_layer_t layers[1] = {{.type = SPQ_LAYER_READOUT, .weights = weights}};\n"
        'const spq_model_t huge_model = {.format_version = SPQ_FORMAT_VERSION, .name = "huge",\n'
        "    .num_layers = 1, .layers = layers};\n"
    )
    (tmp_path / "manifest.json").write_text(json.dumps({
        "format": "spq-export", "manifest_version": 2, "name": "huge",
        "format_version": FORMAT_VERSION, "input": {"kind": "static", "shape": [1, 1, 4]},
        "time_steps": 1, "num_classes": 2, "out_scale": 1.0, "layers": [{"type": "readout"}],
    }))
    modelgen.seal(tmp_path)
    with pytest.raises(SpqError, match=r"not fit mps3-an547 .*FLASH overflows by [\d,]+ bytes"):
        build_firmware(get_board("mps3-an547"), tmp_path)
    # the same model links on a board with 4 MiB of code memory
    assert build_firmware(get_board("mps2-an386"), tmp_path).elf.is_file()
