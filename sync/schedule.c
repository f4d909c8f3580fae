/* sync/schedule.c -- slots and due times of a job on the backend server's
 * clock. The rules are at the top of sync/schedule_int.h. */
#include "sync/schedule_int.h"

#include "core/error_int.h"

#include <string.h>

/* The cron of a test-mode schedule runs on a scaled clock: server time t
 * is cron time BASE + (t - BASE) * 60000 / minute_ms. BASE keeps the
 * scaled times within the years cron handles; it is fixed, so every node
 * scales alike. */
#define SCALE_BASE_MS 1735689600000LL /* 2025-01-01T00:00:00Z */
/* Missed slots are counted up to this many. */
#define MISSED_MAX 100000

int64_t lc__schedule_offset(const char *name, int64_t jitter_ms)
{
    if (jitter_ms <= 0)
        return 0;
    uint64_t h = 14695981039346656037ULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return (int64_t)(h % (uint64_t)jitter_ms);
}

lc_status lc__schedule_init(lc__schedule *s, const lc_job *job, int64_t minute_ms, lc_error *err)
{
    memset(s, 0, sizeof(*s));
    s->every_ms = job->every_ms;
    s->minute_ms = minute_ms > 0 && minute_ms != 60000 ? minute_ms : 0;
    s->offset_ms = lc__schedule_offset(job->name, job->jitter_ms);
    if (job->cron) {
        s->every_ms = 0;
        lc_status rc = lc__cron_parse(job->cron, &s->cron, err);
        if (rc != LC_OK) {
            lc__err_prefix(err, "job '%s': cron", job->name);
            if (err)
                err->code = LC_ERR_CONFIG;
            return LC_ERR_CONFIG;
        }
        return LC_OK;
    }
    if (s->every_ms <= 0)
        return lc__err(err, LC_ERR_CONFIG, 0, "job '%s' has no schedule (every or cron)",
                       job->name);
    return LC_OK;
}

int64_t lc__schedule_period_ms(const lc__schedule *s)
{
    if (s->every_ms > 0)
        return s->every_ms;
    int64_t gap = lc__cron_min_gap_ms(&s->cron);
    return gap > 0 && s->minute_ms ? gap / 60000 * s->minute_ms : gap;
}

/* Server time to cron time and back (the identity outside test mode). */
static int64_t to_cron(const lc__schedule *s, int64_t t)
{
    if (!s->minute_ms || t < 0)
        return t;
    return SCALE_BASE_MS + (t - SCALE_BASE_MS) * 60000 / s->minute_ms;
}

static int64_t from_cron(const lc__schedule *s, int64_t c)
{
    if (!s->minute_ms || c < 0)
        return c;
    int64_t d = c - SCALE_BASE_MS;
    /* Rounded up, so the server time maps back to the same fire time. */
    return SCALE_BASE_MS + (d * s->minute_ms + 59999) / 60000;
}

/* The latest fire time at or before server time t, in server time. */
static int64_t fire_at_or_before(const lc__schedule *s, int64_t t)
{
    int64_t c = lc__cron_prev(&s->cron, to_cron(s, t));
    return c < 0 ? -1 : from_cron(s, c);
}

/* The first fire time after server time t, in server time. */
static int64_t fire_after(const lc__schedule *s, int64_t t)
{
    int64_t c = lc__cron_next(&s->cron, to_cron(s, t));
    return c < 0 ? -1 : from_cron(s, c);
}

static void check_every(const lc__schedule *s, int64_t last, int64_t now, int force, lc__due *out)
{
    int64_t d = s->every_ms;
    if (last < 0) {
        out->due = 1;
        out->due_at_ms = out->slot_ms = now;
        out->next_ms = now + d + s->offset_ms;
        return;
    }
    out->due_at_ms = out->slot_ms = last + d + s->offset_ms;
    out->due = force || now >= out->due_at_ms;
    if (!out->due) {
        out->next_ms = out->due_at_ms;
        return;
    }
    if (now < out->slot_ms) /* forced early: the run is its own slot */
        out->slot_ms = now;
    int64_t behind = (now - (last + s->offset_ms)) / d - 1;
    out->missed = behind > MISSED_MAX ? MISSED_MAX : behind > 0 ? (int)behind : 0;
    out->slot_ms += behind > 0 ? behind * d : 0; /* the slot now under way */
    out->next_ms = now + d + s->offset_ms;
}

/* Fire times strictly between a and b (a < b), up to MISSED_MAX. */
static int count_fires(const lc__schedule *s, int64_t a, int64_t b)
{
    int n = 0;
    for (int64_t f = fire_after(s, a); f >= 0 && f < b && n < MISSED_MAX; f = fire_after(s, f))
        n++;
    return n;
}

static void check_cron(const lc__schedule *s, int64_t last, int64_t now, int force, lc__due *out)
{
    /* The slot that began last: its fire time F with F + offset <= now. */
    int64_t f = fire_at_or_before(s, now - s->offset_ms);
    int64_t next = fire_after(s, f >= 0 ? f : now - s->offset_ms);
    if (f >= 0 && (last < 0 || last < f)) {
        out->due = 1;
        out->slot_ms = f;
        out->due_at_ms = f + s->offset_ms;
        out->missed = last < 0 ? 0 : count_fires(s, last, f);
    } else {
        out->due = force;
        out->slot_ms = force ? (f >= 0 ? f : now) : next;
        out->due_at_ms = force ? now : next + s->offset_ms;
    }
    out->next_ms = next >= 0 ? next + s->offset_ms : -1;
}

void lc__schedule_check(const lc__schedule *s, int64_t last, int64_t now, int force, lc__due *out)
{
    memset(out, 0, sizeof(*out));
    if (s->every_ms > 0)
        check_every(s, last, now, force, out);
    else
        check_cron(s, last, now, force, out);
}

/* When a job whose last run started at `last` is next due at `now`. */
static int64_t next_due(const lc__schedule *s, int64_t last, int64_t now)
{
    lc__due d;
    lc__schedule_check(s, last, now, 0, &d);
    return d.due ? d.due_at_ms : d.next_ms;
}

/* Since when no run succeeded for two slots (the run due after the last
 * success and the one after it both failed or never came), or -1. A job
 * that never succeeded counts from its second failure, known only as its
 * last completed run. */
static int64_t two_slots_missed_since(const lc__schedule *s, const lc_lock_info *i)
{
    int64_t now = i->server_now_ms;
    if (i->last_success_at_ms <= 0) {
        if (i->consecutive_failures < 2)
            return -1;
        return i->last_completed_at_ms > 0 ? i->last_completed_at_ms : now;
    }
    int64_t first = next_due(s, i->last_success_at_ms, now);
    int64_t second = first >= 0 ? next_due(s, first, now) : -1;
    return second >= 0 && now > second ? second : -1;
}

void lc__schedule_due(const lc__schedule *s, const lc_lock_info *i, lc_job_due *out)
{
    int64_t now = i->server_now_ms;
    out->due_at_ms = next_due(s, i->last_started_at_ms, now);
    out->overdue = 0;
    out->overdue_since_ms = -1;
    if (i->held)
        return;
    int64_t period = s->every_ms > 0 ? s->every_ms : next_due(s, now, now) - now;
    int64_t late = now - out->due_at_ms, since = -1;
    if (late > 0 && late > period)
        since = out->due_at_ms + period;
    int64_t missed = two_slots_missed_since(s, i);
    if (missed >= 0 && (since < 0 || missed < since))
        since = missed;
    out->overdue = since >= 0;
    out->overdue_since_ms = since;
}

lc_status lc_job_check_due(const lc_job *job, const lc_lock_info *info, lc_job_due *out,
                           lc_error *err)
{
    if (info->server_now_ms <= 0)
        return lc__err(err, LC_ERR_INVALID, 0, "lock '%s': the backend's time is not known",
                       info->name);
    lc__schedule s;
    lc_status rc = lc__schedule_init(&s, job, 0, err);
    if (rc == LC_OK)
        lc__schedule_due(&s, info, out);
    return rc;
}

lc_status lc_job_next_due(const lc_job *job, int64_t last_started_at_ms, int64_t now_ms,
                          int64_t *due_at_ms, lc_error *err)
{
    lc__schedule s;
    lc_status rc = lc__schedule_init(&s, job, 0, err);
    if (rc != LC_OK)
        return rc;
    lc__due d;
    lc__schedule_check(&s, last_started_at_ms, now_ms, 0, &d);
    *due_at_ms = d.due ? d.due_at_ms : d.next_ms;
    return LC_OK;
}
