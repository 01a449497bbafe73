/* STM32H7 flash programming for the model slots (RM0433 §4): 128 KiB sectors, 256-bit flash words. Bank 2
 * (0x08100000) has its registers 0x100 above bank 1's, so slots there never stall the code in bank 1. */
#include <stdint.h>
#include <string.h>

#include "port.h"

#define FLASH_R(bank, off) (*(volatile uint32_t *)(0x52002000u + (bank) * 0x100u + (off)))
#define KEYR 0x04u
#define CR 0x0Cu
#define SR 0x10u
#define CCR 0x14u
#define CR_LOCK (1u << 0)
#define CR_PG (1u << 1)
#define CR_SER (1u << 2)
#define CR_PSIZE64 (3u << 4)
#define CR_START (1u << 7)
#define SR_BUSY ((1u << 0) | (1u << 2)) /* BSY, QW */
#define SR_ERRORS 0x0FEE0000u
#define BANK_SIZE 0x00100000u
#define SECTOR 0x20000u

static int wait_done(uint32_t bank) {
  while (FLASH_R(bank, SR) & SR_BUSY) {
  }
  uint32_t err = FLASH_R(bank, SR) & SR_ERRORS;
  FLASH_R(bank, CCR) = err;
  return err ? -1 : 0;
}

static void unlock(uint32_t bank) {
  if (FLASH_R(bank, CR) & CR_LOCK) {
    FLASH_R(bank, KEYR) = 0x45670123u;
    FLASH_R(bank, KEYR) = 0xCDEF89ABu;
  }
}

int port_nv_erase(uint32_t addr, uint32_t bytes) {
  for (uint32_t a = addr; a < addr + bytes; a += SECTOR) {
    uint32_t bank = (a - 0x08000000u) / BANK_SIZE, snb = (a - 0x08000000u) % BANK_SIZE / SECTOR;
    unlock(bank);
    FLASH_R(bank, CR) = CR_SER | CR_PSIZE64 | snb << 8;
    FLASH_R(bank, CR) |= CR_START;
    int st = wait_done(bank);
    FLASH_R(bank, CR) = CR_LOCK;
    if (st) return st;
  }
  return 0;
}

int port_nv_write(uint32_t addr, const void *src, uint32_t bytes) {
  const uint8_t *s = (const uint8_t *)src;
  for (uint32_t done = 0; done < bytes; done += 32) {
    uint32_t a = addr + done, bank = (a - 0x08000000u) / BANK_SIZE, word[8];
    memcpy(word, s + done, 32);
    unlock(bank);
    FLASH_R(bank, CR) = CR_PG | CR_PSIZE64;
    volatile uint32_t *dst = (volatile uint32_t *)a;
    for (int i = 0; i < 8; i++) dst[i] = word[i];
    __asm__ volatile("dsb" ::: "memory");
    int st = wait_done(bank);
    FLASH_R(bank, CR) = CR_LOCK;
    if (st) return st;
  }
  return 0;
}
