/* cli/serve_none.c -- `sync --listen` in a build without libmicrohttpd
 * (LC_WITH_METRICS=OFF): refused, before anything starts. */
#include "cli.h"

#include <string.h>

struct cli_server {
    int unused;
};

int cli_server_bind(cli *app, const char *addr, int from_flag, cli_server **out)
{
    (void)out;
    lc_error e;
    memset(&e, 0, sizeof(e));
    e.code = LC_ERR_CONFIG;
    snprintf(e.message, sizeof(e.message),
             "%s %s: this lockcoord was built without libmicrohttpd (LC_WITH_METRICS=OFF): no "
             "/metrics or /healthz",
             from_flag ? "--listen" : "sync.listen", addr);
    return cli_fail(app, "sync", NULL, &e);
}

int cli_server_start(cli_server *srv, lc_sync *engine)
{
    (void)srv;
    (void)engine;
    return EXIT_INTERNAL;
}

void cli_server_stop(cli_server *srv)
{
    (void)srv;
}
