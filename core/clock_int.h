/* core/clock_int.h -- reading an lc_clock (NULL means the system clock). */
#ifndef LC_CLOCK_INT_H
#define LC_CLOCK_INT_H

#include "lockcoord.h"

int64_t lc__mono_ns(const lc_clock *c);
int64_t lc__wall_ms(const lc_clock *c);

#endif
