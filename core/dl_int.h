/* core/dl_int.h -- a shared library loaded when it is first needed, its
 * functions resolved into a table of function pointers: libcurl for http
 * jobs (sync/curl_dl.c), libpq for the Postgres backend
 * (backends/postgres/pq_dl.c). */
#ifndef LC_DL_INT_H
#define LC_DL_INT_H

#include "lockcoord.h"

#include <stddef.h>

/* One function of a table: its symbol, and the offset of its slot. */
typedef struct lc__dl_fn {
    const char *symbol;
    size_t offset;
} lc__dl_fn;

/* Opens `soname` (dlopen, RTLD_NOW | RTLD_LOCAL) and stores the address of
 * each of fns[0..n) in its slot of `table`. On failure returns
 * LC_ERR_UNAVAILABLE with a one-line message naming the library, what it
 * is needed by and what the dynamic loader said ("libpq.so.5 (needed by
 * the postgres backend) cannot be loaded: ..."; "... is too old or not
 * libpq: ..." for a missing function), and table partly written. The
 * library is never closed. Callers load once, under pthread_once. */
lc_status lc__dl_load(const char *soname, const char *lib, const char *needed_by,
                      const lc__dl_fn *fns, size_t n, void *table, lc_error *err);

#endif
