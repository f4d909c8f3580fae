/* config/config_int.h -- shared by the modules of the config loader.
 *
 * The loader reads libyaml's events into a small tree of nodes that keep
 * their positions (tree.c), expands ${VAR} in scalar values (expand.c),
 * walks the tree against the schema of lc_config (yaml.c, job.c) and prints
 * the effective config with secrets redacted (dump.c, redact.c). */
#ifndef LC_CONFIG_INT_H
#define LC_CONFIG_INT_H

#include "config/redact_int.h"
#include "core/error_int.h"

#include <stddef.h>

typedef enum lc__ykind {
    LC__YNULL = 0, /* an empty plain scalar, ~ or null: "not given" */
    LC__YSCALAR,
    LC__YMAP,
    LC__YSEQ
} lc__ykind;

typedef struct lc__ynode {
    lc__ykind kind;
    int line, col; /* 1-based start of the node in the file */
    char *text;    /* scalars (and nulls): the raw text, NUL-terminated */
    size_t len;
    /* Sequences: n items. Mappings: n/2 pairs, kids[2i] the key (a scalar),
     * kids[2i+1] its value. */
    struct lc__ynode **kids;
    size_t n, cap;
} lc__ynode;

/* What every step of the loader needs to report an error. */
typedef struct lc__cfgctx {
    const char *file; /* the name used in messages */
    const char *text; /* the whole input, for positions of reader errors */
    size_t len;
    lc_error *err;
} lc__cfgctx;

/* Fills err with LC_ERR_CONFIG and "FILE:LINE:COL: <message>". */
lc_status lc__cfg_fail(const lc__cfgctx *cx, int line, int col, const char *fmt, ...)
    LC__PRINTF(4, 5);

/* Parses cx->text into a tree. YAML syntax errors, a second document,
 * aliases, too deep nesting and duplicate keys in a mapping are errors.
 * *root is NULL for an empty stream. Free with lc__ynode_free. */
lc_status lc__ytree_parse(const lc__cfgctx *cx, lc__ynode **root);

/* Frees a tree, wiping scalar texts first (they may hold secrets). */
void lc__ynode_free(lc__ynode *n);

/* The value for `key` in a mapping (NULL if absent); *keynode (optional)
 * gets the key node, for positions. */
const lc__ynode *lc__ymap_get(const lc__ynode *map, const char *key, const lc__ynode **keynode);

/* "a mapping", "a sequence", "nothing", or the scalar quoted: "'abc'"
 * (truncated), written into buf. */
const char *lc__ydescribe(const lc__ynode *n, char *buf, size_t size);

/* Expands ${VAR} and ${VAR:-default} in scalar n. `path` names the key in
 * messages. On success *out is malloc'd. */
lc_status lc__cfg_expand(const lc__cfgctx *cx, const lc__ynode *n, const char *path, char **out);

/* The choice within Levenshtein distance 2 of word (the closest, first on
 * ties), or NULL. */
const char *lc__cfg_suggest(const char *word, const char *const *choices, size_t n);

/* LC_ERR_NOMEM naming the file. */
lc_status lc__cfg_nomem(const lc__cfgctx *cx);

/* "PATH: expected WHAT, got <description of val>" at val. */
lc_status lc__cfg_expected(const lc__cfgctx *cx, const lc__ynode *val, const char *path,
                           const char *what);

/* Overwrites and frees a string that may hold a secret. NULL ok. */
void lc__cfg_wipe(char *s);

/* Fills the fields of a job and its http part from the YAML tree. */
lc_status lc__cfg_jobs(const lc__cfgctx *cx, const lc__ynode *seq, lc_config *cfg);

/* Applies the lock section's defaults to the jobs and checks the rules
 * between jobs (after the whole file is read). */
lc_status lc__cfg_jobs_finish(const lc__cfgctx *cx, const lc__ynode *seq, lc_config *cfg);

/* The sync section's keys (job.c). */
extern const struct lc__schema lc__cfg_sync_schema;

/* The rules of the redis and postgres sections that the backends would
 * otherwise find only at open: redis.url parses, key_prefix, schema and
 * table lengths, the conninfo parses, statement_timeout (limits.c). */
lc_status lc__cfg_check_backends(const lc__cfgctx *cx, const lc__ynode *root, const lc_config *cfg);

/* The schema walker (schema.c): a table of keys per mapping. Offsets are
 * from the `base` pointer given to lc__cfg_walk, so nested sections of one
 * struct share the base. */
typedef lc_status (*lc__field_fn)(const lc__cfgctx *cx, const lc__ynode *val, void *base,
                                  const char *path);

typedef enum lc__ftype {
    LC__F_STR,      /* char *, "" stored as NULL (not given) */
    LC__F_NONEMPTY, /* char *, "" refused */
    LC__F_DUR,      /* int64_t ms, at least `min` */
    LC__F_INT,      /* int, min..INT_MAX */
    LC__F_BOOL,     /* int 0/1 */
    LC__F_MAP,      /* a nested section: `sub` */
    LC__F_FN        /* anything else: `fn` */
} lc__ftype;

struct lc__schema;

typedef struct lc__field {
    const char *key;
    lc__ftype type;
    size_t off;
    int64_t min;
    const struct lc__schema *sub;
    lc__field_fn fn;
} lc__field;

typedef struct lc__schema {
    const lc__field *fields;
    size_t n;
} lc__schema;

/* A schema from a static array of fields. */
/* clang-format off */
#define LC__FIELDS(a) {a, sizeof(a) / sizeof(a[0])}
/* clang-format on */

/* Walks mapping `map` (a null node is an empty mapping): unknown keys are
 * refused with a suggestion, null values keep the default, every other
 * value is converted into base. `path` is the mapping's dotted name ("" at
 * the top). */
lc_status lc__cfg_walk(const lc__cfgctx *cx, const lc__ynode *map, const lc__schema *s, void *base,
                       const char *path);

/* "path.key" (or "key" at the top) into buf. */
const char *lc__cfg_path(char *buf, size_t size, const char *path, const char *key);

/* The expanded text of scalar val as a string field: non-scalars are
 * refused as "expected a string". *out malloc'd. */
lc_status lc__cfg_string(const lc__cfgctx *cx, const lc__ynode *val, const char *path, char **out);

/* Expanded scalar as an integer in [min, max]. */
lc_status lc__cfg_int(const lc__cfgctx *cx, const lc__ynode *val, const char *path, long long min,
                      long long max, long long *out);

/* Expanded scalar as a lock name (lc_name_check); *out malloc'd. */
lc_status lc__cfg_name(const lc__cfgctx *cx, const lc__ynode *val, const char *path, char **out);

/* Checks renew_every < ttl/2, reporting at the renew_every key of `map`. */
lc_status lc__cfg_check_renew(const lc__cfgctx *cx, const lc__ynode *map, const char *path,
                              int64_t ttl_ms, int64_t renew_ms);

#endif
