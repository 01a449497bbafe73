/* op.h's builtin-options accessors: a field is read with the width the schema gives it (from
 * eq_options_layout), after checking it lies inside the verified table. Unknown or absent -> default. */
#include "fb.h"
#include "op.h"
#include "options.h"

/* The field's schema code, or 0 when the table or field is absent or unknown. Sets *pos. */
static char field_at(const eq_options *o, int field, eq_fb *fb, size_t *pos) {
  eq_fb_table t;
  *pos = 0;
  if (!o || o->table < 0 || o->type <= 0 || o->type >= EQ_OPTIONS_TYPES || field < 0) return 0;
  const char *layout = eq_options_layout[o->type];
  if (!layout) return 0;
  for (int i = 0; i < field; ++i)
    if (!layout[i]) return 0;
  if (!layout[field]) return 0;
  char code = layout[field];
  size_t width;
  switch (code) {
    case 'b': case 'B': width = 1; break;
    case 'h': case 'H': width = 2; break;
    case 'i': case 'I': case 'f': case 'o': width = 4; break;
    case 'q': case 'Q': case 'd': width = 8; break;
    default: return 0;
  }
  fb->buf = o->buf;
  fb->size = o->size;
  if (eq_fb_table_at(fb, (size_t)o->table, &t) != EQ_OK) return 0;
  if (eq_fb_field(fb, &t, field, width, pos) != EQ_OK || !*pos) return 0;
  return code;
}

int32_t eq_opt_i32(const eq_options *o, int field, int32_t def) {
  eq_fb fb;
  size_t p;
  switch (field_at(o, field, &fb, &p)) {
    case 'b': return (int8_t)fb.buf[p];
    case 'B': return fb.buf[p];
    case 'h': return (int16_t)eq_rd_u16(fb.buf + p);
    case 'H': return eq_rd_u16(fb.buf + p);
    case 'i': case 'I': return (int32_t)eq_rd_u32(fb.buf + p);
    default: return def;
  }
}

float eq_opt_f32(const eq_options *o, int field, float def) {
  eq_fb fb;
  size_t p;
  return field_at(o, field, &fb, &p) == 'f' ? eq_rd_f32(fb.buf + p) : def;
}

int32_t eq_opt_i32_vec(const eq_options *o, int field, int32_t *out, int32_t cap) {
  eq_fb fb;
  size_t p;
  if (field_at(o, field, &fb, &p) != 'o') return 0;
  uint64_t v = (uint64_t)p + eq_rd_u32(fb.buf + p);
  if (v + 4 > fb.size) return 0;
  uint32_t n = eq_rd_u32(fb.buf + v);
  if ((uint64_t)n * 4 > fb.size - v - 4 || n > 0x7fffffffu) return 0;
  for (uint32_t i = 0; i < n && (int32_t)i < cap; ++i) out[i] = (int32_t)eq_rd_u32(fb.buf + v + 4 + 4 * (size_t)i);
  return (int32_t)n;
}
