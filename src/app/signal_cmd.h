/* signal_cmd.h: the `-sl <cmd>[=<pid|pidfile>]` command (docs/config.md §9.4).
 *
 * Runs before any config is read and never starts a server: resolve the
 * target (explicit pid, pid file, or the single running gnatsd/nats-server
 * found in /proc), send the mapped signal, report errors the reference's way. */
#ifndef GNATSD_SIGNAL_CMD_H
#define GNATSD_SIGNAL_CMD_H

#include <stdio.h>

/* Returns the process exit code (0 success, 1 failure); errors are printed
 * to stderr as "<prog>: <message>". */
int signal_cmd_run(const char *prog, const char *arg);

/* Same with an explicit error stream, for tests. */
int signal_cmd_run_io(const char *prog, const char *arg, FILE *err);

/* Maps a command name to its signal number, or -1 (names are case-sensitive). */
int signal_cmd_signo(const char *cmd);

#endif
