/* The port layer every board provides (boards/<name>/port.c plus the shared drivers in boards/common/).
 * Board constants arrive as -D macros generated from board.toml by edgeq/device/build.py. */
#ifndef EQ_PORT_H
#define EQ_PORT_H

#include <stdint.h>

void port_init(void);                 /* clocks, UART, counter; called once from main */
void port_putc(uint8_t c);            /* blocking */
void port_flush(void);                /* returns when the last byte has left the UART */
int port_getc(void);                  /* a received byte, or -1 when none is waiting (never blocks) */
/* A received byte, waiting up to timeout_ms (0: forever); -1 on timeout. frame.c has a polling version on
 * port_ticks(); a board that can sleep until its UART interrupt overrides it (boards/common/cmsdk_wait.h),
 * so an idle board costs its host nothing. */
int port_getc_wait(uint32_t timeout_ms);

/* The free-running counter (SysTick under QEMU's -icount, or DWT CYCCNT) in its raw ticks; ticks_to_count
 * converts a difference to the unit INFO reports (instructions or cycles). */
uint64_t port_ticks(void);
uint64_t port_ticks_to_count(uint64_t ticks);
uint32_t port_ticks_per_ms(void);
void port_count_begin(void);          /* before a timed span: makes its count repeatable (see systick_icount.c) */

void port_reset(void) __attribute__((noreturn));

/* Non-volatile memory of the model slots. erase: addr and bytes multiples of EQ_NV_ERASE; write: addr and
 * bytes multiples of EQ_NV_WRITE, into erased memory. 0 on success. */
int port_nv_erase(uint32_t addr, uint32_t bytes);
int port_nv_write(uint32_t addr, const void *src, uint32_t bytes);

#endif
