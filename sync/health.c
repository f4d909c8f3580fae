/* sync/health.c -- what an operator's monitor asks a running engine: its
 * metrics (sync/metrics.c), and whether it is healthy: the backend answers
 * now, and none of its jobs is overdue by the rule `status --check` uses
 * (lc_job_check_due, on the engine's own schedules).
 *
 * The check asks the backend itself, on a client of its own, so it is
 * never queued behind the engine's calls and a frozen server shows within
 * the client's timeouts. It runs at most once per HEALTH_REUSE_MS: callers
 * meanwhile get the last result, and callers that come while a check is
 * under way wait for it (hmu) and share it, so a flood of health requests
 * costs the backend one check a second. */
#include "sync/engine_int.h"

#include "core/error_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define HEALTH_REUSE_MS 1000

lc_status lc_sync_metrics(lc_sync *s, char **out, size_t *len, lc_error *err)
{
    return lc__metrics_render(s->metrics, out, len, err);
}

void lc__sync_health_close(lc_sync *s)
{
    lc_client_close(s->hclient);
    s->hclient = NULL;
}

/* The check's client, opened now if need be (without the log hook: the
 * engine's client already says what the server is like, and the check
 * reports what it finds itself). */
static lc_status health_client(lc_sync *s, lc_error *err)
{
    if (s->hclient)
        return LC_OK;
    lc_client_opts o;
    memset(&o, 0, sizeof(o));
    if (s->copts) {
        o = *s->copts;
        o.log = NULL;
        o.log_ctx = NULL;
    }
    return lc_client_open(s->cfg, &o, &s->hclient, err);
}

/* Appends "; " and the formatted text to r->reason, as far as it fits. */
static void add_reason(lc_sync_health_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add_reason(lc_sync_health_report *r, const char *fmt, ...)
{
    size_t used = strlen(r->reason);
    if (used > 0 && used + 2 < sizeof(r->reason)) {
        memcpy(r->reason + used, "; ", 3);
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason + used, sizeof(r->reason) - used, fmt, ap);
    va_end(ap);
}

/* One job: its lock read now, overdue by its schedule unless paused (a
 * pause is on purpose). Returns 0 when the backend did not answer. */
static int check_job(lc_sync *s, const lc__sync_job *sj, lc_sync_health_report *r)
{
    lc_lock_info info;
    lc_error e;
    lc_status rc = lc_inspect(s->hclient, sj->job->lock, &info, &e);
    if (rc != LC_OK) {
        lc__metrics_backend_error(s->metrics, LC__OP_HEALTH, rc);
        r->backend_ok = 0;
        snprintf(r->reason, sizeof(r->reason), "backend unavailable: %s", e.message);
        return 0;
    }
    lc_job_due d;
    r->checked_at_ms = info.server_now_ms;
    if (info.server_now_ms > 0 && !info.paused) {
        lc__schedule_due(&sj->sched, &info, &d);
        if (d.overdue) {
            char t[40];
            r->overdue++;
            add_reason(r, "job %s overdue since %s", sj->job->name,
                       lc_time_format(d.overdue_since_ms, t, sizeof(t)));
        }
    }
    lc_lock_info_clear(&info);
    return 1;
}

static void check_now(lc_sync *s, lc_sync_health_report *r)
{
    lc_error e;
    memset(r, 0, sizeof(*r));
    r->backend_ok = 1;
    r->checked_at_ms = -1;
    r->jobs = s->n;
    if (health_client(s, &e) != LC_OK) {
        lc__metrics_backend_error(s->metrics, LC__OP_HEALTH, e.code);
        r->backend_ok = 0;
        snprintf(r->reason, sizeof(r->reason), "backend unavailable: %s", e.message);
        return;
    }
    for (size_t i = 0; i < s->n; i++)
        if (!check_job(s, &s->jobs[i], r))
            return;
}

lc_status lc_sync_check_health(lc_sync *s, lc_sync_health_report *out, lc_error *err)
{
    (void)err;
    pthread_mutex_lock(&s->hmu);
    int64_t now = lc__sync_now_ns();
    if (s->health_at_ns == 0 || now - s->health_at_ns >= (int64_t)HEALTH_REUSE_MS * 1000000) {
        check_now(s, &s->health);
        s->health.ok = s->health.backend_ok && s->health.overdue == 0;
        s->health_at_ns = lc__sync_now_ns();
    }
    *out = s->health;
    pthread_mutex_unlock(&s->hmu);
    return LC_OK;
}
