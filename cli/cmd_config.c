/* cli/cmd_config.c -- `config check [FILE]`. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static int run(cli *app, int argc, char **argv)
{
    const char *pos[2];
    int npos, done;
    int rc = cli_parse_plain(app, &cli_cmd_config, argc, argv, pos, 2, &npos, &done);
    if (rc || done)
        return rc;
    if (npos < 1 || strcmp(pos[0], "check") != 0)
        return cli_usage(app, "expected 'config check [FILE]'");
    if (npos == 2)
        app->config_path = pos[1];
    if ((rc = cli_load_config(app)) != 0)
        return rc;
    char *text = lc_config_dump(app->cfg);
    if (text == NULL)
        return EXIT_INTERNAL;
    if (app->json) {
        cJSON *o = cJSON_CreateObject();
        if (o) {
            cJSON_AddBoolToObject(o, "ok", 1);
            cJSON_AddStringToObject(o, "file", app->cfg->path ? app->cfg->path : "");
            cJSON_AddStringToObject(o, "backend", app->cfg->backend);
            cJSON_AddStringToObject(o, "effective", text);
        }
        rc = cli_print_json(o);
    } else {
        fputs(text, stdout);
    }
    free(text);
    return rc;
}

const cli_command cli_cmd_config = {
    "config",
    run,
    "config check [FILE]",
    "Validates the config file and prints the effective config, defaults\n"
    "filled in and secrets shown as ***. Exit 78 with FILE:LINE:COL: message\n"
    "when it is wrong.\n",
};
