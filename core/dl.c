/* core/dl.c -- a shared library loaded on demand (see dl_int.h). */
#include "core/dl_int.h"

#include "core/error_int.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* dlsym hands out object pointers; POSIX makes them hold function
 * pointers, which the tables' slots are. */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "function pointers fit in void *");

static lc_status fail(lc_error *err, const char *soname, const char *needed_by, const char *what,
                      const char *why)
{
    return lc__err(err, LC_ERR_UNAVAILABLE, 0, "%s (needed by %s) %s: %s", soname, needed_by, what,
                   why ? why : "unknown error");
}

lc_status lc__dl_load(const char *soname, const char *lib, const char *needed_by,
                      const lc__dl_fn *fns, size_t n, void *table, lc_error *err)
{
    void *handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL)
        return fail(err, soname, needed_by, "cannot be loaded", dlerror());
    for (size_t i = 0; i < n; i++) {
        void *f = dlsym(handle, fns[i].symbol);
        if (f == NULL) {
            char what[64];
            snprintf(what, sizeof(what), "is too old or not %s", lib);
            return fail(err, soname, needed_by, what, dlerror());
        }
        memcpy((char *)table + fns[i].offset, &f, sizeof(f));
    }
    return LC_OK;
}

lc_status lc__dl_once_run(lc__dl_once *o, void (*load)(void), lc_error *err)
{
    pthread_once(&o->once, load);
    if (o->rc == LC_OK)
        return LC_OK;
    return lc__err(err, o->rc, 0, "%s", o->msg);
}
