/* lockcoord.h -- the one public header of liblockcoord.
 *
 * lockcoord keeps a named lock in Redis or Postgres (or, within one process,
 * in memory), hands it out as a lease with a time-to-live, and runs work
 * under such leases so that it runs on one machine at a time. README.md
 * shows the library at work ("Embedding the library"); this header is its
 * reference.
 *
 * Conventions
 *  - Every fallible call returns lc_status (LC_OK == 0) and fills an
 *    optional lc_error *err (NULL: not wanted). On error nothing the caller
 *    owns is changed: out-parameters are left as they were.
 *  - Arguments are borrowed for the call; whatever the library keeps, it
 *    copies. The exceptions, each repeated where it applies:
 *      - a client borrows its config (lc_client_open), its clock and its
 *        memory store (lc_client_opts): they must outlive the client;
 *      - a keeper borrows the config and client options it was started
 *        with (lc_keeper_start), and every lease it keeps, from
 *        lc_keeper_add until lc_keeper_remove returns.
 *  - Every _new/_open/_start has a _free/_close/_stop that accepts NULL.
 *  - The library never prints, never exits, keeps no global error state,
 *    and leaves the process's signal handling alone.
 *
 * Threads
 *  - Plain functions (lc_name_check, lc_duration_*, lc_token_new,
 *    lc_time_format, lc_status_name, lc_health_*, lc_backend_*,
 *    lc_deadline_after, lc_lease_timing_settle) may be called from any
 *    thread at any time.
 *  - An lc_config is not changed by the library: once loaded, any number of
 *    threads may read it and open clients on it.
 *  - An lc_client (with the leases taken through it) is used by one thread
 *    at a time; give each thread its own client, or lock around it. Clients
 *    on different threads need no locking, also when they share a memory
 *    store (lc_memstore is thread-safe).
 *  - An lc_keeper's functions may be called from any thread, concurrently,
 *    except lc_keeper_stop, which must be the last call. The keeper runs
 *    two threads of its own (a renewer and a watchdog) with its own client:
 *    the clock and the log hook given to it are called from those threads,
 *    and so is on_loss (see lc_loss_fn).
 *  - The clock functions and the log hook must be thread-safe when a
 *    keeper uses them, or when one is shared by clients on several threads.
 *  - lc_run and lc_run_under block the calling thread until the command
 *    has ended; runs may go on on several threads at once, each with its
 *    own client, sharing a keeper or not. They leave the process's signal
 *    handling alone (see lc_run for the little they need of it).
 *  - Every thread the library starts (a keeper's, quorum mode's one per
 *    master, a sync engine's runs) blocks every signal, so a signal meant
 *    for the process reaches the application's own threads: block it and
 *    read it from a signalfd, or handle it where you choose.
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
    LC_ERR_INTERNAL,    /* a bug or an impossible reply */
    LC_ERR_CANCELLED,   /* the caller cancelled the call (lc_acquire_opts.cancel_fd) */
    LC_ERR_PAUSED       /* the lock is paused (lc_pause): nobody takes it until resumed */
} lc_status;

/* Who holds a lock, as a conflict or a reset reports it. Every backend
 * fills it the same way. Times are the backend server's clock (unix ms). */
typedef struct lc_holder {
    char owner[LC_OWNER_MAX + 1]; /* "" when unknown */
    uint64_t fence;               /* 0 when unknown */
    int64_t acquired_at_ms;       /* unix ms, 0 when unknown */
    int64_t expires_in_ms;        /* remaining ttl, -1 when unknown */
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
 * "config", "internal", "cancelled" or "ok". Never NULL. */
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
 * 0s (SIGKILL right after SIGTERM), a job's jitter of 0s (none), a
 * sync.shutdown_grace of 0s (stop running jobs at once). */
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
 * getrandom(2), plus a NUL, into out. The bits are read 4 KiB at a time
 * into a pool of the process, each byte used once; a child made by fork(2)
 * never uses bytes its parent uses. Thread-safe. LC_ERR_INTERNAL (with
 * errno) only when the OS gives no random bytes. */
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

/* A clock: both functions are called with ctx. The library reads it
 * through lc_client_opts (and the memory store); it never frees it. */
typedef struct lc_clock {
    /* Monotonic nanoseconds (CLOCK_MONOTONIC by default). */
    int64_t (*mono_ns)(void *ctx);
    /* Wall-clock unix milliseconds (CLOCK_REALTIME by default). */
    int64_t (*wall_ms)(void *ctx);
    void *ctx;
} lc_clock;

/* The system clock: CLOCK_MONOTONIC and CLOCK_REALTIME. A static object,
 * never NULL, never to be freed. */
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
    char *checkpoint_from; /* dotted path ("data.cursor") into the JSON response, or NULL */
    char *ca_file;         /* CA bundle (PEM) to verify the server with, NULL for the system's */
} lc_http_job;

typedef struct lc_job {
    char *name;
    char *lock;         /* lock name; defaults to name */
    int64_t timeout_ms; /* 0: none */
    /* The schedule: exactly one of every_ms (> 0) and cron (the loader
     * refuses a job with both or neither). */
    int64_t every_ms;         /* the interval, or 0 when cron is the schedule */
    char *cron;               /* five-field cron expression (UTC), or NULL */
    int64_t jitter_ms;        /* deterministic delay within the slot; default 0 */
    int retries;              /* extra attempts after a failure, 0..100; default 0 */
    int64_t retry_backoff_ms; /* first retry delay, doubling; default 1s */
    int64_t kill_grace_ms;    /* exec: SIGTERM to SIGKILL; default 5s (0: at once) */
    int64_t ttl_ms;           /* defaults to lock.ttl */
    int64_t renew_every_ms;   /* defaults to lock.renew_every */
    char **exec;              /* NULL-terminated argv, or NULL for http */
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
    char *owner;   /* NULL: each client uses hostname:pid */
    struct {
        char *url;
        int64_t connect_timeout_ms; /* default 2s */
        int64_t command_timeout_ms; /* default 1s */
        char *key_prefix;           /* default "lockcoord" */
        int min_replicas_ack;       /* default 0 */
        int cluster;                /* 1: url is a seed node of a Redis Cluster; default 0 */
        char **quorum; /* instead of url: n_quorum (odd, >= 3) redis:// URLs of independent
                          masters, a lease held on a majority of them; NULL: none */
        size_t n_quorum;
    } redis;
    struct {
        char *conninfo;
        char *schema;                 /* default "public" */
        char *table;                  /* default "lockcoord_locks" */
        int auto_migrate;             /* default 1 */
        int64_t statement_timeout_ms; /* default 2s */
        int64_t connect_timeout_ms;   /* default 2s */
        int warn_async_replication;   /* 1: warn on a primary whose standbys are all
                                         asynchronous; default 1 */
    } postgres;
    struct {
        int64_t ttl_ms;         /* default 30s */
        int64_t renew_every_ms; /* default ttl/3 */
        int64_t wait_ms;        /* default 0 */
        int64_t retry_min_ms;   /* default 50ms */
        int64_t retry_max_ms;   /* default 1s */
        int history;            /* run history entries kept per lock; default 100 */
    } lock;
    lc_job *jobs;
    size_t n_jobs;
    struct {
        int64_t shutdown_grace_ms; /* how long running jobs may finish on SIGTERM; default 30s */
        char *listen;              /* "HOST:PORT" for /metrics and /healthz, or NULL for none */
    } sync;
    struct {
        lc_log_level level; /* default info */
        int json;           /* format: json */
    } log;
} lc_config;

/* A config with every default filled in and the given backend (copied;
 * may be NULL, to be set before opening a client). Returns NULL when out
 * of memory. Free with lc_config_free. An embedder fills in the rest
 * (redis.url, postgres.conninfo, ...) with malloc'd strings, which
 * lc_config_free then frees. */
LC_API lc_config *lc_config_new(const char *backend);

/* Splits a listen address (sync.listen, `sync --listen`), "HOST:PORT"
 * with a host name, an IPv4 address, or an IPv6 address in brackets
 * ("[::1]:9187"), and a port 1..65535, into host[size] (brackets removed;
 * may be NULL) and *port (may be NULL). LC_ERR_INVALID, saying what is
 * expected, for anything else (or a host longer than size - 1). */
LC_API lc_status lc_listen_parse(const char *text, char *host, size_t size, int *port,
                                 lc_error *err);

/* Loads and validates a YAML file (the format is in README.md). `${VAR}`
 * and `${VAR:-default}` are expanded from the environment. On success *out
 * is a new config (lc_config_free). On error returns LC_ERR_CONFIG with
 * err->message "FILE:LINE:COL: what" (LC_ERR_NOMEM when out of memory)
 * and *out untouched. */
LC_API lc_status lc_config_load(const char *path, lc_config **out, lc_error *err);

/* The same from text[len] (not NUL-terminated necessarily); `name` stands
 * for the file in messages and becomes cfg->path. */
LC_API lc_status lc_config_parse(const char *text, size_t len, const char *name, lc_config **out,
                                 lc_error *err);

/* The effective config as YAML text, secrets (passwords in URLs and
 * conninfo, HTTP header values) shown as "***". Caller frees with free().
 * NULL when out of memory. */
LC_API char *lc_config_dump(const lc_config *cfg);

/* Frees cfg and everything it points to, wiping secrets (URLs, conninfo,
 * header values) first. NULL is fine. No client may still use it. */
LC_API void lc_config_free(lc_config *cfg);

/* ------------------------------------------------------------------------ */
/* Lock state as read back from a backend                                  */
/* ------------------------------------------------------------------------ */

/* How a run ended, as recorded. */
typedef enum lc_outcome {
    LC_OUTCOME_DEFAULT = 0, /* in an lc_run_result: ok without an error, else failed */
    LC_OUTCOME_OK,
    LC_OUTCOME_FAILED,
    LC_OUTCOME_TIMEOUT,     /* stopped at its timeout */
    LC_OUTCOME_LOST,        /* its lease was lost while it ran */
    LC_OUTCOME_INTERRUPTED, /* stopped by a shutdown */
    LC_OUTCOME_ABANDONED    /* history only: its lease expired unreleased (holder killed),
                               found by the next acquire; never recorded by a caller */
} lc_outcome;

/* "ok", "failed", "timeout", "lost", "interrupted", "abandoned"; "" for
 * LC_OUTCOME_DEFAULT (and anything else). Never NULL. */
LC_API const char *lc_outcome_name(lc_outcome o);

typedef enum lc_health {
    LC_HEALTH_READY = 0, /* "Ready to sync" */
    LC_HEALTH_HELD,      /* "Sync in progress" */
    LC_HEALTH_STALE,     /* "Stale lock: lease expired, the next acquire reclaims it" */
    LC_HEALTH_FAILED,    /* "Last sync failed" */
    LC_HEALTH_PAUSED     /* "Paused: not taken until resumed" (a held lease shows held) */
} lc_health;

/* "ready" | "held" | "stale" | "failed" | "paused": the machine code.
 * Never NULL. */
LC_API const char *lc_health_name(lc_health h);
/* The human text of each value, as in the enum's comments. Never NULL. */
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
    /* The last recorded run (see lc_run_result); all -1 / 0 when none. */
    lc_outcome last_outcome; /* LC_OUTCOME_DEFAULT when unknown */
    int last_http_status;    /* 0 when none */
    int last_attempts;
    int last_missed_slots;
    int64_t last_duration_ms;
    int64_t last_success_at_ms;
    uint64_t consecutive_failures;
    int64_t server_now_ms; /* the backend server's clock when this was read */
    /* A pause in force (lc_pause): who set it, why, and until when (-1:
     * until lc_resume). paused_reason is NULL when not paused. */
    int paused;
    char paused_by[LC_OWNER_MAX + 1];
    char *paused_reason;
    int64_t paused_until_ms;
} lc_lock_info;

/* Frees the strings info owns and sets them to NULL; the struct itself is
 * the caller's. Calling it twice, or with NULL, is fine. */
LC_API void lc_lock_info_clear(lc_lock_info *info);
/* Clears each of list[0..n) and frees the array (from lc_list). NULL is
 * fine. */
LC_API void lc_lock_list_free(lc_lock_info *list, size_t n);

/* ------------------------------------------------------------------------ */
/* Backends, log hooks, run records                                         */
/* ------------------------------------------------------------------------ */

/* A log hook: called with one line, without a trailing newline, which is
 * only valid during the call. May be called from a keeper's threads. */
typedef void (*lc_log_fn)(void *ctx, lc_log_level level, const char *msg);

/* A run's outcome, recorded at release (or by lc_record_run): sync_count
 * + 1, last completed now, last_exit (if has_exit), last_error (NULL
 * clears it, else cut to LC_ERROR_MAX bytes), and the fields below. After
 * an ok run last_success_at becomes now and consecutive_failures 0; after
 * any other, consecutive_failures + 1. All-zero after `error` means
 * defaults, so {has_exit, exit_code, error} alone is a complete record.
 * The library copies what it keeps. */
typedef struct lc_run_result {
    int has_exit;
    int exit_code;
    const char *error;
    lc_outcome outcome;  /* LC_OUTCOME_DEFAULT: ok without error, else failed */
    int http_status;     /* the last response's status (http jobs), 0: none */
    int attempts;        /* attempts made (retries included); 0: 1 */
    int missed_slots;    /* schedule slots that passed without a run before this one */
    int64_t duration_ms; /* 0: measured by the backend from the run's recorded start */
} lc_run_result;

/* The longest error text recorded, in bytes; longer ones are cut (on a
 * character boundary). */
#define LC_ERROR_MAX 1024

/* The backends this build of the library has, by index: "redis",
 * "postgres" (each unless the build left it out: LC_WITH_REDIS /
 * LC_WITH_POSTGRES), then "memory" (always). NULL past the last one. */
LC_API const char *lc_backend_name(size_t i);

/* 1 when this build has the backend `name`, else 0 (also for NULL). */
LC_API int lc_backend_available(const char *name);

/* ------------------------------------------------------------------------ */
/* The in-process memory store (for tests and single-process embedders)    */
/* ------------------------------------------------------------------------ */

typedef struct lc_memstore lc_memstore;

/* A store shared by every client opened with it (lc_client_opts.memstore,
 * backend "memory"): leases, fences and run records as the servers keep
 * them, within one process. Uses `clock` (NULL: the system clock;
 * borrowed, must outlive the store) for expiry. Thread-safe. NULL when out
 * of memory. */
LC_API lc_memstore *lc_memstore_new(const lc_clock *clock);
/* Frees the store and everything in it. NULL is fine. Every client opened
 * with it must be closed first. */
LC_API void lc_memstore_free(lc_memstore *store);

/* ------------------------------------------------------------------------ */
/* Client and leases                                                       */
/* ------------------------------------------------------------------------ */

typedef struct lc_client lc_client;
typedef struct lc_lease lc_lease;

/* All-zero means defaults. The clock and the store are borrowed: they
 * must outlive the client. */
typedef struct lc_client_opts {
    const lc_clock *clock; /* NULL: system clock */
    lc_log_fn log;         /* NULL: silent */
    void *log_ctx;
    lc_memstore *memstore; /* backend "memory": the shared store (NULL: private) */
} lc_client_opts;

/* Opens a client on cfg's backend and connects to its server now: a server
 * that is down or refuses the login fails here with LC_ERR_UNAVAILABLE (or
 * LC_ERR_TIMEOUT), the same for every backend, rather than at the first
 * call (the memory backend has no server and always opens). A connection
 * lost later is made again by the next call that needs it. cfg is
 * borrowed and must outlive the client. On error *out is untouched. */
LC_API lc_status lc_client_open(const lc_config *cfg, const lc_client_opts *opts, lc_client **out,
                                lc_error *err);

/* Closes the connection and frees c. NULL is fine. Leases taken through it
 * stay valid objects to be freed with lc_lease_free; their locks are not
 * released (they expire by their ttl). */
LC_API void lc_client_close(lc_client *c);

/* The backend's name ("redis", "postgres", "memory"); a static string. */
LC_API const char *lc_client_backend(const lc_client *c);
/* The owner its leases get by default: the config's owner, else
 * hostname:pid. Valid while c is open. */
LC_API const char *lc_client_owner(const lc_client *c);
/* The config c was opened with (borrowed from the caller). */
LC_API const lc_config *lc_client_config(const lc_client *c);

/* All-zero means the config's defaults (lock.ttl, lock.wait, owner). */
typedef struct lc_acquire_opts {
    int64_t ttl_ms;    /* 0: lock.ttl; at least LC_TTL_MIN_MS */
    int64_t wait_ms;   /* 0: lock.wait; -1: do not wait even if the config says so */
    const char *owner; /* NULL or "": lc_client_owner (copied) */
    /* > 0: a file descriptor that cancels the acquire once it is readable
     * (a signalfd, an eventfd, a pipe; closing a pipe's write end counts).
     * It is checked before every attempt and watched while waiting between
     * attempts, so a wait ends within about 20 ms; it is never read. 0: none. */
    int cancel_fd;
    /* 1: a claim -- take the lease without marking a run started, to look
     * at the record first (lc_lease_last_started_at_ms against
     * lc_lease_server_now_ms); then either lc_start_run, or lc_abandon to
     * give it back unrecorded. 0: the run starts with the lease. */
    int claim;
} lc_acquire_opts;

/* Takes a lease on `name` with a new token and a fence greater than any
 * handed out for that name before. While another holder has it, retries
 * for up to wait_ms (woken early by release notifications, else with
 * jittered backoff). On success *out is a new lease (lc_lease_free) with
 * its local deadline set. On error *out is untouched: LC_ERR_INVALID for a
 * bad name or ttl, or an owner that fails lc_text_check (nothing is sent;
 * an owner over LC_OWNER_MAX bytes is cut on a character boundary),
 * LC_ERR_CONFLICT when the wait ended and another holder still has it
 * (err->holder names that holder), LC_ERR_CANCELLED when opts->cancel_fd
 * became readable before an attempt could take the lock (nothing was
 * taken; an attempt already sent completes, and if it took the lock the
 * result is LC_OK as usual), LC_ERR_UNAVAILABLE or LC_ERR_TIMEOUT when the
 * backend did not answer. Opts may be NULL. */
LC_API lc_status lc_acquire(lc_client *c, const char *name, const lc_acquire_opts *opts,
                            lc_lease **out, lc_error *err);

/* A handle for a lease known only by name and token (the CLI's renew and
 * release): both are checked and copied, nothing is sent. Fence, ttl and
 * the local deadline are unknown (0), the owner "". On success *out is a
 * new lease (lc_lease_free); on error (LC_ERR_INVALID) it is untouched. */
LC_API lc_status lc_lease_attach(const char *name, const char *token, lc_lease **out,
                                 lc_error *err);

/* Extends the lease to ttl_ms from now (0: its own ttl, else lock.ttl),
 * token-checked. On success the lease's ttl and local deadline are
 * updated. LC_ERR_LOST when it is not yours any more (taken over, reset,
 * or expired even if nobody took it); LC_ERR_INVALID for a ttl under
 * LC_TTL_MIN_MS; LC_ERR_UNAVAILABLE / LC_ERR_TIMEOUT when the backend did
 * not answer (the lease may or may not have been extended: trust the
 * local deadline). A lease kept by a keeper is renewed by the keeper, not
 * here. */
LC_API lc_status lc_renew(lc_client *c, lc_lease *lease, int64_t ttl_ms, lc_error *err);

/* Gives the lease back and records res (NULL: a successful run without an
 * exit code), token-checked, and wakes waiters. res->error must pass
 * lc_text_check (else LC_ERR_INVALID and nothing is sent). On success the
 * local deadline becomes 0. LC_ERR_LOST when it was not yours any more:
 * nothing is recorded then (lc_record_lost does that). The lease object
 * stays valid either way and must still be freed. */
LC_API lc_status lc_release(lc_client *c, lc_lease *lease, const lc_run_result *res, lc_error *err);

/* Marks the run under a claimed lease (lc_acquire_opts.claim) started:
 * the lock's last started time becomes the backend server's now,
 * token-checked, and *started_at_ms (may be NULL) gets it. LC_ERR_LOST
 * when the lease is not yours any more (nothing changed). */
LC_API lc_status lc_start_run(lc_client *c, lc_lease *lease, int64_t *started_at_ms, lc_error *err);

/* Gives a lease back without recording a run: sync_count, the last run's
 * record and its start stay as they were (a claim that found nothing to
 * do). Token-checked: LC_ERR_LOST when it was not yours any more. Waiters
 * are woken. On success the local deadline becomes 0. */
LC_API lc_status lc_abandon(lc_client *c, lc_lease *lease, lc_error *err);

/* Stores `value` (copied; not NULL; must pass lc_text_check, else
 * LC_ERR_INVALID) as the lock's progress marker, token-checked:
 * LC_ERR_LOST when the lease is not yours any more, and nothing is stored.
 * The next holder finds it in lc_lease_checkpoint. */
LC_API lc_status lc_checkpoint(lc_client *c, lc_lease *lease, const char *value, lc_error *err);

/* Records a run's outcome (NULL: success without an exit code) without
 * touching whoever holds the lock now: for a run whose lease was lost
 * before its release. The error text may quote what the caller did not
 * write, so it is not refused: it is stored as lc_text_escape makes it. */
LC_API lc_status lc_record_run(lc_client *c, const char *name, const lc_run_result *res,
                               lc_error *err);

/* Records the run of a lease lost before its release (taken over, reset,
 * or expired while its holder was stopped), as lc_record_run does, but as
 * that lease's own: the history entry gets the lease's fence and owner and
 * the run's start (lc_lease_last_started_at_ms, or lc_lease_acquired_at_ms
 * for a claim that never started), and a duration of 0 is measured from
 * that start -- whoever holds the lock now. When the next holder already
 * wrote an "abandoned" entry for this lease's fence, the record replaces
 * it, so that the run shows once. When the lease is still the lock's
 * latest and no longer live, the lock stops counting it as running (the
 * next acquire then writes no "abandoned" entry for it); a lock another
 * holder has taken since keeps that holder's fence, owner, token and
 * status as they are. A lease from
 * lc_lease_attach (fence 0) is recorded as lc_record_run records it. The
 * lease is only read; it must still be freed. */
LC_API lc_status lc_record_lost(lc_client *c, const lc_lease *lease, const lc_run_result *res,
                                lc_error *err);

/* The operator's reset: ends any live lease on `name` at once (its holder
 * finds out at its next renewal), records `reason` (required; must pass
 * lc_text_check) as the last error and wakes waiters; fences keep counting
 * up. *was_held (may be NULL) says whether a live lease existed, and then
 * *prev (may be NULL) is its holder. */
LC_API lc_status lc_force_release(lc_client *c, const char *name, const char *reason, int *was_held,
                                  lc_holder *prev, lc_error *err);

/* One finished run of a lock, as its history keeps it. Times are unix ms
 * of the backend server, -1 when unknown. error is NULL when none. */
typedef struct lc_run_entry {
    uint64_t fence;
    char owner[LC_OWNER_MAX + 1];
    int64_t started_at_ms;
    int64_t completed_at_ms;
    int64_t duration_ms;
    lc_outcome outcome;
    int has_exit;
    int exit_code;
    int http_status; /* 0 when none */
    int attempts;
    char *error;
} lc_run_entry;

#define LC_HISTORY_DEFAULT 100 /* lock.history */

/* The last runs of `name`, newest first: at most `limit` (0: all kept),
 * completed at or after since_ms (0: any). Every release and every
 * recorded run appends one entry in the same atomic step (a lost lease's
 * record replaces the "abandoned" entry of its own run instead, when there
 * is one: lc_record_lost); each lock keeps its last lock.history. *out is
 * a new array of *n entries
 * (lc_run_entries_free); on error both are untouched. */
LC_API lc_status lc_history(lc_client *c, const char *name, size_t limit, int64_t since_ms,
                            lc_run_entry **out, size_t *n, lc_error *err);
/* Frees list[0..n) and the array. NULL is fine. */
LC_API void lc_run_entries_free(lc_run_entry *list, size_t n);

/* Pauses `name` on every machine: until lc_resume (or for for_ms, when
 * positive, on the backend server's clock), every acquire of it fails with
 * LC_ERR_PAUSED, whose message names who paused it and why. A lease held
 * now is left alone (lc_force_release ends it). `by` (NULL: the client's
 * owner) and `reason` (required) must pass lc_text_check; pausing again
 * replaces the pause. LC_ERR_INVALID for an empty reason or a negative
 * for_ms. */
LC_API lc_status lc_pause(lc_client *c, const char *name, const char *by, const char *reason,
                          int64_t for_ms, lc_error *err);
/* Lifts a pause. *was_paused (may be NULL) says whether one was in force. */
LC_API lc_status lc_resume(lc_client *c, const char *name, int *was_paused, lc_error *err);

/* One lock's state, health derived. A name never used is "ready" with
 * fence 0. On success *out owns strings: clear it with lc_lock_info_clear.
 * On error *out holds no strings. */
LC_API lc_status lc_inspect(lc_client *c, const char *name, lc_lock_info *out, lc_error *err);
/* Every lock the backend knows, in no particular order: *out is a new
 * array of *n entries (lc_lock_list_free). On error both are untouched. */
LC_API lc_status lc_list(lc_client *c, lc_lock_info **out, size_t *n, lc_error *err);

/* Creates or upgrades what the backend needs: the Postgres tables, the
 * Redis scripts (memory: nothing). Safe to run again and concurrently.
 * what[what_size] (may be NULL) gets one line saying what was done. */
LC_API lc_status lc_migrate(lc_client *c, char *what, size_t what_size, lc_error *err);

/* Frees the handle, not the lock: a lease still held stays held until it
 * is released or expires. NULL is fine. A lease kept by a keeper must be
 * removed from it first. */
LC_API void lc_lease_free(lc_lease *lease);

/* What the lease knows. Strings stay valid until lc_lease_free. Owner is
 * "" and the numbers 0 for a lease from lc_lease_attach. acquired_at is
 * the backend server's clock (unix ms). */
LC_API const char *lc_lease_name(const lc_lease *lease);
LC_API const char *lc_lease_token(const lc_lease *lease);
LC_API uint64_t lc_lease_fence(const lc_lease *lease);
LC_API int64_t lc_lease_ttl_ms(const lc_lease *lease);
LC_API const char *lc_lease_owner(const lc_lease *lease);
LC_API int64_t lc_lease_acquired_at_ms(const lc_lease *lease);
/* The backend server's clock (unix ms) when the lease was taken, and the
 * lock's last run start as recorded then (-1 if none): for a claim, the
 * run before this one; otherwise the start of this lease's own run. 0 /
 * -1 for a lease from lc_lease_attach. */
LC_API int64_t lc_lease_server_now_ms(const lc_lease *lease);
LC_API int64_t lc_lease_last_started_at_ms(const lc_lease *lease);
/* The checkpoint stored when the lease was taken, NULL if none. */
LC_API const char *lc_lease_checkpoint(const lc_lease *lease);
/* The local deadline, monotonic ns on the client's clock; 0 if unknown. */
LC_API int64_t lc_lease_deadline_ns(const lc_lease *lease);

/* The local deadline for a request sent at sent_ns with ttl_ms: the ttl
 * less a drift allowance of 1% of ttl plus 2 ms. */
LC_API int64_t lc_deadline_after(int64_t sent_ns, int64_t ttl_ms);

/* How a lease is kept and a command under it stopped. Zero fields mean
 * defaults (see lc_lease_timing_settle). */
typedef struct lc_lease_timing {
    int64_t ttl_ms;         /* 0: the config's lock.ttl */
    int64_t renew_every_ms; /* 0: ttl/3 when ttl_ms is given, else lock.renew_every */
    int64_t kill_grace_ms;  /* SIGTERM-to-SIGKILL delay; 0: 5s, unless kill_grace_set */
    /* 1: kill_grace_ms is meant as it is, 0 included: SIGKILL right after
     * SIGTERM (`--kill-grace 0s`). Settling sets it. */
    int kill_grace_set;
} lc_lease_timing;

/* Fills the fields of *t that are not given with their defaults, taken
 * from cfg (which may be NULL when t->ttl_ms is given), and checks the
 * rules: ttl at least LC_TTL_MIN_MS, renew_every positive and less than
 * half the ttl (so one renewal can fail and the next still lands in time),
 * kill grace not negative. A settled *t settles to itself again
 * (kill_grace_set is 1 then). On error returns LC_ERR_INVALID with a
 * message such as "renew_every (20s) must be less than half the ttl
 * (30s)" and leaves *t unchanged. */
LC_API lc_status lc_lease_timing_settle(const lc_config *cfg, lc_lease_timing *t, lc_error *err);

/* ------------------------------------------------------------------------ */
/* The keeper: renews leases in the background, signals their loss          */
/* ------------------------------------------------------------------------ */

typedef struct lc_keeper lc_keeper;

/* Called on one of the keeper's own threads (never the caller's) once per
 * lost lease, with a human reason ("deadline passed while the backend was
 * unreachable: ...", "taken over by OWNER (fence N)", "reset by an
 * operator: REASON"); both strings are valid during the call only. It
 * must not block: losses of other leases wait for it. It may call
 * lc_keeper_lost, lc_keeper_deadline_ns and lc_keeper_fd (and kill(2), to
 * stop the work at once), but not lc_keeper_stop, lc_keeper_remove or
 * lc_keeper_hook, which wait for callbacks under way. */
typedef void (*lc_loss_fn)(void *ctx, const char *lock_name, const char *reason);

/* Called from the keeper's renewer thread after each successful renewal,
 * with the lease's new local deadline (monotonic ns on the client's clock),
 * in the order of the renewals; never for a lease after lc_keeper_remove
 * of it returned, nor after lc_keeper_stop returned. It runs under the
 * keeper's lock: it must be quick, must not block, and must not call any
 * lc_keeper_* function.
 * (lc_run passes the deadline on to its guard process, which enforces it
 * even while the calling process itself cannot run.) */
typedef void (*lc_renew_fn)(void *ctx, const char *lock_name, int64_t deadline_ns);

/* All-zero means defaults. */
typedef struct lc_keeper_opts {
    int64_t renew_every_ms; /* 0: cfg lock.renew_every; below ttl/2 of every lease */
    lc_loss_fn on_loss;     /* may be NULL: poll lc_keeper_fd instead */
    void *loss_ctx;
    lc_renew_fn on_renew; /* may be NULL */
    void *renew_ctx;
} lc_keeper_opts;

/* Starts a keeper: its own client (opened with cfg and copts, which it
 * borrows: they must outlive the keeper; it connects now, as
 * lc_client_open does) and two threads, a renewer that renews every kept
 * lease in one backend call per renew_every, and a watchdog that declares
 * a lease lost when its local deadline passes without a renewal, however
 * long the backend takes to answer. kopts may be NULL. On error *out is
 * untouched and nothing is left running: the errors of lc_client_open,
 * LC_ERR_CONFIG for a renew_every that is not positive, LC_ERR_INTERNAL
 * when a thread or the eventfd cannot be made. */
LC_API lc_status lc_keeper_start(const lc_config *cfg, const lc_client_opts *copts,
                                 const lc_keeper_opts *kopts, lc_keeper **out, lc_error *err);

/* Starts keeping `lease`, which the keeper borrows until lc_keeper_remove
 * returns: it must not be freed, renewed or released before that. The
 * keeper copies its name, token, fence and ttl, and takes its local
 * deadline from it as it is now. LC_ERR_INVALID for a lease without a
 * local deadline (lc_lease_attach), one kept already, or one whose ttl is
 * not more than twice renew_every. */
LC_API lc_status lc_keeper_add(lc_keeper *k, lc_lease *lease, lc_error *err);

/* Hooks of one kept lease (lc_keeper_hook), called besides the keeper's
 * own (lc_keeper_opts), after them, under the same rules: on_loss on a
 * keeper thread, once, and it must not block; on_renew under the keeper's
 * lock.
 * They let several users share one keeper, each hearing of its own leases
 * only (lc_run does so with a keeper given in lc_run_opts). */
typedef struct lc_lease_hooks {
    lc_loss_fn on_loss; /* may be NULL */
    void *loss_ctx;
    lc_renew_fn on_renew; /* may be NULL */
    void *renew_ctx;
} lc_lease_hooks;

/* Sets the hooks of a kept lease (copied), replacing any it had; NULL
 * clears them. Once it returns, no call of the hooks it replaced is under
 * way or will start, so their contexts may be freed. A new on_renew is
 * called once at once, on the calling thread and under the keeper's lock,
 * with the lease's current local deadline (not when it is lost), so the
 * caller starts from the present and then hears of every renewal in order.
 * A loss declared before the call may or may not reach the new on_loss:
 * ask lc_keeper_lost after it. The hooks go with the lease at
 * lc_keeper_remove, which also waits for its on_loss under way. Must not
 * be called from a hook. LC_ERR_INVALID when the lease is not kept. */
LC_API lc_status lc_keeper_hook(lc_keeper *k, const lc_lease *lease, const lc_lease_hooks *hooks,
                                lc_error *err);

/* Stops keeping `lease` and gives it back to the caller, with the local
 * deadline of its last renewal. When it returns, no renewal of it is in
 * flight or will be sent, so a release may follow safely (a lost lease is
 * not waited for: it will not be released), and no call of its own hooks
 * (lc_keeper_hook) is under way. A loss of it not yet passed to on_loss is
 * not passed any more. Returns what lc_keeper_lost returned last (LC_OK
 * also for a lease that was not kept). */
LC_API lc_status lc_keeper_remove(lc_keeper *k, lc_lease *lease);

/* LC_OK while `lease` is not lost (also for a lease not kept). Once lost,
 * for good: LC_ERR_LOST when the backend said it is not ours any more
 * (taken over, reset, expired), LC_ERR_UNAVAILABLE when its local deadline
 * passed without a successful renewal (the backend is unreachable or too
 * slow: do not expect it to answer now), LC_ERR_TIMEOUT when its local
 * deadline passed because the keeper itself did not get to send a renewal
 * in time (the process was stopped or starved: the backend may well
 * answer). The reason is copied to reason[size] (may be NULL) when lost. */
LC_API lc_status lc_keeper_lost(lc_keeper *k, const lc_lease *lease, char *reason, size_t size);

/* An eventfd that becomes readable when any kept lease is lost, and stays
 * so until read (reading it is not needed): poll it with the other things
 * a supervisor waits on. The keeper owns it: do not close it. */
LC_API int lc_keeper_fd(const lc_keeper *k);

/* The keeper's view of the lease's local deadline (monotonic ns on the
 * clock it was given), moved on by every renewal; 0 for a lease not
 * kept. */
LC_API int64_t lc_keeper_deadline_ns(lc_keeper *k, const lc_lease *lease);

/* What the renewer has done so far. A tick is one renewal round: every
 * kept lease not lost, in one backend call. Times are CLOCK_MONOTONIC
 * nanoseconds of that call (sent to answered), whatever clock the keeper
 * was given; the mean is total_tick_ns / ticks. */
typedef struct lc_keeper_stats {
    uint64_t ticks;        /* rounds sent, failed ones included */
    uint64_t calls;        /* requests they sent to the server: Redis commands,
                              Postgres statements (memory: renew calls) */
    uint64_t renewals;     /* leases they asked to renew, summed over rounds */
    int64_t last_tick_ns;  /* the last round's call, 0 before the first */
    int64_t total_tick_ns; /* summed over every round */
    int64_t max_tick_ns;
} lc_keeper_stats;

/* Copies the keeper's statistics into *out. Any thread, any time before
 * lc_keeper_stop. */
LC_API void lc_keeper_read_stats(lc_keeper *k, lc_keeper_stats *out);

/* Stops the threads, closes the connection, frees. NULL ok. Never waits on
 * the backend: a renewal stuck on a frozen server finishes on its own
 * thread, which then frees what is left. Losses declared before the call
 * are reported through on_loss first; none is called after this returns.
 * Leases still kept are not released. */
LC_API void lc_keeper_stop(lc_keeper *k);

/* ------------------------------------------------------------------------ */
/* Running a command under a lease                                          */
/* ------------------------------------------------------------------------ */

/* What became of a run (lc_run_report.outcome). */
typedef enum lc_run_outcome {
    LC_RUN_DONE = 0,    /* the command exited 0, its lease held to the end */
    LC_RUN_FAILED,      /* it exited non-zero (exit_code) */
    LC_RUN_SIGNALLED,   /* it died of a signal (term_signal) lc_run did not send */
    LC_RUN_TIMEOUT,     /* timeout_ms passed: it was stopped */
    LC_RUN_LOST,        /* the lease was lost: the command was stopped, or it
                         * ended and the release found the lease gone (the
                         * work ran without the guarantee), or (lc_run_under)
                         * it was never started */
    LC_RUN_INTERRUPTED, /* stop_fd asked to stop: the command was never
                         * started, or it got the stop and did not exit 0 */
    LC_RUN_CONFLICT,    /* never started: another holder has the lock (holder) */
    LC_RUN_UNAVAILABLE, /* never started: the backend did not answer */
    LC_RUN_ERROR        /* never started: anything else (the status says what) */
} lc_run_outcome;

/* "done", "failed", "signalled", "timeout", "lost", "interrupted",
 * "conflict", "unavailable" or "error". Never NULL. */
LC_API const char *lc_run_outcome_name(lc_run_outcome outcome);

/* How to run (lc_run, lc_run_under). All-zero means defaults. */
typedef struct lc_run_opts {
    /* ttl, renew_every and kill grace, settled by lc_lease_timing_settle
     * against the client's config. lc_run_under reads the kill grace only;
     * with a keeper given, its renew_every is the keeper's. */
    lc_lease_timing timing;
    int64_t wait_ms;    /* as lc_acquire_opts.wait_ms (lc_run only) */
    int64_t timeout_ms; /* > 0: stop the command after this long; 0: never */
    const char *owner;  /* as lc_acquire_opts.owner (lc_run only) */
    /* > 0: a file descriptor that asks the run to stop once it is readable.
     * Before the command starts, the run ends without starting it
     * (LC_RUN_INTERRUPTED; a wait for the lock ends within about 20 ms).
     * Once it runs, the command's process group gets SIGTERM and, when it
     * has not ended after the kill grace, SIGKILL. lc_run never reads a
     * plain descriptor (an eventfd or pipe shared by many runs stops them
     * all), and stops watching it after the first stop. 0: none. */
    int stop_fd;
    /* 1: stop_fd is a signalfd (signalfd(2)) of the signals that stop the
     * run. lc_run reads it, and passes each signal read on to the
     * command's group as it is (SIGINT as SIGINT, SIGHUP as SIGHUP); the
     * first starts the kill grace. The first signal read is in
     * lc_run_report.stop_signal. SIGCHLD read from it is dropped. */
    int stop_fd_is_signalfd;
    /* 1: run as the foreground job of a shell, for a command-line front
     * end: when the calling process is the foreground job of the terminal
     * on its stdin, the command's group becomes the terminal's foreground
     * group while it runs; when the command is stopped (Ctrl-Z), lc_run
     * takes the terminal back and stops the process with SIGTSTP, as the
     * shell's job, and when the process is continued, it continues the
     * command (SIGTERM first when the lease's local deadline passed
     * meanwhile). At most one run at a time may use it. 0: the terminal is
     * left alone. */
    int foreground;
    /* Extra environment for the command, "NAME=value" entries (borrowed
     * for the call), NULL-terminated; they replace variables of the same
     * name of the process's environment. NULL: none. */
    const char *const *env;
    /* A keeper (borrowed) to keep the lease with, such as the one keeper of
     * a daemon: lc_run adds the lease to it and removes it before
     * returning, and hears of its own lease only (lc_keeper_hook). NULL:
     * lc_run starts a keeper of its own for the run, on a client opened
     * like c (same config, clock, log hook and memory store; with the
     * memory backend, c needs a shared lc_memstore). Not read by
     * lc_run_under, which is given its keeper. */
    lc_keeper *keeper;
} lc_run_opts;

/* What happened (lc_run, lc_run_under). */
typedef struct lc_run_report {
    lc_run_outcome outcome;
    int started;      /* 1: the command was started */
    int exit_code;    /* its exit status 0..255, or 128+N when it died of
                       * signal N; -1 when it did not start or its status
                       * could not be collected */
    int term_signal;  /* N when it died of signal N, else 0 */
    int exec_errno;   /* its exec failed with this errno (exit_code 127 for
                       * ENOENT, else 126), else 0 */
    int stop_signal;  /* the first signal read from a signalfd stop_fd, else 0 */
    uint64_t fence;   /* the lease's fence, 0 when none was taken */
    lc_holder holder; /* LC_RUN_CONFLICT: who has the lock */
    int recorded;     /* 1: the run was recorded with the lock (its release,
                       * or lc_record_lost after a loss) */
    /* Why the run did not succeed, one line ("" when it did): lc_run
     * records it as the lock's last error; lc_run_under leaves that to
     * its caller. Such as "exit status 3", "killed by signal 9 (Killed)",
     * "timed out after 50s", "lease lost: reset by an operator: stuck". */
    char error[512];
    /* "" or, for a human, what went wrong settling the lease: "release:
     * WHY; the lease expires by itself", "recording the run: WHY", "the
     * backend is unreachable: the run is not recorded and the lease
     * expires by itself". */
    char note[256];
} lc_run_report;

/* Runs argv (argv[0] looked up in PATH) under a lease on `name`: takes the
 * lease (with opts->wait_ms, opts->owner), keeps it renewed, starts the
 * command, stops it when the lease is lost, opts->timeout_ms passes or
 * opts->stop_fd asks (SIGTERM to its process group, SIGKILL after the
 * kill grace), then gives the lease back recording the run (exit status,
 * error) -- or, after a loss, records the run without touching whoever
 * holds the lock now (not even that when the backend is unreachable: the
 * lease then expires by itself). Blocks until all of that is done.
 *
 * The command runs in a process group of its own, under a guard process
 * (a child subreaper) that SIGKILLs every descendant left when the command
 * ends, and everything when the calling thread dies (PR_SET_PDEATHSIG: it
 * follows the thread, which lc_run keeps busy until the end); the guard
 * also stops the command at the lease's local deadline by itself, so it
 * does not run on while the calling process is frozen. The command's
 * environment is the process's, opts->env, and LOCKCOORD_LOCK,
 * LOCKCOORD_TOKEN, LOCKCOORD_FENCE, LOCKCOORD_OWNER, LOCKCOORD_CHECKPOINT
 * (the stored checkpoint, "" if none); its stdin, stdout and stderr are
 * the process's.
 *
 * Returns LC_OK when the command was started, whatever became of it:
 * *out says (outcome, exit_code, error, recorded). Otherwise the command
 * never started and *out says why too: LC_ERR_CONFLICT (err->holder and
 * out->holder name the holder; nothing was recorded), LC_ERR_CANCELLED
 * (stop_fd asked before the start; a lease already taken was given back,
 * recorded "interrupted ... before the command started"),
 * LC_ERR_UNAVAILABLE / LC_ERR_TIMEOUT (the backend), LC_ERR_INVALID (a
 * bad name, owner, timing, no command), LC_ERR_NOMEM, LC_ERR_INTERNAL
 * (the guard could not be started; the lease was given back). *out is
 * filled in every case; out must not be NULL.
 *
 * Threads and signals: c is used on the calling thread only; runs on
 * several threads at once need a client each (they may share a keeper).
 * lc_run leaves the process's signal handling alone: it blocks every
 * signal in the calling thread for the moment of the fork (as posix_spawn
 * does), and SIGTTOU around its terminal calls (opts->foreground). It
 * waits for its own child only, by pid (through a pidfd: Linux 5.3 or
 * later): the process must not ignore SIGCHLD (SIG_IGN, SA_NOCLDWAIT),
 * nor reap children it did not start (waitpid(-1, ...)). */
LC_API lc_status lc_run(lc_client *c, const char *name, char *const argv[], const lc_run_opts *opts,
                        lc_run_report *out, lc_error *err);

/* Runs argv under a lease the caller holds and keeps with k (lc_keeper_add
 * done): starts the command, stops it as lc_run does (loss, timeout,
 * stop_fd, the guard's deadline), and waits for it. It neither takes nor
 * gives back nor records anything, and leaves the lease kept by k: the
 * caller may run again under it (a retry), and releases it itself,
 * recording {.has_exit = out->exit_code >= 0, .exit_code =
 * out->exit_code, .error = out->error[0] ? out->error : NULL} -- or, when
 * out->outcome is LC_RUN_LOST, records that with lc_record_lost. Touches no
 * client: k may be used by other threads meanwhile.
 *
 * Returns LC_OK when the command was started, with *out filled as by
 * lc_run (recorded is 0). Otherwise it did not start: LC_ERR_LOST when
 * the lease is lost already (out->error says why), LC_ERR_CANCELLED when
 * stop_fd asked first, LC_ERR_INVALID for a lease k does not keep or no
 * command, LC_ERR_NOMEM, LC_ERR_INTERNAL. Threads and signals as for
 * lc_run. */
LC_API lc_status lc_run_under(lc_keeper *k, lc_lease *lease, char *const argv[],
                              const lc_run_opts *opts, lc_run_report *out, lc_error *err);

/* ------------------------------------------------------------------------ */
/* The job engine: the config's jobs on their schedules, under leases        */
/* ------------------------------------------------------------------------ */

/* When `job` is next due, on the backend server's clock, for a job whose
 * last run started at last_started_at_ms (-1: never) when the server's
 * clock reads now_ms (both as lc_inspect reports them: last_started_at_ms
 * and server_now_ms). A time at or before now_ms means due now (overdue by
 * the difference). LC_ERR_CONFIG for a job without a usable schedule. */
LC_API lc_status lc_job_next_due(const lc_job *job, int64_t last_started_at_ms, int64_t now_ms,
                                 int64_t *due_at_ms, lc_error *err);

/* A job's place in its schedule, judged from its lock as lc_inspect read
 * it: what `status` shows and `status --check` and the engine's health
 * check hold against it. Times are the backend server's unix ms. */
typedef struct lc_job_due {
    int64_t due_at_ms; /* when it is next due; at or before now: due now */
    /* 1: not held, and either due for longer than one interval (a whole
     * slot went by without a run) or no run succeeded for two slots (a
     * job that never succeeded: after two failed runs). */
    int overdue;
    int64_t overdue_since_ms; /* when it became overdue; -1 when it is not */
} lc_job_due;

/* Fills *out for `job` from its lock's `info` (lc_inspect). LC_ERR_CONFIG
 * for a job without a usable schedule, LC_ERR_INVALID when info carries
 * no server time. */
LC_API lc_status lc_job_check_due(const lc_job *job, const lc_lock_info *info, lc_job_due *out,
                                  lc_error *err);

typedef struct lc_sync lc_sync;

typedef enum lc_sync_event_kind {
    LC_SYNC_START = 0, /* a run started (fence, slot, missed) */
    LC_SYNC_FINISH,    /* a run ended (outcome, duration, attempts, message) */
    LC_SYNC_SKIP,      /* a check ran nothing (reason: "held", "paused", "not due",
                          "unavailable") */
    LC_SYNC_RETRY,     /* an attempt failed and another follows (message: why, delay_ms) */
    LC_SYNC_LOST,      /* a run's lease was lost (message: why) */
    LC_SYNC_STOPPING   /* shutdown began, or the grace ran out (message) */
} lc_sync_event_kind;

/* One line's worth of what the engine did, for a log. Strings are valid
 * during the call only. */
typedef struct lc_sync_event {
    lc_sync_event_kind kind;
    lc_log_level level;
    const char *job;     /* "" for STOPPING */
    const char *lock;    /* "" for STOPPING */
    uint64_t fence;      /* 0 when no lease */
    const char *slot;    /* the slot (RFC 3339), "" when none */
    lc_outcome outcome;  /* FINISH */
    int64_t duration_ms; /* FINISH; -1 otherwise */
    int attempt;         /* START 1, RETRY: the attempt that failed, FINISH: attempts made */
    int missed;          /* START: slots missed before this one */
    int64_t delay_ms;    /* RETRY: until the next attempt; SKIP "not due": until due; else -1 */
    const char *reason;  /* SKIP: "held", "paused", "not due", "unavailable", "error"; else "" */
    const char *message; /* the whole line for humans (job and fence included) */
} lc_sync_event;

/* Called from the engine's threads (the scheduler, a run's, the keeper's);
 * it must be thread-safe and quick. */
typedef void (*lc_sync_event_fn)(void *ctx, const lc_sync_event *ev);

/* All-zero means: every job, as a daemon, on the config's shutdown grace. */
typedef struct lc_sync_opts {
    const char *const *jobs; /* job names to run (n_jobs of them); NULL: all */
    size_t n_jobs;
    int once;                  /* check every job once, run the due ones, wait, return */
    int now;                   /* run even when not due (still under the lease) */
    int64_t shutdown_grace_ms; /* with shutdown_grace_set; else sync.shutdown_grace */
    int shutdown_grace_set;
    lc_sync_event_fn on_event; /* may be NULL */
    void *event_ctx;
    /* Tests only: a cron minute lasts this many ms (at least 100) instead
     * of 60 s, so minute slots pass in seconds. 0: real minutes. */
    int64_t test_minute_ms;
} lc_sync_opts;

/* What lc_sync_run saw, for an exit code: runs by outcome and checks that
 * ran nothing, by why. */
typedef struct lc_sync_summary {
    unsigned ok, failed; /* failed: any outcome but ok */
    unsigned held;       /* held elsewhere (or paused) when checked */
    unsigned not_due;
    unsigned unavailable; /* the backend could not be asked */
    unsigned paused;      /* of held: the lock was paused (lc_pause) */
} lc_sync_summary;

/* Makes an engine for cfg's jobs: one client (opened with cfg and copts,
 * which it borrows: they must outlive the engine) and one keeper for all
 * of them, both connected now. opts may be NULL. On error *out is
 * untouched and nothing is left open: LC_ERR_CONFIG for an unknown job
 * name in opts->jobs or a config without jobs, the errors of
 * lc_client_open and lc_keeper_start. Nothing runs until lc_sync_run. */
LC_API lc_status lc_sync_open(const lc_config *cfg, const lc_client_opts *copts,
                              const lc_sync_opts *opts, lc_sync **out, lc_error *err);

/* Runs the jobs on the calling thread: each is claimed under its lease
 * when its schedule says so (on the backend's clock), and run on a thread
 * of its own while the keeper renews the lease; a run whose lease is lost
 * is stopped. As a daemon it returns after lc_sync_stop, once running jobs
 * have finished or been stopped (interrupted) and every lease is given
 * back; with opts->once, when every job was checked and every run ended.
 * *sum (may be NULL) counts what happened. Returns LC_OK, or an error
 * when the engine itself failed (a thread could not be made). Call it
 * once. */
LC_API lc_status lc_sync_run(lc_sync *s, lc_sync_summary *sum, lc_error *err);

/* Asks lc_sync_run to stop: start nothing new, let running jobs finish for
 * up to the shutdown grace, then stop them. at_once (or a second call)
 * stops them now. Async-signal-safe: it may be called from a signal
 * handler, and from any thread. */
LC_API void lc_sync_stop(lc_sync *s, int at_once);

/* Frees the engine: the keeper and the client. NULL is fine. Not while
 * lc_sync_run runs. */
LC_API void lc_sync_close(lc_sync *s);

/* The engine's metrics as text in the Prometheus exposition format 0.0.4
 * (what `sync --listen` serves at /metrics; the names and labels are in
 * README.md): runs by job and outcome, run durations, last success,
 * skipped checks by reason, lease renewals and their latency, leases lost
 * by reason, backend errors, runs under way. Counted since lc_sync_open,
 * by this engine only. *out is a new string (free()), *len (may be NULL)
 * its length. Any thread, while the engine is open (lc_sync_run running
 * or not). LC_ERR_NOMEM, and *out untouched, when out of memory. */
LC_API lc_status lc_sync_metrics(lc_sync *s, char **out, size_t *len, lc_error *err);

/* What lc_sync_check_health found. */
typedef struct lc_sync_health_report {
    int ok;                /* 1: backend_ok and no job overdue */
    int backend_ok;        /* 1: the backend answered for every job */
    size_t jobs;           /* the engine's jobs */
    size_t overdue;        /* how many of them are overdue (lc_job_check_due; a paused job
                              is not counted: its pause is on purpose) */
    int64_t checked_at_ms; /* the backend server's clock at the check, -1 when unknown */
    /* Why not ok, one line: "backend unavailable: WHY", or "job NAME
     * overdue since RFC3339" for each overdue job, joined by "; " (cut to
     * fit). "" when ok. */
    char reason[512];
} lc_sync_health_report;

/* Checks the engine's health: reads each job's lock from the backend, on a
 * client of the check's own (opened at the first check with the engine's
 * config and client options, and made again as needed), and judges it
 * against the engine's schedule. A check runs at most once a second:
 * calls within a second of the last one get its result, and calls during
 * a check wait for it and share it. A call blocks for at most the
 * backend's timeouts (connect, command or statement timeout) per job.
 * Any thread, concurrently, while the engine is open. Returns LC_OK with
 * *out filled (a backend that does not answer is a finding, not an
 * error). */
LC_API lc_status lc_sync_check_health(lc_sync *s, lc_sync_health_report *out, lc_error *err);

/* ------------------------------------------------------------------------ */
/* The backend's floor, for benchmarks (`lockcoord bench --reference`)      */
/* ------------------------------------------------------------------------ */

/* What a lease costs on the bare server, to hold lockcoord's own figures
 * against: Redis `SET key token NX PX ttl`, a one-line GET/DEL compare
 * script (EVALSHA) to give it back, one script call to renew many;
 * Postgres a prepared upsert into a scratch table (the lock table's name
 * with "_bench", created when missing and kept), a prepared token-checked
 * UPDATE to give it back, one UPDATE ... FROM unnest to renew many. Sent
 * with the driver's plain calls on a connection of the reference's own,
 * made as the client's are (same address, login, timeouts, session
 * settings). Its keys and rows live apart from the locks: a reference lock
 * never conflicts with a lockcoord lock of the same name, and listings do
 * not show it.
 *
 * A reference is used by one thread at a time. Its connection is not made
 * again when it breaks: every later call fails (LC_ERR_UNAVAILABLE), and
 * the caller opens another. Redis requests are plain write(2)s: a server
 * that goes away can raise SIGPIPE in the calling thread, so the caller
 * ignores or blocks SIGPIPE while it uses a Redis reference. */
typedef struct lc_bench_ref lc_bench_ref;

/* Opens a reference on the backend of c (with c's config, clock and log
 * hook, which it borrows: c must outlive it): connects, loads the scripts
 * or creates the scratch table and prepares the statements. On error *out
 * is untouched: LC_ERR_INVALID for a backend without a floor (memory), or
 * the errors of lc_client_open. */
LC_API lc_status lc_bench_ref_open(const lc_client *c, lc_bench_ref **out, lc_error *err);

/* Closes the connection and frees. NULL is fine. */
LC_API void lc_bench_ref_close(lc_bench_ref *ref);

/* What the reference sends, for humans; a static string. */
LC_API const char *lc_bench_ref_floor(const lc_bench_ref *ref);

/* Takes `name` with `token` (lc_token_new's form) for ttl_ms, in one
 * request, without waiting: LC_OK, or LC_ERR_CONFLICT while another token
 * holds it (err->holder is not filled). LC_ERR_INVALID for a bad name,
 * token or ttl. */
LC_API lc_status lc_bench_ref_acquire(lc_bench_ref *ref, const char *name, const char *token,
                                      int64_t ttl_ms, lc_error *err);

/* Gives `name` back, token-checked, in one request: LC_ERR_LOST when the
 * token does not hold it. */
LC_API lc_status lc_bench_ref_release(lc_bench_ref *ref, const char *name, const char *token,
                                      lc_error *err);

/* Extends names[i] held with tokens[i] to ttl_ms, token-checked, all n in
 * one request; *renewed (may be NULL) counts those extended. */
LC_API lc_status lc_bench_ref_renew(lc_bench_ref *ref, const char *const *names,
                                    const char *const *tokens, size_t n, int64_t ttl_ms,
                                    size_t *renewed, lc_error *err);

#ifdef __cplusplus
}
#endif
#endif /* LOCKCOORD_H */
