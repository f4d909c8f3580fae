/* config/schema.c -- walking a mapping against a table of keys, and the
 * conversions of scalar values (strings, durations, integers, booleans,
 * lock names). Every conversion expands ${VAR} first. */
#include "config/config_int.h"
#include "core/timing_int.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *lc__cfg_path(char *buf, size_t size, const char *path, const char *key)
{
    if (path[0] == '\0')
        snprintf(buf, size, "%s", key);
    else
        snprintf(buf, size, "%s.%s", path, key);
    return buf;
}

lc_status lc__cfg_expected(const lc__cfgctx *cx, const lc__ynode *val, const char *path,
                           const char *what)
{
    char got[64];
    return lc__cfg_fail(cx, val->line, val->col, "%s: expected %s, got %s", path, what,
                        lc__ydescribe(val, got, sizeof(got)));
}

lc_status lc__cfg_string(const lc__cfgctx *cx, const lc__ynode *val, const char *path, char **out)
{
    if (val->kind != LC__YSCALAR && val->kind != LC__YNULL)
        return lc__cfg_expected(cx, val, path, "a string");
    return lc__cfg_expand(cx, val, path, out);
}

lc_status lc__cfg_int(const lc__cfgctx *cx, const lc__ynode *val, const char *path, long long min,
                      long long max, long long *out)
{
    if (val->kind != LC__YSCALAR)
        return lc__cfg_expected(cx, val, path, "an integer");
    char *s;
    lc_status rc = lc__cfg_expand(cx, val, path, &s);
    if (rc != LC_OK)
        return rc;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    int bad = errno != 0 || end == s || *end != '\0';
    free(s);
    if (bad)
        return lc__cfg_expected(cx, val, path, "an integer");
    if (v < min || v > max)
        return lc__cfg_fail(cx, val->line, val->col, "%s: %lld is out of range (%lld to %lld)",
                            path, v, min, max);
    *out = v;
    return LC_OK;
}

lc_status lc__cfg_name(const lc__cfgctx *cx, const lc__ynode *val, const char *path, char **out)
{
    char *s;
    lc_status rc = lc__cfg_string(cx, val, path, &s);
    if (rc != LC_OK)
        return rc;
    lc_error nerr;
    if (lc_name_check(s, strlen(s), &nerr) != LC_OK) {
        free(s);
        return lc__cfg_fail(cx, val->line, val->col, "%s: %s", path, nerr.message);
    }
    *out = s;
    return LC_OK;
}

static lc_status set_duration(const lc__cfgctx *cx, const lc__ynode *val, const char *path,
                              int64_t min, int64_t *dst)
{
    if (val->kind != LC__YSCALAR)
        return lc__cfg_expected(cx, val, path, "a duration like 30s");
    char *s;
    lc_status rc = lc__cfg_expand(cx, val, path, &s);
    if (rc != LC_OK)
        return rc;
    lc_error derr;
    int64_t ms;
    rc = lc_duration_parse(s, &ms, &derr);
    free(s);
    if (rc != LC_OK)
        return lc__cfg_fail(cx, val->line, val->col, "%s: %s", path, derr.message);
    if (ms < min) {
        char a[32], b[32];
        return lc__cfg_fail(cx, val->line, val->col, "%s: must be at least %s, got %s", path,
                            lc_duration_format(min, a, sizeof(a)),
                            lc_duration_format(ms, b, sizeof(b)));
    }
    *dst = ms;
    return LC_OK;
}

static lc_status set_bool(const lc__cfgctx *cx, const lc__ynode *val, const char *path, int *dst)
{
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    if (val->kind != LC__YSCALAR)
        return lc__cfg_expected(cx, val, path, "true or false");
    char *s;
    lc_status rc = lc__cfg_expand(cx, val, path, &s);
    if (rc != LC_OK)
        return rc;
    int v = -1;
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            v = 1;
        else if (strcasecmp(s, no[i]) == 0)
            v = 0;
    }
    free(s);
    if (v < 0)
        return lc__cfg_expected(cx, val, path, "true or false");
    *dst = v;
    return LC_OK;
}

/* Strings replace the default (freed); "" means "not given" for
 * LC__F_STR and is refused for LC__F_NONEMPTY. */
static lc_status set_string(const lc__cfgctx *cx, const lc__ynode *val, const char *path,
                            int nonempty, char **dst)
{
    char *s;
    lc_status rc = lc__cfg_string(cx, val, path, &s);
    if (rc != LC_OK)
        return rc;
    if (*s == '\0') {
        free(s);
        if (nonempty)
            return lc__cfg_fail(cx, val->line, val->col, "%s: must not be empty", path);
        s = NULL;
    }
    lc__cfg_wipe(*dst);
    *dst = s;
    return LC_OK;
}

static lc_status set_field(const lc__cfgctx *cx, const lc__field *f, const lc__ynode *val,
                           void *base, const char *path)
{
    char *at = (char *)base + f->off;
    long long v;
    lc_status rc;
    switch (f->type) {
    case LC__F_STR:
    case LC__F_NONEMPTY:
        return set_string(cx, val, path, f->type == LC__F_NONEMPTY, (char **)(void *)at);
    case LC__F_DUR: return set_duration(cx, val, path, f->min, (int64_t *)(void *)at);
    case LC__F_INT:
        rc = lc__cfg_int(cx, val, path, f->min, INT_MAX, &v);
        if (rc == LC_OK)
            *(int *)(void *)at = (int)v;
        return rc;
    case LC__F_BOOL: return set_bool(cx, val, path, (int *)(void *)at);
    case LC__F_MAP: return lc__cfg_walk(cx, val, f->sub, base, path);
    case LC__F_FN: return f->fn(cx, val, base, path);
    }
    return LC_ERR_INTERNAL;
}

static lc_status unknown_key(const lc__cfgctx *cx, const lc__ynode *key, const lc__schema *s)
{
    const char *names[32];
    size_t n = s->n < 32 ? s->n : 32;
    char list[160];
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        names[i] = s->fields[i].key;
        int w = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", names[i]);
        if (w > 0 && (size_t)w < sizeof(list) - used)
            used += (size_t)w;
    }
    const char *near = lc__cfg_suggest(key->text, names, n);
    if (near)
        return lc__cfg_fail(cx, key->line, key->col, "unknown key '%s' (did you mean '%s'?)",
                            key->text, near);
    return lc__cfg_fail(cx, key->line, key->col, "unknown key '%s' (expected one of: %s)",
                        key->text, list);
}

lc_status lc__cfg_walk(const lc__cfgctx *cx, const lc__ynode *map, const lc__schema *s, void *base,
                       const char *path)
{
    if (map->kind == LC__YNULL)
        return LC_OK;
    if (map->kind != LC__YMAP)
        return lc__cfg_expected(cx, map, path[0] ? path : "the top level", "a mapping");
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const lc__ynode *key = map->kids[i], *val = map->kids[i + 1];
        const lc__field *f = NULL;
        for (size_t j = 0; j < s->n && f == NULL; j++)
            if (strcmp(s->fields[j].key, key->text) == 0)
                f = &s->fields[j];
        if (f == NULL)
            return unknown_key(cx, key, s);
        if (val->kind == LC__YNULL && f->type != LC__F_MAP)
            continue;
        char sub[128];
        lc_status rc = set_field(cx, f, val, base, lc__cfg_path(sub, sizeof(sub), path, f->key));
        if (rc != LC_OK)
            return rc;
    }
    return LC_OK;
}

lc_status lc__cfg_check_renew(const lc__cfgctx *cx, const lc__ynode *map, const char *path,
                              int64_t ttl_ms, int64_t renew_ms)
{
    const lc__ynode *key = NULL;
    lc_error terr;
    if (lc__timing_check_renew(ttl_ms, renew_ms, &terr) == LC_OK ||
        lc__ymap_get(map, "renew_every", &key) == NULL)
        return LC_OK;
    return lc__cfg_fail(cx, key->line, key->col, "%s.%s", path, terr.message);
}
