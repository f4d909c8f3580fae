/* cli/bench_hist.c -- a latency histogram of fixed size, so a run of any
 * length keeps its percentiles in a few kilobytes per thread. */
#include "bench.h"

static int index_of(int64_t ns)
{
    uint64_t v = ns > 0 ? (uint64_t)ns : 0;
    if (v < BENCH_HIST_SUB)
        return (int)v;
    int e = 63 - __builtin_clzll(v);
    if (e >= BENCH_HIST_TOP)
        return BENCH_HIST_BUCKETS - 1;
    int sub = (int)((v >> (e - 5)) & (BENCH_HIST_SUB - 1));
    return (e - 4) * BENCH_HIST_SUB + sub;
}

/* The middle of bucket i. */
static int64_t value_of(int i)
{
    if (i < BENCH_HIST_SUB)
        return i;
    int e = i / BENCH_HIST_SUB + 4;
    int64_t lower = (int64_t)(BENCH_HIST_SUB + i % BENCH_HIST_SUB) << (e - 5);
    return lower + ((int64_t)1 << (e - 5)) / 2;
}

void bench_hist_add(bench_hist *h, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    h->counts[index_of(ns)]++;
    h->n++;
    h->sum_ns += ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

void bench_hist_merge(bench_hist *into, const bench_hist *from)
{
    for (int i = 0; i < BENCH_HIST_BUCKETS; i++)
        into->counts[i] += from->counts[i];
    into->n += from->n;
    into->sum_ns += from->sum_ns;
    if (from->max_ns > into->max_ns)
        into->max_ns = from->max_ns;
}

int64_t bench_hist_pct(const bench_hist *h, double p)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)(p * (double)h->n + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (int i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            int64_t v = value_of(i);
            return v < h->max_ns ? v : h->max_ns;
        }
    }
    return h->max_ns;
}

double bench_hist_mean(const bench_hist *h)
{
    return h->n ? (double)h->sum_ns / (double)h->n : 0.0;
}
