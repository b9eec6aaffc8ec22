/* SPDX-License-Identifier: MIT */
/* Cortex-M startup in C: vector table, reset handler (copy .data, zero .bss, enable the FPU,
 * set up the board's clocks, paint the stack), fault handlers. No assembler file is needed. */
#include <stdint.h>

#include "fw.h"

/* Linker script symbols (firmware/link.ld.in). */
extern uint32_t __data_load[], __data_start[], __data_end[];
extern uint32_t __bss_start[], __bss_end[];
extern uint32_t __stack_limit[], __stack_top[];

int main(void);

void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);
void SysTick_Handler(void);

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)
#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)

/* The 16 system exceptions. The harness enables no external interrupt, so the table stops
 * there (the linker script aligns it for VTOR). */
#define FW_NUM_VECTORS 16

extern const uintptr_t fw_vectors[FW_NUM_VECTORS];
__attribute__((section(".vectors"), used)) const uintptr_t fw_vectors[FW_NUM_VECTORS] = {
    (uintptr_t)__stack_top,
    (uintptr_t)&Reset_Handler,
    (uintptr_t)&Default_Handler,   /* NMI */
    (uintptr_t)&HardFault_Handler, /* HardFault */
    (uintptr_t)&HardFault_Handler, /* MemManage */
    (uintptr_t)&HardFault_Handler, /* BusFault */
    (uintptr_t)&HardFault_Handler, /* UsageFault */
    (uintptr_t)&HardFault_Handler, /* SecureFault (v8-M) */
    0, 0, 0,
    (uintptr_t)&Default_Handler, /* SVCall */
    (uintptr_t)&Default_Handler, /* DebugMonitor */
    0,
    (uintptr_t)&Default_Handler, /* PendSV */
    (uintptr_t)&SysTick_Handler,
};

/* The stack paint pattern used to measure the stack peak (fw_stack_paint/fw_stack_peak). */
#define FW_STACK_PAINT 0xC5A5C5A5u

static inline uintptr_t current_sp(void)
{
    uintptr_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

void fw_stack_paint(void)
{
    /* Paint from the bottom of the stack up to 64 bytes below the live stack pointer. */
    volatile uint32_t *p = __stack_limit;
    uintptr_t end = current_sp() - 64u;
    while ((uintptr_t)p < end) {
        *p++ = FW_STACK_PAINT;
    }
}

uint32_t fw_stack_peak(void)
{
    const volatile uint32_t *p = __stack_limit;
    while (p < __stack_top && *p == FW_STACK_PAINT) {
        p++;
    }
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

uint32_t fw_stack_size(void)
{
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_limit);
}

void Reset_Handler(void)
{
    uint32_t *src = __data_load;
    uint32_t *dst = __data_start;
    while (dst < __data_end) {
        *dst++ = *src++;
    }
    for (dst = __bss_start; dst < __bss_end; dst++) {
        *dst = 0;
    }
#if !defined(__ARM_ARCH_6M__)
    /* ARMv6-M: the Cortex-M0 has no VTOR (its table is at 0); on the RP2040's M0+ boot2 has
     * set it already. */
    SCB_VTOR = (uint32_t)(uintptr_t)fw_vectors;
#endif
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* Full access to CP10/CP11 (FPU, MVE) before any floating point or vector instruction. */
    SCB_CPACR |= (0xFu << 20);
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    board_init();
    fw_stack_paint();
    (void)main();
    fw_exit(0);
}

void Default_Handler(void)
{
    fw_fault(FW_FAULT_UNEXPECTED_IRQ, 0);
}

void HardFault_Handler(void)
{
    fw_fault(FW_FAULT_HARDFAULT, SCB_CFSR);
}
