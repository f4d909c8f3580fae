/* tests/integration/test_pg_bench.c -- the Postgres floor of `lockcoord
 * bench --reference` (lc_bench_ref_*) against the shared test server. */
#define BENCH_BACKEND "postgres"
#include "bench_ref_cases.h"
