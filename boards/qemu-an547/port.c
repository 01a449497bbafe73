/* Emulated MPS3 AN547 (SSE-300): CMSDK UART0 (NVIC lines 33/34 for TX/RX as QEMU's hw/arm/mps2-tz.c wires
 * them), SysTick counting instructions under -icount, slots in RAM; receive sleeps in WFI with the SSE's
 * 32 kHz CMSDK timer (S32KTIMER, Secure alias 0x5802F000, line 2) bounding the inter-byte wait. */
#include "board.h"
#include "port.h"

#define WAIT_UART_IRQ 33u
#define WAIT_TIMER_BASE 0x5802F000u
#define WAIT_TIMER_IRQ 2u
#define WAIT_TIMER_PER_MS 32u
#include "cmsdk_wait.h"

void port_init(void) {
  cmsdk_uart_init();
  systick_init();
  cmsdk_wait_init();
}

void port_reset(void) { cortexm_reset(); }
