/* core/clock_int.h -- reading an lc_clock (NULL means the system clock). */
#ifndef LC_CLOCK_INT_H
#define LC_CLOCK_INT_H

#include "lockcoord.h"

int64_t lc__mono_ns(const lc_clock *c);
int64_t lc__wall_ms(const lc_clock *c);

/* RFC 3339 UTC with milliseconds: "2026-11-30T13:25:56.123Z". */
void lc__format_time(int64_t unix_ms, char *buf, size_t size);

#endif
