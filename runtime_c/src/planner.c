/* Offline memory planning. Every activation tensor and every scratch request is a buffer with a
 * lifetime [first op, last op]. Tensors share a buffer when:
 *  - RESHAPE/SQUEEZE/EXPAND_DIMS: the output is its input's bytes (nobody writes a tensor after its
 *    producer);
 *  - an op declared in-place (eq_node.inplace = k): its output takes in[k]'s buffer when in[k] is
 *    needed by no later op and is no graph output, and both have the same size.
 * Buffers are placed greedily at the lowest offset free over their lifetime, in several orders (by
 * size, lifetime, area, first use, last use); the order with the smallest peak wins. The planner's
 * temporaries (4 bytes per tensor, 28 per buffer) live in the arena's head, before activations. */
#include <string.h>

#include "interp.h"
#include "op_util.h"

typedef struct {
  int32_t nb;        /* buffers in use */
  int32_t *bid;      /* per tensor: its buffer, -1 while not produced (or constant) */
  uint32_t *size, *off, *best;
  int32_t *first, *last;
  int32_t *order;
  int32_t *placed;   /* placed buffers sorted by offset */
} plan_tmp;

static int is_alias_op(int32_t builtin) {
  return builtin == EQ_OP_RESHAPE || builtin == EQ_OP_SQUEEZE || builtin == EQ_OP_EXPAND_DIMS;
}

/* Tensor facts the planner needs (re-read from the verified model); bytes unaligned. */
static eq_status facts(const struct eq_ctx *c, int32_t t, int *is_const, uint32_t *bytes) {
  eq_tensor x;
  const char *name;
  eq_status st = eq_model_tensor(c->model, t, &x, &name);
  *is_const = x.is_const;
  *bytes = (uint32_t)x.bytes;
  return st;
}

static int32_t new_buffer(plan_tmp *p, uint32_t bytes, int32_t at) {
  int32_t b = p->nb++;
  p->size[b] = bytes;
  p->first[b] = p->last[b] = at;
  return b;
}

static void touch(plan_tmp *p, int32_t b, int32_t at) {
  if (at < p->first[b]) p->first[b] = at;
  if (at > p->last[b]) p->last[b] = at;
}

static void merge(plan_tmp *p, int32_t nt, int32_t into, int32_t from) {
  for (int32_t t = 0; t < nt; ++t)
    if (p->bid[t] == from) p->bid[t] = into;
  if (p->size[from] > p->size[into]) p->size[into] = p->size[from];
  touch(p, into, p->first[from]);
  touch(p, into, p->last[from]);
  p->size[from] = 0;
  p->first[from] = -1;
}

/* Lifetimes, aliases and sizes; EQ_ERR_MODEL when an op reads an activation nobody has produced yet
 * or writes one twice. Graph outputs live until n_nodes (past every op). */
static eq_status lifetimes(struct eq_ctx *c, plan_tmp *p, int32_t *error_op) {
  const int32_t nt = c->n_tensors, end = c->n_nodes;
  int is_const;
  uint32_t bytes;
  for (int32_t t = 0; t < nt; ++t) p->bid[t] = -1;
  p->nb = 0;
  for (int32_t i = 0; i < c->n_inputs; ++i) {
    int32_t t;
    eq_status st = eq_model_io(c->model, 0, i, &t);
    if (st == EQ_OK) st = facts(c, t, &is_const, &bytes);
    if (st != EQ_OK) return st;
    if (!is_const && p->bid[t] < 0) p->bid[t] = new_buffer(p, (uint32_t)eq_align_up(bytes), 0); /* written before op 0 */
  }
  for (int32_t i = 0; i < c->n_nodes; ++i) {
    eq_op_desc d;
    *error_op = i;
    eq_status st = eq_model_op(c->model, i, &d);
    if (st != EQ_OK) return st;
    for (int32_t k = 0; k < d.n_in; ++k) {
      if (d.in[k] < 0) continue;
      if ((st = facts(c, d.in[k], &is_const, &bytes)) != EQ_OK) return st;
      if (is_const) continue;
      if (p->bid[d.in[k]] < 0) return EQ_ERR_MODEL;
      touch(p, p->bid[d.in[k]], i);
    }
    for (int32_t k = 0; k < d.n_out; ++k) {
      int32_t t = d.out[k];
      if ((st = facts(c, t, &is_const, &bytes)) != EQ_OK) return st;
      if (is_const || p->bid[t] >= 0) return EQ_ERR_MODEL; /* written twice, or a graph input overwritten */
      int32_t src = d.n_in >= 1 && d.in[0] >= 0 ? p->bid[d.in[0]] : -1;
      uint32_t src_bytes = 0;
      if (src >= 0 && (st = facts(c, d.in[0], &is_const, &src_bytes)) != EQ_OK) return st;
      if (is_alias_op(d.builtin) && d.n_out == 1 && src >= 0 && src_bytes == bytes) {
        p->bid[t] = src;
        touch(p, src, i);
      } else {
        p->bid[t] = new_buffer(p, (uint32_t)eq_align_up(bytes), i);
      }
    }
  }
  *error_op = -1;
  for (int32_t i = 0; i < c->n_outputs; ++i) {
    int32_t t;
    eq_status st = eq_model_io(c->model, 1, i, &t);
    if (st == EQ_OK) st = facts(c, t, &is_const, &bytes);
    if (st != EQ_OK) return st;
    if (is_const) continue;
    if (p->bid[t] < 0) return EQ_ERR_MODEL;
    touch(p, p->bid[t], end);
  }
  /* In-place outputs, in op order so chains of them collapse onto one buffer. */
  for (int32_t i = 0; i < c->n_nodes; ++i) {
    int32_t k = c->nodes[i].inplace;
    eq_op_desc d;
    if (k < 0 || eq_model_op(c->model, i, &d) != EQ_OK || k >= d.n_in || d.n_out != 1 || d.in[k] < 0) continue;
    int32_t from = p->bid[d.out[0]], into = p->bid[d.in[k]];
    if (into < 0 || from < 0 || into == from || p->last[into] != i || p->first[from] != i) continue;
    if (p->size[into] != p->size[from]) continue;
    merge(p, nt, into, from);
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

/* Greedy placement in p->order; the peak, or (size_t)-1 when an offset would not fit 32 bits. */
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
      if ((size_t)p->off[q] + p->size[q] > at) at = (size_t)p->off[q] + p->size[q];
    }
    if (at + p->size[b] > 0xffffffffu) return (size_t)-1;
    p->off[b] = (uint32_t)at;
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

/* Carves the temporaries from the head: per tensor first, then per buffer (at most one per
 * activation tensor plus one per scratch request). */
static eq_status carve(struct eq_ctx *c, plan_tmp *p, size_t *bytes) {
  int32_t nb = c->n_scratch, nt = c->n_tensors;
  int is_const;
  uint32_t sz;
  for (int32_t t = 0; t < nt; ++t) {
    eq_status st = facts(c, t, &is_const, &sz);
    if (st != EQ_OK) return st;
    nb += !is_const;
  }
  size_t need = eq_align_up(sizeof(int32_t) * ((size_t)nt + 7 * (size_t)nb));
  if (need > c->tail) return EQ_ERR_ARENA_TOO_SMALL;
  int32_t *w = (int32_t *)c->base;
  p->bid = w;
  w += nt;
  p->size = (uint32_t *)w;
  p->off = p->size + nb;
  p->best = p->off + nb;
  p->first = (int32_t *)(p->best + nb);
  p->last = p->first + nb;
  p->order = p->last + nb;
  p->placed = p->order + nb;
  *bytes = need;
  return EQ_OK;
}

eq_status eq_plan(struct eq_ctx *c, int32_t *error_op) {
  plan_tmp p;
  size_t tmp;
  eq_status st = carve(c, &p, &tmp);
  if (st != EQ_OK) return st;
  if ((st = lifetimes(c, &p, error_op)) != EQ_OK) return st;
  const int32_t scratch0 = p.nb;
  for (int32_t s = 0; s < c->n_scratch; ++s) {
    int32_t b = new_buffer(&p, (uint32_t)eq_align_up(c->scratch[s].bytes), c->scratch[s].op);
    if (c->scratch[s].op < 0) p.first[b] = -1;
  }
  size_t best = (size_t)-1;
  for (int kind = 0; kind < ORDER_COUNT; ++kind) {
    int32_t n = make_order(&p, kind);
    size_t peak = place(&p, n);
    if (peak < best) {
      best = peak;
      for (int32_t b = 0; b < p.nb; ++b) p.best[b] = p.off[b];
    }
  }
  if (best == (size_t)-1) return EQ_ERR_LIMIT;
  if (best > c->tail) return EQ_ERR_ARENA_TOO_SMALL;
  /* Read every offset out of the temporaries before activations may overwrite them. */
  for (int32_t s = 0; s < c->n_scratch; ++s) c->scratch[s].off = p.best[scratch0 + s];
  for (int32_t t = 0; t < c->n_tensors; ++t) {
    int32_t b = p.bid[t];
    c->offsets[t] = b >= 0 && p.first[b] >= 0 ? (p.size[b] ? p.best[b] : 0) : EQ_NO_OFFSET;
  }
  c->plan_temp = tmp;
  c->head = best > tmp ? best : tmp;
  return EQ_OK;
}
