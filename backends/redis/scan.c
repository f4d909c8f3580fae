/* backends/redis/scan.c -- finding every lock under the prefix with SCAN,
 * which walks the keyspace in steps instead of blocking the server like
 * KEYS. */
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

/* The NAME of "PREFIX:{NAME}:meta", or NULL for a key that is not one of
 * ours (a name outside the lock name rules). */
static char *name_of(const char *prefix, const char *key, size_t len)
{
    size_t pl = strlen(prefix), sl = strlen("}:meta");
    if (len < pl + 2 + sl || strncmp(key, prefix, pl) != 0 || strncmp(key + pl, ":{", 2) != 0 ||
        strncmp(key + len - sl, "}:meta", sl) != 0)
        return NULL;
    size_t n = len - pl - 2 - sl;
    if (lc_name_check(key + pl + 2, n, NULL) != LC_OK)
        return NULL;
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
                           size_t csize, lc_error *err)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING || rep->element[1]->type != REDIS_REPLY_ARRAY)
        return lc__err(err, LC_ERR_INTERNAL, 0, "redis %s: SCAN: %s", r->addr.label,
                       rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    lc__strlcpy(cursor, rep->element[0]->str, csize);
    const redisReply *keys = rep->element[1];
    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *k = keys->element[i];
        char *name = k->type == REDIS_REPLY_STRING ? name_of(r->prefix, k->str, k->len) : NULL;
        if (name && push(l, name) != 0) {
            free(name);
            return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
        }
    }
    return LC_OK;
}

static lc_status scan_all(lc__redis *r, const char *pattern, name_list *l, lc_error *err)
{
    char cursor[32] = "0";
    lc_status rc = LC_OK;
    do {
        const char *argv[6] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
        size_t lens[6];
        for (int i = 0; i < 6; i++)
            lens[i] = strlen(argv[i]);
        redisReply *rep = NULL;
        rc = lc__rconn_command(&r->main, 6, argv, lens, &rep, err);
        /* A cursor stays valid on another connection: a page is read again. */
        if (rc == LC_ERR_UNAVAILABLE && lc__rconn_may_retry(&r->main, 1))
            rc = lc__rconn_command(&r->main, 6, argv, lens, &rep, err);
        if (rc == LC_OK) {
            rc = take_page(r, rep, l, cursor, sizeof(cursor), err);
            freeReplyObject(rep);
        }
    } while (rc == LC_OK && strcmp(cursor, "0") != 0);
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

lc_status lc__redis_scan_names(lc__redis *r, char ***names, size_t *n, lc_error *err)
{
    name_list l = {NULL, 0, 0};
    char *pattern = meta_pattern(r->prefix);
    if (pattern == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    lc_status rc = scan_all(r, pattern, &l, err);
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
