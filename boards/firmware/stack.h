/* Stack high-water mark by painting: the unused stack is filled at boot, the first overwritten word
 * from the bottom tells the deepest use since. */
#ifndef EQ_STACK_H
#define EQ_STACK_H
#include <stdint.h>
void stack_paint(void);
uint32_t stack_used(void);
uint32_t stack_size(void);
#endif
