/* cli/spawn.h -- starting a command under a lease, guarded. */
#ifndef LC_CLI_SPAWN_H
#define LC_CLI_SPAWN_H

#include <sys/types.h>

#include "cli.h"

/* Forks the guard, which leads a new process group, forks cmd in it with
 * the LOCKCOORD_* environment of `lease`, SIGKILLs the group if lockcoord
 * dies, and exits with cmd's status (or dies of its signal). Call with
 * SIGCHLD, SIGINT, SIGTERM and SIGHUP blocked. Returns once cmd's process
 * exists in the group, so a signal sent to the group from then on reaches
 * it. Returns the guard's pid (also the group id), or -1 with errno set. */
pid_t cli_spawn(char **cmd, const lc_lease *lease);

/* Logs a signal that lockcoord forwards to the command. */
void cli_note_signal(cli *app, int sig);

#endif
