/* backends/postgres/notify.c -- waking waiters at once: release and
 * force_release NOTIFY the channel <table>_released with the lock name as
 * payload; a waiting acquire LISTENs on it and polls its socket. */
#include "backends/postgres/pg_int.h"
#include "core/clock_int.h"
#include "core/error_int.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

static int is_watched(const pg_state *s, const char *name)
{
    for (size_t i = 0; i < s->n_watched; i++)
        if (strcmp(s->watched[i], name) == 0)
            return 1;
    return 0;
}

/* Takes every queued notification; 1 if one named a watched lock. */
static int drain(pg_state *s)
{
    int hit = 0;
    PGnotify *n;
    while (s->conn && (n = PQnotifies(s->conn)) != NULL) {
        if (strcmp(n->relname, s->channel) == 0 && is_watched(s, n->extra))
            hit = 1;
        PQfreemem(n);
    }
    return hit;
}

lc_status lc__pg_watch(void *state, const char *name, lc_error *err)
{
    pg_state *s = state;
    if (!is_watched(s, name)) {
        char *copy = strdup(name);
        char **grown = copy ? realloc(s->watched, (s->n_watched + 1) * sizeof(*grown)) : NULL;
        if (grown == NULL) {
            free(copy);
            return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
        }
        s->watched = grown;
        s->watched[s->n_watched++] = copy;
    }
    if (s->conn && s->listening)
        return LC_OK;
    /* Connecting with names watched sends the LISTEN (see conn.c). */
    lc_status rc = lc__pg_connect(s, err);
    if (rc == LC_OK && !s->listening)
        rc = lc__pg_run(s, "listen", s->sql.listen, 0, NULL, err);
    if (rc == LC_OK)
        s->listening = 1;
    return rc;
}

lc_status lc__pg_wait(void *state, int64_t timeout_ms, int *notified, lc_error *err)
{
    pg_state *s = state;
    int64_t deadline_ns = lc__add_sat(lc__mono_ns(NULL), lc__ms_to_ns(timeout_ms));
    *notified = 0;
    if (!s->conn || !s->listening) {
        lc_status rc = s->n_watched ? lc__pg_connect(s, err) : LC_OK;
        if (rc != LC_OK)
            return rc;
    }
    while (!(*notified = drain(s))) {
        int64_t left_ms = (deadline_ns - lc__mono_ns(NULL) + 999999) / 1000000;
        if (left_ms <= 0 || s->conn == NULL)
            break;
        struct pollfd p = {PQsocket(s->conn), POLLIN, 0};
        int r = poll(&p, 1, left_ms > INT_MAX ? INT_MAX : (int)left_ms);
        if (r < 0 && errno != EINTR)
            return lc__err(err, LC_ERR_INTERNAL, errno, "%s: poll: %s", s->where, strerror(errno));
        if (r > 0 && !PQconsumeInput(s->conn)) {
            lc__err(err, LC_ERR_UNAVAILABLE, 0, "%s: waiting for a release: connection lost",
                    s->where);
            lc__pg_drop(s);
            return LC_ERR_UNAVAILABLE;
        }
    }
    return LC_OK;
}

static void forget_names(pg_state *s)
{
    for (size_t i = 0; i < s->n_watched; i++)
        free(s->watched[i]);
    s->n_watched = 0;
}

void lc__pg_unwatch(void *state)
{
    pg_state *s = state;
    forget_names(s);
    /* Only on a live connection: a dead one has forgotten its LISTEN. */
    if (s->conn && s->listening && PQstatus(s->conn) == CONNECTION_OK)
        lc__pg_run(s, "unlisten", "UNLISTEN *", 0, NULL, NULL);
    s->listening = 0;
    drain(s);
}

void lc__pg_watch_free(pg_state *s)
{
    forget_names(s);
    free(s->watched);
    s->watched = NULL;
}
