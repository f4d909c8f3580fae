/* backends/limits_int.h -- the backends' length and range limits, on
 * their own so the config loader can check them at load also in a build
 * without that backend's code (and its client library's headers). */
#ifndef LC_BACKENDS_LIMITS_INT_H
#define LC_BACKENDS_LIMITS_INT_H

/* Redis: the longest key prefix. */
#define LC__PREFIX_MAX 256
/* Redis: the most masters of redis.quorum. */
#define LC__QUORUM_MAX 9

/* Postgres: identifiers are cut at 63 bytes; the table name leaves room
 * for the suffixes of the version table and the notification channel. */
#define LC_PG_IDENT_MAX 63
#define LC_PG_TABLE_MAX (LC_PG_IDENT_MAX - 9)
/* statement_timeout is an int of ms on the server. */
#define LC_PG_STATEMENT_TIMEOUT_MAX_MS 2147483647LL

#endif
