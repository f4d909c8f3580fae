/* core/lockinfo.c -- lock state records and their health. */
#include "core/client_int.h"
#include "core/error_int.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    const char *text;
} healths[] = {
    [LC_HEALTH_READY] = {"ready", "Ready to sync"},
    [LC_HEALTH_HELD] = {"held", "Sync in progress"},
    [LC_HEALTH_STALE] = {"stale", "Stale lock: lease expired, the next acquire reclaims it"},
    [LC_HEALTH_FAILED] = {"failed", "Last sync failed"},
    [LC_HEALTH_PAUSED] = {"paused", "Paused: not taken until resumed"},
};

const char *lc_health_name(lc_health h)
{
    return (unsigned)h <= LC_HEALTH_PAUSED ? healths[h].name : "ready";
}

const char *lc_health_text(lc_health h)
{
    return (unsigned)h <= LC_HEALTH_PAUSED ? healths[h].text : healths[0].text;
}

const char *lc_outcome_name(lc_outcome o)
{
    static const char *const names[] = {
        [LC_OUTCOME_DEFAULT] = "",
        [LC_OUTCOME_OK] = "ok",
        [LC_OUTCOME_FAILED] = "failed",
        [LC_OUTCOME_TIMEOUT] = "timeout",
        [LC_OUTCOME_LOST] = "lost",
        [LC_OUTCOME_INTERRUPTED] = "interrupted",
        [LC_OUTCOME_ABANDONED] = "abandoned",
    };
    return (unsigned)o <= LC_OUTCOME_ABANDONED ? names[o] : "";
}

lc_outcome lc__outcome_parse(const char *s)
{
    for (int o = LC_OUTCOME_OK; s && o <= LC_OUTCOME_ABANDONED; o++)
        if (strcmp(s, lc_outcome_name((lc_outcome)o)) == 0)
            return (lc_outcome)o;
    return LC_OUTCOME_DEFAULT;
}

void lc__health_derive(lc_lock_info *info)
{
    if (info->held)
        info->health = LC_HEALTH_HELD;
    else if (info->paused)
        info->health = LC_HEALTH_PAUSED;
    else if (info->stale)
        info->health = LC_HEALTH_STALE;
    else if (info->last_error != NULL)
        info->health = LC_HEALTH_FAILED;
    else
        info->health = LC_HEALTH_READY;
}

void lc__lock_info_init(lc_lock_info *info, const char *name)
{
    memset(info, 0, sizeof(*info));
    lc__strlcpy(info->name, name, sizeof(info->name));
    info->acquired_at_ms = -1;
    info->held_for_ms = -1;
    info->expires_in_ms = -1;
    info->last_started_at_ms = -1;
    info->last_completed_at_ms = -1;
    info->last_duration_ms = -1;
    info->paused_until_ms = -1;
    info->last_success_at_ms = -1;
}

void lc_lock_info_clear(lc_lock_info *info)
{
    if (info == NULL)
        return;
    free(info->last_error);
    free(info->checkpoint);
    free(info->paused_reason);
    info->last_error = NULL;
    info->checkpoint = NULL;
    info->paused_reason = NULL;
}

void lc_lock_list_free(lc_lock_info *list, size_t n)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        lc_lock_info_clear(&list[i]);
    free(list);
}
