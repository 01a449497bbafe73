/* TFLite schema v3 reader. Field ids are positions in the schema's tables:
 * Model{version 0, operator_codes 1, subgraphs 2, buffers 4}, SubGraph{tensors 0, inputs 1, outputs 2,
 * operators 3}, Tensor{shape 0, type 1, buffer 2, name 3, quantization 4, is_variable 5},
 * QuantizationParameters{scale 2, zero_point 3, quantized_dimension 6}, Buffer{data 0, offset 1, size 2},
 * OperatorCode{deprecated_builtin_code 0, version 2, builtin_code 3},
 * Operator{opcode_index 0, inputs 1, outputs 2, builtin_options 4}. */
#include "model.h"

#include <string.h>

#include "fb.h"
#include "op_util.h"

#define EQ_BUILTIN_CUSTOM 32

static eq_fb fb_of(const eq_model *m) {
  eq_fb fb;
  fb.buf = m->buf;
  fb.size = m->size;
  return fb;
}

#define TRY(x)                           \
  do {                                   \
    eq_status st_ = (x);                 \
    if (st_ != EQ_OK) return st_;        \
  } while (0)

static eq_status vec_of(const eq_fb *fb, const eq_fb_table *t, int field, size_t elem, size_t *pos, int32_t *n) {
  uint32_t len;
  TRY(eq_fb_vec(fb, t, field, elem, pos, &len));
  if (len > 0x7fffffffu) return EQ_ERR_MODEL;
  *n = (int32_t)len;
  return EQ_OK;
}

eq_status eq_model_load(eq_model *m, const void *data, size_t size) {
  if (!m || !data) return EQ_ERR_ARGUMENT;
  memset(m, 0, sizeof *m);
  m->buf = (const uint8_t *)data;
  m->size = size;
  eq_fb fb = fb_of(m);
  if (size < 8 || size > 0x7fffffffu) return EQ_ERR_MODEL;
  eq_fb_table root, sg;
  TRY(eq_fb_table_at(&fb, eq_rd_u32(fb.buf), &root));
  int32_t version;
  TRY(eq_fb_i32(&fb, &root, 0, 0, &version));
  if (version != 3) return EQ_ERR_VERSION;
  size_t subgraphs;
  int32_t n_subgraphs;
  TRY(vec_of(&fb, &root, 1, 4, &m->opcodes, &m->n_opcodes));
  TRY(vec_of(&fb, &root, 2, 4, &subgraphs, &n_subgraphs));
  TRY(vec_of(&fb, &root, 4, 4, &m->buffers, &m->n_buffers));
  if (n_subgraphs < 1) return EQ_ERR_MODEL;
  TRY(eq_fb_vec_table(&fb, subgraphs, (uint32_t)n_subgraphs, 0, &sg));
  TRY(vec_of(&fb, &sg, 0, 4, &m->tensors, &m->n_tensors));
  TRY(vec_of(&fb, &sg, 1, 4, &m->inputs, &m->n_inputs));
  TRY(vec_of(&fb, &sg, 2, 4, &m->outputs, &m->n_outputs));
  TRY(vec_of(&fb, &sg, 3, 4, &m->operators, &m->n_ops));
  /* Verify everything init will read, so a model that loads can only fail later for reasons of
   * support (op, type, shape), never of format. */
  eq_tensor t;
  const char *name;
  for (int32_t i = 0; i < m->n_tensors; ++i) {
    eq_status st = eq_model_tensor(m, i, &t, &name);
    if (st == EQ_ERR_MODEL || st == EQ_ERR_VERSION) return st;
  }
  eq_op_desc op;
  for (int32_t i = 0; i < m->n_ops; ++i) {
    eq_status st = eq_model_op(m, i, &op);
    if (st == EQ_ERR_MODEL) return st;
  }
  int32_t ti;
  for (int32_t i = 0; i < m->n_inputs; ++i) TRY(eq_model_io(m, 0, i, &ti));
  for (int32_t i = 0; i < m->n_outputs; ++i) TRY(eq_model_io(m, 1, i, &ti));
  return EQ_OK;
}

eq_status eq_model_io(const eq_model *m, int is_output, int32_t i, int32_t *tensor) {
  int32_t n = is_output ? m->n_outputs : m->n_inputs;
  size_t v = is_output ? m->outputs : m->inputs;
  if (i < 0 || i >= n) return EQ_ERR_ARGUMENT;
  int32_t idx = (int32_t)eq_rd_u32(m->buf + v + 4 * (size_t)i);
  if (idx < 0 || idx >= m->n_tensors) return EQ_ERR_MODEL;
  *tensor = idx;
  return EQ_OK;
}

static eq_status read_quant(const eq_fb *fb, const eq_fb_table *tt, eq_tensor *t) {
  size_t qpos, scales, zps;
  int32_t ns, nz;
  eq_fb_table q;
  TRY(eq_fb_ref(fb, tt, 4, &qpos));
  if (!qpos) return EQ_OK;
  TRY(eq_fb_table_at(fb, qpos, &q));
  TRY(vec_of(fb, &q, 2, 4, &scales, &ns));
  TRY(vec_of(fb, &q, 3, 8, &zps, &nz));
  TRY(eq_fb_i32(fb, &q, 6, 0, &t->qdim));
  if (ns == 0) return EQ_OK; /* min/max only, or empty: unquantized */
  if (nz != 0 && nz != ns) return EQ_ERR_QUANT;
  t->nq = ns;
  t->q_scales = fb->buf + scales;
  t->q_zps = nz ? fb->buf + zps : NULL;
  t->scale = eq_q_scale(t, 0);
  /* Zero points outside the storage type's range would overflow the kernels' 32-bit arithmetic. */
  int64_t lo = INT32_MIN, hi = INT32_MAX;
  if (t->type == EQ_INT8 || t->type == EQ_UINT8 || t->type == EQ_INT16 || t->type == EQ_INT4) {
    lo = eq_type_min(t->type);
    hi = eq_type_max(t->type);
  }
  for (int32_t i = 0; i < nz; ++i) {
    int64_t zp = (int64_t)eq_rd_u64(fb->buf + zps + 8 * (size_t)i);
    if (zp < lo || zp > hi) return EQ_ERR_QUANT;
  }
  t->zero_point = nz ? (int32_t)(int64_t)eq_rd_u64(fb->buf + zps) : 0;
  return EQ_OK;
}

static eq_status read_const(const eq_model *m, const eq_fb *fb, uint32_t buffer, eq_tensor *t) {
  if (buffer == 0) return EQ_OK; /* buffer 0 is the empty sentinel */
  if (buffer >= (uint32_t)m->n_buffers) return EQ_ERR_MODEL;
  eq_fb_table b;
  size_t pos;
  uint32_t len;
  TRY(eq_fb_vec_table(fb, m->buffers, (uint32_t)m->n_buffers, buffer, &b));
  TRY(eq_fb_vec(fb, &b, 0, 1, &pos, &len));
  uint64_t off, size;
  TRY(eq_fb_u64(fb, &b, 1, 0, &off));
  TRY(eq_fb_u64(fb, &b, 2, 0, &size));
  if (len == 0 && off > 1 && size > 0) { /* data stored after the flatbuffer (large models) */
    if (off > fb->size || size > fb->size - off) return EQ_ERR_MODEL;
    pos = (size_t)off;
    len = (uint32_t)size;
  }
  if (len == 0) return EQ_OK;
  if (len < t->bytes) return EQ_ERR_MODEL;
  size_t align = eq_type_size(t->type);
  if (align > 8) align = 8;
  if (align && ((uintptr_t)(fb->buf + pos) % align) != 0) return EQ_ERR_MODEL;
  t->data = (void *)(uintptr_t)(fb->buf + pos); /* constants are never written */
  t->is_const = 1;
  return EQ_OK;
}

eq_status eq_model_tensor(const eq_model *m, int32_t i, eq_tensor *t, const char **name) {
  eq_fb fb = fb_of(m);
  eq_fb_table tt;
  memset(t, 0, sizeof *t);
  *name = "";
  if (i < 0 || i >= m->n_tensors) return EQ_ERR_MODEL;
  TRY(eq_fb_vec_table(&fb, m->tensors, (uint32_t)m->n_tensors, (uint32_t)i, &tt));
  size_t shape;
  int32_t ndim;
  uint8_t type, is_var;
  int32_t buffer;
  TRY(vec_of(&fb, &tt, 0, 4, &shape, &ndim));
  TRY(eq_fb_u8(&fb, &tt, 1, 0, &type));
  TRY(eq_fb_i32(&fb, &tt, 2, 0, &buffer));
  TRY(eq_fb_u8(&fb, &tt, 5, 0, &is_var));
  *name = eq_fb_str(&fb, &tt, 3);
  t->type = (eq_type)type;
  TRY(read_quant(&fb, &tt, t));
  if (ndim > EQ_MAX_DIMS) return EQ_ERR_LIMIT;
  t->ndim = (int8_t)ndim;
  uint64_t n = 1;
  for (int32_t d = 0; d < ndim; ++d) {
    int32_t v = (int32_t)eq_rd_u32(fb.buf + shape + 4 * (size_t)d);
    if (v < 0) return EQ_ERR_SHAPE;
    t->dims[d] = v;
    n *= (uint64_t)v;
    if (n > 0x7fffffffu) return EQ_ERR_LIMIT;
  }
  size_t es = eq_type_size(t->type);
  if (es == 0) return EQ_ERR_UNSUPPORTED_TYPE;
  uint64_t bytes = t->type == EQ_INT4 ? (n + 1) / 2 : n * es;
  if (bytes > 0x7fffffffu) return EQ_ERR_LIMIT;
  t->bytes = (size_t)bytes;
  TRY(read_const(m, &fb, (uint32_t)buffer, t));
  if (is_var) return EQ_ERR_UNSUPPORTED_TYPE; /* stateful tensors are not supported */
  return EQ_OK;
}

eq_status eq_model_op(const eq_model *m, int32_t i, eq_op_desc *op) {
  eq_fb fb = fb_of(m);
  eq_fb_table ot, ct;
  memset(op, 0, sizeof *op);
  op->options.buf = m->buf;
  op->options.size = m->size;
  op->options.table = -1;
  if (i < 0 || i >= m->n_ops) return EQ_ERR_MODEL;
  TRY(eq_fb_vec_table(&fb, m->operators, (uint32_t)m->n_ops, (uint32_t)i, &ot));
  int32_t opcode;
  TRY(eq_fb_i32(&fb, &ot, 0, 0, &opcode));
  if (opcode < 0 || opcode >= m->n_opcodes) return EQ_ERR_MODEL;
  TRY(eq_fb_vec_table(&fb, m->opcodes, (uint32_t)m->n_opcodes, (uint32_t)opcode, &ct));
  uint8_t dep;
  int32_t code;
  TRY(eq_fb_u8(&fb, &ct, 0, 0, &dep));
  TRY(eq_fb_i32(&fb, &ct, 3, 0, &code));
  TRY(eq_fb_i32(&fb, &ct, 2, 1, &op->version));
  /* deprecated_builtin_code is an int8 that saturates at 127 for newer ops: take the larger. */
  int32_t d = (int8_t)dep;
  op->builtin = d > code ? d : code;
  size_t ins, outs, opts;
  int32_t n_in, n_out;
  TRY(vec_of(&fb, &ot, 1, 4, &ins, &n_in));
  TRY(vec_of(&fb, &ot, 2, 4, &outs, &n_out));
  TRY(eq_fb_ref(&fb, &ot, 4, &opts));
  if (opts) {
    eq_fb_table o;
    TRY(eq_fb_table_at(&fb, opts, &o));
    uint8_t type;
    TRY(eq_fb_u8(&fb, &ot, 3, 0, &type));
    op->options.table = (int64_t)opts;
    op->options.type = type;
  }
  if (n_in > EQ_MAX_OP_IO || n_out > EQ_MAX_OP_IO) return EQ_ERR_LIMIT;
  op->n_in = n_in;
  op->n_out = n_out;
  for (int32_t k = 0; k < n_in; ++k) {
    op->in[k] = (int32_t)eq_rd_u32(fb.buf + ins + 4 * (size_t)k);
    if (op->in[k] < -1 || op->in[k] >= m->n_tensors) return EQ_ERR_MODEL;
  }
  for (int32_t k = 0; k < n_out; ++k) {
    op->out[k] = (int32_t)eq_rd_u32(fb.buf + outs + 4 * (size_t)k);
    if (op->out[k] < 0 || op->out[k] >= m->n_tensors) return EQ_ERR_MODEL;
  }
  if (op->builtin == EQ_BUILTIN_CUSTOM || op->builtin < 0) return EQ_ERR_UNSUPPORTED_OP;
  return EQ_OK;
}

/* ---- op.h accessors -------------------------------------------------------------------------- */

float eq_q_scale(const eq_tensor *t, int32_t i) {
  if (!t->q_scales || i < 0 || i >= t->nq) return 0.0f;
  return eq_rd_f32(t->q_scales + 4 * (size_t)i);
}

int32_t eq_q_zero_point(const eq_tensor *t, int32_t i) {
  if (!t->q_zps || i < 0 || i >= t->nq) return 0;
  return (int32_t)(int64_t)eq_rd_u64(t->q_zps + 8 * (size_t)i);
}

int32_t eq_num_elements(const eq_tensor *t) {
  int64_t n = 1;
  for (int32_t d = 0; d < t->ndim; ++d) n *= t->dims[d];
  return (int32_t)n;
}
