/* cli/cmd_later.c -- commands the README lists as designed but not built:
 * they say so and exit 70 rather than pretend to work. */
#include "cli.h"

static int not_built(cli *app, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    lc_error err = {LC_ERR_INTERNAL, 0, "not built yet", {{0}, 0, 0, -1}};
    return cli_fail(app, app->command, NULL, &err);
}

const cli_command cli_cmd_sync = {
    "sync",
    not_built,
    "sync [--once] [--job NAME ...]   (not built yet)",
    "The job engine: runs the config's jobs on their schedules. Not built yet.\n",
};
