/* SPDX-License-Identifier: MIT */
/* Polled UART drivers, chosen at build time from the board table (spq/tools/boards.py):
 *   FW_UART_CMSDK    Arm CMSDK APB UART (MPS2/MPS3 FPGA images, QEMU mps2-*, mps3-an547)
 *   FW_UART_STM32F4  STM32F4 USART (SR/DR/BRR/CR1), NUCLEO-F446RE USART2 on PA2/PA3
 *   FW_UART_STM32H7  STM32H7 USART (ISR/RDR/TDR), NUCLEO-H743ZI USART3 on PD8/PD9
 *   FW_UART_STM32L4  STM32L4 USART (the same ISR/RDR/TDR layout), NUCLEO-L476RG USART2 PA2/PA3
 *   FW_UART_NRF      nRF51/nRF52 UART (TASKS/EVENTS, PSEL pins), micro:bit and nRF52840-DK
 *   FW_UART_RP2040   Arm PL011 UART0 of the RP2040 (resets, GPIO function select)
 *   FW_UART_RP2350   Arm PL011 UART0 of the RP2350 (resets, pads isolation, function select)
 * FW_UART_BASE and FW_CLOCK_HZ come from the board table (the clock tree is set up before
 * uart_init, in board.c); FW_UART_TX_PIN/FW_UART_RX_PIN for the drivers that route pins;
 * FW_BAUD defaults to 115200. */
#include <stdint.h>

#include "fw.h"

#ifndef FW_BAUD
#define FW_BAUD 115200u
#endif
#ifndef FW_UART_BASE
#error "FW_UART_BASE must be defined (board table)"
#endif
#ifndef FW_CLOCK_HZ
#error "FW_CLOCK_HZ must be defined (board table)"
#endif

#define REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

#if defined(FW_UART_CMSDK)

#define UART_DATA REG(FW_UART_BASE + 0x00u)
#define UART_STATE REG(FW_UART_BASE + 0x04u)
#define UART_CTRL REG(FW_UART_BASE + 0x08u)
#define UART_BAUDDIV REG(FW_UART_BASE + 0x10u)
#define STATE_TX_FULL 0x1u
#define STATE_RX_FULL 0x2u

void uart_init(void)
{
    UART_BAUDDIV = FW_CLOCK_HZ / FW_BAUD; /* >= 16 for every supported clock */
    UART_CTRL = 0x3u;                     /* TX and RX enable, no interrupts */
}

void uart_putc(uint8_t c)
{
    while (UART_STATE & STATE_TX_FULL) {
    }
    UART_DATA = c;
}

int uart_poll(void)
{
    return (UART_STATE & STATE_RX_FULL) ? (int)(UART_DATA & 0xFFu) : -1;
}

#elif defined(FW_UART_STM32F4)

/* USART2 (the ST-LINK virtual COM port on Nucleo-64 boards) on PA2 (TX) / PA3 (RX), AF7.
 * The core runs from the 16 MHz HSI after reset; APB1 = HCLK. */
#define RCC_BASE 0x40023800u
#define RCC_AHB1ENR REG(RCC_BASE + 0x30u)
#define RCC_APB1ENR REG(RCC_BASE + 0x40u)
#define GPIOA_BASE 0x40020000u
#define GPIOA_MODER REG(GPIOA_BASE + 0x00u)
#define GPIOA_AFRL REG(GPIOA_BASE + 0x20u)
#define USART_SR REG(FW_UART_BASE + 0x00u)
#define USART_DR REG(FW_UART_BASE + 0x04u)
#define USART_BRR REG(FW_UART_BASE + 0x08u)
#define USART_CR1 REG(FW_UART_BASE + 0x0Cu)

void uart_init(void)
{
    RCC_AHB1ENR |= 1u << 0;  /* GPIOA */
    RCC_APB1ENR |= 1u << 17; /* USART2 */
    GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 4)) | (0xAu << 4);   /* PA2, PA3: alternate */
    GPIOA_AFRL = (GPIOA_AFRL & ~(0xFFu << 8)) | (0x77u << 8);   /* AF7 */
    USART_BRR = (FW_CLOCK_HZ + FW_BAUD / 2u) / FW_BAUD;         /* oversampling by 16 */
    USART_CR1 = (1u << 13) | (1u << 3) | (1u << 2);             /* UE, TE, RE */
}

void uart_putc(uint8_t c)
{
    while (!(USART_SR & (1u << 7))) { /* TXE */
    }
    USART_DR = c;
}

int uart_poll(void)
{
    return (USART_SR & (1u << 5)) ? (int)(USART_DR & 0xFFu) : -1; /* RXNE */
}

#elif defined(FW_UART_STM32H7) || defined(FW_UART_STM32L4)

#if defined(FW_UART_STM32H7)
/* USART3 (the ST-LINK virtual COM port on Nucleo-144 boards) on PD8 (TX) / PD9 (RX), AF7.
 * After reset the core and the USART kernel clock (PCLK1) run from the 64 MHz HSI. */
#define RCC_BASE 0x58024400u
#define GPIO_EN() (REG(RCC_BASE + 0xE0u) |= 1u << 3)    /* RCC_AHB4ENR: GPIOD */
#define USART_EN() (REG(RCC_BASE + 0xE8u) |= 1u << 18)  /* RCC_APB1LENR: USART3 */
#define GPIO_BASE 0x58020C00u                           /* GPIOD */
#define GPIO_AFR REG(GPIO_BASE + 0x24u)                 /* AFRH: pins 8..15 */
#define PIN_TX 8u
#else
/* USART2 (the ST-LINK virtual COM port on Nucleo-64 boards) on PA2 (TX) / PA3 (RX), AF7,
 * clocked from PCLK1 (= the core clock board.c sets up). */
#define RCC_BASE 0x40021000u
#define GPIO_EN() (REG(RCC_BASE + 0x4Cu) |= 1u << 0)    /* RCC_AHB2ENR: GPIOA */
#define USART_EN() (REG(RCC_BASE + 0x58u) |= 1u << 17)  /* RCC_APB1ENR1: USART2 */
#define GPIO_BASE 0x48000000u                           /* GPIOA */
#define GPIO_AFR REG(GPIO_BASE + 0x20u)                 /* AFRL: pins 0..7 */
#define PIN_TX 2u
#endif
#define GPIO_MODER REG(GPIO_BASE + 0x00u)
#define USART_CR1 REG(FW_UART_BASE + 0x00u)
#define USART_BRR REG(FW_UART_BASE + 0x0Cu)
#define USART_ISR REG(FW_UART_BASE + 0x1Cu)
#define USART_RDR REG(FW_UART_BASE + 0x24u)
#define USART_TDR REG(FW_UART_BASE + 0x28u)

void uart_init(void)
{
    const uint32_t afr_shift = 4u * (PIN_TX % 8u); /* TX and the RX pin after it */
    GPIO_EN();
    USART_EN();
    GPIO_MODER = (GPIO_MODER & ~(0xFu << (2u * PIN_TX))) | (0xAu << (2u * PIN_TX)); /* AF */
    GPIO_AFR = (GPIO_AFR & ~(0xFFu << afr_shift)) | (0x77u << afr_shift);         /* AF7 */
    USART_BRR = (FW_CLOCK_HZ + FW_BAUD / 2u) / FW_BAUD;
    USART_CR1 = (1u << 3) | (1u << 2) | (1u << 0); /* TE, RE, UE */
}

void uart_putc(uint8_t c)
{
    while (!(USART_ISR & (1u << 7))) { /* TXE */
    }
    USART_TDR = c;
}

int uart_poll(void)
{
    return (USART_ISR & (1u << 5)) ? (int)(USART_RDR & 0xFFu) : -1; /* RXNE */
}

#elif defined(FW_UART_NRF)

/* The nRF51 UART (also the nRF52's legacy UART0, same registers): checked against QEMU 7.2's
 * hw/char/nrf51_uart.c. Clear EVENTS_RXDRDY before reading RXD (reading RXD raises the
 * event again while more bytes wait). TXD is written only when the previous byte has gone. */
#define UART_STARTRX REG(FW_UART_BASE + 0x000u)
#define UART_STARTTX REG(FW_UART_BASE + 0x008u)
#define UART_RXDRDY REG(FW_UART_BASE + 0x108u)
#define UART_TXDRDY REG(FW_UART_BASE + 0x11Cu)
#define UART_ENABLE REG(FW_UART_BASE + 0x500u)
#define UART_PSELRTS REG(FW_UART_BASE + 0x508u)
#define UART_PSELTXD REG(FW_UART_BASE + 0x50Cu)
#define UART_PSELCTS REG(FW_UART_BASE + 0x510u)
#define UART_PSELRXD REG(FW_UART_BASE + 0x514u)
#define UART_RXD REG(FW_UART_BASE + 0x518u)
#define UART_TXD REG(FW_UART_BASE + 0x51Cu)
#define UART_BAUDRATE REG(FW_UART_BASE + 0x524u)
#define UART_CONFIG REG(FW_UART_BASE + 0x56Cu)
#define GPIO_OUTSET REG(0x50000508u)
#define GPIO_DIRSET REG(0x50000518u)
#define BAUD_115200 0x01D7E000u /* the BAUDRATE code for 115200 (nRF51 and nRF52) */
static uint8_t tx_primed;

void uart_init(void)
{
    GPIO_OUTSET = 1u << FW_UART_TX_PIN; /* TX idles high, as an output */
    GPIO_DIRSET = 1u << FW_UART_TX_PIN;
    UART_PSELRTS = 0xFFFFFFFFu;        /* no flow control */
    UART_PSELCTS = 0xFFFFFFFFu;
    UART_PSELTXD = FW_UART_TX_PIN;
    UART_PSELRXD = FW_UART_RX_PIN;
    UART_BAUDRATE = BAUD_115200;
    UART_CONFIG = 0u; /* no parity, no flow control */
    UART_ENABLE = 4u;
    UART_RXDRDY = 0u;
    UART_TXDRDY = 0u;
    UART_STARTRX = 1u;
    UART_STARTTX = 1u;
    tx_primed = 0u;
}

void uart_putc(uint8_t c)
{
    if (tx_primed) {
        while (UART_TXDRDY == 0u) { /* the previous byte is still going out */
        }
    }
    UART_TXDRDY = 0u;
    UART_TXD = c;
    tx_primed = 1u;
}

int uart_poll(void)
{
    if (UART_RXDRDY == 0u) {
        return -1;
    }
    UART_RXDRDY = 0u;
    return (int)(UART_RXD & 0xFFu);
}

#elif defined(FW_UART_RP2040) || defined(FW_UART_RP2350)

/* Arm PL011 UART0 on GPIO FW_UART_TX_PIN / FW_UART_RX_PIN (function 2), clocked by clk_peri =
 * clk_sys (the crystal, board.c). */
#if defined(FW_UART_RP2040)
#define RESETS_BASE 0x4000C000u
#define IO_BANK0_BASE 0x40014000u
#define PADS_BANK0_BASE 0x4001C000u
#define RESET_BITS ((1u << 5) | (1u << 8) | (1u << 22)) /* IO_BANK0, PADS_BANK0, UART0 */
#else
#define RESETS_BASE 0x40020000u
#define IO_BANK0_BASE 0x40028000u
#define PADS_BANK0_BASE 0x40038000u
#define RESET_BITS ((1u << 6) | (1u << 9) | (1u << 26)) /* IO_BANK0, PADS_BANK0, UART0 */
#endif
#define RESETS_RESET REG(RESETS_BASE + 0x0u)
#define RESETS_DONE REG(RESETS_BASE + 0x8u)
#define GPIO_CTRL(n) REG(IO_BANK0_BASE + 0x4u + 8u * (n))
#define PAD(n) REG(PADS_BANK0_BASE + 0x4u + 4u * (n))
#define UARTDR REG(FW_UART_BASE + 0x000u)
#define UARTFR REG(FW_UART_BASE + 0x018u)
#define UARTIBRD REG(FW_UART_BASE + 0x024u)
#define UARTFBRD REG(FW_UART_BASE + 0x028u)
#define UARTLCR_H REG(FW_UART_BASE + 0x02Cu)
#define UARTCR REG(FW_UART_BASE + 0x030u)
#define FR_RXFE (1u << 4)
#define FR_TXFF (1u << 5)
/* baud divisor in 1/64ths: clock / (16 * baud), rounded */
#define BAUD_DIV64 ((8u * FW_CLOCK_HZ / FW_BAUD + 1u) / 2u)

void uart_init(void)
{
    RESETS_RESET &= ~RESET_BITS;
    while ((RESETS_DONE & RESET_BITS) != RESET_BITS) {
    }
#if defined(FW_UART_RP2350)
    /* pads come out of reset isolated (ISO, bit 8): input enable (IE, bit 6) and release */
    PAD(FW_UART_TX_PIN) = (PAD(FW_UART_TX_PIN) & ~(1u << 8)) | (1u << 6);
    PAD(FW_UART_RX_PIN) = (PAD(FW_UART_RX_PIN) & ~(1u << 8)) | (1u << 6);
#endif
    GPIO_CTRL(FW_UART_TX_PIN) = 2u; /* FUNCSEL: UART */
    GPIO_CTRL(FW_UART_RX_PIN) = 2u;
    UARTIBRD = BAUD_DIV64 >> 6;
    UARTFBRD = BAUD_DIV64 & 0x3Fu;
    UARTLCR_H = (3u << 5) | (1u << 4); /* 8 bits, FIFOs on (the write latches the divisor) */
    UARTCR = (1u << 9) | (1u << 8) | 1u; /* RXE, TXE, UARTEN */
}

void uart_putc(uint8_t c)
{
    while (UARTFR & FR_TXFF) {
    }
    UARTDR = c;
}

int uart_poll(void)
{
    return (UARTFR & FR_RXFE) ? -1 : (int)(UARTDR & 0xFFu);
}

#else
#error "no UART driver selected (FW_UART_<kind>, from the board table)"
#endif

int uart_getc(void)
{
    int c;
    while ((c = uart_poll()) < 0) {
    }
    return c;
}
