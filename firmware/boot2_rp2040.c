/* SPDX-License-Identifier: MIT */
/* RP2040 second stage boot (boot2). The ROM copies the first 256 bytes of flash to SRAM at
 * 0x20041F00, checks the CRC-32 of bytes 0..251 against bytes 252..255 and calls byte 0 (a
 * Thumb call, with a stack). This one sets the flash interface (SSI) up for execute-in-place
 * with the plain serial read command 03h, which every QSPI flash accepts, then enters the
 * firmware through the vector table at flash + 0x100: VTOR, MSP, reset handler.
 *
 * Built on its own by spq.tools.firmware (-Os, linked at 0x20041F00, no libraries), padded to
 * 252 bytes and sealed with the CRC; the result is fw_boot2.h, which board.c places at the
 * start of flash (section .boot2). Register layout: RP2040 datasheet, "SSI". */
#include <stdint.h>

#define SSI_BASE 0x18000000u
#define SSI_CTRLR0 (*(volatile uint32_t *)(SSI_BASE + 0x00u))
#define SSI_CTRLR1 (*(volatile uint32_t *)(SSI_BASE + 0x04u))
#define SSI_SSIENR (*(volatile uint32_t *)(SSI_BASE + 0x08u))
#define SSI_BAUDR (*(volatile uint32_t *)(SSI_BASE + 0x14u))
#define SSI_SPI_CTRLR0 (*(volatile uint32_t *)(SSI_BASE + 0xF4u))
#define VTOR (*(volatile uint32_t *)0xE000ED08u)
#define FLASH_VECTORS 0x10000100u

void boot2_entry(void) __attribute__((noreturn, used, section(".text.boot2_entry")));

void boot2_entry(void)
{
    const volatile uint32_t *vectors = (const volatile uint32_t *)FLASH_VECTORS;
    SSI_SSIENR = 0u;
    SSI_BAUDR = 4u; /* clk_sys / 4 */
    /* standard SPI frames, 32-bit data frames, TMOD = EEPROM read (command + address, then
     * read) */
    SSI_CTRLR0 = (0u << 21) | (31u << 16) | (3u << 8);
    /* XIP command 03h, 8-bit instruction, 24-bit address (6 nibbles), both on one line */
    SSI_SPI_CTRLR0 = (0x03u << 24) | (2u << 8) | (6u << 2) | 0u;
    SSI_CTRLR1 = 0u; /* one data frame per transfer */
    SSI_SSIENR = 1u;
    VTOR = FLASH_VECTORS;
    __asm__ volatile("msr msp, %0\n\tbx %1" : : "r"(vectors[0]), "r"(vectors[1]) : "memory");
    for (;;) {
    }
}
