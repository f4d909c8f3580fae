/* tests/integration/test_redis_bench.c -- the Redis floor of `lockcoord
 * bench --reference` (lc_bench_ref_*) against the shared test server. */
#define BENCH_BACKEND "redis"
#include "bench_ref_cases.h"
