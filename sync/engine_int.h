/* sync/engine_int.h -- the job engine's parts: the scheduler and claims
 * (sync/engine.c) and one run of a job on its own thread (sync/run.c).
 *
 * Concurrency. The scheduler thread (the caller of lc_sync_run) claims
 * jobs and starts a thread per run. The one client is shared by the
 * scheduler and the runs under `cmu` (backend calls are short: each has
 * the backend's command timeout). Everything about runs (which job runs,
 * how a run must stop, the summary) is under `mu`, never held across a
 * backend call or a keeper call. The keeper's loss callback takes `mu`
 * only to find the run and write its stop fd. */
#ifndef LC_ENGINE_INT_H
#define LC_ENGINE_INT_H

#include "lockcoord.h"
#include "sync/metrics_int.h"
#include "sync/schedule_int.h"

#include <pthread.h>
#include <stdatomic.h>

/* Why a run must stop (lc__sync_run.stop_why). */
enum {
    LC__STOP_NONE = 0,
    LC__STOP_LOST,
    LC__STOP_SHUTDOWN
};

typedef struct lc__sync_job lc__sync_job;

/* One run of a job: its lease, kept by the engine's keeper while it runs. */
typedef struct lc__sync_run {
    lc_sync *s;
    lc__sync_job *sj;
    lc_lease *lease;
    pthread_t thread;
    int stop_fd;        /* eventfd, written once when the run must stop */
    int stop_why;       /* LC__STOP_*, under s->mu */
    char lost_why[256]; /* the keeper's reason, under s->mu */
    int loss_counted;   /* the loss is in the metrics (under s->mu) */
    lc__due due;
    char slot[40];           /* due.slot_ms as RFC 3339 */
    int64_t claim_mono_ns;   /* when the claim's reply came (system monotonic) */
    int64_t claim_server_ms; /* the server's clock in that reply */
    int64_t started_ns;      /* when the run started (system monotonic) */
    int done;                /* the thread has finished: join it (under s->mu) */
} lc__sync_run;

struct lc__sync_job {
    const lc_job *job;
    size_t index; /* in lc_sync.jobs, and the job's index in the metrics */
    lc__schedule sched;
    int64_t check_at_ns; /* when to claim it next (system monotonic) */
    int checked;         /* claimed at least once */
    lc__sync_run *run;   /* the run under way, or NULL (under s->mu) */
};

struct lc_sync {
    const lc_config *cfg;
    lc_client *client;
    pthread_mutex_t cmu; /* the client */
    lc_keeper *keeper;
    int once, now;
    int64_t grace_ms;
    lc_sync_event_fn on_event;
    void *event_ctx;
    lc__sync_job *jobs;
    size_t n;
    pthread_mutex_t mu;
    int wake_fd;         /* eventfd: a run ended, or a stop was asked for */
    atomic_int stop_req; /* 0, 1 (graceful) or 2 (at once) */
    lc_sync_summary sum; /* under mu */
    lc__metrics *metrics;
    /* The health check (sync/health.c): its own client, opened at the
     * first check, and the last result, under hmu. */
    const lc_client_opts *copts;
    pthread_mutex_t hmu;
    lc_client *hclient;
    lc_sync_health_report health;
    int64_t health_at_ns; /* when the last check ended (system monotonic), 0: never */
};

/* sync/run.c */

/* Starts the thread of a claimed, started run. On error nothing runs. */
lc_status lc__sync_run_start(lc__sync_run *run, lc_error *err);

/* The system's monotonic clock in ns (scheduling sleeps in real time). */
int64_t lc__sync_now_ns(void);

/* The server's clock now, estimated from the claim's reply. */
int64_t lc__sync_server_now(const lc__sync_run *run);

/* Reports an event; fmt makes its message. Fields not given are empty. */
void lc__sync_emit(lc_sync *s, lc_sync_event *ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An event with every field "none" for kind and level. */
lc_sync_event lc__sync_event(lc_sync_event_kind kind, lc_log_level level, const lc__sync_job *sj);

/* Wakes the scheduler. */
void lc__sync_wake(lc_sync *s);

/* Counts the loss of run's lease in the metrics, once per run, by how it
 * was lost (lc_keeper_lost's status; LC_ERR_LOST: the backend said it is
 * not held). Callers hold s->mu. */
void lc__sync_count_loss(lc__sync_run *run, lc_status how);

/* sync/health.c */

/* Frees what the health check keeps (its client). */
void lc__sync_health_close(lc_sync *s);

#endif
