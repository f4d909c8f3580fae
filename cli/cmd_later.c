/* cli/cmd_later.c -- a command the README lists as designed but not built:
 * it says so and exits 70 rather than pretend to work. */
#include "cli.h"

static int not_built(cli *app, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    lc_error err = {LC_ERR_INTERNAL, 0, "not built yet", {{0}, 0, 0, -1}};
    return cli_fail(app, app->command, NULL, &err);
}

const cli_command cli_cmd_bench = {
    "bench",
    not_built,
    "bench [...]                      (not built yet)",
    "Measures this backend. Not built yet.\n",
};
