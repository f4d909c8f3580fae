/* core/client_int.h -- the client and lease objects, shared by the core's
 * files (client.c, keeper.c, lockinfo.c) and the backends. */
#ifndef LC_CLIENT_INT_H
#define LC_CLIENT_INT_H

#include "backends/backend_int.h"
#include "core/error_int.h"

struct lc_client {
    const lc_backend_ops *ops;
    void *state;
    const lc_config *cfg; /* borrowed: see lc_client_open */
    const lc_clock *clock;
    lc_log_fn log;
    void *log_ctx;
    lc_memstore *memstore; /* borrowed, as given at open (NULL: none) */
    char owner[LC_OWNER_MAX + 1];
    uint64_t renew_calls; /* backend renew calls (lc__client_requests without a count) */
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
    int64_t server_now_ms;      /* the server's clock at the acquire */
    int64_t last_started_at_ms; /* the recorded run start then, -1 if none */
};

/* What the keeper needs of a client. client.c is the only file that calls
 * through a backend's table; the rest of the core goes through these. */

/* The client's clock now, monotonic ns. */
int64_t lc__client_now_ns(const lc_client *c);

/* The options c was opened with (clock, log hook, memory store), for a
 * second client of the same kind (lc_run's own keeper). */
void lc__client_opts(const lc_client *c, lc_client_opts *out);

/* Logs through the client's hook (nothing when it has none). */
void lc__client_log(const lc_client *c, lc_log_level level, const char *fmt, ...) LC__PRINTF(3, 4);

/* Renews n leases in one backend call, filling each item's status
 * (LC_OK or LC_ERR_LOST). A backend without renew_many gets one renew per
 * item, stopping at the first failure that is not LC_ERR_LOST: the items
 * not reached keep their status and their leases their old deadline (the
 * safe side). Returns an error only when the call itself failed. */
lc_status lc__client_renew_many(lc_client *c, lc_renew_item *items, size_t n, lc_error *err);

/* res with its defaults filled in, as the backends get it (lc_release,
 * lc_record_run): the outcome resolved, attempts at least 1, the error
 * cut to LC_ERROR_MAX bytes on a character boundary (into buf, which
 * holds LC_ERROR_MAX + 1 bytes). */
lc_run_result lc__run_result_settle(const lc_run_result *res, char *buf);

/* The outcome named s ("ok", ...); LC_OUTCOME_DEFAULT for anything else. */
lc_outcome lc__outcome_parse(const char *s);
/* How many requests the client has sent to its server so far (the
 * backend's count: Redis commands, Postgres statements), or, for a backend
 * that does not count them, how many renew calls lc__client_renew_many
 * made of it. Only differences between two readings mean anything. */
uint64_t lc__client_requests(const lc_client *c);

/* Derives info->health from the other fields. */
void lc__health_derive(lc_lock_info *info);

/* Resets info to "never seen" for `name`. */
void lc__lock_info_init(lc_lock_info *info, const char *name);

#endif
