/* backends/redis/url.c -- redis.url to an address.
 *
 * Both forms take the query parameters redis-cli and the common clients
 * (redis-py, go-redis) accept: db, password and username. Anything the URL
 * says is either used or refused: an unknown parameter, a fragment, a
 * value given twice (password in the user info and the query, a db in the
 * path and the query) are config errors, never silently dropped. Messages
 * never quote a password: those that quote part of the URL go through
 * the redactor.
 *
 * The URL is split here rather than with libcurl's URL API: libcurl is
 * loaded only for http jobs (sync/curl_dl_int.h), and a Redis lock command
 * would otherwise load it, and the libraries it links, at every start.
 * The split is libcurl's, the one the redactor knows (config/redact.c):
 * the authority ends at the first '/' or '?', the user info at its last
 * '@', the user name at the first ':' of the user info. */
#include "backends/redis/redis_int.h"
#include "config/redact_int.h"
#include "core/error_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PORT 6379
#define DB_MAX       100000

/* Overwrites and frees a string that may hold a password. */
static void wipe_free(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

void lc__redis_addr_free(lc__redis_addr *a)
{
    if (a == NULL)
        return;
    free(a->host);
    free(a->path);
    wipe_free(a->user);
    wipe_free(a->password);
    memset(a, 0, sizeof(*a));
}

static int parse_db(const char *text, int *db)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (*text < '0' || *text > '9' || *end != '\0' || v < 0 || v > DB_MAX)
        return -1;
    *db = (int)v;
    return 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

lc_status lc__redis_url_decode(const char *s, size_t n, const char *what, char **out, lc_error *err)
{
    *out = NULL;
    char *d = malloc(n + 1);
    if (d == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    size_t o = 0;
    lc_status rc = LC_OK;
    for (size_t i = 0; i < n && rc == LC_OK; i++) {
        int hi, lo;
        if (s[i] != '%')
            d[o++] = s[i];
        else if (n - i < 3 || (hi = hex_value(s[i + 1])) < 0 || (lo = hex_value(s[i + 2])) < 0)
            rc = lc__err(err, LC_ERR_CONFIG, 0,
                         "redis.url: a '%%' without two hex digits after it in %s (a '%%' "
                         "itself is %%25)",
                         what);
        else if (hi == 0 && lo == 0)
            rc = lc__err(err, LC_ERR_CONFIG, 0, "redis.url: %%00 in %s", what);
        else {
            d[o++] = (char)(hi * 16 + lo);
            i += 2;
        }
    }
    d[o] = '\0';
    if (rc != LC_OK) {
        explicit_bzero(d, n + 1);
        free(d);
        return rc;
    }
    *out = d;
    return LC_OK;
}

/* A part, decoded; *out is NULL when the part is empty. */
static lc_status decode_part(const char *s, size_t n, const char *what, char **out, lc_error *err)
{
    *out = NULL;
    return n == 0 ? LC_OK : lc__redis_url_decode(s, n, what, out, err);
}

/* Keeps value as *dst, refusing a second one (user info and query). */
static lc_status set_once(char **dst, char *value, const char *what, lc_error *err)
{
    if (*dst != NULL) {
        wipe_free(value);
        return lc__err(err, LC_ERR_CONFIG, 0, "redis.url: %s is given twice", what);
    }
    *dst = value;
    return LC_OK;
}

/* What a query parameter other than db, password and username gets. The
 * name is a key, not a secret, but a malformed query can make anything a
 * name: it goes through the redactor. */
static lc_status refuse_param(const char *url, const char *name, lc_error *err)
{
    char msg[sizeof(err->message)];
    if (strstr(name, "timeout") != NULL)
        snprintf(msg, sizeof(msg),
                 "redis.url: query parameter '%.40s' is not supported; set "
                 "redis.connect_timeout and redis.command_timeout instead",
                 name);
    else
        snprintf(msg, sizeof(msg),
                 "redis.url: unknown query parameter '%.40s' (supported: db, password, username)",
                 name);
    lc__redact_msg(msg, sizeof(msg), url);
    return lc__err(err, LC_ERR_CONFIG, 0, "%s", msg);
}

/* One name=value of the query; name decoded, value as written. */
static lc_status query_param(const char *url, const char *name, const char *raw, size_t rawlen,
                             lc__redis_addr *a, int *db_seen, lc_error *err)
{
    if (strcmp(name, "db") != 0 && strcmp(name, "password") != 0 && strcmp(name, "username") != 0)
        return refuse_param(url, name, err);
    if (rawlen == 0)
        return lc__err(err, LC_ERR_CONFIG, 0, "redis.url: query parameter '%s' is empty", name);
    char what[64];
    snprintf(what, sizeof(what), "query parameter '%s'", name);
    char *v;
    lc_status rc = lc__redis_url_decode(raw, rawlen, what, &v, err);
    if (rc != LC_OK)
        return rc;
    if (strcmp(name, "password") == 0)
        return set_once(&a->password, v, "the password", err);
    if (strcmp(name, "username") == 0)
        return set_once(&a->user, v, "the user name", err);
    if ((*db_seen)++)
        rc = lc__err(err, LC_ERR_CONFIG, 0, "redis.url: the db is given twice");
    else if (parse_db(v, &a->db) != 0)
        rc = lc__err(err, LC_ERR_CONFIG, 0, "redis.url: db must be a number from 0 to %d", DB_MAX);
    free(v);
    return rc;
}

/* The query q (after the '?'), split before decoding, so a password may
 * hold an encoded '&' or '='. Empty pieces ("a=1&&b=2", a trailing '&')
 * are nothing. */
static lc_status parse_query(const char *url, const char *q, lc__redis_addr *a, int db_seen,
                             lc_error *err)
{
    lc_status rc = LC_OK;
    for (const char *p = q; *p && rc == LC_OK;) {
        size_t n = strcspn(p, "&"), k = strcspn(p, "=&");
        char *name = NULL;
        if (n == 0)
            ; /* nothing */
        else if (k == n)
            rc = lc__err(err, LC_ERR_CONFIG, 0,
                         "redis.url: a query parameter without '=' (expected db=N, "
                         "password=... or username=...)");
        else if ((rc = lc__redis_url_decode(p, k, "a query parameter name", &name, err)) == LC_OK)
            rc = query_param(url, name, p + k + 1, n - k - 1, a, &db_seen, err);
        free(name);
        p += n + (p[n] == '&');
    }
    return rc;
}

/* user[:password] of s[0..n), each decoded; empty ones stay NULL. */
static lc_status parse_userinfo(const char *s, size_t n, lc__redis_addr *a, lc_error *err)
{
    const char *colon = memchr(s, ':', n);
    size_t ulen = colon ? (size_t)(colon - s) : n;
    lc_status rc = decode_part(s, ulen, "the user name", &a->user, err);
    if (rc == LC_OK && colon)
        rc = decode_part(colon + 1, n - ulen - 1, "the password", &a->password, err);
    return rc;
}

/* "[v6]" of s[0..n), without its brackets; *end is what follows the ']'. */
static lc_status parse_ipv6(const char *s, size_t n, lc__redis_addr *a, const char **end,
                            lc_error *err)
{
    const char *close = memchr(s, ']', n);
    if (close == NULL)
        return lc__err(err, LC_ERR_CONFIG, 0, "redis.url: an IPv6 address without its ']'");
    size_t len = (size_t)(close - s - 1);
    unsigned char bin[16];
    if ((a->host = strndup(s + 1, len)) == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    if (strspn(a->host, "0123456789abcdefABCDEF:.") != len ||
        inet_pton(AF_INET6, a->host, bin) != 1)
        return lc__err(err, LC_ERR_CONFIG, 0,
                       "redis.url: the host in [] must be an IPv6 address (no zone id)");
    *end = close + 1;
    return LC_OK;
}

/* host[:port] of s[0..n). Neither is quoted in a message: an unencoded
 * '/' or '?' in a password puts part of it here. */
static lc_status parse_host_port(const char *s, size_t n, lc__redis_addr *a, lc_error *err)
{
    const char *lim = s + n, *end = lim;
    if (n == 0)
        return lc__err(err, LC_ERR_CONFIG, 0, "redis.url: no host");
    if (*s == '[') {
        lc_status rc = parse_ipv6(s, n, a, &end, err);
        if (rc != LC_OK)
            return rc;
        if (end < lim && *end != ':')
            return lc__err(err, LC_ERR_CONFIG, 0, "redis.url: expected ':' and a port after ']'");
    } else {
        end = memchr(s, ':', n);
        end = end ? end : lim;
        if (end == s)
            return lc__err(err, LC_ERR_CONFIG, 0, "redis.url: no host");
        for (const char *p = s; p < end; p++)
            if (!isalnum((unsigned char)*p) && !strchr("-._~", *p))
                return lc__err(err, LC_ERR_CONFIG, 0,
                               "redis.url: a host name holds only letters, digits, '-', '.', '_' "
                               "and '~' (an IPv6 address goes in [])");
        if ((a->host = strndup(s, (size_t)(end - s))) == NULL)
            return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    }
    /* "host:" is the default port, as in browsers and libcurl. */
    const char *port = end < lim ? end + 1 : lim;
    a->port = port < lim ? 0 : DEFAULT_PORT;
    for (const char *p = port; p < lim; p++)
        if (*p < '0' || *p > '9' || (a->port = a->port * 10 + (*p - '0')) > 65535)
            return lc__err(err, LC_ERR_CONFIG, 0, "redis.url: the port must be 1 to 65535");
    if (a->port < 1)
        return lc__err(err, LC_ERR_CONFIG, 0, "redis.url: the port must be 1 to 65535");
    if (strchr(a->host, ':'))
        snprintf(a->label, sizeof(a->label), "[%s]:%d", a->host, a->port);
    else
        snprintf(a->label, sizeof(a->label), "%s:%d", a->host, a->port);
    return LC_OK;
}

/* The path of redis://host/N is the db. An '@' there is a password with
 * an unencoded '/' (the user info ends at the first '/'): refused
 * without quoting, since the path then holds part of the password. */
static lc_status parse_db_path(const char *s, size_t n, lc__redis_addr *a, int *has_db,
                               lc_error *err)
{
    *has_db = n > 1;
    if (!*has_db)
        return LC_OK;
    if (memchr(s, '@', n))
        return lc__err(err, LC_ERR_CONFIG, 0,
                       "redis.url: an '@' after the host; percent-encode '@' (%%40), ':' (%%3A) "
                       "and '/' (%%2F) in the user name and password");
    char *path;
    lc_status rc = lc__redis_url_decode(s, n, "the path", &path, err);
    if (rc == LC_OK && parse_db(path + 1, &a->db) != 0)
        rc = lc__err(err, LC_ERR_CONFIG, 0,
                     "redis.url: the path must be a db number from 0 to %d, not '%.40s'", DB_MAX,
                     path);
    free(path);
    return rc;
}

/* A space or a control character: no URL holds one as it is. */
static int has_raw_bytes(const char *url)
{
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return 1;
    return 0;
}

static lc_status parse(const char *url, lc__redis_addr *a, lc_error *err)
{
    int is_unix = strncmp(url, "unix://", 7) == 0;
    if (!is_unix && strncmp(url, "redis://", 8) != 0)
        return lc__err(err, LC_ERR_CONFIG, 0,
                       "redis.url: expected redis://host[:port][/db] or unix:///path");
    if (strchr(url, '#') != NULL)
        return lc__err(err, LC_ERR_CONFIG, 0,
                       "redis.url: a '#' (fragment) is not allowed; percent-encode it as %%23 "
                       "in a password");
    if (has_raw_bytes(url))
        return lc__err(err, LC_ERR_CONFIG, 0,
                       "redis.url: a space or control character; percent-encode it (a space is "
                       "%%20)");
    const char *auth = url + (is_unix ? 7 : 8);
    size_t alen = strcspn(auth, "/?");
    const char *at = memrchr(auth, '@', alen);
    const char *host = at ? at + 1 : auth, *path = auth + alen;
    size_t hlen = (size_t)(path - host), plen = strcspn(path, "?");
    const char *query = path[plen] == '?' ? path + plen + 1 : NULL;
    lc_status rc = at ? parse_userinfo(auth, (size_t)(at - auth), a, err) : LC_OK;
    int has_db = 0;
    if (rc != LC_OK)
        return rc;
    if (is_unix && (hlen != 0 || plen == 0))
        return lc__err(err, LC_ERR_CONFIG, 0, "redis.url: expected unix:///path/to/socket");
    if (is_unix && plen == 1)
        return lc__err(err, LC_ERR_CONFIG, 0, "redis.url: no socket path (unix:///path)");
    if (is_unix && (rc = decode_part(path, plen, "the socket path", &a->path, err)) == LC_OK)
        lc__strlcpy(a->label, a->path, sizeof(a->label));
    if (!is_unix && (rc = parse_host_port(host, hlen, a, err)) == LC_OK)
        rc = parse_db_path(path, plen, a, &has_db, err);
    if (rc == LC_OK && query)
        rc = parse_query(url, query, a, has_db, err);
    /* AUTH takes a password, with or without a user name (Redis 6 ACLs). */
    if (rc == LC_OK && a->user && a->password == NULL)
        rc = lc__err(err, LC_ERR_CONFIG, 0,
                     "redis.url: a user name without a password (AUTH needs a password)");
    return rc;
}

lc_status lc__redis_url_parse(const char *url, lc__redis_addr *out, lc_error *err)
{
    memset(out, 0, sizeof(*out));
    if (url == NULL || *url == '\0')
        return lc__err(err, LC_ERR_CONFIG, 0, "redis.url is not set");
    lc_status rc = parse(url, out, err);
    if (rc != LC_OK)
        lc__redis_addr_free(out);
    return rc;
}
