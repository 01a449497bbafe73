/* Offline memory planning. Every activation tensor and every scratch request is a buffer with a
 * lifetime [first op, last op]; RESHAPE/SQUEEZE/EXPAND_DIMS outputs share their input's buffer (their
 * bytes are identical and nobody writes a tensor after its producer). Buffers are placed greedily at
 * the lowest offset free over their lifetime, in several orders (by size, lifetime, area, first use);
 * the order with the smallest peak wins. Temporaries live in the arena's head, before activations. */
#include <string.h>

#include "interp.h"
#include "op_util.h"

typedef struct {
  int32_t nb;       /* tensors then scratch buffers */
  size_t *size;
  int32_t *first, *last;
  int32_t *order;
  int32_t *placed;  /* placed buffers sorted by offset */
  size_t *off, *best;
  int32_t *root;    /* per tensor: the tensor whose buffer it uses */
  int32_t *producer;
} plan_tmp;

static size_t tmp_bytes(int32_t nb, int32_t nt) {
  return eq_align_up(sizeof(size_t) * (size_t)nb) * 3 + eq_align_up(sizeof(int32_t) * (size_t)nb) * 4 +
         eq_align_up(sizeof(int32_t) * (size_t)nt) * 2;
}

static void carve(plan_tmp *p, uint8_t *base, int32_t nb, int32_t nt) {
  size_t o = 0;
#define CARVE(field, type, n)           \
  p->field = (type *)(base + o);        \
  o += eq_align_up(sizeof(type) * (size_t)(n));
  CARVE(size, size_t, nb);
  CARVE(off, size_t, nb);
  CARVE(best, size_t, nb);
  CARVE(first, int32_t, nb);
  CARVE(last, int32_t, nb);
  CARVE(order, int32_t, nb);
  CARVE(placed, int32_t, nb);
  CARVE(root, int32_t, nt);
  CARVE(producer, int32_t, nt);
#undef CARVE
  p->nb = nb;
}

static int is_alias_op(int32_t builtin) {
  return builtin == EQ_OP_RESHAPE || builtin == EQ_OP_SQUEEZE || builtin == EQ_OP_EXPAND_DIMS;
}

static void touch(plan_tmp *p, int32_t b, int32_t t) {
  if (p->first[b] < 0 || t < p->first[b]) p->first[b] = t;
  if (t > p->last[b]) p->last[b] = t;
}

/* Lifetimes and sizes; EQ_ERR_MODEL when an op reads an activation nobody has produced yet. */
static eq_status lifetimes(struct eq_ctx *c, plan_tmp *p, int32_t *error_op) {
  int32_t nt = c->n_tensors;
  for (int32_t b = 0; b < p->nb; ++b) {
    p->size[b] = 0;
    p->first[b] = -1;
    p->last[b] = -1;
  }
  for (int32_t t = 0; t < nt; ++t) {
    p->root[t] = t;
    p->producer[t] = -1;
  }
  for (int32_t i = 0; i < c->n_inputs; ++i) {
    int32_t t = c->inputs[i];
    if (c->tensors[t].is_const) continue;
    p->producer[t] = -2; /* written by the caller before op 0 */
    touch(p, t, 0);
  }
  for (int32_t i = 0; i < c->n_nodes; ++i) {
    eq_node *n = &c->nodes[i];
    *error_op = i;
    for (int32_t k = 0; k < n->n_in; ++k) {
      if (!n->in[k] || n->in[k]->is_const) continue;
      int32_t t = (int32_t)(n->in[k] - c->tensors);
      if (p->producer[t] == -1) return EQ_ERR_MODEL;
      touch(p, p->root[t], i);
    }
    for (int32_t k = 0; k < n->n_out; ++k) {
      int32_t t = (int32_t)(n->out[k] - c->tensors);
      if (p->producer[t] != -1) return EQ_ERR_MODEL; /* written twice, or a graph input overwritten */
      p->producer[t] = i;
    }
    if (is_alias_op(n->builtin) && n->n_in >= 1 && n->n_out == 1 && n->in[0] && !n->in[0]->is_const &&
        n->in[0]->bytes == n->out[0]->bytes) {
      int32_t src = (int32_t)(n->in[0] - c->tensors);
      p->root[(int32_t)(n->out[0] - c->tensors)] = p->root[src];
    }
    for (int32_t k = 0; k < n->n_out; ++k) touch(p, p->root[(int32_t)(n->out[k] - c->tensors)], i);
  }
  *error_op = -1;
  int32_t end = c->n_nodes > 0 ? c->n_nodes - 1 : 0;
  for (int32_t i = 0; i < c->n_outputs; ++i) {
    int32_t t = c->outputs[i];
    if (c->tensors[t].is_const) continue;
    if (p->producer[t] == -1) return EQ_ERR_MODEL;
    touch(p, p->root[t], end);
  }
  for (int32_t t = 0; t < nt; ++t) {
    int32_t r = p->root[t];
    if (p->first[r] < 0 || c->tensors[t].is_const) continue;
    size_t s = eq_align_up(c->tensors[t].bytes);
    if (s > p->size[r]) p->size[r] = s;
  }
  for (int32_t s = 0; s < c->n_scratch; ++s) {
    int32_t b = nt + s;
    p->size[b] = eq_align_up(c->scratch_bytes[s]);
    p->first[b] = p->last[b] = c->scratch_op[s];
  }
  return EQ_OK;
}

enum { ORDER_SIZE, ORDER_LENGTH, ORDER_AREA, ORDER_FIRST, ORDER_LAST, ORDER_COUNT };

/* Larger key first; ties by earlier first use, then index, so every order is deterministic. */
static uint64_t key(const plan_tmp *p, int32_t b, int kind) {
  uint64_t len = (uint64_t)(p->last[b] - p->first[b] + 1);
  switch (kind) {
    case ORDER_SIZE: return p->size[b];
    case ORDER_LENGTH: return (len << 40) | p->size[b];
    case ORDER_AREA: return len * p->size[b];
    case ORDER_FIRST: return ((uint64_t)(0x7fffffff - p->first[b]) << 32) | (p->size[b] >> 4);
    default: return ((uint64_t)p->last[b] << 32) | (p->size[b] >> 4);
  }
}

static int32_t make_order(plan_tmp *p, int kind) {
  int32_t n = 0;
  for (int32_t b = 0; b < p->nb; ++b) {
    if (p->first[b] < 0 || p->size[b] == 0) continue;
    /* insertion sort: buffer counts are small and this needs no extra memory */
    uint64_t kb = key(p, b, kind);
    int32_t j = n++;
    while (j > 0) {
      int32_t a = p->order[j - 1];
      uint64_t ka = key(p, a, kind);
      if (ka > kb || (ka == kb && p->first[a] <= p->first[b])) break;
      p->order[j] = a;
      --j;
    }
    p->order[j] = b;
  }
  return n;
}

static size_t place(plan_tmp *p, int32_t n) {
  size_t peak = 0;
  int32_t np = 0;
  for (int32_t k = 0; k < n; ++k) {
    int32_t b = p->order[k];
    size_t at = 0;
    for (int32_t j = 0; j < np; ++j) {
      int32_t q = p->placed[j];
      if (p->last[q] < p->first[b] || p->first[q] > p->last[b]) continue;
      if (at + p->size[b] <= p->off[q]) break;
      if (p->off[q] + p->size[q] > at) at = p->off[q] + p->size[q];
    }
    p->off[b] = at;
    int32_t j = np++;
    while (j > 0 && p->off[p->placed[j - 1]] > at) {
      p->placed[j] = p->placed[j - 1];
      --j;
    }
    p->placed[j] = b;
    if (at + p->size[b] > peak) peak = at + p->size[b];
  }
  return peak;
}

eq_status eq_plan(struct eq_ctx *c, int32_t *error_op) {
  int32_t nt = c->n_tensors, nb = c->n_tensors + c->n_scratch;
  size_t tmp = tmp_bytes(nb, nt);
  if (tmp > c->tail) return EQ_ERR_ARENA_TOO_SMALL;
  plan_tmp p;
  carve(&p, c->base, nb, nt);
  eq_status st = lifetimes(c, &p, error_op);
  if (st != EQ_OK) return st;
  size_t best = (size_t)-1;
  for (int kind = 0; kind < ORDER_COUNT; ++kind) {
    int32_t n = make_order(&p, kind);
    size_t peak = place(&p, n);
    if (peak < best) {
      best = peak;
      for (int32_t b = 0; b < nb; ++b) p.best[b] = p.off[b];
    }
  }
  if (best > c->tail) return EQ_ERR_ARENA_TOO_SMALL;
  /* Read every offset out of the temporaries before activations may overwrite them. */
  for (int32_t s = 0; s < c->n_scratch; ++s) c->scratch_off[s] = p.best[nt + s];
  for (int32_t t = 0; t < nt; ++t) {
    eq_tensor *x = &c->tensors[t];
    if (x->is_const) continue;
    int32_t r = p.root[t];
    x->data = p.first[r] >= 0 ? (void *)(c->base + (p.size[r] ? p.best[r] : 0)) : NULL;
  }
  c->head = best > tmp ? best : tmp;
  return EQ_OK;
}
