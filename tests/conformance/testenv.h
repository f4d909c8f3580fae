/* tests/conformance/testenv.h -- what every test binary shares: configs for
 * the real test servers, a fake clock, unique names, waiting on conditions. */
#ifndef LC_TESTENV_H
#define LC_TESTENV_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lockcoord.h"

/* A config for `backend` ("memory", "redis", "postgres",
 * "redis-cluster": Redis with redis.cluster, or "redis-quorum": Redis
 * with redis.quorum), with every default, pointed at the test servers of
 * LOCKCOORD_TEST_REDIS_URL / LOCKCOORD_TEST_PG_CONNINFO /
 * LOCKCOORD_TEST_REDIS_CLUSTER_URL / LOCKCOORD_TEST_REDIS_QUORUM_URLS
 * (space-separated). Redis gets a key prefix unique to
 * this process, so runs never see each other's keys. A missing variable fails the test (fail_msg),
 * unless LOCKCOORD_SKIP_INTEGRATION=1, which skips it. Never returns NULL. Free with
 * lc_config_free. */
lc_config *lct_config(const char *backend);

/* Sets cfg's redis.quorum to the URLs in `urls` (separated by spaces,
 * commas or newlines; at most LCT_QUORUM_MAX) in place of redis.url. */
#define LCT_QUORUM_MAX 9
void lct_set_quorum(lc_config *cfg, const char *urls);

/* The password lct_config_down puts in its configs; it must never show
 * in a message. */
#define LCT_DOWN_SECRET "down-s3cret-pw"

/* A config for `backend` pointed at a server that is down: nothing
 * listens at its address (a loopback port just freed), and it carries
 * LCT_DOWN_SECRET as its password. NULL for "memory", which has no server
 * to be down. Free with lc_config_free. */
lc_config *lct_config_down(const char *backend);

/* 1 when LOCKCOORD_SKIP_INTEGRATION=1 and the backend's server variable is
 * unset; then the caller should skip(). Fails the test if it is unset
 * otherwise. */
int lct_backend_missing(const char *backend);

/* "PREFIX/<pid>-<counter>-<random>": a lock name no other run uses. */
const char *lct_name(const char *prefix);

/* A fake clock that only moves when told; starts at a fixed wall time. */
typedef struct lct_clock {
    lc_clock clock; /* pass &fc->clock where an lc_clock is wanted */
    int64_t mono_ns;
    int64_t wall_ms;
} lct_clock;

void lct_clock_init(lct_clock *fc);
void lct_clock_advance(lct_clock *fc, int64_t ms);

/* Real monotonic milliseconds, for measuring elapsed time in tests. */
int64_t lct_now_ms(void);

/* Polls cond(arg) every 5 ms until it is true or deadline_ms passes;
 * returns 1 if it became true. */
int lct_wait_for(int (*cond)(void *arg), void *arg, int64_t deadline_ms);

/* Sleeps ms milliseconds (only to let a deadline pass on purpose, never to
 * "give something time"). */
void lct_sleep_ms(int64_t ms);

/* Fails the test unless `got` is one line that starts with `want`. */
void lct_assert_prefix(const char *got, const char *want);

/* 1 when a file whose path contains "/" + `lib` ("libpq", "libcurl") is
 * mapped into this process: whether a library loaded on demand has been. */
int lct_mapped(const char *lib);

/* Asserts rc == want, printing the error message when not. */
#define lct_assert_rc(rc, want, err)                                                               \
    do {                                                                                           \
        lc_status rc_ = (rc);                                                                      \
        if (rc_ != (want))                                                                         \
            fail_msg("%s:%d: got %s (%s), want %s", __FILE__, __LINE__, lc_status_name(rc_),       \
                     (err)->message, lc_status_name(want));                                        \
    } while (0)

#endif
