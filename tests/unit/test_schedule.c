/* tests/unit/test_schedule.c -- sync/schedule.c: due times, slots, missed
 * slots and jitter, on server times given by hand. */
#include "testenv.h"

#include "sync/schedule_int.h"

#include <stdio.h>
#include <string.h>

/* 2026-01-01T00:00:00Z, a whole minute (and hour, and day). */
#define T0  1767225600000LL
#define MIN 60000LL

static lc_job job_every(int64_t every_ms, int64_t jitter_ms)
{
    lc_job j;
    memset(&j, 0, sizeof(j));
    j.name = "nightly-sync";
    j.lock = "nightly-sync";
    j.every_ms = every_ms;
    j.jitter_ms = jitter_ms;
    return j;
}

static lc_job job_cron(const char *cron, int64_t jitter_ms)
{
    lc_job j = job_every(0, jitter_ms);
    j.cron = (char *)cron;
    return j;
}

static lc__schedule sched(const lc_job *j, int64_t minute_ms)
{
    lc__schedule s;
    lc_error err;
    lct_assert_rc(lc__schedule_init(&s, j, minute_ms, &err), LC_OK, &err);
    return s;
}

static void test_every_never_ran_is_due_now(void **state)
{
    (void)state;
    lc_job j = job_every(5 * MIN, 0);
    lc__schedule s = sched(&j, 0);
    lc__due d;
    lc__schedule_check(&s, -1, T0 + 123, 0, &d);
    assert_true(d.due);
    assert_int_equal(d.slot_ms, T0 + 123);
    assert_int_equal(d.missed, 0);
    assert_int_equal(d.next_ms, T0 + 123 + 5 * MIN);
}

static void test_every_before_interval_is_not_due_until_last_plus_every(void **state)
{
    (void)state;
    lc_job j = job_every(5 * MIN, 0);
    lc__schedule s = sched(&j, 0);
    lc__due d;
    lc__schedule_check(&s, T0, T0 + 5 * MIN - 1, 0, &d);
    assert_false(d.due);
    assert_int_equal(d.due_at_ms, T0 + 5 * MIN);
    lc__schedule_check(&s, T0, T0 + 5 * MIN, 0, &d);
    assert_true(d.due);
    assert_int_equal(d.slot_ms, T0 + 5 * MIN);
    assert_int_equal(d.missed, 0);
    assert_int_equal(d.next_ms, T0 + 10 * MIN);
}

/* The whole fleet was down for three and a half intervals: one run, for
 * the slot under way, and two missed. */
static void test_every_after_downtime_runs_once_and_counts_missed(void **state)
{
    (void)state;
    lc_job j = job_every(1000, 0);
    lc__schedule s = sched(&j, 0);
    lc__due d;
    lc__schedule_check(&s, T0, T0 + 3500, 0, &d);
    assert_true(d.due);
    assert_int_equal(d.missed, 2);
    assert_int_equal(d.slot_ms, T0 + 3000);
    assert_int_equal(d.next_ms, T0 + 4500);
}

/* A run longer than the interval: when it ends, the next slot is due at
 * once and none is counted missed (the interval since the start has just
 * passed once). */
static void test_every_after_long_run_is_due_once(void **state)
{
    (void)state;
    lc_job j = job_every(1000, 0);
    lc__schedule s = sched(&j, 0);
    lc__due d;
    lc__schedule_check(&s, T0, T0 + 1700, 0, &d);
    assert_true(d.due);
    assert_int_equal(d.missed, 0);
}

static void test_every_jitter_delays_within_the_slot(void **state)
{
    (void)state;
    lc_job j = job_every(5 * MIN, 30000);
    lc__schedule s = sched(&j, 0);
    int64_t off = lc__schedule_offset("nightly-sync", 30000);
    assert_int_equal(s.offset_ms, off);
    assert_true(off >= 0 && off < 30000);
    lc__due d;
    lc__schedule_check(&s, T0, T0 + 5 * MIN, 0, &d);
    assert_int_equal(d.due, off == 0);
    assert_int_equal(d.due_at_ms, T0 + 5 * MIN + off);
}

static void test_offset_is_deterministic_and_spread(void **state)
{
    (void)state;
    assert_int_equal(lc__schedule_offset("a", 0), 0);
    assert_int_equal(lc__schedule_offset("smartsuite-sync", 10000),
                     lc__schedule_offset("smartsuite-sync", 10000));
    int distinct = 0;
    int64_t first = lc__schedule_offset("job-0", 60000);
    for (int i = 1; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof(name), "job-%d", i);
        int64_t o = lc__schedule_offset(name, 60000);
        assert_true(o >= 0 && o < 60000);
        distinct += o != first;
    }
    assert_true(distinct > 10);
}

static void test_force_runs_when_not_due(void **state)
{
    (void)state;
    lc_job j = job_every(5 * MIN, 0);
    lc__schedule s = sched(&j, 0);
    lc__due d;
    lc__schedule_check(&s, T0, T0 + 1000, 1, &d);
    assert_true(d.due);
    assert_int_equal(d.slot_ms, T0 + 1000);
    assert_int_equal(d.missed, 0);
}

static void test_cron_slot_due_when_no_run_since_fire(void **state)
{
    (void)state;
    lc_job j = job_cron("*/5 * * * *", 0);
    lc__schedule s = sched(&j, 0);
    lc__due d;
    /* Last run at 00:00:01; now 00:05:30: the 00:05 slot is due. */
    lc__schedule_check(&s, T0 + 1000, T0 + 5 * MIN + 30000, 0, &d);
    assert_true(d.due);
    assert_int_equal(d.slot_ms, T0 + 5 * MIN);
    assert_int_equal(d.missed, 0);
    assert_int_equal(d.next_ms, T0 + 10 * MIN);
    /* Run started 00:05:00.2: not due again until 00:10. */
    lc__schedule_check(&s, T0 + 5 * MIN + 200, T0 + 7 * MIN, 0, &d);
    assert_false(d.due);
    assert_int_equal(d.due_at_ms, T0 + 10 * MIN);
}

static void test_cron_missed_slots_run_once_and_are_counted(void **state)
{
    (void)state;
    lc_job j = job_cron("* * * * *", 0);
    lc__schedule s = sched(&j, 0);
    lc__due d;
    /* Last run at 00:00:00.5; the fleet was down until 00:10:20. */
    lc__schedule_check(&s, T0 + 500, T0 + 10 * MIN + 20000, 0, &d);
    assert_true(d.due);
    assert_int_equal(d.slot_ms, T0 + 10 * MIN);
    assert_int_equal(d.missed, 9); /* 00:01 .. 00:09 */
}

static void test_cron_never_ran_is_due_for_latest_fire(void **state)
{
    (void)state;
    lc_job j = job_cron("0 3 * * *", 0);
    lc__schedule s = sched(&j, 0);
    lc__due d;
    lc__schedule_check(&s, -1, T0 + 5 * 60 * MIN, 0, &d);
    assert_true(d.due);
    assert_int_equal(d.slot_ms, T0 + 3 * 60 * MIN);
    assert_int_equal(d.next_ms, T0 + 27 * 60 * MIN);
}

/* With jitter the slot's run waits for the offset; before that the slot
 * before counts, which has run. */
static void test_cron_jitter_waits_within_slot(void **state)
{
    (void)state;
    lc_job j = job_cron("*/5 * * * *", 60000);
    lc__schedule s = sched(&j, 0);
    int64_t off = s.offset_ms;
    assert_true(off > 0 && off < 60000);
    lc__due d;
    lc__schedule_check(&s, T0 + off, T0 + 5 * MIN + off - 1, 0, &d);
    assert_false(d.due);
    assert_int_equal(d.due_at_ms, T0 + 5 * MIN + off);
    lc__schedule_check(&s, T0 + off, T0 + 5 * MIN + off, 0, &d);
    assert_true(d.due);
    assert_int_equal(d.slot_ms, T0 + 5 * MIN);
}

/* Test mode: a cron minute of 1 s; `* * * * *` fires every second of the
 * server's clock, and the same second maps to the same slot everywhere. */
static void test_cron_test_minute_scales_slots(void **state)
{
    (void)state;
    lc_job j = job_cron("* * * * *", 0);
    lc__schedule s = sched(&j, 1000);
    assert_int_equal(lc__schedule_period_ms(&s), 1000);
    lc__due d;
    lc__schedule_check(&s, -1, T0 + 2500, 0, &d);
    assert_true(d.due);
    assert_int_equal(d.slot_ms, T0 + 2000);
    assert_int_equal(d.next_ms, T0 + 3000);
    lc__schedule_check(&s, T0 + 2001, T0 + 2999, 0, &d);
    assert_false(d.due);
    assert_int_equal(d.due_at_ms, T0 + 3000);
    lc__schedule_check(&s, T0 + 2001, T0 + 5100, 0, &d);
    assert_true(d.due);
    assert_int_equal(d.slot_ms, T0 + 5000);
    assert_int_equal(d.missed, 2);
}

static void test_next_due_public_matches_check(void **state)
{
    (void)state;
    lc_job j = job_every(1000, 0);
    int64_t due = 0;
    lc_error err;
    lct_assert_rc(lc_job_next_due(&j, T0, T0 + 200, &due, &err), LC_OK, &err);
    assert_int_equal(due, T0 + 1000);
    lct_assert_rc(lc_job_next_due(&j, T0, T0 + 5000, &due, &err), LC_OK, &err);
    assert_true(due <= T0 + 5000);
    lc_job bad = job_cron("61 * * * *", 0);
    assert_int_equal(lc_job_next_due(&bad, T0, T0, &due, &err), LC_ERR_CONFIG);
}

static lc_lock_info lock_at(int64_t now, int64_t started, int64_t success)
{
    lc_lock_info i;
    memset(&i, 0, sizeof(i));
    i.server_now_ms = now;
    i.last_started_at_ms = started;
    i.last_completed_at_ms = started;
    i.last_success_at_ms = success;
    return i;
}

/* The overdue rule: a whole slot late, or two slots without a success;
 * never while held; since when. */
static void test_check_due_overdue_since_the_slot_that_went_by(void **state)
{
    (void)state;
    lc_job j = job_every(MIN, 0);
    lc_job_due d;
    lc_error err;
    lc_lock_info i = lock_at(T0 + 90000, T0, T0); /* due at +60 s, 30 s late */
    lct_assert_rc(lc_job_check_due(&j, &i, &d, &err), LC_OK, &err);
    assert_int_equal(d.due_at_ms, T0 + MIN);
    assert_false(d.overdue);
    assert_int_equal(d.overdue_since_ms, -1);

    i = lock_at(T0 + 200000, T0, T0); /* due at +60 s: the slot to +120 s went by */
    lct_assert_rc(lc_job_check_due(&j, &i, &d, &err), LC_OK, &err);
    assert_true(d.overdue);
    assert_int_equal(d.overdue_since_ms, T0 + 2 * MIN);
    i.held = 1; /* a run under way is not overdue */
    lct_assert_rc(lc_job_check_due(&j, &i, &d, &err), LC_OK, &err);
    assert_false(d.overdue);

    /* Runs on time, but none succeeded since T0: two slots later. */
    i = lock_at(T0 + 150000, T0 + 2 * MIN, T0);
    lct_assert_rc(lc_job_check_due(&j, &i, &d, &err), LC_OK, &err);
    assert_true(d.overdue);
    assert_int_equal(d.overdue_since_ms, T0 + 2 * MIN);

    /* Never succeeded: overdue from the second failure on. */
    i = lock_at(T0 + 1000, T0, -1);
    i.consecutive_failures = 1;
    lct_assert_rc(lc_job_check_due(&j, &i, &d, &err), LC_OK, &err);
    assert_false(d.overdue);
    i.consecutive_failures = 2;
    lct_assert_rc(lc_job_check_due(&j, &i, &d, &err), LC_OK, &err);
    assert_true(d.overdue);
    assert_int_equal(d.overdue_since_ms, T0);

    i.server_now_ms = 0; /* no server time: refused */
    assert_int_equal(lc_job_check_due(&j, &i, &d, &err), LC_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_due_overdue_since_the_slot_that_went_by),
        cmocka_unit_test(test_every_never_ran_is_due_now),
        cmocka_unit_test(test_every_before_interval_is_not_due_until_last_plus_every),
        cmocka_unit_test(test_every_after_downtime_runs_once_and_counts_missed),
        cmocka_unit_test(test_every_after_long_run_is_due_once),
        cmocka_unit_test(test_every_jitter_delays_within_the_slot),
        cmocka_unit_test(test_offset_is_deterministic_and_spread),
        cmocka_unit_test(test_force_runs_when_not_due),
        cmocka_unit_test(test_cron_slot_due_when_no_run_since_fire),
        cmocka_unit_test(test_cron_missed_slots_run_once_and_are_counted),
        cmocka_unit_test(test_cron_never_ran_is_due_for_latest_fire),
        cmocka_unit_test(test_cron_jitter_waits_within_slot),
        cmocka_unit_test(test_cron_test_minute_scales_slots),
        cmocka_unit_test(test_next_due_public_matches_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
