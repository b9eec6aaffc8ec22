# SPDX-License-Identifier: MIT
"""Flash and RAM of a firmware ELF, from its section headers and symbol table (pyelftools)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import DWARFError, ELFError
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from spq.errors import SpqError


@dataclass(frozen=True)
class ElfSizes:
    sections: dict[str, int]  # every allocated section: name -> size
    text_bytes: int  # executable sections (vectors, code, veneers, unwind tables)
    rodata_bytes: int  # read-only data in flash (model weights and tables included)
    data_bytes: int  # initialised RAM data (its initial image also sits in flash)
    bss_bytes: int  # zero-initialised RAM (the arena included)
    stack_bytes: int  # the reserved stack section
    symbols: dict[str, int]  # object symbol -> size

    @property
    def flash_bytes(self) -> int:
        return self.text_bytes + self.rodata_bytes + self.data_bytes

    def symbol_size(self, name: str) -> int:
        return self.symbols.get(name, 0)


def read_sizes(elf_path: Path) -> ElfSizes:
    try:
        with open(elf_path, "rb") as f:
            elf = ELFFile(f)
            sections: dict[str, int] = {}
            text = rodata = data = bss = stack = 0
            for sec in elf.iter_sections():
                flags = sec["sh_flags"]
                if not flags & SH_FLAGS.SHF_ALLOC or sec["sh_size"] == 0:
                    continue
                size = int(sec["sh_size"])
                sections[sec.name] = size
                if sec.name == ".stack":
                    stack += size
                elif flags & SH_FLAGS.SHF_EXECINSTR:
                    text += size
                elif sec["sh_type"] == "SHT_NOBITS":
                    bss += size
                elif flags & SH_FLAGS.SHF_WRITE:
                    data += size
                else:
                    rodata += size  # .rodata, .ARM.exidx/.ARM.extab (unwind tables)
            symbols: dict[str, int] = {}
            symtab = elf.get_section_by_name(".symtab")
            if isinstance(symtab, SymbolTableSection):
                for sym in symtab.iter_symbols():
                    if sym["st_info"]["type"] == "STT_OBJECT" and sym["st_size"]:
                        symbols[sym.name] = int(sym["st_size"])
    except (OSError, ValueError) as exc:
        raise SpqError(f"cannot read ELF {elf_path}: {exc}") from None
    return ElfSizes(sections, text, rodata, data, bss, stack, symbols)


def code_bytes_by_source(elf_path: Path) -> dict[str, int]:
    """Bytes of code per source file: the sizes of the function symbols (.symtab), each
    attributed to the compilation unit whose debug information (DWARF, from `-g`) places a
    function at the symbol's address. A function written in top-level assembly has no debug
    information of its own: when the linker map `firmware.map` lies beside the ELF, it is
    attributed to the source of the C functions that came from the same object file (the
    map names each input section's object). Keys are the source paths as the compiler saw
    them; functions of objects without debug information (newlib's memcpy, libgcc) are left
    out. Functions that the linker dropped (`--gc-sections`) have no symbol and count
    nothing."""
    try:
        with open(elf_path, "rb") as f:
            elf = ELFFile(f)
            if not elf.has_dwarf_info():
                raise SpqError(f"{elf_path} has no debug information (build with -g)")
            source_at = _subprogram_sources(elf)
            symtab = elf.get_section_by_name(".symtab")
            funcs = ([(int(sym["st_value"]) & ~1, int(sym["st_size"]))  # Thumb bit
                      for sym in symtab.iter_symbols()
                      if sym["st_info"]["type"] == "STT_FUNC" and sym["st_size"]]
                     if isinstance(symtab, SymbolTableSection) else [])
    except (OSError, ValueError, ELFError, DWARFError) as exc:
        raise SpqError(f"cannot read ELF {elf_path}: {exc}") from None
    map_path = Path(elf_path).with_name("firmware.map")
    if map_path.is_file():
        _attribute_by_object(funcs, source_at, _map_sections(map_path.read_text()))
    sizes: dict[str, int] = {}
    for addr, size in funcs:
        source = source_at.get(addr)
        if source is not None:
            sizes[source] = sizes.get(source, 0) + size
    return sizes


def _subprogram_sources(elf: ELFFile) -> dict[int, str]:
    """Address of every function with debug information -> its compilation unit's source."""
    source_at: dict[int, str] = {}
    for cu in elf.get_dwarf_info().iter_CUs():
        top = cu.get_top_DIE()
        name_attr = top.attributes.get("DW_AT_name")
        if name_attr is None:
            continue
        name = Path(name_attr.value.decode(errors="replace"))
        comp_dir = top.attributes.get("DW_AT_comp_dir")
        if not name.is_absolute() and comp_dir is not None:
            name = Path(comp_dir.value.decode(errors="replace")) / name
        for die in cu.iter_DIEs():
            low = die.attributes.get("DW_AT_low_pc")
            # a function the linker discarded keeps its DIE with address 0
            if die.tag == "DW_TAG_subprogram" and low is not None and low.value:
                source_at[int(low.value)] = str(name)
    return source_at


_MAP_SECTION = re.compile(r"^ (\.\S+)\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S+)$", re.M)


def _map_sections(text: str) -> list[tuple[int, int, str]]:
    """The input sections a GNU ld map places: (address, size, object file)."""
    start = text.find("Linker script and memory map")
    text = text[start:] if start >= 0 else text
    # a long section name stands on a line of its own, its address and size on the next
    text = re.sub(r"^( \.\S+)\n\s+(0x)", r"\1 \2", text, flags=re.M)
    return [(int(m.group(2), 16), int(m.group(3), 16), m.group(4))
            for m in _MAP_SECTION.finditer(text) if int(m.group(3), 16)]


def _attribute_by_object(funcs: list[tuple[int, int]], source_at: dict[int, str],
                         sections: list[tuple[int, int, str]]) -> None:
    """Add to `source_at` the functions without debug information that lie in an input
    section of an object whose other functions have a source (one source per object)."""
    def object_at(addr: int) -> str | None:
        for start, size, obj in sections:
            if start <= addr < start + size:
                return obj
        return None

    object_source: dict[str, str] = {}
    for addr, _size in funcs:
        if addr in source_at:
            obj = object_at(addr)
            if obj is not None:
                object_source.setdefault(obj, source_at[addr])
    for addr, _size in funcs:
        if addr not in source_at:
            obj = object_at(addr)
            if obj is not None and obj in object_source:
                source_at[addr] = object_source[obj]


def code_bytes_under(sizes: dict[str, int], folder: Path) -> int:
    """The code bytes of code_bytes_by_source() whose source lies under `folder`."""
    root = Path(folder).resolve()
    return sum(n for src, n in sizes.items() if Path(src).resolve().is_relative_to(root))
