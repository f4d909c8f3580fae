/* sync/http_job_int.h -- one attempt of an http job (sync/http_job.c).
 *
 * The job engine takes the lease, keeps it renewed, and calls lc__http_run
 * once per attempt. The attempt is one libcurl transfer on the multi
 * interface, so it ends at once when `stop_fd` becomes readable (the lease
 * was lost, or the daemon is shutting down) instead of waiting for a
 * receiver that hangs.
 *
 * What is sent:
 *  - job->method to job->url, job->headers, job->body (with a body and no
 *    Content-Type header of the job's own: Content-Type: application/json);
 *  - Lockcoord-Lock: LOCK, Lockcoord-Fence: FENCE and Idempotency-Key:
 *    LOCK:SLOT on every request (a retry under the same lease and slot has
 *    the same key); a job header of one of these names is refused;
 *  - User-Agent: lockcoord/VERSION unless the job sets its own.
 * Placeholders {{checkpoint}}, {{fence}}, {{lock}} and {{slot}} are replaced
 * in the URL (percent-encoded), in the body (escaped as the content of a
 * JSON string: quotes, backslashes, control characters) and in header
 * values (as they are; a value that would then hold CR or LF is refused).
 * Any other {{...}} is left as it is written: a body may be a template for
 * the receiver. The lease token is never sent: it is the credential that
 * releases the lease.
 *
 * How it ends (lc__http_result.outcome):
 *  - ok: the response status is one of job->expect_status, and the
 *    checkpoint (below) was found;
 *  - failed: any other status ("HTTP 500: <start of the body>"), a transfer
 *    error (curl's message), a response over 1 MiB, a request that could
 *    not be built, or no checkpoint in the response;
 *  - timeout: timeout_ms passed before the response was complete;
 *  - aborted: stop_fd became readable first.
 * Redirects are not followed (a 3xx is a status like any other), only http
 * and https are spoken, and TLS peers are always verified (job->ca_file
 * adds a CA bundle of one's own).
 *
 * The checkpoint: with job->checkpoint_from set, a response that is ok by
 * its status is read as JSON, and the value at that dotted path ("cursor",
 * "data.next", "items.0.id": a number segment indexes an array) becomes
 * new_checkpoint: a string as it is, a number as JSON writes it. An empty
 * body or a JSON null there means "no new checkpoint" (ok, NULL). A body
 * that is not JSON, a path that is not there, another type of value, or a
 * value that is not one line of text fails the attempt: a receiver that
 * stops returning its cursor must not go unnoticed while every run starts
 * over from the old one.
 *
 * Error texts are one line of printable UTF-8 (what lc_release accepts),
 * at most LC__HTTP_ERROR_MAX - 1 bytes. They never hold a header value of
 * the job's (a header may carry an API key), the URL's password, or the
 * values of secret-looking query parameters, also when the receiver echoes
 * them back in its body. */
#ifndef LC_HTTP_JOB_INT_H
#define LC_HTTP_JOB_INT_H

#include "lockcoord.h"

/* The largest response body read; a longer one fails the attempt. */
#define LC__HTTP_BODY_MAX (1024 * 1024)
/* Bytes of the response body quoted in a failure's error text. */
#define LC__HTTP_QUOTE_MAX 200
#define LC__HTTP_ERROR_MAX 1024

typedef enum lc__http_outcome {
    LC__HTTP_OK = 0,
    LC__HTTP_FAILED,
    LC__HTTP_TIMEOUT,
    LC__HTTP_ABORTED
} lc__http_outcome;

/* The values of the placeholders and the lockcoord headers of one attempt.
 * All borrowed. lock and slot are required; checkpoint may be NULL (the
 * placeholder is then empty). */
typedef struct lc__http_vars {
    const char *lock;
    uint64_t fence;
    const char *checkpoint;
    const char *slot; /* the schedule slot the run is for, e.g. its fire time */
} lc__http_vars;

typedef struct lc__http_result {
    lc__http_outcome outcome;
    int http_status;                /* the response's status, 0 if none came */
    char *new_checkpoint;           /* malloc'd, or NULL: free with lc__http_result_clear */
    char error[LC__HTTP_ERROR_MAX]; /* "" when ok */
} lc__http_result;

/* "ok", "failed", "timeout" or "aborted". */
const char *lc__http_outcome_name(lc__http_outcome o);

/* LC_OK when job can be run as far as its own text goes (no job header
 * named like a lockcoord header, no header value with CR or LF); else
 * LC_ERR_CONFIG with a message naming the header. lc__http_run applies the
 * same rules (and fails the attempt), so calling this is optional: it lets
 * a bad job be refused before any lease is taken. */
lc_status lc__http_check(const lc_http_job *job, lc_error *err);

/* Performs one attempt of `job` with the values `v`, for at most
 * timeout_ms (0: no limit of its own), aborted as soon as stop_fd (-1:
 * none) is readable. stop_fd is polled, never read: use one that stays
 * readable (an eventfd written once). If stop_fd is readable at the call,
 * nothing is sent.
 *
 * Returns LC_OK when the attempt ran its course, whatever its outcome:
 * *out says how it ended (free its checkpoint with lc__http_result_clear).
 * Returns an error only when it could not be made at all: LC_ERR_INVALID
 * for a NULL job, v, v->lock or v->slot, LC_ERR_NOMEM, LC_ERR_UNAVAILABLE
 * when libcurl cannot be loaded (sync/curl_dl_int.h), LC_ERR_INTERNAL when
 * it cannot set up a transfer; *out is then cleared to "failed" with the
 * same message, so a caller may record it either way. */
lc_status lc__http_run(const lc_http_job *job, const lc__http_vars *v, int64_t timeout_ms,
                       int stop_fd, lc__http_result *out, lc_error *err);

/* Frees new_checkpoint and clears the result. NULL ok. */
void lc__http_result_clear(lc__http_result *r);

#endif
