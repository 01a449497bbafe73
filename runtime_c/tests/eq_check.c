/* Robustness driver, built with AddressSanitizer + UBSan by `make asan`:
 *   eq_check MODEL.tflite FLIPS SEED [--no-truncate]
 * Runs load -> arena size -> init (exact arena) -> invoke on every truncation of the model and on FLIPS
 * copies with 1-3 random bit flips; prints a histogram of the statuses. Any out-of-bounds access or
 * undefined behaviour aborts the process with a sanitizer report. */
#define _POSIX_C_SOURCE 200112L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeq.h"

#define WORK_BYTES (4u << 20)

static unsigned long long rng_state;
static unsigned rnd(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (unsigned)((rng_state * 2685821657736338717ull) >> 32);
}

static void *aligned(size_t n) {
  void *p = NULL;
  return posix_memalign(&p, EQ_ARENA_ALIGN, n ? n : 1) == 0 ? p : NULL;
}

static int exercise(const unsigned char *data, size_t n, void *work) {
  /* A fresh, exactly sized heap copy so the sanitizer sees any read past the end of the model. */
  unsigned char *copy = malloc(n ? n : 1);
  memcpy(copy, data, n);
  eq_model m;
  eq_interp it;
  size_t need = 0;
  int st = eq_model_load(&m, copy, n);
  if (!st) st = eq_arena_size(&m, work, WORK_BYTES, &need);
  if (!st) {
    void *arena = aligned(need);
    st = eq_init(&it, &m, arena, need);
    if (!st) {
      for (int i = 0; i < eq_input_count(&it); ++i) {
        eq_tensor_info info;
        if (eq_input(&it, i, &info) == EQ_OK && info.data) memset(info.data, 0x5a, info.bytes);
      }
      st = eq_invoke(&it);
    }
    free(arena);
  }
  free(copy);
  return st;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s MODEL FLIPS SEED [--no-truncate]\n", argv[0]);
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) return 2;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *data = malloc((size_t)size);
  if (fread(data, 1, (size_t)size, f) != (size_t)size) return 2;
  fclose(f);
  long flips = atol(argv[2]);
  rng_state = (unsigned long long)atol(argv[3]) * 0x9E3779B97F4A7C15ull + 1;
  void *work = aligned(WORK_BYTES);
  long hist[16] = {0};
  if (exercise(data, (size_t)size, work) != EQ_OK) {
    fprintf(stderr, "the unmodified model does not run\n");
    return 1;
  }
  if (argc < 5 || strcmp(argv[4], "--no-truncate") != 0)
    for (long n = 0; n < size; ++n) hist[exercise(data, (size_t)n, work) & 15]++;
  unsigned char *b = malloc((size_t)size);
  for (long k = 0; k < flips; ++k) {
    memcpy(b, data, (size_t)size);
    int nflip = 1 + (int)(rnd() % 3);
    for (int j = 0; j < nflip; ++j) b[rnd() % (unsigned)size] ^= (unsigned char)(1u << (rnd() % 8));
    hist[exercise(b, (size_t)size, work) & 15]++;
  }
  for (int s = 0; s < 16; ++s)
    if (hist[s]) printf("%s: %ld\n", eq_strerror((eq_status)s), hist[s]);
  free(b);
  free(work);
  free(data);
  return 0;
}
