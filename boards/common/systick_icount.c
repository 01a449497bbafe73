/* Counter for QEMU boards: SysTick from the core clock, extended to 64 bits by its wrap interrupt. Under
 * -icount shift=0 one instruction is one nanosecond, so ticks * 1e9 / clock_hz is the instruction count
 * (DWT CYCCNT does not count under QEMU). */
#include <stdint.h>

#include "port.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define RELOAD 0xFFFFFFu

static volatile uint64_t wraps;

void SysTick_Handler(void) { wraps += RELOAD + 1u; }

void systick_init(void) {
  SYST_RVR = RELOAD;
  SYST_CVR = 0;
  SYST_CSR = 0x7; /* core clock, interrupt, enable */
  while (SYST_CVR == 0) {
  } /* reads 0 right after enabling */
}

uint64_t port_ticks(void) {
  uint64_t w;
  uint32_t v;
  do {
    w = wraps;
    v = SYST_CVR;
  } while (w != wraps);
  return w + (RELOAD - v);
}

uint64_t port_ticks_to_count(uint64_t ticks) { return ticks * 1000000000ull / EQ_CLOCK_HZ; }

/* Virtual milliseconds: 1e6 instructions. */
uint32_t port_ticks_per_ms(void) { return EQ_CLOCK_HZ / 1000u; }
