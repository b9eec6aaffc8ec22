/* SPDX-License-Identifier: MIT */
/* Board bring-up before main: the clock tree the board table's clock_hz promises, and the
 * blocks a boot ROM needs in front of (RP2040) or after (RP2350) the vector table. Selected
 * by the FW_UART_<kind> / FW_BOOT_<kind> defines of the board table (spq/tools/boards.py).
 * Boards that run from the clock they boot on (QEMU machines, STM32F4/H7) need nothing. */
#include <stdint.h>

#include "fw.h"

#define REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

#if defined(FW_BOOT_RP2040)
/* The 256-byte second stage (firmware/boot2_rp2040.c, compiled, padded and CRC-sealed by
 * spq.tools.firmware): the ROM copies it to SRAM and runs it; it sets up XIP and enters the
 * vector table at flash + 0x100. */
#include "fw_boot2.h"
#endif

#if defined(FW_BOOT_RP2350)
/* The RP2350 ROM boots a flash image only if its first 4 KiB hold a block with an IMAGE_DEF
 * item (RP2350 datasheet, "Image definitions"): start marker, IMAGE_TYPE (EXE, Arm, Secure,
 * RP2350), the LAST item (block size 1 word), a link to itself, end marker. The linker script
 * places it right after the vector table. */
__attribute__((section(".boot_block"), used)) const uint32_t fw_image_def[5] = {
    0xFFFFDED3u, 0x10210142u, 0x000001FFu, 0x00000000u, 0xAB123579u,
};
#endif

#if defined(FW_UART_NRF)
/* Start the crystal (HFXO) for an accurate baud rate: CLOCK TASKS_HFCLKSTART, wait for
 * EVENTS_HFCLKSTARTED (nRF51 and nRF52; QEMU's clock stub reads 1). */
static void clock_init(void)
{
    REG(0x40000100u) = 0u;
    REG(0x40000000u) = 1u;
    while (REG(0x40000100u) == 0u) {
    }
}
#elif defined(FW_UART_STM32L4)
/* 80 MHz from the PLL: HSI16 / M(1) * N(10) / R(2), 4 flash wait states (voltage range 1,
 * the reset default). */
#define RCC_CR REG(0x40021000u)
#define RCC_CFGR REG(0x40021008u)
#define RCC_PLLCFGR REG(0x4002100Cu)
#define FLASH_ACR REG(0x40022000u)
static void clock_init(void)
{
    RCC_CR |= 1u << 8; /* HSION */
    while (!(RCC_CR & (1u << 10))) { /* HSIRDY */
    }
    RCC_PLLCFGR = 2u | (0u << 4) | (10u << 8) | (1u << 24) | (0u << 25); /* HSI16, M=1, N=10,
                                                                           * REN, R=2 */
    RCC_CR |= 1u << 24; /* PLLON */
    while (!(RCC_CR & (1u << 25))) { /* PLLRDY */
    }
    FLASH_ACR = (FLASH_ACR & ~7u) | 4u;
    while ((FLASH_ACR & 7u) != 4u) {
    }
    RCC_CFGR = (RCC_CFGR & ~3u) | 3u; /* SW = PLL */
    while (((RCC_CFGR >> 2) & 3u) != 3u) {
    }
}
#elif defined(FW_UART_RP2040) || defined(FW_UART_RP2350)
/* The 12 MHz crystal: start XOSC, clk_ref from XOSC, clk_sys from clk_ref, clk_peri (UART)
 * from clk_sys. The ROM leaves the ring oscillator running both, too imprecise for a UART. */
#if defined(FW_UART_RP2040)
#define CLOCKS_BASE 0x40008000u
#define XOSC_BASE 0x40024000u
#else
#define CLOCKS_BASE 0x40010000u
#define XOSC_BASE 0x40048000u
#endif
#define XOSC_CTRL REG(XOSC_BASE + 0x00u)
#define XOSC_STATUS REG(XOSC_BASE + 0x04u)
#define XOSC_STARTUP REG(XOSC_BASE + 0x0Cu)
#define CLK_REF_CTRL REG(CLOCKS_BASE + 0x30u)
#define CLK_REF_SELECTED REG(CLOCKS_BASE + 0x38u)
#define CLK_SYS_CTRL REG(CLOCKS_BASE + 0x3Cu)
#define CLK_SYS_SELECTED REG(CLOCKS_BASE + 0x44u)
#define CLK_PERI_CTRL REG(CLOCKS_BASE + 0x48u)
static void clock_init(void)
{
    XOSC_CTRL = 0xAA0u;                  /* FREQ_RANGE 1-15 MHz */
    XOSC_STARTUP = (12000u + 128u) / 256u; /* ~1 ms at 12 MHz, in units of 256 cycles */
    XOSC_CTRL = 0xAA0u | (0xFABu << 12); /* ENABLE */
    while (!(XOSC_STATUS & (1u << 31))) { /* STABLE */
    }
    CLK_REF_CTRL = (CLK_REF_CTRL & ~3u) | 2u; /* SRC = xosc_clksrc */
    while (CLK_REF_SELECTED != (1u << 2)) {
    }
    CLK_SYS_CTRL &= ~1u; /* SRC = clk_ref */
    while (CLK_SYS_SELECTED != 1u) {
    }
    CLK_PERI_CTRL = 1u << 11; /* ENABLE, AUXSRC = clk_sys */
}
#else
static void clock_init(void)
{
}
#endif

void board_init(void)
{
    clock_init();
}
