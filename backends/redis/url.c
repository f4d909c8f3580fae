/* backends/redis/url.c -- redis.url to an address, with libcurl's URL API
 * (percent-decoding and IPv6 literals come free).
 *
 * Both forms take the query parameters redis-cli and the common clients
 * (redis-py, go-redis) accept: db, password and username. Anything the URL
 * says is either used or refused: an unknown parameter, a fragment, a
 * value given twice (password in the user info and the query, a db in the
 * path and the query) are config errors, never silently dropped. Messages
 * never quote a password: those that quote part of the URL go through
 * the redactor. */
#include "backends/redis/redis_int.h"
#include "config/redact_int.h"
#include "core/error_int.h"

#include <curl/curl.h>
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

/* A part, decoded; *out is NULL when the part is absent or empty.
 * LC_ERR_CONFIG when it does not decode (a %00). */
static lc_status get_part(CURLU *h, CURLUPart part, const char *what, char **out, lc_error *err)
{
    char *s = NULL;
    *out = NULL;
    CURLUcode uc = curl_url_get(h, part, &s, CURLU_URLDECODE);
    if (uc == CURLUE_URLDECODE)
        return lc__err(err, LC_ERR_CONFIG, 0, "redis.url: %%00 in the %s", what);
    if (uc != CURLUE_OK || s == NULL)
        return LC_OK;
    *out = *s ? strdup(s) : NULL;
    int nomem = *s && *out == NULL;
    explicit_bzero(s, strlen(s));
    curl_free(s);
    return nomem ? lc__err(err, LC_ERR_NOMEM, 0, "out of memory") : LC_OK;
}

/* curl reads "unix:///tmp/x.sock" as host "tmp": give it an explicit
 * host so the whole path stays the path. */
static char *unix_with_host(const char *url)
{
    const char *auth = url + strlen("unix://");
    const char *slash = strchr(auth, '/');
    if (slash == NULL)
        return NULL;
    size_t head = (size_t)(slash - url);
    if (slash != auth && slash[-1] != '@')
        return NULL; /* a host was given: not a socket path */
    size_t n = strlen(url) + sizeof("localhost");
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%.*slocalhost%s", (int)head, url, slash);
    return out;
}

/* A query name or value, percent-decoded. NULL with *bad set for a %00,
 * NULL with *bad clear when out of memory. */
static char *unescape(const char *s, size_t n, int *bad)
{
    int len = 0;
    char *d = curl_easy_unescape(NULL, s, (int)n, &len);
    *bad = 0;
    if (d == NULL)
        return NULL;
    char *out = NULL;
    if (strlen(d) != (size_t)len)
        *bad = 1;
    else
        out = strdup(d);
    explicit_bzero(d, (size_t)len);
    curl_free(d);
    return out;
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
    int bad;
    char *v = unescape(raw, rawlen, &bad);
    if (v == NULL)
        return bad ? lc__err(err, LC_ERR_CONFIG, 0, "redis.url: %%00 in query parameter '%s'", name)
                   : lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    if (strcmp(name, "password") == 0)
        return set_once(&a->password, v, "the password", err);
    if (strcmp(name, "username") == 0)
        return set_once(&a->user, v, "the user name", err);
    lc_status rc = LC_OK;
    if ((*db_seen)++)
        rc = lc__err(err, LC_ERR_CONFIG, 0, "redis.url: the db is given twice");
    else if (parse_db(v, &a->db) != 0)
        rc = lc__err(err, LC_ERR_CONFIG, 0, "redis.url: db must be a number from 0 to %d", DB_MAX);
    free(v);
    return rc;
}

/* Splits the query before decoding, so a password may hold an encoded '&'
 * or '='. Empty pieces ("a=1&&b=2", a trailing '&') are nothing. */
static lc_status parse_query(CURLU *h, const char *url, lc__redis_addr *a, int db_seen,
                             lc_error *err)
{
    char *q = NULL;
    if (curl_url_get(h, CURLUPART_QUERY, &q, 0) != CURLUE_OK || q == NULL)
        return LC_OK;
    lc_status rc = LC_OK;
    for (const char *p = q; *p && rc == LC_OK;) {
        size_t n = strcspn(p, "&"), k = strcspn(p, "=&");
        int bad;
        char *name = NULL;
        if (n == 0)
            ; /* nothing */
        else if (k == n)
            rc = lc__err(err, LC_ERR_CONFIG, 0,
                         "redis.url: a query parameter without '=' (expected db=N, "
                         "password=... or username=...)");
        else if ((name = unescape(p, k, &bad)) == NULL)
            rc = bad ? lc__err(err, LC_ERR_CONFIG, 0, "redis.url: %%00 in a query parameter name")
                     : lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
        else
            rc = query_param(url, name, p + k + 1, n - k - 1, a, &db_seen, err);
        free(name);
        p += n + (p[n] == '&');
    }
    explicit_bzero(q, strlen(q));
    curl_free(q);
    return rc;
}

static lc_status fill_unix(CURLU *h, const char *url, lc__redis_addr *a, lc_error *err)
{
    lc_status rc = get_part(h, CURLUPART_PATH, "socket path", &a->path, err);
    if (rc != LC_OK)
        return rc;
    if (a->path == NULL || strcmp(a->path, "/") == 0)
        return lc__err(err, LC_ERR_CONFIG, 0, "redis.url: no socket path (unix:///path)");
    lc__strlcpy(a->label, a->path, sizeof(a->label));
    return parse_query(h, url, a, 0, err);
}

static lc_status fill_host(CURLU *h, lc__redis_addr *a, lc_error *err)
{
    char *host = NULL, *port = NULL;
    lc_status rc = get_part(h, CURLUPART_HOST, "host", &host, err);
    if (rc != LC_OK)
        return rc;
    if (host == NULL)
        return lc__err(err, LC_ERR_CONFIG, 0, "redis.url: no host");
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
    }
    a->host = host;
    if ((rc = get_part(h, CURLUPART_PORT, "port", &port, err)) != LC_OK)
        return rc;
    a->port = port ? atoi(port) : DEFAULT_PORT;
    free(port);
    if (a->port < 1 || a->port > 65535)
        return lc__err(err, LC_ERR_CONFIG, 0, "redis.url: the port must be 1 to 65535");
    if (strchr(host, ':'))
        snprintf(a->label, sizeof(a->label), "[%s]:%d", host, a->port);
    else
        snprintf(a->label, sizeof(a->label), "%s:%d", host, a->port);
    return LC_OK;
}

/* The path of redis://host/N is the db. An '@' there is a password with
 * an unencoded '/' (curl ends the user info at the first '/'): refused
 * without quoting, since the path then holds part of the password. */
static lc_status fill_tcp(CURLU *h, const char *url, lc__redis_addr *a, lc_error *err)
{
    lc_status rc = fill_host(h, a, err);
    char *path = NULL;
    if (rc == LC_OK)
        rc = get_part(h, CURLUPART_PATH, "path", &path, err);
    if (rc != LC_OK)
        return rc;
    int has_db = path && strcmp(path, "/") != 0;
    if (has_db && strchr(path, '@'))
        rc = lc__err(err, LC_ERR_CONFIG, 0,
                     "redis.url: an '@' after the host; percent-encode '@' (%%40), ':' (%%3A) "
                     "and '/' (%%2F) in the user name and password");
    else if (has_db && parse_db(path + 1, &a->db) != 0)
        rc = lc__err(err, LC_ERR_CONFIG, 0,
                     "redis.url: the path must be a db number from 0 to %d, not '%.40s'", DB_MAX,
                     path);
    free(path);
    return rc == LC_OK ? parse_query(h, url, a, has_db, err) : rc;
}

static lc_status parse_handle(CURLU *h, const char *url, lc__redis_addr *a, lc_error *err)
{
    int is_unix = strncmp(url, "unix://", 7) == 0;
    if (!is_unix && strncmp(url, "redis://", 8) != 0)
        return lc__err(err, LC_ERR_CONFIG, 0,
                       "redis.url: expected redis://host[:port][/db] or unix:///path");
    if (strchr(url, '#') != NULL)
        return lc__err(err, LC_ERR_CONFIG, 0,
                       "redis.url: a '#' (fragment) is not allowed; percent-encode it as %%23 "
                       "in a password");
    char *fixed = is_unix ? unix_with_host(url) : NULL;
    if (is_unix && fixed == NULL)
        return lc__err(err, LC_ERR_CONFIG, 0, "redis.url: expected unix:///path/to/socket");
    CURLUcode uc = curl_url_set(h, CURLUPART_URL, fixed ? fixed : url, CURLU_NON_SUPPORT_SCHEME);
    if (fixed)
        wipe_free(fixed);
    if (uc != CURLUE_OK)
        return lc__err(err, LC_ERR_CONFIG, 0, "redis.url: %s", curl_url_strerror(uc));
    lc_status rc = get_part(h, CURLUPART_USER, "user name", &a->user, err);
    if (rc == LC_OK)
        rc = get_part(h, CURLUPART_PASSWORD, "password", &a->password, err);
    if (rc == LC_OK)
        rc = is_unix ? fill_unix(h, url, a, err) : fill_tcp(h, url, a, err);
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
    CURLU *h = curl_url();
    if (h == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    lc_status rc = parse_handle(h, url, out, err);
    curl_url_cleanup(h);
    if (rc != LC_OK)
        lc__redis_addr_free(out);
    return rc;
}
