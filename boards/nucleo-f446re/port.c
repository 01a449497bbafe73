/* NUCLEO-F446RE: USART2 on PA2 (TX) / PA3 (RX), AF7, wired to the ST-LINK virtual COM port. The core runs
 * from the 16 MHz HSI it resets to (APB1 = 16 MHz). Register-level, no HAL. */
#include <stdint.h>

#include "board.h"
#include "port.h"

#define REG(a) (*(volatile uint32_t *)(a))
#define RCC_AHB1ENR REG(0x40023830u)
#define RCC_APB1ENR REG(0x40023840u)
#define GPIOA_MODER REG(0x40020000u)
#define GPIOA_AFRL REG(0x40020020u)
#define USART_SR REG(EQ_UART_BASE + 0x00u)
#define USART_DR REG(EQ_UART_BASE + 0x04u)
#define USART_BRR REG(EQ_UART_BASE + 0x08u)
#define USART_CR1 REG(EQ_UART_BASE + 0x0Cu)
#define SR_ORE (1u << 3)
#define SR_RXNE (1u << 5)
#define SR_TC (1u << 6)
#define SR_TXE (1u << 7)

void port_init(void) {
  RCC_AHB1ENR |= 1u << 0;  /* GPIOA */
  RCC_APB1ENR |= 1u << 17; /* USART2 */
  (void)RCC_APB1ENR;
  GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 4)) | 0xAu << 4;  /* PA2, PA3 alternate function */
  GPIOA_AFRL = (GPIOA_AFRL & ~(0xFFu << 8)) | 0x77u << 8; /* AF7 = USART2 */
  USART_BRR = (EQ_CLOCK_HZ + EQ_UART_BAUD / 2) / EQ_UART_BAUD;
  USART_CR1 = (1u << 13) | (1u << 3) | (1u << 2); /* UE, TE, RE */
  dwt_init();
}

void port_putc(uint8_t c) {
  while (!(USART_SR & SR_TXE)) {
  }
  USART_DR = c;
}

void port_flush(void) {
  while (!(USART_SR & SR_TC)) {
  }
}

int port_getc(void) {
  uint32_t sr = USART_SR;
  if (sr & (SR_RXNE | SR_ORE)) {
    int c = (int)(USART_DR & 0xFF); /* reading SR then DR also clears an overrun */
    if (sr & SR_RXNE) return c;
  }
  return -1;
}

void port_reset(void) { cortexm_reset(); }
