/* tests/unit/test_job_config.c -- the job engine's part of the config:
 * schedules (every or cron, exactly one), jitter, retries, kill grace, the
 * http keys checked at load (url, expect_status, checkpoint_from, ca_file,
 * headers lockcoord sets itself) and the sync section. Every refusal with
 * its exact FILE:LINE:COL and text. */
#include "testenv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Lines 1-3: a valid redis backend; line 4 "jobs:", line 5 the job. */
#define BASE "backend: redis\nredis:\n  url: redis://127.0.0.1:6379/0\n"
#define JOB  BASE "jobs:\n  - name: a\n"
/* A job with a schedule and an http part; line 8 is the url, line 9 free. */
#define HTTP JOB "    every: 1m\n    http:\n      url: http://h/\n"

static lc_config *parse_ok(const char *yaml)
{
    lc_config *cfg = NULL;
    lc_error err;
    memset(&err, 0, sizeof(err));
    lct_assert_rc(lc_config_parse(yaml, strlen(yaml), "t.yaml", &cfg, &err), LC_OK, &err);
    assert_non_null(cfg);
    return cfg;
}

/* Refused with LC_ERR_CONFIG and exactly this message. */
static void expect_error(const char *yaml, const char *message)
{
    lc_config *cfg = NULL;
    lc_error err;
    memset(&err, 0, sizeof(err));
    lc_status rc = lc_config_parse(yaml, strlen(yaml), "t.yaml", &cfg, &err);
    if (rc != LC_ERR_CONFIG || strcmp(err.message, message) != 0)
        fail_msg("got %s \"%s\"\nwant config \"%s\"", lc_status_name(rc), err.message, message);
    assert_null(cfg);
}

static void test_job_config_no_command_is_refused(void **state)
{
    (void)state;
    expect_error(JOB "    every: 5m\n",
                 "t.yaml:5:5: jobs[0]: job 'a' needs exec or http (exactly one)");
}

static void test_job_config_exec_and_http_both_refused_at_the_later(void **state)
{
    (void)state;
    expect_error(JOB "    every: 5m\n    http: {url: http://h/}\n    exec: [x]\n",
                 "t.yaml:8:5: jobs[0]: job 'a' has both exec and http; give exactly one");
    expect_error(BASE "jobs:\n  - {name: a, every: 5m, exec: [x], http: {url: http://h/}}\n",
                 "t.yaml:5:37: jobs[0]: job 'a' has both exec and http; give exactly one");
}

static void test_job_config_schedule_exactly_one_of_every_and_cron(void **state)
{
    (void)state;
    expect_error(JOB "    exec: [x]\n", "t.yaml:5:5: jobs[0]: job 'a' needs a schedule: every "
                                        "(like 5m) or cron (like \"*/5 * * * *\")");
    expect_error(JOB "    cron: \"*/5 * * * *\"\n    exec: [x]\n    every: 5m\n",
                 "t.yaml:8:5: jobs[0]: job 'a' has both every and cron; give exactly one");
    expect_error(JOB "    every: 5m\n    cron: \"@hourly\"\n    exec: [x]\n",
                 "t.yaml:7:5: jobs[0]: job 'a' has both every and cron; give exactly one");
    /* 0s meant "every pass" once; a job now needs a real interval. */
    expect_error(JOB "    every: 0s\n    exec: [x]\n",
                 "t.yaml:6:12: jobs[0].every: must be at least 1ms, got 0s");
}

static void test_job_config_bad_cron_names_field_and_token(void **state)
{
    (void)state;
    expect_error(JOB "    cron: \"* 25 * * *\"\n    exec: [x]\n",
                 "t.yaml:6:11: jobs[0].cron: cron field 2 (hour): 25 is out of range 0-23");
    expect_error(JOB "    cron: \"*/5 * * *\"\n    exec: [x]\n",
                 "t.yaml:6:11: jobs[0].cron: cron: expected 5 fields (minute hour day-of-month "
                 "month day-of-week), got 4");
    expect_error(JOB "    cron: \"0 0 30 feb *\"\n    exec: [x]\n",
                 "t.yaml:6:11: jobs[0].cron: cron field 3 (day-of-month): '30' never falls in "
                 "the selected months ('feb'), so the expression never fires");
    expect_error(JOB "    cron: \"\"\n    exec: [x]\n",
                 "t.yaml:6:11: jobs[0].cron: cron: expected 5 fields (minute hour day-of-month "
                 "month day-of-week), got 0");
    expect_error(JOB "    cron: [1]\n    exec: [x]\n",
                 "t.yaml:6:11: jobs[0].cron: expected a string, got a sequence");
}

static void test_job_config_cron_text_is_kept(void **state)
{
    (void)state;
    setenv("LCT_CRON", "*/15 9-17 * * MON-FRI", 1);
    lc_config *c = parse_ok(JOB "    cron: \"${LCT_CRON}\"\n    exec: [x]\n");
    assert_string_equal(c->jobs[0].cron, "*/15 9-17 * * MON-FRI");
    assert_int_equal(c->jobs[0].every_ms, 0);
    lc_config_free(c);
}

static void test_job_config_jitter_must_stay_within_the_slot(void **state)
{
    (void)state;
    expect_error(JOB "    every: 1m\n    jitter: 1m\n    exec: [x]\n",
                 "t.yaml:7:5: jobs[0].jitter (1m) must be less than every (1m)");
    expect_error(JOB "    cron: \"*/5 * * * *\"\n    jitter: 5m\n    exec: [x]\n",
                 "t.yaml:7:5: jobs[0].jitter (5m) must be less than the shortest time between "
                 "two fire times of the cron expression (5m)");
    /* 23:50 to 00:10 the next day: 20 minutes. */
    expect_error(JOB "    cron: \"10,50 0,23 * * *\"\n    jitter: 20m\n    exec: [x]\n",
                 "t.yaml:7:5: jobs[0].jitter (20m) must be less than the shortest time between "
                 "two fire times of the cron expression (20m)");
    lc_config *c = parse_ok(JOB "    every: 1m\n    jitter: 59s\n    exec: [x]\n  - name: b\n"
                                "    cron: \"0 3 * * *\"\n    jitter: 23h\n    exec: [x]\n");
    assert_int_equal(c->jobs[0].jitter_ms, 59000);
    assert_int_equal(c->jobs[1].jitter_ms, 23 * 3600000LL);
    lc_config_free(c);
}

static void test_job_config_retries_and_backoff_have_bounds(void **state)
{
    (void)state;
    expect_error(JOB "    every: 1m\n    retries: 101\n    exec: [x]\n",
                 "t.yaml:7:14: jobs[0].retries: 101 is out of range (0 to 100)");
    expect_error(JOB "    every: 1m\n    retries: -1\n    exec: [x]\n",
                 "t.yaml:7:14: jobs[0].retries: -1 is out of range (0 to 100)");
    expect_error(JOB "    every: 1m\n    retries: two\n    exec: [x]\n",
                 "t.yaml:7:14: jobs[0].retries: expected an integer, got 'two'");
    expect_error(JOB "    every: 1m\n    retry_backoff: 0s\n    exec: [x]\n",
                 "t.yaml:7:20: jobs[0].retry_backoff: must be at least 1ms, got 0s");
    lc_config *c = parse_ok(JOB "    every: 1m\n    retries: 100\n    retry_backoff: 250ms\n"
                                "    kill_grace: 0s\n    exec: [x]\n");
    assert_int_equal(c->jobs[0].retries, 100);
    assert_int_equal(c->jobs[0].retry_backoff_ms, 250);
    assert_int_equal(c->jobs[0].kill_grace_ms, 0);
    lc_config_free(c);
}

static void test_job_config_kill_grace_is_for_exec_jobs_only(void **state)
{
    (void)state;
    expect_error(JOB "    every: 1m\n    kill_grace: 2s\n    http: {url: http://h/}\n",
                 "t.yaml:7:5: jobs[0].kill_grace: job 'a' is an http job: it has no process to "
                 "kill");
}

static void test_job_config_bad_url_is_refused_without_quoting_it(void **state)
{
    (void)state;
    expect_error(JOB "    every: 1m\n    http:\n      url: \"ftp://u:pw1@h/x\"\n",
                 "t.yaml:8:12: jobs[0].http.url: expected an http:// or https:// URL, got ftp://");
    expect_error(JOB "    every: 1m\n    http:\n      url: \"https://u:pw2@h/a b\"\n",
                 "t.yaml:8:12: jobs[0].http.url: not a valid URL (Bad path)");
    expect_error(JOB "    every: 1m\n    http:\n      url: \"https://h:99999/\"\n",
                 "t.yaml:8:12: jobs[0].http.url: not a valid URL (Port number was not a decimal "
                 "number between 0 and 65535)");
    expect_error(JOB "    every: 1m\n    http:\n      url: \"example.com/x\"\n",
                 "t.yaml:8:12: jobs[0].http.url: not a valid URL (Bad scheme)");
    expect_error(JOB "    every: 1m\n    http:\n      url: \"\"\n",
                 "t.yaml:8:12: jobs[0].http.url: must not be empty");
    /* The password is never quoted, also in a URL that does not parse. */
    expect_error(JOB "    every: 1m\n    http:\n      url: \"http://u:pw3@h:{{other}}/\"\n",
                 "t.yaml:8:12: jobs[0].http.url: not a valid URL (Port number was not a decimal "
                 "number between 0 and 65535)");
    /* Placeholders are values to come, anywhere in the URL. */
    lc_config *c =
        parse_ok(JOB "    every: 1m\n    http:\n"
                     "      url: \"HTTPS://h:{{fence}}/{{lock}}?s={{slot}}&c={{checkpoint}}"
                     "&x={{other}}\"\n");
    assert_string_equal(c->jobs[0].http->url,
                        "HTTPS://h:{{fence}}/{{lock}}?s={{slot}}&c={{checkpoint}}&x={{other}}");
    lc_config_free(c);
}

static void test_job_config_bad_expect_status_is_refused(void **state)
{
    (void)state;
    expect_error(HTTP "      expect_status: [200, 600]\n",
                 "t.yaml:9:28: jobs[0].http.expect_status: 600 is out of range (100 to 599)");
    expect_error(HTTP "      expect_status: 99\n",
                 "t.yaml:9:22: jobs[0].http.expect_status: 99 is out of range (100 to 599)");
    expect_error(HTTP "      expect_status: [200, ok]\n",
                 "t.yaml:9:28: jobs[0].http.expect_status: expected an integer, got 'ok'");
    expect_error(HTTP "      expect_status: []\n",
                 "t.yaml:9:22: jobs[0].http.expect_status: expected an HTTP status or a list "
                 "like [200, 204], got a sequence");
}

static void test_job_config_checkpoint_from_is_a_dotted_path(void **state)
{
    (void)state;
    static const char *const bad[] = {"a..b", ".a", "a.", "a b", "a[0]", "$.a"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char yaml[256], msg[256];
        snprintf(yaml, sizeof(yaml), HTTP "      checkpoint_from: \"%s\"\n", bad[i]);
        snprintf(msg, sizeof(msg),
                 "t.yaml:9:24: jobs[0].http.checkpoint_from: expected a dotted path of names "
                 "like data.cursor, got '%s'",
                 bad[i]);
        expect_error(yaml, msg);
    }
    lc_config *c = parse_ok(HTTP "      checkpoint_from: data.items.0.next-cursor_id\n");
    assert_string_equal(c->jobs[0].http->checkpoint_from, "data.items.0.next-cursor_id");
    lc_config_free(c);
    c = parse_ok(HTTP "      checkpoint_from: \"\"\n");
    assert_null(c->jobs[0].http->checkpoint_from);
    lc_config_free(c);
}

static void test_job_config_ca_file_must_be_readable_at_load(void **state)
{
    (void)state;
    expect_error(HTTP "      ca_file: /nonexistent/ca.pem\n",
                 "t.yaml:9:16: jobs[0].http.ca_file: /nonexistent/ca.pem: No such file or "
                 "directory");
    expect_error(HTTP "      ca_file: /tmp\n",
                 "t.yaml:9:16: jobs[0].http.ca_file: /tmp: not a regular file");
    char path[] = "/tmp/lc-ca-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char yaml[256];
    snprintf(yaml, sizeof(yaml), HTTP "      ca_file: %s\n", path);
    lc_config *c = parse_ok(yaml);
    assert_string_equal(c->jobs[0].http->ca_file, path);
    lc_config_free(c);
    /* "" is none: the system's CAs ("${CA_FILE:-}" with CA_FILE unset). */
    unsetenv("LCT_NO_CA");
    c = parse_ok(HTTP "      ca_file: \"${LCT_NO_CA:-}\"\n");
    assert_null(c->jobs[0].http->ca_file);
    lc_config_free(c);
    if (geteuid() != 0) { /* root reads whatever the mode says */
        assert_int_equal(chmod(path, 0), 0);
        char msg[256];
        snprintf(msg, sizeof(msg), "t.yaml:9:16: jobs[0].http.ca_file: %s: Permission denied",
                 path);
        expect_error(yaml, msg);
    }
    unlink(path);
}

static void test_job_config_lockcoord_headers_are_refused(void **state)
{
    (void)state;
    expect_error(HTTP "      headers:\n        X-A: b\n        Idempotency-Key: k\n",
                 "t.yaml:11:9: jobs[0].http.headers.Idempotency-Key: http header "
                 "'Idempotency-Key' is set by lockcoord itself; remove it");
    expect_error(HTTP "      headers: {lockcoord-fence: \"1\"}\n",
                 "t.yaml:9:17: jobs[0].http.headers.lockcoord-fence: http header "
                 "'lockcoord-fence' is set by lockcoord itself; remove it");
}

static void test_job_config_sync_section_defaults_and_listen(void **state)
{
    (void)state;
    lc_config *c = parse_ok(BASE);
    assert_int_equal(c->sync.shutdown_grace_ms, 30000);
    assert_null(c->sync.listen);
    lc_config_free(c);
    static const char *const good[] = {"127.0.0.1:9187", "localhost:80", "[::1]:65535",
                                       "metrics.internal:9187", "0.0.0.0:1"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char yaml[256];
        snprintf(yaml, sizeof(yaml), BASE "sync:\n  shutdown_grace: 0s\n  listen: \"%s\"\n",
                 good[i]);
        c = parse_ok(yaml);
        assert_string_equal(c->sync.listen, good[i]);
        assert_int_equal(c->sync.shutdown_grace_ms, 0);
        lc_config_free(c);
    }
    c = parse_ok(BASE "sync:\n  listen: \"\"\n");
    assert_null(c->sync.listen);
    lc_config_free(c);
    static const char *const bad[] = {"localhost", "localhost:0", "h:65536", ":9187",
                                      "::1:9187",  "[::1]",       "[x]:80",  "h:8x",
                                      "a b:80",    "[]:80",       "h:"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char yaml[256], msg[256];
        snprintf(yaml, sizeof(yaml), BASE "sync:\n  listen: \"%s\"\n", bad[i]);
        snprintf(msg, sizeof(msg),
                 "t.yaml:5:11: sync.listen: expected HOST:PORT like 127.0.0.1:9187 (an IPv6 "
                 "address in brackets: [::1]:9187), got '%s'",
                 bad[i]);
        expect_error(yaml, msg);
    }
    expect_error(BASE "sync:\n  shutdown_grace: 30\n",
                 "t.yaml:5:19: sync.shutdown_grace: invalid duration '30': a unit is required "
                 "(ms, s, m, h), e.g. '30s'");
    expect_error(BASE "sync:\n  grace: 1s\n",
                 "t.yaml:5:3: unknown key 'grace' (expected one of: shutdown_grace, listen)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_config_no_command_is_refused),
        cmocka_unit_test(test_job_config_exec_and_http_both_refused_at_the_later),
        cmocka_unit_test(test_job_config_schedule_exactly_one_of_every_and_cron),
        cmocka_unit_test(test_job_config_bad_cron_names_field_and_token),
        cmocka_unit_test(test_job_config_cron_text_is_kept),
        cmocka_unit_test(test_job_config_jitter_must_stay_within_the_slot),
        cmocka_unit_test(test_job_config_retries_and_backoff_have_bounds),
        cmocka_unit_test(test_job_config_kill_grace_is_for_exec_jobs_only),
        cmocka_unit_test(test_job_config_bad_url_is_refused_without_quoting_it),
        cmocka_unit_test(test_job_config_bad_expect_status_is_refused),
        cmocka_unit_test(test_job_config_checkpoint_from_is_a_dotted_path),
        cmocka_unit_test(test_job_config_ca_file_must_be_readable_at_load),
        cmocka_unit_test(test_job_config_lockcoord_headers_are_refused),
        cmocka_unit_test(test_job_config_sync_section_defaults_and_listen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
