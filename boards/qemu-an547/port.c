/* Emulated MPS2/MPS3 board: CMSDK UART0, SysTick counting instructions under -icount, slots in RAM. */
#include "board.h"
#include "port.h"

void port_init(void) {
  cmsdk_uart_init();
  systick_init();
}

void port_reset(void) { cortexm_reset(); }
