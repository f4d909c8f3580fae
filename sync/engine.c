/* sync/engine.c -- the job engine's scheduler: it claims each job when its
 * schedule says so, decides on the backend's clock whether the job is due,
 * and hands a due job to a run thread (sync/run.c); it stops everything on
 * shutdown.
 *
 * A claim is one backend round trip: the lease is taken without marking a
 * run started, and the grant carries the server's clock and the last
 * run's start. A job that is not due (another node ran the slot, or this
 * node woke early) is given back unrecorded and checked again when it
 * will be due. A job held elsewhere is checked again after its interval
 * or its ttl, whichever is shorter: by then the holder's run has either
 * been recorded or its lease has lapsed. Only a due job is marked started
 * (token-checked) and run, so no slot runs twice, whatever the nodes'
 * clocks say and however often they restart. */
#include "sync/engine_int.h"

#include "core/clock_int.h"
#include "core/error_int.h"
#include "core/keeper_int.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

int64_t lc__sync_now_ns(void)
{
    return lc__mono_ns(NULL);
}

void lc__sync_wake(lc_sync *s)
{
    uint64_t one = 1;
    ssize_t w = write(s->wake_fd, &one, sizeof(one));
    (void)w; /* a full counter is still readable */
}

lc_sync_event lc__sync_event(lc_sync_event_kind kind, lc_log_level level, const lc__sync_job *sj)
{
    lc_sync_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    ev.level = level;
    ev.job = sj ? sj->job->name : "";
    ev.lock = sj ? sj->job->lock : "";
    ev.slot = "";
    ev.reason = "";
    ev.duration_ms = -1;
    ev.delay_ms = -1;
    return ev;
}

void lc__sync_emit(lc_sync *s, lc_sync_event *ev, const char *fmt, ...)
{
    if (s->on_event == NULL)
        return;
    char msg[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ev->message = msg;
    s->on_event(s->event_ctx, ev);
}

/* ------------------------------------------------------------------------ */
/* Open, stop, close                                                        */
/* ------------------------------------------------------------------------ */

void lc__sync_count_loss(lc__sync_run *run, lc_status how)
{
    if (run->loss_counted)
        return;
    run->loss_counted = 1;
    lc__loss why = how == LC_ERR_UNAVAILABLE ? LC__LOSS_BACKEND_UNREACHABLE
                   : how == LC_ERR_TIMEOUT   ? LC__LOSS_PROCESS_STALLED
                                             : LC__LOSS_NOT_HELD;
    lc__metrics_lost(run->s->metrics, run->sj->index, why);
}

/* The keeper's loss callback: the run of that lock stops at once. */
static void on_loss(void *ctx, const char *lock_name, const char *reason)
{
    lc_sync *s = ctx;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        lc__sync_run *run = s->jobs[i].run;
        if (run == NULL || strcmp(lc_lease_name(run->lease), lock_name) != 0)
            continue;
        if (run->stop_why != LC__STOP_LOST) {
            run->stop_why = LC__STOP_LOST;
            lc__strlcpy(run->lost_why, reason, sizeof(run->lost_why));
        }
        lc__sync_count_loss(run, lc_keeper_lost(s->keeper, run->lease, NULL, 0));
        uint64_t one = 1;
        ssize_t w = write(run->stop_fd, &one, sizeof(one));
        (void)w;
        lc_sync_event ev = lc__sync_event(LC_SYNC_LOST, LC_LOG_ERROR, run->sj);
        ev.fence = lc_lease_fence(run->lease);
        ev.slot = run->slot;
        lc__sync_emit(s, &ev, "job %s: lease lost (fence %llu): %s; stopping the run",
                      run->sj->job->name, (unsigned long long)ev.fence, reason);
    }
    pthread_mutex_unlock(&s->mu);
}

static const lc_job *find_job(const lc_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_jobs; i++)
        if (strcmp(cfg->jobs[i].name, name) == 0)
            return &cfg->jobs[i];
    return NULL;
}

/* The jobs to run: those named in opts (each once), else all. */
static lc_status pick_jobs(lc_sync *s, const lc_sync_opts *o, int64_t minute_ms, lc_error *err)
{
    const lc_config *cfg = s->cfg;
    size_t want = o->jobs ? o->n_jobs : cfg->n_jobs;
    if (cfg->n_jobs == 0)
        return lc__err(err, LC_ERR_CONFIG, 0, "%s: no jobs configured",
                       cfg->path ? cfg->path : "config");
    s->jobs = calloc(want ? want : 1, sizeof(*s->jobs));
    if (s->jobs == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    for (size_t i = 0; i < want; i++) {
        const lc_job *job = o->jobs ? find_job(cfg, o->jobs[i]) : &cfg->jobs[i];
        if (job == NULL)
            return lc__err(err, LC_ERR_CONFIG, 0, "no job named '%s' in %s", o->jobs[i],
                           cfg->path ? cfg->path : "the config");
        int dup = 0;
        for (size_t k = 0; k < s->n; k++)
            dup |= s->jobs[k].job == job;
        if (dup)
            continue;
        lc__sync_job *sj = &s->jobs[s->n];
        sj->job = job;
        sj->index = s->n;
        lc_status rc = lc__schedule_init(&sj->sched, job, minute_ms, err);
        if (rc != LC_OK)
            return rc;
        s->n++;
    }
    return LC_OK;
}

/* One keeper renews every job's lease: at the shortest renew_every, which
 * is below half of every job's ttl. */
static int64_t keeper_period(const lc_sync *s)
{
    int64_t p = 0;
    for (size_t i = 0; i < s->n; i++) {
        int64_t r = s->jobs[i].job->renew_every_ms;
        if (r > 0 && (p == 0 || r < p))
            p = r;
    }
    return p;
}

/* The keeper's round hook: renewals and their latency. */
static void on_round(void *ctx, size_t leases, int64_t took_ns, lc_status rc)
{
    lc_sync *s = ctx;
    lc__metrics_renewal(s->metrics, leases, took_ns);
    if (rc != LC_OK)
        lc__metrics_backend_error(s->metrics, LC__OP_RENEW, rc);
}

/* The metrics registry, with a series for each job. */
static lc_status open_metrics(lc_sync *s, lc_error *err)
{
    const char **names = calloc(s->n ? s->n : 1, sizeof(*names));
    if (names)
        for (size_t i = 0; i < s->n; i++)
            names[i] = s->jobs[i].job->name;
    s->metrics = names ? lc__metrics_new(names, s->n) : NULL;
    free(names);
    return s->metrics ? LC_OK : lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
}

static void sync_free(lc_sync *s)
{
    lc_keeper_stop(s->keeper);
    lc_client_close(s->client);
    lc__sync_health_close(s);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->cmu);
    pthread_mutex_destroy(&s->hmu);
    lc__metrics_free(s->metrics);
    free(s->jobs);
    free(s);
}

lc_status lc_sync_open(const lc_config *cfg, const lc_client_opts *copts, const lc_sync_opts *opts,
                       lc_sync **out, lc_error *err)
{
    static const lc_sync_opts none;
    if (opts == NULL)
        opts = &none;
    if (opts->test_minute_ms != 0 && opts->test_minute_ms < 100)
        return lc__err(err, LC_ERR_INVALID, 0, "test minute: at least 100ms");
    lc_sync *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    s->cfg = cfg;
    s->once = opts->once;
    s->now = opts->now;
    s->grace_ms = opts->shutdown_grace_set ? opts->shutdown_grace_ms : cfg->sync.shutdown_grace_ms;
    if (s->grace_ms < 0)
        s->grace_ms = 0;
    s->on_event = opts->on_event;
    s->event_ctx = opts->event_ctx;
    s->copts = copts;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->cmu, NULL);
    pthread_mutex_init(&s->hmu, NULL);
    atomic_init(&s->stop_req, 0);
    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    lc_status rc = s->wake_fd < 0
                       ? lc__err(err, LC_ERR_INTERNAL, errno, "eventfd: %s", strerror(errno))
                       : pick_jobs(s, opts, opts->test_minute_ms, err);
    if (rc == LC_OK)
        rc = open_metrics(s, err);
    if (rc == LC_OK)
        rc = lc_client_open(cfg, copts, &s->client, err);
    if (rc == LC_OK) {
        lc_keeper_opts ko = {.renew_every_ms = keeper_period(s), .on_loss = on_loss, .loss_ctx = s};
        rc = lc_keeper_start(cfg, copts, &ko, &s->keeper, err);
    }
    if (rc == LC_OK)
        lc__keeper_on_round(s->keeper, on_round, s);
    if (rc != LC_OK) {
        sync_free(s);
        return rc;
    }
    *out = s;
    return LC_OK;
}

void lc_sync_stop(lc_sync *s, int at_once)
{
    /* Only an atomic and a write(2): safe in a signal handler. */
    int prev = atomic_fetch_add(&s->stop_req, 1);
    if (at_once || prev > 0)
        atomic_store(&s->stop_req, 2);
    lc__sync_wake(s);
}

void lc_sync_close(lc_sync *s)
{
    if (s)
        sync_free(s);
}

/* ------------------------------------------------------------------------ */
/* Claims                                                                   */
/* ------------------------------------------------------------------------ */

/* How long until a job held elsewhere, or a failed claim, is tried again:
 * its interval (or the shortest gap between its fire times), at most its
 * ttl -- by then the holder has recorded its run or its lease lapsed. */
static int64_t recheck_ms(const lc__sync_job *sj)
{
    int64_t period = lc__schedule_period_ms(&sj->sched);
    int64_t ttl = sj->job->ttl_ms;
    int64_t ms = period > 0 && period < ttl ? period : ttl;
    return ms < 50 ? 50 : ms;
}

static void count(lc_sync *s, unsigned *counter)
{
    pthread_mutex_lock(&s->mu);
    (*counter)++;
    pthread_mutex_unlock(&s->mu);
}

/* A check that ran nothing: `op` is the backend call that failed
 * (LC__OP_N: none did). */
static void claim_failed(lc_sync *s, lc__sync_job *sj, lc_status rc, const lc_error *e,
                         int64_t now_ns, lc__op op)
{
    char d[32];
    if (rc == LC_ERR_CONFLICT) {
        int64_t again = recheck_ms(sj);
        lc_sync_event ev = lc__sync_event(LC_SYNC_SKIP, LC_LOG_INFO, sj);
        ev.reason = "held";
        ev.fence = e->holder.fence;
        count(s, &s->sum.held);
        lc__metrics_skip(s->metrics, sj->index, LC__SKIP_HELD);
        lc__sync_emit(s, &ev,
                      "job %s: skipped: held elsewhere by %s (fence %llu); next check in %s",
                      sj->job->name, e->holder.owner[0] ? e->holder.owner : "another holder",
                      (unsigned long long)e->holder.fence, lc_duration_format(again, d, sizeof(d)));
        sj->check_at_ns = now_ns + again * 1000000;
        return;
    }
    if (rc == LC_ERR_PAUSED) {
        int64_t again = recheck_ms(sj);
        lc_sync_event ev = lc__sync_event(LC_SYNC_SKIP, LC_LOG_INFO, sj);
        ev.reason = "paused";
        count(s, &s->sum.held);
        count(s, &s->sum.paused);
        lc__metrics_skip(s->metrics, sj->index, LC__SKIP_PAUSED);
        lc__sync_emit(s, &ev, "job %s: skipped: %s; next check in %s", sj->job->name, e->message,
                      lc_duration_format(again, d, sizeof(d)));
        sj->check_at_ns = now_ns + again * 1000000;
        return;
    }
    int64_t again = recheck_ms(sj);
    lc_sync_event ev = lc__sync_event(LC_SYNC_SKIP, LC_LOG_WARN, sj);
    int unavailable = rc == LC_ERR_UNAVAILABLE || rc == LC_ERR_TIMEOUT;
    ev.reason = unavailable ? "unavailable" : "error";
    count(s, &s->sum.unavailable);
    lc__metrics_skip(s->metrics, sj->index, unavailable ? LC__SKIP_UNAVAILABLE : LC__SKIP_ERROR);
    if (op < LC__OP_N)
        lc__metrics_backend_error(s->metrics, op, rc);
    lc__sync_emit(s, &ev, "job %s: skipped: %s; next check in %s", sj->job->name, e->message,
                  lc_duration_format(again, d, sizeof(d)));
    sj->check_at_ns = now_ns + again * 1000000;
}

/* Gives back a claim that will not run; a failure leaves it to its ttl. */
static void give_back(lc_sync *s, lc__sync_job *sj, lc_lease *l)
{
    lc_error e;
    pthread_mutex_lock(&s->cmu);
    lc_status rc = lc_abandon(s->client, l, &e);
    pthread_mutex_unlock(&s->cmu);
    if (rc != LC_OK && rc != LC_ERR_LOST) {
        lc__metrics_backend_error(s->metrics, LC__OP_GIVE_BACK, rc);
        lc_sync_event ev = lc__sync_event(LC_SYNC_SKIP, LC_LOG_WARN, sj);
        ev.reason = "error";
        lc__sync_emit(s, &ev, "job %s: giving the lease back failed (%s); it lapses in %lldms",
                      sj->job->name, e.message, (long long)lc_lease_ttl_ms(l));
    }
    lc_lease_free(l);
}

static void not_due(lc_sync *s, lc__sync_job *sj, lc_lease *l, const lc__due *d, int64_t now_ns)
{
    int64_t wait = d->due_at_ms - lc_lease_server_now_ms(l);
    if (wait < 0)
        wait = 0;
    give_back(s, sj, l);
    char t[32];
    lc_sync_event ev = lc__sync_event(LC_SYNC_SKIP, LC_LOG_INFO, sj);
    ev.reason = "not due";
    ev.delay_ms = wait;
    count(s, &s->sum.not_due);
    lc__metrics_skip(s->metrics, sj->index, LC__SKIP_NOT_DUE);
    lc__sync_emit(s, &ev, "job %s: skipped: not due for %s", sj->job->name,
                  lc_duration_format(wait, t, sizeof(t)));
    /* A millisecond late rather than early: early would only find it not
     * due again. */
    sj->check_at_ns = now_ns + (wait + 1) * 1000000;
}

/* The claim was due: the lease goes to the keeper, the run is marked
 * started on the server, and its thread starts. */
static void begin_run(lc_sync *s, lc__sync_job *sj, lc_lease *l, const lc__due *d, int64_t now_ns)
{
    lc_error e;
    lc__sync_run *run = calloc(1, sizeof(*run));
    lc_status rc = run ? LC_OK : lc__err(&e, LC_ERR_NOMEM, 0, "out of memory");
    if (run) {
        run->s = s;
        run->sj = sj;
        run->lease = l;
        run->due = *d;
        run->claim_mono_ns = now_ns;
        run->claim_server_ms = lc_lease_server_now_ms(l);
        run->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        lc_time_format(d->slot_ms, run->slot, sizeof(run->slot));
        if (run->stop_fd < 0)
            rc = lc__err(&e, LC_ERR_INTERNAL, errno, "eventfd: %s", strerror(errno));
    }
    if (rc == LC_OK)
        rc = lc_keeper_add(s->keeper, l, &e);
    int64_t started = 0;
    lc__op op = LC__OP_N;
    if (rc == LC_OK) {
        pthread_mutex_lock(&s->cmu);
        rc = lc_start_run(s->client, l, &started, &e);
        pthread_mutex_unlock(&s->cmu);
        if (rc != LC_OK) {
            op = LC__OP_START;
            lc_keeper_remove(s->keeper, l);
        }
    }
    /* An interval counts from the recorded start, a moment after the claim. */
    if (rc == LC_OK && sj->sched.every_ms > 0)
        run->due.next_ms = started + sj->sched.every_ms + sj->sched.offset_ms;
    if (rc == LC_OK) {
        run->started_ns = lc__sync_now_ns();
        pthread_mutex_lock(&s->mu);
        sj->run = run;
        pthread_mutex_unlock(&s->mu);
        lc__metrics_running(s->metrics, sj->index, 1);
        if ((rc = lc__sync_run_start(run, &e)) != LC_OK) {
            lc__metrics_running(s->metrics, sj->index, -1);
            pthread_mutex_lock(&s->mu);
            sj->run = NULL;
            pthread_mutex_unlock(&s->mu);
            lc_keeper_remove(s->keeper, l);
        }
    }
    if (rc == LC_OK)
        return;
    /* Nothing ran: the lease goes back unrecorded (a start that was lost
     * changed nothing either). */
    if (run && run->stop_fd >= 0)
        close(run->stop_fd);
    free(run);
    give_back(s, sj, l);
    claim_failed(s, sj, rc == LC_ERR_CONFLICT ? LC_ERR_INTERNAL : rc, &e, now_ns, op);
}

static void claim(lc_sync *s, lc__sync_job *sj)
{
    const lc_job *job = sj->job;
    lc_acquire_opts o = {.ttl_ms = job->ttl_ms, .wait_ms = -1, .claim = 1};
    lc_lease *l = NULL;
    lc_error e;
    pthread_mutex_lock(&s->cmu);
    lc_status rc = lc_acquire(s->client, job->lock, &o, &l, &e);
    pthread_mutex_unlock(&s->cmu);
    int64_t now_ns = lc__sync_now_ns();
    int force = s->now && !sj->checked; /* --now: the first check only */
    sj->checked = 1;
    if (rc != LC_OK) {
        claim_failed(s, sj, rc, &e, now_ns, LC__OP_CLAIM);
        return;
    }
    lc__due d;
    lc__schedule_check(&sj->sched, lc_lease_last_started_at_ms(l), lc_lease_server_now_ms(l), force,
                       &d);
    if (d.due)
        begin_run(s, sj, l, &d, now_ns);
    else
        not_due(s, sj, l, &d, now_ns);
}

/* ------------------------------------------------------------------------ */
/* The scheduler                                                            */
/* ------------------------------------------------------------------------ */

/* Joins runs that ended; a job's next check is its next slot. */
static void reap(lc_sync *s)
{
    for (size_t i = 0; i < s->n; i++) {
        lc__sync_job *sj = &s->jobs[i];
        pthread_mutex_lock(&s->mu);
        lc__sync_run *run = sj->run && sj->run->done ? sj->run : NULL;
        if (run)
            sj->run = NULL;
        pthread_mutex_unlock(&s->mu);
        if (run == NULL)
            continue;
        pthread_join(run->thread, NULL);
        int64_t next = run->due.next_ms - run->claim_server_ms;
        sj->check_at_ns = run->claim_mono_ns + (next + 1) * 1000000;
        close(run->stop_fd);
        lc_lease_free(run->lease);
        free(run);
    }
}

static size_t running(lc_sync *s)
{
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++)
        n += s->jobs[i].run != NULL;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void stop_runs(lc_sync *s)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        lc__sync_run *run = s->jobs[i].run;
        if (run == NULL || run->done)
            continue;
        if (run->stop_why == LC__STOP_NONE)
            run->stop_why = LC__STOP_SHUTDOWN;
        uint64_t one = 1;
        ssize_t w = write(run->stop_fd, &one, sizeof(one));
        (void)w;
    }
    pthread_mutex_unlock(&s->mu);
}

static int all_checked(const lc_sync *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (!s->jobs[i].checked)
            return 0;
    return 1;
}

/* Claims the jobs whose time has come (none twice in --once). */
static void claim_due(lc_sync *s)
{
    for (size_t i = 0; i < s->n && atomic_load(&s->stop_req) == 0; i++) {
        lc__sync_job *sj = &s->jobs[i];
        pthread_mutex_lock(&s->mu);
        int busy = sj->run != NULL;
        pthread_mutex_unlock(&s->mu);
        if (busy || (s->once && sj->checked) || lc__sync_now_ns() < sj->check_at_ns)
            continue;
        claim(s, sj);
    }
}

/* poll(2)'s timeout until the next thing to do. */
static int wait_ms(lc_sync *s, int stopping, int64_t grace_end)
{
    int64_t now = lc__sync_now_ns(), next = INT64_MAX;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; !stopping && i < s->n; i++)
        if (s->jobs[i].run == NULL && !(s->once && s->jobs[i].checked) &&
            s->jobs[i].check_at_ns < next)
            next = s->jobs[i].check_at_ns;
    pthread_mutex_unlock(&s->mu);
    if (stopping && grace_end > 0 && grace_end < next)
        next = grace_end;
    if (next == INT64_MAX)
        return -1;
    int64_t ms = next > now ? (next - now + 999999) / 1000000 : 0;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

static void drain(int fd)
{
    uint64_t v;
    while (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
        ;
}

static void say_stopping(lc_sync *s, size_t n, int now)
{
    char d[32];
    lc_sync_event ev = lc__sync_event(LC_SYNC_STOPPING, LC_LOG_INFO, NULL);
    if (now)
        lc__sync_emit(s, &ev, "stopping %zu running job%s now", n, n == 1 ? "" : "s");
    else
        lc__sync_emit(s, &ev, "shutting down: %zu running job%s may finish within %s", n,
                      n == 1 ? "" : "s", lc_duration_format(s->grace_ms, d, sizeof(d)));
}

lc_status lc_sync_run(lc_sync *s, lc_sync_summary *sum, lc_error *err)
{
    int stopping = 0, stopped = 0;
    int64_t grace_end = 0;
    (void)err;
    for (;;) {
        int req = atomic_load(&s->stop_req);
        reap(s);
        size_t n = running(s);
        if (req > 0 && !stopping) {
            stopping = 1;
            grace_end = lc__sync_now_ns() + s->grace_ms * 1000000;
            if (n > 0 && req == 1 && s->grace_ms > 0)
                say_stopping(s, n, 0);
        }
        if (stopping && !stopped && n > 0 && (req > 1 || lc__sync_now_ns() >= grace_end)) {
            say_stopping(s, n, 1);
            stop_runs(s);
            stopped = 1;
        }
        if (stopping && n == 0)
            break;
        if (!stopping)
            claim_due(s);
        if (s->once && all_checked(s) && running(s) == 0)
            break;
        struct pollfd p = {s->wake_fd, POLLIN, 0};
        if (poll(&p, 1, wait_ms(s, stopping, stopped ? 0 : grace_end)) > 0)
            drain(s->wake_fd);
    }
    if (sum) {
        pthread_mutex_lock(&s->mu);
        *sum = s->sum;
        pthread_mutex_unlock(&s->mu);
    }
    return LC_OK;
}
