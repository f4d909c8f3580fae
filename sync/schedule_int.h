/* sync/schedule_int.h -- when a job is due, judged on the backend server's
 * clock from the job's record (sync/schedule.c).
 *
 * Every time here is the backend server's clock in unix ms: `now` is what
 * the server said when the lease was claimed, `last` the start of the
 * job's last run as the backend recorded it (-1: it never ran). No host's
 * own clock takes part, so a node whose clock is ahead or behind decides
 * exactly as the others do.
 *
 *  - every D: due when D plus the job's offset have passed since the last
 *    run started. From that moment the slots follow each other every D;
 *    a run's slot is the one under way (named by its start), and the ones
 *    before it since the last run are missed.
 *  - cron: the slots are the fire times F; a slot is due at F plus the
 *    offset when no run has started since F. Its name is F.
 *  - A job that never ran is due at once (its slot is `now`, or the latest
 *    fire time of its cron).
 *  - The offset is the jitter: a number of ms in [0, jitter) derived from
 *    the job's name (FNV-1a), the same on every node and after a restart.
 *    The config loader keeps jitter below the interval (or below the
 *    shortest gap between two fire times), so a run never leaves its slot.
 *  - Missed slots: the slots that began and ended since the last run
 *    without a run of their own (the whole fleet was down); the due run
 *    covers them once.
 *
 * Test mode: with minute_ms > 0 a cron "minute" lasts minute_ms of real
 * time (cron is evaluated on a scaled clock), so tests see minute slots
 * in seconds. Never set outside tests. */
#ifndef LC_SCHEDULE_INT_H
#define LC_SCHEDULE_INT_H

#include "lockcoord.h"
#include "sync/cron_int.h"

typedef struct lc__schedule {
    int64_t every_ms; /* > 0, or 0 for cron */
    lc__cron cron;
    int64_t offset_ms; /* from the jitter */
    int64_t minute_ms; /* test mode: a cron minute lasts this long; 0: 60 s */
} lc__schedule;

/* The schedule of `job`; LC_ERR_CONFIG when its cron does not parse or it
 * has no schedule. */
lc_status lc__schedule_init(lc__schedule *s, const lc_job *job, int64_t minute_ms, lc_error *err);

/* The jitter offset of a job name: FNV-1a 64 of the name mod jitter_ms
 * (0 when jitter_ms <= 0). */
int64_t lc__schedule_offset(const char *name, int64_t jitter_ms);

/* The interval, or the shortest gap between two fire times (scaled in
 * test mode); -1 for a cron that never fires. */
int64_t lc__schedule_period_ms(const lc__schedule *s);

/* What a claim found. */
typedef struct lc__due {
    int due;           /* 1: run now */
    int64_t due_at_ms; /* when this slot was or will be due */
    int64_t slot_ms;   /* the slot's name: its start (every) or fire time (cron) */
    int64_t next_ms;   /* when the slot after it begins (its due time) */
    int missed;        /* slots missed before this one (when due) */
} lc__due;

/* Decides at server time `now` for a job whose last run started at `last`
 * (-1: never). `force` (--now) makes it due whatever the record says. */
void lc__schedule_check(const lc__schedule *s, int64_t last, int64_t now, int force, lc__due *out);

/* lc_job_check_due on a schedule made already (the engine's, which may be
 * in test mode). info->server_now_ms must be positive. */
void lc__schedule_due(const lc__schedule *s, const lc_lock_info *info, lc_job_due *out);

#endif
