/* sync/metrics_int.h -- the job engine's metrics registry: counters,
 * gauges and histograms by job, kept as the engine works, and rendered in
 * the Prometheus text exposition format (0.0.4) for lc_sync_metrics.
 *
 * The label sets are fixed when the registry is made (the engine's jobs,
 * and the outcomes, reasons and operations below), so every series exists
 * from the start at 0 and nothing is allocated while counting. One mutex
 * guards everything: the engine's threads (scheduler, runs, the keeper's
 * renewer) count while another thread renders. The mutex is a leaf: it is
 * never held while calling out, so it may be taken under any other lock
 * (the keeper's round hook runs under the keeper's). */
#ifndef LC_METRICS_INT_H
#define LC_METRICS_INT_H

#include "lockcoord.h"

#include <stddef.h>
#include <stdint.h>

typedef struct lc__metrics lc__metrics;

/* Why a check of a job ran nothing (lockcoord_runs_skipped_total). */
typedef enum lc__skip {
    LC__SKIP_HELD = 0,    /* "held": another node holds the lease */
    LC__SKIP_NOT_DUE,     /* "not_due": the slot ran already, or not yet */
    LC__SKIP_PAUSED,      /* "paused": the lock is paused */
    LC__SKIP_UNAVAILABLE, /* "unavailable": the backend did not answer */
    LC__SKIP_ERROR,       /* "error": anything else */
    LC__SKIP_N
} lc__skip;

/* How a run's lease was lost (lockcoord_leases_lost_total). */
typedef enum lc__loss {
    LC__LOSS_NOT_HELD = 0,        /* "not_held": taken over, reset, or expired on the server */
    LC__LOSS_BACKEND_UNREACHABLE, /* "backend_unreachable": the deadline passed, renewals failing */
    LC__LOSS_PROCESS_STALLED,     /* "process_stalled": this process did not get to renew */
    LC__LOSS_N
} lc__loss;

/* Which backend call failed (lockcoord_backend_errors_total's op). */
typedef enum lc__op {
    LC__OP_CLAIM = 0,  /* "claim": taking a job's lease to look at its record */
    LC__OP_START,      /* "start": marking the run started */
    LC__OP_GIVE_BACK,  /* "give_back": returning a claim that will not run */
    LC__OP_RENEW,      /* "renew": a renewal round of the keeper */
    LC__OP_CHECKPOINT, /* "checkpoint" */
    LC__OP_RELEASE,    /* "release": giving the lease back with the run's record */
    LC__OP_RECORD,     /* "record": recording a run whose lease was lost */
    LC__OP_HEALTH,     /* "health": the health check's own calls */
    LC__OP_N
} lc__op;

/* A registry for jobs[0..n) (names copied). NULL when out of memory. */
lc__metrics *lc__metrics_new(const char *const *jobs, size_t n);

/* Frees m. NULL is fine. */
void lc__metrics_free(lc__metrics *m);

/* A run of job `job` (an index into the names given) ended with `outcome`
 * after duration_ms; success_at_ms (unix ms, -1: none) becomes the job's
 * last success when the run was ok. Out-of-range jobs are ignored here and
 * below. */
void lc__metrics_run(lc__metrics *m, size_t job, lc_outcome outcome, int64_t duration_ms,
                     int64_t success_at_ms);

/* A run of `job` started (+1) or ended (-1): the jobs running now. */
void lc__metrics_running(lc__metrics *m, size_t job, int delta);

/* A check of `job` ran nothing, for `why`. */
void lc__metrics_skip(lc__metrics *m, size_t job, lc__skip why);

/* A run of `job` lost its lease, for `why`. */
void lc__metrics_lost(lc__metrics *m, size_t job, lc__loss why);

/* A backend call `op` failed with rc: counted by kind, "timeout"
 * (LC_ERR_TIMEOUT), "unavailable" (LC_ERR_UNAVAILABLE) or "other". */
void lc__metrics_backend_error(lc__metrics *m, lc__op op, lc_status rc);

/* A keeper round sent `leases` renewals in one backend call that took
 * took_ns. */
void lc__metrics_renewal(lc__metrics *m, size_t leases, int64_t took_ns);

/* Everything as Prometheus text into *out (malloc'd, NUL-terminated; the
 * caller frees it) and *len (may be NULL). LC_ERR_NOMEM, and *out
 * untouched, when out of memory. */
lc_status lc__metrics_render(lc__metrics *m, char **out, size_t *len, lc_error *err);

#endif
