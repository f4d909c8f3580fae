/* tests/conformance/conformance.h -- the behaviour every backend must have,
 * run against one backend by name ("memory", "redis", "postgres"). */
#ifndef LC_CONFORMANCE_H
#define LC_CONFORMANCE_H

#include "testenv.h"

/* Runs the whole suite; returns the number of failed tests (cmocka's
 * result), so `return lc_conformance_run("redis");` is a test's main. */
int lc_conformance_run(const char *backend);

#endif
