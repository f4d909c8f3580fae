/* backends/postgres/conn.c -- the connection: connecting with libpq's own
 * timeouts, and running one statement at a time on the asynchronous API
 * with a client-side deadline, so a frozen or silent server never hangs a
 * call. */
#include "backends/postgres/pg_int.h"
#include "config/redact_int.h"
#include "core/clock_int.h"
#include "core/thread_int.h"
#include "core/error_int.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long past statement_timeout the client waits before it gives up on
 * the server: the server's own timeout should always come first. */
#define DEADLINE_MARGIN_MS 1000
/* The client-side limit when statement_timeout is off. */
#define DEADLINE_DEFAULT_MS 30000

/* libpq messages are multi-line ("...failed: X\n\tIs the server running
 * ...?\n"); ours are one line. */
static void one_line(const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (const char *p = in ? in : ""; *p && o + 3 < size; p++) {
        if (*p == '\n') {
            while (p[1] == '\t' || p[1] == ' ')
                p++;
            if (p[1] != '\0' && o > 0)
                out[o++] = ' ';
        } else if (*p != '\t') {
            out[o++] = *p;
        }
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
}

/* libpq's message on one line with every secret of the conninfo hidden,
 * redacted before it is cut to size (a cut could leave half a password
 * that a later pass no longer recognises). libpq quotes a conninfo it
 * cannot parse, and parts of one it misreads (a password taken for a
 * port), so every message that leaves this file goes through here. */
static void pg_message(const char *conninfo, const char *in, char *out, size_t size)
{
    char full[1024];
    one_line(in, full, sizeof(full));
    lc__redact_msg(full, sizeof(full), conninfo);
    lc__strlcpy(out, full, size);
    explicit_bzero(full, sizeof(full));
}

/* Where libpq reads the user info of a URI to end: the first '@' before
 * any '/' (s is just past "scheme://"); s itself when there is none. */
static const char *uri_after_userinfo(const char *s)
{
    const char *p = s + strcspn(s, "@/");
    return *p == '@' ? p + 1 : s;
}

static int is_uri(const char *ci)
{
    return strncmp(ci, "postgresql://", 13) == 0 || strncmp(ci, "postgres://", 11) == 0;
}

lc_status lc__pg_check_conninfo(const char *conninfo, lc_error *err)
{
    lc_status rc = lc__pq_load(err);
    if (rc != LC_OK)
        return rc;
    const char *ci = conninfo ? conninfo : "";
    /* As libpq decides: neither a URI nor key=value is a database name
     * (but not one that looks like a URI with another scheme or case). */
    if (!is_uri(ci) && strchr(ci, '=') == NULL && strstr(ci, "://") == NULL)
        return LC_OK;
    if (!is_uri(ci) && strchr(ci, '=') == NULL)
        return lc__err(err, LC_ERR_CONFIG, 0,
                       "postgres.conninfo: a URI must start with postgresql:// or postgres://");
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(ci, &why);
    if (opts == NULL) {
        char msg[sizeof(err->message)];
        lc_status code = why ? LC_ERR_CONFIG : LC_ERR_NOMEM;
        pg_message(ci, why ? why : "out of memory", msg, sizeof(msg));
        PQfreemem(why);
        return lc__err(err, code, 0, "postgres.conninfo: %s", msg);
    }
    PQconninfoFree(opts);
    if (is_uri(ci)) {
        const char *rest = uri_after_userinfo(strstr(ci, "://") + 3);
        const char *at = memchr(rest, '@', strcspn(rest, "?"));
        if (at != NULL)
            return lc__err(err, LC_ERR_CONFIG, 0,
                           "postgres.conninfo: an '@' after the user info; percent-encode "
                           "'@' (%%40), ':' (%%3A) and '/' (%%2F) in the user name and password");
    }
    return LC_OK;
}

/* Notices ("relation already exists, skipping", or the FATAL a terminated
 * backend sends while idle) go to the log hook, never to stderr. A FATAL
 * marks the session as ended: its EOF may not have arrived yet, but no
 * statement should be sent on it. */
static void notice_to_log(void *arg, const PGresult *res)
{
    pg_state *s = arg;
    char msg[256];
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0))
        s->ended = 1;
    pg_message(s->cfg->postgres.conninfo, PQresultErrorMessage(res), msg, sizeof(msg));
    lc__log(s->log, s->log_ctx, LC_LOG_DEBUG, "%s: server says: %s", s->where, msg);
}

static void name_server(pg_state *s)
{
    const char *host = PQhost(s->conn);
    const char *port = PQport(s->conn);
    snprintf(s->where, sizeof(s->where), "postgres %s:%s", host && *host ? host : "localhost",
             port && *port ? port : "5432");
}

/* Whether gssencmode=disable may be added to a conninfo: this libpq knows
 * the option (libpq 12 and later: an older one refuses a connection that
 * names it), and no service (pg_service.conf) is named, whose settings
 * only fill in what the connection's own keywords leave unset. */
static int may_add_gssencmode(const char *ci)
{
    if (getenv("PGSERVICE") != NULL)
        return 0;
    PQconninfoOption *opts = PQconninfoParse(ci, NULL);
    if (opts == NULL) /* refused at load; libpq says why at connect */
        return 0;
    int known = 0, service = 0;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        known |= strcmp(o->keyword, "gssencmode") == 0;
        service |= strcmp(o->keyword, "service") == 0 && o->val != NULL && *o->val;
    }
    PQconninfoFree(opts);
    return known && !service;
}

/* Whether a directory that exists holds anything. */
static int dir_has_entries(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return errno != ENOENT && errno != ENOTDIR;
    const struct dirent *e;
    int any = 0;
    while (!any && (e = readdir(d)) != NULL)
        any = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return any;
}

/* Whether libpq's GSSAPI encryption probe can be skipped: its default
 * (gssencmode=prefer) asks Kerberos for credentials before each TCP
 * connection, which loads and initialises the Kerberos libraries -- about
 * 700 KiB of memory per process, and file lookups -- even where no
 * credentials can exist, and then goes on without GSSAPI. On Linux they
 * cannot exist when nothing points at any: no KRB5CCNAME, KRB5_CONFIG,
 * KRB5_CLIENT_KTNAME or GSS_MECH_CONFIG in the environment, no
 * /etc/krb5.conf (which could name another credential cache), no default
 * credential cache (/tmp/krb5cc_UID), no client keytab (/etc/krb5/...) and
 * no other GSSAPI mechanism (/etc/gss/mech, or a file in /etc/gss/mech.d,
 * which Debian ships empty). Then gssencmode=disable connects
 * exactly as the probe would have. The user's choice always wins: a
 * gssencmode in the conninfo (it comes after our defaults), in
 * PGGSSENCMODE, or in a service file. A libpq without the option (before
 * 12) has no probe to skip. */
static int gss_probe_useless(const char *ci)
{
#ifdef __linux__
    static const char *const vars[] = {"KRB5CCNAME", "KRB5_CONFIG", "KRB5_CLIENT_KTNAME",
                                       "GSS_MECH_CONFIG", "PGGSSENCMODE"};
    static const char *const paths[] = {"/etc/krb5.conf", "/etc/krb5", "/etc/gss/mech"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        if (getenv(vars[i]) != NULL)
            return 0;
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (access(paths[i], F_OK) == 0)
            return 0;
    char cache[48];
    snprintf(cache, sizeof(cache), "/tmp/krb5cc_%lu", (unsigned long)getuid());
    if (access(cache, F_OK) == 0)
        return 0;
    snprintf(cache, sizeof(cache), "/tmp/krb5cc_%lu", (unsigned long)geteuid());
    if (access(cache, F_OK) == 0)
        return 0;
    return !dir_has_entries("/etc/gss/mech.d") && may_add_gssencmode(ci);
#else
    (void)ci;
    (void)may_add_gssencmode;
    (void)dir_has_entries;
    return 0;
#endif
}

/* The user's conninfo is expanded by libpq (expand_dbname); our defaults
 * come before it, so anything the user wrote there wins. connect_timeout
 * is whole seconds and applies to each host of a multi-host conninfo, so a
 * dead first host is skipped after it. */
static PGconn *connect_blocking(const lc_config *cfg)
{
    char secs[24] = "";
    int64_t ms = cfg->postgres.connect_timeout_ms;
    if (ms > 0)
        snprintf(secs, sizeof(secs), "%lld", (long long)((ms + 999) / 1000));
    const char *ci = cfg->postgres.conninfo ? cfg->postgres.conninfo : "";
    const char *keys[9] = {"keepalives",       "keepalives_idle",           "keepalives_interval",
                           "keepalives_count", "fallback_application_name", "connect_timeout"};
    const char *vals[9] = {"1", "30", "10", "3", "lockcoord", secs};
    size_t n = 6;
    if (gss_probe_useless(ci)) {
        keys[n] = "gssencmode";
        vals[n++] = "disable";
    }
    keys[n] = "dbname";
    vals[n++] = ci;
    keys[n] = vals[n] = NULL;
    return PQconnectdbParams(keys, vals, 1);
}

/* statement_timeout, and on PostgreSQL 12 and later plan_cache_mode: the
 * lock statements are prepared once per connection and look rows up by
 * key, so their generic plan is the one to run. Left to choose, the server
 * plans a statement anew on every call when it estimates a plan for the
 * call's values cheaper than the generic one -- as it came to do for
 * acquire and release once the run history held some 150,000 rows, and
 * planning cost more than running them (0.38 ms a cycle). */
static lc_status set_session(pg_state *s, lc_error *err)
{
    char sql[128];
    int64_t st = s->cfg->postgres.statement_timeout_ms; /* checked by check_config */
    snprintf(sql, sizeof(sql), "SET statement_timeout = %lld", (long long)(st > 0 ? st : 0));
    lc_status rc = lc__pg_run(s, "set statement_timeout", sql, 0, NULL, err);
    if (rc == LC_OK && PQserverVersion(s->conn) >= 120000)
        rc = lc__pg_run(s, "set plan_cache_mode", "SET plan_cache_mode = force_generic_plan", 0,
                        NULL, err);
    if (rc == LC_OK && s->n_watched > 0)
        rc = lc__pg_run(s, "listen", s->sql.listen, 0, NULL, err);
    if (rc == LC_OK)
        s->listening = s->n_watched > 0;
    return rc;
}

/* What the config loader checks too, for configs built in code: found
 * late, these would be "server unavailable". */
static lc_status check_config(const lc_config *cfg, lc_error *err)
{
    if (cfg->postgres.statement_timeout_ms > LC_PG_STATEMENT_TIMEOUT_MAX_MS)
        return lc__err(err, LC_ERR_CONFIG, 0,
                       "postgres.statement_timeout: at most %lldms, about 24 days (the server's "
                       "limit)",
                       LC_PG_STATEMENT_TIMEOUT_MAX_MS);
    return lc__pg_check_conninfo(cfg->postgres.conninfo, err);
}

static lc_status open_conn(pg_state *s, lc_error *err)
{
    lc_status rc = lc__pq_load(err);
    if (rc == LC_OK)
        rc = check_config(s->cfg, err);
    if (rc != LC_OK)
        return rc;
    PGconn *c = connect_blocking(s->cfg);
    if (c == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    if (PQstatus(c) != CONNECTION_OK) {
        char msg[sizeof(err->message)];
        pg_message(s->cfg->postgres.conninfo, PQerrorMessage(c), msg, sizeof(msg));
        PQfinish(c);
        return lc__err(err, LC_ERR_UNAVAILABLE, 0, "postgres: connect: %s", msg);
    }
    PQsetNoticeReceiver(c, notice_to_log, s);
    if (PQsetnonblocking(c, 1) != 0) {
        PQfinish(c);
        return lc__err(err, LC_ERR_INTERNAL, 0, "postgres: cannot make the socket non-blocking");
    }
    s->conn = c;
    s->ended = 0;
    s->schema_ok = 0;
    s->listening = 0;
    s->prepared = 0;
    name_server(s);
    rc = s->sql.acquire ? LC_OK : lc__pg_sql_build(s, err);
    if (rc == LC_OK)
        rc = set_session(s, err);
    if (rc == LC_OK)
        rc = lc__pg_check_replication(s, err);
    if (rc != LC_OK)
        lc__pg_drop(s);
    return rc;
}

void lc__pg_drop(pg_state *s)
{
    if (s->conn)
        PQfinish(s->conn);
    s->conn = NULL;
    s->ended = 0;
    s->schema_ok = 0;
    s->listening = 0;
    s->prepared = 0;
}

/* A server that ended our session while we were idle (pg_terminate_backend,
 * idle_session_timeout, a restart) has left its goodbye (a FATAL) and EOF in
 * the socket: read them now, so the statement goes to a fresh connection
 * instead of failing. The goodbye is enough: the EOF may come a moment
 * after it. */
static int usable(pg_state *s)
{
    if (PQstatus(s->conn) != CONNECTION_OK || s->ended)
        return 0;
    PGTransactionStatusType t = PQtransactionStatus(s->conn);
    if (t == PQTRANS_UNKNOWN || t == PQTRANS_ACTIVE)
        return 0;
    struct pollfd p = {PQsocket(s->conn), POLLIN, 0};
    if (poll(&p, 1, 0) > 0 && !PQconsumeInput(s->conn))
        return 0;
    (void)PQisBusy(s->conn); /* parses what was read: a goodbye reaches notice_to_log */
    return PQstatus(s->conn) == CONNECTION_OK && !s->ended;
}

lc_status lc__pg_connect(pg_state *s, lc_error *err)
{
    if (s->conn && usable(s))
        return LC_OK;
    if (s->conn)
        lc__log(s->log, s->log_ctx, LC_LOG_DEBUG,
                "%s: connection closed by the server, reconnecting", s->where);
    lc__pg_drop(s);
    return open_conn(s, err);
}

/* Waits until the socket is ready for `events` or the deadline passes.
 * Returns the revents, 0 on timeout, -1 on a poll error. */
static int wait_socket(pg_state *s, short events, int64_t deadline_ns)
{
    for (;;) {
        int64_t left_ms = (deadline_ns - lc__mono_ns(NULL) + 999999) / 1000000;
        if (left_ms <= 0)
            return 0;
        struct pollfd p = {PQsocket(s->conn), events, 0};
        int r = poll(&p, 1, left_ms > INT_MAX ? INT_MAX : (int)left_ms);
        if (r > 0)
            return p.revents ? p.revents : events;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

static lc_status lost(pg_state *s, const char *what, lc_error *err)
{
    char msg[200];
    int e = errno;
    pg_message(s->cfg->postgres.conninfo, PQerrorMessage(s->conn), msg, sizeof(msg));
    lc__err(err, LC_ERR_UNAVAILABLE, e, "%s: %s: connection lost: %s", s->where, what,
            msg[0] ? msg : strerror(e));
    lc__pg_drop(s);
    s->broke = 1 + s->sent;
    return LC_ERR_UNAVAILABLE;
}

static void *cancel_main(void *arg)
{
    char buf[256];
    PQcancel(arg, buf, sizeof(buf));
    PQfreeCancel(arg);
    return NULL;
}

/* PQcancel blocks until the postmaster closes the cancel connection, which
 * a frozen server never does: send it from a detached thread, which ends
 * when the server answers or dies. */
static void cancel_detached(PGconn *conn)
{
    PGcancel *c = PQgetCancel(conn);
    pthread_attr_t attr;
    pthread_t t;
    if (c == NULL)
        return;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (lc__thread_start(&t, &attr, cancel_main, c) != 0)
        PQfreeCancel(c);
    pthread_attr_destroy(&attr);
}

static lc_status no_answer(pg_state *s, const char *what, lc_error *err)
{
    char d[32];
    lc_duration_format(s->deadline_ms, d, sizeof(d));
    lc__err(err, LC_ERR_UNAVAILABLE, ETIMEDOUT, "%s: %s: no answer within %s; connection dropped",
            s->where, what, d);
    cancel_detached(s->conn);
    lc__pg_drop(s);
    return LC_ERR_UNAVAILABLE;
}

static lc_status flush_query(pg_state *s, const char *what, int64_t deadline_ns, lc_error *err)
{
    for (;;) {
        int r = PQflush(s->conn);
        if (r == 0)
            return LC_OK;
        if (r < 0)
            return lost(s, what, err);
        int ev = wait_socket(s, POLLIN | POLLOUT, deadline_ns);
        if (ev == 0)
            return no_answer(s, what, err);
        if (ev < 0 || ((ev & POLLIN) && !PQconsumeInput(s->conn)))
            return lost(s, what, err);
    }
}

static lc_status await_result(pg_state *s, const char *what, int64_t deadline_ns, lc_error *err)
{
    while (PQisBusy(s->conn)) {
        int ev = wait_socket(s, POLLIN, deadline_ns);
        if (ev == 0)
            return no_answer(s, what, err);
        if (ev < 0 || !PQconsumeInput(s->conn))
            return lost(s, what, err);
    }
    return LC_OK;
}

static int failed(const PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    return st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK;
}

/* A failed statement: the SQLSTATE decides the code. */
static lc_status server_error(pg_state *s, const char *what, PGresult *r, lc_error *err)
{
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    char msg[200];
    const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    pg_message(s->cfg->postgres.conninfo, primary && *primary ? primary : PQresultErrorMessage(r),
               msg, sizeof(msg));
    lc_status code = LC_ERR_UNAVAILABLE;
    if (state && (strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0))
        code = LC_ERR_TIMEOUT; /* statement_timeout, lock_timeout */
    if (state && (strcmp(state, "42P01") == 0 || strcmp(state, "3F000") == 0)) {
        s->schema_ok = 0; /* dropped under us: check (and maybe create) again */
        code = LC_ERR_CONFIG;
    }
    if (state)
        lc__err(err, code, 0, "%s: %s: %s (SQLSTATE %s)", s->where, what, msg, state);
    else
        lc__err(err, code, 0, "%s: %s: %s", s->where, what, msg);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        lc__pg_drop(s); /* ended mid-statement (terminated, shut down) */
        s->broke = 1 + s->sent;
    }
    return code;
}

/* Reads every result of the statement; keeps the first error, else the
 * last result. */
static lc_status collect(pg_state *s, const char *what, int64_t deadline_ns, PGresult **out,
                         lc_error *err)
{
    PGresult *keep = NULL, *r;
    lc_status rc;
    for (;;) {
        if ((rc = await_result(s, what, deadline_ns, err)) != LC_OK) {
            PQclear(keep);
            return rc;
        }
        if ((r = PQgetResult(s->conn)) == NULL)
            break;
        if (keep == NULL || (failed(r) && !failed(keep))) {
            PQclear(keep);
            keep = r;
        } else if (failed(keep)) {
            PQclear(r);
        } else {
            PQclear(keep);
            keep = r;
        }
    }
    if (keep == NULL)
        return lc__err(err, LC_ERR_INTERNAL, 0, "%s: %s: no result", s->where, what);
    if (failed(keep)) {
        rc = server_error(s, what, keep, err);
        PQclear(keep);
        return rc;
    }
    *out = keep;
    return LC_OK;
}

/* Prepares the lock statement of `slot` on this connection, once: after
 * that every call is one Bind/Execute, with no parsing or planning. */
static lc_status prepare(pg_state *s, int slot, const char *what, const char *sql, int n,
                         char *name, size_t name_size, int64_t deadline_ns, lc_error *err)
{
    snprintf(name, name_size, "lockcoord_%d", slot);
    if (s->prepared & (1u << slot))
        return LC_OK;
    if (!PQsendPrepare(s->conn, name, sql, n, NULL))
        return lost(s, what, err);
    PGresult *r = NULL;
    lc_status rc = flush_query(s, what, deadline_ns, err);
    if (rc == LC_OK)
        rc = collect(s, what, deadline_ns, &r, err);
    PQclear(r);
    if (rc == LC_OK)
        s->prepared |= 1u << slot;
    return rc;
}

static lc_status exec_once(pg_state *s, const char *what, const char *sql, int n,
                           const char *const *params, PGresult **out, lc_error *err)
{
    s->sent = 0;
    lc_status rc = lc__pg_connect(s, err);
    s->broke = 0; /* a failed connect is not retried */
    if (rc != LC_OK)
        return rc;
    int64_t deadline_ns = lc__add_sat(lc__mono_ns(NULL), lc__ms_to_ns(s->deadline_ms));
    int slot = lc__pg_stmt_slot(s, sql);
    int sent;
    if (slot >= 0) {
        char name[32];
        rc = prepare(s, slot, what, sql, n, name, sizeof(name), deadline_ns, err);
        if (rc != LC_OK)
            return rc;
        sent = PQsendQueryPrepared(s->conn, name, n, params, NULL, NULL, 0);
    } else {
        sent = PQsendQueryParams(s->conn, sql, n, NULL, params, NULL, NULL, 0);
    }
    if (!sent)
        return lost(s, what, err);
    s->requests++;
    /* Until the flush is complete the Sync that commits it has not been
     * sent: a break before then leaves nothing done. */
    if ((rc = flush_query(s, what, deadline_ns, err)) != LC_OK)
        return rc;
    s->sent = 1;
    return collect(s, what, deadline_ns, out, err);
}

/* Whether a lock statement runs twice as it runs once (see pg_int.h). */
static int repeatable(const pg_state *s, const char *sql)
{
    return sql != s->sql.release && sql != s->sql.force_release && sql != s->sql.record_run;
}

lc_status lc__pg_exec(pg_state *s, const char *what, const char *sql, int n,
                      const char *const *params, PGresult **out, lc_error *err)
{
    lc_status rc = exec_once(s, what, sql, n, params, out, err);
    /* Only lock statements: the schema statements run under a session's
     * advisory lock, which a new connection would not hold. */
    if (rc != LC_ERR_UNAVAILABLE || s->broke == 0 || lc__pg_stmt_slot(s, sql) < 0 ||
        (s->broke == 2 && !repeatable(s, sql)))
        return rc;
    lc__log(s->log, s->log_ctx, LC_LOG_DEBUG, "%s; sending it again", err ? err->message : what);
    return exec_once(s, what, sql, n, params, out, err);
}

lc_status lc__pg_run(pg_state *s, const char *what, const char *sql, int n,
                     const char *const *params, lc_error *err)
{
    PGresult *r = NULL;
    lc_status rc = lc__pg_exec(s, what, sql, n, params, &r, err);
    PQclear(r);
    return rc;
}

/* Exported for postgres.c's open: the statement deadline. */
int64_t lc__pg_deadline_ms(const lc_config *cfg)
{
    int64_t st = cfg->postgres.statement_timeout_ms;
    return st > 0 ? st + DEADLINE_MARGIN_MS : DEADLINE_DEFAULT_MS;
}
