/* core/registry.c -- the one place that maps a backend name to its table. */
#include "core/client_int.h"

#include <string.h>

static const lc_backend_ops *const backends[] = {
    &lc__backend_redis,
    &lc__backend_postgres,
    &lc__backend_memory,
};

const lc_backend_ops *lc_backend_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}
