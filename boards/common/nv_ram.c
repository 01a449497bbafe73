/* Model slots in plain RAM (emulated boards): QEMU's system_reset keeps RAM that the ELF does not load. */
#include <string.h>

#include "port.h"

int port_nv_erase(uint32_t addr, uint32_t bytes) {
  memset((void *)addr, 0xFF, bytes);
  return 0;
}

int port_nv_write(uint32_t addr, const void *src, uint32_t bytes) {
  memcpy((void *)addr, src, bytes);
  return 0;
}
