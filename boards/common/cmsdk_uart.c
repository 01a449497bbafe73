/* Arm CMSDK APB UART (MPS2/MPS3 under QEMU): DATA +0, STATE +4 (bit0 TX full, bit1 RX full), CTRL +8. */
#include <stdint.h>

#include "port.h"

#define UART_DATA (*(volatile uint32_t *)(EQ_UART_BASE + 0x0))
#define UART_STATE (*(volatile uint32_t *)(EQ_UART_BASE + 0x4))
#define UART_CTRL (*(volatile uint32_t *)(EQ_UART_BASE + 0x8))
#define UART_BAUDDIV (*(volatile uint32_t *)(EQ_UART_BASE + 0x10))

void cmsdk_uart_init(void) {
  UART_BAUDDIV = EQ_CLOCK_HZ / EQ_UART_BAUD;
  UART_CTRL = 0x3; /* TX and RX enable */
}

void port_putc(uint8_t c) {
  while (UART_STATE & 1u) {
  }
  UART_DATA = c;
}

void port_flush(void) {
  while (UART_STATE & 1u) {
  }
}

int port_getc(void) { return (UART_STATE & 2u) ? (int)(UART_DATA & 0xFF) : -1; }
