/* tests/integration/test_conformance_redis_cluster.c -- the backend
 * conformance suite on a Redis Cluster (LOCKCOORD_TEST_REDIS_CLUSTER_URL,
 * any one node; scripts/servers.sh redis-cluster-start makes one). */
#include "conformance.h"

int main(void)
{
    return lc_conformance_run("redis-cluster");
}
