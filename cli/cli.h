/* cli/cli.h -- what the lockcoord command's files share. The CLI uses only
 * the public API (lockcoord.h), as curl's tool uses only libcurl. */
#ifndef LC_CLI_H
#define LC_CLI_H

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>

#include "lockcoord.h"

/* The exit codes (stable; sysexits where one fits). What each means is
 * written once, in cli_exit_docs. */
enum {
    EXIT_CHECK = 1, /* status --check: a lock is not healthy */
    EXIT_USAGE = 64,
    EXIT_UNAVAILABLE = 69,
    EXIT_INTERNAL = 70,
    EXIT_OSERR = 71, /* sync --listen: the address could not be bound */
    EXIT_IOERR = 74, /* the output could not be written */
    EXIT_CONFLICT = 75,
    EXIT_LOST = 76,
    EXIT_CONFIG = 78,
    EXIT_TIMEOUT = 124
};

/* One row of the exit-code table that --help prints. */
typedef struct cli_exit_doc {
    int code;
    const char *label; /* shown instead of the number when set ("128+N") */
    const char *meaning;
} cli_exit_doc;

/* Every exit code with its meaning, ended by a row whose meaning is NULL. */
extern const cli_exit_doc cli_exit_docs[];

/* The table as --help shows it, one "  CODE   meaning" line each. */
void cli_print_exit_codes(FILE *out);

/* The global options and what every command needs. */
typedef struct cli {
    const char *config_path; /* -c, else $LOCKCOORD_CONFIG, else ./lockcoord.yaml */
    int json;
    int verbosity; /* -1 quiet, 0 normal, 1 verbose */
    const char *command;
    lc_config *cfg;    /* loaded by cli_open */
    lc_client *client; /* opened by cli_open */
    lc_log_level log_level;
} cli;

typedef struct cli_command {
    const char *name;
    int (*run)(cli *app, int argc, char **argv);
    const char *usage; /* one line after "lockcoord " */
    const char *help;  /* the rest of `lockcoord COMMAND --help` */
} cli_command;

extern const cli_command cli_cmd_acquire, cli_cmd_renew, cli_cmd_release, cli_cmd_status,
    cli_cmd_reset, cli_cmd_checkpoint, cli_cmd_migrate, cli_cmd_run, cli_cmd_config, cli_cmd_sync,
    cli_cmd_bench, cli_cmd_pause, cli_cmd_resume, cli_cmd_history;

/* Loads the config and opens a client; on failure reports and returns the
 * exit code (0 on success). */
int cli_open(cli *app);
/* Loads the config only. */
int cli_load_config(cli *app);
void cli_close(cli *app);

/* The log hook given to the library: stderr, filtered by level. */
void cli_log(void *ctx, lc_log_level level, const char *msg);

/* Reports a failed library call: one line on stderr ("lockcoord: what:
 * why"), or the JSON error object on stdout; returns the exit code. For a
 * conflict, `lock` names the lock and the holder is shown. */
int cli_fail(cli *app, const char *what, const char *lock, const lc_error *err);

/* Reports a failure of the system (exit 71, JSON error "os"): one line,
 * "lockcoord: what: message". */
int cli_fail_os(cli *app, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports a usage error (exit 64) with a hint to --help. */
int cli_usage(cli *app, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The exit code for a library status. */
int cli_exit_code(lc_status code);

/* Prints a JSON object on stdout (one line) and frees it; returns 0, or
 * EXIT_INTERNAL when out of memory. */
int cli_print_json(cJSON *obj);

/* Flushes stdout; 1 when anything written to it was lost (a full disk, a
 * closed pipe), with the reason in why[size]; else 0. */
int cli_output_failed(char *why, size_t size);

/* cli_output_failed, reported: one line on stderr (stdout is what failed,
 * even with --json) and EXIT_IOERR; 0 when the output was written. */
int cli_check_output(cli *app);

/* RFC 3339 of unix ms into buf; "-" (text) for ms < 0. */
const char *cli_time(int64_t unix_ms, char *buf, size_t size);

/* Parses a duration option; on error reports a usage error. */
int cli_duration_opt(cli *app, const char *opt, const char *value, int64_t *ms);

/* The same, refusing values below min_ms (LC_TTL_MIN_MS, LC_PERIOD_MIN_MS)
 * with a usage error that names the minimum. */
int cli_duration_opt_min(cli *app, const char *opt, const char *value, int64_t min_ms, int64_t *ms);

/* Adds a holder object under key to a JSON object. */
void cli_json_holder(cJSON *obj, const char *key, const lc_holder *h);

/* Parses a command's options with getopt_long. Positional arguments are
 * collected into pos[] (up to max_pos; more is a usage error). After "--"
 * every argument is positional (so a lock name may start with '-'), unless
 * rest is non-NULL: then parsing stops there, and *rest is set to the
 * index of the first argument after it (-1 when there was no "--"), as
 * `run` needs for its command. An option whose value would be "--" is a
 * usage error ("option '--ttl' needs a value"). on_opt(app, ctx, c, optarg)
 * handles each option and returns 0 or an exit code. --help prints the
 * command's help and sets *done. Returns 0 or an exit code. */
typedef int (*cli_opt_fn)(cli *app, void *ctx, int opt, const char *arg);
int cli_parse(cli *app, const cli_command *cmd, int argc, char **argv, const char *shortopts,
              const struct option *longopts, cli_opt_fn on_opt, void *ctx, const char **pos,
              int max_pos, int *npos, int *rest, int *done);

/* cli_parse for a command whose only options are --json and --help. */
int cli_parse_plain(cli *app, const cli_command *cmd, int argc, char **argv, const char **pos,
                    int max_pos, int *npos, int *done);

/* Text for a field that is stored and shown to others (--owner, --error,
 * --set, --reason): one line of valid UTF-8 (lc_text_check), else a usage
 * error naming the option. Returns 0 or the exit code. */
int cli_text_opt(cli *app, const char *opt, const char *value);

/* s made safe for a terminal (lc_text_escape): what a backend returns may
 * have been written by any tool. The result lives until the 8th call after
 * this one or cli_close, so a few can go into one printf. */
const char *cli_safe(const char *s);

/* The lock-name rule, reported as a usage error (exit 64). */
int cli_check_name(cli *app, const char *name);

/* The /metrics and /healthz server of `sync --listen` (cli/serve.c, or
 * cli/serve_none.c in a build without libmicrohttpd). */
typedef struct cli_server cli_server;

/* Checks addr ("HOST:PORT", lc_listen_parse) and binds and listens on it
 * now, before anything else starts. On failure reports it in one line and
 * returns the exit code: a malformed address or a host that does not
 * resolve is a usage error (64) from --listen (from_flag) and a
 * configuration error (78) from sync.listen; a port in use, an address
 * not of this host or a port not allowed is 71. */
int cli_server_bind(cli *app, const char *addr, int from_flag, cli_server **out);

/* Serves the engine's /metrics and /healthz on the bound socket, on
 * threads of its own, until cli_server_stop. Returns 0 or the exit code,
 * reported. */
int cli_server_start(cli_server *srv, lc_sync *engine);

/* Stops serving (waiting for requests under way), closes the socket and
 * frees srv. NULL is fine. */
void cli_server_stop(cli_server *srv);

#endif
