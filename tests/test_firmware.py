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

from spq.errors import SpqError
from spq.ir import FORMAT_VERSION
from spq.tools.boards import BOARDS, DEFAULT_BOARD, Board, get_board
from spq.tools.firmware import build_firmware, linker_script
from tests.support import modelgen  # the hashes recomputed by hand (seal)

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
    # QEMU 7.2 include/hw/arm/nrf51.h and hw/arm/nrf51_soc.c: NRF51822 flash 256 pages of 1 KiB
    # at 0, SRAM 16 pages at 0x20000000, cortex-m0
    "microbit": (0x0, 256 << 10, 0x20000000, 16 << 10, "cortex-m0"),
    # RM0351: 1 MiB flash at 0x08000000, SRAM1 96 KiB at 0x20000000
    "nucleo-l476rg": (0x08000000, 1 << 20, 0x20000000, 96 << 10, "cortex-m4"),
    # nRF52840 product specification: 1 MiB flash at 0, 256 KiB RAM at 0x20000000
    "nrf52840-dk": (0x0, 1 << 20, 0x20000000, 256 << 10, "cortex-m4"),
    # RP2040 / RP2350 datasheets: XIP flash at 0x10000000 (Pico 2 MiB, Pico 2 4 MiB), striped
    # SRAM at 0x20000000 (264 KiB of which 256 striped; 520 KiB of which 512 striped)
    "rpi-pico": (0x10000000, 2 << 20, 0x20000000, 256 << 10, "cortex-m0plus"),
    "rpi-pico2": (0x10000000, 4 << 20, 0x20000000, 512 << 10, "cortex-m33"),
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
    assert float(get_board("microbit").instructions_per_tick()) == 62.5  # 16 MHz HCLK
    hw = [b for b in BOARDS.values() if not b.is_qemu]
    assert len(hw) >= 2 and all(b.max_clock_hz >= b.clock_hz for b in hw)
    for b in BOARDS.values():
        assert b.clock_note, b.name  # every board says where its clock comes from
        # ARMv6-M has no cycle counter: hardware M0/M0+ boards time with SysTick
        if not b.is_qemu:
            assert b.timer == ("systick" if b.armv6m else "dwt"), b.name


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
        assert vectors["sh_addr"] == b.vectors_origin
        check_boot_block(elf, b)
        words = [int.from_bytes(vectors.data()[i : i + 4], "little") for i in range(0, 16, 4)]
        sp, reset = words[0], words[1]
        assert ram[0] < sp <= ram[1] and sp % 8 == 0
        assert reset & 1 and flash[0] <= reset < flash[1]  # a Thumb address in flash
        assert elf.header["e_entry"] == reset & ~1 or elf.header["e_entry"] == reset


def check_boot_block(elf: ELFFile, b: Board) -> None:
    """What the boot ROM reads in front of or after the vector table, checked by hand."""
    boot2 = elf.get_section_by_name(".boot2")
    if b.boot == "rp2040-boot2":
        data = boot2.data()
        assert boot2["sh_addr"] == b.flash_origin and len(data) == 256
        # the ROM's check: CRC-32/MPEG-2 of bytes 0..251, little-endian in 252..255
        # (computed here with a table-free reference: the MSB-first long division)
        rem = int.from_bytes(data[:252], "big") << 32 ^ (0xFFFFFFFF << (8 * 252))
        poly = 0x104C11DB7
        for bit in range(rem.bit_length() - 1, 31, -1):
            if rem >> bit & 1:
                rem ^= poly << (bit - 32)
        assert rem == int.from_bytes(data[252:], "little")
        code = data[:252].rstrip(b"\0")
        assert 16 < len(code) < 252  # real code, padded
    else:
        assert boot2 is None or boot2["sh_size"] == 0
    vec = elf.get_section_by_name(".vectors").data()
    marker = (0xFFFFDED3).to_bytes(4, "little")
    if b.boot == "rp2350-image-def":
        start = vec.index(marker)
        assert start >= 64 and b.vectors_origin + start < b.flash_origin + 4096
        words = [int.from_bytes(vec[start + i : start + i + 4], "little") for i in range(0, 20, 4)]
        assert words == [0xFFFFDED3, 0x10210142, 0x000001FF, 0, 0xAB123579]
    else:
        assert marker not in vec


@pytest.mark.parametrize("board_name", sorted(EXPECTED))
def test_selftest_builds_for_every_board(board_name: str, fw_cache: Path) -> None:
    fw = build_firmware(get_board(board_name), variant="selftest")
    check_elf_layout(fw.elf, board_name)
    flags = json.loads((fw.elf.parent / "build.json").read_text())["cmd"]
    for flag in get_board(board_name).cpu_flags:
        assert flag in flags
    assert "-mthumb" in flags and "-Wl,--gc-sections" in flags


@pytest.mark.parametrize("board_name", [b for b in sorted(EXPECTED) if not b.startswith("mps2")])
def test_model_harness_builds_for_real_boards(
    board_name: str,
    static_model: Path,
    fw_cache: Path,
) -> None:
    fw = build_firmware(get_board(board_name), static_model)
    check_elf_layout(fw.elf, board_name)
    assert fw.model_name is not None
    # the model's descriptor and the runtime made it into the image
    syms = subprocess.run(
        ["arm-none-eabi-nm", str(fw.elf)], capture_output=True, text=True, check=True
    ).stdout
    assert f"{fw.model_name}_model" in syms and "spq_run" in syms


def test_build_cache(fw_cache: Path, static_model: Path) -> None:
    b = get_board("mps2-an386")
    first = build_firmware(b, static_model)
    again = build_firmware(b, static_model)
    assert again.cached and again.elf == first.elf
    other = build_firmware(b, static_model, extra_cflags=("-DSPQ_TEST_FLAG=1",))
    assert not other.cached and other.elf != first.elf
    assert first.elf.is_relative_to(fw_cache)


def test_build_errors_are_spq_errors(tmp_path: Path, fw_cache: Path,
                                    static_model: Path) -> None:
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


def write_huge_model(root: Path) -> Path:
    """A hand-written sealed export whose constant tables exceed the AN547's 512 KiB of code
    memory (and fit 4 MiB)."""
    (root / "huge.h").write_text(
        '#include "spq.h"\n'
        "#define huge_ARENA_SIZE 64\n#define huge_INPUT_BYTES 4\n"
        "#define huge_NUM_CLASSES 2\n#define huge_NUM_LAYERS 1\n"
        "extern const spq_model_t huge_model;\n"
    )
    (root / "huge.c").write_text(
        '#include "huge.h"\n'
        "static const uint8_t weights[600000] = {1};\n"
        "static const spq_layer_t layers[1] = {{.type = SPQ_LAYER_READOUT, .weights = weights}};\n"
        'const spq_model_t huge_model = {.format_version = SPQ_FORMAT_VERSION, .name = "huge",\n'
        "    .num_layers = 1, .layers = layers};\n"
    )
    (root / "manifest.json").write_text(json.dumps({
        "format": "spq-export", "manifest_version": 2, "name": "huge",
        "format_version": FORMAT_VERSION, "input": {"kind": "static", "shape": [1, 1, 4]},
        "time_steps": 1, "num_classes": 2, "out_scale": 1.0, "layers": [{"type": "readout"}],
    }))
    modelgen.seal(root)
    return root


def test_a_model_too_big_for_the_board_is_a_clear_error(tmp_path: Path, fw_cache: Path) -> None:
    write_huge_model(tmp_path)
    with pytest.raises(SpqError, match=r"not fit mps3-an547 .*FLASH overflows by [\d,]+ bytes"):
        build_firmware(get_board("mps3-an547"), tmp_path)
    # the same model links on a board with 4 MiB of code memory
    assert build_firmware(get_board("mps2-an386"), tmp_path).elf.is_file()


def test_runtime_code_bytes_count_its_assembly_functions(fw_cache: Path, static_model: Path,
                                                         tmp_path: Path) -> None:
    """The runtime's .text (what bench_qemu reports against issue 10's 24 KB) counts every
    function of runtime_c/src, also those written in top-level assembly, which have no debug
    information of their own (the Thumb-2 conv window on the M4)."""
    from spq.runtime.library import runtime_dir
    from spq.tools.elfinfo import code_bytes_by_source, code_bytes_under

    fw = build_firmware(get_board("mps2-an386"), static_model)
    with open(fw.elf, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        spq_funcs = {s.name: int(s["st_size"]) for s in symtab.iter_symbols()
                     if s["st_info"]["type"] == "STT_FUNC" and s["st_size"]
                     and s.name.startswith("spq_")}
    assert "spq_w4_win3_t2" in spq_funcs  # the assembly window is linked on the M4
    counted = code_bytes_under(code_bytes_by_source(fw.elf), runtime_dir() / "src")
    # every runtime function is named spq_*; static helpers may be named otherwise, so the
    # runtime's bytes are at least the spq_* symbols' and not far above them
    assert sum(spq_funcs.values()) <= counted < sum(spq_funcs.values()) + 4096, (
        counted, sum(spq_funcs.values()))
    # without the linker map beside it, the assembly window has no source: not counted
    alone = tmp_path / "firmware.elf"
    shutil.copyfile(fw.elf, alone)
    without = code_bytes_under(code_bytes_by_source(alone), runtime_dir() / "src")
    assert without == counted - spq_funcs["spq_w4_win3_t2"]
