/* core/client_int.h -- the client and lease objects, for the parts of the
 * library (the keeper) that drive a backend directly. */
#ifndef LC_CLIENT_INT_H
#define LC_CLIENT_INT_H

#include "lockcoord.h"

struct lc_client {
    const lc_backend_ops *ops;
    void *state;
    const lc_config *cfg; /* borrowed: see lc_client_open */
    const lc_clock *clock;
    lc_log_fn log;
    void *log_ctx;
    char owner[LC_OWNER_MAX + 1];
};

struct lc_lease {
    char name[LC_NAME_MAX + 1];
    char token[LC_TOKEN_LEN + 1];
    char owner[LC_OWNER_MAX + 1];
    uint64_t fence;
    int64_t ttl_ms;
    int64_t acquired_at_ms;
    int64_t deadline_ns; /* local deadline, 0 when unknown */
    char *checkpoint;
};

/* Derives info->health from the other fields. */
void lc__health_derive(lc_lock_info *info);

/* Resets info to "never seen" for `name`. */
void lc__lock_info_init(lc_lock_info *info, const char *name);

/* The backends, for the registry. */
extern const lc_backend_ops lc__backend_memory;
extern const lc_backend_ops lc__backend_redis;
extern const lc_backend_ops lc__backend_postgres;

#endif
