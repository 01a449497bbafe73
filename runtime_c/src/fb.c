/* Bounds-checked FlatBuffers access; see fb.h. */
#include "fb.h"

eq_status eq_fb_table_at(const eq_fb *fb, size_t pos, eq_fb_table *t) {
  if (pos < 4 || pos > fb->size || fb->size - pos < 4) return EQ_ERR_MODEL;
  int64_t soff = (int32_t)eq_rd_u32(fb->buf + pos);
  int64_t vt = (int64_t)pos - soff;
  if (vt < 4 || (uint64_t)vt > fb->size || fb->size - (size_t)vt < 4) return EQ_ERR_MODEL;
  uint32_t vsize = eq_rd_u16(fb->buf + vt);
  uint32_t tsize = eq_rd_u16(fb->buf + vt + 2);
  if (vsize < 4 || (vsize & 1) || fb->size - (size_t)vt < vsize) return EQ_ERR_MODEL;
  if (tsize < 4 || fb->size - pos < tsize) return EQ_ERR_MODEL;
  t->pos = pos;
  t->vt = (size_t)vt;
  t->nfields = (vsize - 4) / 2;
  t->tsize = tsize;
  return EQ_OK;
}

eq_status eq_fb_field(const eq_fb *fb, const eq_fb_table *t, int field, size_t bytes, size_t *pos) {
  *pos = 0;
  if (field < 0 || (uint32_t)field >= t->nfields) return EQ_OK;
  uint32_t off = eq_rd_u16(fb->buf + t->vt + 4 + 2 * (size_t)field);
  if (off == 0) return EQ_OK;
  if (off < 4 || off + bytes > t->tsize) return EQ_ERR_MODEL;
  *pos = t->pos + off;
  return EQ_OK;
}

eq_status eq_fb_u8(const eq_fb *fb, const eq_fb_table *t, int field, uint8_t def, uint8_t *v) {
  size_t p;
  eq_status st = eq_fb_field(fb, t, field, 1, &p);
  *v = (st == EQ_OK && p) ? fb->buf[p] : def;
  return st;
}

eq_status eq_fb_i32(const eq_fb *fb, const eq_fb_table *t, int field, int32_t def, int32_t *v) {
  size_t p;
  eq_status st = eq_fb_field(fb, t, field, 4, &p);
  *v = (st == EQ_OK && p) ? (int32_t)eq_rd_u32(fb->buf + p) : def;
  return st;
}

eq_status eq_fb_u64(const eq_fb *fb, const eq_fb_table *t, int field, uint64_t def, uint64_t *v) {
  size_t p;
  eq_status st = eq_fb_field(fb, t, field, 8, &p);
  *v = (st == EQ_OK && p) ? eq_rd_u64(fb->buf + p) : def;
  return st;
}

eq_status eq_fb_ref(const eq_fb *fb, const eq_fb_table *t, int field, size_t *pos) {
  size_t p;
  *pos = 0;
  eq_status st = eq_fb_field(fb, t, field, 4, &p);
  if (st != EQ_OK || !p) return st;
  uint64_t target = (uint64_t)p + eq_rd_u32(fb->buf + p);
  if (target + 4 > fb->size) return EQ_ERR_MODEL;
  *pos = (size_t)target;
  return EQ_OK;
}

eq_status eq_fb_vec(const eq_fb *fb, const eq_fb_table *t, int field, size_t elem, size_t *pos, uint32_t *len) {
  size_t v;
  *pos = 0;
  *len = 0;
  eq_status st = eq_fb_ref(fb, t, field, &v);
  if (st != EQ_OK || !v) return st;
  uint32_t n = eq_rd_u32(fb->buf + v);
  if ((uint64_t)n * elem > (uint64_t)(fb->size - v - 4)) return EQ_ERR_MODEL;
  *pos = v + 4;
  *len = n;
  return EQ_OK;
}

eq_status eq_fb_vec_table(const eq_fb *fb, size_t vec, uint32_t len, uint32_t i, eq_fb_table *t) {
  if (i >= len) return EQ_ERR_MODEL;
  size_t p = vec + 4 * (size_t)i;
  uint64_t target = (uint64_t)p + eq_rd_u32(fb->buf + p);
  if (target > fb->size) return EQ_ERR_MODEL;
  return eq_fb_table_at(fb, (size_t)target, t);
}

const char *eq_fb_str(const eq_fb *fb, const eq_fb_table *t, int field) {
  size_t p;
  uint32_t n;
  if (eq_fb_vec(fb, t, field, 1, &p, &n) != EQ_OK || !p) return "";
  if (fb->size - p <= n || fb->buf[p + n] != 0) return "";
  return (const char *)(fb->buf + p);
}
