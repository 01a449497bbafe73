/* Emulated MPS2 board: CMSDK UART0 (RX interrupt on NVIC line 0), SysTick counting instructions under
 * -icount, slots in RAM; receive sleeps in WFI with CMSDK TIMER0 (0x40000000, line 8, 25 MHz) bounding
 * the inter-byte wait (lines as QEMU's hw/arm/mps2.c wires them). */
#include "board.h"
#include "port.h"

#define WAIT_UART_IRQ 0u
#define WAIT_TIMER_BASE 0x40000000u
#define WAIT_TIMER_IRQ 8u
#define WAIT_TIMER_PER_MS 25000u
#include "cmsdk_wait.h"

void port_init(void) {
  cmsdk_uart_init();
  systick_init();
  cmsdk_wait_init();
}

void port_reset(void) { cortexm_reset(); }
