/* STM32F4 flash programming for the model slots (RM0390 §3): sectors 5.. are 128 KiB from 0x08020000;
 * words programmed one at a time (x32, for 2.7-3.6 V supplies such as the NUCLEO's 3.3 V). */
#include <stdint.h>
#include <string.h>

#include "port.h"

#define FLASH_KEYR (*(volatile uint32_t *)0x40023C04u)
#define FLASH_SR (*(volatile uint32_t *)0x40023C0Cu)
#define FLASH_CR (*(volatile uint32_t *)0x40023C10u)
#define CR_PG (1u << 0)
#define CR_SER (1u << 1)
#define CR_PSIZE32 (2u << 8)
#define CR_STRT (1u << 16)
#define CR_LOCK (1u << 31)
#define SR_BSY (1u << 16)
#define SR_ERRORS 0x1F0u

static int wait_done(void) {
  while (FLASH_SR & SR_BSY) {
  }
  uint32_t err = FLASH_SR & SR_ERRORS;
  FLASH_SR = err;
  return err ? -1 : 0;
}

static void unlock(void) {
  if (FLASH_CR & CR_LOCK) {
    FLASH_KEYR = 0x45670123u;
    FLASH_KEYR = 0xCDEF89ABu;
  }
}

static int sector_of(uint32_t a) {
  if (a < 0x08020000u) return -1; /* the small sectors hold the firmware */
  return 5 + (int)((a - 0x08020000u) / 0x20000u);
}

int port_nv_erase(uint32_t addr, uint32_t bytes) {
  for (uint32_t a = addr; a < addr + bytes; a += 0x20000u) {
    int snb = sector_of(a);
    if (snb < 0) return -1;
    unlock();
    FLASH_CR = CR_SER | CR_PSIZE32 | (uint32_t)snb << 3;
    FLASH_CR |= CR_STRT;
    int st = wait_done();
    FLASH_CR = CR_LOCK;
    if (st) return st;
  }
  return 0;
}

int port_nv_write(uint32_t addr, const void *src, uint32_t bytes) {
  unlock();
  FLASH_CR = CR_PG | CR_PSIZE32;
  int st = 0;
  for (uint32_t i = 0; i < bytes && !st; i += 4) {
    uint32_t w;
    memcpy(&w, (const uint8_t *)src + i, 4);
    *(volatile uint32_t *)(addr + i) = w;
    st = wait_done();
  }
  FLASH_CR = CR_LOCK;
  return st;
}
