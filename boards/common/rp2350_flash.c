/* RP2350 flash programming through the boot ROM (datasheet §5.4): XIP is off while the ROM erases or
 * programs, so these functions run from RAM (.ramfunc) with interrupts masked, and the QMI read setup the
 * boot ROM made is restored afterwards (the ROM's own re-entry is the slow 03h read mode). */
#include <stdint.h>

#include "port.h"

#define XIP_BASE 0x10000000u
#define QMI_M0_TIMING (*(volatile uint32_t *)0x400D000Cu)
#define QMI_M0_RFMT (*(volatile uint32_t *)0x400D0010u)
#define QMI_M0_RCMD (*(volatile uint32_t *)0x400D0014u)
#define RT_FLAG_FUNC_ARM_SEC 0x0004u
#define ROM_CODE(a, b) ((uint32_t)(a) | (uint32_t)(b) << 8)

typedef void *(*rom_lookup_fn)(uint32_t code, uint32_t mask);
typedef void (*rom_void_fn)(void);
typedef void (*rom_erase_fn)(uint32_t offset, uint32_t count, uint32_t block_size, uint8_t block_cmd);
typedef void (*rom_program_fn)(uint32_t offset, const uint8_t *data, uint32_t count);

static struct {
  rom_void_fn connect, exit_xip, flush_cache, enter_xip;
  rom_erase_fn erase;
  rom_program_fn program;
} rom;

static int rom_init(void) {
  if (rom.program) return 0;
  uint32_t at = 0x16u; /* ROM halfword holding the lookup function's address; asm hides the constant
                          address from GCC's array-bounds check */
  __asm__("" : "+r"(at));
  rom_lookup_fn lookup = (rom_lookup_fn)(uintptr_t)(*(const volatile uint16_t *)at);
  rom.connect = (rom_void_fn)lookup(ROM_CODE('I', 'F'), RT_FLAG_FUNC_ARM_SEC);
  rom.exit_xip = (rom_void_fn)lookup(ROM_CODE('E', 'X'), RT_FLAG_FUNC_ARM_SEC);
  rom.erase = (rom_erase_fn)lookup(ROM_CODE('R', 'E'), RT_FLAG_FUNC_ARM_SEC);
  rom.program = (rom_program_fn)lookup(ROM_CODE('R', 'P'), RT_FLAG_FUNC_ARM_SEC);
  rom.flush_cache = (rom_void_fn)lookup(ROM_CODE('F', 'C'), RT_FLAG_FUNC_ARM_SEC);
  rom.enter_xip = (rom_void_fn)lookup(ROM_CODE('C', 'X'), RT_FLAG_FUNC_ARM_SEC);
  return rom.connect && rom.exit_xip && rom.erase && rom.program && rom.flush_cache && rom.enter_xip ? 0 : -1;
}

__attribute__((section(".ramfunc"), noinline)) static void flash_op(uint32_t offset, const uint8_t *data, uint32_t n) {
  uint32_t timing = QMI_M0_TIMING, rfmt = QMI_M0_RFMT, rcmd = QMI_M0_RCMD;
  __asm__ volatile("cpsid i" ::: "memory");
  rom.connect();
  rom.exit_xip();
  if (data)
    rom.program(offset, data, n);
  else
    rom.erase(offset, n, 0x10000u, 0xD8); /* 64 KiB block erase where aligned, sectors otherwise */
  rom.flush_cache();
  rom.enter_xip();
  QMI_M0_TIMING = timing;
  QMI_M0_RFMT = rfmt;
  QMI_M0_RCMD = rcmd;
  __asm__ volatile("cpsie i" ::: "memory");
}

int port_nv_erase(uint32_t addr, uint32_t bytes) {
  if (rom_init()) return -1;
  flash_op(addr - XIP_BASE, 0, bytes);
  return 0;
}

int port_nv_write(uint32_t addr, const void *src, uint32_t bytes) {
  if (rom_init()) return -1;
  flash_op(addr - XIP_BASE, (const uint8_t *)src, bytes);
  return 0;
}
