/* backends/backend_int.h -- the contract between the core and a backend:
 * one const table of functions per backend (backends/memory/memory.c,
 * backends/redis/redis.c, backends/postgres/postgres.c), chosen by name in
 * one place (core/registry.c) and called from one file (core/client.c; the
 * benchmark floor's table from core/bench.c).
 * Not part of the public header: an embedder picks a backend by the
 * config's `backend`, never by table. */
#ifndef LC_BACKEND_INT_H
#define LC_BACKEND_INT_H

#include "lockcoord.h"

/* How many of a lock's newest history entries a lost lease's record
 * looks through for the "abandoned" entry of its own run (record_run with
 * who): the next holder wrote it when it took the lock, so it is among the
 * last few unless that many runs came and went since. */
#define LC__HISTORY_LOOKBACK 16

/* What a backend gets when it is opened, besides the config. */
typedef struct lc_backend_env {
    const lc_clock *clock; /* never NULL */
    lc_log_fn log;         /* may be NULL */
    void *log_ctx;
    void *shared; /* backend-specific shared state (memory store) */
} lc_backend_env;

/* One acquire attempt: the core has made the token and picked the owner
 * and ttl. */
typedef struct lc_acquire_args {
    const char *name;
    const char *token;
    const char *owner;
    int64_t ttl_ms;
    int claim; /* 1: leave the last run's start as it is (lc_acquire_opts.claim) */
    /* 0: a single attempt that takes a free lock. > 0: one attempt of a
     * waiting acquire, which promises to ask again within queue_ms while it
     * is refused; a backend with a line of waiters (leave) gives a free
     * lock to the earliest live waiter first. */
    int64_t queue_ms;
} lc_acquire_args;

/* What a successful acquire returns. checkpoint is malloc'd (or NULL) and
 * becomes the caller's. */
typedef struct lc_grant {
    uint64_t fence;
    int64_t acquired_at_ms;
    char *checkpoint;
    int64_t server_now_ms;      /* the server's clock at the acquire */
    int64_t last_started_at_ms; /* the recorded run start after it, -1 if none */
} lc_grant;

/* One lease of a renew_many call; status is filled per item. */
typedef struct lc_renew_item {
    const char *name;
    const char *token;
    int64_t ttl_ms;
    lc_status status; /* out: LC_OK or LC_ERR_LOST */
} lc_renew_item;

/* The contract every backend implements. All functions but close and
 * unwatch return lc_status and fill err (NULL allowed). Names and tokens
 * are validated by the core before a backend sees them; `state` is what
 * open returned. A state is used by one thread at a time (the client's
 * rule), but the tables are shared by every client.
 *
 * Required: name, open, close, acquire, renew, release, force_release,
 * record_run, start_run, abandon, checkpoint, pause, resume, history, inspect, list,
 * migrate.
 * Optional (NULL): leave -- a backend without it keeps no line of waiters
 * and ignores args->queue_ms; renew_many -- the core then renews one lease at a time
 * (lc__client_renew_many); watch, wait and unwatch -- all three or none;
 * without them a waiting acquire polls with backoff.
 *
 * open: connects and logs in (lc_client_open's promise: a server that
 *   cannot be reached fails the open with LC_ERR_UNAVAILABLE, not the first
 *   call); on error nothing is left open and *state is untouched. A
 *   connection lost later is made again by the next call that needs it.
 *
 * acquire: take the lock if free or expired; a new fence, strictly greater
 *   than every fence handed out for that name. If the lock is held with the
 *   same token (a retried acquire), succeed with the same fence. If held by
 *   another, LC_ERR_CONFLICT through lc__err_conflict (core/error_int.h), so
 *   every backend reports the holder the same way. The last run's start
 *   becomes now unless args->claim; the grant carries the server's now and
 *   the start as it is after the acquire.
 *   With args->queue_ms > 0 and a line of waiters (leave set): a refused
 *   attempt takes (or keeps) its token's place in the lock's line, first
 *   arrival first, and renews its promise to ask again within queue_ms; a
 *   free lock is granted only to the first live waiter in line (or to
 *   anyone when the line is empty), others get LC_ERR_CONFLICT through
 *   lc__err_promised; a waiter whose promise ran out is dropped from the
 *   line. The granted waiter leaves the line. queue_ms 0 ignores the line.
 * leave: the token gives up its place in the lock's line (a waiting
 *   acquire that ends without the lock); nothing when it has none.
 * start_run: token-checked; the last run's start becomes the server's now,
 *   returned in *started_at_ms. LC_ERR_LOST when not the live holder's.
 * abandon: token-checked release that records nothing (no sync_count, no
 *   run record); notifies waiters. LC_ERR_LOST when not the live holder's.
 * renew: token-checked ttl extension; LC_ERR_LOST when the token is not the
 *   live holder's (expired counts as lost even if nobody took it).
 * renew_many: one round trip for n renewals; per-item status. Returns an
 *   error only when the round trip itself failed.
 * release: token-checked; records `res` (never NULL; the core has filled
 *   in its defaults: outcome set, attempts >= 1, error cut to LC_ERROR_MAX)
 *   and notifies waiters.
 *   LC_ERR_LOST when the token is not the live holder's (nothing recorded).
 * force_release: the operator's reset; *was_held says whether a live lease
 *   existed, *prev its holder; records `reason` as last error; keeps the
 *   fence counter; notifies waiters.
 * record_run: records `res` without touching the lease (a run whose
 *   release found the lease lost). who NULL: the entry takes the lock's
 *   current fence, owner and last start. Otherwise who is the lost lease
 *   the run was under (owner, fence, and in acquired_at_ms the run's
 *   start; expires_in_ms unused): the entry is that lease's, a duration of
 *   0 is measured from who's start, and an "abandoned" entry of who's
 *   fence among the newest LC__HISTORY_LOOKBACK is replaced by it instead
 *   of joined; when the lock's fence is still who's and no lease is live,
 *   the lock is marked no longer running. Either way the lock's last_*
 *   fields, sync_count and failure streak are updated as by release, and
 *   the fence, owner, token and start of a later holder stay as they are.
 * checkpoint: token-checked store of a progress marker.
 * pause: marks the lock paused by `by` for `reason`, until resumed
 *   (for_ms 0) or for for_ms on the server's clock; replaces a pause in
 *   force; leaves a live lease alone. From then on acquire refuses with
 *   LC_ERR_PAUSED through lc__err_paused (a retried acquire of a lease
 *   already held is still granted). A never-seen name is created paused.
 * resume: lifts the pause; *was_paused says whether one was in force.
 * inspect and list fill the pause fields of lc_lock_info.
 * history: the lock's run entries, newest first (lc_history's contract).
 *   release and record_run append one entry each (or record_run replaces
 *   one, above), in the same atomic step, and keep the last lock.history
 *   of them.
 * inspect: state of one lock, server_now_ms included; a never-seen name is
 *   ready with fence 0.
 * list: all locks, *out malloc'd array (lc_lock_list_free).
 * migrate: create/upgrade schema, load scripts; *what is a short
 *   human description written into a buffer of `what_size`.
 * watch/wait/unwatch: release notifications. After watch(name), wait
 *   returns LC_OK when a release of a watched name was seen or timeout_ms
 *   passed (both are fine); *notified says which.
 * requests (optional): how many requests (Redis commands, Postgres
 *   statements) this state has sent to its server so far; the login is not
 *   counted, a new connection's session settings may be. The keeper's
 *   statistics count with it.
 * bench (optional): the backend's own floor for `lockcoord bench
 *   --reference` (lc_bench_ops below).
 * variant (optional): the table that serves a given config instead of
 *   this one (the Redis table hands a redis.quorum config to quorum
 *   mode); the client asks it once, before open. */
typedef struct lc_bench_ops lc_bench_ops;

typedef struct lc_backend_ops {
    const char *name;
    lc_status (*open)(const lc_config *cfg, const lc_backend_env *env, void **state, lc_error *err);
    void (*close)(void *state);
    lc_status (*acquire)(void *state, const lc_acquire_args *args, lc_grant *out, lc_error *err);
    lc_status (*leave)(void *state, const char *name, const char *token, lc_error *err);
    lc_status (*renew)(void *state, const char *name, const char *token, int64_t ttl_ms,
                       lc_error *err);
    lc_status (*renew_many)(void *state, lc_renew_item *items, size_t n, lc_error *err);
    lc_status (*release)(void *state, const char *name, const char *token, const lc_run_result *res,
                         lc_error *err);
    lc_status (*force_release)(void *state, const char *name, const char *reason, int *was_held,
                               lc_holder *prev, lc_error *err);
    lc_status (*record_run)(void *state, const char *name, const lc_run_result *res,
                            const lc_holder *who, lc_error *err);
    lc_status (*start_run)(void *state, const char *name, const char *token, int64_t *started_at_ms,
                           lc_error *err);
    lc_status (*abandon)(void *state, const char *name, const char *token, lc_error *err);
    lc_status (*checkpoint)(void *state, const char *name, const char *token, const char *value,
                            lc_error *err);
    lc_status (*pause)(void *state, const char *name, const char *by, const char *reason,
                       int64_t for_ms, lc_error *err);
    lc_status (*resume)(void *state, const char *name, int *was_paused, lc_error *err);
    lc_status (*history)(void *state, const char *name, size_t limit, int64_t since_ms,
                         lc_run_entry **out, size_t *n, lc_error *err);
    lc_status (*inspect)(void *state, const char *name, lc_lock_info *out, lc_error *err);
    lc_status (*list)(void *state, lc_lock_info **out, size_t *n, lc_error *err);
    lc_status (*migrate)(void *state, char *what, size_t what_size, lc_error *err);
    lc_status (*watch)(void *state, const char *name, lc_error *err);
    lc_status (*wait)(void *state, int64_t timeout_ms, int *notified, lc_error *err);
    void (*unwatch)(void *state);
    uint64_t (*requests)(void *state);
    const lc_bench_ops *bench;
    const struct lc_backend_ops *(*variant)(const lc_config *cfg);
} lc_backend_ops;

/* The floor a backend is measured against (backends/redis/bench.c,
 * backends/postgres/bench.c): the fewest requests a lease needs on that
 * server, sent with the driver's plain calls, on a connection of its own
 * made as the backend's open makes it (same address, login, timeouts,
 * session settings). Its keys or rows live apart from the locks. A state
 * is used by one thread at a time. A connection that broke is not made
 * again: every later call fails, and the caller opens another.
 *
 * floor: what it sends, for humans ("SET NX PX + EVALSHA ...").
 * open: connects and prepares (loads the scripts, creates the scratch
 *   table and prepares the statements); on error nothing is left open.
 * acquire: LC_OK when taken, LC_ERR_CONFLICT (plain message, no holder)
 *   when another token holds it.
 * release: token-checked; LC_ERR_LOST when the token does not hold it.
 * renew_many: token-checked, all n in one request; *renewed counts the
 *   leases extended. */
struct lc_bench_ops {
    const char *floor;
    lc_status (*open)(const lc_config *cfg, const lc_backend_env *env, void **state, lc_error *err);
    void (*close)(void *state);
    lc_status (*acquire)(void *state, const char *name, const char *token, int64_t ttl_ms,
                         lc_error *err);
    lc_status (*release)(void *state, const char *name, const char *token, lc_error *err);
    lc_status (*renew_many)(void *state, const char *const *names, const char *const *tokens,
                            size_t n, int64_t ttl_ms, size_t *renewed, lc_error *err);
};

/* The registry: the table for "redis", "postgres" or "memory" when this
 * build has it; NULL for anything else. */
const lc_backend_ops *lc__backend_find(const char *name);

/* The tables, for the registry. */
extern const lc_backend_ops lc__backend_memory;
extern const lc_backend_ops lc__backend_redis;
extern const lc_backend_ops lc__backend_postgres;

/* The floors, for the tables above. */
extern const lc_bench_ops lc__bench_redis;
extern const lc_bench_ops lc__bench_postgres;

#endif
