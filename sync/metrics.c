/* sync/metrics.c -- the job engine's metrics registry and its rendering
 * in the Prometheus text exposition format 0.0.4: "# HELP" and "# TYPE"
 * lines, then one "name{labels} value" line per series; label values
 * escape backslash, double quote and newline; a histogram's buckets are
 * cumulative, end with le="+Inf", and come with _sum and _count. */
#include "sync/metrics_int.h"

#include "core/error_int.h"
#include "core/strbuf_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Run durations: from a quick http call to an hour-long batch. */
static const double run_bounds[] = {0.1, 0.25, 0.5, 1,   2.5, 5,    10,
                                    30,  60,   120, 300, 600, 1800, 3600};
/* One renewal round: one backend round trip. */
static const double renew_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                      0.1,   0.25,   0.5,   1,    2.5,   5};
#define N_RUN_BOUNDS   (sizeof(run_bounds) / sizeof(run_bounds[0]))
#define N_RENEW_BOUNDS (sizeof(renew_bounds) / sizeof(renew_bounds[0]))
#define BOUNDS_MAX     16

/* Outcomes a run can end with, in lockcoord_runs_total's order. */
static const lc_outcome outcomes[] = {LC_OUTCOME_OK, LC_OUTCOME_FAILED, LC_OUTCOME_TIMEOUT,
                                      LC_OUTCOME_LOST, LC_OUTCOME_INTERRUPTED};
#define N_OUTCOMES (sizeof(outcomes) / sizeof(outcomes[0]))

static const char *const skip_names[LC__SKIP_N] = {"held", "not_due", "paused", "unavailable",
                                                   "error"};
static const char *const loss_names[LC__LOSS_N] = {"not_held", "backend_unreachable",
                                                   "process_stalled"};
static const char *const op_names[LC__OP_N] = {"claim",      "start",   "give_back", "renew",
                                               "checkpoint", "release", "record",    "health"};
static const char *const kind_names[] = {"timeout", "unavailable", "other"};
#define N_KINDS (sizeof(kind_names) / sizeof(kind_names[0]))

/* Observations in ns, counted in the first bucket they fit (cumulated
 * when rendered); the last slot is +Inf only. */
typedef struct hist {
    uint64_t buckets[BOUNDS_MAX + 1];
    uint64_t count;
    int64_t sum_ns;
} hist;

typedef struct job_metrics {
    char *name;
    uint64_t runs[N_OUTCOMES];
    hist duration;
    int64_t last_success_ms; /* -1: none seen */
    uint64_t skipped[LC__SKIP_N];
    uint64_t lost[LC__LOSS_N];
    int running;
} job_metrics;

struct lc__metrics {
    pthread_mutex_t mu;
    job_metrics *jobs;
    size_t n;
    uint64_t renewals;
    hist renew;
    uint64_t backend_errors[LC__OP_N][N_KINDS];
};

lc__metrics *lc__metrics_new(const char *const *jobs, size_t n)
{
    lc__metrics *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->jobs = calloc(n ? n : 1, sizeof(*m->jobs));
    if (m->jobs == NULL) {
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->mu, NULL);
    for (; m->n < n; m->n++) {
        m->jobs[m->n].last_success_ms = -1;
        if ((m->jobs[m->n].name = lc__strdup(jobs[m->n])) == NULL) {
            lc__metrics_free(m);
            return NULL;
        }
    }
    return m;
}

void lc__metrics_free(lc__metrics *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->jobs[i].name);
    free(m->jobs);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static void observe(hist *h, const double *bounds, size_t n, int64_t ns)
{
    size_t b = 0;
    while (b < n && (double)ns > bounds[b] * 1e9)
        b++;
    h->buckets[b]++;
    h->count++;
    h->sum_ns += ns > 0 ? ns : 0;
}

static size_t outcome_index(lc_outcome o)
{
    for (size_t i = 0; i < N_OUTCOMES; i++)
        if (outcomes[i] == o)
            return i;
    return 1; /* anything unexpected is a failure */
}

void lc__metrics_run(lc__metrics *m, size_t job, lc_outcome outcome, int64_t duration_ms,
                     int64_t success_at_ms)
{
    if (m == NULL || job >= m->n)
        return;
    pthread_mutex_lock(&m->mu);
    job_metrics *j = &m->jobs[job];
    j->runs[outcome_index(outcome)]++;
    observe(&j->duration, run_bounds, N_RUN_BOUNDS, duration_ms * 1000000);
    if (outcome == LC_OUTCOME_OK && success_at_ms > j->last_success_ms)
        j->last_success_ms = success_at_ms;
    pthread_mutex_unlock(&m->mu);
}

void lc__metrics_running(lc__metrics *m, size_t job, int delta)
{
    if (m == NULL || job >= m->n)
        return;
    pthread_mutex_lock(&m->mu);
    m->jobs[job].running += delta;
    pthread_mutex_unlock(&m->mu);
}

void lc__metrics_skip(lc__metrics *m, size_t job, lc__skip why)
{
    if (m == NULL || job >= m->n || why >= LC__SKIP_N)
        return;
    pthread_mutex_lock(&m->mu);
    m->jobs[job].skipped[why]++;
    pthread_mutex_unlock(&m->mu);
}

void lc__metrics_lost(lc__metrics *m, size_t job, lc__loss why)
{
    if (m == NULL || job >= m->n || why >= LC__LOSS_N)
        return;
    pthread_mutex_lock(&m->mu);
    m->jobs[job].lost[why]++;
    pthread_mutex_unlock(&m->mu);
}

void lc__metrics_backend_error(lc__metrics *m, lc__op op, lc_status rc)
{
    if (m == NULL || op >= LC__OP_N)
        return;
    size_t kind = rc == LC_ERR_TIMEOUT ? 0 : rc == LC_ERR_UNAVAILABLE ? 1 : 2;
    pthread_mutex_lock(&m->mu);
    m->backend_errors[op][kind]++;
    pthread_mutex_unlock(&m->mu);
}

void lc__metrics_renewal(lc__metrics *m, size_t leases, int64_t took_ns)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    m->renewals += leases;
    observe(&m->renew, renew_bounds, N_RENEW_BOUNDS, took_ns);
    pthread_mutex_unlock(&m->mu);
}

/* ------------------------------------------------------------------------ */
/* Rendering                                                                */
/* ------------------------------------------------------------------------ */

/* A label value, escaped: \ as \\, " as \", newline as \n. */
static void put_value(lc__sb *t, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            lc__sb_printf(t, "\\\\");
        else if (*v == '"')
            lc__sb_printf(t, "\\\"");
        else if (*v == '\n')
            lc__sb_printf(t, "\\n");
        else
            lc__sb_add(t, v, 1);
    }
}

static void head(lc__sb *t, const char *name, const char *type, const char *help)
{
    lc__sb_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k1="v1",k2="v2"} with k2 optional (NULL). */
static void series(lc__sb *t, const char *name, const char *k1, const char *v1, const char *k2,
                   const char *v2)
{
    lc__sb_printf(t, "%s", name);
    if (k1) {
        lc__sb_printf(t, "{%s=\"", k1);
        put_value(t, v1);
        lc__sb_printf(t, "\"");
        if (k2) {
            lc__sb_printf(t, ",%s=\"", k2);
            put_value(t, v2);
            lc__sb_printf(t, "\"");
        }
        lc__sb_printf(t, "}");
    }
}

static void counter(lc__sb *t, const char *name, const char *k1, const char *v1, const char *k2,
                    const char *v2, uint64_t v)
{
    series(t, name, k1, v1, k2, v2);
    lc__sb_printf(t, " %llu\n", (unsigned long long)v);
}

/* One histogram's lines; `job` NULL for one without labels. */
static void histogram(lc__sb *t, const char *name, const char *job, const hist *h,
                      const double *bounds, size_t n)
{
    char le[32], line[128];
    uint64_t cum = 0;
    for (size_t b = 0; b <= n; b++) {
        cum += h->buckets[b];
        if (b < n)
            snprintf(le, sizeof(le), "%g", bounds[b]);
        else
            snprintf(le, sizeof(le), "+Inf");
        snprintf(line, sizeof(line), "%s_bucket", name);
        lc__sb_printf(t, "%s{", line);
        if (job) {
            lc__sb_printf(t, "job=\"");
            put_value(t, job);
            lc__sb_printf(t, "\",");
        }
        lc__sb_printf(t, "le=\"%s\"} %llu\n", le, (unsigned long long)cum);
    }
    snprintf(line, sizeof(line), "%s_sum", name);
    series(t, line, job ? "job" : NULL, job, NULL, NULL);
    lc__sb_printf(t, " %lld.%09lld\n", (long long)(h->sum_ns / 1000000000),
                  (long long)(h->sum_ns % 1000000000));
    snprintf(line, sizeof(line), "%s_count", name);
    counter(t, line, job ? "job" : NULL, job, NULL, NULL, h->count);
}

static void render_runs(lc__sb *t, const lc__metrics *m)
{
    head(t, "lockcoord_runs_total", "counter", "Runs of a job that ended, by outcome.");
    for (size_t i = 0; i < m->n; i++)
        for (size_t o = 0; o < N_OUTCOMES; o++)
            counter(t, "lockcoord_runs_total", "job", m->jobs[i].name, "outcome",
                    lc_outcome_name(outcomes[o]), m->jobs[i].runs[o]);
    head(t, "lockcoord_run_duration_seconds", "histogram",
         "How long the runs of a job took, retries included.");
    for (size_t i = 0; i < m->n; i++)
        histogram(t, "lockcoord_run_duration_seconds", m->jobs[i].name, &m->jobs[i].duration,
                  run_bounds, N_RUN_BOUNDS);
    head(t, "lockcoord_last_success_timestamp_seconds", "gauge",
         "When a run of the job by this daemon last ended ok (unix seconds, backend clock).");
    for (size_t i = 0; i < m->n; i++) {
        int64_t ms = m->jobs[i].last_success_ms;
        if (ms < 0)
            continue;
        series(t, "lockcoord_last_success_timestamp_seconds", "job", m->jobs[i].name, NULL, NULL);
        lc__sb_printf(t, " %lld.%03lld\n", (long long)(ms / 1000), (long long)(ms % 1000));
    }
    head(t, "lockcoord_runs_skipped_total", "counter",
         "Checks of a job that ran nothing, by reason.");
    for (size_t i = 0; i < m->n; i++)
        for (size_t r = 0; r < LC__SKIP_N; r++)
            counter(t, "lockcoord_runs_skipped_total", "job", m->jobs[i].name, "reason",
                    skip_names[r], m->jobs[i].skipped[r]);
    int running = 0;
    for (size_t i = 0; i < m->n; i++)
        running += m->jobs[i].running;
    head(t, "lockcoord_jobs_running", "gauge", "Runs under way now.");
    lc__sb_printf(t, "lockcoord_jobs_running %d\n", running);
}

static void render_leases(lc__sb *t, const lc__metrics *m)
{
    head(t, "lockcoord_lease_renewals_total", "counter",
         "Lease renewals sent by the keeper (one round renews every kept lease at once).");
    counter(t, "lockcoord_lease_renewals_total", NULL, NULL, NULL, NULL, m->renewals);
    head(t, "lockcoord_lease_renewal_duration_seconds", "histogram",
         "How long one renewal round (one backend call) took.");
    histogram(t, "lockcoord_lease_renewal_duration_seconds", NULL, &m->renew, renew_bounds,
              N_RENEW_BOUNDS);
    head(t, "lockcoord_leases_lost_total", "counter",
         "Runs whose lease was lost while they ran, by reason.");
    for (size_t i = 0; i < m->n; i++)
        for (size_t r = 0; r < LC__LOSS_N; r++)
            counter(t, "lockcoord_leases_lost_total", "job", m->jobs[i].name, "reason",
                    loss_names[r], m->jobs[i].lost[r]);
    head(t, "lockcoord_backend_errors_total", "counter",
         "Backend calls that failed, by operation and kind.");
    for (size_t o = 0; o < LC__OP_N; o++)
        for (size_t k = 0; k < N_KINDS; k++)
            counter(t, "lockcoord_backend_errors_total", "op", op_names[o], "kind", kind_names[k],
                    m->backend_errors[o][k]);
}

lc_status lc__metrics_render(lc__metrics *m, char **out, size_t *len, lc_error *err)
{
    lc__sb t = {0};
    pthread_mutex_lock(&m->mu);
    render_runs(&t, m);
    render_leases(&t, m);
    pthread_mutex_unlock(&m->mu);
    if (t.failed || t.p == NULL) {
        free(t.p);
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    }
    *out = t.p;
    if (len)
        *len = t.len;
    return LC_OK;
}
