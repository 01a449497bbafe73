/* Vector table and reset handler shared by every board: .data copy, .bss clear, FPU (and Helium on
 * Armv8.1-M) enabled through CPACR before any C code that may use them. Faults reset the board so the
 * host sees a timeout and a fresh board instead of a hung one. */
#include <stdint.h>

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[], __stack_top[];
int main(void);

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_AIRCR (*(volatile uint32_t *)0xE000ED0Cu)

void Reset_Handler(void) __attribute__((noreturn));
void Reset_Handler(void) {
  SCB_CPACR |= 0xFu << 20; /* CP10/CP11 full access: FPU, and MVE on the M55 */
  __asm__ volatile("dsb\n isb" ::: "memory");
  for (uint32_t *s = __data_load, *d = __data_start; d < __data_end;) *d++ = *s++;
  for (uint32_t *d = __bss_start; d < __bss_end;) *d++ = 0;
  main();
  for (;;) {
  }
}

void cortexm_reset(void) __attribute__((noreturn));
void cortexm_reset(void) {
  __asm__ volatile("dsb" ::: "memory");
  SCB_AIRCR = 0x05FA0004u; /* SYSRESETREQ */
  for (;;) {
  }
}

static void Fault_Handler(void) { cortexm_reset(); }

static void Default_Handler(void) {
  for (;;) {
  }
}

#define WEAK(name) void name(void) __attribute__((weak, alias("Default_Handler")))
WEAK(NMI_Handler);
WEAK(SVC_Handler);
WEAK(PendSV_Handler);
WEAK(SysTick_Handler);
WEAK(Irq0_Handler); WEAK(Irq1_Handler); WEAK(Irq2_Handler); WEAK(Irq3_Handler);
WEAK(Irq4_Handler); WEAK(Irq5_Handler); WEAK(Irq6_Handler); WEAK(Irq7_Handler);
WEAK(Irq8_Handler); WEAK(Irq9_Handler); WEAK(Irq10_Handler); WEAK(Irq11_Handler);
WEAK(Irq12_Handler); WEAK(Irq13_Handler); WEAK(Irq14_Handler); WEAK(Irq15_Handler);

typedef void (*vector)(void);
__attribute__((section(".vectors"), used)) static const vector vectors[16 + 16] = {
    (vector)(uintptr_t)__stack_top, Reset_Handler, NMI_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, 0, 0, 0, SVC_Handler, 0, 0, PendSV_Handler, SysTick_Handler,
    Irq0_Handler, Irq1_Handler, Irq2_Handler, Irq3_Handler, Irq4_Handler, Irq5_Handler, Irq6_Handler,
    Irq7_Handler, Irq8_Handler, Irq9_Handler, Irq10_Handler, Irq11_Handler, Irq12_Handler, Irq13_Handler,
    Irq14_Handler, Irq15_Handler,
};
