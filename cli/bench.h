/* cli/bench.h -- what `lockcoord bench`'s files share: the latency
 * histogram (bench_hist.c), the measuring of cycles and contention
 * (bench_run.c) and of renewal ticks (bench_renew.c), and the command that
 * prints them (cmd_bench.c). */
#ifndef LC_CLI_BENCH_H
#define LC_CLI_BENCH_H

#include <stdint.h>

#include "lockcoord.h"

/* ---- latency histogram --------------------------------------------------- */

/* Log-linear buckets: exact below 32 ns, then 32 per power of two (a
 * bucket is at most 1/32 of its value wide), up to 2^40 ns (18 minutes);
 * longer values count in the last bucket. Percentiles are a bucket's
 * middle, so within about 1.6%; the maximum and the mean are exact. */
#define BENCH_HIST_SUB     32
#define BENCH_HIST_TOP     40
#define BENCH_HIST_BUCKETS ((BENCH_HIST_TOP - 4) * BENCH_HIST_SUB)

typedef struct bench_hist {
    uint64_t n;
    int64_t sum_ns;
    int64_t max_ns;
    uint64_t counts[BENCH_HIST_BUCKETS];
} bench_hist;

/* Adds one value (negative counts as 0). */
void bench_hist_add(bench_hist *h, int64_t ns);
/* Adds every value of `from` to `into`. */
void bench_hist_merge(bench_hist *into, const bench_hist *from);
/* The p-th quantile (0 < p <= 1) in ns, 0 when empty; never above max_ns. */
int64_t bench_hist_pct(const bench_hist *h, double p);
/* The mean in ns, 0 when empty. */
double bench_hist_mean(const bench_hist *h);

/* ---- a run ----------------------------------------------------------------- */

typedef enum bench_mode {
    BENCH_CYCLES,
    BENCH_CONTEND,
    BENCH_RENEW
} bench_mode;

/* The sides measured, interleaved slice by slice. */
enum {
    SIDE_LC,  /* lockcoord */
    SIDE_REF, /* the backend's floor (lc_bench_ref_*) */
    SIDES
};

/* How long each lease of the benchmark lives: long enough for any hold a
 * run asks for (contend adds twice the hold), short enough that a run
 * killed midway leaves nothing held for long. */
#define BENCH_TTL_MS 10000
/* renew: how often the keeper renews. */
#define BENCH_RENEW_EVERY_MS 100

typedef struct bench_opts {
    bench_mode mode;
    int clients;
    int64_t duration_ms;
    int64_t hold_ms;
    int leases;
    int reference;
    int progress; /* a progress line on stderr (a terminal) */
    const lc_config *cfg;
    lc_client *client;    /* the command's client: renew's leases, the first reference */
    lc_client_opts copts; /* for the clients a run opens */
} bench_opts;

/* One side's figures. */
typedef struct bench_side {
    int measured;
    double seconds;     /* time measured: slices for cycles and contend, ticks for renew */
    uint64_t ops;       /* cycles, acquisitions, or lease renewals */
    bench_hist main;    /* cycle, handoff, or tick latency */
    bench_hist acquire; /* cycles: each operation */
    bench_hist release;
    bench_hist wait;         /* contend: from calling acquire to its return */
    int64_t cut_wait_max_ns; /* contend: longest wait the end of a slice cut short */
    uint64_t *per_client;    /* contend: acquisitions by each client */
    uint64_t ticks, calls;   /* renew */
} bench_side;

typedef struct bench_result {
    bench_side side[SIDES];
    const char *floor; /* what the reference sends, NULL without one */
    int slices;        /* timed slices of each side */
    /* contend's mutual-exclusion check (lockcoord's holders) */
    uint64_t holders;
    uint64_t overlaps;          /* a holder found another inside */
    uint64_t fence_regressions; /* a holder's fence not above the one before */
} bench_result;

/* Runs cycles or contend (bench_run.c). On error returns the status with
 * err filled; what was measured is lost. Free *r with bench_result_free. */
lc_status bench_run(const bench_opts *o, bench_result *r, lc_error *err);

/* Runs renew (bench_renew.c), the same way. */
lc_status bench_renew(const bench_opts *o, bench_result *r, lc_error *err);

void bench_result_free(bench_result *r);

/* Monotonic ns. */
int64_t bench_now_ns(void);

/* Prints "\r<line>" on stderr, cleared to the end, when o->progress; a
 * NULL fmt clears the line. */
void bench_progress(const bench_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
