/* signal_cmd.h: the `-sl <cmd>[=<target>]` command (docs/config.md §9.4).
 *
 * Runs before any config is read and never starts a server. POSIX: the target
 * is a pid or pid file, or the single running gnatsd/nats-server found in
 * /proc, and the command is sent as a signal. Windows: the target is a service
 * name (default: the program's name, "gnatsd" for gnatsd.exe) and the command
 * is sent as a service control through the SCM (docs/windows.md). Errors are
 * reported the reference's way. */
#ifndef GNATSD_SIGNAL_CMD_H
#define GNATSD_SIGNAL_CMD_H

#include <stdio.h>

/* Returns the process exit code (0 success, 1 failure); errors are printed
 * to stderr as "<prog>: <message>". */
int signal_cmd_run(const char *prog, const char *arg);

/* Same with an explicit error stream, for tests. */
int signal_cmd_run_io(const char *prog, const char *arg, FILE *err);

/* The OS's half: sends cmd to target (the text after '=', already read from a
 * file of that name when one exists; NULL when absent). Exit code as above. */
int signal_cmd_deliver(const char *prog, const char *cmd, const char *target, FILE *err);

#ifndef _WIN32
/* Maps a command name to its signal number, or -1 (names are case-sensitive). */
int signal_cmd_signo(const char *cmd);
#endif

#endif
