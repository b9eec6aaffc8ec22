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

UartKind = Literal["cmsdk", "stm32f4", "stm32h7", "stm32l4", "nrf", "rp2040", "rp2350"]
# dwt: DWT cycle counter (hardware, cycles); systick: SysTick on the core clock (ARMv6-M
# hardware, which has no cycle counter; cycles); systick-icount: SysTick under QEMU -icount
# (instructions)
TimerKind = Literal["dwt", "systick", "systick-icount"]

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
    clock_note: str = ""  # where clock_hz comes from (boot oscillator, a PLL the firmware sets)
    # UART pins for drivers that route them (nRF: PSEL pin numbers; RP2xxx: GPIO numbers)
    uart_tx_pin: int = -1
    uart_rx_pin: int = -1
    # what the boot ROM needs in front of the vector table: "" (nothing: the core reads the
    # vector table at flash_origin), "rp2040-boot2" (the 256-byte second stage that sets up
    # XIP, CRC-checked by the ROM; the vector table follows at +0x100) or "rp2350-image-def"
    # (an IMAGE_DEF block the RP2350 ROM looks for in the first 4 KiB)
    boot: str = ""
    # flashing: pyOCD's target type (`pyocd list --targets`), and the CMSIS pack part to
    # install first (`pyocd pack install PART`) when the target is not built into pyOCD;
    # OpenOCD's interface and target configuration files; the probe on (or for) the board
    pyocd_target: str | None = None
    pyocd_pack: str | None = None
    openocd_interface: str | None = None
    openocd_target: str | None = None
    probe_note: str = ""

    @property
    def is_qemu(self) -> bool:
        return self.qemu_machine is not None

    @property
    def armv6m(self) -> bool:
        """Cortex-M0/M0+: Thumb-1 only, no long multiply, no divide, no DWT cycle counter."""
        return self.core in ("cortex-m0", "cortex-m0plus")

    @property
    def vectors_origin(self) -> int:
        """Where the vector table lands (after the RP2040's 256-byte second stage)."""
        return self.flash_origin + (0x100 if self.boot == "rp2040-boot2" else 0)

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

_M0 = ("-mcpu=cortex-m0", "-mfloat-abi=soft")
_M0P = ("-mcpu=cortex-m0plus", "-mfloat-abi=soft")
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
            clock_note="25 MHz (QEMU's MPS2 system clock)",
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
            clock_note="25 MHz (QEMU's MPS2 system clock)",
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
            clock_note="25 MHz (QEMU's MPS2 system clock)",
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
            clock_note="20 MHz (QEMU's AN505 system clock)",
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
            clock_note="32 MHz (QEMU's AN547 system clock)",
        ),
        # BBC micro:bit v1 as QEMU 7.2 emulates it (hw/arm/nrf51_soc.c, include/hw/arm/nrf51.h):
        # nRF51822, Cortex-M0 (ARMv6-M: no long multiply, no divide, no DWT), 256 KiB flash at 0,
        # 16 KiB SRAM at 0x20000000, HCLK fixed at 16 MHz (the core clock SysTick counts under
        # -icount), the nRF51 UART (not CMSDK) at 0x40002000. On the real board UART TX/RX are
        # P0.24/P0.25, bridged to USB by the on-board DAPLink (KL26Z) interface chip, which is
        # also the CMSIS-DAP probe.
        Board(
            name="microbit",
            core="cortex-m0",
            cpu_flags=_M0,
            flash_origin=0x00000000,
            flash_size=256 * _KIB,
            ram_origin=0x20000000,
            ram_size=16 * _KIB,
            clock_hz=16_000_000,
            uart_kind="nrf",
            uart_base=0x40002000,
            uart_tx_pin=24,
            uart_rx_pin=25,
            qemu_machine="microbit",
            timer="systick-icount",
            stack_size=2 * _KIB,
            serial_note="UART0 -> QEMU -serial (board: P0.24/P0.25 -> DAPLink USB serial)",
            clock_note="16 MHz HCLK (fixed on the nRF51; the firmware starts the crystal)",
            pyocd_target="nrf51",
            openocd_interface="interface/cmsis-dap.cfg",
            openocd_target="target/nrf51.cfg",
            probe_note="on-board DAPLink (CMSIS-DAP)",
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
            clock_note="16 MHz HSI (the boot clock; 180 MHz needs the PLL and over-drive)",
            pyocd_target="stm32f446retx",
            pyocd_pack="stm32f446re",
            openocd_interface="interface/stlink.cfg",
            openocd_target="target/stm32f4x.cfg",
            probe_note="on-board ST-LINK/V2-1",
        ),
        # STMicroelectronics NUCLEO-L476RG: STM32L476RG, Cortex-M4F (low power), 1 MiB flash at
        # 0x08000000, SRAM1 96 KiB at 0x20000000 (SRAM2 is not used), 80 MHz max. The harness
        # switches to 80 MHz (PLL from the 16 MHz HSI, 4 flash wait states, range 1 as after
        # reset): a short set-up. USART2 on PA2/PA3 is wired to the ST-LINK/V2-1 VCP.
        Board(
            name="nucleo-l476rg",
            core="cortex-m4",
            cpu_flags=_M4,
            flash_origin=0x08000000,
            flash_size=1 * _MIB,
            ram_origin=0x20000000,
            ram_size=96 * _KIB,
            clock_hz=80_000_000,
            max_clock_hz=80_000_000,
            uart_kind="stm32l4",
            uart_base=0x40004400,
            qemu_machine=None,
            timer="dwt",
            serial_note="USART2 PA2/PA3 (AF7) -> ST-LINK VCP, /dev/ttyACM0",
            clock_note="80 MHz: PLL from HSI16 (M=1, N=10, R=2), set by the firmware",
            pyocd_target="stm32l476rgtx",
            pyocd_pack="stm32l476rg",
            openocd_interface="interface/stlink.cfg",
            openocd_target="target/stm32l4x.cfg",
            probe_note="on-board ST-LINK/V2-1",
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
            clock_note="64 MHz HSI (the boot clock; 480 MHz needs the SMPS/LDO, VOS0 and PLL1 "
            "set-up)",
            pyocd_target="stm32h743xx",
            openocd_interface="interface/stlink.cfg",
            openocd_target="target/stm32h7x.cfg",
            probe_note="on-board ST-LINK/V3",
        ),
        # Nordic nRF52840-DK (PCA10056): nRF52840, Cortex-M4F, 1 MiB flash at 0, 256 KiB RAM at
        # 0x20000000, 64 MHz (its only core clock, from reset; the firmware starts the 32 MHz
        # crystal for an accurate baud rate), UART0 (the nRF51-compatible UART) at 0x40002000 on
        # P0.06 (TX) / P0.08 (RX), wired to the on-board J-Link OB's virtual COM port.
        Board(
            name="nrf52840-dk",
            core="cortex-m4",
            cpu_flags=_M4,
            flash_origin=0x00000000,
            flash_size=1 * _MIB,
            ram_origin=0x20000000,
            ram_size=256 * _KIB,
            clock_hz=64_000_000,
            max_clock_hz=64_000_000,
            uart_kind="nrf",
            uart_base=0x40002000,
            uart_tx_pin=6,
            uart_rx_pin=8,
            qemu_machine=None,
            timer="dwt",
            serial_note="UART0 P0.06/P0.08 -> J-Link OB VCOM, /dev/ttyACM0",
            clock_note="64 MHz (fixed; HFXO started by the firmware)",
            pyocd_target="nrf52840",
            openocd_interface="interface/jlink.cfg",
            openocd_target="target/nrf52.cfg",
            probe_note="on-board SEGGER J-Link OB (pyOCD needs SEGGER's J-Link library)",
        ),
        # Raspberry Pi Pico: RP2040, dual Cortex-M0+ (the harness uses core 0), 2 MiB QSPI flash
        # executed in place at 0x10000000 (the ROM copies the 256-byte second stage boot2 from
        # its start, checks its CRC-32 and runs it; boot2 sets up XIP and jumps to the vector
        # table at 0x10000100), 256 KiB striped SRAM at 0x20000000. 133 MHz max; the harness
        # runs from the 12 MHz crystal (XOSC), which it starts for an exact baud rate (the ROM
        # leaves the ring oscillator, +-50 %). UART0 on GP0 (TX) / GP1 (RX).
        Board(
            name="rpi-pico",
            core="cortex-m0plus",
            cpu_flags=_M0P,
            flash_origin=0x10000000,
            flash_size=2 * _MIB,
            ram_origin=0x20000000,
            ram_size=256 * _KIB,
            clock_hz=12_000_000,
            max_clock_hz=133_000_000,
            uart_kind="rp2040",
            uart_base=0x40034000,
            uart_tx_pin=0,
            uart_rx_pin=1,
            qemu_machine=None,
            timer="systick",
            boot="rp2040-boot2",
            serial_note="UART0 GP0/GP1 -> Raspberry Pi Debug Probe UART, /dev/ttyACM0",
            clock_note="12 MHz crystal (XOSC), started by the firmware; PLL not set up",
            pyocd_target="rp2040",
            openocd_interface="interface/cmsis-dap.cfg",
            openocd_target="target/rp2040.cfg",
            probe_note="Raspberry Pi Debug Probe (CMSIS-DAP) on the SWD header",
        ),
        # Raspberry Pi Pico 2: RP2350, Cortex-M33 (DSP, FPU; run Secure, as the ROM starts it),
        # 4 MiB QSPI flash at 0x10000000 (the ROM sets up XIP itself and boots an image whose
        # first 4 KiB hold an IMAGE_DEF block: EXE, Arm, Secure, RP2350; it follows the vector
        # table), 512 KiB striped SRAM at 0x20000000. 150 MHz max; the harness runs from the
        # 12 MHz crystal it starts. UART0 at 0x40070000 on GP0 / GP1.
        Board(
            name="rpi-pico2",
            core="cortex-m33",
            cpu_flags=_M33,
            flash_origin=0x10000000,
            flash_size=4 * _MIB,
            ram_origin=0x20000000,
            ram_size=512 * _KIB,
            clock_hz=12_000_000,
            max_clock_hz=150_000_000,
            uart_kind="rp2350",
            uart_base=0x40070000,
            uart_tx_pin=0,
            uart_rx_pin=1,
            qemu_machine=None,
            timer="dwt",
            boot="rp2350-image-def",
            serial_note="UART0 GP0/GP1 -> Raspberry Pi Debug Probe UART, /dev/ttyACM0",
            clock_note="12 MHz crystal (XOSC), started by the firmware; PLL not set up",
            pyocd_target="rp2350",
            openocd_interface="interface/cmsis-dap.cfg",
            openocd_target=None,  # Debian's OpenOCD 0.12 has no RP2350 support
            probe_note="Raspberry Pi Debug Probe (CMSIS-DAP) on the SWD header",
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
