/* SPDX-License-Identifier: MIT */
/* Firmware-wide declarations: board services used by the harness (startup.c, uart.c,
 * timer.c, system.c). */
#ifndef SPQ_FW_H
#define SPQ_FW_H

#include <stdint.h>

/* Fault kinds reported in an error frame (FW_ERR_FAULT) before the firmware stops. */
#define FW_FAULT_HARDFAULT 1u
#define FW_FAULT_UNEXPECTED_IRQ 2u

/* board.c: the board's clock tree (before the UART and the timer are set up) */
void board_init(void);

/* startup.c */
void fw_stack_paint(void);
uint32_t fw_stack_peak(void);
uint32_t fw_stack_size(void);

/* system.c: stop the firmware (semihosting exit under QEMU, a halt loop on hardware). */
void fw_exit(int code) __attribute__((noreturn));
/* Report a fault over the UART (one error frame), then fw_exit(1). */
void fw_fault(uint32_t kind, uint32_t detail) __attribute__((noreturn));

/* uart.c: polled UART, 8N1. */
void uart_init(void);
void uart_putc(uint8_t c);
int uart_getc(void); /* blocks until a byte arrives */
int uart_poll(void); /* the received byte, or -1 if none is waiting */

/* timer.c: a free-running 64-bit counter. */
#define FW_UNIT_INSTRUCTIONS 0u
#define FW_UNIT_CYCLES 1u
void timer_init(void);
uint64_t timer_now(void);  /* raw counter */
void timer_restart(void);  /* zero the counter and align its phase (before a measurement) */
uint64_t timer_to_unit(uint64_t raw_delta); /* raw delta -> instructions or cycles */
uint8_t timer_unit(void);  /* FW_UNIT_* */
uint8_t timer_source(void); /* FW_TIMER_DWT or FW_TIMER_SYSTICK */
#define FW_TIMER_DWT 0u
#define FW_TIMER_SYSTICK 1u

#endif
