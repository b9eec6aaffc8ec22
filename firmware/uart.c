/* SPDX-License-Identifier: MIT */
/* Polled UART drivers, chosen at build time from the board table (spq/tools/boards.py):
 *   FW_UART_CMSDK    Arm CMSDK APB UART (MPS2/MPS3 FPGA images, QEMU mps2-*, mps3-an547)
 *   FW_UART_STM32F4  STM32F4 USART (SR/DR/BRR/CR1), NUCLEO-F446RE USART2 on PA2/PA3
 *   FW_UART_STM32H7  STM32H7 USART (ISR/RDR/TDR), NUCLEO-H743ZI USART3 on PD8/PD9
 * FW_UART_BASE and FW_CLOCK_HZ come from the board table; FW_BAUD defaults to 115200. */
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

#elif defined(FW_UART_STM32H7)

/* USART3 (the ST-LINK virtual COM port on Nucleo-144 boards) on PD8 (TX) / PD9 (RX), AF7.
 * After reset the core and the USART kernel clock (PCLK1) run from the 64 MHz HSI. */
#define RCC_BASE 0x58024400u
#define RCC_AHB4ENR REG(RCC_BASE + 0xE0u)
#define RCC_APB1LENR REG(RCC_BASE + 0xE8u)
#define GPIOD_BASE 0x58020C00u
#define GPIOD_MODER REG(GPIOD_BASE + 0x00u)
#define GPIOD_AFRH REG(GPIOD_BASE + 0x24u)
#define USART_CR1 REG(FW_UART_BASE + 0x00u)
#define USART_BRR REG(FW_UART_BASE + 0x0Cu)
#define USART_ISR REG(FW_UART_BASE + 0x1Cu)
#define USART_RDR REG(FW_UART_BASE + 0x24u)
#define USART_TDR REG(FW_UART_BASE + 0x28u)

void uart_init(void)
{
    RCC_AHB4ENR |= 1u << 3;   /* GPIOD */
    RCC_APB1LENR |= 1u << 18; /* USART3 */
    GPIOD_MODER = (GPIOD_MODER & ~(0xFu << 16)) | (0xAu << 16); /* PD8, PD9: alternate */
    GPIOD_AFRH = (GPIOD_AFRH & ~0xFFu) | 0x77u;                 /* AF7 */
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

#else
#error "no UART driver selected (FW_UART_CMSDK, FW_UART_STM32F4 or FW_UART_STM32H7)"
#endif

int uart_getc(void)
{
    int c;
    while ((c = uart_poll()) < 0) {
    }
    return c;
}
