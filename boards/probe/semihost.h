/* Arm semihosting calls the arena probe needs (QEMU: -semihosting-config enable=on,target=native). A call
 * is BKPT 0xAB with the operation in r0 and a parameter block in r1; without semihosting it faults. */
#ifndef EQ_SEMIHOST_H
#define EQ_SEMIHOST_H

#include <stdint.h>

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE0 0x04
#define SYS_READ 0x06
#define SYS_FLEN 0x0C
#define SYS_GET_CMDLINE 0x15
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

static inline int32_t semihost(int32_t op, const void *block) {
  register int32_t r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = block;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

#endif
