/* config/redact_int.h -- passwords out of URLs, libpq conninfo strings and
 * the error messages that quote them (config/redact.c). Used by the config
 * dump and by every backend message that can quote its address.
 *
 * Everything here scans the text; nothing parses it. A URL or conninfo
 * that no parser accepts is redacted as well as a valid one: the password
 * of anything URL-shaped (scheme://user:PASSWORD@, read the ways libpq and
 * libcurl read it and the way a user who forgot to percent-encode meant
 * it), and the value of every secret-looking key (password=..., also in a
 * query, 'quoted values' whole). */
#ifndef LC_REDACT_INT_H
#define LC_REDACT_INT_H

#include <stddef.h>

/* Copies of url / conninfo with passwords replaced by "***", in the form
 * the user wrote them. NULL when out of memory. */
char *lc__redact_url(const char *url);
char *lc__redact_conninfo(const char *conninfo);

/* Redacts msg (NUL-terminated, in a buffer of `size` bytes) in place:
 *  - every password that `source` holds (a URL or a conninfo, NULL for
 *    none), raw, percent-decoded and unquoted, wherever it appears;
 *  - whatever in msg itself looks like a secret (as above).
 * The result is cut to fit size. A msg of size - 1 bytes is taken to be
 * cut already: a tail that begins a password of source is masked too. If
 * memory runs out, msg is replaced by a fixed text. */
void lc__redact_msg(char *msg, size_t size, const char *source);

#endif
