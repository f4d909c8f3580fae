/* cli/cmd_migrate.c -- `migrate`: create or upgrade the Postgres schema,
 * load the Redis scripts. */
#include "cli.h"

static int run(cli *app, int argc, char **argv)
{
    const char *pos[1];
    int npos, done;
    int rc = cli_parse_plain(app, &cli_cmd_migrate, argc, argv, pos, 0, &npos, &done);
    if (rc || done)
        return rc;
    if ((rc = cli_open(app)) != 0)
        return rc;
    char what[256];
    lc_error err;
    if (lc_migrate(app->client, what, sizeof(what), &err) != LC_OK)
        return cli_fail(app, "migrate", NULL, &err);
    if (app->json) {
        cJSON *o = cJSON_CreateObject();
        if (o) {
            cJSON_AddStringToObject(o, "backend", lc_client_backend(app->client));
            cJSON_AddBoolToObject(o, "ok", 1);
            cJSON_AddStringToObject(o, "message", what);
        }
        return cli_print_json(o);
    }
    printf("%s\n", what);
    return 0;
}

const cli_command cli_cmd_migrate = {
    "migrate",
    run,
    "migrate",
    "Postgres: creates or upgrades the lock table and its schema-version table\n"
    "(safe to run concurrently). Redis: loads the Lua scripts.\n",
};
