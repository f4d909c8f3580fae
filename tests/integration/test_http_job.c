/* tests/integration/test_http_job.c -- one attempt of an http job
 * (sync/http_job.c) against a real HTTP server: tests/tools/http_receiver.py,
 * started once for the group (and once more with TLS), which records every
 * request it gets. Each test uses its own path, so the log tells its
 * requests apart. */
#include "testenv.h"

#include "sync/http_job_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOCK "jobs/sync"
#define SLOT "2026-01-01T00:00:00Z"
#define MiB  (1024 * 1024)

typedef struct receiver {
    pid_t pid;
    int port;
    char log[160];
    char control[160];
} receiver;

static char dir[64];
static receiver rx;

/* ------------------------------------------------------------------------ */
/* The receiver                                                             */
/* ------------------------------------------------------------------------ */

/* The source tree: from ctest's LOCKCOORD_SRC, or, run by hand, from the
 * path of this file. */
static const char *src_path(const char *rel, char *buf, size_t size)
{
    const char *src = getenv("LOCKCOORD_SRC");
    if (src && *src) {
        snprintf(buf, size, "%s/%s", src, rel);
    } else {
        snprintf(buf, size, "%s", __FILE__);
        char *cut = strstr(buf, "/tests/integration/");
        if (cut)
            snprintf(cut, size - (size_t)(cut - buf), "/%s", rel);
    }
    return buf;
}

/* Reads the port line the receiver prints once it listens (10 s at most:
 * a python3 that does not start is a failure, not a hang). */
static int read_port(int fd)
{
    char line[32] = "";
    size_t n = 0;
    int64_t end = lct_now_ms() + 10000;
    while (n + 1 < sizeof(line) && strchr(line, '\n') == NULL) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = end - lct_now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return -1;
        ssize_t r = read(fd, line + n, sizeof(line) - 1 - n);
        if (r <= 0)
            return -1;
        n += (size_t)r;
        line[n] = '\0';
    }
    return atoi(line);
}

static void start_receiver(receiver *r, const char *name, const char *cert, const char *key)
{
    char script[1024];
    src_path("tests/tools/http_receiver.py", script, sizeof(script));
    snprintf(r->log, sizeof(r->log), "%s/%s.log", dir, name);
    snprintf(r->control, sizeof(r->control), "%s/%s.control.json", dir, name);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    r->pid = fork();
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        const char *argv[] = {"python3",
                              script,
                              "--log",
                              r->log,
                              "--control",
                              r->control,
                              cert ? "--tls-cert" : NULL,
                              cert,
                              "--tls-key",
                              key,
                              NULL};
        execvp("python3", (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    r->port = read_port(fds[0]);
    close(fds[0]);
    if (r->port <= 0)
        fail_msg("http_receiver.py did not start (python3 %s)", script);
}

static void stop_receiver(receiver *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        waitpid(r->pid, NULL, 0);
    }
    unlink(r->log);
    unlink(r->control);
    memset(r, 0, sizeof(*r));
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/lc-http-XXXXXX");
    assert_non_null(mkdtemp(dir));
    start_receiver(&rx, "rx", NULL, NULL);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    stop_receiver(&rx);
    rmdir(dir);
    return 0;
}

/* Replaces the receiver's rules (read again for every request). */
static void set_control(const receiver *r, const char *json)
{
    char tmp[200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", r->control);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(json, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, r->control), 0);
}

static const char *url_on(const receiver *r, const char *scheme, const char *path)
{
    static char url[1024];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s", scheme, r->port, path);
    return url;
}

static const char *url(const char *path)
{
    return url_on(&rx, "http", path);
}

/* The last log record of `event` ("request", "done") whose path, query
 * left out, is `path`; NULL if none. Free with cJSON_Delete. */
static cJSON *logged_in(const receiver *r, const char *event, const char *path)
{
    FILE *f = fopen(r->log, "r");
    if (f == NULL)
        return NULL;
    cJSON *found = NULL;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        const char *p = cJSON_GetStringValue(cJSON_GetObjectItem(j, "path"));
        const char *e = cJSON_GetStringValue(cJSON_GetObjectItem(j, "event"));
        size_t n = p ? strcspn(p, "?") : 0;
        if (p && e && strcmp(e, event) == 0 && n == strlen(path) && strncmp(p, path, n) == 0) {
            cJSON_Delete(found);
            found = j;
        } else {
            cJSON_Delete(j);
        }
    }
    free(line);
    fclose(f);
    return found;
}

static cJSON *logged(const char *path)
{
    return logged_in(&rx, "request", path);
}

static const char *field(const cJSON *rec, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(rec, name));
}

static const char *header(const cJSON *rec, const char *name)
{
    return cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "headers"), name));
}

/* ------------------------------------------------------------------------ */
/* Jobs and runs                                                            */
/* ------------------------------------------------------------------------ */

static int ok_status[] = {200, 201, 202, 204};

static lc_http_job job_for(const char *u)
{
    lc_http_job j = {0};
    j.url = (char *)u;
    j.method = "POST";
    j.expect_status = ok_status;
    j.n_expect_status = 4;
    return j;
}

static lc__http_vars vars(const char *checkpoint)
{
    return (lc__http_vars){.lock = LOCK, .fence = 42, .checkpoint = checkpoint, .slot = SLOT};
}

/* One attempt that must run its course (LC_OK). */
static void run(const lc_http_job *job, const lc__http_vars *v, int64_t timeout_ms, int stop_fd,
                lc__http_result *out)
{
    lc_error err;
    lct_assert_rc(lc__http_run(job, v, timeout_ms, stop_fd, out, &err), LC_OK, &err);
    assert_true(strlen(out->error) < sizeof(out->error));
    /* Every error text can be recorded as it is. */
    lct_assert_rc(lc_text_check(out->error, strlen(out->error), &err), LC_OK, &err);
}

static void assert_outcome(const lc__http_result *r, lc__http_outcome want)
{
    if (r->outcome != want)
        fail_msg("outcome %s (%s), want %s", lc__http_outcome_name(r->outcome), r->error,
                 lc__http_outcome_name(want));
}

static void assert_contains(const char *text, const char *part)
{
    if (text == NULL || strstr(text, part) == NULL)
        fail_msg("'%s' does not contain '%s'", text ? text : "(null)", part);
}

static void assert_lacks(const char *text, const char *part)
{
    if (strstr(text, part) != NULL)
        fail_msg("'%s' contains '%s'", text, part);
}

/* A request to `path` was not sent: a later request is in the log and it
 * is not (the log is written in order). */
static void assert_not_sent(const char *path)
{
    char marker[128];
    snprintf(marker, sizeof(marker), "/marker%s", path);
    lc_http_job job = job_for(url(marker));
    lc__http_vars v = vars(NULL);
    lc__http_result r;
    run(&job, &v, 10000, -1, &r);
    assert_outcome(&r, LC__HTTP_OK);
    cJSON *m = logged(marker), *p = logged(path);
    assert_non_null(m);
    assert_null(p);
    cJSON_Delete(m);
    lc__http_result_clear(&r);
}

/* ------------------------------------------------------------------------ */
/* What is sent                                                             */
/* ------------------------------------------------------------------------ */

static void test_http_run_placeholders_are_encoded_per_place(void **state)
{
    (void)state;
    const char *cp = "a b&c=\"q\"\\/\xc3\xa9{}";
    lc_http_job job =
        job_for(url("/t/ph?since={{checkpoint}}&f={{fence}}&l={{lock}}&s={{slot}}&u={{other}}"));
    job.body = "{\"since\": \"{{checkpoint}}\", \"fence\": {{fence}}, \"lock\": \"{{lock}}\", "
               "\"slot\": \"{{slot}}\", \"keep\": \"{{other}}\"}";
    lc__http_vars v = vars(cp);
    lc__http_result r;
    run(&job, &v, 10000, -1, &r);
    assert_outcome(&r, LC__HTTP_OK);
    cJSON *rec = logged("/t/ph");
    assert_non_null(rec);
    assert_string_equal(field(rec, "path"),
                        "/t/ph?since=a%20b%26c%3D%22q%22%5C%2F%C3%A9%7B%7D&f=42&l=jobs%2Fsync"
                        "&s=2026-01-01T00%3A00%3A00Z&u={{other}}");
    cJSON *body = cJSON_Parse(field(rec, "body"));
    assert_non_null(body); /* still JSON, whatever the checkpoint holds */
    assert_string_equal(field(body, "since"), cp);
    assert_int_equal(cJSON_GetObjectItem(body, "fence")->valueint, 42);
    assert_string_equal(field(body, "lock"), LOCK);
    assert_string_equal(field(body, "slot"), SLOT);
    assert_string_equal(field(body, "keep"), "{{other}}");
    cJSON_Delete(body);
    cJSON_Delete(rec);
    lc__http_result_clear(&r);
}

static void test_http_run_body_control_characters_are_json_escaped(void **state)
{
    (void)state;
    lc_http_job job = job_for(url("/t/ctl"));
    job.body = "{\"since\": \"{{checkpoint}}\"}";
    lc__http_vars v = vars("tab\there\nnl\x01");
    lc__http_result r;
    run(&job, &v, 10000, -1, &r);
    assert_outcome(&r, LC__HTTP_OK);
    cJSON *rec = logged("/t/ctl");
    assert_non_null(rec);
    assert_string_equal(field(rec, "body"), "{\"since\": \"tab\\there\\nnl\\u0001\"}");
    cJSON_Delete(rec);
    lc__http_result_clear(&r);
}

static void test_http_run_header_values_get_placeholders_as_is(void **state)
{
    (void)state;
    lc_header hs[] = {{"X-Cursor", "{{checkpoint}}/{{fence}}"}, {"X-Empty", ""}};
    lc_http_job job = job_for(url("/t/hv"));
    job.headers = hs;
    job.n_headers = 2;
    lc__http_vars v = vars("a b&c=d");
    lc__http_result r;
    run(&job, &v, 10000, -1, &r);
    assert_outcome(&r, LC__HTTP_OK);
    cJSON *rec = logged("/t/hv");
    assert_non_null(rec);
    assert_string_equal(header(rec, "x-cursor"), "a b&c=d/42");
    assert_string_equal(header(rec, "x-empty"), "");
    cJSON_Delete(rec);
    lc__http_result_clear(&r);
}

static void test_http_run_lockcoord_headers_are_on_every_request(void **state)
{
    (void)state;
    lc_http_job job = job_for(url("/t/lh"));
    job.body = "{}";
    lc__http_vars v = vars(NULL);
    for (int attempt = 0; attempt < 2; attempt++) {
        lc__http_result r;
        run(&job, &v, 10000, -1, &r);
        assert_outcome(&r, LC__HTTP_OK);
        cJSON *rec = logged("/t/lh");
        assert_non_null(rec);
        assert_string_equal(header(rec, "lockcoord-lock"), LOCK);
        assert_string_equal(header(rec, "lockcoord-fence"), "42");
        /* The same for a retry: a receiver can refuse the repeat. */
        assert_string_equal(header(rec, "idempotency-key"), LOCK ":" SLOT);
        assert_string_equal(header(rec, "user-agent"), "lockcoord/" LC_VERSION);
        assert_string_equal(header(rec, "content-type"), "application/json");
        assert_null(header(rec, "expect"));
        assert_string_equal(field(rec, "body"), "{}");
        assert_string_equal(field(rec, "method"), "POST");
        cJSON_Delete(rec);
        lc__http_result_clear(&r);
    }
}

static void test_http_run_job_content_type_and_user_agent_win(void **state)
{
    (void)state;
    lc_header hs[] = {{"content-type", "text/plain"}, {"User-Agent", "mine/1"}};
    lc_http_job job = job_for(url("/t/ct"));
    job.headers = hs;
    job.n_headers = 2;
    job.body = "hello";
    lc__http_vars v = vars(NULL);
    lc__http_result r;
    run(&job, &v, 10000, -1, &r);
    assert_outcome(&r, LC__HTTP_OK);
    cJSON *rec = logged("/t/ct");
    assert_non_null(rec);
    assert_string_equal(header(rec, "content-type"), "text/plain");
    assert_string_equal(header(rec, "user-agent"), "mine/1");
    cJSON_Delete(rec);
    lc__http_result_clear(&r);
}

static void test_http_run_methods_are_sent_as_given(void **state)
{
    (void)state;
    static const struct {
        const char *method, *path, *body;
    } cases[] = {
        {"GET", "/t/m-get", NULL},     {"PUT", "/t/m-put", "{\"x\":1}"},
        {"DELETE", "/t/m-del", NULL},  {"POST", "/t/m-post", NULL},
        {"PATCH", "/t/m-patch", "[]"}, {"HEAD", "/t/m-head", NULL},
        {"GET", "/t/m-getbody", "{}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lc_http_job job = job_for(url(cases[i].path));
        job.method = (char *)cases[i].method;
        job.body = (char *)cases[i].body;
        lc__http_vars v = vars(NULL);
        lc__http_result r;
        run(&job, &v, 10000, -1, &r);
        assert_outcome(&r, LC__HTTP_OK);
        cJSON *rec = logged(cases[i].path);
        assert_non_null(rec);
        assert_string_equal(field(rec, "method"), cases[i].method);
        assert_string_equal(field(rec, "body"), cases[i].body ? cases[i].body : "");
        cJSON_Delete(rec);
        lc__http_result_clear(&r);
    }
}

static void test_http_run_lockcoord_header_in_job_is_refused(void **state)
{
    (void)state;
    lc_header hs[] = {{"idempotency-key", "mine"}};
    lc_http_job job = job_for(url("/t/reserved"));
    job.headers = hs;
    job.n_headers = 1;
    lc_error err;
    lct_assert_rc(lc__http_check(&job, &err), LC_ERR_CONFIG, &err);
    assert_contains(err.message, "idempotency-key");
    lc__http_vars v = vars(NULL);
    lc__http_result r;
    run(&job, &v, 10000, -1, &r);
    assert_outcome(&r, LC__HTTP_FAILED);
    assert_contains(r.error, "idempotency-key");
    assert_int_equal(r.http_status, 0);
    assert_not_sent("/t/reserved");
    lc__http_result_clear(&r);
}

static void test_http_run_header_line_break_from_placeholder_is_refused(void **state)
{
    (void)state;
    lc_header hs[] = {{"X-Cursor", "{{checkpoint}}"}};
    lc_http_job job = job_for(url("/t/crlf"));
    job.headers = hs;
    job.n_headers = 1;
    lc__http_vars v = vars("x\r\nX-Evil: 1");
    lc__http_result r;
    run(&job, &v, 10000, -1, &r);
    assert_outcome(&r, LC__HTTP_FAILED);
    assert_contains(r.error, "X-Cursor");
    assert_contains(r.error, "line break");
    assert_not_sent("/t/crlf");
    lc__http_result_clear(&r);
}

static void test_http_run_missing_slot_is_invalid(void **state)
{
    (void)state;
    lc_http_job job = job_for(url("/t/noslot"));
    lc__http_vars v = vars(NULL);
    v.slot = NULL;
    lc__http_result r;
    lc_error err;
    lct_assert_rc(lc__http_run(&job, &v, 1000, -1, &r, &err), LC_ERR_INVALID, &err);
    assert_outcome(&r, LC__HTTP_FAILED);
    assert_contains(r.error, "slot");
}

/* ------------------------------------------------------------------------ */
/* Status and errors                                                        */
/* ------------------------------------------------------------------------ */

static void test_http_run_expected_status_is_ok(void **state)
{
    (void)state;
    lc_http_job job = job_for(url("/t/s204?status=204&body="));
    lc__http_vars v = vars(NULL);
    lc__http_result r;
    run(&job, &v, 10000, -1, &r);
    assert_outcome(&r, LC__HTTP_OK);
    assert_int_equal(r.http_status, 204);
    assert_string_equal(r.error, "");
    assert_null(r.new_checkpoint);
    lc__http_result_clear(&r);
}

static void test_http_run_status_outside_expect_status_fails(void **state)
{
    (void)state;
    int only[] = {202};
    lc_http_job job = job_for(url("/t/s200"));
    job.expect_status = only;
    job.n_expect_status = 1;
    lc__http_vars v = vars(NULL);
    lc__http_result r;
    run(&job, &v, 10000, -1, &r);
    assert_outcome(&r, LC__HTTP_FAILED);
    assert_int_equal(r.http_status, 200);
    assert_string_equal(r.error, "HTTP 200: {\"ok\": true}");
    lc__http_result_clear(&r);
}

static void test_http_run_500_error_has_status_and_body_start(void **state)
{
    (void)state;
    set_control(&rx, "{\"/t/s500\": {\"status\": 500, \"body\": \"boom:\\n  line two\\r\\n\"}}");
    lc_http_job job = job_for(url("/t/s500"));
    lc__http_vars v = vars(NULL);
    lc__http_result r;
    run(&job, &v, 10000, -1, &r);
    assert_outcome(&r, LC__HTTP_FAILED);
    assert_int_equal(r.http_status, 500);
    assert_string_equal(r.error, "HTTP 500: boom: line two");
    lc__http_result_clear(&r);
}

static void test_http_run_long_odd_body_is_quoted_short_and_printable(void **state)
{
    (void)state;
    /* 600 bytes with a bell, an escape sequence and a C1 control. */
    char rule[2048];
    char filler[601];
    memset(filler, 'y', 600);
    filler[600] = '\0';
    snprintf(rule, sizeof(rule),
             "{\"/t/odd\": {\"status\": 503, \"body\": \"\\u0007\\u001b[31mred \\u0085"
             "\\u00e9 %s\"}}",
             filler);
    set_control(&rx, rule);
    lc_http_job job = job_for(url("/t/odd"));
    lc__http_vars v = vars(NULL);
    lc__http_result r;
    run(&job, &v, 10000, -1, &r);
    assert_outcome(&r, LC__HTTP_FAILED);
    assert_int_equal(r.http_status, 503);
    assert_contains(r.error, "HTTP 503: \\x07\\x1b[31mred \\xc2\\x85\xc3\xa9 yyy");
    assert_int_equal(strcmp(r.error + strlen(r.error) - 3, "..."), 0);
    assert_true(strlen(r.error) < 260);
    lc__http_result_clear(&r);
}

static void test_http_run_redirect_is_not_followed(void **state)
{
    (void)state;
    char rule[512];
    snprintf(rule, sizeof(rule),
             "{\"/t/redir\": {\"status\": 302, \"body\": \"\", \"headers\": {\"Location\": "
             "\"%s\"}}}",
             url("/t/redir-target"));
    set_control(&rx, rule);
    lc_http_job job = job_for(url("/t/redir"));
    lc__http_vars v = vars(NULL);
    lc__http_result r;
    run(&job, &v, 10000, -1, &r);
    assert_outcome(&r, LC__HTTP_FAILED);
    assert_int_equal(r.http_status, 302);
    assert_string_equal(r.error, "HTTP 302 (redirects are not followed)");
    assert_not_sent("/t/redir-target");
    lc__http_result_clear(&r);
}

static void test_http_run_other_protocols_are_refused(void **state)
{
    (void)state;
    static const char *const urls[] = {"ftp://127.0.0.1:1/x", "file:///etc/hostname",
                                       "gopher://127.0.0.1:1/"};
    for (size_t i = 0; i < 3; i++) {
        lc_http_job job = job_for(urls[i]);
        lc__http_vars v = vars(NULL);
        lc__http_result r;
        run(&job, &v, 10000, -1, &r);
        assert_outcome(&r, LC__HTTP_FAILED);
        assert_int_equal(r.http_status, 0);
        assert_contains(r.error, "not supported");
        lc__http_result_clear(&r);
    }
}

static void test_http_run_connection_refused_names_the_address(void **state)
{
    (void)state;
    lc_http_job job = job_for("http://127.0.0.1:1/t/refused");
    lc__http_vars v = vars(NULL);
    lc__http_result r;
    run(&job, &v, 10000, -1, &r);
    assert_outcome(&r, LC__HTTP_FAILED);
    assert_int_equal(r.http_status, 0);
    assert_contains(r.error, "127.0.0.1");
    assert_contains(r.error, "Connection refused");
    lc__http_result_clear(&r);
}

static void test_http_run_errors_never_show_header_or_url_secrets(void **state)
{
    (void)state;
    static const char *const secrets[] = {"sekrit-api-key-123", "xkey-secret-456",
                                          "sekrit-pass-000", "sekrit-query-789"};
    set_control(&rx, "{\"/t/sec\": {\"status\": 401, \"body\": \"denied: Bearer "
                     "sekrit-api-key-123, xkey-secret-456, sekrit-pass-000, "
                     "token=sekrit-query-789\"}, \"/t/sec-echo\": {\"status\": 500, \"echo\": "
                     "true}}");
    lc_header hs[] = {{"Authorization", "Bearer sekrit-api-key-123"},
                      {"X-Api-Key", "xkey-secret-456"}};
    char u[3][512];
    snprintf(u[0], sizeof(u[0]), "http://user:sekrit-pass-000@127.0.0.1:%d/t/sec?token=%s", rx.port,
             "sekrit-query-789");
    snprintf(u[1], sizeof(u[1]),
             "http://user:sekrit-pass-000@127.0.0.1:%d/t/sec-echo?token=sekrit-query-789", rx.port);
    snprintf(u[2], sizeof(u[2]), "http://user:sekrit-pass-000@127.0.0.1:1/t/x?token=%s",
             "sekrit-query-789");
    for (size_t i = 0; i < 3; i++) {
        lc_http_job job = job_for(u[i]);
        job.headers = hs;
        job.n_headers = 2;
        lc__http_vars v = vars(NULL);
        lc__http_result r;
        run(&job, &v, 10000, -1, &r);
        assert_outcome(&r, LC__HTTP_FAILED);
        for (size_t k = 0; k < 4; k++)
            assert_lacks(r.error, secrets[k]);
        if (i == 0)
            assert_contains(r.error, "HTTP 401: denied: ");
        lc__http_result_clear(&r);
    }
    /* The echo did carry them: the hiding is what kept them out. */
    cJSON *rec = logged("/t/sec-echo");
    assert_non_null(rec);
    assert_string_equal(header(rec, "authorization"), "Bearer sekrit-api-key-123");
    cJSON_Delete(rec);
}

static void test_http_run_secret_at_the_quote_cut_is_not_shown_in_part(void **state)
{
    (void)state;
    /* The secret starts 5 bytes before the 200-byte cut of the quote. */
    char rule[512], filler[196];
    memset(filler, 'a', 195);
    filler[195] = '\0';
    snprintf(rule, sizeof(rule),
             "{\"/t/sec-cut\": {\"status\": 500, \"body\": \"%ssekrit-api-key-123 tail\"}}",
             filler);
    set_control(&rx, rule);
    lc_header hs[] = {{"X-Api-Key", "sekrit-api-key-123"}};
    lc_http_job job = job_for(url("/t/sec-cut"));
    job.headers = hs;
    job.n_headers = 1;
    lc__http_vars v = vars(NULL);
    lc__http_result r;
    run(&job, &v, 10000, -1, &r);
    assert_outcome(&r, LC__HTTP_FAILED);
    assert_lacks(r.error, "sekr");
    assert_contains(r.error, "aaa***");
    lc__http_result_clear(&r);
}

/* ------------------------------------------------------------------------ */
/* Ending early: timeout, stop fd, size                                     */
/* ------------------------------------------------------------------------ */

static void test_http_run_hang_past_timeout_is_timeout(void **state)
{
    (void)state;
    lc_http_job job = job_for(url("/t/hang-timeout?hang=1"));
    lc__http_vars v = vars(NULL);
    lc__http_result r;
    int64_t t0 = lct_now_ms();
    run(&job, &v, 300, -1, &r);
    int64_t took = lct_now_ms() - t0;
    assert_outcome(&r, LC__HTTP_TIMEOUT);
    assert_true(took >= 250);  /* it was the deadline that ended it ... */
    assert_true(took < 10000); /* ... not the receiver, which never answers */
    assert_contains(r.error, "imed out");
    lc__http_result_clear(&r);
}

static int client_went_away(void *arg)
{
    cJSON *done = logged_in(&rx, "done", arg);
    int gone = done && cJSON_IsFalse(cJSON_GetObjectItem(done, "completed"));
    cJSON_Delete(done);
    return gone;
}

static void test_http_run_stop_fd_aborts_a_hanging_transfer(void **state)
{
    (void)state;
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    assert_true(tfd >= 0);
    struct itimerspec its = {.it_value = {.tv_sec = 0, .tv_nsec = 200 * 1000000L}};
    assert_int_equal(timerfd_settime(tfd, 0, &its, NULL), 0);
    lc_http_job job = job_for(url("/t/hang-stop?hang=1"));
    lc__http_vars v = vars(NULL);
    lc__http_result r;
    int64_t t0 = lct_now_ms();
    run(&job, &v, 60000, tfd, &r);
    int64_t took = lct_now_ms() - t0;
    close(tfd);
    assert_outcome(&r, LC__HTTP_ABORTED);
    assert_true(took < 10000); /* not the 60 s timeout: the stop fd ended it */
    /* The connection was closed, not left to hang at the receiver. */
    assert_true(lct_wait_for(client_went_away, "/t/hang-stop", lct_now_ms() + 10000));
    lc__http_result_clear(&r);
}

static void test_http_run_stop_fd_ready_at_start_sends_nothing(void **state)
{
    (void)state;
    int efd = eventfd(0, EFD_CLOEXEC);
    assert_true(efd >= 0);
    uint64_t one = 1;
    assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
    lc_http_job job = job_for(url("/t/prestopped"));
    lc__http_vars v = vars(NULL);
    lc__http_result r;
    run(&job, &v, 10000, efd, &r);
    close(efd);
    assert_outcome(&r, LC__HTTP_ABORTED);
    assert_not_sent("/t/prestopped");
    lc__http_result_clear(&r);
}

static void test_http_run_response_over_1mib_is_refused(void **state)
{
    (void)state;
    static const char *const paths[] = {"/t/big?size=1048577",
                                        "/t/big-stream?size=3000000&chunked=1"};
    for (size_t i = 0; i < 2; i++) {
        lc_http_job job = job_for(url(paths[i]));
        lc__http_vars v = vars(NULL);
        lc__http_result r;
        run(&job, &v, 30000, -1, &r);
        assert_outcome(&r, LC__HTTP_FAILED);
        assert_int_equal(r.http_status, 200);
        assert_string_equal(r.error, "HTTP 200: response over 1 MiB");
        lc__http_result_clear(&r);
    }
}

static void test_http_run_response_of_exactly_1mib_is_read(void **state)
{
    (void)state;
    static const char *const paths[] = {"/t/1mib?size=1048576",
                                        "/t/1mib-stream?size=1048576&chunked=1"};
    for (size_t i = 0; i < 2; i++) {
        lc_http_job job = job_for(url(paths[i]));
        lc__http_vars v = vars(NULL);
        lc__http_result r;
        run(&job, &v, 30000, -1, &r);
        assert_outcome(&r, LC__HTTP_OK);
        lc__http_result_clear(&r);
    }
}

/* ------------------------------------------------------------------------ */
/* The checkpoint                                                           */
/* ------------------------------------------------------------------------ */

/* One attempt against a response body given in the control file. */
static void run_checkpoint(const char *path, const char *rule, const char *from, lc__http_result *r)
{
    set_control(&rx, rule);
    lc_http_job job = job_for(url(path));
    job.checkpoint_from = (char *)from;
    lc__http_vars v = vars("old");
    run(&job, &v, 10000, -1, r);
}

static void test_http_run_checkpoint_from_takes_the_dotted_path(void **state)
{
    (void)state;
    static const struct {
        const char *json, *path, *want;
    } cases[] = {
        {"{\"cursor\": \"c-1\"}", "cursor", "c-1"},
        {"{\"data\": {\"next\": {\"cursor\": \"c-42\"}}}", "data.next.cursor", "c-42"},
        {"{\"n\": 12345}", "n", "12345"},
        {"{\"n\": 1.5}", "n", "1.5"},
        {"{\"items\": [{\"id\": \"a\"}, {\"id\": \"b\"}]}", "items.1.id", "b"},
        {"{\"cursor\": \"\"}", "cursor", ""},
        {"{\"cursor\": \"\\u00e9t\\u00e9\"}", "cursor", "\xc3\xa9t\xc3\xa9"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char rule[512];
        snprintf(rule, sizeof(rule), "{\"/t/cp\": {\"json\": %s}}", cases[i].json);
        lc__http_result r;
        run_checkpoint("/t/cp", rule, cases[i].path, &r);
        assert_outcome(&r, LC__HTTP_OK);
        assert_non_null(r.new_checkpoint);
        assert_string_equal(r.new_checkpoint, cases[i].want);
        lc__http_result_clear(&r);
    }
}

static void test_http_run_checkpoint_absent_or_null_keeps_the_old_one(void **state)
{
    (void)state;
    lc__http_result r;
    run_checkpoint("/t/cp-null", "{\"/t/cp-null\": {\"json\": {\"cursor\": null}}}", "cursor", &r);
    assert_outcome(&r, LC__HTTP_OK);
    assert_null(r.new_checkpoint);
    lc__http_result_clear(&r);
    run_checkpoint("/t/cp-empty", "{\"/t/cp-empty\": {\"status\": 204, \"body\": \"\"}}", "cursor",
                   &r);
    assert_outcome(&r, LC__HTTP_OK);
    assert_int_equal(r.http_status, 204);
    assert_null(r.new_checkpoint);
    lc__http_result_clear(&r);
}

static void test_http_run_checkpoint_missing_or_bad_fails(void **state)
{
    (void)state;
    static const struct {
        const char *rule, *path, *want;
    } cases[] = {
        {"{\"/t/cpf\": {\"json\": {\"data\": {}}}}", "data.cursor",
         "HTTP 200: checkpoint_from 'data.cursor': not in the response"},
        {"{\"/t/cpf\": {\"json\": {\"data\": 5}}}", "data.cursor",
         "HTTP 200: checkpoint_from 'data.cursor': not in the response"},
        {"{\"/t/cpf\": {\"json\": [1, 2]}}", "5",
         "HTTP 200: checkpoint_from '5': not in the response"},
        {"{\"/t/cpf\": {\"body\": \"<html>hello</html>\"}}", "cursor",
         "HTTP 200: checkpoint_from 'cursor': the response is not JSON"},
        {"{\"/t/cpf\": {\"body\": \"{\\\"cursor\\\": \\\"a\\\"} trailing\"}}", "cursor",
         "HTTP 200: checkpoint_from 'cursor': the response is not JSON"},
        {"{\"/t/cpf\": {\"json\": {\"cursor\": true}}}", "cursor",
         "HTTP 200: checkpoint_from 'cursor': not a string or a number"},
        {"{\"/t/cpf\": {\"json\": {\"cursor\": {\"a\": 1}}}}", "cursor",
         "HTTP 200: checkpoint_from 'cursor': not a string or a number"},
        {"{\"/t/cpf\": {\"json\": {\"cursor\": \"two\\nlines\"}}}", "cursor",
         "HTTP 200: checkpoint_from 'cursor': the value is not one line of text"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lc__http_result r;
        run_checkpoint("/t/cpf", cases[i].rule, cases[i].path, &r);
        assert_outcome(&r, LC__HTTP_FAILED);
        assert_int_equal(r.http_status, 200);
        assert_null(r.new_checkpoint);
        assert_string_equal(r.error, cases[i].want);
        lc__http_result_clear(&r);
    }
}

static void test_http_run_checkpoint_follows_the_receiver_cursor(void **state)
{
    (void)state;
    /* The receiver's cursor counts its answers: each attempt sends the
     * checkpoint the previous one returned. */
    lc_http_job job = job_for(url("/t/cursor?cursor=auto"));
    job.body = "{\"since\": \"{{checkpoint}}\"}";
    job.checkpoint_from = "cursor";
    char *cp = NULL;
    for (int i = 1; i <= 3; i++) {
        lc__http_vars v = vars(cp);
        lc__http_result r;
        run(&job, &v, 10000, -1, &r);
        assert_outcome(&r, LC__HTTP_OK);
        cJSON *rec = logged("/t/cursor");
        char want[64];
        snprintf(want, sizeof(want), "{\"since\": \"%s\"}", cp ? cp : "");
        assert_string_equal(field(rec, "body"), want);
        cJSON_Delete(rec);
        snprintf(want, sizeof(want), "c%d", i);
        assert_string_equal(r.new_checkpoint, want);
        free(cp);
        cp = r.new_checkpoint;
        r.new_checkpoint = NULL;
        lc__http_result_clear(&r);
    }
    free(cp);
}

/* ------------------------------------------------------------------------ */
/* TLS                                                                      */
/* ------------------------------------------------------------------------ */

static int make_cert(const char *cert, const char *key)
{
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execlp("openssl", "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
               "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key,
               "-out", cert, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void test_http_run_tls_is_verified_with_ca_file(void **state)
{
    (void)state;
    char cert[200], key[200];
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    if (make_cert(cert, key) != 0)
        fail_msg("openssl could not make a test certificate");
    receiver tls = {0};
    start_receiver(&tls, "tls", cert, key);
    lc_http_job job = job_for(url_on(&tls, "https", "/t/tls"));
    lc__http_vars v = vars(NULL);
    lc__http_result r;

    /* A certificate nobody vouches for is refused ... */
    run(&job, &v, 10000, -1, &r);
    assert_outcome(&r, LC__HTTP_FAILED);
    assert_int_equal(r.http_status, 0);
    assert_contains(r.error, "certificate");
    lc__http_result_clear(&r);

    /* ... and accepted with the CA that signed it. */
    job.ca_file = cert;
    run(&job, &v, 10000, -1, &r);
    assert_outcome(&r, LC__HTTP_OK);
    assert_int_equal(r.http_status, 200);
    lc__http_result_clear(&r);
    cJSON *rec = logged_in(&tls, "request", "/t/tls");
    assert_non_null(rec);
    assert_string_equal(header(rec, "lockcoord-fence"), "42");
    cJSON_Delete(rec);

    stop_receiver(&tls);
    unlink(cert);
    unlink(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_run_placeholders_are_encoded_per_place),
        cmocka_unit_test(test_http_run_body_control_characters_are_json_escaped),
        cmocka_unit_test(test_http_run_header_values_get_placeholders_as_is),
        cmocka_unit_test(test_http_run_lockcoord_headers_are_on_every_request),
        cmocka_unit_test(test_http_run_job_content_type_and_user_agent_win),
        cmocka_unit_test(test_http_run_methods_are_sent_as_given),
        cmocka_unit_test(test_http_run_lockcoord_header_in_job_is_refused),
        cmocka_unit_test(test_http_run_header_line_break_from_placeholder_is_refused),
        cmocka_unit_test(test_http_run_missing_slot_is_invalid),
        cmocka_unit_test(test_http_run_expected_status_is_ok),
        cmocka_unit_test(test_http_run_status_outside_expect_status_fails),
        cmocka_unit_test(test_http_run_500_error_has_status_and_body_start),
        cmocka_unit_test(test_http_run_long_odd_body_is_quoted_short_and_printable),
        cmocka_unit_test(test_http_run_redirect_is_not_followed),
        cmocka_unit_test(test_http_run_other_protocols_are_refused),
        cmocka_unit_test(test_http_run_connection_refused_names_the_address),
        cmocka_unit_test(test_http_run_errors_never_show_header_or_url_secrets),
        cmocka_unit_test(test_http_run_secret_at_the_quote_cut_is_not_shown_in_part),
        cmocka_unit_test(test_http_run_hang_past_timeout_is_timeout),
        cmocka_unit_test(test_http_run_stop_fd_aborts_a_hanging_transfer),
        cmocka_unit_test(test_http_run_stop_fd_ready_at_start_sends_nothing),
        cmocka_unit_test(test_http_run_response_over_1mib_is_refused),
        cmocka_unit_test(test_http_run_response_of_exactly_1mib_is_read),
        cmocka_unit_test(test_http_run_checkpoint_from_takes_the_dotted_path),
        cmocka_unit_test(test_http_run_checkpoint_absent_or_null_keeps_the_old_one),
        cmocka_unit_test(test_http_run_checkpoint_missing_or_bad_fails),
        cmocka_unit_test(test_http_run_checkpoint_follows_the_receiver_cursor),
        cmocka_unit_test(test_http_run_tls_is_verified_with_ca_file),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
