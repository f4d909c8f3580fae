/* tests/integration/test_conformance_redis.c -- the backend conformance suite
 * on Redis (LOCKCOORD_TEST_REDIS_URL). */
#include "conformance.h"

int main(void)
{
    return lc_conformance_run("redis");
}
