/* Bounds-checked reading of FlatBuffers: every access goes through these helpers, which check the
 * offset, the length and the vtable before touching a byte, and read little-endian scalars bytewise
 * (so no alignment is assumed for metadata). A position of 0 means "absent" (offset 0 is the root
 * offset, never a table or vector). */
#ifndef EDGEQ_FB_H
#define EDGEQ_FB_H

#include <stddef.h>
#include <stdint.h>

#include "edgeq.h"

typedef struct {
  const uint8_t *buf;
  size_t size;
} eq_fb;

static inline uint16_t eq_rd_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t eq_rd_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t eq_rd_u64(const uint8_t *p) {
  return (uint64_t)eq_rd_u32(p) | ((uint64_t)eq_rd_u32(p + 4) << 32);
}
static inline float eq_rd_f32(const uint8_t *p) {
  union { uint32_t u; float f; } v;
  v.u = eq_rd_u32(p);
  return v.f;
}

/* A verified table: its position and the number of field slots its vtable declares. */
typedef struct {
  size_t pos;
  size_t vt;
  uint32_t nfields;
  uint32_t tsize;
} eq_fb_table;

/* Verifies the table at `pos`. */
eq_status eq_fb_table_at(const eq_fb *fb, size_t pos, eq_fb_table *t);
/* Position of a present scalar field of `bytes` bytes, 0 when absent; EQ_ERR_MODEL when it overruns. */
eq_status eq_fb_field(const eq_fb *fb, const eq_fb_table *t, int field, size_t bytes, size_t *pos);
/* Scalars with defaults. */
eq_status eq_fb_u8(const eq_fb *fb, const eq_fb_table *t, int field, uint8_t def, uint8_t *v);
eq_status eq_fb_i32(const eq_fb *fb, const eq_fb_table *t, int field, int32_t def, int32_t *v);
eq_status eq_fb_u64(const eq_fb *fb, const eq_fb_table *t, int field, uint64_t def, uint64_t *v);
/* Follows an offset field: position of the referenced object (0 when absent). */
eq_status eq_fb_ref(const eq_fb *fb, const eq_fb_table *t, int field, size_t *pos);
/* A vector field: position of its first element and its length (0, 0 when absent); every element
 * of `elem` bytes lies inside the buffer. */
eq_status eq_fb_vec(const eq_fb *fb, const eq_fb_table *t, int field, size_t elem, size_t *pos, uint32_t *len);
/* The table at index i of a vector of tables (offsets). */
eq_status eq_fb_vec_table(const eq_fb *fb, size_t vec, uint32_t len, uint32_t i, eq_fb_table *t);
/* A string field: NUL-terminated in place ("" when absent or not terminated). */
const char *eq_fb_str(const eq_fb *fb, const eq_fb_table *t, int field);

#endif
