/* tests/unit/test_redis_url.c -- redis.url without a server: the query
 * parameters both forms accept (db, password, username), and everything
 * else refused as a config error that never quotes the password. */
#include "testenv.h"

#include "backends/redis/redis_int.h"

#include <string.h>

#define PW "Hunter2pw"

static void parse_ok(const char *url, lc__redis_addr *a)
{
    lc_error err;
    memset(&err, 0, sizeof(err));
    lct_assert_rc(lc__redis_url_parse(url, a, &err), LC_OK, &err);
}

static void expect_refused(const char *url, const char *message)
{
    lc__redis_addr a;
    lc_error err;
    memset(&err, 0, sizeof(err));
    lc_status rc = lc__redis_url_parse(url, &a, &err);
    if (rc != LC_ERR_CONFIG || strcmp(err.message, message) != 0)
        fail_msg("%s: got %s \"%s\"\nwant config \"%s\"", url, lc_status_name(rc), err.message,
                 message);
    assert_null(strstr(err.message, PW));
    assert_null(strstr(err.message, "Hun"));
    assert_null(a.password);
    assert_null(a.host);
}

static void test_redis_url_query_db_and_password_on_tcp_are_used(void **state)
{
    (void)state;
    lc__redis_addr a;
    parse_ok("redis://127.0.0.1:6380?db=3&password=" PW, &a);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 6380);
    assert_int_equal(a.db, 3);
    assert_string_equal(a.password, PW);
    assert_null(a.user);
    lc__redis_addr_free(&a);
    /* Path db, query credentials; encoded '&' and '=' in the password. */
    parse_ok("redis://h/5?username=app&password=a%26b%3Dc", &a);
    assert_int_equal(a.db, 5);
    assert_string_equal(a.user, "app");
    assert_string_equal(a.password, "a&b=c");
    lc__redis_addr_free(&a);
    /* User info user, query password; empty pieces are nothing. */
    parse_ok("redis://app@h/?&password=" PW "&", &a);
    assert_string_equal(a.user, "app");
    assert_string_equal(a.password, PW);
    assert_int_equal(a.db, 0);
    lc__redis_addr_free(&a);
}

static void test_redis_url_query_on_unix_socket_is_used(void **state)
{
    (void)state;
    lc__redis_addr a;
    parse_ok("unix:///tmp/r.sock?password=" PW "&db=2&username=app", &a);
    assert_string_equal(a.path, "/tmp/r.sock");
    assert_string_equal(a.password, PW);
    assert_string_equal(a.user, "app");
    assert_int_equal(a.db, 2);
    assert_string_equal(a.label, "/tmp/r.sock");
    lc__redis_addr_free(&a);
    parse_ok("unix://app:" PW "@/tmp/r.sock", &a);
    assert_string_equal(a.user, "app");
    assert_string_equal(a.password, PW);
    lc__redis_addr_free(&a);
}

static void test_redis_url_unknown_or_doubled_parameters_are_refused(void **state)
{
    (void)state;
    expect_refused("unix:///tmp/x.sock?pasword=" PW,
                   "redis.url: unknown query parameter 'pasword' (supported: db, password, "
                   "username)");
    expect_refused("redis://h?ssl=true&password=" PW,
                   "redis.url: unknown query parameter 'ssl' (supported: db, password, username)");
    expect_refused("redis://h?timeout=3s",
                   "redis.url: query parameter 'timeout' is not supported; set "
                   "redis.connect_timeout and redis.command_timeout instead");
    expect_refused("redis://h?socket_connect_timeout=3", "redis.url: query parameter "
                                                         "'socket_connect_timeout' is not "
                                                         "supported; set redis.connect_timeout "
                                                         "and redis.command_timeout instead");
    expect_refused("unix:///tmp/x.sock?" PW,
                   "redis.url: a query parameter without '=' (expected db=N, password=... or "
                   "username=...)");
    expect_refused("redis://:" PW "@h?password=" PW, "redis.url: the password is given twice");
    expect_refused("redis://u:" PW "@h?username=v", "redis.url: the user name is given twice");
    expect_refused("redis://h/1?db=2", "redis.url: the db is given twice");
    expect_refused("redis://h?db=1&db=1", "redis.url: the db is given twice");
    expect_refused("redis://h?db=x", "redis.url: db must be a number from 0 to 100000");
    expect_refused("redis://h?db=+1", "redis.url: db must be a number from 0 to 100000");
    expect_refused("redis://h?password=", "redis.url: query parameter 'password' is empty");
    expect_refused("redis://h?password=a%00" PW, "redis.url: %00 in query parameter 'password'");
    expect_refused("redis://:a%00" PW "@h", "redis.url: %00 in the password");
    expect_refused("redis://app@h", "redis.url: a user name without a password (AUTH needs a "
                                    "password)");
    expect_refused("unix:///tmp/x.sock?username=app",
                   "redis.url: a user name without a password (AUTH needs a password)");
}

/* Passwords a user forgot to percent-encode: refused, never quoted. */
static void test_redis_url_unencoded_password_is_refused_without_quoting(void **state)
{
    (void)state;
    expect_refused("redis://:Hun#ter2pw@h",
                   "redis.url: a '#' (fragment) is not allowed; percent-encode it as %23 in a "
                   "password");
    expect_refused("redis://h/0#frag", "redis.url: a '#' (fragment) is not allowed; "
                                       "percent-encode it as %23 in a password");
    expect_refused("redis://u@h/Hun/ter2pw@x",
                   "redis.url: an '@' after the host; percent-encode '@' (%40), ':' (%3A) and "
                   "'/' (%2F) in the user name and password");
    expect_refused("redis://h:0", "redis.url: the port must be 1 to 65535");
    lc__redis_addr a;
    lc_error err;
    /* Whatever else curl refuses: a config error without the password. */
    const char *bad[] = {"redis://:Hun/ter2pw@h", "redis://u:" PW "@h:x/0",
                         "redis://u:" PW "@[::1/0", "unix://:Hun/ter2pw@/tmp/s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lct_assert_rc(lc__redis_url_parse(bad[i], &a, &err), LC_ERR_CONFIG, &err);
        assert_null(strstr(err.message, "Hun"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_url_query_db_and_password_on_tcp_are_used),
        cmocka_unit_test(test_redis_url_query_on_unix_socket_is_used),
        cmocka_unit_test(test_redis_url_unknown_or_doubled_parameters_are_refused),
        cmocka_unit_test(test_redis_url_unencoded_password_is_refused_without_quoting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
