/* Receive hunts for the magic and reads the rest with an inter-byte timeout, so a frame that lost bytes
 * is dropped (and NAKed) long before the host's retransmission arrives. The CRC is computed once the frame
 * is in, over the buffer, not byte by byte while receiving. */
#include "frame.h"

#include "crc32.h"
#include "port.h"

#define MAGIC0 0xE5
#define MAGIC1 0x51
/* Within a frame the bytes follow each other (the host writes a frame at once): a gap this long means
 * bytes were lost. Short, so the NAK reaches the host well before its own retransmit timeout; a board
 * behind a USB-serial bridge gets more room than an emulated one fed from a local socket. */
#ifndef INTER_BYTE_MS
#if EQ_EMULATED
#define INTER_BYTE_MS 5
#else
#define INTER_BYTE_MS 20
#endif
#endif

/* Polling fallback for boards whose port layer cannot sleep until a byte arrives. */
__attribute__((weak)) int port_getc_wait(uint32_t timeout_ms) {
  int c = port_getc();
  if (c >= 0 || timeout_ms == 0) {
    while (c < 0) c = port_getc();
    return c;
  }
  uint64_t limit = (uint64_t)port_ticks_per_ms() * timeout_ms, start = port_ticks();
  while ((c = port_getc()) < 0)
    if (port_ticks() - start > limit) return -1;
  return c;
}

static int read_n(uint8_t *dst, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    int c = port_getc_wait(INTER_BYTE_MS);
    if (c < 0) return -1;
    dst[i] = (uint8_t)c;
  }
  return 0;
}

int frame_recv(frame *f) {
  for (;;) {
    int c = port_getc_wait(0);
    while (c == MAGIC0) {
      c = port_getc_wait(INTER_BYTE_MS);
      if (c != MAGIC1) continue; /* another E5 may start the real magic */
      uint8_t hdr[4], tail[4];
      if (read_n(hdr, 4) < 0) break;
      f->type = hdr[0];
      f->seq = hdr[1];
      f->len = (uint16_t)(hdr[2] | hdr[3] << 8);
      if (f->len > EQ_MAX_PAYLOAD) return FRAME_BROKEN;
      if (read_n(f->payload, f->len) < 0 || read_n(tail, 4) < 0) return FRAME_BROKEN;
      f->crc = (uint32_t)tail[0] | (uint32_t)tail[1] << 8 | (uint32_t)tail[2] << 16 | (uint32_t)tail[3] << 24;
      uint32_t crc = crc32_update(crc32_update(0, hdr, 4), f->payload, f->len);
      return crc == f->crc ? FRAME_OK : FRAME_BROKEN;
    }
  }
}

void frame_send(uint8_t type, uint8_t seq, const uint8_t *payload, uint16_t len) {
  uint8_t hdr[6] = {MAGIC0, MAGIC1, type, seq, (uint8_t)len, (uint8_t)(len >> 8)};
  uint32_t crc = crc32_update(crc32_update(0, hdr + 2, 4), payload, len);
  for (int i = 0; i < 6; i++) port_putc(hdr[i]);
  for (uint16_t i = 0; i < len; i++) port_putc(payload[i]);
  for (int i = 0; i < 4; i++) port_putc((uint8_t)(crc >> (8 * i)));
}
