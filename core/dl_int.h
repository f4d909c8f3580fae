/* core/dl_int.h -- a shared library loaded when it is first needed, its
 * functions resolved into a table of function pointers: libcurl for http
 * jobs (sync/curl_dl.c), libpq for the Postgres backend
 * (backends/postgres/pq_dl.c). */
#ifndef LC_DL_INT_H
#define LC_DL_INT_H

#include "lockcoord.h"

#include <pthread.h>
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
 * library is never closed. Callers load once, under lc__dl_once_run. */
lc_status lc__dl_load(const char *soname, const char *lib, const char *needed_by,
                      const lc__dl_fn *fns, size_t n, void *table, lc_error *err);

/* What the first load of a library found, kept for every later call. Each
 * library has one (LC__DL_ONCE_INIT) and a load function that sets rc to
 * LC_OK, or writes msg, once per process. */
typedef struct lc__dl_once {
    pthread_once_t once;
    lc_status rc; /* LC_ERR_UNAVAILABLE until a load succeeded */
    char msg[sizeof(((lc_error *)0)->message)];
} lc__dl_once;

#define LC__DL_ONCE_INIT                                                                           \
    {                                                                                              \
        PTHREAD_ONCE_INIT, LC_ERR_UNAVAILABLE, ""                                                  \
    }

/* Runs `load` the first time any thread calls it for o, then answers what
 * it found: LC_OK, or o->rc with o->msg as the message. */
lc_status lc__dl_once_run(lc__dl_once *o, void (*load)(void), lc_error *err);

#endif
