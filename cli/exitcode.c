/* cli/exitcode.c -- the exit codes, written once: `lockcoord --help` prints
 * this table (README.md's "Exit codes" keeps the same rows; an e2e test
 * checks they agree). */
#include "cli.h"

const cli_exit_doc cli_exit_docs[] = {
    {0, NULL, "success (for run: the command's own exit code; sync: stopped by a signal)"},
    {1, NULL,
     "sync --once: a job's run failed; status --check: a lock is stale, failed, paused or "
     "overdue"},
    {EXIT_USAGE, NULL, "usage error"},
    {EXIT_UNAVAILABLE, NULL, "backend unavailable (cannot connect, timed out, server error)"},
    {EXIT_INTERNAL, NULL, "internal error"},
    {EXIT_OSERR, NULL,
     "sync --listen: the address could not be bound (port in use, not an address of this "
     "host, port not allowed)"},
    {EXIT_IOERR, NULL, "the output could not be written (acquire then gives its lease back)"},
    {EXIT_CONFLICT, NULL,
     "lock held by another holder, or paused (run --conflict-exit-code N overrides; sync "
     "--once: a job was held elsewhere or paused)"},
    {EXIT_LOST, NULL, "lease lost while working"},
    {EXIT_CONFIG, NULL, "configuration error"},
    {EXIT_TIMEOUT, NULL, "run timed out"},
    {128, "128+N", "the command was killed by signal N"},
    {-1, NULL, NULL},
};

void cli_print_exit_codes(FILE *out)
{
    for (const cli_exit_doc *d = cli_exit_docs; d->meaning; d++) {
        char code[16];
        if (d->label)
            snprintf(code, sizeof(code), "%s", d->label);
        else
            snprintf(code, sizeof(code), "%d", d->code);
        fprintf(out, "  %-6s %s\n", code, d->meaning);
    }
}
