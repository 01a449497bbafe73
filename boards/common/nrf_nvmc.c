/* nRF52 NVMC for the model slots: 4 KiB pages, 32-bit word writes; the CPU stalls while it works. */
#include <stdint.h>
#include <string.h>

#include "port.h"

#define NVMC_READY (*(volatile uint32_t *)0x4001E400u)
#define NVMC_CONFIG (*(volatile uint32_t *)0x4001E504u)
#define NVMC_ERASEPAGE (*(volatile uint32_t *)0x4001E508u)

static void wait_ready(void) {
  while (!(NVMC_READY & 1u)) {
  }
}

int port_nv_erase(uint32_t addr, uint32_t bytes) {
  NVMC_CONFIG = 2; /* erase enable */
  for (uint32_t a = addr; a < addr + bytes; a += 0x1000u) {
    NVMC_ERASEPAGE = a;
    wait_ready();
  }
  NVMC_CONFIG = 0;
  return 0;
}

int port_nv_write(uint32_t addr, const void *src, uint32_t bytes) {
  NVMC_CONFIG = 1; /* write enable */
  for (uint32_t i = 0; i < bytes; i += 4) {
    uint32_t w;
    memcpy(&w, (const uint8_t *)src + i, 4);
    *(volatile uint32_t *)(addr + i) = w;
    wait_ready();
  }
  NVMC_CONFIG = 0;
  return 0;
}
