/* The runner: serves boards/PROTOCOL.md forever. The last response is kept so a retransmitted request
 * (same seq and CRC) is answered again without running twice. */
#include <string.h>

#include "frame.h"
#include "port.h"
#include "protocol.h"
#include "stack.h"

static frame req;
static uint8_t rsp[EQ_MAX_PAYLOAD];
static struct {
  int valid;
  uint8_t seq, type;
  uint32_t req_crc;
  uint16_t len;
} last;

int main(void) {
  stack_paint();
  port_init();
  protocol_boot();
  for (;;) {
    int st = frame_recv(&req);
    if (st != FRAME_OK) {
      frame_send(RSP_NAK, req.seq, 0, 0);
      continue;
    }
    if (req.type == 0x01) last.valid = 0; /* HELLO starts a session */
    if (last.valid && req.seq == last.seq && req.crc == last.req_crc) {
      frame_send(last.type, last.seq, rsp, last.len);
      continue;
    }
    uint8_t type;
    uint16_t len;
    protocol_execute(&req, &type, rsp, &len);
    last.valid = 1;
    last.seq = req.seq;
    last.type = type;
    last.req_crc = req.crc;
    last.len = len;
    frame_send(type, req.seq, rsp, len);
    if (req.type == CMD_RESET && type != RSP_ERR) {
      port_flush();
      port_reset();
    }
  }
}
