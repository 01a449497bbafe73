/* Counter for QEMU boards: SysTick from the core clock, widened to 64 bits in software (each read carries the
 * wrap; no interrupt, whose cost would land inside measured spans). Under -icount shift=0 one instruction is
 * one nanosecond, so ticks * 1e9 / clock_hz counts instructions (DWT CYCCNT does not count under QEMU).
 * A tick spans 40 (an386) or 31.25 (an547) instructions, so port_count_begin() restarts SysTick before a timed
 * span: its ticks then fall at fixed instructions of the span and repeated runs count exactly alike. */
#include <stdint.h>

#include "port.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define RELOAD 0xFFFFFFu

static uint32_t last;
static uint64_t high;

static void restart(void) {
  SYST_CSR = 0;
  SYST_RVR = RELOAD;
  SYST_CVR = 0;
  SYST_CSR = 0x5; /* core clock, no interrupt, enable */
  while (SYST_CVR == 0) {
  } /* reads 0 until the first reload */
  last = SYST_CVR;
  high = 0;
}

void systick_init(void) { restart(); }
void port_count_begin(void) { restart(); }

uint64_t port_ticks(void) {
  uint32_t v = SYST_CVR;
  if (v > last) high += RELOAD + 1u; /* down-counter wrapped since the last read */
  last = v;
  return high + (RELOAD - v);
}

uint64_t port_ticks_to_count(uint64_t ticks) { return ticks * 1000000000ull / EQ_CLOCK_HZ; }

/* Virtual milliseconds: 1e6 instructions. */
uint32_t port_ticks_per_ms(void) { return EQ_CLOCK_HZ / 1000u; }
