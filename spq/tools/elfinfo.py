# SPDX-License-Identifier: MIT
"""Flash and RAM of a firmware ELF, from its section headers and symbol table (pyelftools)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
