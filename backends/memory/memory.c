/* backends/memory/memory.c -- an in-process store behind the backend table.
 *
 * Full lease semantics (ttl expiry on the injected clock, fences that only
 * go up, tokens, holder info, force-release, run records) for unit tests and
 * for embedders that coordinate threads of one process. Not a stand-in for
 * Redis or Postgres in integration tests. */
#include "core/client_int.h"
#include "core/clock_int.h"
#include "core/error_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The line of waiting acquires of one lock holds this many; later ones
 * wait outside it (as every waiter would without a line). */
#define MEM_LINE_MAX 32

typedef struct waiter {
    char token[LC_TOKEN_LEN + 1];
    int64_t due_ns; /* when its promise to ask again runs out */
} waiter;

typedef struct entry {
    char name[LC_NAME_MAX + 1];
    char token[LC_TOKEN_LEN + 1]; /* "" when not held */
    char owner[LC_OWNER_MAX + 1];
    int running;
    uint64_t fence;
    int64_t acquired_at_ms;
    int64_t expires_ns; /* on the store's monotonic clock */
    int64_t last_started_at_ms;
    int64_t last_completed_at_ms;
    uint64_t sync_count;
    int has_last_exit;
    int last_exit;
    char *last_error;
    char *checkpoint;
    lc_outcome last_outcome;
    int last_http_status;
    int last_attempts;
    int last_missed_slots;
    int64_t last_duration_ms;
    int64_t last_success_at_ms;
    uint64_t consecutive_failures;
    char *paused_reason; /* NULL when not paused */
    char paused_by[LC_OWNER_MAX + 1];
    int64_t paused_until_ns; /* on the store's monotonic clock; 0: until resumed */
    int64_t paused_until_ms; /* the same on the wall clock; -1: until resumed */
    lc_run_entry *runs;      /* oldest first */
    size_t n_runs;
    waiter line[MEM_LINE_MAX]; /* waiting acquires, first arrival first */
    size_t n_line;
} entry;

struct lc_memstore {
    pthread_mutex_t mu;
    pthread_cond_t released; /* broadcast on every release */
    uint64_t release_gen;
    const lc_clock *clock;
    entry *entries;
    size_t n, cap;
};

typedef struct mem_state {
    lc_memstore *store;
    int history; /* lock.history */
    int owns_store;
    int watching;
    char watched[LC_NAME_MAX + 1];
    uint64_t seen_gen;
} mem_state;

lc_memstore *lc_memstore_new(const lc_clock *clock)
{
    lc_memstore *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    lc__cond_init_mono(&s->released);
    s->clock = clock ? clock : lc_clock_system();
    return s;
}

void lc_memstore_free(lc_memstore *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->entries[i].last_error);
        free(s->entries[i].checkpoint);
        free(s->entries[i].paused_reason);
        lc_run_entries_free(s->entries[i].runs, s->entries[i].n_runs);
    }
    free(s->entries);
    pthread_cond_destroy(&s->released);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static entry *find(lc_memstore *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->entries[i].name, name) == 0)
            return &s->entries[i];
    return NULL;
}

static entry *find_or_add(lc_memstore *s, const char *name)
{
    entry *e = find(s, name);
    if (e)
        return e;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        entry *grown = realloc(s->entries, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        s->entries = grown;
        s->cap = cap;
    }
    e = &s->entries[s->n++];
    memset(e, 0, sizeof(*e));
    lc__strlcpy(e->name, name, sizeof(e->name));
    e->acquired_at_ms = e->last_started_at_ms = e->last_completed_at_ms = -1;
    e->last_duration_ms = e->last_success_at_ms = -1;
    return e;
}

static int live(lc_memstore *s, const entry *e)
{
    return e->token[0] != '\0' && lc__mono_ns(s->clock) < e->expires_ns;
}

/* A pause whose time is up is lifted the first time anyone looks. */
static int paused(lc_memstore *s, entry *e)
{
    if (e->paused_reason && e->paused_until_ns > 0 && lc__mono_ns(s->clock) >= e->paused_until_ns) {
        free(e->paused_reason);
        e->paused_reason = NULL;
    }
    return e->paused_reason != NULL;
}

static int held_by(lc_memstore *s, const entry *e, const char *token)
{
    return e && live(s, e) && strcmp(e->token, token) == 0;
}

static void holder_of(lc_memstore *s, const entry *e, lc_holder *h)
{
    lc__strlcpy(h->owner, e->owner, sizeof(h->owner));
    h->fence = e->fence;
    h->acquired_at_ms = e->acquired_at_ms;
    h->expires_in_ms = (e->expires_ns - lc__mono_ns(s->clock)) / 1000000;
}

static int set_str(char **dst, const char *src)
{
    char *copy = NULL;
    if (src && (copy = strdup(src)) == NULL)
        return -1;
    free(*dst);
    *dst = copy;
    return 0;
}

static void drop_lease(lc_memstore *s, entry *e)
{
    e->token[0] = '\0';
    e->running = 0;
    s->release_gen++;
    pthread_cond_broadcast(&s->released);
}

/* Appends the run just recorded to e's history, keeping the last `cap`;
 * it is the lock's current lease's, or who's (see record). */
static lc_status append_run(entry *e, const lc_run_result *res, const lc_holder *who, int cap,
                            lc_error *err);

/* A stale lease being reclaimed: its run leaves an "abandoned" entry with
 * its holder and fence. */
static lc_status append_abandoned(entry *e, int cap, lc_error *err)
{
    lc_run_result r = {.outcome = LC_OUTCOME_ABANDONED, .attempts = 1};
    int64_t completed = e->last_completed_at_ms, duration = e->last_duration_ms;
    e->last_completed_at_ms = -1;
    e->last_duration_ms = -1;
    lc_status rc = append_run(e, &r, NULL, cap, err);
    e->last_completed_at_ms = completed;
    e->last_duration_ms = duration;
    return rc;
}

/* The "abandoned" entry of who's run among the newest few, or NULL. */
static lc_run_entry *abandoned_of(entry *e, const lc_holder *who)
{
    for (size_t i = e->n_runs, seen = 0; i > 0 && seen < LC__HISTORY_LOOKBACK; i--, seen++) {
        lc_run_entry *r = &e->runs[i - 1];
        if (r->outcome == LC_OUTCOME_ABANDONED && r->fence == who->fence)
            return r;
    }
    return NULL;
}

/* The place for a new entry: the end of e's history, after dropping the
 * oldest beyond `cap`. NULL when out of memory. */
static lc_run_entry *new_entry(entry *e, int cap)
{
    size_t keep = cap > 0 ? (size_t)cap : 1;
    while (e->n_runs >= keep) {
        free(e->runs[0].error);
        memmove(e->runs, e->runs + 1, (e->n_runs - 1) * sizeof(*e->runs));
        e->n_runs--;
    }
    lc_run_entry *grown = realloc(e->runs, (e->n_runs + 1) * sizeof(*grown));
    if (grown == NULL)
        return NULL;
    e->runs = grown;
    return &e->runs[e->n_runs++];
}

static lc_status append_run(entry *e, const lc_run_result *res, const lc_holder *who, int cap,
                            lc_error *err)
{
    char *error = NULL;
    if (res->error && (error = strdup(res->error)) == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    lc_run_entry *r = who ? abandoned_of(e, who) : NULL;
    if (r)
        free(r->error);
    else if ((r = new_entry(e, cap)) == NULL) {
        free(error);
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    }
    memset(r, 0, sizeof(*r));
    r->fence = who ? who->fence : e->fence;
    lc__strlcpy(r->owner, who ? who->owner : e->owner, sizeof(r->owner));
    r->started_at_ms = who ? who->acquired_at_ms : e->last_started_at_ms;
    r->completed_at_ms = e->last_completed_at_ms;
    r->duration_ms = e->last_duration_ms;
    r->outcome = res->outcome;
    r->has_exit = res->has_exit;
    r->exit_code = res->exit_code;
    r->http_status = res->http_status;
    r->attempts = res->attempts;
    r->error = error;
    return LC_OK;
}

/* A run's record on e: of its current lease, or (who) of the lost lease
 * who, whose own running mark ends when no later lease came and its
 * lease is over. */
static lc_status record(lc_memstore *s, entry *e, const lc_run_result *res, const lc_holder *who,
                        int cap, lc_error *err)
{
    if (set_str(&e->last_error, res->error) != 0)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    int64_t now = lc__wall_ms(s->clock);
    e->last_completed_at_ms = now;
    e->sync_count++;
    e->has_last_exit = res->has_exit;
    e->last_exit = res->exit_code;
    e->last_outcome = res->outcome;
    e->last_http_status = res->http_status;
    e->last_attempts = res->attempts;
    e->last_missed_slots = res->missed_slots;
    e->last_duration_ms = res->duration_ms;
    int64_t started = who ? who->acquired_at_ms : e->last_started_at_ms;
    if (res->duration_ms <= 0)
        e->last_duration_ms = started >= 0 ? now - started : -1;
    if (who && who->fence == e->fence && !live(s, e))
        e->running = 0;
    if (res->outcome == LC_OUTCOME_OK) {
        e->last_success_at_ms = now;
        e->consecutive_failures = 0;
    } else {
        e->consecutive_failures++;
    }
    return append_run(e, res, who, cap, err);
}

static lc_status mem_open(const lc_config *cfg, const lc_backend_env *env, void **state,
                          lc_error *err)
{
    mem_state *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    m->store = env->shared;
    m->history = cfg && cfg->lock.history > 0 ? cfg->lock.history : LC_HISTORY_DEFAULT;
    if (m->store == NULL) {
        m->store = lc_memstore_new(env->clock);
        m->owns_store = 1;
        if (m->store == NULL) {
            free(m);
            return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
        }
    }
    *state = m;
    return LC_OK;
}

static void mem_close(void *state)
{
    mem_state *m = state;
    if (m->owns_store)
        lc_memstore_free(m->store);
    free(m);
}

static void line_drop(entry *e, size_t i)
{
    memmove(&e->line[i], &e->line[i + 1], (e->n_line - i - 1) * sizeof(e->line[0]));
    e->n_line--;
}

static void line_leave(entry *e, const char *token)
{
    for (size_t i = 0; i < e->n_line; i++)
        if (strcmp(e->line[i].token, token) == 0) {
            line_drop(e, i);
            return;
        }
}

/* Takes or keeps the token's place in line, renewing its promise. */
static void line_join(lc_memstore *s, entry *e, const char *token, int64_t queue_ms)
{
    int64_t due = lc__add_sat(lc__mono_ns(s->clock), lc__ms_to_ns(queue_ms));
    for (size_t i = 0; i < e->n_line; i++)
        if (strcmp(e->line[i].token, token) == 0) {
            e->line[i].due_ns = due;
            return;
        }
    if (e->n_line == MEM_LINE_MAX)
        return;
    lc__strlcpy(e->line[e->n_line].token, token, sizeof(e->line[0].token));
    e->line[e->n_line++].due_ns = due;
}

/* 1 when a waiting acquire must leave a free lock to a live waiter ahead
 * of it (it then stands in line); waiters whose promise ran out are
 * dropped first. */
static int behind_in_line(lc_memstore *s, entry *e, const lc_acquire_args *a)
{
    if (a->queue_ms <= 0)
        return 0;
    int64_t now = lc__mono_ns(s->clock);
    for (size_t i = 0; i < e->n_line;)
        if (e->line[i].due_ns <= now)
            line_drop(e, i);
        else
            i++;
    if (e->n_line == 0 || strcmp(e->line[0].token, a->token) == 0)
        return 0;
    line_join(s, e, a->token, a->queue_ms);
    return 1;
}

static lc_status mem_leave(void *state, const char *name, const char *token, lc_error *err)
{
    (void)err;
    lc_memstore *s = ((mem_state *)state)->store;
    pthread_mutex_lock(&s->mu);
    entry *e = find(s, name);
    if (e)
        line_leave(e, token);
    pthread_mutex_unlock(&s->mu);
    return LC_OK;
}

static lc_status mem_acquire(void *state, const lc_acquire_args *a, lc_grant *out, lc_error *err)
{
    lc_memstore *s = ((mem_state *)state)->store;
    lc_status rc = LC_OK;
    pthread_mutex_lock(&s->mu);
    entry *e = find_or_add(s, a->name);
    if (e == NULL) {
        rc = lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    } else if (held_by(s, e, a->token)) {
        out->fence = e->fence; /* a retried acquire of our own lease */
    } else if (paused(s, e)) {
        rc = lc__err_paused(err, a->name, e->paused_by, e->paused_reason);
    } else if (live(s, e)) {
        if (a->queue_ms > 0)
            line_join(s, e, a->token, a->queue_ms);
        rc = lc__err_conflict(err, a->name, e->owner, e->fence, e->acquired_at_ms,
                              (e->expires_ns - lc__mono_ns(s->clock)) / 1000000);
    } else if (behind_in_line(s, e, a)) {
        rc = lc__err_promised(err, a->name);
    } else if (e->running &&
               (rc = append_abandoned(e, ((mem_state *)state)->history, err)) != LC_OK) {
        /* out of memory: nothing taken */
    } else {
        lc__strlcpy(e->token, a->token, sizeof(e->token));
        lc__strlcpy(e->owner, a->owner, sizeof(e->owner));
        e->running = 1;
        e->fence++;
        e->acquired_at_ms = lc__wall_ms(s->clock);
        if (!a->claim)
            e->last_started_at_ms = e->acquired_at_ms;
        e->expires_ns = lc__add_sat(lc__mono_ns(s->clock), lc__ms_to_ns(a->ttl_ms));
        out->fence = e->fence;
        line_leave(e, a->token);
    }
    if (rc == LC_OK) {
        out->acquired_at_ms = e->acquired_at_ms;
        out->server_now_ms = lc__wall_ms(s->clock);
        out->last_started_at_ms = e->last_started_at_ms;
        out->checkpoint = lc__strdup(e->checkpoint);
        if (e->checkpoint && out->checkpoint == NULL)
            rc = lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* Callers hold s->mu. */
static lc_status renew_locked(lc_memstore *s, const char *name, const char *token, int64_t ttl_ms,
                              lc_error *err)
{
    entry *e = find(s, name);
    if (!held_by(s, e, token))
        return lc__err_not_yours(err, name);
    e->expires_ns = lc__add_sat(lc__mono_ns(s->clock), lc__ms_to_ns(ttl_ms));
    return LC_OK;
}

static lc_status mem_renew(void *state, const char *name, const char *token, int64_t ttl_ms,
                           lc_error *err)
{
    lc_memstore *s = ((mem_state *)state)->store;
    pthread_mutex_lock(&s->mu);
    lc_status rc = renew_locked(s, name, token, ttl_ms, err);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static lc_status mem_renew_many(void *state, lc_renew_item *items, size_t n, lc_error *err)
{
    lc_memstore *s = ((mem_state *)state)->store;
    (void)err;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n; i++)
        items[i].status = renew_locked(s, items[i].name, items[i].token, items[i].ttl_ms, NULL);
    pthread_mutex_unlock(&s->mu);
    return LC_OK;
}

static lc_status mem_release(void *state, const char *name, const char *token,
                             const lc_run_result *res, lc_error *err)
{
    lc_memstore *s = ((mem_state *)state)->store;
    pthread_mutex_lock(&s->mu);
    entry *e = find(s, name);
    lc_status rc = held_by(s, e, token)
                       ? record(s, e, res, NULL, ((mem_state *)state)->history, err)
                       : lc__err_not_yours(err, name);
    if (rc == LC_OK)
        drop_lease(s, e);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static lc_status mem_start_run(void *state, const char *name, const char *token,
                               int64_t *started_at_ms, lc_error *err)
{
    lc_memstore *s = ((mem_state *)state)->store;
    pthread_mutex_lock(&s->mu);
    entry *e = find(s, name);
    lc_status rc = LC_OK;
    if (held_by(s, e, token))
        *started_at_ms = e->last_started_at_ms = lc__wall_ms(s->clock);
    else
        rc = lc__err_not_yours(err, name);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static lc_status mem_abandon(void *state, const char *name, const char *token, lc_error *err)
{
    lc_memstore *s = ((mem_state *)state)->store;
    pthread_mutex_lock(&s->mu);
    entry *e = find(s, name);
    lc_status rc = held_by(s, e, token) ? LC_OK : lc__err_not_yours(err, name);
    if (rc == LC_OK)
        drop_lease(s, e);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static lc_status mem_force_release(void *state, const char *name, const char *reason, int *was_held,
                                   lc_holder *prev, lc_error *err)
{
    lc_memstore *s = ((mem_state *)state)->store;
    lc_status rc = LC_OK;
    pthread_mutex_lock(&s->mu);
    entry *e = find_or_add(s, name);
    if (e == NULL) {
        rc = lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    } else {
        *was_held = live(s, e);
        holder_of(s, e, prev);
        if (!*was_held)
            prev->expires_in_ms = -1;
        if (set_str(&e->last_error, reason) != 0)
            rc = lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
        else
            drop_lease(s, e);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static lc_status mem_record_run(void *state, const char *name, const lc_run_result *res,
                                const lc_holder *who, lc_error *err)
{
    lc_memstore *s = ((mem_state *)state)->store;
    pthread_mutex_lock(&s->mu);
    entry *e = find_or_add(s, name);
    lc_status rc = e ? record(s, e, res, who, ((mem_state *)state)->history, err)
                     : lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static lc_status mem_checkpoint(void *state, const char *name, const char *token, const char *value,
                                lc_error *err)
{
    lc_memstore *s = ((mem_state *)state)->store;
    pthread_mutex_lock(&s->mu);
    entry *e = find(s, name);
    lc_status rc = LC_OK;
    if (!held_by(s, e, token))
        rc = lc__err_not_yours(err, name);
    else if (set_str(&e->checkpoint, value) != 0)
        rc = lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static lc_status mem_pause(void *state, const char *name, const char *by, const char *reason,
                           int64_t for_ms, lc_error *err)
{
    lc_memstore *s = ((mem_state *)state)->store;
    lc_status rc = LC_OK;
    pthread_mutex_lock(&s->mu);
    entry *e = find_or_add(s, name);
    if (e == NULL || set_str(&e->paused_reason, reason) != 0) {
        rc = lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    } else {
        lc__strlcpy(e->paused_by, by, sizeof(e->paused_by));
        e->paused_until_ns =
            for_ms > 0 ? lc__add_sat(lc__mono_ns(s->clock), lc__ms_to_ns(for_ms)) : 0;
        e->paused_until_ms = for_ms > 0 ? lc__wall_ms(s->clock) + for_ms : -1;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static lc_status mem_history(void *state, const char *name, size_t limit, int64_t since_ms,
                             lc_run_entry **out, size_t *n, lc_error *err)
{
    lc_memstore *s = ((mem_state *)state)->store;
    lc_status rc = LC_OK;
    pthread_mutex_lock(&s->mu);
    entry *e = find(s, name);
    size_t total = e ? e->n_runs : 0, k = 0;
    lc_run_entry *list = calloc(total ? total : 1, sizeof(*list));
    if (list == NULL)
        rc = lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    for (size_t i = total; rc == LC_OK && i-- > 0 && (limit == 0 || k < limit);) {
        const lc_run_entry *r = &e->runs[i];
        if (since_ms > 0 && r->completed_at_ms < since_ms)
            continue;
        list[k] = *r;
        list[k].error = lc__strdup(r->error);
        if (r->error && list[k].error == NULL)
            rc = lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
        k++;
    }
    pthread_mutex_unlock(&s->mu);
    if (rc != LC_OK) {
        lc_run_entries_free(list, k);
        return rc;
    }
    *out = list;
    *n = k;
    return LC_OK;
}

static lc_status mem_resume(void *state, const char *name, int *was_paused, lc_error *err)
{
    lc_memstore *s = ((mem_state *)state)->store;
    (void)err;
    pthread_mutex_lock(&s->mu);
    entry *e = find(s, name);
    *was_paused = e && paused(s, e);
    if (e) {
        free(e->paused_reason);
        e->paused_reason = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    return LC_OK;
}

/* Callers hold s->mu. */
static lc_status fill_info(lc_memstore *s, entry *e, lc_lock_info *out, lc_error *err)
{
    lc__lock_info_init(out, e->name);
    int64_t now_ns = lc__mono_ns(s->clock);
    out->held = live(s, e);
    out->stale = !out->held && e->running;
    lc__strlcpy(out->owner, e->owner, sizeof(out->owner));
    out->fence = e->fence;
    out->acquired_at_ms = e->acquired_at_ms;
    if (out->held) {
        out->held_for_ms = lc__wall_ms(s->clock) - e->acquired_at_ms;
        out->expires_in_ms = (e->expires_ns - now_ns) / 1000000;
    }
    out->sync_count = e->sync_count;
    out->last_started_at_ms = e->last_started_at_ms;
    out->last_completed_at_ms = e->last_completed_at_ms;
    out->has_last_exit = e->has_last_exit;
    out->last_exit = e->last_exit;
    out->last_error = lc__strdup(e->last_error);
    out->checkpoint = lc__strdup(e->checkpoint);
    out->last_outcome = e->last_outcome;
    out->last_http_status = e->last_http_status;
    out->last_attempts = e->last_attempts;
    out->last_missed_slots = e->last_missed_slots;
    out->last_duration_ms = e->last_duration_ms;
    out->last_success_at_ms = e->last_success_at_ms;
    out->consecutive_failures = e->consecutive_failures;
    out->server_now_ms = lc__wall_ms(s->clock);
    if ((out->paused = paused(s, e)) != 0) {
        lc__strlcpy(out->paused_by, e->paused_by, sizeof(out->paused_by));
        out->paused_until_ms = e->paused_until_ms;
        out->paused_reason = lc__strdup(e->paused_reason);
    }
    if ((e->last_error && !out->last_error) || (e->checkpoint && !out->checkpoint) ||
        (out->paused && !out->paused_reason)) {
        lc_lock_info_clear(out);
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    }
    return LC_OK;
}

static lc_status mem_inspect(void *state, const char *name, lc_lock_info *out, lc_error *err)
{
    lc_memstore *s = ((mem_state *)state)->store;
    pthread_mutex_lock(&s->mu);
    entry *e = find(s, name);
    lc_status rc = LC_OK;
    if (e)
        rc = fill_info(s, e, out, err);
    else
        lc__lock_info_init(out, name);
    out->server_now_ms = lc__wall_ms(s->clock);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static lc_status mem_list(void *state, lc_lock_info **out, size_t *n, lc_error *err)
{
    lc_memstore *s = ((mem_state *)state)->store;
    lc_status rc = LC_OK;
    pthread_mutex_lock(&s->mu);
    lc_lock_info *list = calloc(s->n ? s->n : 1, sizeof(*list));
    size_t i = 0;
    if (list == NULL)
        rc = lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    for (; rc == LC_OK && i < s->n; i++)
        rc = fill_info(s, &s->entries[i], &list[i], err);
    pthread_mutex_unlock(&s->mu);
    if (rc != LC_OK) {
        lc_lock_list_free(list, i);
        return rc;
    }
    *out = list;
    *n = s->n;
    return LC_OK;
}

static lc_status mem_migrate(void *state, char *what, size_t what_size, lc_error *err)
{
    (void)state;
    (void)err;
    lc__strlcpy(what, "memory backend: nothing to migrate", what_size);
    return LC_OK;
}

static lc_status mem_watch(void *state, const char *name, lc_error *err)
{
    mem_state *m = state;
    (void)err;
    pthread_mutex_lock(&m->store->mu);
    m->watching = 1;
    lc__strlcpy(m->watched, name, sizeof(m->watched));
    m->seen_gen = m->store->release_gen;
    pthread_mutex_unlock(&m->store->mu);
    return LC_OK;
}

static lc_status mem_wait(void *state, int64_t timeout_ms, int *notified, lc_error *err)
{
    mem_state *m = state;
    lc_memstore *s = m->store;
    (void)err;
    struct timespec until = lc__mono_after(lc__ms_to_ns(timeout_ms));
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    while (s->release_gen == m->seen_gen && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&s->released, &s->mu, &until);
    *notified = s->release_gen != m->seen_gen;
    m->seen_gen = s->release_gen;
    pthread_mutex_unlock(&s->mu);
    return LC_OK;
}

static void mem_unwatch(void *state)
{
    ((mem_state *)state)->watching = 0;
}

const lc_backend_ops lc__backend_memory = {
    .name = "memory",
    .open = mem_open,
    .close = mem_close,
    .acquire = mem_acquire,
    .leave = mem_leave,
    .renew = mem_renew,
    .renew_many = mem_renew_many,
    .release = mem_release,
    .force_release = mem_force_release,
    .record_run = mem_record_run,
    .start_run = mem_start_run,
    .abandon = mem_abandon,
    .checkpoint = mem_checkpoint,
    .pause = mem_pause,
    .resume = mem_resume,
    .history = mem_history,
    .inspect = mem_inspect,
    .list = mem_list,
    .migrate = mem_migrate,
    .watch = mem_watch,
    .wait = mem_wait,
    .unwatch = mem_unwatch,
};
