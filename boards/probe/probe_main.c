/* The arena probe: runs runtime_c's memory plan on the board's CPU, so the arena figure is the one this
 * architecture's firmware will use (the host's 64-bit build has 8-byte pointers in its tables).
 *
 * Under QEMU with semihosting it reads the model named on its command line (SYS_GET_CMDLINE: "probe PATH")
 * into RAM, asks eq_arena_size, then proves the figure on the MCU: eq_init with one byte less must fail
 * with EQ_ERR_ARENA_TOO_SMALL, eq_init with exactly that many bytes must succeed, and an eq_invoke on zero
 * inputs must run. It prints "key=value" lines (edgeq/device/probe.py reads them) and exits through
 * SYS_EXIT_EXTENDED: 0 when every step held, else the number of the failed step. */
#include <stdint.h>
#include <string.h>

#include "edgeq.h"
#include "semihost.h"
#include "stack.h" /* the runner's stack painting (boards/firmware/stack.c), linked in too */

extern uint8_t __arena_start[], __arena_end[];

static void put(const char *s) { semihost(SYS_WRITE0, s); }

static void put_status(eq_status st) {
  put("status_text=");
  put(eq_strerror(st));
  put("\n");
}

static void put_num(const char *key, uint32_t v) {
  char buf[48];
  size_t n = strlen(key);
  if (n > 32) n = 32;
  memcpy(buf, key, n);
  buf[n++] = '=';
  char digits[11];
  int k = 0;
  do digits[k++] = (char)('0' + v % 10u), v /= 10u; while (v);
  while (k) buf[n++] = digits[--k];
  buf[n++] = '\n';
  buf[n] = 0;
  put(buf);
}

static eq_interp it;

/* After a failed eq_init or eq_invoke, also the op at fault (error_op is that index + 1; 0: none). */
static void __attribute__((noreturn)) finish(uint32_t code) {
  if (code >= 4) put_num("error_op", (uint32_t)(eq_error_op(&it) + 1));
  put_num("exit", code);
  const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, code};
  for (;;) semihost(SYS_EXIT_EXTENDED, block);
}

static uint32_t fnv1a(uint32_t h, const uint8_t *p, size_t n) {
  while (n--) h = (h ^ *p++) * 16777619u;
  return h;
}

int main(void) {
  static char cmdline[512];
  static eq_model model;
  stack_paint();
  put("edgeq-probe 1\n");

  uint32_t cl[2] = {(uint32_t)(uintptr_t)cmdline, sizeof cmdline - 1};
  if (semihost(SYS_GET_CMDLINE, cl) != 0) finish(1);
  cmdline[cl[1] < sizeof cmdline ? cl[1] : sizeof cmdline - 1] = 0;
  const char *path = strchr(cmdline, ' ');  /* after the program name */
  if (path == NULL) finish(1);
  while (*path == ' ') path++;

  uint32_t op[3] = {(uint32_t)(uintptr_t)path, 1 /* "rb" */, (uint32_t)strlen(path)};
  int32_t fd = semihost(SYS_OPEN, op);
  if (fd < 0) finish(2);
  uint32_t fl[1] = {(uint32_t)fd};
  int32_t size = semihost(SYS_FLEN, fl);
  uint8_t *free_start = (uint8_t *)(((uintptr_t)__arena_start + 15u) & ~(uintptr_t)15u);
  size_t free_bytes = (size_t)(__arena_end - free_start);
  if (size <= 0 || (size_t)size + 64 > free_bytes) finish(2);
  uint32_t rd[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)free_start, (uint32_t)size};
  if (semihost(SYS_READ, rd) != 0) finish(2);  /* returns the bytes not read */
  semihost(SYS_CLOSE, fl);
  put_num("model_bytes", (uint32_t)size);

  /* The model stays at the start of free RAM (16-byte aligned); the arena follows it. */
  uint8_t *arena = free_start + (((size_t)size + 15u) & ~(size_t)15u);
  size_t room = (size_t)(__arena_end - arena);
  put_num("ram_free", (uint32_t)room);
  eq_status st = eq_model_load(&model, free_start, (size_t)size);
  put_num("load", (uint32_t)st);
  if (st != EQ_OK) put_status(st), finish(3);

  size_t need = 0;
  st = eq_arena_size(&model, arena, room, &need);
  put_num("arena_size_status", (uint32_t)st);
  if (st != EQ_OK) {
    (void)eq_init(&it, &model, arena, room); /* the same failure, recorded with its op in `it` */
    put_status(st), finish(4);
  }
  put_num("arena_bytes", (uint32_t)need);

  st = eq_init(&it, &model, arena, need - 1);
  put_num("init_one_less", (uint32_t)st);
  if (st != EQ_ERR_ARENA_TOO_SMALL) finish(5);

  st = eq_init(&it, &model, arena, need);
  put_num("init_exact", (uint32_t)st);
  if (st != EQ_OK) put_status(st), finish(6);
  put_num("arena_used", (uint32_t)eq_arena_used(&it));

  for (int32_t i = 0; i < eq_input_count(&it); i++) {
    eq_tensor_info t;
    if (eq_input(&it, i, &t) != EQ_OK) finish(7);
    memset(t.data, 0, t.bytes);
  }
  st = eq_invoke(&it);
  put_num("invoke", (uint32_t)st);
  if (st != EQ_OK) put_status(st), finish(7);
  uint32_t h = 2166136261u;
  for (int32_t i = 0; i < eq_output_count(&it); i++) {
    eq_tensor_info t;
    if (eq_output(&it, i, &t) != EQ_OK) finish(7);
    h = fnv1a(h, (const uint8_t *)t.data, t.bytes);
  }
  put_num("outputs_fnv1a", h);
  put_num("stack_bytes", stack_used());
  finish(0);
}
