# SPDX-License-Identifier: MIT
"""The board table: every target the firmware can be built for, as data, in one place.

The linker script (firmware/link.ld.in), the compiler flags, the UART driver and the QEMU
command line are all derived from these entries; docs/boards.md explains each field and how
to add a board.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from spq.errors import SpqError

UartKind = Literal["cmsdk", "stm32f4", "stm32h7"]
TimerKind = Literal["dwt", "systick-icount"]

# `qemu-system-arm -icount shift=0` runs one instruction per nanosecond of virtual time.
QEMU_ICOUNT_SHIFT = 0
# The longest silence the firmware allows between two bytes of a request frame before it
# drops the frame (FW_RX_GAP_MS), in ms of the board's timer. Under QEMU that is virtual
# time, which advances only with the instructions the guest runs: polling the UART, the
# guest gets through about 1/40 of virtual time per real second (100 virtual ms took 3.6 to
# 5.8 s), while the longest gap inside healthy frames was 0.86 virtual ms on a loaded
# machine (docs/boards.md, "Serial protocol").
RX_GAP_MS = 100
QEMU_RX_GAP_MS = 20


@dataclass(frozen=True)
class Board:
    """One target board (or QEMU machine)."""

    name: str
    core: str  # "cortex-m4", ...
    cpu_flags: tuple[str, ...]  # -mcpu / -mfpu / -mfloat-abi (plus -mthumb, added by build)
    flash_origin: int  # where code and constants go
    flash_size: int
    ram_origin: int  # data, bss, arena, stack
    ram_size: int
    clock_hz: int  # core clock the harness runs at (the UART divisor is computed from it)
    uart_kind: UartKind
    uart_base: int
    qemu_machine: str | None  # `qemu-system-arm -M ...`, None for hardware only
    timer: TimerKind  # how the harness times: DWT cycles, or SysTick under QEMU icount
    max_clock_hz: int = 0  # the part's rated maximum (documentation; 0 = same as clock_hz)
    stack_size: int = 16 * 1024
    serial_note: str = ""  # how the UART reaches a host on the real board

    @property
    def is_qemu(self) -> bool:
        return self.qemu_machine is not None

    @property
    def unit(self) -> str:
        """The unit profiling reports for this board: instructions (QEMU) or cycles."""
        return "instructions" if self.timer == "systick-icount" else "cycles"

    @property
    def rx_gap_ms(self) -> int:
        """The firmware's inter-byte timeout (FW_RX_GAP_MS), in ms of the board's timer."""
        return QEMU_RX_GAP_MS if self.is_qemu else RX_GAP_MS

    def instructions_per_tick(self) -> Fraction:
        """Instructions per SysTick tick under `-icount shift=0` (1e9 / clock)."""
        return Fraction(10**9 * 2**QEMU_ICOUNT_SHIFT, self.clock_hz)


_KIB = 1024
_MIB = 1024 * 1024

_M3 = ("-mcpu=cortex-m3", "-mfloat-abi=soft")
_M4 = ("-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard")
_M7 = ("-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard")
_M33 = ("-mcpu=cortex-m33", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard")
_M55 = ("-mcpu=cortex-m55", "-mfloat-abi=hard")

BOARDS: dict[str, Board] = {
    b.name: b
    for b in [
        # Arm MPS2 FPGA images as QEMU emulates them: 4 MiB ZBT SSRAM1 at 0 (code),
        # 4 MiB ZBT SSRAM2/3 at 0x20000000 (data), 25 MHz, CMSDK UART0 at 0x40004000.
        Board(
            name="mps2-an385",
            core="cortex-m3",
            cpu_flags=_M3,
            flash_origin=0x00000000,
            flash_size=4 * _MIB,
            ram_origin=0x20000000,
            ram_size=4 * _MIB,
            clock_hz=25_000_000,
            uart_kind="cmsdk",
            uart_base=0x40004000,
            qemu_machine="mps2-an385",
            timer="systick-icount",
            serial_note="UART0 -> QEMU -serial",
        ),
        Board(
            name="mps2-an386",
            core="cortex-m4",
            cpu_flags=_M4,
            flash_origin=0x00000000,
            flash_size=4 * _MIB,
            ram_origin=0x20000000,
            ram_size=4 * _MIB,
            clock_hz=25_000_000,
            uart_kind="cmsdk",
            uart_base=0x40004000,
            qemu_machine="mps2-an386",
            timer="systick-icount",
            serial_note="UART0 -> QEMU -serial",
        ),
        Board(
            name="mps2-an500",
            core="cortex-m7",
            cpu_flags=_M7,
            flash_origin=0x00000000,
            flash_size=4 * _MIB,
            ram_origin=0x20000000,
            ram_size=4 * _MIB,
            clock_hz=25_000_000,
            uart_kind="cmsdk",
            uart_base=0x40004000,
            qemu_machine="mps2-an500",
            timer="systick-icount",
            serial_note="UART0 -> QEMU -serial",
        ),
        # Arm MPS2 AN505 (IoT Kit, Cortex-M33 with TrustZone, DSP and FPU) as QEMU 7.2 emulates
        # it (hw/arm/mps2-tz.c: an505_raminfo, the apb_ppcexp1 PPC ports, sysclk_frq and
        # init_svtor). The core boots in the Secure state from VTOR_S = 0x10000000, so the
        # harness uses the Secure aliases (address bit 28 set, the IDAU's rule in
        # mps2_tz_idau_check): SSRAM1 (4 MiB, code) at 0x10000000, SSRAM2 + SSRAM3 (2 MiB each,
        # contiguous at 0x28000000) at 0x38000000 for data, CMSDK UART0 (0x40200000) at
        # 0x50200000. The memory and peripheral protection controllers reset to "all Secure",
        # so Secure accesses pass with no set-up. 20 MHz system clock.
        Board(
            name="mps2-an505",
            core="cortex-m33",
            cpu_flags=_M33,
            flash_origin=0x10000000,
            flash_size=4 * _MIB,
            ram_origin=0x38000000,
            ram_size=4 * _MIB,
            clock_hz=20_000_000,
            uart_kind="cmsdk",
            uart_base=0x50200000,
            qemu_machine="mps2-an505",
            timer="systick-icount",
            serial_note="UART0 -> QEMU -serial",
        ),
        # Arm MPS3 AN547 (Corstone-300, Cortex-M55 + MVE) as QEMU emulates it: 512 KiB ITCM at 0
        # (code), 128 KiB DTCM at 0x20000000 (data), 32 MHz, CMSDK UART0 at 0x49303000.
        Board(
            name="mps3-an547",
            core="cortex-m55",
            cpu_flags=_M55,
            flash_origin=0x00000000,
            flash_size=512 * _KIB,
            ram_origin=0x20000000,
            ram_size=128 * _KIB,
            clock_hz=32_000_000,
            uart_kind="cmsdk",
            uart_base=0x49303000,
            qemu_machine="mps3-an547",
            timer="systick-icount",
            stack_size=8 * _KIB,
            serial_note="UART0 -> QEMU -serial",
        ),
        # STMicroelectronics NUCLEO-F446RE: STM32F446RE, Cortex-M4F, 512 KiB flash at
        # 0x08000000, 128 KiB SRAM at 0x20000000 (SRAM1 112 KiB + SRAM2 16 KiB, contiguous),
        # 180 MHz max; the harness runs from the 16 MHz HSI it boots on. USART2 on PA2/PA3 is
        # wired to the ST-LINK/V2-1 virtual COM port (/dev/ttyACM0 on Linux).
        Board(
            name="nucleo-f446re",
            core="cortex-m4",
            cpu_flags=_M4,
            flash_origin=0x08000000,
            flash_size=512 * _KIB,
            ram_origin=0x20000000,
            ram_size=128 * _KIB,
            clock_hz=16_000_000,
            max_clock_hz=180_000_000,
            uart_kind="stm32f4",
            uart_base=0x40004400,
            qemu_machine=None,
            timer="dwt",
            serial_note="USART2 PA2/PA3 (AF7) -> ST-LINK VCP, /dev/ttyACM0",
        ),
        # STMicroelectronics NUCLEO-H743ZI(2): STM32H743ZI, Cortex-M7 (FPv5 double precision),
        # 2 MiB flash at 0x08000000, 128 KiB DTCM at 0x20000000 (the harness's RAM; AXI SRAM
        # 512 KiB at 0x24000000 is not used), 480 MHz max; the harness runs from the 64 MHz HSI
        # it boots on. USART3 on PD8/PD9 is wired to the ST-LINK/V3 virtual COM port.
        Board(
            name="nucleo-h743zi",
            core="cortex-m7",
            cpu_flags=_M7,
            flash_origin=0x08000000,
            flash_size=2 * _MIB,
            ram_origin=0x20000000,
            ram_size=128 * _KIB,
            clock_hz=64_000_000,
            max_clock_hz=480_000_000,
            uart_kind="stm32h7",
            uart_base=0x40004800,
            qemu_machine=None,
            timer="dwt",
            serial_note="USART3 PD8/PD9 (AF7) -> ST-LINK VCP, /dev/ttyACM0",
        ),
    ]
}

DEFAULT_BOARD = "mps2-an386"


def get_board(name: str) -> Board:
    """Return the board called `name` (case-insensitive), or raise SpqError listing all."""
    board = BOARDS.get(name.lower())
    if board is None:
        known = ", ".join(BOARDS)
        raise SpqError(f"unknown board {name!r} (known boards: {known})")
    return board


def qemu_boards() -> list[Board]:
    return [b for b in BOARDS.values() if b.is_qemu]
