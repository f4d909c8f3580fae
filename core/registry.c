/* core/registry.c -- the one place that maps a backend name to its table,
 * and the one place that knows which backends this build has (the build
 * defines LC_HAVE_REDIS / LC_HAVE_POSTGRES for this file only). */
#include "backends/backend_int.h"

#include <string.h>

static const lc_backend_ops *const backends[] = {
#ifdef LC_HAVE_REDIS
    &lc__backend_redis,
#endif
#ifdef LC_HAVE_POSTGRES
    &lc__backend_postgres,
#endif
    &lc__backend_memory,
};
#define N_BACKENDS (sizeof(backends) / sizeof(backends[0]))

const lc_backend_ops *lc__backend_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < N_BACKENDS; i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}

const char *lc_backend_name(size_t i)
{
    return i < N_BACKENDS ? backends[i]->name : NULL;
}

int lc_backend_available(const char *name)
{
    return lc__backend_find(name) != NULL;
}
