/* Cycle counter of real boards: DWT CYCCNT, widened to 64 bits in software (each read carries the wrap). */
#include <stdint.h>

#include "port.h"

#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)

static uint32_t last;
static uint64_t high;

void dwt_init(void) {
  DEMCR |= 1u << 24;     /* TRCENA */
  DWT_LAR = 0xC5ACCE55u; /* unlock on cores that have the lock (Cortex-M7) */
  DWT_CYCCNT = 0;
  DWT_CTRL |= 1u;
}

uint64_t port_ticks(void) {
  uint32_t now = DWT_CYCCNT;
  if (now < last) high += 1ull << 32;
  last = now;
  return high | now;
}

uint64_t port_ticks_to_count(uint64_t ticks) { return ticks; }
void port_count_begin(void) {} /* CYCCNT counts every cycle: nothing to align */
uint32_t port_ticks_per_ms(void) { return EQ_CLOCK_HZ / 1000u; }
