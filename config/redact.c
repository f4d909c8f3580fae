/* config/redact.c -- passwords out of URLs and libpq conninfo strings.
 *
 * These scan the text instead of parsing and re-printing it (with libcurl's
 * URL API or PQconninfoParse) on purpose: the output keeps exactly what the
 * user wrote, in the form they wrote it (URI or key=value, unix sockets,
 * multi-host lists), and there is no input for which a parse failure could
 * leave the password visible. */
#include "config/config_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MASK "***"

typedef struct out {
    char *p;
    size_t len;
} out;

/* The output never grows by more than 2 bytes per masked segment (a
 * 1-byte secret becomes "***"), so 3 * len + 4 bytes always suffice. */
static int out_init(out *o, size_t len)
{
    o->p = malloc(3 * len + 4);
    o->len = 0;
    return o->p != NULL;
}

static void put(out *o, const char *s, size_t n)
{
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

/* A query parameter whose name suggests a secret. */
static int secret_param(const char *name, size_t n)
{
    static const char *const words[] = {"pass", "secret", "token", "key", "auth", "sig"};
    for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
        size_t wl = strlen(words[w]);
        for (size_t i = 0; i + wl <= n; i++)
            if (strncasecmp(name + i, words[w], wl) == 0)
                return 1;
    }
    return 0;
}

/* "user:password@" -> "user:***@"; s..end is the authority. */
static void put_authority(out *o, const char *s, const char *end)
{
    const char *at = NULL;
    for (const char *p = s; p < end; p++)
        if (*p == '@')
            at = p;
    const char *colon = at ? memchr(s, ':', (size_t)(at - s)) : NULL;
    if (colon == NULL || colon + 1 == at) {
        put(o, s, (size_t)(end - s));
        return;
    }
    put(o, s, (size_t)(colon + 1 - s));
    put(o, MASK, strlen(MASK));
    put(o, at, (size_t)(end - at));
}

/* "a=1&password=x#f" with secret values masked. */
static void put_query(out *o, const char *s)
{
    while (*s && *s != '#') {
        size_t n = strcspn(s, "&#");
        const char *eq = memchr(s, '=', n);
        if (eq && eq + 1 < s + n && secret_param(s, (size_t)(eq - s))) {
            put(o, s, (size_t)(eq + 1 - s));
            put(o, MASK, strlen(MASK));
        } else {
            put(o, s, n);
        }
        s += n;
        if (*s == '&')
            put(o, s++, 1);
    }
    put(o, s, strlen(s));
}

char *lc__redact_url(const char *url)
{
    out o;
    if (url == NULL || !out_init(&o, strlen(url)))
        return NULL;
    const char *auth = strstr(url, "://");
    if (auth == NULL) {
        put(&o, url, strlen(url));
        return o.p;
    }
    auth += 3;
    const char *end = auth + strcspn(auth, "/?#");
    put(&o, url, (size_t)(auth - url));
    put_authority(&o, auth, end);
    const char *q = strchr(end, '?'), *frag = strchr(end, '#');
    if (q == NULL || (frag != NULL && frag < q)) {
        put(&o, end, strlen(end));
        return o.p;
    }
    put(&o, end, (size_t)(q + 1 - end));
    put_query(&o, q + 1);
    return o.p;
}

/* Past one key=value value as libpq reads it: 'quoted' with backslash
 * escapes, or up to whitespace. */
static const char *skip_value(const char *p)
{
    if (*p == '\'') {
        for (p++; *p && *p != '\''; p++)
            if (*p == '\\' && p[1])
                p++;
        return *p ? p + 1 : p;
    }
    for (; *p && !strchr(" \t\n\r\f\v", *p); p++)
        if (*p == '\\' && p[1])
            p++;
    return p;
}

char *lc__redact_conninfo(const char *ci)
{
    if (ci && (strncmp(ci, "postgresql://", 13) == 0 || strncmp(ci, "postgres://", 11) == 0))
        return lc__redact_url(ci);
    out o;
    if (ci == NULL || !out_init(&o, strlen(ci)))
        return NULL;
    const char *p = ci;
    while (*p) {
        size_t ws = strspn(p, " \t\n\r\f\v");
        put(&o, p, ws);
        p += ws;
        size_t klen = strcspn(p, "= \t\n\r\f\v");
        int secret = klen == 8 && strncmp(p, "password", 8) == 0;
        size_t sep = klen + strspn(p + klen, " \t\n\r\f\v=");
        put(&o, p, sep);
        p += sep;
        const char *v = skip_value(p);
        if (secret && v > p)
            put(&o, MASK, strlen(MASK));
        else
            put(&o, p, (size_t)(v - p));
        p = v;
    }
    return o.p;
}
