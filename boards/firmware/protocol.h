/* Command execution of boards/PROTOCOL.md: one request frame in, one response out. */
#ifndef EQ_PROTOCOL_H
#define EQ_PROTOCOL_H
#include <stdint.h>

#include "frame.h"

enum {
  RSP_ERR = 0xFF,
  RSP_NAK = 0xFE,
};

/* ERR codes (first payload byte of an ERR response). */
enum {
  ERR_UNKNOWN_COMMAND = 1,
  ERR_BAD_REQUEST = 2, /* payload too short or a field out of range */
  ERR_CRC = 3,         /* uploaded model's CRC-32 differs from UPLOAD_BEGIN's */
  ERR_NO_MODEL = 4,    /* no valid slot, or LOAD not done */
  ERR_RUNTIME = 5,     /* the runtime failed; message names the status (and op) */
  ERR_STATE = 6,       /* command out of order (chunk without begin, op output not computed) */
  ERR_TOO_LARGE = 7,   /* model larger than the slot */
  ERR_NV = 8,          /* erase or write of the slot memory failed */
};

#define CMD_RESET 0x30

/* Executes req; writes the response type and payload (at most EQ_MAX_PAYLOAD bytes). */
void protocol_execute(const frame *req, uint8_t *rsp_type, uint8_t *rsp, uint16_t *rsp_len);
void protocol_boot(void);

#endif
