/* cli/bench_renew.c -- `bench renew`: one keeper holding --leases leases,
 * renewing them every BENCH_RENEW_EVERY_MS; each tick's time and requests
 * are read from the keeper's statistics (lc_keeper_read_stats), polled
 * often enough to see every tick. With --reference, a tick of the floor
 * (all leases in one request) runs in each gap between two of the
 * keeper's, when it fits there, so the two alternate tick by tick. The
 * first tick of each is a warm-up and is not counted. */
#include "bench.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_NS       1000000
#define PROGRESS_NS   100000000
#define CLAIM_POLL_MS 20
#define OVERTIME_MS   5000 /* past --duration, waiting for a first tick of each */

typedef struct renew_run {
    const bench_opts *o;
    bench_result *r;
    int n;
    char (*names)[LC_NAME_MAX + 1];
    char (*tokens)[LC_TOKEN_LEN + 1]; /* the reference's */
    const char **np, **tp;
    lc_lease **leases;
    int taken, ref_taken, kept;
    lc_client *ref_client;
    lc_bench_ref *ref;
    lc_keeper *k;
    /* the measuring */
    lc_keeper_stats prev;
    int lc_warm, ref_warm;
    int64_t ref_last_ns;
} renew_run;

static void sleep_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static lc_status fail(lc_error *err, lc_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static lc_status fail(lc_error *err, lc_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    err->code = code;
    err->sys_errno = 0;
    return code;
}

/* err->message prefixed with what was done. */
static lc_status prefixed(lc_error *err, lc_status rc, const char *what, const char *name)
{
    char msg[sizeof(err->message)];
    snprintf(msg, sizeof(msg), "%s %s: %s", what, name, err->message);
    snprintf(err->message, sizeof(err->message), "%s", msg);
    return rc;
}

static lc_status alloc(renew_run *rr, lc_error *err)
{
    size_t n = (size_t)rr->n;
    rr->names = calloc(n, sizeof(*rr->names));
    rr->tokens = calloc(n, sizeof(*rr->tokens));
    rr->np = calloc(n, sizeof(*rr->np));
    rr->tp = calloc(n, sizeof(*rr->tp));
    rr->leases = calloc(n, sizeof(*rr->leases));
    if (!rr->names || !rr->tokens || !rr->np || !rr->tp || !rr->leases)
        return fail(err, LC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < rr->n; i++) {
        snprintf(rr->names[i], sizeof(rr->names[i]), "lockcoord-bench.renew.%d", i + 1);
        rr->np[i] = rr->names[i];
        rr->tp[i] = rr->tokens[i];
    }
    return LC_OK;
}

/* Every lease, waiting out any a killed run left behind. */
static lc_status take_all(renew_run *rr, lc_error *err)
{
    lc_acquire_opts ao = {.ttl_ms = BENCH_TTL_MS, .wait_ms = BENCH_TTL_MS + 1000};
    for (; rr->taken < rr->n; rr->taken++) {
        if (rr->taken % 50 == 0)
            bench_progress(rr->o, "bench: renew: taking lease %d of %d", rr->taken + 1, rr->n);
        lc_status rc =
            lc_acquire(rr->o->client, rr->names[rr->taken], &ao, &rr->leases[rr->taken], err);
        if (rc != LC_OK)
            return prefixed(err, rc, "acquire", rr->names[rr->taken]);
    }
    return LC_OK;
}

static lc_status ref_take_all(renew_run *rr, lc_error *err)
{
    lc_status rc = lc_client_open(rr->o->cfg, &rr->o->copts, &rr->ref_client, err);
    if (rc == LC_OK)
        rc = lc_bench_ref_open(rr->ref_client, &rr->ref, err);
    if (rc != LC_OK)
        return rc;
    rr->r->floor = lc_bench_ref_floor(rr->ref);
    int64_t until = bench_now_ns() + (int64_t)(BENCH_TTL_MS + 1000) * 1000000;
    for (; rr->ref_taken < rr->n; rr->ref_taken++) {
        int i = rr->ref_taken;
        if (i % 50 == 0)
            bench_progress(rr->o, "bench: renew: taking reference lease %d of %d", i + 1, rr->n);
        if ((rc = lc_token_new(rr->tokens[i], err)) != LC_OK)
            return rc;
        while ((rc = lc_bench_ref_acquire(rr->ref, rr->names[i], rr->tokens[i], BENCH_TTL_MS,
                                          err)) == LC_ERR_CONFLICT &&
               bench_now_ns() < until)
            sleep_ns(CLAIM_POLL_MS * 1000000);
        if (rc != LC_OK)
            return prefixed(err, rc, "reference acquire", rr->names[i]);
    }
    return LC_OK;
}

static lc_status keep_all(renew_run *rr, lc_error *err)
{
    lc_keeper_opts ko = {.renew_every_ms = BENCH_RENEW_EVERY_MS};
    lc_status rc = lc_keeper_start(rr->o->cfg, &rr->o->copts, &ko, &rr->k, err);
    for (; rc == LC_OK && rr->kept < rr->n; rr->kept++)
        if ((rc = lc_keeper_add(rr->k, rr->leases[rr->kept], err)) != LC_OK)
            return rc;
    if (rc == LC_OK)
        lc_keeper_read_stats(rr->k, &rr->prev);
    return rc;
}

/* New keeper ticks since the last look: each one's time (the mean of
 * them when more than one passed unseen), requests and renewals. */
static int take_ticks(renew_run *rr)
{
    lc_keeper_stats st;
    lc_keeper_read_stats(rr->k, &st);
    uint64_t ticks = st.ticks - rr->prev.ticks;
    if (ticks == 0)
        return 0;
    bench_side *s = &rr->r->side[SIDE_LC];
    if (rr->lc_warm) {
        rr->lc_warm = 0;
    } else {
        int64_t took = st.total_tick_ns - rr->prev.total_tick_ns;
        for (uint64_t i = 0; i < ticks; i++)
            bench_hist_add(&s->main, ticks == 1 ? st.last_tick_ns : took / (int64_t)ticks);
        s->ticks += ticks;
        s->calls += st.calls - rr->prev.calls;
        s->ops += st.renewals - rr->prev.renewals;
        s->seconds += (double)took / 1e9;
    }
    rr->prev = st;
    return 1;
}

/* One tick of the floor, in the gap after a keeper tick that ended just
 * now, when it fits there with room to spare. */
static lc_status ref_tick(renew_run *rr, lc_error *err)
{
    int64_t gap = (int64_t)BENCH_RENEW_EVERY_MS * 1000000 - rr->prev.last_tick_ns - POLL_NS;
    if (rr->ref_last_ns * 3 / 2 >= gap)
        return LC_OK;
    size_t renewed = 0;
    int64_t t0 = bench_now_ns();
    lc_status rc =
        lc_bench_ref_renew(rr->ref, rr->np, rr->tp, (size_t)rr->n, BENCH_TTL_MS, &renewed, err);
    int64_t t1 = bench_now_ns();
    if (rc != LC_OK)
        return rc;
    if (renewed != (size_t)rr->n)
        return fail(err, LC_ERR_INTERNAL, "the reference renewed %zu of %d leases", renewed, rr->n);
    rr->ref_last_ns = t1 - t0;
    bench_side *s = &rr->r->side[SIDE_REF];
    if (rr->ref_warm) {
        rr->ref_warm = 0;
        return LC_OK;
    }
    bench_hist_add(&s->main, t1 - t0);
    s->ticks++;
    s->calls++;
    s->ops += (uint64_t)rr->n;
    s->seconds += (double)(t1 - t0) / 1e9;
    return LC_OK;
}

static int enough(const renew_run *rr)
{
    const bench_result *r = rr->r;
    return r->side[SIDE_LC].ticks > 0 && (rr->ref == NULL || r->side[SIDE_REF].ticks > 0);
}

static lc_status measure(renew_run *rr, lc_error *err)
{
    const bench_opts *o = rr->o;
    int64_t t0 = bench_now_ns(), until = t0 + o->duration_ms * 1000000;
    int64_t hard = until + (int64_t)OVERTIME_MS * 1000000, shown = 0;
    rr->lc_warm = rr->ref_warm = 1;
    for (int64_t now = t0; now < until || (!enough(rr) && now < hard); now = bench_now_ns()) {
        sleep_ns(POLL_NS);
        if (take_ticks(rr) && rr->ref) {
            lc_status rc = ref_tick(rr, err);
            if (rc != LC_OK)
                return rc;
        }
        if (o->progress && now - shown >= PROGRESS_NS) {
            shown = now;
            char ref[48] = "";
            if (rr->ref)
                snprintf(ref, sizeof(ref), ", %llu of the reference",
                         (unsigned long long)rr->r->side[SIDE_REF].ticks);
            bench_progress(o, "bench: renew %.1fs of %.1fs; %llu ticks%s", (double)(now - t0) / 1e9,
                           (double)o->duration_ms / 1e3,
                           (unsigned long long)rr->r->side[SIDE_LC].ticks, ref);
        }
    }
    if (!enough(rr))
        return fail(err, LC_ERR_TIMEOUT, "no renewal tick was measured within %lld ms",
                    (long long)(o->duration_ms + OVERTIME_MS));
    return LC_OK;
}

/* Takes every lease back from the keeper, then gives them back; a lease
 * the keeper lost fails the run (after the rest is cleaned up). */
static lc_status finish(renew_run *rr, lc_status rc, lc_error *err)
{
    int lost = -1;
    for (int i = 0; i < rr->kept; i++)
        if (lc_keeper_remove(rr->k, rr->leases[i]) != LC_OK && lost < 0)
            lost = i;
    lc_keeper_stop(rr->k);
    lc_error ignored;
    for (int i = 0; i < rr->taken; i++) {
        if (i % 50 == 0)
            bench_progress(rr->o, "bench: renew: giving back lease %d of %d", i + 1, rr->taken);
        if (i != lost)
            lc_release(rr->o->client, rr->leases[i], NULL, &ignored);
        lc_lease_free(rr->leases[i]);
    }
    for (int i = 0; i < rr->ref_taken; i++)
        lc_bench_ref_release(rr->ref, rr->names[i], rr->tokens[i], &ignored);
    lc_bench_ref_close(rr->ref);
    lc_client_close(rr->ref_client);
    bench_progress(rr->o, NULL);
    if (rc == LC_OK && lost >= 0)
        rc = fail(err, LC_ERR_LOST, "the keeper lost the lease on %s (lease %d) during the run",
                  rr->names[lost], lost + 1);
    return rc;
}

lc_status bench_renew(const bench_opts *o, bench_result *r, lc_error *err)
{
    renew_run rr;
    memset(&rr, 0, sizeof(rr));
    rr.o = o;
    rr.r = r;
    rr.n = o->leases;
    r->side[SIDE_LC].measured = 1;
    r->side[SIDE_REF].measured = o->reference;
    r->slices = 1;
    lc_status rc = alloc(&rr, err);
    if (rc == LC_OK)
        rc = take_all(&rr, err);
    if (rc == LC_OK && o->reference)
        rc = ref_take_all(&rr, err);
    if (rc == LC_OK)
        rc = keep_all(&rr, err);
    if (rc == LC_OK)
        rc = measure(&rr, err);
    rc = finish(&rr, rc, err);
    free(rr.names);
    free(rr.tokens);
    free(rr.np);
    free(rr.tp);
    free(rr.leases);
    return rc;
}
