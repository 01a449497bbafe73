/* Shared drivers a board's port.c calls from port_init(). */
#ifndef EQ_BOARD_H
#define EQ_BOARD_H
void cmsdk_uart_init(void);
void systick_init(void);
void dwt_init(void);
void cortexm_reset(void) __attribute__((noreturn));
#endif
