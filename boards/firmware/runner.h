/* The model in the active slot, its interpreter over the board's arena, and per-op counts of the last run. */
#ifndef EQ_RUNNER_H
#define EQ_RUNNER_H
#include <stdint.h>

#include "edgeq.h"

#ifndef EQ_PROFILE_OPS
#define EQ_PROFILE_OPS 1024 /* ops with a per-op count; later ops still run */
#endif

extern eq_interp runner_interp;

int runner_loaded(void);
void runner_unload(void);
eq_status runner_load(const uint8_t *model, uint32_t size);
uint32_t runner_arena_capacity(void);
/* Runs ops 0..stop_after (all when stop_after >= op count); the total in counter units. */
eq_status runner_invoke(int32_t stop_after, uint32_t *total);
int32_t runner_last_stop(void);  /* last op the last INVOKE ran, or -1 */
int32_t runner_ops_run(void);
uint32_t runner_op_count(int32_t op);

#endif
