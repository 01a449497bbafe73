/* The header is written last, only after the slot's data read back with the declared CRC, so a slot
 * is valid exactly when a whole upload landed; the active slot is never the one being written. */
#include "slots.h"

#include <string.h>

#include "crc32.h"
#include "port.h"

#define SLOT_MAGIC 0x534D5145u /* "EQMS" little-endian */
#if EQ_NV_WRITE > SLOT_DATA
#error "write granularity larger than the slot header page"
#endif

static const uint32_t base[2] = {EQ_SLOT_A, EQ_SLOT_B};
static int active = -1;

static struct {
  int target;                 /* -1: no upload under way */
  uint32_t size, crc, received;
  uint32_t pending;           /* bytes in buf not yet written (less than EQ_NV_WRITE) */
  uint8_t buf[EQ_NV_WRITE];
} up = {.target = -1};

typedef struct {
  uint32_t magic, generation, size, crc, header_crc;
} slot_header;

uint32_t slots_capacity(void) { return EQ_SLOT_SIZE - SLOT_DATA; }

slot_info slots_get(int slot) {
  slot_info s = {0, 0, 0, 0, 0};
  if (slot < 0 || slot > 1) return s;
  slot_header h;
  memcpy(&h, (const void *)base[slot], sizeof h);
  if (h.magic != SLOT_MAGIC || crc32_update(0, &h, 16) != h.header_crc || h.size > slots_capacity()) return s;
  s.data = (const uint8_t *)(base[slot] + SLOT_DATA);
  if (crc32_update(0, s.data, h.size) != h.crc) return s;
  s.valid = 1;
  s.generation = h.generation;
  s.size = h.size;
  s.crc = h.crc;
  return s;
}

void slots_boot(void) {
  slot_info a = slots_get(0), b = slots_get(1);
  active = -1;
  if (a.valid) active = 0;
  if (b.valid && (!a.valid || b.generation > a.generation)) active = 1;
}

int slots_active(void) { return active; }
int slots_upload_target(void) { return up.target; }

static uint32_t round_up(uint32_t n, uint32_t unit) { return (n + unit - 1) / unit * unit; }

const char *slots_begin(uint32_t size, uint32_t crc) {
  if (size == 0 || size > slots_capacity()) return "model larger than the slot";
  int target = active == 0 ? 1 : 0;
  up.target = -1;
  if (port_nv_erase(base[target], round_up(SLOT_DATA + size, EQ_NV_ERASE)) != 0) return "erase failed";
  up.target = target;
  up.size = size;
  up.crc = crc;
  up.received = 0;
  up.pending = 0;
  return 0;
}

static int flush_units(const uint8_t *data, uint32_t n) {
  uint32_t at = base[up.target] + SLOT_DATA + up.received - up.pending;
  while (n) {
    uint32_t take = EQ_NV_WRITE - up.pending;
    if (take > n) take = n;
    memcpy(up.buf + up.pending, data, take);
    up.pending += take;
    data += take;
    n -= take;
    up.received += take;
    if (up.pending == EQ_NV_WRITE) {
      if (port_nv_write(at, up.buf, EQ_NV_WRITE) != 0) return -1;
      at += EQ_NV_WRITE;
      up.pending = 0;
    }
  }
  return 0;
}

const char *slots_chunk(uint32_t offset, const uint8_t *data, uint32_t n) {
  if (up.target < 0) return "no upload under way";
  if (offset != up.received) return "chunk offset differs from the bytes received";
  if (n > up.size - up.received) return "chunk beyond the declared size";
  if (flush_units(data, n) != 0) {
    up.target = -1;
    return "write failed";
  }
  return 0;
}

const char *slots_commit(int *crc_mismatch) {
  *crc_mismatch = 0;
  if (up.target < 0) return "no upload under way";
  if (up.received != up.size) return "upload incomplete";
  int target = up.target;
  up.target = -1;
  if (up.pending) {
    memset(up.buf + up.pending, 0xFF, EQ_NV_WRITE - up.pending);
    if (port_nv_write(base[target] + SLOT_DATA + up.received - up.pending, up.buf, EQ_NV_WRITE) != 0)
      return "write failed";
  }
  if (crc32_update(0, (const void *)(base[target] + SLOT_DATA), up.size) != up.crc) {
    *crc_mismatch = 1;
    return "crc mismatch";
  }
  slot_info old = slots_get(active);
  slot_header h = {SLOT_MAGIC, (old.valid ? old.generation : 0) + 1, up.size, up.crc, 0};
  h.header_crc = crc32_update(0, &h, 16);
  static uint8_t page[SLOT_DATA];
  memset(page, 0xFF, sizeof page);
  memcpy(page, &h, sizeof h);
  /* Only the units that hold the header: the rest of the page stays erased. */
  if (port_nv_write(base[target], page, round_up(sizeof h, EQ_NV_WRITE)) != 0) return "write failed";
  if (!slots_get(target).valid) return "slot did not verify after commit";
  active = target;
  return 0;
}
