/* NUCLEO-H743ZI: USART3 on PD8 (TX) / PD9 (RX), AF7, wired to the ST-LINK virtual COM port. The core runs
 * from the 64 MHz HSI it resets to (PCLK1 = 64 MHz, USART3's default kernel clock). Register-level, no HAL. */
#include <stdint.h>

#include "board.h"
#include "port.h"

#define REG(a) (*(volatile uint32_t *)(a))
#define RCC_AHB4ENR REG(0x580244E0u)
#define RCC_APB1LENR REG(0x580244E8u)
#define GPIOD_MODER REG(0x58020C00u)
#define GPIOD_AFRH REG(0x58020C24u)
#define USART_CR1 REG(EQ_UART_BASE + 0x00u)
#define USART_BRR REG(EQ_UART_BASE + 0x0Cu)
#define USART_ISR REG(EQ_UART_BASE + 0x1Cu)
#define USART_ICR REG(EQ_UART_BASE + 0x20u)
#define USART_RDR REG(EQ_UART_BASE + 0x24u)
#define USART_TDR REG(EQ_UART_BASE + 0x28u)
#define ISR_ORE (1u << 3)
#define ISR_RXNE (1u << 5)
#define ISR_TC (1u << 6)
#define ISR_TXE (1u << 7)

void port_init(void) {
  RCC_AHB4ENR |= 1u << 3;   /* GPIOD */
  RCC_APB1LENR |= 1u << 18; /* USART3 */
  (void)RCC_APB1LENR;
  GPIOD_MODER = (GPIOD_MODER & ~(0xFu << 16)) | 0xAu << 16; /* PD8, PD9 alternate function */
  GPIOD_AFRH = (GPIOD_AFRH & ~0xFFu) | 0x77u;                /* AF7 = USART3 */
  USART_BRR = (EQ_CLOCK_HZ + EQ_UART_BAUD / 2) / EQ_UART_BAUD;
  USART_CR1 = (1u << 3) | (1u << 2) | 1u; /* TE, RE, UE */
  dwt_init();
}

void port_putc(uint8_t c) {
  while (!(USART_ISR & ISR_TXE)) {
  }
  USART_TDR = c;
}

void port_flush(void) {
  while (!(USART_ISR & ISR_TC)) {
  }
}

int port_getc(void) {
  uint32_t isr = USART_ISR;
  if (isr & ISR_ORE) USART_ICR = ISR_ORE; /* an overrun stops reception until cleared */
  return (isr & ISR_RXNE) ? (int)(USART_RDR & 0xFF) : -1;
}

void port_reset(void) { cortexm_reset(); }
