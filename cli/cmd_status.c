/* cli/cmd_status.c -- `status [NAME ...]`: health of each lock. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static void add_ms_or_null(cJSON *o, const char *key, int64_t ms)
{
    if (ms >= 0)
        cJSON_AddNumberToObject(o, key, (double)ms);
    else
        cJSON_AddNullToObject(o, key);
}

static void add_time_or_null(cJSON *o, const char *key, int64_t unix_ms)
{
    char t[40];
    if (unix_ms > 0)
        cJSON_AddStringToObject(o, key, cli_time(unix_ms, t, sizeof(t)));
    else
        cJSON_AddNullToObject(o, key);
}

static void add_str_or_null(cJSON *o, const char *key, const char *s)
{
    if (s)
        cJSON_AddStringToObject(o, key, s);
    else
        cJSON_AddNullToObject(o, key);
}

/* The job of the config that runs under lock `name`, or NULL. */
static const lc_job *job_of(const cli *app, const char *name)
{
    for (size_t k = 0; app->cfg && k < app->cfg->n_jobs; k++)
        if (strcmp(app->cfg->jobs[k].lock, name) == 0)
            return &app->cfg->jobs[k];
    return NULL;
}

/* When the job is next due and whether it is overdue (lc_job_check_due).
 * 0 when unknown. */
static int next_due(const lc_job *job, const lc_lock_info *i, int64_t *due, int *overdue)
{
    lc_error err;
    lc_job_due d;
    if (job == NULL || lc_job_check_due(job, i, &d, &err) != LC_OK)
        return 0;
    *due = d.due_at_ms;
    *overdue = d.overdue;
    return 1;
}

/* What `status --check` holds against a lock, as "stale", "failed",
 * "paused" and "overdue" joined by commas into buf; "" when it is ready
 * or held. */
static const char *problems(const cli *app, const lc_lock_info *i, char *buf, size_t size)
{
    const lc_job *job = job_of(app, i->name);
    int64_t due = 0;
    int overdue = 0;
    buf[0] = '\0';
    if (i->health == LC_HEALTH_STALE || i->health == LC_HEALTH_FAILED)
        snprintf(buf, size, "%s", lc_health_name(i->health));
    if (i->paused)
        snprintf(buf + strlen(buf), size - strlen(buf), "%spaused", buf[0] ? "," : "");
    if (job && next_due(job, i, &due, &overdue) && overdue)
        snprintf(buf + strlen(buf), size - strlen(buf), "%soverdue", buf[0] ? "," : "");
    return buf;
}

static void add_run_json(cJSON *o, const lc_lock_info *i)
{
    const char *outcome = lc_outcome_name(i->last_outcome);
    add_str_or_null(o, "last_outcome", outcome[0] ? outcome : NULL);
    if (i->last_http_status > 0)
        cJSON_AddNumberToObject(o, "last_http_status", i->last_http_status);
    else
        cJSON_AddNullToObject(o, "last_http_status");
    add_ms_or_null(o, "last_duration_ms", i->last_duration_ms);
    cJSON_AddNumberToObject(o, "attempts", i->last_attempts);
    cJSON_AddNumberToObject(o, "missed_slots", i->last_missed_slots);
    add_time_or_null(o, "last_success_at", i->last_success_at_ms);
    cJSON_AddNumberToObject(o, "consecutive_failures", (double)i->consecutive_failures);
}

static cJSON *info_json(const cli *app, const lc_lock_info *i)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    cJSON_AddStringToObject(o, "name", i->name);
    cJSON_AddStringToObject(o, "health", lc_health_name(i->health));
    cJSON_AddStringToObject(o, "health_text", lc_health_text(i->health));
    add_str_or_null(o, "owner", i->owner[0] ? i->owner : NULL);
    cJSON_AddNumberToObject(o, "fence", (double)i->fence);
    add_ms_or_null(o, "held_for_ms", i->held ? i->held_for_ms : -1);
    add_ms_or_null(o, "expires_in_ms", i->held ? i->expires_in_ms : -1);
    cJSON_AddNumberToObject(o, "sync_count", (double)i->sync_count);
    add_time_or_null(o, "last_started_at", i->last_started_at_ms);
    add_time_or_null(o, "last_completed_at", i->last_completed_at_ms);
    add_str_or_null(o, "last_error", i->last_error);
    if (i->has_last_exit)
        cJSON_AddNumberToObject(o, "last_exit", i->last_exit);
    else
        cJSON_AddNullToObject(o, "last_exit");
    add_str_or_null(o, "checkpoint", i->checkpoint);
    add_run_json(o, i);
    if (i->paused) {
        cJSON *p = cJSON_AddObjectToObject(o, "paused");
        if (p) {
            cJSON_AddStringToObject(p, "by", i->paused_by);
            add_str_or_null(p, "reason", i->paused_reason);
            add_time_or_null(p, "until", i->paused_until_ms);
        }
    } else {
        cJSON_AddNullToObject(o, "paused");
    }
    const lc_job *job = job_of(app, i->name);
    int64_t due = 0;
    int overdue = 0;
    if (job)
        cJSON_AddStringToObject(o, "job", job->name);
    if (job && next_due(job, i, &due, &overdue)) {
        char t[40];
        cJSON_AddStringToObject(o, "next_due_at", lc_time_format(due, t, sizeof(t)));
        cJSON_AddBoolToObject(o, "overdue", overdue);
    }
    return o;
}

static void print_run_text(const cli *app, const lc_lock_info *i)
{
    char a[40], d[32];
    if (i->last_outcome != LC_OUTCOME_DEFAULT) {
        printf("  last outcome:   %s", lc_outcome_name(i->last_outcome));
        if (i->last_duration_ms >= 0)
            printf(" in %s", lc_duration_format(i->last_duration_ms, d, sizeof(d)));
        if (i->last_attempts > 1)
            printf(", %d attempts", i->last_attempts);
        if (i->last_http_status > 0)
            printf(", HTTP %d", i->last_http_status);
        if (i->last_missed_slots > 0)
            printf(", %d missed slot%s", i->last_missed_slots,
                   i->last_missed_slots == 1 ? "" : "s");
        printf("\n");
    }
    if (i->last_success_at_ms > 0 || i->consecutive_failures > 0)
        printf("  last success:   %s%s", cli_time(i->last_success_at_ms, a, sizeof(a)),
               i->consecutive_failures ? "" : "\n");
    if (i->consecutive_failures > 0)
        printf(" (%llu failure%s since)\n", (unsigned long long)i->consecutive_failures,
               i->consecutive_failures == 1 ? "" : "s");
    const lc_job *job = job_of(app, i->name);
    int64_t due = 0;
    int overdue = 0;
    if (job && next_due(job, i, &due, &overdue)) {
        int64_t in = due - i->server_now_ms;
        printf("  next due:       %s (%s %s)%s\n", lc_time_format(due, a, sizeof(a)),
               in > 0 ? "in" : "due for", lc_duration_format(in > 0 ? in : -in, d, sizeof(d)),
               overdue ? " OVERDUE" : "");
    }
}

static void print_text(const cli *app, const lc_lock_info *i)
{
    char a[40], b[40], d1[32], d2[32];
    /* Every string here was read back from the backend: escaped. */
    printf("%s: %s (%s)\n", cli_safe(i->name), lc_health_name(i->health),
           lc_health_text(i->health));
    if (i->owner[0])
        printf("  owner:          %s%s\n", cli_safe(i->owner), i->held ? "" : " (last holder)");
    printf("  fence:          %llu\n", (unsigned long long)i->fence);
    if (i->held) {
        printf("  held for:       %s\n", lc_duration_format(i->held_for_ms, d1, sizeof(d1)));
        printf("  expires in:     %s\n", lc_duration_format(i->expires_in_ms, d2, sizeof(d2)));
    }
    printf("  sync count:     %llu\n", (unsigned long long)i->sync_count);
    printf("  last started:   %s\n",
           cli_time(i->last_started_at_ms > 0 ? i->last_started_at_ms : -1, a, sizeof(a)));
    printf("  last completed: %s\n",
           cli_time(i->last_completed_at_ms > 0 ? i->last_completed_at_ms : -1, b, sizeof(b)));
    if (i->has_last_exit)
        printf("  last exit:      %d\n", i->last_exit);
    printf("  last error:     %s\n", i->last_error ? cli_safe(i->last_error) : "-");
    printf("  checkpoint:     %s\n", i->checkpoint ? cli_safe(i->checkpoint) : "-");
    if (i->paused)
        printf("  paused:         by %s until %s: %s\n", cli_safe(i->paused_by),
               i->paused_until_ms > 0 ? cli_time(i->paused_until_ms, a, sizeof(a)) : "resumed",
               cli_safe(i->paused_reason ? i->paused_reason : ""));
    print_run_text(app, i);
}

/* --check: the locks with problems, in JSON (o non-NULL) and on stderr
 * as one line; the number of them. */
static size_t check(const cli *app, const lc_lock_info *list, size_t n, cJSON *o)
{
    char line[1024] = "", p[64];
    size_t bad = 0, len = 0;
    cJSON *c = o ? cJSON_AddObjectToObject(o, "check") : NULL;
    cJSON *arr = c ? cJSON_AddArrayToObject(c, "offenders") : NULL;
    for (size_t k = 0; k < n; k++) {
        if (problems(app, &list[k], p, sizeof(p))[0] == '\0')
            continue;
        bad++;
        cJSON *item = arr ? cJSON_CreateObject() : NULL;
        if (item) {
            cJSON_AddStringToObject(item, "name", list[k].name);
            cJSON_AddStringToObject(item, "problems", p);
            cJSON_AddItemToArray(arr, item);
        }
        if (len < sizeof(line))
            len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s (%s)",
                                    bad > 1 ? ", " : "", cli_safe(list[k].name), p);
    }
    if (c)
        cJSON_AddBoolToObject(c, "ok", bad == 0);
    if (bad && !app->json) {
        fflush(stdout); /* after the status it summarises, also through a pipe */
        fprintf(stderr, "lockcoord: status --check: %zu of %zu not healthy: %s\n", bad, n, line);
    }
    return bad;
}

static int print_all(cli *app, const lc_lock_info *list, size_t n, int checking)
{
    size_t bad = 0;
    if (app->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON *arr = o ? cJSON_AddArrayToObject(o, "locks") : NULL;
        for (size_t k = 0; arr && k < n; k++) {
            cJSON *item = info_json(app, &list[k]);
            if (item)
                cJSON_AddItemToArray(arr, item);
        }
        if (checking)
            bad = check(app, list, n, o);
        int rc = cli_print_json(o);
        return rc ? rc : bad ? EXIT_CHECK : 0;
    }
    if (n == 0)
        printf("no locks\n");
    for (size_t k = 0; k < n; k++)
        print_text(app, &list[k]);
    if (checking)
        bad = check(app, list, n, NULL);
    return bad ? EXIT_CHECK : 0;
}

static int on_opt(cli *app, void *ctx, int opt, const char *arg)
{
    (void)app;
    (void)arg;
    if (opt != 'k')
        return EXIT_USAGE;
    *(int *)ctx = 1;
    return 0;
}

/* The locks of configured jobs that the backend has no record of yet,
 * appended to *list (so `status` shows when they are due). */
static int add_job_locks(cli *app, lc_lock_info **list, size_t *n)
{
    for (size_t k = 0; k < app->cfg->n_jobs; k++) {
        const char *lock = app->cfg->jobs[k].lock;
        int seen = 0;
        for (size_t j = 0; j < *n && !seen; j++)
            seen = strcmp((*list)[j].name, lock) == 0;
        if (seen)
            continue;
        lc_lock_info *grown = realloc(*list, (*n + 1) * sizeof(**list));
        if (grown == NULL)
            return EXIT_INTERNAL;
        *list = grown;
        lc_error err;
        if (lc_inspect(app->client, lock, &grown[*n], &err) != LC_OK)
            return cli_fail(app, "status", lock, &err);
        (*n)++;
    }
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const lc_lock_info *)a)->name, ((const lc_lock_info *)b)->name);
}

static int run(cli *app, int argc, char **argv)
{
    static const struct option opts[] = {{"check", no_argument, NULL, 'k'},
                                         {"json", no_argument, NULL, 'J'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *pos[256];
    int npos, done, checking = 0;
    int rc = cli_parse(app, &cli_cmd_status, argc, argv, "", opts, on_opt, &checking, pos, 256,
                       &npos, NULL, &done);
    if (rc || done)
        return rc;
    for (int k = 0; k < npos; k++)
        if ((rc = cli_check_name(app, pos[k])) != 0)
            return rc;
    if ((rc = cli_open(app)) != 0)
        return rc;
    lc_error err;
    lc_lock_info *list = NULL;
    size_t n = 0;
    if (npos == 0) {
        if (lc_list(app->client, &list, &n, &err) != LC_OK)
            return cli_fail(app, "status", NULL, &err);
        if ((rc = add_job_locks(app, &list, &n)) != 0) {
            lc_lock_list_free(list, n);
            return rc;
        }
        qsort(list, n, sizeof(*list), by_name);
    } else {
        list = calloc((size_t)npos, sizeof(*list));
        if (list == NULL)
            return EXIT_INTERNAL;
        for (; n < (size_t)npos; n++) {
            if (lc_inspect(app->client, pos[n], &list[n], &err) != LC_OK) {
                lc_lock_list_free(list, n);
                return cli_fail(app, "status", pos[n], &err);
            }
        }
    }
    rc = print_all(app, list, n, checking);
    lc_lock_list_free(list, n);
    return rc;
}

const cli_command cli_cmd_status = {
    "status",
    run,
    "status [NAME ...] [--check]",
    "Shows each lock's health -- ready (Ready to sync), held (Sync in progress),\n"
    "stale (lease expired, the next acquire reclaims it), failed (Last sync\n"
    "failed), paused (`lockcoord pause`; who, why and until when) -- with owner, fence, held for, "
    "expires in, sync count, last\n"
    "started/completed, last error and checkpoint, and the last run's record\n"
    "(outcome, duration, attempts, HTTP status, missed slots, last success).\n"
    "For a job of the config, when it is next due (on the backend's clock)\n"
    "and whether it is overdue (not running, and a whole slot went by without\n"
    "a run, or no run succeeded for two slots). Without NAME, every lock and\n"
    "every job's lock; at most 256 NAMEs at once.\n"
    "--check: also exit 1 when any lock shown is stale, failed, paused or\n"
    "overdue, naming them on stderr (JSON: \"check\":{\"ok\",\"offenders\"}).\n",
};
