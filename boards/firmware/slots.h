/* A/B model slots (boards/PROTOCOL.md): header page {"EQMS", generation, size, crc32, header_crc}, then the
 * model from offset SLOT_DATA (16-byte aligned, used in place). */
#ifndef EQ_SLOTS_H
#define EQ_SLOTS_H
#include <stdint.h>

#define SLOT_DATA 256u

typedef struct {
  int valid;            /* header and data CRC both good */
  uint32_t generation, size, crc;
  const uint8_t *data;
} slot_info;

void slots_boot(void);                       /* picks the valid slot with the higher generation */
int slots_active(void);                      /* 0 (A), 1 (B) or -1 */
slot_info slots_get(int slot);
uint32_t slots_capacity(void);               /* largest model */

/* Upload into the inactive slot. Each returns 0 or an error message (static string). */
const char *slots_begin(uint32_t size, uint32_t crc);
const char *slots_chunk(uint32_t offset, const uint8_t *data, uint32_t n);
const char *slots_commit(int *crc_mismatch);
int slots_upload_target(void);               /* slot being written, or -1 */

#endif
