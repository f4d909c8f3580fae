/* backends/redis/url.c -- redis.url to an address, with libcurl's URL API
 * (percent-decoding and IPv6 literals come free). */
#include "backends/redis/redis_int.h"
#include "core/error_int.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PORT 6379

void lc__redis_addr_free(lc__redis_addr *a)
{
    if (a == NULL)
        return;
    free(a->host);
    free(a->path);
    free(a->user);
    free(a->password);
    memset(a, 0, sizeof(*a));
}

static int parse_db(const char *text, int *db)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v < 0 || v > 100000)
        return -1;
    *db = (int)v;
    return 0;
}

/* A part decoded, or NULL when absent (or empty, for user and password). */
static char *get_part(CURLU *h, CURLUPart part)
{
    char *s = NULL;
    if (curl_url_get(h, part, &s, CURLU_URLDECODE) != CURLUE_OK || s == NULL)
        return NULL;
    char *copy = *s ? strdup(s) : NULL;
    curl_free(s);
    return copy;
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

static lc_status parse_query_db(CURLU *h, lc__redis_addr *a, lc_error *err)
{
    char *q = get_part(h, CURLUPART_QUERY);
    lc_status rc = LC_OK;
    for (char *p = q; p && *p && rc == LC_OK;) {
        char *amp = strchr(p, '&');
        if (amp)
            *amp = '\0';
        if (strncmp(p, "db=", 3) != 0 || parse_db(p + 3, &a->db) != 0)
            rc = lc__err(err, LC_ERR_CONFIG, 0, "redis.url: unsupported query '%s' (only db=N)", p);
        p = amp ? amp + 1 : NULL;
    }
    free(q);
    return rc;
}

static lc_status fill_unix(CURLU *h, lc__redis_addr *a, lc_error *err)
{
    a->path = get_part(h, CURLUPART_PATH);
    if (a->path == NULL || strcmp(a->path, "/") == 0)
        return lc__err(err, LC_ERR_CONFIG, 0, "redis.url: no socket path (unix:///path)");
    lc__strlcpy(a->label, a->path, sizeof(a->label));
    return parse_query_db(h, a, err);
}

static lc_status fill_tcp(CURLU *h, lc__redis_addr *a, lc_error *err)
{
    char *host = get_part(h, CURLUPART_HOST);
    if (host == NULL)
        return lc__err(err, LC_ERR_CONFIG, 0, "redis.url: no host");
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
    }
    a->host = host;
    char *port = get_part(h, CURLUPART_PORT);
    a->port = port ? atoi(port) : DEFAULT_PORT;
    free(port);
    if (strchr(host, ':'))
        snprintf(a->label, sizeof(a->label), "[%s]:%d", host, a->port);
    else
        snprintf(a->label, sizeof(a->label), "%s:%d", host, a->port);
    char *path = get_part(h, CURLUPART_PATH);
    lc_status rc = LC_OK;
    if (path && strcmp(path, "/") != 0 && parse_db(path + 1, &a->db) != 0)
        rc = lc__err(err, LC_ERR_CONFIG, 0, "redis.url: the path must be a db number, not '%s'",
                     path);
    free(path);
    return rc;
}

static lc_status parse_handle(CURLU *h, const char *url, lc__redis_addr *a, lc_error *err)
{
    int is_unix = strncmp(url, "unix://", 7) == 0;
    if (!is_unix && strncmp(url, "redis://", 8) != 0)
        return lc__err(err, LC_ERR_CONFIG, 0,
                       "redis.url: expected redis://host[:port][/db] or unix:///path");
    char *fixed = is_unix ? unix_with_host(url) : NULL;
    if (is_unix && fixed == NULL)
        return lc__err(err, LC_ERR_CONFIG, 0, "redis.url: expected unix:///path/to/socket");
    CURLUcode uc = curl_url_set(h, CURLUPART_URL, fixed ? fixed : url, CURLU_NON_SUPPORT_SCHEME);
    free(fixed);
    if (uc != CURLUE_OK)
        return lc__err(err, LC_ERR_CONFIG, 0, "redis.url: %s", curl_url_strerror(uc));
    a->user = get_part(h, CURLUPART_USER);
    a->password = get_part(h, CURLUPART_PASSWORD);
    return is_unix ? fill_unix(h, a, err) : fill_tcp(h, a, err);
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
