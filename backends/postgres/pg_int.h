/* backends/postgres/pg_int.h -- the Postgres backend's state and the
 * helpers its modules share: the connection (conn.c), the schema and the
 * statement texts (schema.c), release notifications (notify.c) and the
 * lock statements themselves (postgres.c). */
#ifndef LC_PG_INT_H
#define LC_PG_INT_H

#include "backends/limits_int.h"
#include "backends/postgres/pq_dl_int.h"
#include "lockcoord.h"

#define LC_PG_SCHEMA_VERSION 5

/* The statement texts, built once the table name is quoted (quoting needs
 * a connection: PQescapeIdentifier follows its client encoding). */
typedef struct pg_sql {
    char *acquire;      /* a no-wait acquire */
    char *acquire_wait; /* an attempt of a waiting acquire: in the line of waiters */
    char *trim;         /* the run history trimmed to lock.history */
    char *holder;
    char *renew;
    char *renew_many;
    char *release;
    char *force_release;
    char *record_run;
    char *checkpoint;
    char *inspect;
    char *list;
    char *start_run;
    char *abandon;
    char *now;
    char *upgrade_v2;
    char *upgrade_v3;
    char *pause;
    char *resume;
    char *create_runs;
    char *create_runs_index;
    char *history;
    char *qruns; /* the run history table, quoted */
    char *create_waiters;
    char *leave;
    char *qwaiters; /* the line of waiters, quoted */
    char *create_table;
    char *create_version;
    char *read_version;
    char *write_version;
    char *create_schema;
    char *listen;
    char *qtable;   /* "schema"."table", quoted */
    char *qversion; /* "schema"."table_schema", quoted */
} pg_sql;

typedef struct pg_state {
    const lc_config *cfg;
    lc_log_fn log;
    void *log_ctx;
    PGconn *conn;
    char where[160];                   /* "postgres HOST:PORT" for messages */
    char table[256];                   /* schema.table, unquoted, for messages */
    char channel[LC_PG_IDENT_MAX + 1]; /* NOTIFY channel: table + "_released" */
    int64_t deadline_ms;               /* client-side limit for one statement */
    int schema_ok;                     /* the table was seen on this connection */
    int listening;                     /* LISTEN was sent on this connection */
    unsigned prepared;                 /* lock statements prepared on it (bits) */
    int ended;                         /* the server said it ends the session (FATAL) */
    int sent;                          /* the statement under way reached the server */
    int broke;                         /* its connection broke: 0, or 1 + sent */
    uint64_t requests;                 /* statements sent (backend_int.h: requests) */
    char **watched;                    /* lock names whose release wakes wait() */
    size_t n_watched;
    pg_sql sql;
} pg_state;

/* conn.c */

/* A conninfo libpq cannot parse, or a URI whose user info it would read
 * differently than it reads (an unencoded '@', '/' or ':' in the
 * password), is LC_ERR_CONFIG naming postgres.conninfo, never quoting a
 * password. A string that is neither a URI nor key=value is a database
 * name, as libpq takes it. The config loader checks this at load; a
 * connection checks it again for configs built in code. Loads libpq
 * first (LC_ERR_UNAVAILABLE when it cannot be loaded: lc__pq_load). */
lc_status lc__pg_check_conninfo(const char *conninfo, lc_error *err);

/* Connects if there is no usable connection (a connection the server
 * closed while idle is noticed here and replaced). Every connection
 * starts here, and loads libpq first: a libpq that cannot be loaded is
 * LC_ERR_UNAVAILABLE (lc__pq_load). */
lc_status lc__pg_connect(pg_state *s, lc_error *err);

/* Closes the connection; the next call reconnects. */
void lc__pg_drop(pg_state *s);

/* Runs one statement with parameters (text format) and waits for its
 * result until the client-side deadline. On LC_OK *out is a result with
 * PGRES_TUPLES_OK or PGRES_COMMAND_OK (PQclear it). `what` names the
 * statement in messages. Server errors carry their SQLSTATE; a statement
 * timeout is LC_ERR_TIMEOUT; a lost or silent server is
 * LC_ERR_UNAVAILABLE and the connection is dropped. A lock statement
 * whose connection broke is sent once more on a new connection when that
 * is safe: when it never reached the server, or when running it twice
 * does what running it once does (all but release, force release and
 * record run). */
lc_status lc__pg_exec(pg_state *s, const char *what, const char *sql, int n,
                      const char *const *params, PGresult **out, lc_error *err);

/* The client-side limit for one statement: statement_timeout plus a
 * margin, so the server's own timeout (a clear SQLSTATE) comes first. */
int64_t lc__pg_deadline_ms(const lc_config *cfg);

/* lc__pg_exec for a statement whose result is not needed. */
lc_status lc__pg_run(pg_state *s, const char *what, const char *sql, int n,
                     const char *const *params, lc_error *err);

/* replication.c */

/* On a primary with streaming standbys none of which its commits wait for
 * (synchronous_standby_names empty, or synchronous_commit off or local),
 * logs one warning per process, unless postgres.warn_async_replication is
 * off. One query, on the connection just opened; a refused query says
 * nothing. Fails only when the connection is lost meanwhile (then dropped). */
lc_status lc__pg_check_replication(pg_state *s, lc_error *err);

/* postgres.c */

/* The columns of a lock row as inspect and list read it (INFO_COLUMNS in
 * schema.c). */
#define LC__PG_INFO_COLUMNS 26

/* One lock row, its columns as text (v[i] NULL for SQL NULL), into out
 * (set up here; lc_lock_info_clear it). Apart from the PGresult so that
 * any row can be fed to it (tests/fuzz/fuzz_pg_row.c). LC_ERR_NOMEM is
 * its only error, with out cleared. */
lc_status lc__pg_info_from_values(const char *const *v, lc_lock_info *out, lc_error *err);

/* schema.c */

/* The prepared-statement slot of sql when it is one of the lock statements
 * of s->sql (prepared once per connection), else -1 (sent unprepared: the
 * schema statements, run once). */
int lc__pg_stmt_slot(const pg_state *s, const char *sql);

/* Builds s->sql for the configured schema and table. */
lc_status lc__pg_sql_build(pg_state *s, lc_error *err);
void lc__pg_sql_free(pg_sql *q);

/* Makes sure the table exists on this connection (once per connection):
 * creates it when auto_migrate is on, else LC_ERR_CONFIG saying to run
 * `lockcoord migrate`. Connects first. */
lc_status lc__pg_ready(pg_state *s, lc_error *err);

/* Creates or upgrades the schema under an advisory lock. */
lc_status lc__pg_migrate(void *state, char *what, size_t what_size, lc_error *err);

/* notify.c */
lc_status lc__pg_watch(void *state, const char *name, lc_error *err);
lc_status lc__pg_wait(void *state, int64_t timeout_ms, int *notified, lc_error *err);
void lc__pg_unwatch(void *state);
/* Frees queued notifications and the watched names. */
void lc__pg_watch_free(pg_state *s);

#endif
