/* Framing of boards/PROTOCOL.md: magic E5 51, type, seq, u16 len, payload, CRC-32 over type..payload. */
#ifndef EQ_FRAME_H
#define EQ_FRAME_H
#include <stdint.h>

#ifndef EQ_MAX_PAYLOAD
#define EQ_MAX_PAYLOAD 1024
#endif

enum { FRAME_OK = 0, FRAME_BROKEN = 1 }; /* BROKEN: header read (seq known) but too long, cut off or bad CRC */

typedef struct {
  uint8_t type, seq;
  uint16_t len;
  uint32_t crc;                     /* the frame's CRC, which identifies a retransmission */
  uint8_t payload[EQ_MAX_PAYLOAD];
} frame;

/* Blocks until a frame arrives; FRAME_BROKEN frames have only type/seq set. */
int frame_recv(frame *f);
void frame_send(uint8_t type, uint8_t seq, const uint8_t *payload, uint16_t len);

#endif
