/* tests/unit/test_redis_url.c -- redis.url without a server: the query
 * parameters both forms accept (db, password, username), the strict
 * percent-decoding of its parts, and everything else refused as a config
 * error that never quotes the password. */
#include "testenv.h"

#include "backends/redis/redis_int.h"

#include <stdlib.h>
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
    /* Whatever else is malformed: a config error without the password. */
    const char *bad[] = {"redis://:Hun/ter2pw@h", "redis://u:" PW "@h:x/0",
                         "redis://u:" PW "@[::1/0", "unix://:Hun/ter2pw@/tmp/s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        lct_assert_rc(lc__redis_url_parse(bad[i], &a, &err), LC_ERR_CONFIG, &err);
        assert_null(strstr(err.message, "Hun"));
    }
}

static void test_redis_url_decode_valid_escapes_are_decoded(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"", ""},
        {"plain", "plain"},
        {"%41%62", "Ab"},
        {"a%2fb%2F", "a/b/"},
        {"%25%40%3a", "%@:"},
        {"%e2%82%ac", "\xe2\x82\xac"},
        {"+", "+"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out = NULL;
        lc_error err;
        lct_assert_rc(
            lc__redis_url_decode(cases[i][0], strlen(cases[i][0]), "the password", &out, &err),
            LC_OK, &err);
        assert_string_equal(out, cases[i][1]);
        free(out);
    }
    /* Only s[0..n) is read: an escape cut by n is malformed. */
    char *out = NULL;
    lc_error err;
    lct_assert_rc(lc__redis_url_decode("ab%41", 2, "the password", &out, &err), LC_OK, &err);
    assert_string_equal(out, "ab");
    free(out);
    assert_int_equal(lc__redis_url_decode("ab%41", 4, "the password", &out, &err), LC_ERR_CONFIG);
    assert_null(out);
}

static void test_redis_url_decode_malformed_escape_is_refused(void **state)
{
    (void)state;
    const char *bad[] = {"%", "Hun%", "Hun%4", "%4g", "%g4", "Hun%zz", "%%41", "% 41", "%-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *out = (char *)"unchanged";
        lc_error err;
        lc_status rc = lc__redis_url_decode(bad[i], strlen(bad[i]), "the password", &out, &err);
        if (rc != LC_ERR_CONFIG)
            fail_msg("'%s': got %s \"%s\"", bad[i], lc_status_name(rc), err.message);
        assert_null(out);
        assert_string_equal(err.message, "redis.url: a '%' without two hex digits after it in "
                                         "the password (a '%' itself is %25)");
    }
}

static void test_redis_url_decode_nul_is_refused(void **state)
{
    (void)state;
    const char *bad[] = {"%00", "Hun%00ter", "ab%00"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *out = NULL;
        lc_error err;
        assert_int_equal(
            lc__redis_url_decode(bad[i], strlen(bad[i]), "query parameter 'x'", &out, &err),
            LC_ERR_CONFIG);
        assert_null(out);
        assert_string_equal(err.message, "redis.url: %00 in query parameter 'x'");
    }
}

/* Every part that is decoded refuses a malformed escape, naming the part
 * and never quoting it. */
static void test_redis_url_malformed_escapes_in_parts_are_refused(void **state)
{
    (void)state;
    expect_refused("redis://:Hun%zzter2pw@h", "redis.url: a '%' without two hex digits after it "
                                              "in the password (a '%' itself is %25)");
    expect_refused("redis://Hun%4@h?password=x", "redis.url: a '%' without two hex digits after "
                                                 "it in the user name (a '%' itself is %25)");
    expect_refused("redis://h?password=Hun%", "redis.url: a '%' without two hex digits after it "
                                              "in query parameter 'password' (a '%' itself is "
                                              "%25)");
    expect_refused("redis://h?pass%word=x", "redis.url: a '%' without two hex digits after it in "
                                            "a query parameter name (a '%' itself is %25)");
    expect_refused("redis://h/%3", "redis.url: a '%' without two hex digits after it in the path "
                                   "(a '%' itself is %25)");
    expect_refused("unix:///tmp/50%.sock", "redis.url: a '%' without two hex digits after it in "
                                           "the socket path (a '%' itself is %25)");
    expect_refused("redis://h/%00", "redis.url: %00 in the path");
    expect_refused("redis://Hun%00@h", "redis.url: %00 in the user name");
}

/* The split: user info up to the authority's last '@', user name up to
 * its first ':'; hosts are names, IPv4 or [IPv6]; "host:" is the default
 * port; a decoded path and query. NULL for a part that must be absent. */
static void test_redis_url_parts_are_split_as_written(void **state)
{
    (void)state;
    static const struct {
        const char *url, *host, *path, *user, *password, *label;
        int port, db;
    } cases[] = {
        {"redis://app:Hun@ter:2pw@db-1.example_x:7000/%32", "db-1.example_x", NULL, "app",
         "Hun@ter:2pw", "db-1.example_x:7000", 7000, 2},
        {"redis://[2001:DB8::1]:?db=4", "2001:DB8::1", NULL, NULL, NULL, "[2001:DB8::1]:6379", 6379,
         4},
        {"redis://h", "h", NULL, NULL, NULL, "h:6379", 6379, 0},
        {"unix://:" PW "@/run/my%20redis.sock", NULL, "/run/my redis.sock", NULL, PW,
         "/run/my redis.sock", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lc__redis_addr a;
        parse_ok(cases[i].url, &a);
        const char *want[] = {cases[i].host, cases[i].path, cases[i].user, cases[i].password};
        const char *got[] = {a.host, a.path, a.user, a.password};
        for (size_t k = 0; k < 4; k++)
            if (want[k] ? got[k] == NULL || strcmp(want[k], got[k]) != 0 : got[k] != NULL)
                fail_msg("%s: part %zu is '%s', want '%s'", cases[i].url, k,
                         got[k] ? got[k] : "(none)", want[k] ? want[k] : "(none)");
        assert_string_equal(a.label, cases[i].label);
        assert_int_equal(a.port, cases[i].port);
        assert_int_equal(a.db, cases[i].db);
        lc__redis_addr_free(&a);
    }
}

static void test_redis_url_bad_hosts_and_ports_are_refused(void **state)
{
    (void)state;
    const char *hostchars = "redis.url: a host name holds only letters, digits, '-', '.', '_' "
                            "and '~' (an IPv6 address goes in [])";
    expect_refused("redis://h%41", hostchars);
    expect_refused("redis://h b", "redis.url: a space or control character; percent-encode it (a "
                                  "space is %20)");
    expect_refused("redis://:Hun\tter2pw@h", "redis.url: a space or control character; "
                                             "percent-encode it (a space is %20)");
    expect_refused("redis://:" PW "@", "redis.url: no host");
    expect_refused("redis://:" PW "@:6379", "redis.url: no host");
    expect_refused("redis:///h", "redis.url: no host");
    expect_refused("redis://[fe80::1%25eth0]",
                   "redis.url: the host in [] must be an IPv6 address (no zone id)");
    expect_refused("redis://[::g]", "redis.url: the host in [] must be an IPv6 address (no zone "
                                    "id)");
    expect_refused("redis://[::1]x", "redis.url: expected ':' and a port after ']'");
    expect_refused("redis://u:" PW "@[::1", "redis.url: an IPv6 address without its ']'");
    expect_refused("redis://h:65536", "redis.url: the port must be 1 to 65535");
    expect_refused("redis://h:99999999999999999999", "redis.url: the port must be 1 to 65535");
    expect_refused("redis://h:+1", "redis.url: the port must be 1 to 65535");
    expect_refused("redis://u:Hun/ter2pw@h", "redis.url: the port must be 1 to 65535");
    expect_refused("unix://h/tmp/s", "redis.url: expected unix:///path/to/socket");
    expect_refused("unix://", "redis.url: expected unix:///path/to/socket");
    expect_refused("unix:///?db=1", "redis.url: no socket path (unix:///path)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_url_query_db_and_password_on_tcp_are_used),
        cmocka_unit_test(test_redis_url_query_on_unix_socket_is_used),
        cmocka_unit_test(test_redis_url_unknown_or_doubled_parameters_are_refused),
        cmocka_unit_test(test_redis_url_unencoded_password_is_refused_without_quoting),
        cmocka_unit_test(test_redis_url_decode_valid_escapes_are_decoded),
        cmocka_unit_test(test_redis_url_decode_malformed_escape_is_refused),
        cmocka_unit_test(test_redis_url_decode_nul_is_refused),
        cmocka_unit_test(test_redis_url_malformed_escapes_in_parts_are_refused),
        cmocka_unit_test(test_redis_url_parts_are_split_as_written),
        cmocka_unit_test(test_redis_url_bad_hosts_and_ports_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
