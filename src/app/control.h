/* control.h: what the outside world asks a running server to do, from wherever
 * the OS delivers it: POSIX signals (control_posix.c) or, on Windows, console
 * events and the Service Control Manager (control_win.c, service_win.c). main
 * takes the commands one at a time on its own thread, so no request ever runs
 * inside a worker or a signal handler.
 *
 *   CONTROL_STOP    shut down, exit 0 (SIGINT; Ctrl-C; service stop/shutdown)
 *   CONTROL_TERM    shut down, exit 1 (SIGTERM, as the reference's runtime)
 *   CONTROL_QUIT    exit at once, no shutdown (SIGQUIT)
 *   CONTROL_RELOAD  reload the configuration (SIGHUP; service "paramchange")
 *   CONTROL_REOPEN  reopen the log file (SIGUSR1; service control 128)
 *   CONTROL_LDM     lame duck mode (SIGUSR2; service control 129)
 *
 * docs/windows.md has the Windows side; the control codes are the reference's. */
#ifndef GNATSD_CONTROL_H
#define GNATSD_CONTROL_H

typedef enum control_cmd {
    CONTROL_NONE,
    CONTROL_STOP,
    CONTROL_TERM,
    CONTROL_QUIT,
    CONTROL_RELOAD,
    CONTROL_REOPEN,
    CONTROL_LDM,
} control_cmd_t;

/* Before any thread starts: POSIX blocks the signals in every thread to come (they
 * are taken synchronously by control_next) and ignores SIGPIPE; Windows installs
 * the console handler. */
void control_init(void);
/* main's thread: blocks until the next command. */
control_cmd_t control_next(void);
/* Any thread: queue a command for control_next (a service or console handler; on
 * POSIX the command is raised as its signal). */
void control_post(control_cmd_t cmd);
/* The signal's (or event's) name as the reference's debug line prints it, for
 * "Trapped %q signal"; NULL when the command is not a trap. */
const char *control_trap_name(control_cmd_t cmd);

#endif
