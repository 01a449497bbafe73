/* The arena is every byte of RAM between .bss and the stack (linker symbols), so a board offers the
 * largest arena it can without a compile-time size. */
#include "runner.h"

#include "edgeq_device.h"
#include "port.h"

extern uint8_t __arena_start[], __arena_end[];

eq_interp runner_interp;
static eq_model model;
static int loaded;
static int32_t last_stop = -1, ops_run;
static uint64_t op_start;
static uint32_t op_counts[EQ_PROFILE_OPS];

uint32_t runner_arena_capacity(void) { return (uint32_t)(__arena_end - __arena_start); }
int runner_loaded(void) { return loaded; }
void runner_unload(void) { loaded = 0; last_stop = -1; ops_run = 0; }
int32_t runner_last_stop(void) { return last_stop; }
int32_t runner_ops_run(void) { return ops_run; }
uint32_t runner_op_count(int32_t op) { return op >= 0 && op < ops_run && op < EQ_PROFILE_OPS ? op_counts[op] : 0; }

/* Raw ticks only inside the hook: the scaling runs outside the timed span. */
static void hook(void *user, int32_t op, int32_t builtin, int32_t done) {
  (void)user;
  (void)builtin;
  uint64_t now = port_ticks();
  if (!done) {
    op_start = now;
    return;
  }
  if (op < EQ_PROFILE_OPS) op_counts[op] = (uint32_t)(now - op_start);
}

eq_status runner_load(const uint8_t *data, uint32_t size) {
  runner_unload();
  eq_status st = eq_model_load(&model, data, size);
  if (st == EQ_OK) st = eq_init(&runner_interp, &model, __arena_start, runner_arena_capacity());
  if (st != EQ_OK) return st;
  eq_set_op_hook(&runner_interp, hook, 0);
  loaded = 1;
  return EQ_OK;
}

eq_status runner_invoke(int32_t stop_after, uint32_t *total) {
  int32_t n = eq_op_count(&runner_interp);
  if (stop_after >= n) stop_after = n - 1;
  last_stop = -1;
  ops_run = 0;
  port_count_begin();
  uint64_t t0 = port_ticks();
  eq_status st = eq_invoke_until(&runner_interp, stop_after);
  uint64_t t1 = port_ticks();
  if (st != EQ_OK) return st;
  for (int32_t i = 0; i <= stop_after && i < EQ_PROFILE_OPS; i++) op_counts[i] = (uint32_t)port_ticks_to_count(op_counts[i]);
  *total = (uint32_t)port_ticks_to_count(t1 - t0);
  last_stop = stop_after;
  ops_run = stop_after + 1;
  return EQ_OK;
}
