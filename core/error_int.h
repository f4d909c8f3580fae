/* core/error_int.h -- filling lc_error, shared by every part of the library. */
#ifndef LC_ERROR_INT_H
#define LC_ERROR_INT_H

#include "lockcoord.h"

#if defined(__GNUC__)
#define LC__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LC__PRINTF(a, b)
#endif

/* Fills err (if non-NULL) with code, sys_errno and a formatted message;
 * returns code so callers can `return lc__err(...)`. The holder is
 * cleared. */
lc_status lc__err(lc_error *err, lc_status code, int sys_errno, const char *fmt, ...)
    LC__PRINTF(4, 5);

/* LC_ERR_LOST for a token that is not the live holder's: the one message
 * every backend gives for it. */
lc_status lc__err_not_yours(lc_error *err, const char *name);

/* LC_ERR_CONFLICT for `name`, held by another holder: the one way every
 * backend reports a conflict. The message is "lock 'NAME' is held by OWNER
 * (fence N)" ("another holder" when the owner is unknown, no fence part
 * when it is 0). err->holder gets the fields as the header documents them:
 * owner "" when unknown, acquired_at_ms 0 when unknown (not positive),
 * expires_in_ms -1 when unknown (negative). */
lc_status lc__err_conflict(lc_error *err, const char *name, const char *owner, uint64_t fence,
                           int64_t acquired_at_ms, int64_t expires_in_ms);

/* LC_ERR_CONFLICT for a lock that is free but kept for a waiter ahead in
 * its line; no holder. */
lc_status lc__err_promised(lc_error *err, const char *name);

/* LC_ERR_PAUSED for `name`: the one way every backend refuses a paused
 * lock. The message is "lock 'NAME' is paused by BY: REASON";
 * err->holder.owner gets BY. */
lc_status lc__err_paused(lc_error *err, const char *name, const char *by, const char *reason);

/* Clears err to LC_OK with an empty message. */
void lc__err_clear(lc_error *err);

/* Prefixes err->message with "prefix: " (keeps code and holder). */
void lc__err_prefix(lc_error *err, const char *fmt, ...) LC__PRINTF(2, 3);

/* strdup that returns NULL for NULL. */
char *lc__strdup(const char *s);

/* Copies src into dst[size], truncating, always NUL-terminated. */
void lc__strlcpy(char *dst, const char *src, size_t size);

/* Logs through an optional hook: formats only when fn is set. */
void lc__log(lc_log_fn fn, void *ctx, lc_log_level level, const char *fmt, ...) LC__PRINTF(4, 5);

#endif
