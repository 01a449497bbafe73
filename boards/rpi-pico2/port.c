/* Raspberry Pi Pico 2 (RP2350, Arm Secure): UART0 (PL011) on GP0 (TX) / GP1 (RX). clk_ref and clk_sys run from
 * the 12 MHz crystal (no PLL), clk_peri from clk_sys. The boot ROM needs the IMAGE_DEF block below in the
 * first 4 KiB of flash to start the image. Register-level, no SDK. */
#include <stdint.h>

#include "board.h"
#include "port.h"

#define REG(a) (*(volatile uint32_t *)(a))
#define CLR(a) REG((a) + 0x3000u) /* atomic clear alias */
#define RESETS_RESET 0x40020000u
#define RESETS_DONE REG(0x40020008u)
#define RESET_IO_BANK0 (1u << 6)
#define RESET_PADS_BANK0 (1u << 9)
#define RESET_UART0 (1u << 26)
#define IO_GPIO_CTRL(n) REG(0x40028004u + 8u * (n))
#define PADS_GPIO(n) REG(0x40038004u + 4u * (n))
#define XOSC_CTRL REG(0x40048000u)
#define XOSC_STATUS REG(0x40048004u)
#define XOSC_STARTUP REG(0x4004800Cu)
#define CLK_REF_CTRL REG(0x40010030u)
#define CLK_REF_SELECTED REG(0x40010038u)
#define CLK_SYS_CTRL REG(0x4001003Cu)
#define CLK_SYS_SELECTED REG(0x40010044u)
#define CLK_PERI_CTRL REG(0x40010048u)
#define UART_DR REG(EQ_UART_BASE + 0x00u)
#define UART_FR REG(EQ_UART_BASE + 0x18u)
#define UART_IBRD REG(EQ_UART_BASE + 0x24u)
#define UART_FBRD REG(EQ_UART_BASE + 0x28u)
#define UART_LCR_H REG(EQ_UART_BASE + 0x2Cu)
#define UART_CR REG(EQ_UART_BASE + 0x30u)
#define FR_BUSY (1u << 3)
#define FR_RXFE (1u << 4)
#define FR_TXFF (1u << 5)

/* Minimal IMAGE_DEF: an Arm Secure executable for RP2350, vector table at the image start. */
__attribute__((section(".boot_block"), used)) static const uint32_t image_def[] = {
    0xFFFFDED3u, /* block start marker */
    0x10210142u, /* IMAGE_TYPE item: EXE, Secure, Arm, RP2350 */
    0x000001FFu, /* last item, size 1 word */
    0x00000000u, /* link to self: the only block */
    0xAB123579u, /* block end marker */
};

static void clocks_init(void) {
  XOSC_STARTUP = 47;                  /* ~1 ms at 12 MHz (x256 cycles) */
  XOSC_CTRL = 0xAA0u | 0xFABu << 12; /* 1-15 MHz range, enable */
  while (!(XOSC_STATUS & (1u << 31))) {
  }
  CLK_REF_CTRL = 2; /* xosc */
  while (!(CLK_REF_SELECTED & (1u << 2))) {
  }
  CLK_SYS_CTRL = 0; /* clk_ref */
  while (!(CLK_SYS_SELECTED & 1u)) {
  }
  CLK_PERI_CTRL = 1u << 11; /* enable, from clk_sys */
}

void port_init(void) {
  clocks_init();
  uint32_t blocks = RESET_IO_BANK0 | RESET_PADS_BANK0 | RESET_UART0;
  CLR(RESETS_RESET) = blocks;
  while ((RESETS_DONE & blocks) != blocks) {
  }
  uint32_t div = 8u * EQ_CLOCK_HZ / EQ_UART_BAUD + 1u; /* baud divisor x128, rounded below */
  UART_IBRD = div >> 7;
  UART_FBRD = (div & 0x7Fu) >> 1;
  UART_LCR_H = (3u << 5) | (1u << 4); /* 8N1, FIFOs on (also latches the divisor) */
  UART_CR = (1u << 9) | (1u << 8) | 1u; /* RXE, TXE, UARTEN */
  IO_GPIO_CTRL(EQ_UART_TX_PIN) = 2;     /* UART function */
  IO_GPIO_CTRL(EQ_UART_RX_PIN) = 2;
  PADS_GPIO(EQ_UART_TX_PIN) &= ~(1u << 8);              /* clear pad isolation */
  PADS_GPIO(EQ_UART_RX_PIN) = (PADS_GPIO(EQ_UART_RX_PIN) & ~(1u << 8)) | 1u << 6; /* and enable input */
  dwt_init();
}

void port_putc(uint8_t c) {
  while (UART_FR & FR_TXFF) {
  }
  UART_DR = c;
}

void port_flush(void) {
  while (UART_FR & FR_BUSY) {
  }
}

int port_getc(void) { return (UART_FR & FR_RXFE) ? -1 : (int)(UART_DR & 0xFF); }

void port_reset(void) { cortexm_reset(); }
