/* sync/run.c -- one run of a job, on a thread of its own: its attempts
 * (an http request, or a command), retries with backoff under the same
 * lease, the checkpoint, and the run's end: released with its record, or,
 * when the lease was lost, recorded without touching the new holder.
 *
 * The run stops early when its stop fd becomes readable: the keeper
 * declared the lease lost (sync/engine.c's on_loss) or the shutdown grace
 * ran out. An http transfer is aborted at once; a command gets SIGTERM
 * and, after its kill grace, SIGKILL. */
#include "sync/engine_int.h"

#include "core/error_int.h"
#include "core/thread_int.h"
#include "sync/http_job_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* What one attempt, or the whole run, came to. */
typedef struct attempt {
    lc_outcome outcome;
    int aborted; /* stopped by the stop fd: the run's stop_why says why */
    int http_status;
    int has_exit;
    int exit_code;
    char *new_checkpoint; /* malloc'd */
    char error[LC_ERROR_MAX + 1];
} attempt;

int64_t lc__sync_server_now(const lc__sync_run *run)
{
    return run->claim_server_ms + (lc__sync_now_ns() - run->claim_mono_ns) / 1000000;
}

static int stop_why(const lc__sync_run *run)
{
    pthread_mutex_lock(&run->s->mu);
    int why = run->stop_why;
    pthread_mutex_unlock(&run->s->mu);
    return why;
}

static void http_attempt(lc__sync_run *run, attempt *a)
{
    const lc_job *job = run->sj->job;
    lc__http_vars v = {job->lock, lc_lease_fence(run->lease), lc_lease_checkpoint(run->lease),
                       run->slot};
    lc__http_result res;
    lc_error e;
    if (lc__http_run(job->http, &v, job->timeout_ms, run->stop_fd, &res, &e) != LC_OK &&
        res.error[0] == '\0')
        lc__strlcpy(res.error, e.message, sizeof(res.error));
    a->http_status = res.http_status;
    switch (res.outcome) {
    case LC__HTTP_OK: a->outcome = LC_OUTCOME_OK; break;
    case LC__HTTP_TIMEOUT: a->outcome = LC_OUTCOME_TIMEOUT; break;
    case LC__HTTP_ABORTED: a->aborted = 1; /* fall through */
    default: a->outcome = LC_OUTCOME_FAILED; break;
    }
    lc__strlcpy(a->error, res.error, sizeof(a->error));
    a->new_checkpoint = res.new_checkpoint;
    res.new_checkpoint = NULL;
    lc__http_result_clear(&res);
}

/* The command under the run's lease, kept by the engine's keeper: the
 * LOCKCOORD_* environment (plus LOCKCOORD_JOB and LOCKCOORD_SLOT), its own
 * process group, SIGTERM then SIGKILL after the kill grace on a loss, the
 * timeout or the stop fd. */
static void exec_attempt(lc__sync_run *run, attempt *a)
{
    const lc_job *job = run->sj->job;
    char job_var[LC_NAME_MAX + 16], slot_var[64];
    snprintf(job_var, sizeof(job_var), "LOCKCOORD_JOB=%s", job->name);
    snprintf(slot_var, sizeof(slot_var), "LOCKCOORD_SLOT=%s", run->slot);
    const char *env[] = {job_var, slot_var, NULL};
    lc_run_opts o;
    memset(&o, 0, sizeof(o));
    o.timing.kill_grace_ms = job->kill_grace_ms;
    o.timing.kill_grace_set = 1;
    o.timeout_ms = job->timeout_ms;
    o.stop_fd = run->stop_fd;
    o.env = env;
    lc_run_report rep;
    lc_error e;
    lc_status rc = lc_run_under(run->s->keeper, run->lease, job->exec, &o, &rep, &e);
    a->has_exit = rep.exit_code >= 0;
    a->exit_code = rep.exit_code;
    lc__strlcpy(a->error, rep.error[0] ? rep.error : e.message, sizeof(a->error));
    a->outcome = LC_OUTCOME_FAILED;
    if (rc == LC_ERR_LOST || rc == LC_ERR_CANCELLED) {
        a->aborted = 1; /* never started: the stop fd or the keeper says why */
        return;
    }
    if (rc != LC_OK)
        return;
    switch (rep.outcome) {
    case LC_RUN_DONE: a->outcome = LC_OUTCOME_OK; break;
    case LC_RUN_TIMEOUT: a->outcome = LC_OUTCOME_TIMEOUT; break;
    case LC_RUN_LOST:
    case LC_RUN_INTERRUPTED: a->aborted = 1; break;
    default: break;
    }
}

static void one_attempt(lc__sync_run *run, attempt *a)
{
    free(a->new_checkpoint);
    memset(a, 0, sizeof(*a));
    if (run->sj->job->http)
        http_attempt(run, a);
    else
        exec_attempt(run, a);
}

/* Full jitter: uniform in [0, min(ceiling, cap)]. */
static int64_t backoff_ms(const lc_job *job, int failed, int64_t cap)
{
    int64_t ceiling = job->retry_backoff_ms > 0 ? job->retry_backoff_ms : 1000;
    for (int i = 1; i < failed && ceiling < LC_DURATION_MAX_MS / 2; i++)
        ceiling *= 2;
    if (ceiling > cap)
        ceiling = cap;
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = (uint64_t)lc__sync_now_ns();
    return ceiling > 0 ? (int64_t)(r % (uint64_t)(ceiling + 1)) : 0;
}

/* Sleeps ms unless the stop fd wakes it; returns 1 when stopped. */
static int pause_unless_stopped(const lc__sync_run *run, int64_t ms)
{
    int64_t until = lc__sync_now_ns() + ms * 1000000;
    for (;;) {
        int64_t left = (until - lc__sync_now_ns()) / 1000000;
        struct pollfd p = {run->stop_fd, POLLIN, 0};
        int n = poll(&p, 1, left > 0 ? (int)(left > 60000 ? 60000 : left) : 0);
        if (n > 0)
            return 1;
        if (n == 0 && left <= 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return 0;
    }
}

static void emit_retry(lc__sync_run *run, const attempt *a, int n, int64_t delay)
{
    char d[32];
    const lc_job *job = run->sj->job;
    lc_sync_event ev = lc__sync_event(LC_SYNC_RETRY, LC_LOG_WARN, run->sj);
    ev.fence = lc_lease_fence(run->lease);
    ev.slot = run->slot;
    ev.attempt = n;
    ev.delay_ms = delay;
    lc__sync_emit(run->s, &ev, "job %s: attempt %d of %d %s (%s); retrying in %s (fence %llu)",
                  job->name, n, job->retries + 1, lc_outcome_name(a->outcome), a->error,
                  lc_duration_format(delay, d, sizeof(d)), (unsigned long long)ev.fence);
}

/* The attempts: the first, and after each failure another while retries
 * and time before the next slot are left. Returns how many ran. */
static int attempts(lc__sync_run *run, attempt *a)
{
    const lc_job *job = run->sj->job;
    int n = 0;
    for (;;) {
        one_attempt(run, a);
        n++;
        if (a->outcome == LC_OUTCOME_OK || a->aborted || n > job->retries ||
            stop_why(run) != LC__STOP_NONE)
            return n;
        int64_t left = run->due.next_ms - lc__sync_server_now(run);
        if (left <= 0)
            return n; /* the next slot is due: it goes ahead as a run of its own */
        int64_t delay = backoff_ms(job, n, left);
        emit_retry(run, a, n, delay);
        if (pause_unless_stopped(run, delay))
            return n;
    }
}

/* Stores the checkpoint an ok attempt returned, token-checked. */
static void store_checkpoint(lc__sync_run *run, attempt *a)
{
    if (a->outcome != LC_OUTCOME_OK || a->new_checkpoint == NULL)
        return;
    lc_sync *s = run->s;
    lc_error e;
    pthread_mutex_lock(&s->cmu);
    lc_status rc = lc_checkpoint(s->client, run->lease, a->new_checkpoint, &e);
    pthread_mutex_unlock(&s->cmu);
    if (rc == LC_OK)
        return;
    a->outcome = LC_OUTCOME_FAILED;
    snprintf(a->error, sizeof(a->error), "the checkpoint was not stored: %s", e.message);
    if (rc != LC_ERR_LOST) {
        lc__metrics_backend_error(s->metrics, LC__OP_CHECKPOINT, rc);
        return;
    }
    pthread_mutex_lock(&s->mu);
    if (run->stop_why == LC__STOP_NONE) {
        run->stop_why = LC__STOP_LOST;
        lc__strlcpy(run->lost_why, e.message, sizeof(run->lost_why));
    }
    lc__sync_count_loss(run, LC_ERR_LOST);
    pthread_mutex_unlock(&s->mu);
}

/* The run's outcome once the lease's fate is known. */
static void settle(lc__sync_run *run, attempt *a, lc_status kept)
{
    pthread_mutex_lock(&run->s->mu);
    int why = run->stop_why;
    char lost[sizeof(run->lost_why)];
    lc__strlcpy(lost, run->lost_why, sizeof(lost));
    pthread_mutex_unlock(&run->s->mu);
    if (why == LC__STOP_LOST || kept != LC_OK) {
        if (kept != LC_OK) {
            pthread_mutex_lock(&run->s->mu);
            lc__sync_count_loss(run, kept);
            pthread_mutex_unlock(&run->s->mu);
        }
        a->outcome = LC_OUTCOME_LOST;
        snprintf(a->error, sizeof(a->error), "lease lost: %s",
                 lost[0] ? lost : "not renewed in time");
    } else if (why == LC__STOP_SHUTDOWN && a->outcome != LC_OUTCOME_OK) {
        char msg[LC_ERROR_MAX + 1];
        snprintf(msg, sizeof(msg), "interrupted by shutdown%s%s", a->aborted ? "" : ": ",
                 a->aborted ? "" : a->error);
        lc__strlcpy(a->error, msg, sizeof(a->error));
        a->outcome = LC_OUTCOME_INTERRUPTED;
    }
}

/* Gives the lease back with the record, or records a lost run. */
static void finish(lc__sync_run *run, attempt *a, int n, int64_t duration)
{
    lc_sync *s = run->s;
    lc_run_result res = {.has_exit = a->has_exit,
                         .exit_code = a->exit_code,
                         .error = a->outcome == LC_OUTCOME_OK ? NULL : a->error,
                         .outcome = a->outcome,
                         .http_status = a->http_status,
                         .attempts = n,
                         .missed_slots = run->due.missed,
                         .duration_ms = duration > 0 ? duration : 1};
    lc_error e;
    lc_status rc = LC_ERR_LOST;
    pthread_mutex_lock(&s->cmu);
    if (a->outcome != LC_OUTCOME_LOST) {
        /* Text the receiver wrote is escaped before it is stored. */
        char *clean = res.error ? lc_text_escape(res.error) : NULL;
        if (clean)
            res.error = clean;
        rc = lc_release(s->client, run->lease, &res, &e);
        free(clean);
        if (rc != LC_OK && rc != LC_ERR_LOST)
            lc__metrics_backend_error(s->metrics, LC__OP_RELEASE, rc);
    }
    if (rc == LC_ERR_LOST) {
        if (a->outcome != LC_OUTCOME_LOST) {
            pthread_mutex_lock(&s->mu);
            lc__sync_count_loss(run, LC_ERR_LOST);
            pthread_mutex_unlock(&s->mu);
            a->outcome = LC_OUTCOME_LOST;
            snprintf(a->error, sizeof(a->error), "lease lost before the release: %s", e.message);
            res.outcome = LC_OUTCOME_LOST;
            res.error = a->error;
        }
        rc = lc_record_lost(s->client, run->lease, &res, &e);
        if (rc != LC_OK)
            lc__metrics_backend_error(s->metrics, LC__OP_RECORD, rc);
    }
    pthread_mutex_unlock(&s->cmu);
    if (rc != LC_OK) {
        lc_sync_event ev = lc__sync_event(LC_SYNC_FINISH, LC_LOG_WARN, run->sj);
        ev.fence = lc_lease_fence(run->lease);
        lc__sync_emit(s, &ev, "job %s: the run could not be recorded: %s", run->sj->job->name,
                      e.message);
    }
}

static void emit_finish(lc__sync_run *run, const attempt *a, int n, int64_t duration)
{
    char d[32];
    lc_sync_event ev = lc__sync_event(
        LC_SYNC_FINISH, a->outcome == LC_OUTCOME_OK ? LC_LOG_INFO : LC_LOG_WARN, run->sj);
    ev.fence = lc_lease_fence(run->lease);
    ev.slot = run->slot;
    ev.outcome = a->outcome;
    ev.duration_ms = duration;
    ev.attempt = n;
    lc__sync_emit(run->s, &ev, "job %s: %s in %s (fence %llu, %d attempt%s)%s%s",
                  run->sj->job->name, lc_outcome_name(a->outcome),
                  lc_duration_format(duration, d, sizeof(d)), (unsigned long long)ev.fence, n,
                  n == 1 ? "" : "s", a->outcome == LC_OUTCOME_OK ? "" : ": ",
                  a->outcome == LC_OUTCOME_OK ? "" : a->error);
}

static void *run_main(void *arg)
{
    lc__sync_run *run = arg;
    lc_sync *s = run->s;
    attempt a;
    memset(&a, 0, sizeof(a));
    int n = attempts(run, &a);
    store_checkpoint(run, &a);
    lc_status kept = lc_keeper_remove(s->keeper, run->lease);
    settle(run, &a, kept);
    int64_t duration = (lc__sync_now_ns() - run->started_ns) / 1000000;
    finish(run, &a, n, duration);
    emit_finish(run, &a, n, duration);
    lc__metrics_run(s->metrics, run->sj->index, a.outcome, duration,
                    a.outcome == LC_OUTCOME_OK ? lc__sync_server_now(run) : -1);
    lc__metrics_running(s->metrics, run->sj->index, -1);
    free(a.new_checkpoint);
    pthread_mutex_lock(&s->mu);
    if (a.outcome == LC_OUTCOME_OK)
        s->sum.ok++;
    else
        s->sum.failed++;
    run->done = 1;
    pthread_mutex_unlock(&s->mu);
    lc__sync_wake(s);
    return NULL;
}

static void emit_start(lc__sync_run *run)
{
    lc_sync_event ev = lc__sync_event(LC_SYNC_START, LC_LOG_INFO, run->sj);
    ev.fence = lc_lease_fence(run->lease);
    ev.slot = run->slot;
    ev.attempt = 1;
    ev.missed = run->due.missed;
    char missed[48] = "";
    if (run->due.missed > 0)
        snprintf(missed, sizeof(missed), ", %d missed slot%s", run->due.missed,
                 run->due.missed == 1 ? "" : "s");
    lc__sync_emit(run->s, &ev, "job %s: started (fence %llu, slot %s%s)", run->sj->job->name,
                  (unsigned long long)ev.fence, run->slot, missed);
}

lc_status lc__sync_run_start(lc__sync_run *run, lc_error *err)
{
    emit_start(run);
    int e = lc__thread_start(&run->thread, NULL, run_main, run);
    if (e != 0)
        return lc__err(err, LC_ERR_INTERNAL, e, "job %s: cannot start a thread: %s",
                       run->sj->job->name, strerror(e));
    return LC_OK;
}
