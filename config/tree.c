/* config/tree.c -- libyaml's parser events into a tree of positioned nodes.
 *
 * A tree (rather than a streaming walk) lets the checks between keys (ttl
 * against renew_every, jobs against the lock section) look anywhere in the
 * file whatever the order of the keys, and still point at a line. */
#include "config/config_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 32 /* the schema is 4 levels deep; this bounds recursion */

lc_status lc__cfg_fail(const lc__cfgctx *cx, int line, int col, const char *fmt, ...)
{
    /* Redacted before it is cut to size: a message may quote a value
     * (got '...'), and a value may hold a password=... or a URL. */
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    lc__redact_msg(msg, sizeof(msg), NULL);
    lc_status rc = lc__err(cx->err, LC_ERR_CONFIG, 0, "%s:%d:%d: %s", cx->file, line, col, msg);
    explicit_bzero(msg, sizeof(msg));
    return rc;
}

void lc__cfg_wipe(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

void lc__ynode_free(lc__ynode *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->n; i++)
        lc__ynode_free(n->kids[i]);
    free(n->kids);
    lc__cfg_wipe(n->text);
    free(n);
}

static int is_null_scalar(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || ev->data.scalar.tag != NULL)
        return 0;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static lc__ynode *node_new(lc__ykind kind, const yaml_mark_t *mark)
{
    lc__ynode *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return NULL;
    n->kind = kind;
    n->line = (int)mark->line + 1;
    n->col = (int)mark->column + 1;
    return n;
}

lc_status lc__cfg_nomem(const lc__cfgctx *cx)
{
    return lc__err(cx->err, LC_ERR_NOMEM, 0, "%s: out of memory", cx->file);
}

static lc_status scalar_node(const lc__cfgctx *cx, const yaml_event_t *ev, lc__ynode **out)
{
    lc__ynode *n = node_new(is_null_scalar(ev) ? LC__YNULL : LC__YSCALAR, &ev->start_mark);
    if (n == NULL)
        return lc__cfg_nomem(cx);
    n->len = ev->data.scalar.length;
    n->text = malloc(n->len + 1);
    if (n->text == NULL) {
        free(n);
        return lc__cfg_nomem(cx);
    }
    memcpy(n->text, ev->data.scalar.value, n->len);
    n->text[n->len] = '\0';
    *out = n;
    return LC_OK;
}

/* Children are appended one by one; the array doubles, so a mapping of n
 * keys costs O(n) copies, not O(n^2). */
static lc_status add_kid(const lc__cfgctx *cx, lc__ynode *parent, lc__ynode *kid)
{
    if (parent->n == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 8;
        lc__ynode **k = realloc(parent->kids, cap * sizeof(*k));
        if (k == NULL) {
            lc__ynode_free(kid);
            return lc__cfg_nomem(cx);
        }
        parent->kids = k;
        parent->cap = cap;
    }
    parent->kids[parent->n++] = kid;
    return LC_OK;
}

/* The position of a reader error (bad UTF-8, control bytes) comes only as
 * a byte offset. */
static void offset_mark(const lc__cfgctx *cx, size_t offset, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < offset && i < cx->len; i++) {
        if (cx->text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static lc_status syntax_error(const lc__cfgctx *cx, const yaml_parser_t *p)
{
    int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
    if (p->error == YAML_MEMORY_ERROR)
        return lc__cfg_nomem(cx);
    if (p->error == YAML_READER_ERROR)
        offset_mark(cx, p->problem_offset, &line, &col);
    if (p->context != NULL)
        return lc__cfg_fail(cx, line, col, "%s %s (line %d)", p->problem ? p->problem : "error",
                            p->context, (int)p->context_mark.line + 1);
    return lc__cfg_fail(cx, line, col, "%s", p->problem ? p->problem : "invalid YAML");
}

static lc_status next_event(const lc__cfgctx *cx, yaml_parser_t *p, yaml_event_t *ev)
{
    if (!yaml_parser_parse(p, ev))
        return syntax_error(cx, p);
    return LC_OK;
}

static lc_status build(const lc__cfgctx *cx, yaml_parser_t *p, yaml_event_t *ev, int depth,
                       lc__ynode **out);

/* A key is a plain string without NUL bytes: "backend\0x" must not pass
 * for a key of its own and then mean "backend" to every strcmp. */
static lc_status check_key(const lc__cfgctx *cx, const lc__ynode *key)
{
    if (key->kind != LC__YSCALAR)
        return lc__cfg_fail(cx, key->line, key->col, "expected a key (a plain string), got %s",
                            key->kind == LC__YNULL ? "an empty key" : "a collection");
    if (memchr(key->text, '\0', key->len) != NULL)
        return lc__cfg_fail(cx, key->line, key->col, "a key contains a NUL byte");
    return LC_OK;
}

typedef struct key_ref {
    const lc__ynode *key;
    size_t pos; /* index of the pair in the mapping */
} key_ref;

static int key_cmp(const void *a, const void *b)
{
    const key_ref *x = a, *y = b;
    size_t n = x->key->len < y->key->len ? x->key->len : y->key->len;
    int c = memcmp(x->key->text, y->key->text, n);
    if (c == 0 && x->key->len != y->key->len)
        c = x->key->len < y->key->len ? -1 : 1;
    if (c == 0)
        c = x->pos < y->pos ? -1 : x->pos > y->pos;
    return c;
}

/* A key that appeared before in the same mapping is an error at the
 * second one: YAML says keys are unique, and silently keeping the last
 * would hide a typo'd copy-paste. The keys are sorted (O(n log n): a big
 * file must not take minutes to refuse); of all repeated keys the one
 * reported is the earliest repetition in the file, with its first line. */
static lc_status check_duplicates(const lc__cfgctx *cx, const lc__ynode *map)
{
    size_t n = map->n / 2;
    if (n < 2)
        return LC_OK;
    key_ref *refs = malloc(n * sizeof(*refs));
    if (refs == NULL)
        return lc__cfg_nomem(cx);
    for (size_t i = 0; i < n; i++)
        refs[i] = (key_ref){map->kids[2 * i], i};
    qsort(refs, n, sizeof(*refs), key_cmp);
    const key_ref *dup = NULL, *first = NULL, *group = &refs[0];
    for (size_t i = 1; i < n; i++) {
        const key_ref *prev = &refs[i - 1], *cur = &refs[i];
        if (prev->key->len != cur->key->len ||
            memcmp(prev->key->text, cur->key->text, cur->key->len) != 0) {
            group = cur;
            continue;
        }
        if (prev == group && (dup == NULL || cur->pos < dup->pos)) {
            dup = cur;
            first = group;
        }
    }
    lc_status rc = LC_OK;
    if (dup != NULL)
        rc =
            lc__cfg_fail(cx, dup->key->line, dup->key->col, "duplicate key '%s' (first at line %d)",
                         dup->key->text, first->key->line);
    free(refs);
    return rc;
}

/* Reads children until the matching end event. */
static lc_status collection(const lc__cfgctx *cx, yaml_parser_t *p, lc__ynode *n,
                            yaml_event_type_t end, int depth)
{
    for (;;) {
        yaml_event_t ev;
        lc_status rc = next_event(cx, p, &ev);
        if (rc != LC_OK)
            return rc;
        if (ev.type == end) {
            yaml_event_delete(&ev);
            return n->kind == LC__YMAP ? check_duplicates(cx, n) : LC_OK;
        }
        lc__ynode *kid = NULL;
        rc = build(cx, p, &ev, depth + 1, &kid);
        yaml_event_delete(&ev);
        if (rc == LC_OK)
            rc = add_kid(cx, n, kid);
        if (rc == LC_OK && n->kind == LC__YMAP && n->n % 2 == 1)
            rc = check_key(cx, kid);
        if (rc != LC_OK)
            return rc;
    }
}

static lc_status build(const lc__cfgctx *cx, yaml_parser_t *p, yaml_event_t *ev, int depth,
                       lc__ynode **out)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    if (depth > MAX_DEPTH)
        return lc__cfg_fail(cx, line, col, "nesting deeper than %d levels", MAX_DEPTH);
    if (ev->type == YAML_SCALAR_EVENT)
        return scalar_node(cx, ev, out);
    if (ev->type == YAML_ALIAS_EVENT)
        return lc__cfg_fail(cx, line, col, "aliases (*%s) are not supported",
                            (const char *)ev->data.alias.anchor);
    int is_map = ev->type == YAML_MAPPING_START_EVENT;
    if (!is_map && ev->type != YAML_SEQUENCE_START_EVENT)
        return lc__cfg_fail(cx, line, col, "unexpected YAML event");
    lc__ynode *n = node_new(is_map ? LC__YMAP : LC__YSEQ, &ev->start_mark);
    if (n == NULL)
        return lc__cfg_nomem(cx);
    lc_status rc =
        collection(cx, p, n, is_map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT, depth);
    if (rc != LC_OK) {
        lc__ynode_free(n);
        return rc;
    }
    *out = n;
    return LC_OK;
}

/* After the one document: only the end of the stream may follow. */
static lc_status expect_end(const lc__cfgctx *cx, yaml_parser_t *p)
{
    for (;;) {
        yaml_event_t ev;
        lc_status rc = next_event(cx, p, &ev);
        if (rc != LC_OK)
            return rc;
        yaml_event_type_t t = ev.type;
        int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT)
            return LC_OK;
        if (t == YAML_DOCUMENT_START_EVENT)
            return lc__cfg_fail(cx, line, col, "a second YAML document; only one is allowed");
    }
}

/* Reads events up to the document's root node; *root stays NULL for an
 * empty stream. */
static lc_status document(const lc__cfgctx *cx, yaml_parser_t *p, lc__ynode **root)
{
    for (;;) {
        yaml_event_t ev;
        lc_status rc = next_event(cx, p, &ev);
        if (rc != LC_OK)
            return rc;
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            return LC_OK;
        }
        rc = build(cx, p, &ev, 0, root);
        yaml_event_delete(&ev);
        if (rc != LC_OK)
            return rc;
        return expect_end(cx, p);
    }
}

lc_status lc__ytree_parse(const lc__cfgctx *cx, lc__ynode **root)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return lc__cfg_nomem(cx);
    yaml_parser_set_input_string(&p, (const unsigned char *)cx->text, cx->len);
    *root = NULL;
    lc_status rc = document(cx, &p, root);
    yaml_parser_delete(&p);
    if (rc != LC_OK) {
        lc__ynode_free(*root);
        *root = NULL;
    }
    return rc;
}

const lc__ynode *lc__ymap_get(const lc__ynode *map, const char *key, const lc__ynode **keynode)
{
    if (map == NULL || map->kind != LC__YMAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        if (strcmp(map->kids[i]->text, key) == 0) {
            if (keynode)
                *keynode = map->kids[i];
            return map->kids[i + 1];
        }
    }
    return NULL;
}

const char *lc__ydescribe(const lc__ynode *n, char *buf, size_t size)
{
    switch (n->kind) {
    case LC__YMAP: lc__strlcpy(buf, "a mapping", size); break;
    case LC__YSEQ: lc__strlcpy(buf, "a sequence", size); break;
    case LC__YNULL: lc__strlcpy(buf, "nothing", size); break;
    case LC__YSCALAR: snprintf(buf, size, "'%.40s%s'", n->text, n->len > 40 ? "..." : ""); break;
    }
    return buf;
}
