/* Field layouts of TFLite's BuiltinOptions tables (generated into options_layout.c). */
#ifndef EDGEQ_OPTIONS_H
#define EDGEQ_OPTIONS_H

#include <stdint.h>

#define EQ_OPTIONS_TYPES 256
extern const char *const eq_options_layout[EQ_OPTIONS_TYPES];

#endif
