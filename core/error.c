/* core/error.c -- status names and the error struct. */
#include "core/error_int.h"
#include "core/text_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *lc_status_name(lc_status code)
{
    switch (code) {
    case LC_OK: return "ok";
    case LC_ERR_CONFLICT: return "conflict";
    case LC_ERR_LOST: return "lost";
    case LC_ERR_TIMEOUT: return "timeout";
    case LC_ERR_UNAVAILABLE: return "unavailable";
    case LC_ERR_INVALID: return "invalid";
    case LC_ERR_NOMEM: return "nomem";
    case LC_ERR_CONFIG: return "config";
    case LC_ERR_INTERNAL: return "internal";
    case LC_ERR_CANCELLED: return "cancelled";
    case LC_ERR_PAUSED: return "paused";
    }
    return "internal";
}

/* A message that filled its buffer may end inside a character quoted
 * from somewhere: end it before that character instead. */
static void cut_message(char *msg, size_t size)
{
    size_t n = strlen(msg);
    if (n + 1 == size)
        msg[lc__utf8_cut(msg, n + 1, n)] = '\0';
}

lc_status lc__err(lc_error *err, lc_status code, int sys_errno, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    memset(&err->holder, 0, sizeof(err->holder));
    err->holder.expires_in_ms = -1;
    err->code = code;
    err->sys_errno = sys_errno;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    cut_message(err->message, sizeof(err->message));
    return code;
}

lc_status lc__err_not_yours(lc_error *err, const char *name)
{
    return lc__err(err, LC_ERR_LOST, 0, "lease on '%s' lost: not held with this token", name);
}

lc_status lc__err_conflict(lc_error *err, const char *name, const char *owner, uint64_t fence,
                           int64_t acquired_at_ms, int64_t expires_in_ms)
{
    const char *who = owner && *owner ? owner : "another holder";
    if (fence > 0)
        lc__err(err, LC_ERR_CONFLICT, 0, "lock '%s' is held by %s (fence %llu)", name, who,
                (unsigned long long)fence);
    else
        lc__err(err, LC_ERR_CONFLICT, 0, "lock '%s' is held by %s", name, who);
    if (err == NULL)
        return LC_ERR_CONFLICT;
    lc__strlcpy(err->holder.owner, owner ? owner : "", sizeof(err->holder.owner));
    err->holder.fence = fence;
    err->holder.acquired_at_ms = acquired_at_ms > 0 ? acquired_at_ms : 0;
    err->holder.expires_in_ms = expires_in_ms >= 0 ? expires_in_ms : -1;
    return LC_ERR_CONFLICT;
}

lc_status lc__err_promised(lc_error *err, const char *name)
{
    lc__err_conflict(err, name, "", 0, 0, -1);
    if (err != NULL)
        snprintf(err->message, sizeof(err->message),
                 "lock '%s' is free but kept for a waiter ahead in line", name);
    return LC_ERR_CONFLICT;
}

lc_status lc__err_paused(lc_error *err, const char *name, const char *by, const char *reason)
{
    lc__err(err, LC_ERR_PAUSED, 0, "lock '%s' is paused by %s: %s", name,
            by && *by ? by : "an operator", reason && *reason ? reason : "no reason given");
    if (err != NULL)
        lc__strlcpy(err->holder.owner, by ? by : "", sizeof(err->holder.owner));
    return LC_ERR_PAUSED;
}

void lc__err_clear(lc_error *err)
{
    if (err == NULL)
        return;
    memset(err, 0, sizeof(*err));
    err->holder.expires_in_ms = -1;
}

void lc__err_prefix(lc_error *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    char prefix[128];
    char old[sizeof(err->message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof(old));
    snprintf(err->message, sizeof(err->message), "%s: %s", prefix, old);
    cut_message(err->message, sizeof(err->message));
}

char *lc__strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

void lc__strlcpy(char *dst, const char *src, size_t size)
{
    if (size == 0)
        return;
    size_t n = src ? strlen(src) : 0;
    n = lc__utf8_cut(src, n, size - 1);
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

void lc__log(lc_log_fn fn, void *ctx, lc_log_level level, const char *fmt, ...)
{
    if (fn == NULL)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fn(ctx, level, msg);
}
