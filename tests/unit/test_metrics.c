/* tests/unit/test_metrics.c -- sync/metrics.c: the registry's counts and
 * their rendering in the Prometheus text format (HELP/TYPE lines, label
 * escaping, cumulative histogram buckets with _sum and _count), and
 * counting from several threads while another renders. */
#include "testenv.h"

#include "sync/metrics_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *render(lc__metrics *m)
{
    char *text = NULL;
    size_t len = 0;
    lc_error err;
    lct_assert_rc(lc__metrics_render(m, &text, &len, &err), LC_OK, &err);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

/* The text has this line, whole. */
static void assert_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return;
    fail_msg("no line '%s' in:\n%s", line, text);
}

static void test_metrics_fresh_registry_has_every_series_at_zero(void **state)
{
    (void)state;
    const char *jobs[] = {"a", "b"};
    lc__metrics *m = lc__metrics_new(jobs, 2);
    assert_non_null(m);
    char *t = render(m);
    assert_line(t, "# HELP lockcoord_runs_total Runs of a job that ended, by outcome.");
    assert_line(t, "# TYPE lockcoord_runs_total counter");
    assert_line(t, "lockcoord_runs_total{job=\"a\",outcome=\"ok\"} 0");
    assert_line(t, "lockcoord_runs_total{job=\"b\",outcome=\"interrupted\"} 0");
    assert_line(t, "lockcoord_runs_skipped_total{job=\"b\",reason=\"not_due\"} 0");
    assert_line(t, "lockcoord_runs_skipped_total{job=\"a\",reason=\"paused\"} 0");
    assert_line(t, "lockcoord_leases_lost_total{job=\"a\",reason=\"not_held\"} 0");
    assert_line(t, "lockcoord_backend_errors_total{op=\"renew\",kind=\"timeout\"} 0");
    assert_line(t, "# TYPE lockcoord_run_duration_seconds histogram");
    assert_line(t, "lockcoord_run_duration_seconds_bucket{job=\"a\",le=\"+Inf\"} 0");
    assert_line(t, "lockcoord_run_duration_seconds_count{job=\"a\"} 0");
    assert_line(t, "lockcoord_run_duration_seconds_sum{job=\"a\"} 0.000000000");
    assert_line(t, "lockcoord_lease_renewals_total 0");
    assert_line(t, "lockcoord_jobs_running 0");
    /* No success yet: no sample (0 would read as 1970). */
    assert_null(strstr(t, "lockcoord_last_success_timestamp_seconds{"));
    assert_line(t, "# TYPE lockcoord_last_success_timestamp_seconds gauge");
    /* Every line is a comment or ends in a value; the text ends with \n. */
    assert_int_equal(t[strlen(t) - 1], '\n');
    free(t);
    lc__metrics_free(m);
}

static void test_metrics_label_values_are_escaped(void **state)
{
    (void)state;
    const char *jobs[] = {"we\\ird \"job\"\nname"};
    lc__metrics *m = lc__metrics_new(jobs, 1);
    assert_non_null(m);
    lc__metrics_skip(m, 0, LC__SKIP_HELD);
    char *t = render(m);
    assert_line(t, "lockcoord_runs_skipped_total{job=\"we\\\\ird \\\"job\\\"\\nname\","
                   "reason=\"held\"} 1");
    assert_line(t, "lockcoord_run_duration_seconds_bucket{job=\"we\\\\ird \\\"job\\\"\\nname\","
                   "le=\"0.1\"} 0");
    /* The raw newline never reaches the text: every line starts with a
     * name or '#'. */
    for (const char *p = t; *p; p = strchr(p, '\n') + 1)
        assert_true(*p == '#' || strncmp(p, "lockcoord_", 10) == 0);
    free(t);
    lc__metrics_free(m);
}

static void test_metrics_histogram_buckets_cumulative_with_sum_and_count(void **state)
{
    (void)state;
    const char *jobs[] = {"j"};
    lc__metrics *m = lc__metrics_new(jobs, 1);
    assert_non_null(m);
    lc__metrics_run(m, 0, LC_OUTCOME_OK, 50, 1767225600123LL);   /* 0.05 s */
    lc__metrics_run(m, 0, LC_OUTCOME_FAILED, 100, -1);           /* 0.1 s: le 0.1 */
    lc__metrics_run(m, 0, LC_OUTCOME_OK, 2000, 1767225500000LL); /* 2 s; older success */
    lc__metrics_run(m, 0, LC_OUTCOME_TIMEOUT, 7200000, -1);      /* 2 h: +Inf only */
    char *t = render(m);
    assert_line(t, "lockcoord_run_duration_seconds_bucket{job=\"j\",le=\"0.1\"} 2");
    assert_line(t, "lockcoord_run_duration_seconds_bucket{job=\"j\",le=\"0.25\"} 2");
    assert_line(t, "lockcoord_run_duration_seconds_bucket{job=\"j\",le=\"2.5\"} 3");
    assert_line(t, "lockcoord_run_duration_seconds_bucket{job=\"j\",le=\"3600\"} 3");
    assert_line(t, "lockcoord_run_duration_seconds_bucket{job=\"j\",le=\"+Inf\"} 4");
    assert_line(t, "lockcoord_run_duration_seconds_sum{job=\"j\"} 7202.150000000");
    assert_line(t, "lockcoord_run_duration_seconds_count{job=\"j\"} 4");
    assert_line(t, "lockcoord_runs_total{job=\"j\",outcome=\"ok\"} 2");
    assert_line(t, "lockcoord_runs_total{job=\"j\",outcome=\"failed\"} 1");
    assert_line(t, "lockcoord_runs_total{job=\"j\",outcome=\"timeout\"} 1");
    /* The latest success, in seconds with ms. */
    assert_line(t, "lockcoord_last_success_timestamp_seconds{job=\"j\"} 1767225600.123");
    free(t);

    lc__metrics_renewal(m, 3, 1500000);   /* 1.5 ms */
    lc__metrics_renewal(m, 2, 999000000); /* 0.999 s */
    t = render(m);
    assert_line(t, "lockcoord_lease_renewals_total 5");
    assert_line(t, "lockcoord_lease_renewal_duration_seconds_bucket{le=\"0.001\"} 0");
    assert_line(t, "lockcoord_lease_renewal_duration_seconds_bucket{le=\"0.0025\"} 1");
    assert_line(t, "lockcoord_lease_renewal_duration_seconds_bucket{le=\"1\"} 2");
    assert_line(t, "lockcoord_lease_renewal_duration_seconds_bucket{le=\"+Inf\"} 2");
    assert_line(t, "lockcoord_lease_renewal_duration_seconds_sum 1.000500000");
    assert_line(t, "lockcoord_lease_renewal_duration_seconds_count 2");
    free(t);
    lc__metrics_free(m);
}

static void test_metrics_skips_losses_errors_running_counted(void **state)
{
    (void)state;
    const char *jobs[] = {"a", "b"};
    lc__metrics *m = lc__metrics_new(jobs, 2);
    assert_non_null(m);
    lc__metrics_skip(m, 1, LC__SKIP_PAUSED);
    lc__metrics_skip(m, 1, LC__SKIP_PAUSED);
    lc__metrics_skip(m, 0, LC__SKIP_NOT_DUE);
    lc__metrics_lost(m, 0, LC__LOSS_BACKEND_UNREACHABLE);
    lc__metrics_backend_error(m, LC__OP_CLAIM, LC_ERR_TIMEOUT);
    lc__metrics_backend_error(m, LC__OP_CLAIM, LC_ERR_UNAVAILABLE);
    lc__metrics_backend_error(m, LC__OP_RELEASE, LC_ERR_INTERNAL);
    lc__metrics_running(m, 0, 1);
    lc__metrics_running(m, 1, 1);
    lc__metrics_running(m, 1, -1);
    /* Out of range: ignored, not a crash. */
    lc__metrics_skip(m, 2, LC__SKIP_HELD);
    lc__metrics_run(m, 7, LC_OUTCOME_OK, 1, 1);
    char *t = render(m);
    assert_line(t, "lockcoord_runs_skipped_total{job=\"b\",reason=\"paused\"} 2");
    assert_line(t, "lockcoord_runs_skipped_total{job=\"a\",reason=\"not_due\"} 1");
    assert_line(t, "lockcoord_runs_skipped_total{job=\"a\",reason=\"held\"} 0");
    assert_line(t, "lockcoord_leases_lost_total{job=\"a\",reason=\"backend_unreachable\"} 1");
    assert_line(t, "lockcoord_backend_errors_total{op=\"claim\",kind=\"timeout\"} 1");
    assert_line(t, "lockcoord_backend_errors_total{op=\"claim\",kind=\"unavailable\"} 1");
    assert_line(t, "lockcoord_backend_errors_total{op=\"release\",kind=\"other\"} 1");
    assert_line(t, "lockcoord_jobs_running 1");
    free(t);
    lc__metrics_free(m);
}

/* Counting threads and a rendering thread at once (run under TSan). */
typedef struct worker {
    lc__metrics *m;
    int n;
} worker;

static void *count_main(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < w->n; i++) {
        lc__metrics_run(w->m, (size_t)i % 2, LC_OUTCOME_OK, i, i);
        lc__metrics_renewal(w->m, 1, i);
        lc__metrics_skip(w->m, 0, LC__SKIP_HELD);
    }
    return NULL;
}

static void test_metrics_concurrent_counting_and_rendering_add_up(void **state)
{
    (void)state;
    const char *jobs[] = {"a", "b"};
    lc__metrics *m = lc__metrics_new(jobs, 2);
    assert_non_null(m);
    worker w = {m, 2000};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, count_main, &w), 0);
    for (int i = 0; i < 50; i++)
        free(render(m));
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    char *text = render(m);
    assert_line(text, "lockcoord_runs_total{job=\"a\",outcome=\"ok\"} 3000");
    assert_line(text, "lockcoord_runs_total{job=\"b\",outcome=\"ok\"} 3000");
    assert_line(text, "lockcoord_lease_renewals_total 6000");
    assert_line(text, "lockcoord_runs_skipped_total{job=\"a\",reason=\"held\"} 6000");
    free(text);
    lc__metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_fresh_registry_has_every_series_at_zero),
        cmocka_unit_test(test_metrics_label_values_are_escaped),
        cmocka_unit_test(test_metrics_histogram_buckets_cumulative_with_sum_and_count),
        cmocka_unit_test(test_metrics_skips_losses_errors_running_counted),
        cmocka_unit_test(test_metrics_concurrent_counting_and_rendering_add_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
