#include "stack.h"

#define PAINT 0xC5C5C5C5u

extern uint32_t __stack_bottom[], __stack_top[];

void stack_paint(void) {
  uint32_t *sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  for (uint32_t *p = __stack_bottom; p < sp - 16; p++) *p = PAINT; /* 64 bytes below sp stay for this frame */
}

uint32_t stack_used(void) {
  const uint32_t *p = __stack_bottom;
  while (p < __stack_top && *p == PAINT) p++;
  return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

uint32_t stack_size(void) { return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_bottom); }
