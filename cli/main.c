/* cli/main.c -- `lockcoord [-c FILE] [--json] [-v|-q] COMMAND ...`. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const cli_command *const commands[] = {
    &cli_cmd_acquire, &cli_cmd_renew,   &cli_cmd_release,    &cli_cmd_status, &cli_cmd_reset,
    &cli_cmd_run,     &cli_cmd_sync,    &cli_cmd_checkpoint, &cli_cmd_pause,  &cli_cmd_resume,
    &cli_cmd_history, &cli_cmd_migrate, &cli_cmd_config,     &cli_cmd_bench,
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_help(FILE *out)
{
    fprintf(out, "usage: lockcoord [-c FILE] [--json] [-v|-q] COMMAND [ARGS...]\n\n"
                 "Leases on named locks in Redis or Postgres, and jobs run under them.\n\n"
                 "Commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %s\n", commands[i]->usage);
    fprintf(out,
            "\nOptions:\n"
            "  -c, --config FILE  config file (else $LOCKCOORD_CONFIG, else ./lockcoord.yaml)\n"
            "      --json         print one JSON object on stdout, errors included\n"
            "  -v, --verbose      log debug messages to stderr\n"
            "  -q, --quiet        log only errors\n"
            "  -h, --help         this help; `lockcoord COMMAND --help` for one command\n"
            "  -V, --version      print the version\n"
            "\nDurations take a unit: 250ms, 30s, 5m, 1h, 1d; at most 365d.\n"
            "\nExit codes:\n");
    cli_print_exit_codes(out);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'J'},
        {"verbose", no_argument, NULL, 'v'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    cli app;
    memset(&app, 0, sizeof(app));
    app.command = "lockcoord";
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+c:vqhV", opts, NULL)) != -1) {
        switch (c) {
        case 'c': app.config_path = optarg; break;
        case 'J': app.json = 1; break;
        case 'v': app.verbosity = 1; break;
        case 'q': app.verbosity = -1; break;
        case 'h': print_help(stdout); return cli_check_output(&app);
        case 'V': printf("lockcoord %s\n", LC_VERSION); return cli_check_output(&app);
        default: return cli_usage(&app, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc) {
        if (app.json) /* one JSON object, as --json promises */
            return cli_usage(&app, "a COMMAND is required (see 'lockcoord --help')");
        print_help(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[optind];
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(commands[i]->name, name) == 0) {
            app.command = name;
            int rc = commands[i]->run(&app, argc - optind, argv + optind);
            cli_close(&app);
            /* Every command's output is checked once here; one that failed
             * already keeps its own exit code. */
            return rc == 0 ? cli_check_output(&app) : rc;
        }
    }
    return cli_usage(&app, "unknown command '%s'", name);
}
