/* edgeq runtime: extras for firmware that serves a host over a link (boards/firmware). */
#ifndef EDGEQ_DEVICE_H
#define EDGEQ_DEVICE_H

#include "edgeq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* eq_invoke() that stops after op `last_op` (inclusive), so that op's outputs can be read before later
 * ops reuse their buffers. The op hook is called as in eq_invoke(). EQ_ERR_ARGUMENT when out of range. */
eq_status eq_invoke_until(eq_interp *it, int32_t last_op);

#ifdef __cplusplus
}
#endif
#endif
