/* config/redact.c -- passwords out of URLs, libpq conninfo strings and the
 * messages that quote them.
 *
 * These scan the text instead of parsing and re-printing it (with libcurl's
 * URL API or PQconninfoParse) on purpose: the output keeps exactly what the
 * user wrote, in the form they wrote it (URI or key=value, unix sockets,
 * multi-host lists), and a parser that fails -- on the very input a user
 * needs an error message about -- cannot leave the password visible.
 *
 * Every function marks the bytes that are secret, then writes the text
 * with each run of marked bytes replaced by "***". Over-marking is the
 * safe side: when a malformed URL can be read in several ways, every
 * reading's password is marked. */
#include "config/redact_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MASK "***"
/* A password this short is masked in a message only where it stands as a
 * token of its own: "a" must not eat every 'a' of the message. */
#define SHORT_SECRET 4

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.';
}

/* A key or query parameter whose name suggests a secret. */
static int secret_name(const char *name, size_t n)
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

/* ---- finding secrets ---------------------------------------------------- */

typedef void (*span_fn)(void *arg, const char *b, const char *e);

/* No '@': "host:port", or a URL cut inside its password ("redis://u:pw"),
 * or one whose password ended at an unencoded '@' libpq will not see. A
 * port is digits; anything else after the host's ':' is taken for a
 * password, to the end of the URL. */
static int cut_password(const char *s, const char *lim, const char **b, const char **e)
{
    const char *host_end = s;
    if (s < lim && *s == '[') { /* an IPv6 literal holds ':' of its own */
        host_end = memchr(s, ']', (size_t)(lim - s));
        if (host_end == NULL)
            return 0;
    }
    const char *stop = host_end;
    while (stop < lim && !strchr("/?#,", *stop))
        stop++;
    const char *colon = memchr(host_end, ':', (size_t)(stop - host_end)), *p;
    if (colon == NULL || colon + 1 == stop)
        return 0;
    for (p = colon + 1; p < stop && isdigit((unsigned char)*p); p++)
        ;
    if (p == stop)
        return 0;
    *b = colon + 1;
    *e = lim;
    return 1;
}

/* The password of the URL-shaped text s..lim (s just past "://"), read
 * three ways, the widest kept:
 *  - libpq: the user info ends at the first '@' before any '/';
 *  - libcurl: the authority ends at the first of "/?#", the user info at
 *    its last '@';
 *  - a user who did not percent-encode a '/' in the password: the first
 *    '@' before any '?'.
 * The password starts after the first ':' of the user info. */
static int userinfo_password(const char *s, const char *lim, const char **b, const char **e)
{
    const char *at = NULL, *p;
    for (p = s; p < lim && *p != '/'; p++)
        if (*p == '@') {
            at = p;
            break;
        }
    for (p = s; p < lim && !strchr("/?#", *p); p++)
        if (*p == '@' && (at == NULL || p > at))
            at = p;
    for (p = s; p < lim && *p != '?'; p++)
        if (*p == '@') {
            if (at == NULL || p > at)
                at = p;
            break;
        }
    if (at == NULL)
        return cut_password(s, lim, b, e);
    const char *colon = memchr(s, ':', (size_t)(at - s));
    if (colon == NULL || colon + 1 == at)
        return 0;
    *b = colon + 1;
    *e = at;
    return 1;
}

static const char *scheme_sep(const char *p, const char *end)
{
    for (; p + 3 <= end; p++)
        if (p[0] == ':' && p[1] == '/' && p[2] == '/')
            return p;
    return NULL;
}

/* Every "scheme://user:PASSWORD@" in t..end. A URL ends where the next
 * "://" starts (so the work stays linear in the text, whatever it holds);
 * in a message also at whitespace. */
static void each_userinfo(const char *t, const char *end, int stop_at_space, span_fn fn, void *arg)
{
    for (const char *p = scheme_sep(t, end), *next; p != NULL; p = next) {
        const char *s = p + 3, *lim, *b, *e;
        next = scheme_sep(s, end);
        lim = next ? next : end;
        for (const char *q = s; stop_at_space && q < lim; q++)
            if (is_space(*q))
                lim = q;
        if (userinfo_password(s, lim, &b, &e))
            fn(arg, b, e);
    }
}

/* The end of a value starting at v: whitespace, the end, or a byte of
 * `stops`. As libpq reads (`libpq`), a 'quoted' value runs to its closing
 * quote and a backslash escapes the next byte. */
static const char *value_end(const char *v, const char *end, const char *stops, int libpq)
{
    const char *p = v;
    if (libpq && p < end && *p == '\'') {
        for (p++; p < end && *p != '\''; p++)
            if (*p == '\\' && p + 1 < end)
                p++;
        return p < end ? p + 1 : end;
    }
    for (; p < end && !is_space(*p) && !(*p && strchr(stops, *p)); p++)
        if (libpq && *p == '\\' && p + 1 < end)
            p++;
    return p;
}

/* Every NAME=VALUE in t..end whose NAME looks secret (password,
 * sslpassword, api_key, token, ...): the VALUE. Whitespace may surround
 * the '=' (libpq allows it). Read as libpq reads a conninfo, a value may
 * be 'quoted' and holds any '&' unless it is in a URL's query (its NAME
 * follows '?' or '&'); read as a URL (`as_url`), quotes and backslashes
 * are bytes like any other and '&', '?' and '#' end every value. An '='
 * that `skip` (NULL, or a byte per byte of t) marks is passed over: see
 * redact_text. */
static void each_assignment(const char *t, const char *end, int as_url, const unsigned char *skip,
                            span_fn fn, void *arg)
{
    for (const char *eq = t; eq < end; eq++) {
        if (*eq != '=' || (skip && skip[eq - t]))
            continue;
        const char *ne = eq, *nb;
        while (ne > t && is_space(ne[-1]))
            ne--;
        for (nb = ne; nb > t && name_char(nb[-1]);)
            nb--;
        if (nb == ne || !secret_name(nb, (size_t)(ne - nb)))
            continue;
        const char *v = eq + 1;
        while (v < end && is_space(*v))
            v++;
        int in_query = nb > t && (nb[-1] == '?' || nb[-1] == '&');
        const char *ve = value_end(v, end, as_url ? "&?#" : in_query ? "&" : "", !as_url);
        if (ve > v) {
            fn(arg, v, ve);
            /* An '=' inside the value is part of it, unless whitespace
             * came before the value: then the NAME may stand inside
             * another value ("host=x?api_key= password=SECRET", which
             * libpq reads as host and password), and what follows is
             * read again as assignments of its own. Linear still: the
             * value ends at whitespace, so a nested one is no wider. */
            if (v == eq + 1)
                eq = ve - 1;
        }
    }
}

/* ---- marking and writing ------------------------------------------------ */

typedef struct marks {
    const char *base;
    unsigned char *m; /* 1 for a secret byte */
} marks;

static void mark(void *arg, const char *b, const char *e)
{
    marks *mk = arg;
    memset(mk->m + (b - mk->base), 1, (size_t)(e - b));
}

/* text with each run of marked bytes replaced by MASK; NULL when out of
 * memory. */
static char *masked(const char *text, size_t len, const unsigned char *m)
{
    char *out = malloc(len * (sizeof(MASK) - 1) + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len;) {
        if (!m[i]) {
            *o++ = text[i++];
            continue;
        }
        memcpy(o, MASK, sizeof(MASK) - 1);
        o += sizeof(MASK) - 1;
        while (i < len && m[i])
            i++;
    }
    *o = '\0';
    return out;
}

/* A span_fn for each_userinfo: marks the whole user info, from the "://"
 * before the password (the user name holds no ':') to the '@' after it. A
 * password read without an '@' (cut at the end of the URL) is no user
 * info: an assignment in it may run on past that end. */
static void mark_userinfo(void *arg, const char *b, const char *e)
{
    marks *mk = arg;
    if (*e != '@')
        return;
    const char *s = b - 1;
    while (s - mk->base >= 3 && !(s[-3] == ':' && s[-2] == '/' && s[-1] == '/'))
        s--;
    mark(arg, s, e);
}

/* Secrets of a URL or conninfo: user info passwords and secret values.
 * In a key=value conninfo a value ends at whitespace, so does a URI in it.
 * A NAME=VALUE whose '=' lies in a URL's user info ("redis://:mykey=x@h/0",
 * "redis://mykey=u:x@h/0") is no assignment: the password is masked whole
 * in its widest reading, the user name is no secret, and a value running
 * on over the host and path (which no reading takes for secret) would
 * leave a redacted URL that no longer names its server. */
static char *redact_text(const char *text, int stop_at_space)
{
    if (text == NULL)
        return NULL;
    size_t len = strlen(text);
    marks mk = {text, calloc(len + 1, 1)}, user = {text, calloc(len + 1, 1)};
    char *out = NULL;
    if (mk.m && user.m) {
        each_userinfo(text, text + len, stop_at_space, mark, &mk);
        each_userinfo(text, text + len, stop_at_space, mark_userinfo, &user);
        each_assignment(text, text + len, 0, user.m, mark, &mk);
        out = masked(text, len, mk.m);
    }
    free(mk.m);
    free(user.m);
    return out;
}

static int is_uri(const char *s)
{
    return strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0;
}

char *lc__redact_url(const char *url)
{
    return redact_text(url, 0);
}

/* Key=value conninfo strings: password='...' whole, quotes and all; a
 * value that is itself a URI (dbname=postgresql://...) loses its user
 * info's password. */
char *lc__redact_conninfo(const char *conninfo)
{
    return conninfo ? redact_text(conninfo, !is_uri(conninfo)) : NULL;
}

/* ---- messages ----------------------------------------------------------- */

/* The passwords a source holds, in each form a message may quote them. */
typedef struct secrets {
    char **s;
    size_t n, cap;
    int nomem;
} secrets;

static void add(secrets *sc, const char *b, size_t n)
{
    /* A decoded %00 ends the secret (it is kept as a C string): one that
     * is empty from the start would match everywhere in a message. */
    n = strnlen(b, n);
    if (n == 0 || sc->nomem)
        return;
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 8;
        char **p = realloc(sc->s, cap * sizeof(*p));
        if (p == NULL) {
            sc->nomem = 1;
            return;
        }
        sc->s = p;
        sc->cap = cap;
    }
    if ((sc->s[sc->n] = strndup(b, n)) == NULL)
        sc->nomem = 1;
    else
        sc->n++;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The form libpq or libcurl hands on: quotes and backslashes of a
 * conninfo value undone, then %XX decoded where valid (an invalid escape
 * stays as written). out has room for e - b bytes. */
static size_t decoded(const char *b, const char *e, char *out)
{
    size_t o = 0;
    if (b < e && *b == '\'') {
        b++;
        if (e > b && e[-1] == '\'')
            e--;
    }
    for (const char *p = b; p < e; p++) {
        if (*p == '\\' && p + 1 < e) {
            out[o++] = *++p;
        } else if (*p == '%' && e - p >= 3 && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            out[o++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        } else {
            out[o++] = *p;
        }
    }
    return o;
}

static void add_forms(void *arg, const char *b, const char *e)
{
    secrets *sc = arg;
    add(sc, b, (size_t)(e - b));
    char *d = malloc((size_t)(e - b) + 1);
    if (d == NULL) {
        sc->nomem = 1;
        return;
    }
    add(sc, d, decoded(b, e, d));
    explicit_bzero(d, (size_t)(e - b));
    free(d);
}

/* A password from a URL's user info, and the pieces between the
 * delimiters it should not hold unencoded: a parser that misreads the URL
 * quotes such a piece as a host, a port or a database name. */
static void add_userinfo_forms(void *arg, const char *b, const char *e)
{
    add_forms(arg, b, e);
    for (const char *p = b; p < e;) {
        size_t n = strcspn(p, "/?#:@");
        if (p + n > e)
            n = (size_t)(e - p);
        if (n < (size_t)(e - b))
            add_forms(arg, p, p + n);
        p += n + 1;
    }
}

/* Also the widest reading of a URL: from the first ':' after "://" to the
 * last '@' of the whole text (over-masking an exact string in a message
 * costs nothing). */
static void collect(secrets *sc, const char *src)
{
    const char *end = src + strlen(src);
    each_userinfo(src, end, 0, add_userinfo_forms, sc);
    each_userinfo(src, end, 1, add_userinfo_forms, sc);
    /* Both readings: a value libpq's reading takes whole may hold the
     * assignments a URL parser reads ("?a='x&password=SECRET",
     * "/key=x?password=SECRET"). */
    each_assignment(src, end, 0, NULL, add_forms, sc);
    each_assignment(src, end, 1, NULL, add_forms, sc);
    const char *url = strstr(src, "://");
    const char *colon = url ? strchr(url + 3, ':') : NULL, *at = strrchr(src, '@');
    if (colon && at && colon + 1 < at)
        add_forms(sc, colon + 1, at);
}

static void wipe_free(char *p)
{
    explicit_bzero(p, strlen(p));
    free(p);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted, each secret once: a source that repeats itself (a long
 * malformed conninfo) costs one search per distinct secret. */
static void secrets_unique(secrets *sc)
{
    size_t k = 0;
    if (sc->n == 0)
        return;
    qsort(sc->s, sc->n, sizeof(*sc->s), str_cmp);
    for (size_t i = 1; i < sc->n; i++) {
        if (strcmp(sc->s[i], sc->s[k]) == 0)
            wipe_free(sc->s[i]);
        else
            sc->s[++k] = sc->s[i];
    }
    sc->n = k + 1;
}

static void secrets_free(secrets *sc)
{
    for (size_t i = 0; i < sc->n; i++)
        wipe_free(sc->s[i]);
    free(sc->s);
}

/* Marks every occurrence of each secret in msg; a short one only as a
 * whole token. When msg was cut (len == size - 1), a tail that begins a
 * secret is marked too. */
static void mark_secrets(const secrets *sc, const char *msg, size_t len, int cut, marks *mk)
{
    for (size_t i = 0; i < sc->n; i++) {
        const char *s = sc->s[i];
        size_t n = strlen(s);
        for (const char *p = msg; (p = strstr(p, s)) != NULL; p++) {
            int whole =
                (p == msg || !isalnum((unsigned char)p[-1])) && !isalnum((unsigned char)p[n]);
            if (n >= SHORT_SECRET || whole)
                mark(mk, p, p + n);
        }
        for (size_t k = n - 1 < len ? n - 1 : len; cut && k > 0; k--) {
            if (memcmp(msg + len - k, s, k) == 0) {
                mark(mk, msg + len - k, msg + len);
                break;
            }
        }
    }
}

void lc__redact_msg(char *msg, size_t size, const char *source)
{
    static const char withheld[] = "(message withheld: out of memory while hiding secrets)";
    if (msg == NULL || size == 0)
        return;
    size_t len = strnlen(msg, size - 1);
    msg[len] = '\0';
    secrets sc = {0};
    marks mk = {msg, calloc(len + 1, 1)};
    if (source) {
        collect(&sc, source);
        secrets_unique(&sc);
    }
    char *out = NULL;
    if (mk.m && !sc.nomem) {
        mark_secrets(&sc, msg, len, len == size - 1, &mk);
        each_userinfo(msg, msg + len, 1, mark, &mk);
        each_assignment(msg, msg + len, 0, NULL, mark, &mk);
        out = masked(msg, len, mk.m);
    }
    secrets_free(&sc);
    free(mk.m);
    size_t olen = out ? strlen(out) : 0;
    if (out == NULL)
        snprintf(msg, size, "%s", withheld);
    else if (olen < size)
        memcpy(msg, out, olen + 1);
    else {
        memcpy(msg, out, size - 1);
        msg[size - 1] = '\0';
    }
    if (out) {
        explicit_bzero(out, olen);
        free(out);
    }
}
