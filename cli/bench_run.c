/* cli/bench_run.c -- `bench cycles` and `bench contend`: one thread per
 * client, each with a client (and a reference) of its own, measuring in
 * slices. With --reference the slices alternate between lockcoord and the
 * backend's floor (A B A B ...), so whatever else loads the machine hits
 * both sides alike.
 *
 * The main thread runs the slices: it tells the threads which side to
 * measure, opens them together (a barrier), ends the slice after its time
 * (a flag, and an eventfd that cancels waiting acquires), and waits for
 * every thread to finish the operation under way (a second barrier). An
 * operation counts in the slice it ended in; the slice's time is from the
 * first barrier to the end. A warm-up slice of each side goes first
 * (connections, scripts, prepared statements) and counts nothing.
 *
 * contend checks mutual exclusion while it measures: a holder that finds
 * the "inside" counter above zero, or a fence not above the one before,
 * is counted. Handoffs pair holder k's release with holder k+1's acquire,
 * in the order holders entered, through a ring of slots: whichever of the
 * two writes its half second records the difference. */
#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define RING          1024
#define WARM_MAX_MS   200
#define SLICE_MS      250 /* with --reference: about this long, at most MAX_SLICES */
#define MAX_SLICES    20
#define PROGRESS_MS   100
#define CLAIM_POLL_MS 20

typedef struct pair {
    atomic_int halves;
    int64_t released_ns; /* holder k's release returned */
    int64_t acquired_ns; /* holder k+1's acquire returned */
} pair;

typedef struct shared shared;

typedef struct worker {
    shared *sh;
    int id;
    lc_client *client;
    lc_bench_ref *ref;
    char name[LC_NAME_MAX + 1];
    bench_side side[SIDES];
    lc_status rc;
    char what[64]; /* the operation that failed */
    lc_error err;
    pthread_t thread;
} worker;

struct shared {
    const bench_opts *o;
    int64_t ttl_ms;
    /* Written by the main thread while the workers wait at a barrier. */
    int side, warm, quit;
    pthread_barrier_t start, end;
    pthread_mutex_t gate_mu;
    pthread_cond_t gate_cv;
    int gate; /* 0 closed, 1 open, -1 abandoned (a thread could not start) */
    atomic_int stop;
    _Atomic int64_t stop_ns;
    atomic_int failed;
    int cancel_fd;
    atomic_uint_fast64_t done[SIDES]; /* operations so far, for the progress line */
    /* contend */
    atomic_int inside;
    atomic_uint_fast64_t last_fence, seq, holders, overlaps, regressions;
    pair ring[RING];
    worker *w;
    int n;
};

int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
    if (ns <= 0)
        return;
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void fail(worker *w, lc_status rc, const char *what)
{
    w->rc = rc;
    snprintf(w->what, sizeof(w->what), "%s", what);
    atomic_store(&w->sh->failed, 1);
}

/* Whether what ended at end_ns counts: the slice is not a warm-up and it
 * ended before the slice did. */
static int kept(worker *w, int64_t end_ns)
{
    shared *sh = w->sh;
    return !sh->warm && end_ns <= atomic_load_explicit(&sh->stop_ns, memory_order_relaxed);
}

/* One more cycle or acquisition, for the progress line. */
static void done_one(worker *w)
{
    shared *sh = w->sh;
    if (sh->o->progress)
        atomic_fetch_add_explicit(&sh->done[sh->side], 1, memory_order_relaxed);
}

static int stopping(const shared *sh)
{
    return atomic_load_explicit(&sh->stop, memory_order_relaxed);
}

/* ---- cycles ---------------------------------------------------------------- */

static void count_cycle(worker *w, bench_side *s, int64_t t0, int64_t t1, int64_t t2)
{
    done_one(w);
    if (!kept(w, t2))
        return;
    bench_hist_add(&s->acquire, t1 - t0);
    bench_hist_add(&s->release, t2 - t1);
    bench_hist_add(&s->main, t2 - t0);
    s->ops++;
}

static void cycles_lc(worker *w, bench_side *s)
{
    lc_acquire_opts ao = {.ttl_ms = w->sh->ttl_ms, .wait_ms = -1};
    while (!stopping(w->sh)) {
        lc_lease *l = NULL;
        int64_t t0 = bench_now_ns();
        lc_status rc = lc_acquire(w->client, w->name, &ao, &l, &w->err);
        int64_t t1 = bench_now_ns();
        if (rc != LC_OK) {
            fail(w, rc, "acquire");
            return;
        }
        rc = lc_release(w->client, l, NULL, &w->err);
        int64_t t2 = bench_now_ns();
        lc_lease_free(l);
        if (rc != LC_OK) {
            fail(w, rc, "release");
            return;
        }
        count_cycle(w, s, t0, t1, t2);
    }
}

/* A fresh token per acquisition, made inside the timed part, as
 * lc_acquire makes its own. */
static void cycles_ref(worker *w, bench_side *s)
{
    char tok[LC_TOKEN_LEN + 1];
    while (!stopping(w->sh)) {
        int64_t t0 = bench_now_ns();
        lc_status rc = lc_token_new(tok, &w->err);
        if (rc == LC_OK)
            rc = lc_bench_ref_acquire(w->ref, w->name, tok, w->sh->ttl_ms, &w->err);
        int64_t t1 = bench_now_ns();
        if (rc != LC_OK) {
            fail(w, rc, "reference acquire");
            return;
        }
        rc = lc_bench_ref_release(w->ref, w->name, tok, &w->err);
        int64_t t2 = bench_now_ns();
        if (rc != LC_OK) {
            fail(w, rc, "reference release");
            return;
        }
        count_cycle(w, s, t0, t1, t2);
    }
}

/* ---- contend --------------------------------------------------------------- */

/* Writes one half of a handoff; the second half records it. */
static void pair_half(worker *w, bench_side *s, pair *p, int64_t *slot, int64_t ns)
{
    *slot = ns;
    if (atomic_fetch_add(&p->halves, 1) != 1)
        return;
    int64_t acquired = p->acquired_ns, released = p->released_ns;
    atomic_store(&p->halves, 0);
    if (kept(w, acquired))
        bench_hist_add(&s->main, acquired - released);
}

/* A holder is in: checks (lockcoord's holders only), takes its place in
 * the order of holders, counts its wait. Returns its place. */
static uint64_t enter(worker *w, bench_side *s, int64_t t0, int64_t t1, const lc_lease *l)
{
    shared *sh = w->sh;
    if (l) {
        if (atomic_fetch_add(&sh->inside, 1) != 0)
            atomic_fetch_add(&sh->overlaps, 1);
        uint64_t fence = lc_lease_fence(l);
        if (fence <= atomic_exchange(&sh->last_fence, fence))
            atomic_fetch_add(&sh->regressions, 1);
        atomic_fetch_add(&sh->holders, 1);
    }
    done_one(w);
    uint64_t k = atomic_fetch_add(&sh->seq, 1);
    if (k > 0) {
        pair *p = &sh->ring[(k - 1) % RING];
        pair_half(w, s, p, &p->acquired_ns, t1);
    }
    if (kept(w, t1)) {
        bench_hist_add(&s->wait, t1 - t0);
        s->ops++;
    }
    return k;
}

static void released(worker *w, bench_side *s, uint64_t k, int64_t t2)
{
    pair *p = &w->sh->ring[k % RING];
    pair_half(w, s, p, &p->released_ns, t2);
}

static void cut_wait(worker *w, bench_side *s, int64_t waited)
{
    if (!w->sh->warm && waited > s->cut_wait_max_ns)
        s->cut_wait_max_ns = waited;
}

static void contend_lc(worker *w, bench_side *s)
{
    shared *sh = w->sh;
    lc_acquire_opts ao = {
        .ttl_ms = sh->ttl_ms, .wait_ms = sh->o->duration_ms + 60000, .cancel_fd = sh->cancel_fd};
    while (!stopping(sh)) {
        lc_lease *l = NULL;
        int64_t t0 = bench_now_ns();
        lc_status rc = lc_acquire(w->client, w->name, &ao, &l, &w->err);
        int64_t t1 = bench_now_ns();
        if (rc == LC_ERR_CANCELLED) {
            cut_wait(w, s, t1 - t0);
            return;
        }
        if (rc != LC_OK) {
            fail(w, rc, "acquire");
            return;
        }
        uint64_t k = enter(w, s, t0, t1, l);
        sleep_ns(sh->o->hold_ms * 1000000);
        atomic_fetch_sub(&sh->inside, 1); /* before the release: the next may enter at once */
        rc = lc_release(w->client, l, NULL, &w->err);
        int64_t t2 = bench_now_ns();
        lc_lease_free(l);
        if (rc != LC_OK) {
            fail(w, rc, "release");
            return;
        }
        released(w, s, k, t2);
    }
}

/* The floor has no waiting: it asks again at once. */
static void contend_ref(worker *w, bench_side *s)
{
    shared *sh = w->sh;
    char tok[LC_TOKEN_LEN + 1];
    while (!stopping(sh)) {
        int64_t t0 = bench_now_ns();
        lc_status rc = lc_token_new(tok, &w->err);
        while (rc == LC_OK && (rc = lc_bench_ref_acquire(w->ref, w->name, tok, sh->ttl_ms,
                                                         &w->err)) == LC_ERR_CONFLICT) {
            if (stopping(sh)) {
                cut_wait(w, s, bench_now_ns() - t0);
                return;
            }
            rc = LC_OK;
        }
        int64_t t1 = bench_now_ns();
        if (rc != LC_OK) {
            fail(w, rc, "reference acquire");
            return;
        }
        uint64_t k = enter(w, s, t0, t1, NULL);
        sleep_ns(sh->o->hold_ms * 1000000);
        rc = lc_bench_ref_release(w->ref, w->name, tok, &w->err);
        int64_t t2 = bench_now_ns();
        if (rc != LC_OK) {
            fail(w, rc, "reference release");
            return;
        }
        released(w, s, k, t2);
    }
}

/* ---- the threads ----------------------------------------------------------- */

/* A run killed midway leaves its leases held until their ttl: wait that
 * out once here, so no slice meets one. */
static void claim(worker *w)
{
    shared *sh = w->sh;
    lc_acquire_opts ao = {.ttl_ms = sh->ttl_ms, .wait_ms = sh->ttl_ms + 1000};
    lc_lease *l = NULL;
    lc_status rc = lc_acquire(w->client, w->name, &ao, &l, &w->err);
    if (rc == LC_OK)
        rc = lc_release(w->client, l, NULL, &w->err);
    lc_lease_free(l);
    if (rc != LC_OK) {
        fail(w, rc, "acquire");
        return;
    }
    if (w->ref == NULL)
        return;
    char tok[LC_TOKEN_LEN + 1];
    int64_t until = bench_now_ns() + (sh->ttl_ms + 1000) * 1000000;
    if ((rc = lc_token_new(tok, &w->err)) != LC_OK) {
        fail(w, rc, "token");
        return;
    }
    while ((rc = lc_bench_ref_acquire(w->ref, w->name, tok, sh->ttl_ms, &w->err)) ==
               LC_ERR_CONFLICT &&
           bench_now_ns() < until)
        sleep_ns(CLAIM_POLL_MS * 1000000);
    if (rc == LC_OK)
        rc = lc_bench_ref_release(w->ref, w->name, tok, &w->err);
    if (rc != LC_OK)
        fail(w, rc, "reference acquire");
}

static void run_slice(worker *w)
{
    shared *sh = w->sh;
    bench_side *s = &w->side[sh->side];
    if (sh->o->mode == BENCH_CYCLES)
        (sh->side == SIDE_LC ? cycles_lc : cycles_ref)(w, s);
    else
        (sh->side == SIDE_LC ? contend_lc : contend_ref)(w, s);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    shared *sh = w->sh;
    claim(w);
    pthread_mutex_lock(&sh->gate_mu);
    while (sh->gate == 0)
        pthread_cond_wait(&sh->gate_cv, &sh->gate_mu);
    int go = sh->gate > 0;
    pthread_mutex_unlock(&sh->gate_mu);
    while (go) {
        pthread_barrier_wait(&sh->start);
        if (sh->quit)
            break;
        if (w->rc == LC_OK && !atomic_load(&sh->failed))
            run_slice(w);
        pthread_barrier_wait(&sh->end);
    }
    return NULL;
}

/* ---- the main thread ------------------------------------------------------- */

static lc_status out_of_memory(lc_error *err)
{
    err->code = LC_ERR_NOMEM;
    err->sys_errno = 0;
    snprintf(err->message, sizeof(err->message), "out of memory");
    return LC_ERR_NOMEM;
}

static const char *const side_names[SIDES] = {"lockcoord", "reference"};

static void show_progress(shared *sh, int side, int warm, int64_t elapsed_ns, int64_t total_ns)
{
    const bench_opts *o = sh->o;
    if (!o->progress)
        return;
    char ref[48] = "";
    if (o->reference)
        snprintf(ref, sizeof(ref), ", %llu by the reference",
                 (unsigned long long)atomic_load(&sh->done[SIDE_REF]));
    bench_progress(o, "bench: %s %.1fs of %.1fs, %s%s; %llu %s by lockcoord%s",
                   o->mode == BENCH_CYCLES ? "cycles" : "contend", (double)elapsed_ns / 1e9,
                   (double)total_ns / 1e9, warm ? "warming up " : "", side_names[side],
                   (unsigned long long)atomic_load(&sh->done[SIDE_LC]),
                   o->mode == BENCH_CYCLES ? "cycles" : "acquisitions", ref);
}

/* One slice of `side` lasting ms; returns its measured time in ns.
 * *elapsed_ns counts timed slices for the progress line. */
static int64_t slice(shared *sh, int side, int warm, int64_t ms, int64_t *elapsed_ns,
                     int64_t total_ns)
{
    sh->side = side;
    sh->warm = warm;
    atomic_store(&sh->stop, 0);
    atomic_store(&sh->stop_ns, INT64_MAX);
    atomic_store(&sh->inside, 0);
    atomic_store(&sh->seq, 0);
    for (int i = 0; i < RING; i++)
        atomic_store(&sh->ring[i].halves, 0);
    pthread_barrier_wait(&sh->start);
    int64_t t0 = bench_now_ns(), until = t0 + ms * 1000000, now = t0;
    while (now < until && !atomic_load(&sh->failed)) {
        int64_t step = until - now < PROGRESS_MS * 1000000 ? until - now : PROGRESS_MS * 1000000;
        sleep_ns(step);
        now = bench_now_ns();
        show_progress(sh, side, warm, *elapsed_ns + (warm ? 0 : now - t0), total_ns);
    }
    atomic_store(&sh->stop_ns, now);
    atomic_store(&sh->stop, 1);
    uint64_t one = 1;
    if (write(sh->cancel_fd, &one, sizeof(one)) < 0) {
        /* cannot fail on an eventfd below its maximum */
    }
    pthread_barrier_wait(&sh->end);
    uint64_t drained;
    if (read(sh->cancel_fd, &drained, sizeof(drained)) < 0) {
        /* readable: written above */
    }
    if (!warm)
        *elapsed_ns += now - t0;
    return now - t0;
}

/* The timed slices of each side: one without a reference, else about
 * SLICE_MS each (at most MAX_SLICES), alternating. */
static int slices_of(const bench_opts *o)
{
    if (!o->reference)
        return 1;
    int64_t n = o->duration_ms / SLICE_MS;
    return n < 1 ? 1 : n > MAX_SLICES ? MAX_SLICES : (int)n;
}

static void run_slices(shared *sh, bench_result *r)
{
    const bench_opts *o = sh->o;
    int sides = o->reference ? SIDES : 1;
    int n = slices_of(o);
    int64_t warm = o->duration_ms / 5 < WARM_MAX_MS ? o->duration_ms / 5 : WARM_MAX_MS;
    int64_t each = o->duration_ms / n, elapsed = 0, total = o->duration_ms * sides * 1000000;
    for (int s = 0; s < sides && !atomic_load(&sh->failed); s++)
        slice(sh, s, 1, warm > 0 ? warm : 1, &elapsed, total);
    for (int i = 0; i < n * sides && !atomic_load(&sh->failed); i++) {
        int s = i % sides;
        int64_t ms = i / sides == n - 1 ? o->duration_ms - each * (n - 1) : each;
        r->side[s].seconds += (double)slice(sh, s, 0, ms, &elapsed, total) / 1e9;
    }
    r->slices = n;
}

static void workers_close(shared *sh)
{
    for (int i = 0; i < sh->n; i++) {
        lc_bench_ref_close(sh->w[i].ref);
        lc_client_close(sh->w[i].client);
    }
    free(sh->w);
}

static lc_status workers_open(shared *sh, lc_error *err)
{
    const bench_opts *o = sh->o;
    sh->w = calloc((size_t)o->clients, sizeof(*sh->w));
    if (sh->w == NULL)
        return out_of_memory(err);
    for (int i = 0; i < o->clients; i++) {
        worker *w = &sh->w[i];
        w->sh = sh;
        w->id = i;
        if (o->mode == BENCH_CYCLES)
            snprintf(w->name, sizeof(w->name), "lockcoord-bench.cycles.%d", i + 1);
        else
            snprintf(w->name, sizeof(w->name), "lockcoord-bench.contend");
        bench_progress(o, "bench: connecting client %d of %d", i + 1, o->clients);
        lc_status rc = lc_client_open(o->cfg, &o->copts, &w->client, err);
        if (rc == LC_OK && o->reference)
            rc = lc_bench_ref_open(w->client, &w->ref, err);
        sh->n = i + 1;
        if (rc != LC_OK)
            return rc;
    }
    return LC_OK;
}

/* Starts the threads behind a closed gate, so that a thread that cannot be
 * started leaves none waiting at a barrier. Returns how many started. */
static int threads_start(shared *sh)
{
    int started = 0;
    for (; started < sh->n; started++)
        if (pthread_create(&sh->w[started].thread, NULL, worker_main, &sh->w[started]) != 0)
            break;
    pthread_mutex_lock(&sh->gate_mu);
    sh->gate = started == sh->n ? 1 : -1;
    pthread_cond_broadcast(&sh->gate_cv);
    pthread_mutex_unlock(&sh->gate_mu);
    return started;
}

static lc_status merge(shared *sh, bench_result *r, lc_error *err)
{
    for (int s = 0; s < SIDES; s++) {
        bench_side *into = &r->side[s];
        into->measured = s == SIDE_LC || sh->o->reference;
        into->per_client = calloc((size_t)sh->n, sizeof(*into->per_client));
        if (into->per_client == NULL)
            return out_of_memory(err);
        for (int i = 0; i < sh->n; i++) {
            const bench_side *from = &sh->w[i].side[s];
            bench_hist_merge(&into->main, &from->main);
            bench_hist_merge(&into->acquire, &from->acquire);
            bench_hist_merge(&into->release, &from->release);
            bench_hist_merge(&into->wait, &from->wait);
            if (from->cut_wait_max_ns > into->cut_wait_max_ns)
                into->cut_wait_max_ns = from->cut_wait_max_ns;
            into->ops += from->ops;
            into->per_client[i] = from->ops;
        }
    }
    r->holders = atomic_load(&sh->holders);
    r->overlaps = atomic_load(&sh->overlaps);
    r->fence_regressions = atomic_load(&sh->regressions);
    return LC_OK;
}

/* The first failure of a thread, with what it was doing. */
static lc_status first_failure(shared *sh, lc_error *err)
{
    for (int i = 0; i < sh->n; i++) {
        worker *w = &sh->w[i];
        if (w->rc == LC_OK)
            continue;
        if (err) {
            *err = w->err;
            snprintf(err->message, sizeof(err->message), "client %d: %s %s: %s", i + 1, w->what,
                     w->name, w->err.message);
        }
        return w->rc;
    }
    return LC_OK;
}

static lc_status run_threads(shared *sh, bench_result *r, lc_error *err)
{
    int started = threads_start(sh);
    if (started == sh->n) {
        run_slices(sh, r);
        sh->quit = 1;
        pthread_barrier_wait(&sh->start);
    }
    for (int i = 0; i < started; i++)
        pthread_join(sh->w[i].thread, NULL);
    lc_status rc = first_failure(sh, err);
    if (rc == LC_OK && started < sh->n) {
        snprintf(err->message, sizeof(err->message), "cannot start %d threads", sh->n);
        rc = err->code = LC_ERR_INTERNAL;
    }
    return rc == LC_OK ? merge(sh, r, err) : rc;
}

lc_status bench_run(const bench_opts *o, bench_result *r, lc_error *err)
{
    shared *sh = calloc(1, sizeof(*sh));
    if (sh == NULL)
        return out_of_memory(err);
    sh->o = o;
    sh->ttl_ms = BENCH_TTL_MS + 2 * o->hold_ms;
    sh->cancel_fd = eventfd(0, EFD_CLOEXEC);
    lc_status rc = LC_ERR_INTERNAL;
    if (sh->cancel_fd < 0) {
        err->code = rc;
        err->sys_errno = errno;
        snprintf(err->message, sizeof(err->message), "eventfd: %s", strerror(errno));
    } else {
        rc = workers_open(sh, err);
    }
    if (rc == LC_OK) {
        pthread_barrier_init(&sh->start, NULL, (unsigned)sh->n + 1);
        pthread_barrier_init(&sh->end, NULL, (unsigned)sh->n + 1);
        pthread_mutex_init(&sh->gate_mu, NULL);
        pthread_cond_init(&sh->gate_cv, NULL);
        bench_progress(o, "bench: claiming the benchmark's locks");
        rc = run_threads(sh, r, err);
        pthread_cond_destroy(&sh->gate_cv);
        pthread_mutex_destroy(&sh->gate_mu);
        pthread_barrier_destroy(&sh->end);
        pthread_barrier_destroy(&sh->start);
    }
    if (r->floor == NULL && sh->n > 0 && sh->w[0].ref)
        r->floor = lc_bench_ref_floor(sh->w[0].ref);
    workers_close(sh);
    if (sh->cancel_fd >= 0)
        close(sh->cancel_fd);
    free(sh);
    bench_progress(o, NULL);
    return rc;
}

void bench_result_free(bench_result *r)
{
    for (int s = 0; s < SIDES; s++) {
        free(r->side[s].per_client);
        r->side[s].per_client = NULL;
    }
}
