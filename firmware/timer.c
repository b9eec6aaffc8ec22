/* SPDX-License-Identifier: MIT */
/* A 64-bit free-running counter for profiling.
 *
 * Real cores: the DWT cycle counter (CYCCNT), extended to 64 bits; unit = cycles.
 * ARMv6-M cores (Cortex-M0/M0+) have no CYCCNT: SysTick on the core clock, one tick per cycle.
 * QEMU does not emulate the DWT (CYCCNT stays 0): timer_init detects a zero delta and falls
 * back to SysTick on the processor clock, extended to 64 bits by counting reloads in the
 * SysTick interrupt. Under `qemu-system-arm -icount shift=0` one SysTick tick is
 * FW_IPT_NUM / FW_IPT_DEN instructions (1e9 / clock: 40 on mps2, 31.25 on mps3-an547),
 * so a QEMU build (FW_IPT_NUM defined) reports instructions; on hardware a SysTick tick is
 * one cycle. */
#include <stdint.h>

#include "fw.h"

#define REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#define DEMCR REG(0xE000EDFCu)
#define DWT_CTRL REG(0xE0001000u)
#define DWT_CYCCNT REG(0xE0001004u)
#define DWT_LAR REG(0xE0001FB0u)
#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)

/* The SysTick period is SYSTICK_RELOAD + 1 ticks (tests shorten it to exercise the wraps). */
#ifndef FW_SYSTICK_RELOAD
#define FW_SYSTICK_RELOAD 0x00FFFFFFu
#endif
#define SYSTICK_RELOAD ((uint32_t)(FW_SYSTICK_RELOAD))

static uint8_t source = FW_TIMER_SYSTICK;
static volatile uint32_t systick_wraps;
static volatile uint32_t dwt_high;
static volatile uint32_t dwt_last;

static uint32_t irq_save(void)
{
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
    return primask;
}

static void irq_restore(uint32_t primask)
{
    __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
}

static uint64_t dwt_now(void)
{
    uint32_t key = irq_save();
    uint32_t c = DWT_CYCCNT;
    if (c < dwt_last) {
        dwt_high++;
    }
    dwt_last = c;
    uint64_t v = ((uint64_t)dwt_high << 32) | c;
    irq_restore(key);
    return v;
}

void SysTick_Handler(void)
{
    if (source == FW_TIMER_DWT) {
        (void)dwt_now(); /* observe CYCCNT at least once per 2^24 cycles: no lost wrap */
    } else {
        systick_wraps++;
    }
}

void timer_init(void)
{
#if defined(__ARM_ARCH_6M__)
    /* ARMv6-M (Cortex-M0/M0+) has no cycle counter: SysTick on the core clock, always. */
    source = FW_TIMER_SYSTICK;
#else
    volatile uint32_t spin;
    DEMCR |= 1u << 24;   /* TRCENA */
    DWT_LAR = 0xC5ACCE55u; /* unlock (needed on Cortex-M7, ignored elsewhere) */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;      /* CYCCNTENA */
    uint32_t c0 = DWT_CYCCNT;
    for (spin = 0; spin < 16u; spin++) {
    }
    uint32_t c1 = DWT_CYCCNT;
    source = (c1 != c0) ? FW_TIMER_DWT : FW_TIMER_SYSTICK;
#endif

    /* SysTick on the processor clock with its interrupt: the 64-bit extension for both. */
    SYST_CSR = 0;
    SYST_RVR = SYSTICK_RELOAD;
    SYST_CVR = 0;
    SYST_CSR = 0x7u; /* CLKSOURCE = processor, TICKINT, ENABLE */
}

void timer_restart(void)
{
    uint32_t key = irq_save();
    if (source == FW_TIMER_DWT) {
        DWT_CYCCNT = 0;
        dwt_high = 0;
        dwt_last = 0;
    } else {
        /* Writing CVR clears it and restarts the tick phase at this instruction (QEMU's
         * SysTick counts virtual time from the write): the counts that follow depend only
         * on the instructions executed, not on how long the firmware waited for the UART.
         * The counter reads 0 until the next tick reloads it; wait for that reload. */
        SYST_CVR = 0;
        while (SYST_CVR == 0u) {
        }
        REG(0xE000ED04u) = 1u << 25; /* ICSR.PENDSTCLR: no stale wrap */
        systick_wraps = 0;
    }
    irq_restore(key);
}

uint64_t timer_now(void)
{
    uint32_t key, wraps, val;
    if (source == FW_TIMER_DWT) {
        return dwt_now();
    }
    key = irq_save();
    wraps = systick_wraps;
    val = SYST_CVR;
    /* SysTick pends its interrupt when the counter goes from 1 to 0, one tick before it
     * reloads; `wraps` counts those transitions. A transition that happened while interrupts
     * are masked (or before the interrupt was taken) is still pending: count it here and
     * reread the counter, which is then at or after that transition. */
    if (REG(0xE000ED04u) & (1u << 26)) { /* ICSR.PENDSTSET */
        val = SYST_CVR;
        wraps++;
    }
    irq_restore(key);
    /* Completed periods: the transitions, less the one whose period has not reloaded yet
     * (the counter still reads 0). */
    if (val == 0u && wraps > 0u) {
        wraps--;
    }
    return (uint64_t)wraps * ((uint64_t)SYSTICK_RELOAD + 1u) + (uint64_t)(SYSTICK_RELOAD - val);
}

uint8_t timer_source(void)
{
    return source;
}

uint8_t timer_unit(void)
{
#if defined(FW_IPT_NUM)
    if (source == FW_TIMER_SYSTICK) {
        return FW_UNIT_INSTRUCTIONS;
    }
#endif
    return FW_UNIT_CYCLES;
}

uint64_t timer_to_unit(uint64_t raw)
{
#if defined(FW_IPT_NUM)
    if (source == FW_TIMER_SYSTICK) {
        return raw * (uint64_t)FW_IPT_NUM / (uint64_t)FW_IPT_DEN;
    }
#endif
    return raw;
}
