/* lockcoord.h -- the one public header of liblockcoord.
 *
 * lockcoord keeps a named lock in Redis or Postgres (or, within one process,
 * in memory), hands it out as a lease with a time-to-live, and runs work
 * under such leases so that it runs on one machine at a time.
 *
 * Conventions (see STYLE.md):
 *  - Every fallible call returns lc_status (LC_OK == 0) and fills an optional
 *    lc_error *err. On error nothing the caller owns is changed.
 *  - Arguments are borrowed; whatever the library keeps, it copies.
 *  - Every _new/_open has a _free/_close that accepts NULL.
 *  - The library never prints, never exits, and keeps no global error state.
 */
#ifndef LOCKCOORD_H
#define LOCKCOORD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LC_API __attribute__((visibility("default")))
#else
#define LC_API
#endif

#define LC_VERSION   "0.1.0"
#define LC_NAME_MAX  200 /* bytes in a lock name */
#define LC_TOKEN_LEN 32  /* hex characters in a token */
#define LC_OWNER_MAX 255

/* ------------------------------------------------------------------------ */
/* Status codes and errors                                                  */
/* ------------------------------------------------------------------------ */

typedef enum lc_status {
    LC_OK = 0,
    LC_ERR_CONFLICT,    /* the lock is held by another holder */
    LC_ERR_LOST,        /* the lease is not (or no longer) yours */
    LC_ERR_TIMEOUT,     /* the backend did not answer in time */
    LC_ERR_UNAVAILABLE, /* cannot connect, connection lost, server error */
    LC_ERR_INVALID,     /* bad argument: lock name, duration, token */
    LC_ERR_NOMEM,       /* out of memory */
    LC_ERR_CONFIG,      /* bad configuration */
    LC_ERR_INTERNAL     /* a bug or an impossible reply */
} lc_status;

/* Who holds a lock. Times are the backend server's clock (unix ms). */
typedef struct lc_holder {
    char owner[LC_OWNER_MAX + 1];
    uint64_t fence;
    int64_t acquired_at_ms; /* unix ms, 0 when unknown */
    int64_t expires_in_ms;  /* remaining ttl, -1 when unknown */
} lc_holder;

/* Filled by every fallible call when non-NULL. `holder` is valid when
 * code == LC_ERR_CONFLICT (the current holder). */
typedef struct lc_error {
    lc_status code;
    int sys_errno; /* errno at the failure, 0 if none */
    char message[256];
    lc_holder holder;
} lc_error;

/* "conflict", "lost", "timeout", "unavailable", "invalid", "nomem",
 * "config", "internal" or "ok". Never NULL. */
LC_API const char *lc_status_name(lc_status code);

/* ------------------------------------------------------------------------ */
/* Vocabulary: lock names, durations, tokens                               */
/* ------------------------------------------------------------------------ */

/* A lock name is 1..LC_NAME_MAX bytes of [A-Za-z0-9._:/-]. `len` is the
 * length in bytes (so an embedded NUL is caught). Returns LC_OK or
 * LC_ERR_INVALID with a message naming the offending byte. */
LC_API lc_status lc_name_check(const char *name, size_t len, lc_error *err);

/* The longest duration anywhere (ttl, wait, timeouts, intervals; flags and
 * config alike): 365 days. Longer ones are refused, so no time arithmetic
 * in nanoseconds can overflow. */
#define LC_DURATION_MAX_MS (365LL * 24 * 60 * 60 * 1000)

/* The shortest durations, for flags and config alike. A lease's ttl is at
 * least LC_TTL_MIN_MS (its local deadline keeps a 2 ms allowance); a
 * renewal period, server timeout or retry step at least LC_PERIOD_MIN_MS.
 * A zero is refused, except where it has a meaning of its own: a wait of
 * 0s (do not wait), a job or `run` timeout of 0s (none), a kill grace of
 * 0s (SIGKILL right after SIGTERM), a job interval of 0s (every pass). */
#define LC_TTL_MIN_MS    10
#define LC_PERIOD_MIN_MS 1

/* Parses "250ms", "30s", "5m", "1h", "1d" (also "1h30m", "1.5s") into
 * milliseconds. A bare number is refused with a hint. Negative values and
 * values over LC_DURATION_MAX_MS are refused. */
LC_API lc_status lc_duration_parse(const char *text, int64_t *ms, lc_error *err);

/* Formats ms as the shortest exact unit string ("250ms", "30s", "5m",
 * "1h", "1m30s"). Always NUL-terminates when size > 0; returns buf. */
LC_API char *lc_duration_format(int64_t ms, char *buf, size_t size);

/* Writes LC_TOKEN_LEN lowercase hex characters of 128 random bits from
 * getrandom(2), plus a NUL, into out. */
LC_API lc_status lc_token_new(char out[LC_TOKEN_LEN + 1], lc_error *err);

/* LC_OK when token is what lc_token_new makes: exactly LC_TOKEN_LEN
 * lowercase hex characters. Else LC_ERR_INVALID. */
LC_API lc_status lc_token_check(const char *token, lc_error *err);

/* ------------------------------------------------------------------------ */
/* Text for humans: owner, error, checkpoint, reason                        */
/* ------------------------------------------------------------------------ */

/* LC_OK when s[0..len) is valid UTF-8 without control characters (C0,
 * DEL, C1: U+0000-U+001F, U+007F-U+009F, newlines and tabs included). Else
 * LC_ERR_INVALID with a message naming the byte. lc_acquire (owner),
 * lc_release (error), lc_checkpoint and lc_force_release (reason) refuse
 * such text with this before the backend is touched. */
LC_API lc_status lc_text_check(const char *s, size_t len, lc_error *err);

/* A copy of s safe to print on a terminal: control characters and bytes
 * that are not valid UTF-8 are written as \xNN, the rest is kept. For
 * what was read back from a backend, which another tool may have written.
 * NULL s is "". Caller frees with free(); NULL when out of memory. */
LC_API char *lc_text_escape(const char *s);

/* A copy of s that is valid UTF-8 (for JSON): each byte that is not part
 * of a valid sequence becomes U+FFFD. Caller frees with free(); NULL when
 * out of memory. */
LC_API char *lc_text_utf8(const char *s);

/* ------------------------------------------------------------------------ */
/* Clock: injectable so expiry logic is tested without sleeping            */
/* ------------------------------------------------------------------------ */

typedef struct lc_clock {
    /* Monotonic nanoseconds (CLOCK_MONOTONIC by default). */
    int64_t (*mono_ns)(void *ctx);
    /* Wall-clock unix milliseconds (CLOCK_REALTIME by default). */
    int64_t (*wall_ms)(void *ctx);
    void *ctx;
} lc_clock;

/* The system clock. */
LC_API const lc_clock *lc_clock_system(void);

/* Formats unix ms as RFC 3339 UTC with milliseconds
 * ("2026-11-30T13:25:56.123Z") into buf[size]; returns buf. */
LC_API char *lc_time_format(int64_t unix_ms, char *buf, size_t size);

/* ------------------------------------------------------------------------ */
/* Config: one validated struct, loaded from YAML                          */
/* ------------------------------------------------------------------------ */

typedef struct lc_header {
    char *name;
    char *value;
} lc_header;

typedef struct lc_http_job {
    char *url;
    char *method; /* default "POST" */
    lc_header *headers;
    size_t n_headers;
    char *body;         /* may contain {{checkpoint}}; NULL for none */
    int *expect_status; /* default {200, 201, 202, 204} */
    size_t n_expect_status;
    char *checkpoint_from; /* JSON field of the response, NULL for none */
    char *ca_file;         /* CA bundle (PEM) to verify the server with, NULL for the system's */
} lc_http_job;

typedef struct lc_job {
    char *name;
    char *lock;             /* lock name; defaults to name */
    int64_t timeout_ms;     /* 0: none */
    int64_t every_ms;       /* 0: run once per `sync` pass */
    int64_t ttl_ms;         /* defaults to lock.ttl */
    int64_t renew_every_ms; /* defaults to lock.renew_every */
    char **exec;            /* NULL-terminated argv, or NULL for http */
    size_t exec_argc;
    lc_http_job *http; /* or NULL for exec */
    int line, col;     /* where the job starts in the file */
} lc_job;

typedef enum lc_log_level {
    LC_LOG_ERROR = 0,
    LC_LOG_WARN,
    LC_LOG_INFO,
    LC_LOG_DEBUG
} lc_log_level;

typedef struct lc_config {
    char *path;    /* the file it came from, or NULL */
    char *backend; /* "redis" | "postgres" | "memory" (embedders only) */
    char *owner;   /* default hostname:pid, filled by lc_client_open */
    struct {
        char *url;
        int64_t connect_timeout_ms; /* default 2s */
        int64_t command_timeout_ms; /* default 1s */
        char *key_prefix;           /* default "lockcoord" */
        int min_replicas_ack;       /* default 0 */
    } redis;
    struct {
        char *conninfo;
        char *schema;                 /* default "public" */
        char *table;                  /* default "lockcoord_locks" */
        int auto_migrate;             /* default 1 */
        int64_t statement_timeout_ms; /* default 2s */
        int64_t connect_timeout_ms;   /* default 2s */
    } postgres;
    struct {
        int64_t ttl_ms;         /* default 30s */
        int64_t renew_every_ms; /* default ttl/3 */
        int64_t wait_ms;        /* default 0 */
        int64_t retry_min_ms;   /* default 50ms */
        int64_t retry_max_ms;   /* default 1s */
    } lock;
    lc_job *jobs;
    size_t n_jobs;
    struct {
        lc_log_level level; /* default info */
        int json;           /* format: json */
    } log;
} lc_config;

/* A config with every default filled in and the given backend. Returns
 * NULL when out of memory. Free with lc_config_free. */
LC_API lc_config *lc_config_new(const char *backend);

/* Loads and validates a YAML file. `${VAR}` and `${VAR:-default}` are
 * expanded from the environment. On error returns LC_ERR_CONFIG with
 * err->message "FILE:LINE:COL: what" and *out untouched. */
LC_API lc_status lc_config_load(const char *path, lc_config **out, lc_error *err);

/* The same from a buffer; `name` stands for the file in messages. */
LC_API lc_status lc_config_parse(const char *text, size_t len, const char *name, lc_config **out,
                                 lc_error *err);

/* The effective config as YAML text, secrets (passwords in URLs and
 * conninfo, HTTP header values) shown as "***". Caller frees with free().
 * NULL when out of memory. */
LC_API char *lc_config_dump(const lc_config *cfg);

LC_API void lc_config_free(lc_config *cfg);

/* ------------------------------------------------------------------------ */
/* Lock state as read back from a backend                                  */
/* ------------------------------------------------------------------------ */

typedef enum lc_health {
    LC_HEALTH_READY = 0, /* "Ready to sync" */
    LC_HEALTH_HELD,      /* "Sync in progress" */
    LC_HEALTH_STALE,     /* "Stale lock: lease expired, the next acquire reclaims it" */
    LC_HEALTH_FAILED     /* "Last sync failed" */
} lc_health;

/* "ready" | "held" | "stale" | "failed" */
LC_API const char *lc_health_name(lc_health h);
/* The human text of DESIGN.md. */
LC_API const char *lc_health_text(lc_health h);

/* Everything `status` shows about one lock. Times are unix ms of the
 * backend server, -1 for "never"/"not applicable". Strings are owned by
 * the struct: release with lc_lock_info_clear or lc_lock_list_free. */
typedef struct lc_lock_info {
    char name[LC_NAME_MAX + 1];
    lc_health health;             /* derived by the core from the fields below */
    int held;                     /* a live lease exists */
    int stale;                    /* marked running, lease expired, not reclaimed */
    char owner[LC_OWNER_MAX + 1]; /* current or last holder, "" if none */
    uint64_t fence;               /* last fence handed out, 0 if never */
    int64_t acquired_at_ms;
    int64_t held_for_ms;   /* -1 when not held */
    int64_t expires_in_ms; /* -1 when not held */
    uint64_t sync_count;
    int64_t last_started_at_ms;
    int64_t last_completed_at_ms;
    int has_last_exit;
    int last_exit;
    char *last_error; /* NULL if none */
    char *checkpoint; /* NULL if none */
} lc_lock_info;

LC_API void lc_lock_info_clear(lc_lock_info *info);
LC_API void lc_lock_list_free(lc_lock_info *list, size_t n);

/* ------------------------------------------------------------------------ */
/* Backends: one const table of functions each                             */
/* ------------------------------------------------------------------------ */

typedef void (*lc_log_fn)(void *ctx, lc_log_level level, const char *msg);

/* What a backend gets when it is opened, besides the config. */
typedef struct lc_backend_env {
    const lc_clock *clock; /* never NULL */
    lc_log_fn log;         /* may be NULL */
    void *log_ctx;
    void *shared; /* backend-specific shared state (memory store) */
} lc_backend_env;

typedef struct lc_acquire_args {
    const char *name;
    const char *token;
    const char *owner;
    int64_t ttl_ms;
} lc_acquire_args;

/* What a successful acquire returns. checkpoint is malloc'd (or NULL) and
 * becomes the caller's. */
typedef struct lc_grant {
    uint64_t fence;
    int64_t acquired_at_ms;
    char *checkpoint;
} lc_grant;

/* A run's outcome, recorded at release: sync_count + 1, last completed now,
 * last_exit (if has_exit), last_error (NULL clears it). */
typedef struct lc_run_result {
    int has_exit;
    int exit_code;
    const char *error;
} lc_run_result;

typedef struct lc_renew_item {
    const char *name;
    const char *token;
    int64_t ttl_ms;
    lc_status status; /* out: LC_OK or LC_ERR_LOST */
} lc_renew_item;

/* The contract every backend implements. All functions but close return
 * lc_status and fill err. Names are already validated by the core.
 *
 * acquire: take the lock if free or expired; a new fence, strictly greater
 *   than every fence handed out for that name. If the lock is held with the
 *   same token (a retried acquire), succeed with the same fence. If held by
 *   another, LC_ERR_CONFLICT with err->holder filled.
 * renew: token-checked ttl extension; LC_ERR_LOST when the token is not the
 *   live holder's (expired counts as lost even if nobody took it).
 * renew_many: one round trip for n renewals; per-item status. Returns an
 *   error only when the round trip itself failed.
 * release: token-checked; records `res` (never NULL) and notifies waiters.
 *   LC_ERR_LOST when the token is not the live holder's (nothing recorded).
 * force_release: the operator's reset; *was_held says whether a live lease
 *   existed, *prev its holder; records `reason` as last error; keeps the
 *   fence counter; notifies waiters.
 * record_run: records `res` without touching the lease (a run whose
 *   release found the lease lost).
 * checkpoint: token-checked store of a progress marker.
 * inspect: state of one lock; a never-seen name is ready with fence 0.
 * list: all locks, *out malloc'd array (lc_lock_list_free).
 * migrate: create/upgrade schema, load scripts; *what is a short
 *   human description written into a buffer of `what_size`.
 * watch/wait/unwatch: release notifications. After watch(name), wait
 *   returns LC_OK when a release of a watched name was seen or timeout_ms
 *   passed (both are fine); *notified says which. */
typedef struct lc_backend_ops {
    const char *name;
    lc_status (*open)(const lc_config *cfg, const lc_backend_env *env, void **state, lc_error *err);
    void (*close)(void *state);
    lc_status (*acquire)(void *state, const lc_acquire_args *args, lc_grant *out, lc_error *err);
    lc_status (*renew)(void *state, const char *name, const char *token, int64_t ttl_ms,
                       lc_error *err);
    lc_status (*renew_many)(void *state, lc_renew_item *items, size_t n, lc_error *err);
    lc_status (*release)(void *state, const char *name, const char *token, const lc_run_result *res,
                         lc_error *err);
    lc_status (*force_release)(void *state, const char *name, const char *reason, int *was_held,
                               lc_holder *prev, lc_error *err);
    lc_status (*record_run)(void *state, const char *name, const lc_run_result *res, lc_error *err);
    lc_status (*checkpoint)(void *state, const char *name, const char *token, const char *value,
                            lc_error *err);
    lc_status (*inspect)(void *state, const char *name, lc_lock_info *out, lc_error *err);
    lc_status (*list)(void *state, lc_lock_info **out, size_t *n, lc_error *err);
    lc_status (*migrate)(void *state, char *what, size_t what_size, lc_error *err);
    lc_status (*watch)(void *state, const char *name, lc_error *err);
    lc_status (*wait)(void *state, int64_t timeout_ms, int *notified, lc_error *err);
    void (*unwatch)(void *state);
} lc_backend_ops;

/* The registry: the table for "redis", "postgres" or "memory"; NULL for
 * anything else. */
LC_API const lc_backend_ops *lc_backend_find(const char *name);

/* ------------------------------------------------------------------------ */
/* The in-process memory store (for tests and single-process embedders)    */
/* ------------------------------------------------------------------------ */

typedef struct lc_memstore lc_memstore;

/* A store shared by every client opened with it (lc_client_opts.memstore).
 * Uses `clock` (NULL = system) for expiry. Thread-safe. */
LC_API lc_memstore *lc_memstore_new(const lc_clock *clock);
LC_API void lc_memstore_free(lc_memstore *store);

/* ------------------------------------------------------------------------ */
/* Client and leases                                                       */
/* ------------------------------------------------------------------------ */

typedef struct lc_client lc_client;
typedef struct lc_lease lc_lease;

/* All-zero means defaults. */
typedef struct lc_client_opts {
    const lc_clock *clock; /* NULL: system clock */
    lc_log_fn log;         /* NULL: silent */
    void *log_ctx;
    lc_memstore *memstore; /* backend "memory": the shared store (NULL: private) */
} lc_client_opts;

/* Opens a connection to cfg's backend. cfg is borrowed and must outlive the
 * client. On error *out is untouched. */
LC_API lc_status lc_client_open(const lc_config *cfg, const lc_client_opts *opts, lc_client **out,
                                lc_error *err);
LC_API void lc_client_close(lc_client *c);

LC_API const char *lc_client_backend(const lc_client *c);
LC_API const char *lc_client_owner(const lc_client *c);
LC_API const lc_config *lc_client_config(const lc_client *c);

/* All-zero means the config's defaults (lock.ttl, lock.wait, owner). */
typedef struct lc_acquire_opts {
    int64_t ttl_ms;
    int64_t wait_ms; /* -1: do not wait even if the config says so */
    const char *owner;
} lc_acquire_opts;

/* Takes a lease on `name`, waiting up to wait_ms (woken early by release
 * notifications). On success *out is a new lease (lc_lease_free). On
 * LC_ERR_CONFLICT err->holder names the holder. The owner must pass
 * lc_text_check (else LC_ERR_INVALID); one over LC_OWNER_MAX bytes is cut
 * on a character boundary. */
LC_API lc_status lc_acquire(lc_client *c, const char *name, const lc_acquire_opts *opts,
                            lc_lease **out, lc_error *err);

/* A handle for a lease known only by name and token (the CLI's renew and
 * release). Fence is 0 and the local deadline unknown. */
LC_API lc_status lc_lease_attach(const char *name, const char *token, lc_lease **out,
                                 lc_error *err);

/* Extends the lease by ttl_ms (0: its own ttl). LC_ERR_LOST when it is not
 * yours any more. Updates the local deadline on success. */
LC_API lc_status lc_renew(lc_client *c, lc_lease *lease, int64_t ttl_ms, lc_error *err);

/* Gives the lease back and records res (NULL: a successful run without an
 * exit code). res->error must pass lc_text_check (else LC_ERR_INVALID and
 * nothing is sent). The lease object stays valid and must still be freed. */
LC_API lc_status lc_release(lc_client *c, lc_lease *lease, const lc_run_result *res, lc_error *err);

/* Stores a progress marker (must pass lc_text_check, else LC_ERR_INVALID). */
LC_API lc_status lc_checkpoint(lc_client *c, lc_lease *lease, const char *value, lc_error *err);

/* Records a run's outcome without the lease (after a lost lease). The
 * error text may quote what the caller did not write, so it is not refused:
 * it is stored as lc_text_escape makes it. */
LC_API lc_status lc_record_run(lc_client *c, const char *name, const lc_run_result *res,
                               lc_error *err);

/* The operator's reset. The reason must pass lc_text_check. */
LC_API lc_status lc_force_release(lc_client *c, const char *name, const char *reason, int *was_held,
                                  lc_holder *prev, lc_error *err);

/* One lock's state; out must be cleared with lc_lock_info_clear. */
LC_API lc_status lc_inspect(lc_client *c, const char *name, lc_lock_info *out, lc_error *err);
/* Every lock; free with lc_lock_list_free. */
LC_API lc_status lc_list(lc_client *c, lc_lock_info **out, size_t *n, lc_error *err);

LC_API lc_status lc_migrate(lc_client *c, char *what, size_t what_size, lc_error *err);

LC_API void lc_lease_free(lc_lease *lease);
LC_API const char *lc_lease_name(const lc_lease *lease);
LC_API const char *lc_lease_token(const lc_lease *lease);
LC_API uint64_t lc_lease_fence(const lc_lease *lease);
LC_API int64_t lc_lease_ttl_ms(const lc_lease *lease);
LC_API const char *lc_lease_owner(const lc_lease *lease);
LC_API int64_t lc_lease_acquired_at_ms(const lc_lease *lease);
/* The checkpoint stored when the lease was taken, NULL if none. */
LC_API const char *lc_lease_checkpoint(const lc_lease *lease);
/* The local deadline, monotonic ns on the client's clock; 0 if unknown. */
LC_API int64_t lc_lease_deadline_ns(const lc_lease *lease);

/* The local deadline for a request sent at sent_ns with ttl_ms: the ttl
 * less a drift allowance of 1% of ttl plus 2 ms. */
LC_API int64_t lc_deadline_after(int64_t sent_ns, int64_t ttl_ms);

/* ------------------------------------------------------------------------ */
/* The keeper: renews leases in the background, signals their loss          */
/* ------------------------------------------------------------------------ */

typedef struct lc_keeper lc_keeper;

/* Called from a keeper thread when a lease is lost, with a human reason
 * ("deadline passed while the backend was unreachable: ...", "taken over by
 * OWNER (fence N)", "reset by an operator: REASON"). Must not block, and must not call
 * lc_keeper_stop (which waits for callbacks under way). */
typedef void (*lc_loss_fn)(void *ctx, const char *lock_name, const char *reason);

/* All-zero means defaults. */
typedef struct lc_keeper_opts {
    int64_t renew_every_ms; /* 0: cfg lock.renew_every */
    lc_loss_fn on_loss;     /* may be NULL: poll lc_keeper_fd instead */
    void *loss_ctx;
} lc_keeper_opts;

/* Starts a keeper with its own backend connection (opened with cfg and
 * copts, which must outlive it). On error *out is untouched. */
LC_API lc_status lc_keeper_start(const lc_config *cfg, const lc_client_opts *copts,
                                 const lc_keeper_opts *kopts, lc_keeper **out, lc_error *err);

/* Starts keeping `lease` (borrowed: it must stay alive until removed). The
 * keeper takes its local deadline from the lease as it is now. */
LC_API lc_status lc_keeper_add(lc_keeper *k, lc_lease *lease, lc_error *err);

/* Stops keeping `lease`. When it returns, no renewal of it is in flight or
 * will be sent, so a release may follow safely (a lost lease is not waited
 * for: it will not be released). A loss of it not yet passed to on_loss
 * is not passed any more. Returns what lc_keeper_lost would. */
LC_API int lc_keeper_remove(lc_keeper *k, lc_lease *lease);

/* 0 while `lease` is not lost. Once lost: LC_ERR_LOST when the backend said
 * it is not ours any more (taken over, reset, expired), LC_ERR_UNAVAILABLE
 * when its local deadline passed without a successful renewal (the backend
 * is unreachable or too slow: do not expect it to answer now). The reason
 * is copied to reason[size] (may be NULL). */
LC_API int lc_keeper_lost(lc_keeper *k, const lc_lease *lease, char *reason, size_t size);

/* A file descriptor that becomes readable when any kept lease is lost
 * (poll it with the child's pidfd and signals). Reading it is not needed. */
LC_API int lc_keeper_fd(const lc_keeper *k);

/* The keeper's view of the lease's local deadline (monotonic ns). */
LC_API int64_t lc_keeper_deadline_ns(lc_keeper *k, const lc_lease *lease);

/* Stops the threads, closes the connection, frees. NULL ok. Never waits on
 * the backend: a renewal stuck on a frozen server finishes on its own
 * thread, which then frees what is left. Losses declared before the call
 * are reported through on_loss first; none is called after this returns.
 * Leases still kept are not released. */
LC_API void lc_keeper_stop(lc_keeper *k);

#ifdef __cplusplus
}
#endif
#endif /* LOCKCOORD_H */
