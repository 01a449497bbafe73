/* Sleeping UART receive for the emulated CMSDK boards, included by their port.c after defining
 *   WAIT_UART_IRQ      NVIC line of UART0's RX interrupt (the next line, TX, is enabled too: boards disagree
 *                      on the order and TX interrupts stay off in CTRL, so it never fires)
 *   WAIT_TIMER_BASE    a CMSDK APB timer for the inter-byte timeout, WAIT_TIMER_IRQ its NVIC line,
 *   WAIT_TIMER_PER_MS  its ticks per millisecond.
 * The core waits in WFI with PRIMASK set: a pending enabled interrupt wakes it but no handler runs (the
 * firmware has none), so the wait needs no vector table entries. An idle QEMU then sleeps instead of
 * spinning on the UART, and under -icount (sleep=on) virtual time follows real time while the core sleeps,
 * so the timeout lasts its milliseconds of wall time. Counted spans (INVOKE) never wait here. */
#ifndef EQ_CMSDK_WAIT_H
#define EQ_CMSDK_WAIT_H
#include <stdint.h>

#include "port.h"


#define CW_REG(a) (*(volatile uint32_t *)(a))
#define CW_UART_CTRL CW_REG(EQ_UART_BASE + 0x8u)
#define CW_UART_INTCLEAR CW_REG(EQ_UART_BASE + 0xCu)
#define CW_TIMER_CTRL CW_REG(WAIT_TIMER_BASE + 0x0u)
#define CW_TIMER_VALUE CW_REG(WAIT_TIMER_BASE + 0x4u)
#define CW_TIMER_RELOAD CW_REG(WAIT_TIMER_BASE + 0x8u)
#define CW_TIMER_INT CW_REG(WAIT_TIMER_BASE + 0xCu)
#define CW_NVIC_ISER(n) CW_REG(0xE000E100u + 4u * ((n) / 32u))
#define CW_NVIC_ICPR(n) CW_REG(0xE000E280u + 4u * ((n) / 32u))
#define CW_RX_INTEN (1u << 3)
#define CW_BIT(n) (1u << ((n) % 32u))

static void cmsdk_wait_init(void) {
  __asm__ volatile("cpsid i" ::: "memory");
  CW_TIMER_CTRL = 0;
  CW_TIMER_INT = 1;
  CW_NVIC_ISER(WAIT_UART_IRQ) = CW_BIT(WAIT_UART_IRQ);
  CW_NVIC_ISER(WAIT_UART_IRQ + 1) = CW_BIT(WAIT_UART_IRQ + 1);
  CW_NVIC_ISER(WAIT_TIMER_IRQ) = CW_BIT(WAIT_TIMER_IRQ);
}

/* Forget the wake-ups already served: the device's latch first, then the NVIC's pending bit. */
static void cmsdk_wait_ack(void) {
  CW_UART_INTCLEAR = 0x3u;
  CW_NVIC_ICPR(WAIT_UART_IRQ) = CW_BIT(WAIT_UART_IRQ);
  CW_NVIC_ICPR(WAIT_UART_IRQ + 1) = CW_BIT(WAIT_UART_IRQ + 1);
}

int port_getc_wait(uint32_t timeout_ms) {
  int c = port_getc();
  if (c >= 0) return c;
  /* Interrupts only while sleeping: a pending one during a burst of bytes would only slow the core down. */
  CW_UART_CTRL |= CW_RX_INTEN;
  if (timeout_ms) {
    CW_TIMER_CTRL = 0;
    CW_TIMER_INT = 1;
    CW_NVIC_ICPR(WAIT_TIMER_IRQ) = CW_BIT(WAIT_TIMER_IRQ);
    CW_TIMER_RELOAD = timeout_ms * WAIT_TIMER_PER_MS;
    CW_TIMER_VALUE = timeout_ms * WAIT_TIMER_PER_MS;
    CW_TIMER_CTRL = 0x9u; /* enable, interrupt enable */
  }
  for (;;) {
    /* Acknowledge before looking: a byte or the timeout arriving after the look leaves an interrupt
     * pending, which makes the WFI return at once instead of sleeping through it. */
    cmsdk_wait_ack();
    c = port_getc();
    if (c >= 0) break;
    if (timeout_ms && (CW_TIMER_INT & 1u)) break;
    __asm__ volatile("dsb\n wfi" ::: "memory");
  }
  CW_UART_CTRL &= ~CW_RX_INTEN;
  cmsdk_wait_ack();
  if (timeout_ms) {
    CW_TIMER_CTRL = 0;
    CW_TIMER_INT = 1;
    CW_NVIC_ICPR(WAIT_TIMER_IRQ) = CW_BIT(WAIT_TIMER_IRQ);
  }
  return c;
}

#endif
