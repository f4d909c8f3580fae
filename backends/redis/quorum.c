/* backends/redis/quorum.c -- quorum mode (redis.quorum): the Redlock
 * algorithm over independent Redis masters, each one reached through the
 * single-node Redis backend (its scripts, connections and reconnects).
 *
 * Every master has a worker thread of its own that owns that master's
 * backend state and runs its requests in order from a queue; a call
 * queues the same request for every master and waits until the answers
 * decide it: a majority agreed and every master not under suspicion has
 * answered (so healthy masters stay in step), or a majority can no longer
 * agree. A master is under suspicion from a request that found it
 * unavailable until one that did not: a frozen master costs one command
 * timeout, after that nothing while the others answer. A master whose
 * queue is full (LC__QUORUM_QUEUE requests behind) is counted as
 * unavailable at once. The request owns copies of its arguments and is
 * freed by whoever lets go of it last, so a late answer lands in memory
 * that is still there; a late acquire of a call that failed gives its
 * lease back by itself, and the release of a lease always queues behind
 * its acquire.
 *
 * Concurrency: one mutex guards every worker's slot and every request's
 * done[] flags; results are written by a worker before it sets done[] and
 * read by the caller only after it saw done[] (under the mutex). The
 * state is used by one caller thread at a time, as every backend state. */
#include "backends/redis/quorum_int.h"

#include "backends/redis/redis_int.h"
#include "core/client_int.h"
#include "core/thread_int.h"
#include "core/clock_int.h"
#include "core/error_int.h"
#include "core/timing_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t lc__quorum_majority(size_t n)
{
    return n / 2 + 1;
}

int64_t lc__quorum_validity_ms(int64_t ttl_ms)
{
    return ttl_ms - lc__timing_allowance_ms(ttl_ms);
}

size_t lc__quorum_pick_info(const lc_lock_info *const *views, size_t k, size_t majority,
                            uint64_t *fence)
{
    size_t pick = k, top = 0;
    *fence = 0;
    for (size_t i = 0; i < k; i++) {
        const lc_lock_info *v = views[i];
        if (v->fence > *fence)
            *fence = v->fence;
        if (v->fence > views[top]->fence)
            top = i;
        size_t same = 0;
        for (size_t j = 0; v->held && j < k; j++)
            same += views[j]->held && views[j]->fence == v->fence &&
                    strcmp(views[j]->owner, v->owner) == 0;
        if (pick == k && same >= majority)
            pick = i;
    }
    for (size_t i = 0; pick == k && i < k; i++)
        if (!views[i]->held)
            pick = i;
    for (size_t i = 0; i < k; i++)
        if (!views[i]->held && !views[pick]->held && views[i]->fence > views[pick]->fence)
            pick = i;
    return pick == k ? top : pick;
}

size_t lc__quorum_pick_holder(const lc_holder *const *h, const unsigned char *held, size_t k,
                              size_t majority)
{
    size_t top = k;
    for (size_t i = 0; i < k; i++) {
        if (!held[i])
            continue;
        size_t same = 0;
        for (size_t j = 0; j < k; j++)
            same += held[j] && h[j]->fence == h[i]->fence && strcmp(h[j]->owner, h[i]->owner) == 0;
        if (same >= majority)
            return i;
        if (top == k || h[i]->fence > h[top]->fence)
            top = i;
    }
    return top;
}

/* ---- requests ----------------------------------------------------------- */

enum {
    Q_OPEN,
    Q_ACQUIRE,
    Q_RENEW,
    Q_RENEW_MANY,
    Q_RELEASE,
    Q_ABANDON,
    Q_FORCE,
    Q_RECORD,
    Q_START,
    Q_CHECKPOINT,
    Q_PAUSE,
    Q_RESUME,
    Q_HISTORY,
    Q_INSPECT,
    Q_LIST,
    Q_MIGRATE,
    Q_FENCE,
    Q_WATCH,
    Q_WAIT,
    Q_UNWATCH
};

/* One master's answer. */
typedef struct qres {
    lc_status rc;
    lc_error err;
    lc_grant grant;
    lc_lock_info info;
    int has_info;
    lc_lock_info *list;
    lc_run_entry *hist;
    size_t n;
    lc_renew_item *items; /* renew_many: this master's copy, with its statuses */
    int flag;             /* was_held, was_paused, notified; a fence raised under our lease */
    int unsent;           /* never handed to the master (its queue was full) */
    lc_holder prev;
    int64_t num; /* start_run's started_at_ms */
    char what[160];
} qres;

typedef struct qcall {
    int op;
    int refs;   /* the caller, plus every worker it was handed to */
    int closed; /* the caller has let go: a worker finishing now cleans up after itself */
    int undo;   /* with closed: an acquire that succeeds late is given back */
    /* Arguments, owned. */
    char *name, *token, *owner, *text, *text2;
    int64_t ttl_ms, num;
    int claim;
    uint64_t fence;
    size_t limit;
    lc_run_result res;
    int has_res;
    lc_holder who; /* record: the lost lease the run was under, when has_who */
    int has_who;
    lc_renew_item *items; /* renew_many: copies, names and tokens owned */
    size_t n_items;
    /* force: with `fenced`, each master that answered the look (`looked`)
     * resets only if it still holds what it showed, fences[i] (0: none);
     * the others are not asked */
    int fenced;
    unsigned char looked[LC__QUORUM_MAX];
    int64_t fences[LC__QUORUM_MAX];
    unsigned char done[LC__QUORUM_MAX];
    struct qcall *next[LC__QUORUM_MAX]; /* each master's queue */
    qres r[LC__QUORUM_MAX];
} qcall;

/* The most requests waiting for one master. */
#define LC__QUORUM_QUEUE 16

typedef struct lc__quorum lc__quorum;

typedef struct qmaster {
    lc__quorum *q;
    size_t i;
    lc_config cfg; /* the client's config with url = this master's */
    void *st;      /* the single-node state, NULL until it opened (worker only) */
    pthread_t thread;
    int started;
    qcall *head, *tail; /* the queue, head first (the one in hand while it runs) */
    size_t depth;
    int suspect; /* the last answer was "unavailable" */
    uint64_t requests;
    int watched; /* watch succeeded on it (caller only) */
    char label[300];
} qmaster;

struct lc__quorum {
    size_t n, maj;
    qmaster m[LC__QUORUM_MAX];
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    int stop;
    lc_backend_env env;
    int64_t bound_ms; /* the longest a master's request can take */
    int watch;        /* the master whose release notifications wait reads, -1 if none */
};

static char *dup_or_empty(const char *s, int *failed)
{
    char *d = strdup(s ? s : "");
    *failed |= d == NULL;
    return d;
}

static void res_clear(qres *r)
{
    free(r->grant.checkpoint);
    r->grant.checkpoint = NULL;
    if (r->has_info)
        lc_lock_info_clear(&r->info);
    r->has_info = 0;
    lc_lock_list_free(r->list, r->n);
    r->list = NULL;
    lc_run_entries_free(r->hist, r->n);
    r->hist = NULL;
    r->n = 0;
    free(r->items);
    r->items = NULL;
}

static void call_free(qcall *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < LC__QUORUM_MAX; i++)
        res_clear(&c->r[i]);
    free(c->name);
    free(c->token);
    free(c->owner);
    free(c->text);
    free(c->text2);
    free((char *)c->res.error);
    for (size_t k = 0; c->items && k < c->n_items; k++) {
        free((char *)c->items[k].name);
        free((char *)c->items[k].token);
    }
    free(c->items);
    free(c);
}

/* A request for op with copies of the strings given (NULL stays NULL). */
static qcall *call_new(int op, const char *name, const char *token, const char *text)
{
    qcall *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    int failed = 0;
    c->op = op;
    c->refs = 1;
    c->name = name ? dup_or_empty(name, &failed) : NULL;
    c->token = token ? dup_or_empty(token, &failed) : NULL;
    c->text = text ? dup_or_empty(text, &failed) : NULL;
    if (failed) {
        call_free(c);
        return NULL;
    }
    return c;
}

static int set_result(qcall *c, const lc_run_result *res)
{
    c->res = *res;
    c->has_res = 1;
    c->res.error = NULL;
    if (res->error && (c->res.error = strdup(res->error)) == NULL)
        return -1;
    return 0;
}

/* ---- a worker ----------------------------------------------------------- */

/* Raises the fence counter to at least c->fence and, while the lease is
 * still this token's, the fence its meta hash shows: the write-back that
 * keeps fences strictly increasing when masters disagree. r->flag is 1
 * when the lease was still ours. */
static lc_status raise_fence(lc__redis *rs, qcall *c, qres *r)
{
    static const char script[] =
        "local f = tonumber(redis.call('GET', KEYS[1])) or 0\n"
        "if f < tonumber(ARGV[2]) then redis.call('SET', KEYS[1], ARGV[2]) end\n"
        "if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end\n"
        "redis.call('HSET', KEYS[2], 'fence', ARGV[2])\n"
        "return 1\n";
    char fence[LC__KEY_MAX], meta[LC__KEY_MAX], lock[LC__KEY_MAX], num[24];
    lc__redis_key(rs, c->name, "fence", fence);
    lc__redis_key(rs, c->name, "meta", meta);
    lc__redis_key(rs, c->name, "lock", lock);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)c->fence);
    const char *argv[8] = {"EVAL", script, "3", fence, meta, lock, c->token, num};
    size_t lens[8];
    for (int i = 0; i < 8; i++)
        lens[i] = strlen(argv[i]);
    redisReply *rep = NULL;
    lc_status rc = lc__rconn_command(&rs->main, 8, argv, lens, &rep, &r->err);
    if (rc != LC_OK)
        return rc;
    if (rep->type == REDIS_REPLY_INTEGER)
        r->flag = rep->integer == 1;
    else
        rc = lc__err(&r->err, LC_ERR_UNAVAILABLE, 0, "redis %s: raising the fence of '%s': %s",
                     rs->addr.label, c->name,
                     rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    freeReplyObject(rep);
    return rc;
}

/* Runs request c on master m's state (opened first if it is not yet). */
static lc_status run_on(qmaster *m, qcall *c, qres *r)
{
    const lc_backend_ops *o = &lc__backend_redis;
    lc_error *e = &r->err;
    if (m->st == NULL) {
        lc_status rc = o->open(&m->cfg, &m->q->env, &m->st, e);
        if (rc != LC_OK || c->op == Q_OPEN)
            return rc;
    }
    void *st = m->st;
    switch (c->op) {
    case Q_OPEN: return LC_OK;
    case Q_ACQUIRE: {
        /* No line of waiters (queue_ms 0, no leave op): each master would
         * keep its own line, and three waiters at the heads of three
         * masters' lines would each be refused a majority for good. */
        lc_acquire_args a = {c->name, c->token, c->owner, c->ttl_ms, c->claim, 0};
        return o->acquire(st, &a, &r->grant, e);
    }
    case Q_RENEW: return o->renew(st, c->name, c->token, c->ttl_ms, e);
    case Q_RENEW_MANY: return o->renew_many(st, r->items, c->n_items, e);
    case Q_RELEASE: return o->release(st, c->name, c->token, &c->res, e);
    case Q_ABANDON: return o->abandon(st, c->name, c->token, e);
    case Q_FORCE:
        if (!c->fenced)
            return o->force_release(st, c->name, c->text, &r->flag, &r->prev, e);
        if (!c->looked[m->i]) {
            r->flag = 0;
            return LC_OK;
        }
        return lc__redis_force_fenced(st, c->name, c->text, c->fences[m->i], &r->flag, &r->prev, e);
    case Q_RECORD: return o->record_run(st, c->name, &c->res, c->has_who ? &c->who : NULL, e);
    case Q_START: return o->start_run(st, c->name, c->token, &r->num, e);
    case Q_CHECKPOINT: return o->checkpoint(st, c->name, c->token, c->text, e);
    case Q_PAUSE: return o->pause(st, c->name, c->text, c->text2, c->num, e);
    case Q_RESUME: return o->resume(st, c->name, &r->flag, e);
    case Q_HISTORY: return o->history(st, c->name, c->limit, c->num, &r->hist, &r->n, e);
    case Q_INSPECT: {
        lc_status rc = o->inspect(st, c->name, &r->info, e);
        r->has_info = rc == LC_OK;
        return rc;
    }
    case Q_LIST: return o->list(st, &r->list, &r->n, e);
    case Q_MIGRATE: return o->migrate(st, r->what, sizeof(r->what), e);
    case Q_FENCE: return raise_fence(st, c, r);
    case Q_WATCH: return o->watch(st, c->name, e);
    case Q_WAIT: return o->wait(st, c->num, &r->flag, e);
    case Q_UNWATCH: o->unwatch(st); return LC_OK;
    }
    return lc__err(e, LC_ERR_INTERNAL, 0, "redis quorum: unknown request %d", c->op);
}

/* What a worker does with its answer when the caller has let go: an
 * acquire of a call that failed is given back, the rest is freed. Called
 * without the mutex. */
static void late_answer(qmaster *m, qcall *c, qres *r, int undo)
{
    if (undo && c->op == Q_ACQUIRE && r->rc == LC_OK && m->st != NULL) {
        lc_error e;
        lc__backend_redis.abandon(m->st, c->name, c->token, &e);
    }
    res_clear(r);
}

/* Whether a request whose caller has let go before it was sent may be
 * left unsent: reads, renewals (a later one or the ttl decides) and
 * acquires (unsent, they took nothing). Releases, resets, records, pauses
 * and fence write-backs are sent late rather than never, so that a master
 * that was behind catches up with what the majority did. */
static int skippable(int op)
{
    return op == Q_ACQUIRE || op == Q_RENEW || op == Q_RENEW_MANY || op == Q_START ||
           op == Q_CHECKPOINT || op == Q_HISTORY || op == Q_INSPECT || op == Q_LIST ||
           op == Q_MIGRATE || op == Q_WATCH || op == Q_WAIT;
}

static void *worker(void *arg)
{
    qmaster *m = arg;
    lc__quorum *q = m->q;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->stop && m->head == NULL)
            pthread_cond_wait(&q->work, &q->mu);
        if (q->stop)
            break;
        qcall *c = m->head;
        int skip = c->closed && skippable(c->op);
        pthread_mutex_unlock(&q->mu);
        qres *r = &c->r[m->i];
        lc__err_clear(&r->err);
        r->rc = skip ? LC_ERR_CANCELLED : run_on(m, c, r);
        uint64_t reqs = m->st ? lc__backend_redis.requests(m->st) : 0;
        pthread_mutex_lock(&q->mu);
        m->requests = reqs;
        if (!skip)
            m->suspect = r->rc == LC_ERR_UNAVAILABLE;
        if (c->closed) {
            int undo = c->undo;
            pthread_mutex_unlock(&q->mu);
            late_answer(m, c, r, undo);
            pthread_mutex_lock(&q->mu);
        }
        c->done[m->i] = 1;
        m->head = c->next[m->i];
        if (m->head == NULL)
            m->tail = NULL;
        m->depth--;
        if (--c->refs == 0)
            call_free(c);
        pthread_cond_broadcast(&q->done);
    }
    /* Closing: what is still queued was let go of by its caller; it is
     * not sent (a queued acquire then took nothing to give back). */
    while (m->head) {
        qcall *c = m->head;
        m->head = c->next[m->i];
        c->done[m->i] = 1;
        if (--c->refs == 0)
            call_free(c);
    }
    m->tail = NULL;
    m->depth = 0;
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* ---- the caller's side -------------------------------------------------- */

static void mark_busy(lc__quorum *q, qcall *c, size_t i)
{
    lc__err(&c->r[i].err, LC_ERR_UNAVAILABLE, 0,
            "redis %s: %d earlier requests still waiting (not answering?)", q->m[i].label,
            LC__QUORUM_QUEUE);
    c->r[i].rc = LC_ERR_UNAVAILABLE;
    c->r[i].unsent = 1;
    c->done[i] = 1;
}

/* Queues c for the masters in `which` (NULL: all); a full queue counts
 * as an unavailable answer at once. */
static void post(lc__quorum *q, qcall *c, const unsigned char *which)
{
    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; i < q->n; i++) {
        if (which && !which[i]) {
            c->done[i] = 1;
            c->r[i].rc = LC_ERR_CANCELLED; /* not asked: counts for nothing */
            continue;
        }
        qmaster *m = &q->m[i];
        if (m->depth >= LC__QUORUM_QUEUE) {
            mark_busy(q, c, i);
            continue;
        }
        if (m->tail)
            m->tail->next[i] = c;
        else
            m->head = c;
        m->tail = c;
        m->depth++;
        c->refs++;
    }
    pthread_cond_broadcast(&q->work);
    pthread_mutex_unlock(&q->mu);
}

/* How the answers so far decide a call: a majority (or none possible)
 * with every master not under suspicion heard; one answer; every master
 * not under suspicion heard; every master heard. */
typedef enum {
    D_MAJORITY,
    D_ANY,
    D_HEALTHY,
    D_ALL
} decide_rule;

static int decided(const lc__quorum *q, const qcall *c, decide_rule rule)
{
    size_t ok = 0, failed = 0, done = 0, awaited = 0;
    for (size_t i = 0; i < q->n; i++) {
        awaited += !c->done[i] && !q->m[i].suspect;
        if (!c->done[i])
            continue;
        done++;
        if (c->r[i].rc == LC_OK)
            ok++;
        else if (c->r[i].rc != LC_ERR_CANCELLED)
            failed++;
    }
    if (done == q->n)
        return 1;
    if (rule == D_ANY)
        return ok > 0;
    if (rule == D_HEALTHY)
        return awaited == 0;
    if (rule == D_ALL)
        return 0;
    return awaited == 0 && (ok >= q->maj || q->n - failed < q->maj);
}

/* Waits until the answers decide c or deadline_ns (monotonic) passes;
 * have[i] says which answers the caller may read from then on. */
static void await(lc__quorum *q, qcall *c, decide_rule rule, int64_t deadline_ns,
                  unsigned char *have)
{
    struct timespec ts = lc__mono_after(deadline_ns - lc__mono_ns(NULL));
    pthread_mutex_lock(&q->mu);
    while (!decided(q, c, rule) && lc__mono_ns(NULL) < deadline_ns)
        pthread_cond_timedwait(&q->done, &q->mu, &ts);
    memcpy(have, c->done, sizeof(c->done));
    pthread_mutex_unlock(&q->mu);
}

static int64_t bound_ns(const lc__quorum *q, int64_t extra_ms)
{
    return lc__mono_ns(NULL) + lc__ms_to_ns(q->bound_ms + extra_ms);
}

/* Lets go of c. undo: acquires that succeed from now on are given back.
 * The answers are freed with c, by whoever lets go of it last. */
static void finish(lc__quorum *q, qcall *c, int undo)
{
    pthread_mutex_lock(&q->mu);
    c->closed = 1;
    c->undo = undo;
    int last = --c->refs == 0;
    pthread_mutex_unlock(&q->mu);
    if (last)
        call_free(c); /* every worker is done: its answers are freed with it */
}

/* post + await + the common end: a call that only needs the answers. */
static void ask(lc__quorum *q, qcall *c, decide_rule rule, const unsigned char *which,
                unsigned char *have)
{
    post(q, c, which);
    await(q, c, rule, bound_ns(q, 0), have);
}

/* ---- reading the answers ------------------------------------------------ */

typedef struct tally {
    size_t ok, lost, asked;
    int first_fail; /* the first failure other than lost, -1 if none */
    int first_lost;
} tally;

static void count(const lc__quorum *q, const qcall *c, const unsigned char *have, tally *t)
{
    memset(t, 0, sizeof(*t));
    t->first_fail = t->first_lost = -1;
    for (size_t i = 0; i < q->n; i++) {
        /* Only answers in `have` may be read: the others are still being
         * written. */
        lc_status rc = have[i] ? c->r[i].rc : LC_ERR_UNAVAILABLE;
        if (rc == LC_ERR_CANCELLED)
            continue;
        t->asked++;
        if (!have[i])
            continue;
        if (rc == LC_OK)
            t->ok++;
        else if (rc == LC_ERR_LOST && ++t->lost && t->first_lost < 0)
            t->first_lost = (int)i;
        else if (rc != LC_ERR_LOST && t->first_fail < 0)
            t->first_fail = (int)i;
    }
}

/* The error of a call without a majority: a master's own error when it is
 * not about reaching it (a foreign key, a paused lock), else unavailable,
 * saying how many answered. */
static lc_status no_majority(const lc__quorum *q, const qcall *c, const tally *t, const char *what,
                             lc_error *err)
{
    if (t->first_fail >= 0 && c->r[t->first_fail].rc != LC_ERR_UNAVAILABLE) {
        if (err)
            *err = c->r[t->first_fail].err;
        return c->r[t->first_fail].rc;
    }
    const char *why = t->first_fail >= 0 ? c->r[t->first_fail].err.message : "no answer in time";
    return lc__err(err, LC_ERR_UNAVAILABLE, 0,
                   "redis quorum: %s%s%s%s succeeded on %zu of %zu masters (%zu needed): %s", what,
                   c->name ? " '" : "", c->name ? c->name : "", c->name ? "'" : "", t->ok, q->n,
                   q->maj, why);
}

/* The usual verdict: done on a majority; lost when so many masters say
 * the lease is not this token's that no majority can hold it. */
static lc_status verdict(const lc__quorum *q, const qcall *c, const unsigned char *have,
                         const char *what, lc_error *err)
{
    tally t;
    count(q, c, have, &t);
    if (t.ok >= q->maj)
        return LC_OK;
    if (t.lost > q->n - q->maj) {
        if (err)
            *err = c->r[t.first_lost].err;
        return LC_ERR_LOST;
    }
    return no_majority(q, c, &t, what, err);
}

/* A call asked of every master and judged by verdict; have[] says which
 * answers the caller may read. */
static lc_status ask_verdict(lc__quorum *q, qcall *c, const char *what, unsigned char *have,
                             lc_error *err)
{
    ask(q, c, D_MAJORITY, NULL, have);
    return verdict(q, c, have, what, err);
}

/* ask_verdict for a call whose answers carry nothing more. */
static lc_status simple(lc__quorum *q, qcall *c, const char *what, lc_error *err)
{
    if (c == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    unsigned char have[LC__QUORUM_MAX];
    lc_status rc = ask_verdict(q, c, what, have, err);
    finish(q, c, 0);
    return rc;
}

/* A read (or a call whose answers all count): asked of every master, done
 * when a majority answered it successfully; *ok (may be NULL) says how
 * many did. */
static lc_status ask_majority(lc__quorum *q, qcall *c, decide_rule rule, const char *what,
                              unsigned char *have, size_t *ok, lc_error *err)
{
    ask(q, c, rule, NULL, have);
    tally t;
    count(q, c, have, &t);
    if (ok)
        *ok = t.ok;
    return t.ok >= q->maj ? LC_OK : no_majority(q, c, &t, what, err);
}

/* ---- open and close ----------------------------------------------------- */

static void q_close(void *state)
{
    lc__quorum *q = state;
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_broadcast(&q->work);
    pthread_mutex_unlock(&q->mu);
    for (size_t i = 0; i < q->n; i++) {
        if (q->m[i].started)
            pthread_join(q->m[i].thread, NULL);
        if (q->m[i].st)
            lc__backend_redis.close(q->m[i].st);
    }
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->done);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

static lc_status setup(lc__quorum *q, const lc_config *cfg, lc_error *err)
{
    for (size_t i = 0; i < q->n; i++) {
        qmaster *m = &q->m[i];
        lc__redis_addr addr;
        lc_status rc = lc__redis_url_parse(cfg->redis.quorum[i], &addr, err);
        if (rc != LC_OK) {
            lc__err_prefix(err, "redis.quorum[%zu]", i);
            return rc;
        }
        lc__strlcpy(m->label, addr.label, sizeof(m->label));
        lc__redis_addr_free(&addr);
        m->q = q;
        m->i = i;
        m->cfg = *cfg;
        m->cfg.redis.url = cfg->redis.quorum[i];
        m->cfg.redis.quorum = NULL;
        m->cfg.redis.n_quorum = 0;
        m->cfg.redis.cluster = 0;
        if (lc__thread_start(&m->thread, NULL, worker, m) != 0)
            return lc__err(err, LC_ERR_INTERNAL, 0, "redis quorum: no thread for %s", m->label);
        m->started = 1;
    }
    return LC_OK;
}

/* Opens every master at once; a majority must answer (the others are
 * opened again by the first request that reaches them). */
static lc_status q_open(const lc_config *cfg, const lc_backend_env *env, void **state,
                        lc_error *err)
{
    size_t n = cfg->redis.n_quorum;
    if (n < 3 || n % 2 == 0 || n > LC__QUORUM_MAX)
        return lc__err(err, LC_ERR_CONFIG, 0,
                       "redis.quorum: an odd number of 3 to %d URLs is needed (got %zu)",
                       LC__QUORUM_MAX, n);
    lc__quorum *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    q->n = n;
    q->maj = lc__quorum_majority(n);
    q->env = *env;
    q->watch = -1;
    int64_t connect = cfg->redis.connect_timeout_ms > 0 ? cfg->redis.connect_timeout_ms : 2000;
    int64_t command = cfg->redis.command_timeout_ms > 0 ? cfg->redis.command_timeout_ms : 1000;
    q->bound_ms = connect + 3 * command + 500;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work, NULL);
    lc__cond_init_mono(&q->done);
    lc_status rc = setup(q, cfg, err);
    if (rc == LC_OK) {
        qcall *c = call_new(Q_OPEN, NULL, NULL, NULL);
        rc = simple(q, c, "connecting", err);
    }
    if (rc != LC_OK) {
        q_close(q);
        return rc;
    }
    *state = q;
    return LC_OK;
}

/* ---- acquire ------------------------------------------------------------ */

/* Why an acquire without a majority failed: paused if any master says so
 * (an operator's pause is honoured even on a minority), else held by the
 * holder with the highest fence among those reported, else unavailable. */
static lc_status refused(const lc__quorum *q, const qcall *c, const unsigned char *have,
                         lc_error *err)
{
    const lc_holder *h[LC__QUORUM_MAX];
    unsigned char held[LC__QUORUM_MAX];
    for (size_t i = 0; i < q->n; i++) {
        if (have[i] && c->r[i].rc == LC_ERR_PAUSED) {
            if (err)
                *err = c->r[i].err;
            return LC_ERR_PAUSED;
        }
        h[i] = &c->r[i].err.holder;
        held[i] = have[i] && c->r[i].rc == LC_ERR_CONFLICT;
    }
    size_t conflict = lc__quorum_pick_holder(h, held, q->n, q->maj);
    if (conflict < q->n) {
        if (err)
            *err = c->r[conflict].err;
        return LC_ERR_CONFLICT;
    }
    tally t;
    count(q, c, have, &t);
    return no_majority(q, c, &t, "acquire", err);
}

/* Writes fence F back to the masters that granted a lower one (`lag`);
 * returns how many confirm it under this lease. */
static size_t write_back(lc__quorum *q, const qcall *a, const unsigned char *lag,
                         int64_t deadline_ns)
{
    qcall *c = call_new(Q_FENCE, a->name, a->token, NULL);
    if (c == NULL)
        return 0;
    c->fence = a->fence;
    unsigned char have[LC__QUORUM_MAX];
    post(q, c, lag);
    await(q, c, D_ALL, deadline_ns, have);
    size_t confirmed = 0;
    for (size_t i = 0; i < q->n; i++)
        confirmed += lag[i] && have[i] && c->r[i].rc == LC_OK && c->r[i].flag;
    finish(q, c, 0);
    return confirmed;
}

/* Gives back, on the masters in `which`, the leases an acquire took or
 * may have taken (one whose answer was lost may have run). Masters under
 * suspicion are not waited for: their give-back stays queued and is sent
 * when they answer again; if it comes too late, the lease's ttl ends it. */
static void give_back(lc__quorum *q, const qcall *a, const unsigned char *which)
{
    size_t any = 0;
    for (size_t i = 0; i < q->n; i++)
        any += which[i];
    qcall *c = any ? call_new(Q_ABANDON, a->name, a->token, NULL) : NULL;
    if (c == NULL)
        return;
    unsigned char have[LC__QUORUM_MAX];
    post(q, c, which);
    await(q, c, D_HEALTHY, bound_ns(q, 0), have);
    finish(q, c, 0);
}

/* A majority granted: the highest fence wins and is written back where
 * it is not yet, then the grant is checked against the validity time. */
static lc_status granted(lc__quorum *q, qcall *c, const unsigned char *have, int64_t t0,
                         int64_t valid_until, lc_grant *out, lc_error *err)
{
    size_t best = q->n, at_top = 0;
    for (size_t i = 0; i < q->n; i++)
        if (have[i] && c->r[i].rc == LC_OK &&
            (best == q->n || c->r[i].grant.fence > c->r[best].grant.fence))
            best = i;
    c->fence = c->r[best].grant.fence;
    unsigned char lag[LC__QUORUM_MAX] = {0};
    for (size_t i = 0; i < q->n; i++) {
        if (!have[i] || c->r[i].rc != LC_OK)
            continue;
        at_top += c->r[i].grant.fence == c->fence;
        lag[i] = c->r[i].grant.fence < c->fence;
    }
    if (at_top < q->maj)
        at_top += write_back(q, c, lag, valid_until);
    int64_t now = lc__mono_ns(q->env.clock);
    if (at_top < q->maj)
        return lc__err(err, LC_ERR_UNAVAILABLE, 0,
                       "redis quorum: acquire '%s': fence %llu confirmed on %zu of %zu masters "
                       "(%zu needed)",
                       c->name, (unsigned long long)c->fence, at_top, q->n, q->maj);
    if (now >= valid_until)
        return lc__err(err, LC_ERR_UNAVAILABLE, 0,
                       "redis quorum: acquire '%s': the majority took %lld ms, more than the "
                       "lease's validity of %lld ms",
                       c->name, (long long)((now - t0) / 1000000),
                       (long long)lc__quorum_validity_ms(c->ttl_ms));
    *out = c->r[best].grant;
    c->r[best].grant.checkpoint = NULL;
    return LC_OK;
}

static lc_status q_acquire(void *state, const lc_acquire_args *a, lc_grant *out, lc_error *err)
{
    lc__quorum *q = state;
    qcall *c = call_new(Q_ACQUIRE, a->name, a->token, NULL);
    int failed = 0;
    if (c != NULL && (c->owner = dup_or_empty(a->owner, &failed)) == NULL)
        failed = 1;
    if (c == NULL || failed) {
        call_free(c);
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    }
    c->ttl_ms = a->ttl_ms;
    c->claim = a->claim;
    int64_t t0 = lc__mono_ns(q->env.clock);
    int64_t valid_until = t0 + lc__ms_to_ns(lc__quorum_validity_ms(a->ttl_ms));
    unsigned char have[LC__QUORUM_MAX];
    post(q, c, NULL);
    /* The wait is on the real clock, the validity on the client's. */
    int64_t wait = lc__ms_to_ns(lc__quorum_validity_ms(a->ttl_ms));
    int64_t bound = lc__ms_to_ns(q->bound_ms);
    await(q, c, D_MAJORITY, lc__mono_ns(NULL) + (wait < bound ? wait : bound), have);
    tally t;
    count(q, c, have, &t);
    lc_status rc =
        t.ok >= q->maj ? granted(q, c, have, t0, valid_until, out, err) : refused(q, c, have, err);
    if (rc != LC_OK) {
        /* The answers in by now are given back here; a later one gives
         * itself back (closed with undo). */
        unsigned char took[LC__QUORUM_MAX];
        pthread_mutex_lock(&q->mu);
        c->undo = 1;
        c->closed = 1;
        for (size_t i = 0; i < q->n; i++)
            took[i] = c->done[i] && (c->r[i].rc == LC_OK ||
                                     (c->r[i].rc == LC_ERR_UNAVAILABLE && !c->r[i].unsent));
        pthread_mutex_unlock(&q->mu);
        give_back(q, c, took);
    }
    finish(q, c, rc != LC_OK);
    return rc;
}

/* ---- renewals ----------------------------------------------------------- */

/* A renewal needs a majority; one that only reached a minority extends
 * nothing (the keeper keeps its deadline and tries again until then). */
static lc_status q_renew(void *state, const char *name, const char *token, int64_t ttl_ms,
                         lc_error *err)
{
    lc__quorum *q = state;
    qcall *c = call_new(Q_RENEW, name, token, NULL);
    if (c)
        c->ttl_ms = ttl_ms;
    return simple(q, c, "renew", err);
}

/* Per lease: renewed on a majority, or lost when so many masters say it
 * is not this token's that no majority can hold it; any lease left
 * undecided fails the round (the keeper tries again). */
static lc_status many_verdict(const lc__quorum *q, const qcall *c, const unsigned char *have,
                              lc_renew_item *items, size_t n, lc_error *err)
{
    for (size_t k = 0; k < n; k++) {
        size_t ok = 0, lost = 0;
        for (size_t i = 0; i < q->n; i++) {
            if (!have[i] || c->r[i].rc != LC_OK)
                continue;
            ok += c->r[i].items[k].status == LC_OK;
            lost += c->r[i].items[k].status == LC_ERR_LOST;
        }
        if (ok >= q->maj)
            items[k].status = LC_OK;
        else if (lost > q->n - q->maj)
            items[k].status = LC_ERR_LOST;
        else {
            tally t;
            count(q, c, have, &t);
            t.ok = ok;
            return no_majority(q, c, &t, "renew", err);
        }
    }
    return LC_OK;
}

/* A renew_many request: the items copied (a late answer must not read the
 * caller's), and a copy per master for its statuses. */
static qcall *renew_many_call(const lc__quorum *q, const lc_renew_item *items, size_t n)
{
    qcall *c = call_new(Q_RENEW_MANY, NULL, NULL, NULL);
    if (c == NULL || (c->items = calloc(n, sizeof(*c->items))) == NULL) {
        call_free(c);
        return NULL;
    }
    int failed = 0;
    c->n_items = n;
    for (size_t k = 0; k < n; k++) {
        c->items[k] = items[k];
        c->items[k].name = dup_or_empty(items[k].name, &failed);
        c->items[k].token = dup_or_empty(items[k].token, &failed);
    }
    for (size_t i = 0; !failed && i < q->n; i++) {
        if ((c->r[i].items = calloc(n, sizeof(*c->r[i].items))) == NULL)
            failed = 1;
        else
            memcpy(c->r[i].items, c->items, n * sizeof(*c->items));
    }
    if (failed) {
        call_free(c);
        return NULL;
    }
    return c;
}

static lc_status q_renew_many(void *state, lc_renew_item *items, size_t n, lc_error *err)
{
    lc__quorum *q = state;
    if (n == 0)
        return LC_OK;
    qcall *c = renew_many_call(q, items, n);
    if (c == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    unsigned char have[LC__QUORUM_MAX];
    post(q, c, NULL);
    /* Every master is waited for (within the bound): a majority per lease
     * is only known once the answers are in. */
    await(q, c, D_ALL, bound_ns(q, 0), have);
    lc_status rc = many_verdict(q, c, have, items, n, err);
    finish(q, c, 0);
    return rc;
}

/* ---- release and the run record ----------------------------------------- */

static lc_status q_release(void *state, const char *name, const char *token,
                           const lc_run_result *res, lc_error *err)
{
    lc__quorum *q = state;
    qcall *c = call_new(Q_RELEASE, name, token, NULL);
    if (c && set_result(c, res) != 0) {
        call_free(c);
        c = NULL;
    }
    return simple(q, c, "release", err);
}

static lc_status q_abandon(void *state, const char *name, const char *token, lc_error *err)
{
    return simple(state, call_new(Q_ABANDON, name, token, NULL), "abandon", err);
}

static lc_status q_record_run(void *state, const char *name, const lc_run_result *res,
                              const lc_holder *who, lc_error *err)
{
    qcall *c = call_new(Q_RECORD, name, NULL, NULL);
    if (c && set_result(c, res) != 0) {
        call_free(c);
        c = NULL;
    }
    if (c && who) {
        c->who = *who;
        c->has_who = 1;
    }
    return simple(state, c, "record", err);
}

static lc_status q_start_run(void *state, const char *name, const char *token,
                             int64_t *started_at_ms, lc_error *err)
{
    lc__quorum *q = state;
    qcall *c = call_new(Q_START, name, token, NULL);
    if (c == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    unsigned char have[LC__QUORUM_MAX];
    lc_status rc = ask_verdict(q, c, "start", have, err);
    int64_t at = -1;
    for (size_t i = 0; rc == LC_OK && i < q->n; i++)
        if (have[i] && c->r[i].rc == LC_OK && c->r[i].num > at)
            at = c->r[i].num;
    if (rc == LC_OK)
        *started_at_ms = at;
    finish(q, c, 0);
    return rc;
}

static lc_status q_checkpoint(void *state, const char *name, const char *token, const char *value,
                              lc_error *err)
{
    return simple(state, call_new(Q_CHECKPOINT, name, token, value), "checkpoint", err);
}

/* ---- the operator's calls ----------------------------------------------- */

/* A reset is not one atomic step across the masters. Ending whatever
 * lease each master holds when the reset reaches it could end one taken
 * while the reset was under way: a waiter woken by the first masters'
 * reset takes a majority from them and a free one, then loses the free
 * one to the reset, and a second waiter takes a majority too. So the
 * reset first looks (every master's lease, by its fence), then resets
 * each master only if it still holds what it showed (that fence, or
 * nothing): a lease taken since has another fence and stays. A master
 * that did not answer the look is left alone; its lease runs out with its
 * ttl. */
static lc_status look_before_reset(lc__quorum *q, const char *name, qcall *force, lc_error *err)
{
    qcall *c = call_new(Q_INSPECT, name, NULL, NULL);
    if (c == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    unsigned char have[LC__QUORUM_MAX];
    lc_status rc = ask_majority(q, c, D_MAJORITY, "reset", have, NULL, err);
    for (size_t i = 0; rc == LC_OK && i < q->n; i++) {
        const qres *r = &c->r[i];
        force->looked[i] = have[i] && r->rc == LC_OK && r->has_info;
        force->fences[i] =
            force->looked[i] && r->info.expires_in_ms >= 0 ? (int64_t)r->info.fence : 0;
    }
    force->fenced = 1;
    finish(q, c, 0);
    return rc;
}

static lc_status q_force_release(void *state, const char *name, const char *reason, int *was_held,
                                 lc_holder *prev, lc_error *err)
{
    lc__quorum *q = state;
    qcall *c = call_new(Q_FORCE, name, NULL, reason);
    if (c == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    unsigned char have[LC__QUORUM_MAX];
    lc_status rc = look_before_reset(q, name, c, err);
    if (rc != LC_OK) {
        finish(q, c, 0);
        return rc;
    }
    rc = ask_verdict(q, c, "reset", have, err);
    /* The holder: the one a majority named (else the held one with the
     * highest fence); when none held it, the last holder any master
     * remembers, the highest fence. */
    const lc_holder *h[LC__QUORUM_MAX];
    unsigned char held[LC__QUORUM_MAX];
    size_t best = q->n;
    for (size_t i = 0; rc == LC_OK && i < q->n; i++) {
        const qres *r = &c->r[i];
        h[i] = &r->prev;
        held[i] = have[i] && r->rc == LC_OK && r->flag;
        if (have[i] && r->rc == LC_OK && (best == q->n || r->prev.fence > c->r[best].prev.fence))
            best = i;
    }
    if (rc == LC_OK) {
        size_t pick = lc__quorum_pick_holder(h, held, q->n, q->maj);
        if (pick < q->n)
            best = pick;
        *was_held = pick < q->n;
        *prev = c->r[best].prev;
    }
    finish(q, c, 0);
    return rc;
}

static lc_status q_pause(void *state, const char *name, const char *by, const char *reason,
                         int64_t for_ms, lc_error *err)
{
    qcall *c = call_new(Q_PAUSE, name, NULL, by);
    int failed = 0;
    if (c && (c->text2 = dup_or_empty(reason, &failed)) == NULL) {
        call_free(c);
        c = NULL;
    }
    if (c)
        c->num = for_ms;
    return simple(state, c, "pause", err);
}

static lc_status q_resume(void *state, const char *name, int *was_paused, lc_error *err)
{
    lc__quorum *q = state;
    qcall *c = call_new(Q_RESUME, name, NULL, NULL);
    if (c == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    unsigned char have[LC__QUORUM_MAX];
    lc_status rc = ask_verdict(q, c, "resume", have, err);
    *was_paused = 0;
    for (size_t i = 0; rc == LC_OK && i < q->n; i++)
        *was_paused |= have[i] && c->r[i].rc == LC_OK && c->r[i].flag;
    finish(q, c, 0);
    return rc;
}

static lc_status q_migrate(void *state, char *what, size_t what_size, lc_error *err)
{
    lc__quorum *q = state;
    qcall *c = call_new(Q_MIGRATE, NULL, NULL, NULL);
    if (c == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    unsigned char have[LC__QUORUM_MAX];
    size_t ok = 0;
    lc_status rc = ask_majority(q, c, D_ALL, "loading scripts", have, &ok, err);
    if (rc == LC_OK && what && what_size)
        snprintf(what, what_size, "redis quorum: loaded the scripts on %zu of %zu masters", ok,
                 q->n);
    finish(q, c, 0);
    return rc;
}

/* ---- reading the lock --------------------------------------------------- */

/* The history of the master that has seen the latest run (the highest
 * fence at its head, then the latest completion, then the longest). */
static int better_history(const qres *a, const qres *b)
{
    if (b->n == 0)
        return a->n > 0;
    if (a->n == 0)
        return 0;
    if (a->hist[0].fence != b->hist[0].fence)
        return a->hist[0].fence > b->hist[0].fence;
    if (a->hist[0].completed_at_ms != b->hist[0].completed_at_ms)
        return a->hist[0].completed_at_ms > b->hist[0].completed_at_ms;
    return a->n > b->n;
}

static lc_status q_history(void *state, const char *name, size_t limit, int64_t since_ms,
                           lc_run_entry **out, size_t *n, lc_error *err)
{
    lc__quorum *q = state;
    qcall *c = call_new(Q_HISTORY, name, NULL, NULL);
    if (c == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    c->limit = limit;
    c->num = since_ms;
    unsigned char have[LC__QUORUM_MAX];
    lc_status rc = ask_majority(q, c, D_MAJORITY, "history", have, NULL, err);
    int best = -1;
    for (size_t i = 0; rc == LC_OK && i < q->n; i++)
        if (have[i] && c->r[i].rc == LC_OK && (best < 0 || better_history(&c->r[i], &c->r[best])))
            best = (int)i;
    if (rc == LC_OK) {
        *out = c->r[best].hist;
        *n = c->r[best].n;
        c->r[best].hist = NULL;
        c->r[best].n = 0;
    }
    finish(q, c, 0);
    return rc;
}

/* Moves the view that stands for the lock into *out (its strings; the
 * view keeps its name, so a sorted list stays sorted) and sets the fence
 * to the highest seen. */
static void pick_into(lc_lock_info **views, size_t k, size_t maj, lc_lock_info *out)
{
    uint64_t fence = 0;
    size_t p = lc__quorum_pick_info((const lc_lock_info *const *)views, k, maj, &fence);
    *out = *views[p];
    out->fence = fence;
    views[p]->last_error = NULL;
    views[p]->checkpoint = NULL;
    views[p]->paused_reason = NULL;
}

static lc_status q_inspect(void *state, const char *name, lc_lock_info *out, lc_error *err)
{
    lc__quorum *q = state;
    qcall *c = call_new(Q_INSPECT, name, NULL, NULL);
    if (c == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    unsigned char have[LC__QUORUM_MAX];
    lc_status rc = ask_majority(q, c, D_MAJORITY, "inspect", have, NULL, err);
    lc_lock_info *views[LC__QUORUM_MAX];
    size_t k = 0;
    for (size_t i = 0; rc == LC_OK && i < q->n; i++)
        if (have[i] && c->r[i].rc == LC_OK)
            views[k++] = &c->r[i].info;
    if (rc == LC_OK)
        pick_into(views, k, q->maj, out);
    finish(q, c, 0);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const lc_lock_info *)a)->name, ((const lc_lock_info *)b)->name);
}

static int by_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Every name any answering master lists, sorted, once each (pointers into
 * the lists). */
static const char **all_names(const lc__quorum *q, qcall *c, const unsigned char *ok, size_t *n)
{
    size_t total = 0;
    for (size_t i = 0; i < q->n; i++)
        total += ok[i] ? c->r[i].n : 0;
    const char **names = calloc(total ? total : 1, sizeof(*names));
    if (names == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < q->n; i++)
        for (size_t j = 0; ok[i] && j < c->r[i].n; j++)
            names[k++] = c->r[i].list[j].name;
    qsort(names, k, sizeof(*names), by_str);
    size_t u = 0;
    for (size_t j = 0; j < k; j++)
        if (u == 0 || strcmp(names[u - 1], names[j]) != 0)
            names[u++] = names[j];
    *n = u;
    return names;
}

/* One lock's entry: its views on the masters that answered (a master
 * without it sees it ready, fence 0). */
static void merge_one(const lc__quorum *q, qcall *c, const unsigned char *ok, const char *name,
                      lc_lock_info *out)
{
    lc_lock_info blank[LC__QUORUM_MAX];
    lc_lock_info *views[LC__QUORUM_MAX];
    size_t k = 0;
    for (size_t i = 0; i < q->n; i++) {
        if (!ok[i])
            continue;
        lc_lock_info key;
        lc__strlcpy(key.name, name, sizeof(key.name));
        lc_lock_info *hit = bsearch(&key, c->r[i].list, c->r[i].n, sizeof(key), by_name);
        if (hit == NULL) {
            lc__lock_info_init(&blank[k], name);
            hit = &blank[k];
        }
        views[k++] = hit;
    }
    pick_into(views, k, q->maj, out);
}

static lc_status q_list(void *state, lc_lock_info **out, size_t *n, lc_error *err)
{
    lc__quorum *q = state;
    qcall *c = call_new(Q_LIST, NULL, NULL, NULL);
    if (c == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    unsigned char have[LC__QUORUM_MAX], ok[LC__QUORUM_MAX];
    lc_status rc = ask_majority(q, c, D_MAJORITY, "list", have, NULL, err);
    for (size_t i = 0; i < q->n; i++) {
        ok[i] = rc == LC_OK && have[i] && c->r[i].rc == LC_OK;
        if (ok[i])
            qsort(c->r[i].list, c->r[i].n, sizeof(*c->r[i].list), by_name);
    }
    size_t count_names = 0;
    const char **names = rc == LC_OK ? all_names(q, c, ok, &count_names) : NULL;
    lc_lock_info *list = names ? calloc(count_names ? count_names : 1, sizeof(*list)) : NULL;
    if (rc == LC_OK && list == NULL)
        rc = lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    for (size_t j = 0; rc == LC_OK && j < count_names; j++)
        merge_one(q, c, ok, names[j], &list[j]);
    free(names);
    if (rc == LC_OK) {
        *out = list;
        *n = count_names;
    }
    finish(q, c, 0);
    return rc;
}

/* ---- release notifications ---------------------------------------------- */

/* Every master is subscribed (a release publishes on each); wait reads
 * one of them, so a master that stops answering holds up no other
 * request. Notifications only shorten a wait: a missed one costs a poll. */
static lc_status q_watch(void *state, const char *name, lc_error *err)
{
    lc__quorum *q = state;
    qcall *c = call_new(Q_WATCH, name, NULL, NULL);
    if (c == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    unsigned char have[LC__QUORUM_MAX];
    ask(q, c, D_ALL, NULL, have);
    q->watch = -1;
    for (size_t i = 0; i < q->n; i++) {
        q->m[i].watched = have[i] && c->r[i].rc == LC_OK;
        if (q->m[i].watched && q->watch < 0)
            q->watch = (int)i;
    }
    tally t;
    count(q, c, have, &t);
    lc_status rc = q->watch >= 0 ? LC_OK : no_majority(q, c, &t, "watch", err);
    finish(q, c, 0);
    return rc;
}

static lc_status q_wait(void *state, int64_t timeout_ms, int *notified, lc_error *err)
{
    lc__quorum *q = state;
    *notified = 0;
    if (q->watch < 0)
        return lc__err(err, LC_ERR_UNAVAILABLE, 0, "redis quorum: not watching any lock");
    qcall *c = call_new(Q_WAIT, NULL, NULL, NULL);
    if (c == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    c->num = timeout_ms;
    unsigned char which[LC__QUORUM_MAX] = {0}, have[LC__QUORUM_MAX];
    size_t w = (size_t)q->watch;
    which[w] = 1;
    post(q, c, which);
    await(q, c, D_ALL, bound_ns(q, timeout_ms), have);
    lc_status rc = have[w] ? c->r[w].rc : LC_ERR_UNAVAILABLE;
    if (rc == LC_OK)
        *notified = c->r[w].flag;
    else {
        if (!have[w])
            lc__err(err, LC_ERR_UNAVAILABLE, 0, "redis %s: no answer to the wait in time",
                    q->m[w].label);
        else if (err)
            *err = c->r[w].err;
        /* Read another master next time. */
        q->m[w].watched = 0;
        q->watch = -1;
        for (size_t i = 1; i <= q->n && q->watch < 0; i++)
            if (q->m[(w + i) % q->n].watched)
                q->watch = (int)((w + i) % q->n);
    }
    finish(q, c, 0);
    return rc;
}

static void q_unwatch(void *state)
{
    lc__quorum *q = state;
    qcall *c = call_new(Q_UNWATCH, NULL, NULL, NULL);
    unsigned char which[LC__QUORUM_MAX] = {0}, have[LC__QUORUM_MAX];
    for (size_t i = 0; i < q->n; i++) {
        which[i] = q->m[i].watched;
        q->m[i].watched = 0;
    }
    q->watch = -1;
    if (c == NULL)
        return;
    post(q, c, which);
    await(q, c, D_HEALTHY, bound_ns(q, 0), have);
    finish(q, c, 0);
}

static uint64_t q_requests(void *state)
{
    lc__quorum *q = state;
    uint64_t sum = 0;
    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; i < q->n; i++)
        sum += q->m[i].requests;
    pthread_mutex_unlock(&q->mu);
    return sum;
}

const lc_backend_ops *lc__redis_variant(const lc_config *cfg)
{
    return cfg->redis.n_quorum > 0 ? &lc__backend_redis_quorum : &lc__backend_redis;
}

/* No benchmark floor: a quorum's floor is its masters' own. */
const lc_backend_ops lc__backend_redis_quorum = {
    .name = "redis",
    .open = q_open,
    .close = q_close,
    .acquire = q_acquire,
    .renew = q_renew,
    .renew_many = q_renew_many,
    .release = q_release,
    .force_release = q_force_release,
    .record_run = q_record_run,
    .start_run = q_start_run,
    .abandon = q_abandon,
    .checkpoint = q_checkpoint,
    .pause = q_pause,
    .resume = q_resume,
    .history = q_history,
    .inspect = q_inspect,
    .list = q_list,
    .migrate = q_migrate,
    .watch = q_watch,
    .wait = q_wait,
    .unwatch = q_unwatch,
    .requests = q_requests,
};
