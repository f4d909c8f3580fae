/* config/expand.c -- ${VAR} and ${VAR:-default} in scalar values.
 *
 * Rules (README.md, "Configuration" > "Environment variables"):
 *  - ${VAR} is the variable's value; unset is an error naming it.
 *  - ${VAR:-default} is the default when VAR is unset or empty (as in sh).
 *  - $$ is one literal $, so "$${X}" stays "${X}" (as in docker compose).
 *  - Any other $ (not followed by { or $) is kept as it is.
 *  - Unterminated ${, an empty or invalid name is an error.
 * The default is literal text up to the first '}'; it is not expanded
 * again. */
#include "config/config_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static int buf_add(buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = malloc(cap);
        if (p == NULL)
            return -1;
        /* Copy and wipe instead of realloc: the old block may hold a secret. */
        if (b->p) {
            memcpy(p, b->p, b->len);
            explicit_bzero(b->p, b->cap);
            free(b->p);
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int name_char(char c, int first)
{
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (!first && c >= '0' && c <= '9');
}

/* The value of ${...} (whose text is s, up to and with end, the '}'). */
static lc_status lookup(const lc__cfgctx *cx, const lc__ynode *n, const char *path, const char *s,
                        const char *end, buf *b)
{
    const char *name = s + 2, *p = name;
    while (p < end && name_char(*p, p == name))
        p++;
    size_t nlen = (size_t)(p - name);
    int has_default = p + 1 < end && p[0] == ':' && p[1] == '-';
    if (nlen == 0 || (p != end && !has_default))
        return lc__cfg_fail(cx, n->line, n->col,
                            "%s: invalid variable reference '%.*s'; use ${NAME} or "
                            "${NAME:-default}",
                            path, (int)(end - s + 1), s);
    char var[128];
    if (nlen >= sizeof(var))
        return lc__cfg_fail(cx, n->line, n->col, "%s: variable name too long", path);
    memcpy(var, name, nlen);
    var[nlen] = '\0';
    const char *val = getenv(var);
    if (has_default && (val == NULL || *val == '\0'))
        return buf_add(b, p + 2, (size_t)(end - p - 2)) ? lc__cfg_nomem(cx) : LC_OK;
    if (val == NULL)
        return lc__cfg_fail(cx, n->line, n->col, "%s: ${%s} is not set and has no default", path,
                            var);
    return buf_add(b, val, strlen(val)) ? lc__cfg_nomem(cx) : LC_OK;
}

/* One ${...} starting at s (at the '$'); appends its value, advances *s. */
static lc_status expand_one(const lc__cfgctx *cx, const lc__ynode *n, const char *path,
                            const char **s, buf *b)
{
    const char *end = strchr(*s + 2, '}');
    if (end == NULL)
        return lc__cfg_fail(cx, n->line, n->col, "%s: unterminated '${' (missing '}')", path);
    lc_status rc = lookup(cx, n, path, *s, end, b);
    *s = end + 1;
    return rc;
}

lc_status lc__cfg_expand(const lc__cfgctx *cx, const lc__ynode *n, const char *path, char **out)
{
    if (strlen(n->text) != n->len)
        return lc__cfg_fail(cx, n->line, n->col, "%s: contains a NUL byte", path);
    buf b = {0};
    const char *s = n->text;
    lc_status rc = buf_add(&b, "", 0) ? lc__cfg_nomem(cx) : LC_OK;
    while (rc == LC_OK && *s) {
        const char *d = strchr(s, '$');
        size_t lit = d ? (size_t)(d - s) : strlen(s);
        if (buf_add(&b, s, lit))
            rc = lc__cfg_nomem(cx);
        s += lit;
        if (rc != LC_OK || d == NULL)
            break;
        if (d[1] == '{') {
            rc = expand_one(cx, n, path, &s, &b);
        } else {
            if (buf_add(&b, "$", 1))
                rc = lc__cfg_nomem(cx);
            s += d[1] == '$' ? 2 : 1;
        }
    }
    if (rc != LC_OK) {
        lc__cfg_wipe(b.p);
        return rc;
    }
    *out = b.p;
    return LC_OK;
}
