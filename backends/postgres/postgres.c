/* backends/postgres/postgres.c -- placeholder until the postgres backend lands. */
#include "core/client_int.h"
#include "core/error_int.h"

static lc_status stub_open(const lc_config *cfg, const lc_backend_env *env, void **state,
                           lc_error *err)
{
    (void)cfg;
    (void)env;
    (void)state;
    return lc__err(err, LC_ERR_INTERNAL, 0, "the postgres backend is not built yet");
}

const lc_backend_ops lc__backend_postgres = {
    .name = "postgres",
    .open = stub_open,
};
