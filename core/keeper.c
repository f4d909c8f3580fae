/* core/keeper.c -- the lease keeper: renews every kept lease in one backend
 * call per renew_every, and declares a lease lost on its own clock.
 *
 * Two threads share one mutex. The renewer sends the rounds (and is the only
 * user of the keeper's connection). The watchdog sleeps until the earliest
 * local deadline and declares loss when it passes, so a renewal stuck on a
 * frozen server never delays the loss signal. Both threads only call the
 * functions that the manual mode of keeper_int.h exposes to tests. */
#include "core/keeper_int.h"
#include "core/thread_int.h"

#include "core/backoff_int.h"
#include "core/client_int.h"
#include "core/clock_int.h"
#include "core/error_int.h"
#include "core/timing_int.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define REASON_MAX   256
#define RETRY_MIN_MS 20
/* A round asks the backend why at most this many leases were lost; the
 * rest get the generic reason, so a mass loss is signalled without delay. */
#define INSPECT_MAX 16

typedef struct kept {
    const lc_lease *lease; /* borrowed; the key */
    char name[LC_NAME_MAX + 1];
    char token[LC_TOKEN_LEN + 1];
    uint64_t fence;
    int64_t ttl_ms;
    int64_t deadline_ns;  /* on the client's clock */
    int64_t ok_sent_ns;   /* when the request that set deadline_ns was sent */
    int64_t tried_ns;     /* the first round sent for it since then, 0 if none */
    int in_flight;        /* in the round being sent: remove waits for it */
    lc_status lost;       /* sticky, LC_OK or how it was lost (see lc_keeper_lost) */
    int removed;          /* removed while in flight: the round frees it */
    int notified;         /* on_loss was called (or is not wanted) */
    lc_lease_hooks hooks; /* the lease's own (lc_keeper_hook); zeroed: none */
    int hook_calls;       /* its on_loss is running: remove and hook wait */
    char reason[REASON_MAX];
} kept;

struct lc_keeper {
    lc_client *client;
    int owns_client;
    int64_t renew_every_ms;
    lc_loss_fn on_loss;
    void *loss_ctx;
    lc_renew_fn on_renew;
    void *renew_ctx;
    int efd;

    pthread_mutex_t mu;
    pthread_cond_t changed; /* CLOCK_MONOTONIC; broadcast on every change */
    kept **leases;
    size_t n, cap;
    size_t unnotified; /* lost leases whose on_loss is still due */
    int round_busy;    /* a round's backend call has not returned */
    int in_round;      /* the renewer is inside a round (call, replies, reasons) */
    int orphaned;      /* stopped mid-round: the renewer frees the keeper */
    int in_callback;   /* on_loss calls under way: stop waits for them */
    int64_t round_sent_ns;
    lc_keeper_stats stats;
    lc__round_fn on_round; /* lc__keeper_on_round */
    void *round_ctx;
    char last_err[REASON_MAX]; /* why the last round failed, "" if it did not */
    int stopping;
    int threads;
    pthread_t renewer, watchdog;
};

/* One renewal round: the members are marked in_flight while it is sent. */
typedef struct round {
    kept **members;
    lc_renew_item *items;
    size_t n;
    int64_t sent_ns;
} round;

static int64_t now_ns(const lc_keeper *k)
{
    return lc__client_now_ns(k->client);
}

/* Callers hold k->mu. */
static kept *find(const lc_keeper *k, const lc_lease *lease, size_t *index)
{
    for (size_t i = 0; i < k->n; i++) {
        if (k->leases[i]->lease == lease) {
            if (index)
                *index = i;
            return k->leases[i];
        }
    }
    return NULL;
}

/* Waits on k->changed (k->mu held) at most ns on the client's clock. The
 * wait itself runs on CLOCK_MONOTONIC, so only the distance is converted:
 * this also works with an injected clock, at the cost of precision. */
static void wait_ns(lc_keeper *k, int64_t ns)
{
    if (ns <= 0)
        return;
    if (ns > lc__ms_to_ns(k->renew_every_ms))
        ns = lc__ms_to_ns(k->renew_every_ms);
    struct timespec until = lc__mono_after(ns);
    pthread_cond_timedwait(&k->changed, &k->mu, &until);
}

/* The earliest local deadline of a lease not lost, INT64_MAX if none.
 * Callers hold k->mu. */
static int64_t earliest_deadline(const lc_keeper *k)
{
    int64_t d = INT64_MAX;
    for (size_t i = 0; i < k->n; i++)
        if (!k->leases[i]->lost && k->leases[i]->deadline_ns < d)
            d = k->leases[i]->deadline_ns;
    return d;
}

/* Marks kl lost for good and makes the eventfd readable. on_loss is called
 * later, outside the mutex, by notify_losses. Callers hold k->mu. */
static void declare_lost(lc_keeper *k, kept *kl, lc_status how, const char *reason)
{
    if (kl->lost)
        return;
    kl->lost = how;
    lc__strlcpy(kl->reason, reason, sizeof(kl->reason));
    if (k->on_loss || kl->hooks.on_loss)
        k->unnotified++;
    else
        kl->notified = 1;
    uint64_t one = 1;
    if (write(k->efd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is full, so the fd is readable already. */
    }
    lc__client_log(k->client, LC_LOG_WARN, "lease on '%s' lost: %s", kl->name, reason);
    pthread_cond_broadcast(&k->changed);
}

/* The renewer sends a round every renew_every, less than half the ttl, so
 * a lease for which no round was sent between the renewal that set its
 * deadline and the deadline was not failed by the backend: this process
 * did not get to run (stopped, starved). */
static int renewer_was_late(const kept *kl)
{
    return kl->tried_ns == 0 || kl->tried_ns >= kl->deadline_ns;
}

/* Declares kl lost at its deadline, telling the backend's silence or
 * error (detail) from the keeper's own lateness. */
static void deadline_lost(lc_keeper *k, kept *kl, const char *detail)
{
    char reason[REASON_MAX];
    if (renewer_was_late(kl)) {
        snprintf(reason, sizeof(reason),
                 "deadline passed while this process was not running (stopped or starved): no "
                 "renewal was sent in the %" PRId64 " ms before it",
                 (kl->deadline_ns - kl->ok_sent_ns) / 1000000);
        declare_lost(k, kl, LC_ERR_TIMEOUT, reason);
        return;
    }
    snprintf(reason, sizeof(reason), "deadline passed while the backend was unreachable: %s",
             detail);
    declare_lost(k, kl, LC_ERR_UNAVAILABLE, reason);
}

/* Claims one lost lease whose on_loss calls are due: marks it notified and
 * counts the calls under way (kl->hook_calls keeps kl from being freed or
 * re-hooked until they end). NULL when none is due. Callers hold k->mu. */
static kept *claim_loss(lc_keeper *k, lc_lease_hooks *own)
{
    for (size_t i = 0; !k->stopping && k->unnotified > 0 && i < k->n; i++) {
        kept *kl = k->leases[i];
        if (kl->lost && !kl->notified) {
            kl->notified = 1;
            k->unnotified--;
            *own = kl->hooks;
            kl->hook_calls++;
            k->in_callback++;
            return kl;
        }
    }
    return NULL;
}

/* Calls on_loss (the keeper's, then the lease's own) once per lost lease,
 * without the mutex, so the callbacks may use the keeper. Each loss is
 * claimed under the mutex, so the renewer and the watchdog never report
 * one twice. */
static void notify_losses(lc_keeper *k)
{
    for (;;) {
        char name[LC_NAME_MAX + 1], reason[REASON_MAX];
        lc_lease_hooks own;
        pthread_mutex_lock(&k->mu);
        kept *kl = claim_loss(k, &own);
        if (kl) {
            lc__strlcpy(name, kl->name, sizeof(name));
            lc__strlcpy(reason, kl->reason, sizeof(reason));
        }
        pthread_mutex_unlock(&k->mu);
        if (kl == NULL)
            return;
        if (k->on_loss)
            k->on_loss(k->loss_ctx, name, reason);
        if (own.on_loss)
            own.on_loss(own.loss_ctx, name, reason);
        pthread_mutex_lock(&k->mu);
        kl->hook_calls--;
        k->in_callback--;
        pthread_cond_broadcast(&k->changed);
        pthread_mutex_unlock(&k->mu);
    }
}

/* The watchdog's step. Callers hold k->mu. */
static void check_locked(lc_keeper *k)
{
    int64_t now = now_ns(k);
    char detail[REASON_MAX];
    if (k->round_busy)
        snprintf(detail, sizeof(detail), "no reply to the renewal sent %" PRId64 " ms ago",
                 (now - k->round_sent_ns) / 1000000);
    else if (k->last_err[0])
        lc__strlcpy(detail, k->last_err, sizeof(detail));
    else
        lc__strlcpy(detail, "no renewal succeeded in time", sizeof(detail));
    for (size_t i = 0; i < k->n; i++) {
        kept *kl = k->leases[i];
        if (!kl->lost && now >= kl->deadline_ns)
            deadline_lost(k, kl, detail);
    }
}

void lc__keeper_check(lc_keeper *k)
{
    pthread_mutex_lock(&k->mu);
    check_locked(k);
    pthread_mutex_unlock(&k->mu);
    notify_losses(k);
}

/* Snapshots the leases not lost into r and marks them in flight. Returns
 * 0 when there is nothing to renew, -1 when out of memory. Callers hold
 * k->mu. */
static int round_begin(lc_keeper *k, round *r)
{
    size_t live = 0;
    for (size_t i = 0; i < k->n; i++)
        live += !k->leases[i]->lost;
    memset(r, 0, sizeof(*r));
    if (live == 0)
        return 0;
    r->members = calloc(live, sizeof(*r->members));
    r->items = calloc(live, sizeof(*r->items));
    if (r->members == NULL || r->items == NULL) {
        free(r->members);
        free(r->items);
        lc__strlcpy(k->last_err, "keeper: out of memory", sizeof(k->last_err));
        return -1;
    }
    r->sent_ns = k->round_sent_ns = now_ns(k);
    for (size_t i = 0; i < k->n; i++) {
        kept *kl = k->leases[i];
        if (kl->lost)
            continue;
        kl->in_flight = 1;
        if (kl->tried_ns == 0)
            kl->tried_ns = r->sent_ns;
        r->members[r->n] = kl;
        r->items[r->n] = (lc_renew_item){kl->name, kl->token, kl->ttl_ms, LC_ERR_INTERNAL};
        r->n++;
    }
    k->round_busy = 1;
    return 1;
}

/* Applies one member's reply. Returns 1 when the backend said LC_ERR_LOST
 * and the member stays in flight until its reason is known. */
static int apply_reply(lc_keeper *k, const round *r, kept *kl, const lc_renew_item *it,
                       lc_status rc, int64_t now)
{
    if (kl->lost)
        return 0;
    if (now >= kl->deadline_ns) {
        /* Checked before accepting anything: a reply after the deadline
         * never resurrects the lease, even when it says "renewed". */
        char detail[REASON_MAX];
        if (rc != LC_OK)
            lc__strlcpy(detail, k->last_err, sizeof(detail));
        else
            snprintf(detail, sizeof(detail),
                     "the renewal reply came %" PRId64 " ms after the local deadline",
                     (now - kl->deadline_ns) / 1000000);
        deadline_lost(k, kl, detail);
        return 0;
    }
    if (rc != LC_OK)
        return 0;
    if (it->status == LC_OK) {
        kl->deadline_ns = lc_deadline_after(r->sent_ns, kl->ttl_ms);
        kl->ok_sent_ns = r->sent_ns;
        kl->tried_ns = 0;
        if (k->on_renew && !k->stopping)
            k->on_renew(k->renew_ctx, kl->name, kl->deadline_ns);
        if (kl->hooks.on_renew && !k->stopping)
            kl->hooks.on_renew(kl->hooks.renew_ctx, kl->name, kl->deadline_ns);
    } else if (it->status == LC_ERR_LOST)
        return 1;
    else
        snprintf(k->last_err, sizeof(k->last_err), "renewal of '%s': %s", kl->name,
                 lc_status_name(it->status));
    return 0;
}

/* A member's part in a round is over: free it if it was removed meanwhile
 * (lc_keeper_remove leaves a lost lease in flight to the round). */
static void release_member(kept *kl)
{
    kl->in_flight = 0;
    if (kl->removed)
        free(kl);
}

/* Applies the replies; keeps in r only the members the backend called
 * lost, still in flight. Callers hold k->mu. */
static void round_finish(lc_keeper *k, round *r, lc_status rc, const lc_error *err)
{
    int64_t now = now_ns(k);
    k->round_busy = 0;
    if (rc != LC_OK)
        snprintf(k->last_err, sizeof(k->last_err), "%s",
                 err->message[0] ? err->message : lc_status_name(rc));
    else
        k->last_err[0] = '\0';
    size_t pending = 0;
    for (size_t i = 0; i < r->n; i++) {
        kept *kl = r->members[i];
        if (apply_reply(k, r, kl, &r->items[i], rc, now))
            r->members[pending++] = kl;
        else
            release_member(kl);
    }
    r->n = pending;
    pthread_cond_broadcast(&k->changed);
}

/* Best effort: asks the backend what became of a lease it called lost. */
static void lost_reason(lc_client *c, const kept *kl, char *buf, size_t size)
{
    lc_lock_info info;
    lc_error err;
    lc__strlcpy(buf, "not held with this token any more", size);
    if (lc_inspect(c, kl->name, &info, &err) != LC_OK)
        return;
    /* Owner and reason were read back from the backend, where any tool may
     * have written them; the reason ends up on a terminal. */
    char *owner = lc_text_escape(info.owner);
    char *last = lc_text_escape(info.last_error);
    if (info.fence > kl->fence)
        snprintf(buf, size, "taken over by %s (fence %" PRIu64 ")", owner ? owner : "?",
                 info.fence);
    else if (!info.held && info.last_error)
        snprintf(buf, size, "reset by an operator: %s", last ? last : "?");
    else if (!info.held)
        lc__strlcpy(buf, "lease expired", size);
    free(owner);
    free(last);
    lc_lock_info_clear(&info);
}

/* For the members the backend called lost: find the reason (outside the
 * mutex: it is a round trip), then declare the loss. */
static void round_resolve_lost(lc_keeper *k, round *r)
{
    char(*reasons)[REASON_MAX] = calloc(r->n, sizeof(*reasons));
    for (size_t i = 0; i < r->n; i++) {
        if (reasons == NULL)
            break;
        if (i < INSPECT_MAX)
            lost_reason(k->client, r->members[i], reasons[i], REASON_MAX);
        else
            lc__strlcpy(reasons[i], "not held with this token any more", REASON_MAX);
    }
    pthread_mutex_lock(&k->mu);
    for (size_t i = 0; i < r->n; i++) {
        declare_lost(k, r->members[i], LC_ERR_LOST,
                     reasons ? reasons[i] : "not held with this token any more");
        release_member(r->members[i]);
    }
    pthread_cond_broadcast(&k->changed);
    pthread_mutex_unlock(&k->mu);
    free(reasons);
}

/* Adds one round to the statistics. Callers hold k->mu. */
static void count_round(lc_keeper_stats *st, size_t leases, uint64_t requests, int64_t took_ns)
{
    st->ticks++;
    st->calls += requests;
    st->renewals += leases;
    st->last_tick_ns = took_ns;
    st->total_tick_ns += took_ns;
    if (took_ns > st->max_tick_ns)
        st->max_tick_ns = took_ns;
}

/* One round: snapshot, one backend call, apply. Returns the call's status
 * (LC_OK when there was nothing to renew). */
static lc_status keeper_round(lc_keeper *k)
{
    round r;
    pthread_mutex_lock(&k->mu);
    int have = round_begin(k, &r);
    k->in_round = have > 0;
    pthread_mutex_unlock(&k->mu);
    if (have <= 0)
        return have == 0 ? LC_OK : LC_ERR_NOMEM;

    lc_error err;
    lc__err_clear(&err);
    uint64_t requests = lc__client_requests(k->client);
    int64_t began = lc__mono_ns(NULL);
    lc_status rc = lc__client_renew_many(k->client, r.items, r.n, &err);
    int64_t took = lc__mono_ns(NULL) - began;
    requests = lc__client_requests(k->client) - requests;

    pthread_mutex_lock(&k->mu);
    count_round(&k->stats, r.n, requests, took);
    if (k->on_round)
        k->on_round(k->round_ctx, r.n, took, rc);
    round_finish(k, &r, rc, &err);
    pthread_mutex_unlock(&k->mu);
    if (r.n > 0)
        round_resolve_lost(k, &r);
    free(r.members);
    free(r.items);
    pthread_mutex_lock(&k->mu);
    k->in_round = 0;
    pthread_mutex_unlock(&k->mu);
    notify_losses(k);
    return rc;
}

void lc__keeper_tick(lc_keeper *k)
{
    keeper_round(k);
}

/* When the renewer sends next after a round that started at `start`: one
 * renew_every later, or sooner after a passing failure (jittered backoff),
 * but a retry is only worth it while it can land before the earliest
 * deadline. Callers hold k->mu. */
static int64_t next_round(lc_keeper *k, lc__backoff *bo, int64_t start, lc_status rc)
{
    int64_t next = lc__add_sat(start, lc__ms_to_ns(k->renew_every_ms));
    if (rc != LC_ERR_UNAVAILABLE && rc != LC_ERR_TIMEOUT) {
        lc__backoff_reset(bo);
        return next;
    }
    int64_t retry = lc__add_sat(now_ns(k), lc__ms_to_ns(lc__backoff_next(bo)));
    return retry < next && retry < earliest_deadline(k) ? retry : next;
}

static void keeper_free(lc_keeper *k);

/* Keepers stopped mid-round whose renewer has not finished yet (tests wait
 * for 0 before closing a client they lent). */
static atomic_int orphans;

int lc__keeper_orphans(void)
{
    return atomic_load(&orphans);
}

static void *renewer_main(void *arg)
{
    lc_keeper *k = arg;
    lc__backoff bo;
    int64_t max_ms = k->renew_every_ms / 4;
    lc__backoff_init(&bo, RETRY_MIN_MS, max_ms > RETRY_MIN_MS ? max_ms : RETRY_MIN_MS);
    pthread_mutex_lock(&k->mu);
    int64_t next = lc__add_sat(now_ns(k), lc__ms_to_ns(k->renew_every_ms));
    while (!k->stopping) {
        int64_t start = now_ns(k);
        if (start < next) {
            wait_ns(k, next - start);
            continue;
        }
        pthread_mutex_unlock(&k->mu);
        lc_status rc = keeper_round(k);
        pthread_mutex_lock(&k->mu);
        next = next_round(k, &bo, start, rc);
    }
    int orphaned = k->orphaned;
    pthread_mutex_unlock(&k->mu);
    if (orphaned) {
        keeper_free(k);
        atomic_fetch_sub(&orphans, 1);
    }
    return NULL;
}

static void *watchdog_main(void *arg)
{
    lc_keeper *k = arg;
    pthread_mutex_lock(&k->mu);
    while (!k->stopping) {
        check_locked(k);
        if (k->unnotified > 0) {
            pthread_mutex_unlock(&k->mu);
            notify_losses(k);
            pthread_mutex_lock(&k->mu);
            continue;
        }
        int64_t d = earliest_deadline(k);
        int64_t now = now_ns(k);
        wait_ns(k, d == INT64_MAX ? INT64_MAX : d - now);
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

static lc_status keeper_new(lc_client *c, int owns, const lc_keeper_opts *kopts, lc_keeper **out,
                            lc_error *err)
{
    static const lc_keeper_opts none;
    if (kopts == NULL)
        kopts = &none;
    int64_t every = kopts->renew_every_ms > 0 ? kopts->renew_every_ms
                                              : lc_client_config(c)->lock.renew_every_ms;
    if (every <= 0)
        return lc__err(err, LC_ERR_CONFIG, 0, "keeper: renew_every must be positive");
    lc_keeper *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    k->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (k->efd < 0) {
        int e = errno;
        free(k);
        return lc__err(err, LC_ERR_INTERNAL, e, "keeper: eventfd: %s", strerror(e));
    }
    lc__cond_init_mono(&k->changed);
    pthread_mutex_init(&k->mu, NULL);
    k->client = c;
    k->owns_client = owns;
    k->renew_every_ms = every;
    k->on_loss = kopts->on_loss;
    k->loss_ctx = kopts->loss_ctx;
    k->on_renew = kopts->on_renew;
    k->renew_ctx = kopts->renew_ctx;
    *out = k;
    return LC_OK;
}

static void keeper_free(lc_keeper *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->leases[i]);
    free(k->leases);
    if (k->owns_client)
        lc_client_close(k->client);
    close(k->efd);
    pthread_cond_destroy(&k->changed);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

/* Stops and joins the renewer (when the watchdog could not be started). */
static void stop_renewer(lc_keeper *k)
{
    pthread_mutex_lock(&k->mu);
    k->stopping = 1;
    pthread_cond_broadcast(&k->changed);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->renewer, NULL);
}

static lc_status start_threads(lc_keeper *k, lc_error *err)
{
    int e = lc__thread_start(&k->renewer, NULL, renewer_main, k);
    if (e == 0) {
        e = lc__thread_start(&k->watchdog, NULL, watchdog_main, k);
        if (e == 0) {
            k->threads = 1;
            return LC_OK;
        }
        stop_renewer(k);
    }
    return lc__err(err, LC_ERR_INTERNAL, e, "keeper: starting a thread: %s", strerror(e));
}

static lc_status start_on(lc_client *c, int owns, int threads, const lc_keeper_opts *kopts,
                          lc_keeper **out, lc_error *err)
{
    lc_keeper *k = NULL;
    lc_status rc = keeper_new(c, owns, kopts, &k, err);
    if (rc == LC_OK && threads && (rc = start_threads(k, err)) != LC_OK) {
        k->owns_client = 0; /* on error the caller keeps what it gave */
        keeper_free(k);
    }
    if (rc == LC_OK)
        *out = k;
    return rc;
}

lc_status lc_keeper_start(const lc_config *cfg, const lc_client_opts *copts,
                          const lc_keeper_opts *kopts, lc_keeper **out, lc_error *err)
{
    lc_client *c;
    lc_status rc = lc_client_open(cfg, copts, &c, err);
    if (rc != LC_OK)
        return rc;
    if ((rc = start_on(c, 1, 1, kopts, out, err)) != LC_OK)
        lc_client_close(c);
    return rc;
}

lc_status lc__keeper_start_manual(lc_client *c, const lc_keeper_opts *kopts, lc_keeper **out,
                                  lc_error *err)
{
    return start_on(c, 0, 0, kopts, out, err);
}

lc_status lc__keeper_start_threaded(lc_client *c, const lc_keeper_opts *kopts, lc_keeper **out,
                                    lc_error *err)
{
    return start_on(c, 0, 1, kopts, out, err);
}

/* Never waits for the backend: a renewer stuck in a round on a frozen
 * server is left to finish it on its own and then frees the keeper, so a
 * holder that lost its lease can exit before the server's ttl runs out.
 * Order matters: the watchdog is joined first, and only then is the
 * renewer told (under the mutex) that it owns the keeper; after that this
 * thread touches nothing of k. */
void lc_keeper_stop(lc_keeper *k)
{
    if (k == NULL)
        return;
    if (!k->threads) {
        keeper_free(k);
        return;
    }
    pthread_mutex_lock(&k->mu);
    /* Losses declared so far are still reported (the watchdog delivers them
     * promptly: callbacks must not block); then no new on_loss call starts,
     * so none runs after this returns. */
    while (k->unnotified > 0 || k->in_callback > 0)
        pthread_cond_wait(&k->changed, &k->mu);
    k->stopping = 1;
    pthread_cond_broadcast(&k->changed);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->watchdog, NULL);

    pthread_t renewer = k->renewer;
    pthread_mutex_lock(&k->mu);
    int orphan = k->in_round;
    k->orphaned = orphan;
    if (orphan)
        atomic_fetch_add(&orphans, 1);
    pthread_mutex_unlock(&k->mu);
    if (orphan) {
        pthread_detach(renewer);
        return;
    }
    pthread_join(renewer, NULL);
    keeper_free(k);
}

static lc_status check_addable(const lc_keeper *k, const lc_lease *lease, lc_error *err)
{
    if (lease->deadline_ns == 0)
        return lc__err(err, LC_ERR_INVALID, 0,
                       "keeper: lease on '%s' has no local deadline: renew it first", lease->name);
    lc_status rc = lc__timing_check_renew(lease->ttl_ms, k->renew_every_ms, err);
    if (rc != LC_OK)
        lc__err_prefix(err, "keeper: lease on '%s'", lease->name);
    return rc;
}

/* Appends kl; 0 on success, -1 when out of memory. Callers hold k->mu. */
static int append(lc_keeper *k, kept *kl)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 16;
        kept **grown = realloc(k->leases, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        k->leases = grown;
        k->cap = cap;
    }
    k->leases[k->n++] = kl;
    pthread_cond_broadcast(&k->changed);
    return 0;
}

lc_status lc_keeper_add(lc_keeper *k, lc_lease *lease, lc_error *err)
{
    lc_status rc = check_addable(k, lease, err);
    if (rc != LC_OK)
        return rc;
    kept *kl = calloc(1, sizeof(*kl));
    if (kl == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    kl->lease = lease;
    lc__strlcpy(kl->name, lease->name, sizeof(kl->name));
    lc__strlcpy(kl->token, lease->token, sizeof(kl->token));
    kl->fence = lease->fence;
    kl->ttl_ms = lease->ttl_ms;
    kl->deadline_ns = lease->deadline_ns;
    kl->ok_sent_ns = lease->deadline_ns - lc_deadline_after(0, lease->ttl_ms);
    pthread_mutex_lock(&k->mu);
    if (find(k, lease, NULL))
        rc = lc__err(err, LC_ERR_INVALID, 0, "keeper: lease on '%s' is kept already", kl->name);
    else if (append(k, kl) != 0)
        rc = lc__err(err, LC_ERR_NOMEM, 0, "out of memory");
    pthread_mutex_unlock(&k->mu);
    if (rc != LC_OK)
        free(kl);
    return rc;
}

lc_status lc_keeper_remove(lc_keeper *k, lc_lease *lease)
{
    size_t i = 0;
    kept *kl;
    pthread_mutex_lock(&k->mu);
    /* A renewal in flight could land after the caller's release: wait. A
     * lost lease will not be released, so its renewal may finish alone. Its
     * own on_loss, when running, is waited for too: its context may go
     * once this returns. */
    while ((kl = find(k, lease, &i)) != NULL && ((kl->in_flight && !kl->lost) || kl->hook_calls))
        pthread_cond_wait(&k->changed, &k->mu);
    lc_status lost = kl ? kl->lost : LC_OK;
    if (kl != NULL) {
        k->leases[i] = k->leases[--k->n];
        if (kl->lost && !kl->notified) {
            k->unnotified--; /* removed: its loss is the caller's news now */
            pthread_cond_broadcast(&k->changed);
        }
        lease->deadline_ns = kl->deadline_ns;
        if (kl->in_flight)
            kl->removed = 1; /* the round frees it */
        else
            free(kl);
    }
    pthread_mutex_unlock(&k->mu);
    return lost;
}

lc_status lc_keeper_hook(lc_keeper *k, const lc_lease *lease, const lc_lease_hooks *hooks,
                         lc_error *err)
{
    static const lc_lease_hooks none;
    kept *kl;
    pthread_mutex_lock(&k->mu);
    /* The old on_loss may be running: its context may go once this
     * returns. */
    while ((kl = find(k, lease, NULL)) != NULL && kl->hook_calls)
        pthread_cond_wait(&k->changed, &k->mu);
    if (kl != NULL) {
        kl->hooks = hooks ? *hooks : none;
        if (kl->hooks.on_renew && !kl->lost && !k->stopping)
            kl->hooks.on_renew(kl->hooks.renew_ctx, kl->name, kl->deadline_ns);
    }
    pthread_mutex_unlock(&k->mu);
    if (kl == NULL)
        return lc__err(err, LC_ERR_INVALID, 0, "keeper: lease on '%s' is not kept", lease->name);
    return LC_OK;
}

void lc__keeper_on_round(lc_keeper *k, lc__round_fn fn, void *ctx)
{
    pthread_mutex_lock(&k->mu);
    k->on_round = fn;
    k->round_ctx = ctx;
    pthread_mutex_unlock(&k->mu);
}

void lc_keeper_read_stats(lc_keeper *k, lc_keeper_stats *out)
{
    pthread_mutex_lock(&k->mu);
    *out = k->stats;
    pthread_mutex_unlock(&k->mu);
}

lc_status lc_keeper_lost(lc_keeper *k, const lc_lease *lease, char *reason, size_t size)
{
    pthread_mutex_lock(&k->mu);
    kept *kl = find(k, lease, NULL);
    lc_status lost = kl ? kl->lost : LC_OK;
    if (lost != LC_OK && reason && size)
        lc__strlcpy(reason, kl->reason, size);
    pthread_mutex_unlock(&k->mu);
    return lost;
}

int64_t lc__keeper_now_ns(const lc_keeper *k)
{
    return now_ns(k);
}

void lc__keeper_log(const lc_keeper *k, lc_log_level level, const char *msg)
{
    lc__client_log(k->client, level, "%s", msg);
}

int lc_keeper_fd(const lc_keeper *k)
{
    return k->efd;
}

int64_t lc_keeper_deadline_ns(lc_keeper *k, const lc_lease *lease)
{
    pthread_mutex_lock(&k->mu);
    kept *kl = find(k, lease, NULL);
    int64_t d = kl ? kl->deadline_ns : 0;
    pthread_mutex_unlock(&k->mu);
    return d;
}
