/* backends/redis/scan.c -- finding every lock under the prefix with SCAN,
 * which walks the keyspace in steps instead of blocking the server like
 * KEYS. */
#include "backends/redis/cluster_int.h"
#include "backends/redis/redis_int.h"
#include "core/error_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The prefix with glob characters escaped, then ":{*}:meta". */
static char *meta_pattern(const char *prefix)
{
    size_t n = strlen(prefix);
    char *p = malloc(2 * n + sizeof(":{*}:meta"));
    if (p == NULL)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (strchr("*?[]\\", prefix[i]))
            p[j++] = '\\';
        p[j++] = prefix[i];
    }
    memcpy(p + j, ":{*}:meta", sizeof(":{*}:meta"));
    return p;
}

void lc__redis_skip(lc__redis *r, size_t *skipped, const char *what, const char *why)
{
    if (++*skipped <= LC__SKIP_NAMED)
        lc__log(r->main.log, r->main.log_ctx, LC_LOG_WARN,
                "redis %s: listing skips %s, not a lockcoord lock: %s", r->addr.label, what, why);
}

/* A key as text safe for a terminal: printable ASCII as is, anything else
 * (control characters, bytes of other encodings) as \xNN, cut with
 * "..." when long. */
static void printable(const char *key, size_t len, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < size; i++) {
        unsigned char ch = (unsigned char)key[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\')
            out[o++] = (char)ch;
        else
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", ch);
    }
    if (o + 8 >= size)
        o += (size_t)snprintf(out + o, size - o, "...");
    out[o] = '\0';
}

/* The NAME of "PREFIX:{NAME}:meta", or NULL for a key that is not one of
 * ours: another shape (the pattern matched `{` or `}` inside the name),
 * or a name outside the lock name rules; the latter is reported. */
static char *name_of(lc__redis *r, const char *key, size_t len, size_t *skipped)
{
    size_t pl = strlen(r->prefix), sl = strlen("}:meta");
    if (len < pl + 2 + sl || strncmp(key, r->prefix, pl) != 0 || strncmp(key + pl, ":{", 2) != 0 ||
        strncmp(key + len - sl, "}:meta", sl) != 0)
        return NULL;
    size_t n = len - pl - 2 - sl;
    if (lc_name_check(key + pl + 2, n, NULL) != LC_OK) {
        char shown[160], what[200];
        printable(key, len, shown, sizeof(shown));
        snprintf(what, sizeof(what), "key '%s'", shown);
        lc__redis_skip(r, skipped, what, "not a valid lock name");
        return NULL;
    }
    return strndup(key + pl + 2, n);
}

typedef struct name_list {
    char **v;
    size_t n, cap;
} name_list;

static int push(name_list *l, char *name)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **grown = realloc(l->v, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        l->v = grown;
        l->cap = cap;
    }
    l->v[l->n++] = name;
    return 0;
}

/* Adds the names of one SCAN page; returns the next cursor in cursor[]. */
static lc_status take_page(lc__redis *r, const redisReply *rep, name_list *l, char *cursor,
                           size_t csize, size_t *skipped, lc_error *err)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING || rep->element[1]->type != REDIS_REPLY_ARRAY)
        return lc__err(err, LC_ERR_INTERNAL, 0, "redis %s: SCAN: %s", r->addr.label,
                       rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    lc__strlcpy(cursor, rep->element[0]->str, csize);
    const redisReply *keys = rep->element[1];
    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *k = keys->element[i];
        char *name = k->type == REDIS_REPLY_STRING ? name_of(r, k->str, k->len, skipped) : NULL;
        if (name && push(l, name) != 0) {
            free(name);
            return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
        }
    }
    return LC_OK;
}

static lc_status scan_all(lc__redis *r, lc__redis_conn *c, const char *pattern, name_list *l,
                          size_t *skipped, lc_error *err)
{
    char cursor[32] = "0";
    lc_status rc = LC_OK;
    do {
        const char *argv[6] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
        size_t lens[6];
        for (int i = 0; i < 6; i++)
            lens[i] = strlen(argv[i]);
        redisReply *rep = NULL;
        rc = lc__rconn_command(c, 6, argv, lens, &rep, err);
        /* A cursor stays valid on another connection: a page is read again. */
        if (rc == LC_ERR_UNAVAILABLE && lc__rconn_may_retry(c, 1))
            rc = lc__rconn_command(c, 6, argv, lens, &rep, err);
        if (rc == LC_OK) {
            rc = take_page(r, rep, l, cursor, sizeof(cursor), skipped, err);
            freeReplyObject(rep);
        }
    } while (rc == LC_OK && strcmp(cursor, "0") != 0);
    return rc;
}

/* The one server, or each master of a cluster: a master's SCAN sees only
 * the keys of its own slots. */
static lc_status scan_every_master(lc__redis *r, const char *pattern, name_list *l, size_t *skipped,
                                   lc_error *err)
{
    if (r->cluster == NULL)
        return scan_all(r, &r->main, pattern, l, skipped, err);
    lc__redis_conn **conns = NULL;
    size_t n = 0;
    lc_status rc = lc__cluster_masters(r, &conns, &n, err);
    for (size_t i = 0; rc == LC_OK && i < n; i++)
        rc = scan_all(r, conns[i], pattern, l, skipped, err);
    free(conns);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* SCAN may return a key more than once. */
static void sort_unique(name_list *l)
{
    if (l->n == 0)
        return;
    qsort(l->v, l->n, sizeof(*l->v), by_name);
    size_t j = 1;
    for (size_t i = 1; i < l->n; i++) {
        if (strcmp(l->v[i], l->v[j - 1]) == 0)
            free(l->v[i]);
        else
            l->v[j++] = l->v[i];
    }
    l->n = j;
}

void lc__redis_names_free(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

lc_status lc__redis_scan_names(lc__redis *r, char ***names, size_t *n, size_t *skipped,
                               lc_error *err)
{
    name_list l = {NULL, 0, 0};
    char *pattern = meta_pattern(r->prefix);
    if (pattern == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    lc_status rc = scan_every_master(r, pattern, &l, skipped, err);
    free(pattern);
    if (rc != LC_OK) {
        lc__redis_names_free(l.v, l.n);
        return rc;
    }
    sort_unique(&l);
    *names = l.v;
    *n = l.n;
    return LC_OK;
}
