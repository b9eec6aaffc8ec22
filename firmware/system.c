/* SPDX-License-Identifier: MIT */
/* Stopping the firmware: semihosting SYS_EXIT under QEMU (FW_SEMIHOSTING), a halt loop on
 * hardware (a semihosting call without a debugger attached would fault). */
#include <stdint.h>

#include "fw.h"
#include "protocol.h"

#define SYS_EXIT 0x18u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define ADP_STOPPED_RUNTIME_ERROR 0x20023u

void fw_exit(int code)
{
#if defined(FW_SEMIHOSTING)
    register uint32_t r0 __asm__("r0") = SYS_EXIT;
    register uint32_t r1 __asm__("r1") =
        code == 0 ? ADP_STOPPED_APPLICATION_EXIT : ADP_STOPPED_RUNTIME_ERROR;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
#else
    (void)code;
#endif
    for (;;) {
        __asm__ volatile("wfi");
    }
}

void fw_fault(uint32_t kind, uint32_t detail)
{
    /* The UART was initialised before any request could run; send one error frame. */
    proto_send_error(0, ERR_FAULT, (kind << 28) | (detail & 0x0FFFFFFFu));
    fw_exit(1);
}
