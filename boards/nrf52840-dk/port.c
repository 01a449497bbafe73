/* nRF52840-DK: UARTE0 on P0.06 (TX) / P0.08 (RX), the J-Link virtual COM port, from the 64 MHz crystal
 * clock. EasyDMA receives one byte per transfer into a ring: ENDRX->STARTRX is shortcut in hardware and the
 * interrupt moves RXD.PTR on at each RXSTARTED, so bytes keep landing while the CPU is busy. EasyDMA cannot
 * read flash, so every transmitted byte goes through a RAM buffer. Register-level, no HAL. */
#include <stdint.h>

#include "board.h"
#include "port.h"

#define REG(a) (*(volatile uint32_t *)(a))
#define CLOCK_HFCLKSTART REG(0x40000000u)
#define CLOCK_HFCLKSTARTED REG(0x40000100u)
#define P0_OUTSET REG(0x50000508u)
#define P0_DIRSET REG(0x50000518u)
#define U(off) REG(EQ_UART_BASE + (off))
#define STARTRX U(0x000u)
#define STARTTX U(0x008u)
#define EV_ENDRX U(0x110u)
#define EV_ENDTX U(0x120u)
#define EV_RXSTARTED U(0x14Cu)
#define SHORTS U(0x200u)
#define INTENSET U(0x304u)
#define ENABLE U(0x500u)
#define PSEL_TXD U(0x50Cu)
#define PSEL_RXD U(0x514u)
#define BAUDRATE U(0x524u)
#define RXD_PTR U(0x534u)
#define RXD_MAXCNT U(0x538u)
#define TXD_PTR U(0x544u)
#define TXD_MAXCNT U(0x548u)
#define NVIC_ISER0 REG(0xE000E100u)
#define UARTE0_IRQ 2

#if EQ_UART_BAUD != 115200
#error "nrf52840-dk: only 115200 baud is configured"
#endif

static volatile uint8_t ring[256];
static volatile uint8_t head, next_slot; /* bytes landed in ring[..head); slot the next transfer uses */
static uint8_t tail;
static volatile uint8_t tx_byte;

void Irq2_Handler(void) {
  if (EV_ENDRX) {
    EV_ENDRX = 0;
    head++;
  }
  if (EV_RXSTARTED) { /* the transfer under way latched RXD.PTR: point the next one at the following slot */
    EV_RXSTARTED = 0;
    next_slot++;
    RXD_PTR = (uint32_t)(uintptr_t)&ring[next_slot];
  }
}

void port_init(void) {
  CLOCK_HFCLKSTART = 1;
  while (!CLOCK_HFCLKSTARTED) {
  }
  P0_OUTSET = 1u << EQ_UART_TX_PIN;
  P0_DIRSET = 1u << EQ_UART_TX_PIN;
  PSEL_TXD = EQ_UART_TX_PIN;
  PSEL_RXD = EQ_UART_RX_PIN;
  BAUDRATE = 0x01D7E000u; /* 115200 */
  ENABLE = 8;
  RXD_PTR = (uint32_t)(uintptr_t)&ring[0];
  RXD_MAXCNT = 1;
  SHORTS = 1u << 5;                 /* ENDRX -> STARTRX */
  INTENSET = (1u << 4) | (1u << 19); /* ENDRX, RXSTARTED */
  NVIC_ISER0 = 1u << UARTE0_IRQ;
  STARTRX = 1;
  dwt_init();
}

void port_putc(uint8_t c) {
  tx_byte = c;
  TXD_PTR = (uint32_t)(uintptr_t)&tx_byte;
  TXD_MAXCNT = 1;
  EV_ENDTX = 0;
  STARTTX = 1;
  while (!EV_ENDTX) {
  }
}

void port_flush(void) {}

int port_getc(void) {
  if (tail == head) return -1;
  return ring[tail++];
}

void port_reset(void) { cortexm_reset(); }
