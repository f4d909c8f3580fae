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

static cJSON *info_json(const lc_lock_info *i)
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
    return o;
}

static void print_text(const lc_lock_info *i)
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
}

static int print_all(cli *app, const lc_lock_info *list, size_t n)
{
    if (app->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON *arr = o ? cJSON_AddArrayToObject(o, "locks") : NULL;
        for (size_t k = 0; arr && k < n; k++) {
            cJSON *item = info_json(&list[k]);
            if (item)
                cJSON_AddItemToArray(arr, item);
        }
        return cli_print_json(o);
    }
    if (n == 0)
        printf("no locks\n");
    for (size_t k = 0; k < n; k++)
        print_text(&list[k]);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const lc_lock_info *)a)->name, ((const lc_lock_info *)b)->name);
}

static int run(cli *app, int argc, char **argv)
{
    const char *pos[256];
    int npos, done;
    int rc = cli_parse_plain(app, &cli_cmd_status, argc, argv, pos, 256, &npos, &done);
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
    rc = print_all(app, list, n);
    lc_lock_list_free(list, n);
    return rc;
}

const cli_command cli_cmd_status = {
    "status",
    run,
    "status [NAME ...]",
    "Shows each lock's health -- ready (Ready to sync), held (Sync in progress),\n"
    "stale (lease expired, the next acquire reclaims it), failed (Last sync\n"
    "failed) -- with owner, fence, held for, expires in, sync count, last\n"
    "started/completed, last error and checkpoint. Without NAME, every lock;\n"
    "at most 256 NAMEs at once.\n",
};
