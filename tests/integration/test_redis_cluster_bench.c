/* tests/integration/test_redis_cluster_bench.c -- the Redis floor of
 * `lockcoord bench --reference` on a Redis Cluster
 * (LOCKCOORD_TEST_REDIS_CLUSTER_URL): each command goes to the node that
 * owns its key (it went to the seed, and drew MOVED). */
#define BENCH_BACKEND "redis-cluster"
#include "bench_ref_cases.h"
