/* tests/unit/test_config.c -- the YAML loader: every key, every error
 * class with its exact position and text, ${VAR} expansion, redaction. */
#include "testenv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Lines 1-3 of most test files: a valid redis backend. */
#define BASE "backend: redis\nredis:\n  url: redis://127.0.0.1:6379/0\n"

static lc_config *parse_ok(const char *yaml)
{
    lc_config *cfg = NULL;
    lc_error err;
    memset(&err, 0, sizeof(err));
    lct_assert_rc(lc_config_parse(yaml, strlen(yaml), "t.yaml", &cfg, &err), LC_OK, &err);
    assert_non_null(cfg);
    return cfg;
}

/* The file fails with LC_ERR_CONFIG and exactly this message; *out is not
 * touched. */
static void expect_error_n(const char *yaml, size_t len, const char *message)
{
    lc_config *cfg = (lc_config *)(uintptr_t)0x1;
    lc_error err;
    memset(&err, 0, sizeof(err));
    lc_status rc = lc_config_parse(yaml, len, "t.yaml", &cfg, &err);
    if (rc != LC_ERR_CONFIG || strcmp(err.message, message) != 0)
        fail_msg("got %s \"%s\"\nwant config \"%s\"", lc_status_name(rc), err.message, message);
    assert_ptr_equal(cfg, (lc_config *)(uintptr_t)0x1);
}

static void expect_error(const char *yaml, const char *message)
{
    expect_error_n(yaml, strlen(yaml), message);
}

static char *write_temp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/lc-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

static const char *every_key = "backend: redis\n"
                               "owner: node-a\n"
                               "redis:\n"
                               "  url: \"redis://:pw@127.0.0.1:6390/2\"\n"
                               "  connect_timeout: 3s\n"
                               "  command_timeout: 1500ms\n"
                               "  key_prefix: lc-test\n"
                               "  min_replicas_ack: 1\n"
                               "postgres:\n"
                               "  conninfo: \"host=127.0.0.1 port=5433 dbname=app\"\n"
                               "  schema: locks\n"
                               "  table: leases\n"
                               "  auto_migrate: false\n"
                               "  statement_timeout: 4s\n"
                               "  connect_timeout: 5s\n"
                               "  warn_async_replication: false\n"
                               "lock:\n"
                               "  ttl: 1m\n"
                               "  renew_every: 20s\n"
                               "  wait: 2s\n"
                               "  retry_min: 10ms\n"
                               "  retry_max: 2s\n"
                               "sync:\n"
                               "  shutdown_grace: 45s\n"
                               "  listen: \"127.0.0.1:9187\"\n"
                               "jobs:\n"
                               "  - name: smartsuite-sync\n" /* line 27 */
                               "    lock: sync/main\n"
                               "    timeout: 50s\n"
                               "    every: 5m\n"
                               "    jitter: 30s\n"
                               "    retries: 2\n"
                               "    retry_backoff: 5s\n"
                               "    kill_grace: 10s\n"
                               "    ttl: 40s\n"
                               "    renew_every: 5s\n"
                               "    exec: [\"./sync.sh\", \"--incremental\"]\n"
                               "  - name: nightly-webhook\n" /* line 37 */
                               "    cron: \"*/30 2-4 * * mon-fri\"\n"
                               "    http:\n"
                               "      url: \"https://example.invalid/sync\"\n"
                               "      method: put\n"
                               "      headers: { Authorization: \"Bearer k\", X-Trace: \"1\" }\n"
                               "      body: '{\"since\": \"{{checkpoint}}\"}'\n"
                               "      expect_status: [200, 202]\n"
                               "      checkpoint_from: data.cursor\n"
                               "      ca_file: \"${LCT_CA_FILE}\"\n"
                               "log:\n"
                               "  level: debug\n"
                               "  format: json\n";

static void check_every_key_jobs(const lc_config *c)
{
    assert_int_equal(c->n_jobs, 2);
    const lc_job *a = &c->jobs[0], *b = &c->jobs[1];
    assert_string_equal(a->name, "smartsuite-sync");
    assert_string_equal(a->lock, "sync/main");
    assert_int_equal(a->timeout_ms, 50000);
    assert_int_equal(a->every_ms, 300000);
    assert_null(a->cron);
    assert_int_equal(a->jitter_ms, 30000);
    assert_int_equal(a->retries, 2);
    assert_int_equal(a->retry_backoff_ms, 5000);
    assert_int_equal(a->kill_grace_ms, 10000);
    assert_int_equal(a->ttl_ms, 40000);
    assert_int_equal(a->renew_every_ms, 5000);
    assert_int_equal(a->exec_argc, 2);
    assert_string_equal(a->exec[0], "./sync.sh");
    assert_string_equal(a->exec[1], "--incremental");
    assert_null(a->exec[2]);
    assert_null(a->http);
    assert_int_equal(a->line, 27);
    assert_int_equal(a->col, 5);
    assert_string_equal(b->name, "nightly-webhook");
    assert_string_equal(b->lock, "nightly-webhook");
    assert_int_equal(b->timeout_ms, 0);
    assert_int_equal(b->every_ms, 0);
    assert_string_equal(b->cron, "*/30 2-4 * * mon-fri");
    assert_int_equal(b->jitter_ms, 0);
    assert_int_equal(b->retries, 0);
    assert_int_equal(b->ttl_ms, 60000);
    assert_int_equal(b->renew_every_ms, 20000);
    assert_null(b->exec);
    assert_int_equal(b->line, 38);
    const lc_http_job *h = b->http;
    assert_non_null(h);
    assert_string_equal(h->url, "https://example.invalid/sync");
    assert_string_equal(h->method, "PUT");
    assert_int_equal(h->n_headers, 2);
    assert_string_equal(h->headers[0].name, "Authorization");
    assert_string_equal(h->headers[0].value, "Bearer k");
    assert_string_equal(h->headers[1].name, "X-Trace");
    assert_string_equal(h->headers[1].value, "1");
    assert_string_equal(h->body, "{\"since\": \"{{checkpoint}}\"}");
    assert_int_equal(h->n_expect_status, 2);
    assert_int_equal(h->expect_status[0], 200);
    assert_int_equal(h->expect_status[1], 202);
    assert_string_equal(h->checkpoint_from, "data.cursor");
    assert_string_equal(h->ca_file, getenv("LCT_CA_FILE"));
}

/* A CA bundle for ca_file (which must exist at load), named by
 * $LCT_CA_FILE. Returns its path; the caller unlinks it. */
static const char *make_ca_file(void)
{
    static char path[64];
    snprintf(path, sizeof(path), "%s", write_temp("-----BEGIN CERTIFICATE-----\n"));
    setenv("LCT_CA_FILE", path, 1);
    return path;
}

static void test_config_every_key_fills_every_field(void **state)
{
    (void)state;
    const char *ca = make_ca_file();
    char *path = write_temp(every_key);
    lc_config *c = NULL;
    lc_error err;
    lct_assert_rc(lc_config_load(path, &c, &err), LC_OK, &err);
    assert_string_equal(c->path, path);
    unlink(path);
    assert_string_equal(c->backend, "redis");
    assert_string_equal(c->owner, "node-a");
    assert_string_equal(c->redis.url, "redis://:pw@127.0.0.1:6390/2");
    assert_int_equal(c->redis.connect_timeout_ms, 3000);
    assert_int_equal(c->redis.command_timeout_ms, 1500);
    assert_string_equal(c->redis.key_prefix, "lc-test");
    assert_int_equal(c->redis.min_replicas_ack, 1);
    assert_string_equal(c->postgres.conninfo, "host=127.0.0.1 port=5433 dbname=app");
    assert_string_equal(c->postgres.schema, "locks");
    assert_string_equal(c->postgres.table, "leases");
    assert_int_equal(c->postgres.auto_migrate, 0);
    assert_int_equal(c->postgres.statement_timeout_ms, 4000);
    assert_int_equal(c->postgres.connect_timeout_ms, 5000);
    assert_int_equal(c->postgres.warn_async_replication, 0);
    assert_int_equal(c->lock.ttl_ms, 60000);
    assert_int_equal(c->lock.renew_every_ms, 20000);
    assert_int_equal(c->lock.wait_ms, 2000);
    assert_int_equal(c->lock.retry_min_ms, 10);
    assert_int_equal(c->lock.retry_max_ms, 2000);
    assert_int_equal(c->log.level, LC_LOG_DEBUG);
    assert_int_equal(c->log.json, 1);
    assert_int_equal(c->sync.shutdown_grace_ms, 45000);
    assert_string_equal(c->sync.listen, "127.0.0.1:9187");
    check_every_key_jobs(c);
    lc_config_free(c);
    unlink(ca);
}

static void test_config_redis_cluster_seed_url_is_accepted(void **state)
{
    (void)state;
    lc_config *c = parse_ok(BASE "  cluster: true\n");
    assert_int_equal(c->redis.cluster, 1);
    lc_config_free(c);
}

static void test_config_redis_cluster_needs_tcp_and_db_zero(void **state)
{
    (void)state;
#ifdef LC_HAVE_REDIS /* a build without Redis has no parser for its URLs */
    expect_error("backend: redis\nredis:\n  url: unix:///tmp/r.sock\n  cluster: true\n",
                 "t.yaml:3:8: redis.url: with redis.cluster, a redis:// URL of one node is "
                 "needed (cluster nodes are reached over TCP)");
    expect_error("backend: redis\nredis:\n  url: redis://127.0.0.1:7000/3\n  cluster: true\n",
                 "t.yaml:3:8: redis.url: with redis.cluster, the database must be 0 (a Redis "
                 "Cluster has no other)");
#endif
    expect_error(BASE "  cluster: yes please\n",
                 "t.yaml:4:12: redis.cluster: expected true or false, got 'yes please'");
}

#define QUORUM_HEAD "backend: redis\nredis:\n  quorum:\n"

static void test_config_redis_quorum_list_is_accepted(void **state)
{
    (void)state;
    lc_config *c = parse_ok(QUORUM_HEAD "    - redis://127.0.0.1:7001/0\n"
                                        "    - redis://:pw@127.0.0.1:7002/0\n"
                                        "    - unix:///tmp/r3.sock\n");
    assert_null(c->redis.url);
    assert_int_equal(c->redis.n_quorum, 3);
    assert_string_equal(c->redis.quorum[1], "redis://:pw@127.0.0.1:7002/0");
    char *dump = lc_config_dump(c);
    assert_non_null(dump);
    assert_non_null(strstr(dump, "  quorum:\n    - \"redis://127.0.0.1:7001/0\"\n"));
    assert_null(strstr(dump, ":pw@"));
    free(dump);
    lc_config_free(c);
}

static void test_config_redis_quorum_bad_lists_refused_at_position(void **state)
{
    (void)state;
    expect_error(QUORUM_HEAD "    - redis://a:1/0\n    - redis://b:2/0\n",
                 "t.yaml:3:3: redis.quorum: an odd number of at least 3 URLs is needed (got 2), "
                 "so that a majority is well defined");
    expect_error(QUORUM_HEAD "    - redis://a:1/0\n    - redis://b:2/0\n    - redis://c:3/0\n"
                             "    - redis://d:4/0\n",
                 "t.yaml:3:3: redis.quorum: an odd number of at least 3 URLs is needed (got 4), "
                 "so that a majority is well defined");
#ifdef LC_HAVE_REDIS
    expect_error(QUORUM_HEAD "    - redis://a:1/0\n    - http://b:2/0\n    - redis://c:3/0\n",
                 "t.yaml:5:7: redis.quorum[1]: expected a redis:// or unix:// URL (TLS is not "
                 "supported)");
    expect_error(QUORUM_HEAD "    - redis://a:1/0\n    - redis://b:2?db=x\n    - redis://c:3/0\n",
                 "t.yaml:5:7: redis.quorum[1]: db must be a number from 0 to 100000");
    /* One server twice (any db of it, any case of its name) would count
     * its lease twice toward the majority. */
    expect_error(QUORUM_HEAD "    - redis://A:1/0\n    - redis://b:2/0\n    - redis://:pw@a:1/3\n",
                 "t.yaml:6:7: redis.quorum[2]: the same server as redis.quorum[0] (a:1): each "
                 "master must be an independent server");
#endif
    expect_error(BASE "  quorum: [redis://a:1/0, redis://b:2/0, redis://c:3/0]\n",
                 "t.yaml:4:3: redis.quorum: give either redis.url or redis.quorum, not both");
    expect_error("backend: redis\nredis:\n  cluster: true\n"
                 "  quorum: [redis://a:1/0, redis://b:2/0, redis://c:3/0]\n",
                 "t.yaml:4:3: redis.quorum: not with redis.cluster (quorum mode is for independent "
                 "masters)");
    expect_error("backend: redis\nredis:\n  quorum: redis://a:1/0\n",
                 "t.yaml:3:11: redis.quorum: expected a list of redis:// URLs, got "
                 "'redis://a:1/0'");
}

static void test_config_minimal_file_gets_defaults(void **state)
{
    (void)state;
    lc_config *c = parse_ok(BASE "lock:\n  ttl: 9s\njobs:\n  - name: j\n    ttl: 3s\n"
                                 "    exec: [true]\n    every: 1m\n  - name: k\n"
                                 "    cron: \"0 3 * * *\"\n    http: {url: http://x/}\n");
    assert_null(c->path);
    assert_null(c->owner);
    assert_int_equal(c->redis.connect_timeout_ms, 2000);
    assert_int_equal(c->redis.command_timeout_ms, 1000);
    assert_string_equal(c->redis.key_prefix, "lockcoord");
    assert_int_equal(c->redis.min_replicas_ack, 0);
    assert_int_equal(c->redis.cluster, 0);
    assert_null(c->postgres.conninfo);
    assert_string_equal(c->postgres.schema, "public");
    assert_string_equal(c->postgres.table, "lockcoord_locks");
    assert_int_equal(c->postgres.auto_migrate, 1);
    assert_int_equal(c->postgres.warn_async_replication, 1);
    assert_int_equal(c->lock.ttl_ms, 9000);
    assert_int_equal(c->lock.renew_every_ms, 3000); /* ttl/3 */
    assert_int_equal(c->lock.wait_ms, 0);
    assert_int_equal(c->lock.retry_min_ms, 50);
    assert_int_equal(c->lock.retry_max_ms, 1000);
    assert_int_equal(c->lock.history, 100);
    assert_int_equal(c->log.level, LC_LOG_INFO);
    assert_int_equal(c->log.json, 0);
    assert_int_equal(c->sync.shutdown_grace_ms, 30000);
    assert_null(c->sync.listen);
    assert_int_equal(c->jobs[0].every_ms, 60000);
    assert_null(c->jobs[0].cron);
    assert_int_equal(c->jobs[0].jitter_ms, 0);
    assert_int_equal(c->jobs[0].retries, 0);
    assert_int_equal(c->jobs[0].retry_backoff_ms, 1000);
    assert_int_equal(c->jobs[0].kill_grace_ms, 5000);
    assert_int_equal(c->jobs[1].every_ms, 0);
    assert_string_equal(c->jobs[1].cron, "0 3 * * *");
    assert_null(c->jobs[1].http->ca_file);
    assert_int_equal(c->jobs[0].ttl_ms, 3000); /* its own ttl: its own ttl/3 */
    assert_int_equal(c->jobs[0].renew_every_ms, 1000);
    assert_string_equal(c->jobs[0].lock, "j");
    assert_int_equal(c->jobs[1].ttl_ms, 9000); /* the lock section's */
    assert_int_equal(c->jobs[1].renew_every_ms, 3000);
    assert_string_equal(c->jobs[1].http->method, "POST");
    assert_int_equal(c->jobs[1].http->n_expect_status, 4);
    assert_int_equal(c->jobs[1].http->expect_status[3], 204);
    assert_null(c->jobs[1].http->body);
    assert_null(c->jobs[1].http->checkpoint_from);
    lc_config_free(c);
}

static void test_config_lock_history_at_least_one(void **state)
{
    (void)state;
    lc_config *c = parse_ok(BASE "lock:\n  history: 3\n");
    assert_int_equal(c->lock.history, 3);
    lc_config_free(c);
    lc_config *bad = NULL;
    lc_error err;
    const char *zero = BASE "lock:\n  history: 0\n";
    assert_int_equal(lc_config_parse(zero, strlen(zero), "t.yaml", &bad, &err), LC_ERR_CONFIG);
    assert_non_null(strstr(err.message, "history"));
}

static void test_config_yaml_syntax_error_reports_libyaml_problem(void **state)
{
    (void)state;
    expect_error(BASE "lock:\n  ttl: [1s, 2s\n",
                 "t.yaml:6:1: did not find expected ',' or ']' while parsing a flow sequence "
                 "(line 5)");
    expect_error(BASE "lock:\n ttl: 1s\n  wait: 1s\n",
                 "t.yaml:6:7: mapping values are not allowed in this context");
    expect_error("backend: redis\n---\nbackend: postgres\n",
                 "t.yaml:2:1: a second YAML document; only one is allowed");
    expect_error("backend: &b redis\nowner: *b\n", "t.yaml:2:8: aliases (*b) are not supported");
    expect_error("", "t.yaml:1:1: empty config: expected a mapping with at least 'backend'");
    expect_error("- a\n", "t.yaml:1:1: the top level: expected a mapping, got a sequence");
}

static void test_config_unknown_key_suggests_near_miss(void **state)
{
    (void)state;
    expect_error(BASE "lock:\n  tll: 30s\n", "t.yaml:5:3: unknown key 'tll' (did you mean 'ttl'?)");
    expect_error(BASE "jobs:\n  - name: a\n    exec: [x]\n    evry: 5m\n",
                 "t.yaml:7:5: unknown key 'evry' (did you mean 'every'?)");
    expect_error(BASE "colour: blue\n",
                 "t.yaml:4:1: unknown key 'colour' (expected one of: backend, owner, redis, "
                 "postgres, lock, sync, jobs, log)");
}

static void test_config_duplicate_key_is_refused(void **state)
{
    (void)state;
    expect_error(BASE "lock:\n  ttl: 30s\n  wait: 1s\n  ttl: 20s\n",
                 "t.yaml:7:3: duplicate key 'ttl' (first at line 5)");
    expect_error(BASE "backend: postgres\n",
                 "t.yaml:4:1: duplicate key 'backend' (first at line 1)");
}

/* Of several repeated keys, the one reported is the earliest repetition. */
static void test_config_duplicate_keys_report_earliest_repetition(void **state)
{
    (void)state;
    expect_error(BASE "lock:\n  ttl: 30s\n  wait: 1s\n  wait: 2s\n  ttl: 20s\n",
                 "t.yaml:7:3: duplicate key 'wait' (first at line 6)");
    expect_error(BASE "jobs:\n  - {name: a, every: 1m, exec: [x]}\n"
                      "  - {name: b, every: 1m, exec: [x]}\n  - {name: b, every: 1m, exec: [x]}\n"
                      "  - {name: a, every: 1m, exec: [x]}\n",
                 "t.yaml:7:12: jobs[2].name: duplicate job name 'b' (first at line 6)");
}

/* A key is compared with its length: "backend\0evil" would otherwise be a
 * key of its own for the duplicate check and "backend" for the walker. */
static void test_config_nul_in_key_is_refused(void **state)
{
    (void)state;
    static const char yaml[] = BASE "\"backend\\0evil\": postgres\n";
    expect_error_n(yaml, sizeof(yaml) - 1, "t.yaml:4:1: a key contains a NUL byte");
    static const char raw[] = BASE "lock:\n  \"ttl\\0\": 1s\n";
    expect_error_n(raw, sizeof(raw) - 1, "t.yaml:5:3: a key contains a NUL byte");
}

/* A big file with one repeated key at its end: sorted, not compared
 * pairwise (the pairwise check took half a minute on 90k keys). The bound
 * is many times what the sort takes, even under sanitizers. */
static void test_config_duplicate_among_90k_keys_refused_in_seconds(void **state)
{
    (void)state;
    size_t n = 90000, cap = n * 16 + 256, len = 0;
    char *yaml = malloc(cap);
    assert_non_null(yaml);
    len += (size_t)snprintf(yaml + len, cap - len, "backend: redis\nx:\n");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(yaml + len, cap - len, "  k%06zu: 1\n", i);
    len += (size_t)snprintf(yaml + len, cap - len, "  k000001: 2\n");
    int64_t t0 = lct_now_ms();
    expect_error_n(yaml, len, "t.yaml:90003:3: duplicate key 'k000001' (first at line 4)");
    assert_true(lct_now_ms() - t0 < 10000);
    free(yaml);

    /* The same for job names. */
    cap = n * 40 + 256;
    len = 0;
    yaml = malloc(cap);
    assert_non_null(yaml);
    len += (size_t)snprintf(yaml + len, cap - len, BASE "jobs:\n");
    for (size_t i = 0; i < 30000; i++)
        len += (size_t)snprintf(yaml + len, cap - len, "- {name: j%zu, exec: [x], every: 1m}\n", i);
    len += (size_t)snprintf(yaml + len, cap - len, "- {name: j7, exec: [x], every: 1m}\n");
    t0 = lct_now_ms();
    expect_error_n(yaml, len,
                   "t.yaml:30005:10: jobs[30000].name: duplicate job name 'j7' (first at line 12)");
    assert_true(lct_now_ms() - t0 < 10000);
    free(yaml);
}

static void test_config_wrong_type_names_expected_type(void **state)
{
    (void)state;
    expect_error(BASE "lock:\n  ttl: [30s]\n",
                 "t.yaml:5:8: lock.ttl: expected a duration like 30s, got a sequence");
    expect_error(BASE "lock: 5\n", "t.yaml:4:7: lock: expected a mapping, got '5'");
    expect_error(BASE "  min_replicas_ack: two\n",
                 "t.yaml:4:21: redis.min_replicas_ack: expected an integer, got 'two'");
    expect_error(BASE "postgres:\n  auto_migrate: maybe\n",
                 "t.yaml:5:17: postgres.auto_migrate: expected true or false, got 'maybe'");
    expect_error(BASE "owner: {a: b}\n", "t.yaml:4:8: owner: expected a string, got a mapping");
    expect_error(BASE "jobs:\n  - name: a\n    exec: ./x.sh\n",
                 "t.yaml:6:11: jobs[0].exec: expected a non-empty list of strings like "
                 "[\"./sync.sh\"], got './x.sh'");
}

static void test_config_bad_bytes_and_headers_are_refused(void **state)
{
    (void)state;
    expect_error(BASE "owner: \x01\n", "t.yaml:4:8: control characters are not allowed");
    expect_error(BASE "owner: \xff\n", "t.yaml:4:8: invalid leading UTF-8 octet");
    expect_error(BASE "jobs:\n  - name: \"a\\0b\"\n    exec: [x]\n",
                 "t.yaml:5:11: jobs[0].name: contains a NUL byte");
    expect_error(BASE "jobs:\n  - name: a\n    http:\n      url: http://h/\n"
                      "      headers: {X-A: \"v\\r\\nX-B: 1\"}\n",
                 "t.yaml:8:22: jobs[0].http.headers.X-A: a header value must be one line");
    expect_error(BASE "jobs:\n  - name: a\n    http:\n      url: http://h/\n"
                      "      headers: {\"X A\": v}\n",
                 "t.yaml:8:17: jobs[0].http.headers.X A: invalid header name");
}

static void test_config_bad_duration_includes_hint(void **state)
{
    (void)state;
    expect_error(BASE "lock:\n  ttl: 30\n",
                 "t.yaml:5:8: lock.ttl: invalid duration '30': a unit is required (ms, s, m, "
                 "h), e.g. '30s'");
    expect_error(BASE "lock:\n  wait: 5x\n",
                 "t.yaml:5:9: lock.wait: invalid duration '5x': unknown unit; use ms, s, m or h");
    expect_error(BASE "lock:\n  ttl: 0s\n", "t.yaml:5:8: lock.ttl: must be at least 10ms, got 0s");
}

static void test_config_bad_names_are_refused(void **state)
{
    (void)state;
    expect_error(BASE "jobs:\n  - name: a b\n    exec: [x]\n",
                 "t.yaml:5:11: jobs[0].name: invalid lock name: byte 0x20 at byte 1; allowed "
                 "are A-Z a-z 0-9 . _ : / -");
    expect_error(BASE "jobs:\n  - name: a\n    lock: \"x{y}\"\n    exec: [x]\n",
                 "t.yaml:6:11: jobs[0].lock: invalid lock name: '{' at byte 1; allowed are "
                 "A-Z a-z 0-9 . _ : / -");
}

static void test_config_renew_every_not_below_half_ttl_is_refused(void **state)
{
    (void)state;
    expect_error(BASE "lock:\n  ttl: 30s\n  renew_every: 15s\n",
                 "t.yaml:6:3: lock.renew_every (15s) must be less than half the ttl (30s)");
    expect_error(BASE "lock:\n  renew_every: 20s\n",
                 "t.yaml:5:3: lock.renew_every (20s) must be less than half the ttl (30s)");
    /* A job's renew_every against its ttl (here the lock section's). */
    expect_error(BASE "jobs:\n  - name: a\n    exec: [x]\n    renew_every: 15s\n    every: 1m\n",
                 "t.yaml:7:5: jobs[0].renew_every (15s) must be less than half the ttl (30s)");
    expect_error(BASE "jobs:\n  - name: a\n    exec: [x]\n    ttl: 1s\n    renew_every: 600ms\n"
                      "    every: 1m\n",
                 "t.yaml:8:5: jobs[0].renew_every (600ms) must be less than half the ttl (1s)");
}

static void test_config_job_exec_and_http_exactly_one(void **state)
{
    (void)state;
    expect_error(BASE "jobs:\n  - name: a\n    exec: [x]\n    http: {url: http://h/}\n",
                 "t.yaml:7:5: jobs[0]: job 'a' has both exec and http; give exactly one");
    expect_error(BASE "jobs:\n  - name: a\n    every: 5m\n",
                 "t.yaml:5:5: jobs[0]: job 'a' needs exec or http (exactly one)");
    expect_error(BASE "jobs:\n  - every: 5m\n", "t.yaml:5:5: jobs[0]: missing required key 'name'");
    expect_error(BASE "jobs:\n  - name: a\n    http:\n      method: GET\n",
                 "t.yaml:6:5: jobs[0].http: missing required key 'url'");
}

static void test_config_duplicate_job_name_names_first_line(void **state)
{
    (void)state;
    expect_error(BASE "jobs:\n  - name: a\n    exec: [x]\n    every: 1m\n  - name: b\n"
                      "    exec: [x]\n    every: 1m\n  - name: a\n    exec: [y]\n    every: 1m\n",
                 "t.yaml:11:11: jobs[2].name: duplicate job name 'a' (first at line 5)");
}

static void test_config_missing_backend_section_is_refused(void **state)
{
    (void)state;
    expect_error("backend: redis\nlock:\n  ttl: 30s\n",
                 "t.yaml:1:1: backend is redis but the redis section is missing (it needs "
                 "redis.url)");
    expect_error("backend: redis\nredis:\n  key_prefix: x\n",
                 "t.yaml:2:1: redis: missing required key 'url' (or 'quorum')");
    expect_error("backend: postgres\nredis:\n  url: redis://h/\n",
                 "t.yaml:1:1: backend is postgres but the postgres section is missing (it "
                 "needs postgres.conninfo)");
    expect_error("backend: postgres\npostgres:\n",
                 "t.yaml:2:1: postgres: missing required key 'conninfo'");
    expect_error("redis:\n  url: redis://h/\n",
                 "t.yaml:1:1: missing required key 'backend' (redis or postgres)");
    expect_error("backend: redis\nredis:\n  url: \"\"\n",
                 "t.yaml:3:8: redis.url: must not be empty");
    expect_error(
        "backend: redis\nredis:\n  url: http://h/\n",
        "t.yaml:3:8: redis.url: expected a redis:// or unix:// URL (TLS is not supported)");
}

/* What a backend would refuse only when it opens is refused at load, at
 * the key: `config check` passes exactly what every command accepts. */
static void test_config_backend_limits_are_checked_at_load(void **state)
{
    (void)state;
    char yaml[1024], name[300];
    memset(name, 'k', 257);
    name[257] = '\0';
    snprintf(yaml, sizeof(yaml), BASE "  key_prefix: %s\n", name);
    expect_error(yaml, "t.yaml:4:15: redis.key_prefix: longer than 256 bytes");
    name[256] = '\0';
    snprintf(yaml, sizeof(yaml), BASE "  key_prefix: %s\n", name);
    lc_config_free(parse_ok(yaml));

    memset(name, 't', 55);
    name[55] = '\0';
    snprintf(yaml, sizeof(yaml), BASE "postgres:\n  table: %s\n", name);
    expect_error(yaml, "t.yaml:5:10: postgres.table: longer than 54 bytes (the version table and "
                       "the notification channel append a suffix to it within Postgres's 63)");
    name[54] = '\0';
    snprintf(yaml, sizeof(yaml), BASE "postgres:\n  table: %s\n", name);
    lc_config_free(parse_ok(yaml));

    memset(name, 's', 64);
    name[64] = '\0';
    snprintf(yaml, sizeof(yaml), BASE "postgres:\n  schema: %s\n", name);
    expect_error(yaml, "t.yaml:5:11: postgres.schema: longer than 63 bytes (Postgres cuts longer "
                       "names)");
    name[63] = '\0';
    snprintf(yaml, sizeof(yaml), BASE "postgres:\n  schema: %s\n", name);
    lc_config_free(parse_ok(yaml));

    expect_error(BASE "postgres:\n  statement_timeout: 25d\n",
                 "t.yaml:5:22: postgres.statement_timeout: at most 2147483647ms, about 24 days "
                 "(the server's limit)");
    lc_config_free(parse_ok(BASE "postgres:\n  statement_timeout: 24d\n"));

#ifdef LC_HAVE_REDIS /* a build without Redis has no parser for its URLs */
    /* The URL as the backend parses it; also a section the backend does
     * not use is checked. */
    expect_error("backend: redis\nredis:\n  url: \"redis://h?db=3&ssl=1\"\n",
                 "t.yaml:3:8: redis.url: unknown query parameter 'ssl' (supported: db, password, "
                 "username)");
    expect_error("backend: postgres\npostgres:\n  conninfo: host=h\nredis:\n  url: redis://h/x\n",
                 "t.yaml:5:8: redis.url: the path must be a db number from 0 to 100000, not "
                 "'/x'");
#endif
}

#ifdef LC_HAVE_POSTGRES /* a build without Postgres has no libpq to parse with */
/* libpq's parse errors are config errors (not "unavailable" at connect),
 * and they quote the conninfo: the password goes first. */
static void test_config_bad_conninfo_is_refused_without_password(void **state)
{
    (void)state;
    expect_error("backend: postgres\npostgres:\n"
                 "  conninfo: \"postgresql://user:Hunter2pw@[127.0.0.1:5432/db\"\n",
                 "t.yaml:3:13: postgres.conninfo: end of string reached when looking for "
                 "matching \"]\" in IPv6 host address in URI: "
                 "\"postgresql://user:***@[127.0.0.1:5432/db\"");
    expect_error("backend: postgres\npostgres:\n"
                 "  conninfo: \"postgresql://user:Hunter2pw%zz@h/db\"\n",
                 "t.yaml:3:13: postgres.conninfo: invalid percent-encoded token: \"***\"");
    expect_error("backend: postgres\npostgres:\n"
                 "  conninfo: \"postgresql://u@h/db?password=Hunter2pw%z\"\n",
                 "t.yaml:3:13: postgres.conninfo: invalid percent-encoded token: \"***\"");
    expect_error("backend: postgres\npostgres:\n"
                 "  conninfo: \"host=h password='Hunter2pw\"\n",
                 "t.yaml:3:13: postgres.conninfo: unterminated quoted string in connection "
                 "info string");
    expect_error("backend: postgres\npostgres:\n"
                 "  conninfo: \"postgresql://u:Hun/ter2pw@h/db\"\n",
                 "t.yaml:3:13: postgres.conninfo: an '@' after the user info; percent-encode "
                 "'@' (%40), ':' (%3A) and '/' (%2F) in the user name and password");
    expect_error("backend: postgres\npostgres:\n"
                 "  conninfo: \"POSTGRESQL://u:Hunter2pw@h/db\"\n",
                 "t.yaml:3:13: postgres.conninfo: a URI must start with postgresql:// or "
                 "postgres://");
    expect_error("backend: postgres\npostgres:\n  conninfo: \"host=h bogus=1\"\n",
                 "t.yaml:3:13: postgres.conninfo: invalid connection option \"bogus\"");
    /* As libpq takes it, a bare word is a database name. */
    lc_config_free(parse_ok("backend: postgres\npostgres:\n  conninfo: mydb\n"));
    lc_config_free(parse_ok("backend: postgres\npostgres:\n"
                            "  conninfo: \"postgresql://u:p%2Fw@h/db?user=me@corp\"\n"));
}
#endif

/* Values quoted in messages go through the redactor. */
static void test_config_quoted_value_in_message_is_redacted(void **state)
{
    (void)state;
    expect_error(BASE "  min_replicas_ack: \"redis://u:Hunter2pw@h\"\n",
                 "t.yaml:4:21: redis.min_replicas_ack: expected an integer, got "
                 "'redis://u:***@h'");
    expect_error(BASE "owner: [\"password=Hunter2pw\"]\n",
                 "t.yaml:4:8: owner: expected a string, got a sequence");
    expect_error(BASE "lock:\n  ttl: \"host=h password=Hunter2pw\"\n",
                 "t.yaml:5:8: lock.ttl: invalid duration 'host=h password=*** expected a number "
                 "with a unit, like 250ms, 30s, 5m or 1h");
}

/* A unix socket URL with ?password= loads, and its dump hides it. */
static void test_config_unix_url_with_password_loads_and_dumps_redacted(void **state)
{
    (void)state;
    lc_config *c =
        parse_ok("backend: redis\nredis:\n  url: \"unix:///run/r.sock?password=Hunter2pw&db=2\"\n");
    char *out = lc_config_dump(c);
    assert_non_null(out);
    assert_null(strstr(out, "Hunter2pw"));
    assert_non_null(strstr(out, "url: \"unix:///run/r.sock?password=***&db=2\"\n"));
    free(out);
    lc_config_free(c);
}

static void test_config_bad_backend_is_refused(void **state)
{
    (void)state;
    expect_error("backend: mysql\n",
                 "t.yaml:1:10: backend: expected redis or postgres, got 'mysql'");
    expect_error("backend: memory\n",
                 "t.yaml:1:10: backend: expected redis or postgres, got 'memory' (the memory "
                 "backend is for embedders only)");
}

static void test_config_retry_min_above_retry_max_is_refused(void **state)
{
    (void)state;
    expect_error(BASE "lock:\n  retry_max: 100ms\n  retry_min: 200ms\n",
                 "t.yaml:6:3: lock.retry_min (200ms) must not be greater than lock.retry_max "
                 "(100ms)");
    expect_error(BASE "lock:\n  retry_max: 10ms\n",
                 "t.yaml:5:3: lock.retry_min (50ms) must not be greater than lock.retry_max "
                 "(10ms)");
}

static void test_config_out_of_range_values_are_refused(void **state)
{
    (void)state;
    expect_error(BASE "  min_replicas_ack: -1\n",
                 "t.yaml:4:21: redis.min_replicas_ack: -1 is out of range (0 to 2147483647)");
    expect_error(BASE "jobs:\n  - name: a\n    http:\n      url: http://h/\n"
                      "      expect_status: [200, 600]\n",
                 "t.yaml:8:28: jobs[0].http.expect_status: 600 is out of range (100 to 599)");
    expect_error(BASE "jobs:\n  - name: a\n    http:\n      url: http://h/\n"
                      "      expect_status: 99\n",
                 "t.yaml:8:22: jobs[0].http.expect_status: 99 is out of range (100 to 599)");
    expect_error(BASE "log:\n  level: verbose\n",
                 "t.yaml:5:10: log.level: expected error, warn, info or debug, got 'verbose'");
    expect_error(BASE "log:\n  format: xml\n",
                 "t.yaml:5:11: log.format: expected text or json, got 'xml'");
}

static void test_config_env_vars_expand_with_and_without_default(void **state)
{
    (void)state;
    setenv("LCT_PW", "s3cret", 1);
    setenv("LCT_EMPTY", "", 1);
    unsetenv("LCT_UNSET");
    setenv("LCT_TTL", "45s", 1);
    lc_config *c = parse_ok("backend: redis\n"
                            "owner: \"${LCT_UNSET:-fallback}-${LCT_EMPTY:-e}\"\n"
                            "redis:\n"
                            "  url: \"redis://:${LCT_PW}@h:1/0\"\n"
                            "  key_prefix: \"a$$b$c$${LCT_PW}\"\n"
                            "lock:\n"
                            "  ttl: ${LCT_TTL}\n");
    assert_string_equal(c->owner, "fallback-e");
    assert_string_equal(c->redis.url, "redis://:s3cret@h:1/0");
    assert_string_equal(c->redis.key_prefix, "a$b$c${LCT_PW}");
    assert_int_equal(c->lock.ttl_ms, 45000);
    lc_config_free(c);
}

static void test_config_unset_env_var_without_default_is_refused(void **state)
{
    (void)state;
    unsetenv("LCT_UNSET");
    expect_error("backend: redis\nredis:\n  url: \"redis://:${LCT_UNSET}@h/\"\n",
                 "t.yaml:3:8: redis.url: ${LCT_UNSET} is not set and has no default");
    expect_error(BASE "owner: \"${LCT_UNSET\"\n",
                 "t.yaml:4:8: owner: unterminated '${' (missing '}')");
    expect_error(BASE "owner: \"${1X}\"\n",
                 "t.yaml:4:8: owner: invalid variable reference '${1X}'; use ${NAME} or "
                 "${NAME:-default}");
}

static void test_config_dump_redacts_secrets(void **state)
{
    (void)state;
    lc_config *c = parse_ok("backend: redis\n"
                            "redis:\n"
                            "  url: \"redis://user:hunter2@127.0.0.1:6379/0\"\n"
                            "postgres:\n"
                            "  conninfo: \"host=h password='pg pass' user=u\"\n"
                            "jobs:\n"
                            "  - name: w\n"
                            "    every: 1h\n"
                            "    http:\n"
                            "      url: \"https://u:httppw@h/x?api_key=qk&a=1\"\n"
                            "      headers: {Authorization: \"Bearer tok123\", X-A: plain1}\n");
    char *out = lc_config_dump(c);
    assert_non_null(out);
    assert_null(strstr(out, "hunter2"));
    assert_null(strstr(out, "pg pass"));
    assert_null(strstr(out, "httppw"));
    assert_null(strstr(out, "qk"));
    assert_null(strstr(out, "tok123"));
    assert_null(strstr(out, "plain1"));
    assert_non_null(strstr(out, "url: \"redis://user:***@127.0.0.1:6379/0\"\n"));
    assert_non_null(strstr(out, "conninfo: \"host=h password=*** user=u\"\n"));
    assert_non_null(strstr(out, "url: \"https://u:***@h/x?api_key=***&a=1\"\n"));
    assert_non_null(strstr(out, "\"Authorization\": \"***\"\n"));
    free(out);
    lc_config_free(c);
}

static void test_config_dump_redacts_postgres_uri(void **state)
{
    (void)state;
    lc_config *c = parse_ok("backend: postgres\npostgres:\n"
                            "  conninfo: \"postgresql://app:pgsecret@h1:5432,h2/db?"
                            "password=other&sslmode=require\"\n");
    char *out = lc_config_dump(c);
    assert_non_null(out);
    assert_null(strstr(out, "pgsecret"));
    assert_null(strstr(out, "other"));
    assert_non_null(strstr(out, "conninfo: \"postgresql://app:***@h1:5432,h2/db?password=***"
                                "&sslmode=require\"\n"));
    free(out);
    lc_config_free(c);
}

static void test_config_dump_prints_defaults_and_reloads(void **state)
{
    (void)state;
    const char *ca = make_ca_file();
    lc_config *c = parse_ok(every_key);
    char *out = lc_config_dump(c);
    assert_non_null(out);
    assert_non_null(strstr(out, "backend: \"redis\"\n"));
    assert_non_null(strstr(out, "lock:\n  ttl: 1m\n  renew_every: 20s\n  wait: 2s\n"
                                "  retry_min: 10ms\n  retry_max: 2s\n"));
    assert_non_null(strstr(out, "  command_timeout: 1s500ms\n"));
    assert_non_null(strstr(out, "    exec: [\"./sync.sh\", \"--incremental\"]\n"));
    assert_non_null(strstr(out, "log:\n  level: debug\n  format: json\n"));
    assert_non_null(strstr(out, "sync:\n  shutdown_grace: 45s\n  listen: \"127.0.0.1:9187\"\n"));
    assert_non_null(strstr(out, "    every: 5m\n    jitter: 30s\n    retries: 2\n"
                                "    retry_backoff: 5s\n    kill_grace: 10s\n"));
    assert_non_null(strstr(out, "    cron: \"*/30 2-4 * * mon-fri\"\n    jitter: 0s\n"));
    assert_non_null(strstr(out, "      checkpoint_from: \"data.cursor\"\n      ca_file: \""));
    /* The dump is a valid config that gives the same dump. */
    lc_config *again = parse_ok(out);
    char *out2 = lc_config_dump(again);
    assert_non_null(out2);
    assert_string_equal(out, out2);
    free(out2);
    lc_config_free(again);
    free(out);
    lc_config_free(c);
    unlink(ca);
}

/* A password holding a secret-looking "NAME=" (a base64 one may) is
 * masked whole in the dump; the host stays, so the dump loads again. */
static void test_config_dump_password_with_assignment_reloads(void **state)
{
    (void)state;
    lc_config *c = parse_ok("backend: redis\nredis:\n"
                            "  url: \"redis://:aKey=Hunter2pw@cache:6380/1\"\n");
    char *out = lc_config_dump(c);
    assert_non_null(out);
    assert_null(strstr(out, "Hunter2pw"));
    assert_non_null(strstr(out, "url: \"redis://:***@cache:6380/1\"\n"));
    lc_config *again = parse_ok(out);
    assert_string_equal(again->redis.url, "redis://:***@cache:6380/1");
    lc_config_free(again);
    free(out);
    lc_config_free(c);
}

/* Characters YAML reads as line breaks (NEL, LS, PS) or refuses raw (C1
 * controls, U+FFFE) are escaped in the dump: it loads again to the same
 * values and the same dump. */
static void test_config_dump_escapes_unicode_breaks_and_controls(void **state)
{
    (void)state;
    lc_config *c = parse_ok("backend: redis\nredis:\n  url: redis://h/0\n"
                            "  key_prefix: \"a\\Nb\\Lc\\Pd\\x80e\\uFFFEf\\_g\\u00e9\"\n");
    const char *want = "a\xc2\x85"
                       "b\xe2\x80\xa8"
                       "c\xe2\x80\xa9"
                       "d\xc2\x80"
                       "e\xef\xbf\xbe"
                       "f\xc2\xa0"
                       "g\xc3\xa9";
    assert_string_equal(c->redis.key_prefix, want);
    char *out = lc_config_dump(c);
    assert_non_null(out);
    assert_non_null(
        strstr(out, "key_prefix: \"a\\Nb\\Lc\\Pd\\u0080e\\ufffef\xc2\xa0g\xc3\xa9\"\n"));
    lc_config *again = parse_ok(out);
    assert_string_equal(again->redis.key_prefix, want);
    char *out2 = lc_config_dump(again);
    assert_string_equal(out, out2);
    free(out2);
    lc_config_free(again);
    free(out);
    lc_config_free(c);
}

/* A header name is a key, never expanded: its '$' stays one '$' in the
 * dump (a value's is doubled), so the dump loads to the same name. */
static void test_config_dump_header_name_with_dollar_reloads_same(void **state)
{
    (void)state;
    lc_config *c = parse_ok("backend: redis\nredis:\n  url: redis://h/0\njobs:\n"
                            "  - name: w\n    every: 1h\n    http:\n      url: http://h/\n"
                            "      headers: {X-$Key: \"a$$b\"}\n");
    assert_string_equal(c->jobs[0].http->headers[0].name, "X-$Key");
    char *out = lc_config_dump(c);
    assert_non_null(out);
    assert_non_null(strstr(out, "\"X-$Key\": \"***\"\n"));
    lc_config *again = parse_ok(out);
    assert_string_equal(again->jobs[0].http->headers[0].name, "X-$Key");
    lc_config_free(again);
    free(out);
    lc_config_free(c);
}

static void load_example(const char *name)
{
    const char *src = getenv("LOCKCOORD_SRC");
    if (src == NULL)
        fail_msg("LOCKCOORD_SRC is not set (ctest sets it to the source tree)");
    char path[1024];
    snprintf(path, sizeof(path), "%s/examples/%s", src, name);
    lc_config *c = NULL;
    lc_error err;
    lct_assert_rc(lc_config_load(path, &c, &err), LC_OK, &err);
    assert_int_equal(c->n_jobs, 2);
    assert_non_null(c->jobs[0].exec);
    assert_non_null(c->jobs[1].http);
    char *out = lc_config_dump(c);
    assert_non_null(out);
    free(out);
    lc_config_free(c);
}

static void test_config_examples_load_cleanly(void **state)
{
    (void)state;
    unsetenv("REDIS_PASSWORD");
    unsetenv("PGPASSWORD");
    unsetenv("SYNC_API_KEY");
    load_example("redis.yaml");
    load_example("postgres.yaml");
}

static void test_config_load_missing_file_names_it(void **state)
{
    (void)state;
    lc_config *c = NULL;
    lc_error err;
    assert_int_equal(lc_config_load("/nonexistent/lc.yaml", &c, &err), LC_ERR_CONFIG);
    assert_string_equal(err.message, "/nonexistent/lc.yaml: No such file or directory");
    assert_null(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_every_key_fills_every_field),
        cmocka_unit_test(test_config_minimal_file_gets_defaults),
        cmocka_unit_test(test_config_redis_cluster_seed_url_is_accepted),
        cmocka_unit_test(test_config_redis_cluster_needs_tcp_and_db_zero),
        cmocka_unit_test(test_config_redis_quorum_list_is_accepted),
        cmocka_unit_test(test_config_redis_quorum_bad_lists_refused_at_position),
        cmocka_unit_test(test_config_lock_history_at_least_one),
        cmocka_unit_test(test_config_yaml_syntax_error_reports_libyaml_problem),
        cmocka_unit_test(test_config_unknown_key_suggests_near_miss),
        cmocka_unit_test(test_config_duplicate_key_is_refused),
        cmocka_unit_test(test_config_duplicate_keys_report_earliest_repetition),
        cmocka_unit_test(test_config_nul_in_key_is_refused),
        cmocka_unit_test(test_config_duplicate_among_90k_keys_refused_in_seconds),
        cmocka_unit_test(test_config_wrong_type_names_expected_type),
        cmocka_unit_test(test_config_bad_bytes_and_headers_are_refused),
        cmocka_unit_test(test_config_bad_duration_includes_hint),
        cmocka_unit_test(test_config_bad_names_are_refused),
        cmocka_unit_test(test_config_renew_every_not_below_half_ttl_is_refused),
        cmocka_unit_test(test_config_job_exec_and_http_exactly_one),
        cmocka_unit_test(test_config_duplicate_job_name_names_first_line),
        cmocka_unit_test(test_config_missing_backend_section_is_refused),
        cmocka_unit_test(test_config_backend_limits_are_checked_at_load),
#ifdef LC_HAVE_POSTGRES
        cmocka_unit_test(test_config_bad_conninfo_is_refused_without_password),
#endif
        cmocka_unit_test(test_config_quoted_value_in_message_is_redacted),
        cmocka_unit_test(test_config_unix_url_with_password_loads_and_dumps_redacted),
        cmocka_unit_test(test_config_bad_backend_is_refused),
        cmocka_unit_test(test_config_retry_min_above_retry_max_is_refused),
        cmocka_unit_test(test_config_out_of_range_values_are_refused),
        cmocka_unit_test(test_config_env_vars_expand_with_and_without_default),
        cmocka_unit_test(test_config_unset_env_var_without_default_is_refused),
        cmocka_unit_test(test_config_dump_redacts_secrets),
        cmocka_unit_test(test_config_dump_redacts_postgres_uri),
        cmocka_unit_test(test_config_dump_prints_defaults_and_reloads),
        cmocka_unit_test(test_config_dump_password_with_assignment_reloads),
        cmocka_unit_test(test_config_dump_escapes_unicode_breaks_and_controls),
        cmocka_unit_test(test_config_dump_header_name_with_dollar_reloads_same),
        cmocka_unit_test(test_config_examples_load_cleanly),
        cmocka_unit_test(test_config_load_missing_file_names_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
