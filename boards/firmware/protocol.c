/* One handler per command; each checks its payload length and ranges before touching anything. */
#include "protocol.h"

#include <string.h>

#include "edgeq_introspect.h"
#include "port.h"
#include "runner.h"
#include "slots.h"
#include "stack.h"

#define STR2(x) #x
#define STR(x) STR2(x)

typedef struct {
  const uint8_t *in;
  uint16_t in_len;
  uint8_t *out;
  uint16_t out_len;
  uint8_t err;          /* 0 = success */
} io;

extern const uint8_t __code_bytes[]; /* linker symbol whose address is the image size */

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static void put8(io *r, uint32_t v) { r->out[r->out_len++] = (uint8_t)v; }
static void put16(io *r, uint32_t v) { put8(r, v); put8(r, v >> 8); }
static void put32(io *r, uint32_t v) { put16(r, v); put16(r, v >> 16); }
static void puts0(io *r, const char *s) { do put8(r, (uint8_t)*s); while (*s++); }
static void put_bytes(io *r, const void *p, uint32_t n) { memcpy(r->out + r->out_len, p, n); r->out_len += (uint16_t)n; }

static void fail(io *r, uint8_t code, const char *msg) {
  r->err = code;
  r->out_len = 0;
  put8(r, code);
  uint32_t n = strlen(msg);
  if (n > EQ_MAX_PAYLOAD - 1) n = EQ_MAX_PAYLOAD - 1;
  put_bytes(r, msg, n);
}

static int need(io *r, uint16_t n) {
  if (r->in_len >= n) return 1;
  fail(r, ERR_BAD_REQUEST, "request payload too short");
  return 0;
}

static int need_loaded(io *r) {
  if (runner_loaded()) return 1;
  fail(r, ERR_NO_MODEL, "no model loaded (LOAD first)");
  return 0;
}

static void runtime_fail(io *r, const char *what, eq_status st) {
  static char msg[96];
  const char *s = eq_strerror(st);
  size_t n = strlen(what);
  memcpy(msg, what, n);
  msg[n++] = ':';
  msg[n++] = ' ';
  size_t m = strlen(s);
  if (m > sizeof msg - n - 1) m = sizeof msg - n - 1;
  memcpy(msg + n, s, m);
  msg[n + m] = 0;
  fail(r, ERR_RUNTIME, msg);
}

static void cmd_hello(io *r) {
  put8(r, 1);
  put_bytes(r, "edgeq", 5);
}

static void cmd_info(io *r) {
  put32(r, EQ_MAX_PAYLOAD);
  put32(r, runner_arena_capacity());
  put32(r, slots_capacity());
  put32(r, EQ_CLOCK_HZ);
  put8(r, EQ_COUNTER_INSTRUCTIONS);
  put8(r, (slots_active() >= 0) | runner_loaded() << 1 | EQ_EMULATED << 2);
  puts0(r, EQ_BOARD_NAME);
  puts0(r, STR(EQ_RUNTIME_VERSION));
}

static void cmd_upload_begin(io *r) {
  if (!need(r, 8)) return;
  uint32_t size = rd32(r->in);
  if (size > slots_capacity()) return fail(r, ERR_TOO_LARGE, "model larger than the slot");
  runner_unload(); /* the erase may hit the loaded model's slot when no slot is active */
  const char *e = slots_begin(size, rd32(r->in + 4));
  if (e) fail(r, ERR_NV, e);
}

static void cmd_upload_chunk(io *r) {
  if (!need(r, 4)) return;
  const char *e = slots_chunk(rd32(r->in), r->in + 4, r->in_len - 4u);
  if (e) fail(r, strcmp(e, "write failed") == 0 ? ERR_NV : ERR_STATE, e);
}

static void cmd_upload_commit(io *r) {
  int crc_bad;
  const char *e = slots_commit(&crc_bad);
  if (e) return fail(r, crc_bad ? ERR_CRC : ERR_STATE, e);
  runner_unload(); /* the next upload erases the slot the interpreter was built on */
}

static void cmd_model_info(io *r) {
  int a = slots_active();
  slot_info s = slots_get(a);
  put8(r, s.valid);
  put32(r, s.size);
  put32(r, s.crc);
  put32(r, s.generation);
  put8(r, a < 0 ? 0 : (uint32_t)a);
}

static void cmd_load(io *r) {
  slot_info s = slots_get(slots_active());
  if (!s.valid) return fail(r, ERR_NO_MODEL, "no valid model in the slots");
  eq_status st = runner_load(s.data, s.size);
  if (st != EQ_OK) return runtime_fail(r, "load", st);
  put32(r, eq_arena_used(&runner_interp));
  put8(r, eq_input_count(&runner_interp));
  put8(r, eq_output_count(&runner_interp));
  put16(r, eq_op_count(&runner_interp));
}

/* Bounds-checked window [offset, offset + len) of a tensor. */
static uint8_t *window(io *r, const eq_tensor_info *t, uint32_t offset, uint32_t len) {
  if (offset > t->bytes || len > t->bytes - offset) {
    fail(r, ERR_BAD_REQUEST, "offset/length beyond the tensor");
    return 0;
  }
  return (uint8_t *)t->data + offset;
}

static void cmd_set_input(io *r) {
  if (!need(r, 5) || !need_loaded(r)) return;
  eq_tensor_info t;
  if (eq_input(&runner_interp, r->in[0], &t) != EQ_OK) return fail(r, ERR_BAD_REQUEST, "no such input");
  uint32_t n = r->in_len - 5u;
  uint8_t *dst = window(r, &t, rd32(r->in + 1), n);
  if (dst) memcpy(dst, r->in + 5, n);
}

static void cmd_invoke(io *r) {
  if (!need(r, 2) || !need_loaded(r)) return;
  uint16_t stop = rd16(r->in);
  uint32_t total;
  eq_status st = runner_invoke(stop == 0xFFFF ? 0x7FFFFFFF : stop, &total);
  if (st != EQ_OK) return runtime_fail(r, "invoke", st);
  put32(r, total);
}

static void send_window(io *r, const eq_tensor_info *t, const uint8_t *p) {
  uint32_t offset = rd32(p), len = rd16(p + 4);
  if (len > EQ_MAX_PAYLOAD) return fail(r, ERR_BAD_REQUEST, "length over max_payload");
  const uint8_t *src = window(r, t, offset, len);
  if (src) put_bytes(r, src, len);
}

static void cmd_get_output(io *r) {
  if (!need(r, 7) || !need_loaded(r)) return;
  eq_tensor_info t;
  if (eq_output(&runner_interp, r->in[0], &t) != EQ_OK) return fail(r, ERR_BAD_REQUEST, "no such output");
  send_window(r, &t, r->in + 1);
}

static void cmd_profile(io *r) {
  if (!need(r, 4) || !need_loaded(r)) return;
  int32_t first = rd16(r->in), max = rd16(r->in + 2), room = (EQ_MAX_PAYLOAD - 2) / 8;
  if (max > room) max = room;
  int32_t n = runner_ops_run() - first;
  if (n < 0) n = 0;
  if (n > max) n = max;
  put16(r, (uint32_t)n);
  for (int32_t i = first; i < first + n; i++) {
    put16(r, (uint32_t)i);
    put16(r, (uint32_t)eq_op_builtin(&runner_interp, i));
    put32(r, runner_op_count(i));
  }
}

static void cmd_memory(io *r) {
  put32(r, runner_loaded() ? eq_arena_used(&runner_interp) : 0);
  put32(r, runner_arena_capacity());
  put32(r, stack_used());
  put32(r, stack_size());
  put32(r, (uint32_t)(uintptr_t)__code_bytes);
}

static void cmd_get_op_output(io *r) {
  if (!need(r, 9) || !need_loaded(r)) return;
  int32_t op = rd16(r->in);
  if (op != runner_last_stop()) return fail(r, ERR_STATE, "op output not computed (INVOKE with stop_after = op first)");
  eq_tensor_info t;
  if (eq_op_output(&runner_interp, op, r->in[2], &t) != EQ_OK) return fail(r, ERR_BAD_REQUEST, "no such op output");
  send_window(r, &t, r->in + 3);
}

static void cmd_tensor_info(io *r) {
  if (!need(r, 4) || !need_loaded(r)) return;
  eq_tensor_info t;
  uint16_t index = rd16(r->in + 1);
  eq_status st = r->in[0] == 0   ? eq_input(&runner_interp, index, &t)
                 : r->in[0] == 1 ? eq_output(&runner_interp, index, &t)
                 : r->in[0] == 2 ? eq_op_output(&runner_interp, index, r->in[3], &t)
                                 : EQ_ERR_ARGUMENT;
  if (st != EQ_OK) return fail(r, ERR_BAD_REQUEST, "no such tensor");
  put8(r, (uint32_t)t.type);
  put8(r, (uint32_t)t.ndim);
  for (int32_t i = 0; i < t.ndim; i++) put32(r, (uint32_t)t.dims[i]);
  put32(r, (uint32_t)t.bytes);
  uint32_t scale;
  memcpy(&scale, &t.scale, 4);
  put32(r, scale);
  put32(r, (uint32_t)t.zero_point);
}

void protocol_boot(void) { slots_boot(); }

void protocol_execute(const frame *req, uint8_t *rsp_type, uint8_t *rsp, uint16_t *rsp_len) {
  io r = {req->payload, req->len, rsp, 0, 0};
  switch (req->type) {
    case 0x01: cmd_hello(&r); break;
    case 0x02: cmd_info(&r); break;
    case 0x10: cmd_upload_begin(&r); break;
    case 0x11: cmd_upload_chunk(&r); break;
    case 0x12: cmd_upload_commit(&r); break;
    case 0x13: cmd_model_info(&r); break;
    case 0x14: cmd_load(&r); break;
    case 0x20: cmd_set_input(&r); break;
    case 0x21: cmd_invoke(&r); break;
    case 0x22: cmd_get_output(&r); break;
    case 0x23: cmd_profile(&r); break;
    case 0x24: cmd_memory(&r); break;
    case 0x25: cmd_get_op_output(&r); break;
    case 0x26: cmd_tensor_info(&r); break;
    case CMD_RESET: break;
    default: fail(&r, ERR_UNKNOWN_COMMAND, "unknown command"); break;
  }
  *rsp_type = r.err ? RSP_ERR : (uint8_t)(req->type | 0x80);
  *rsp_len = r.out_len;
}
