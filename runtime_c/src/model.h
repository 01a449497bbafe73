/* The model reader: verified views of the first subgraph's tensors and operators (see fb.h). */
#ifndef EDGEQ_MODEL_H
#define EDGEQ_MODEL_H

#include "edgeq.h"
#include "op.h"

typedef struct {
  int32_t builtin;
  int32_t version;
  int32_t n_in, n_out;
  int32_t in[EQ_MAX_OP_IO]; /* tensor indices, -1 for an absent optional input */
  int32_t out[EQ_MAX_OP_IO];
  eq_options options;
} eq_op_desc;

/* Fills t (data = the constant bytes inside the model, or NULL for an activation). */
eq_status eq_model_tensor(const eq_model *m, int32_t i, eq_tensor *t, const char **name);
eq_status eq_model_op(const eq_model *m, int32_t i, eq_op_desc *op);
/* Tensor index of the subgraph's i-th input (is_output = 0) or output. */
eq_status eq_model_io(const eq_model *m, int is_output, int32_t i, int32_t *tensor);

#endif
