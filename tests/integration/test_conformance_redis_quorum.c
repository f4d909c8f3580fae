/* tests/integration/test_conformance_redis_quorum.c -- the backend
 * conformance suite in quorum mode (redis.quorum) over the independent
 * masters of LOCKCOORD_TEST_REDIS_QUORUM_URLS (scripts/servers.sh
 * redis-quorum-start makes them). */
#include "conformance.h"

int main(void)
{
    return lc_conformance_run("redis-quorum");
}
