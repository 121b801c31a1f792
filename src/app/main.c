/* main.c: command line -> options -> logger -> server, then the signal loop.
 *
 * Every signal is blocked in all threads and taken synchronously here with
 * sigwaitinfo, so handlers never run inside a worker: SIGINT/SIGTERM stop,
 * SIGHUP reloads, SIGUSR1 reopens the log, SIGUSR2 enters lame duck mode,
 * SIGQUIT exits at once as the reference's runtime does. */
#include "base/log.h"
#include "conf/opts.h"
#include "app/reload.h"
#include "app/start.h"
#include "nats/route.h"
#include "core/server.h"
#include "app/signal_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static const char *prog_name(const char *argv0)
{
    const char *b = strrchr(argv0, '/');
    return b ? b + 1 : argv0;
}

static void write_pid_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0660);
    if (fd < 0) log_fatal("Could not write pidfile: open %s: %s", path, strerror(errno));
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%d", (int)getpid());
    if (write(fd, tmp, (size_t)n) != n) log_fatal("Could not write pidfile: %s", strerror(errno));
    close(fd);
}

/* Takes the blocked signals until one means "stop"; returns the exit code. */
static int signal_loop(sigset_t *set)
{
    int exit_code = 0;
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(set, &si);
        if (sig < 0) continue;
        if (sig == SIGINT || sig == SIGTERM) {
            DEBUG("Trapped \"%s\" signal", sig == SIGINT ? "interrupt" : "terminated");
            NOTICE("Initiating Shutdown...");
            exit_code = sig == SIGTERM ? 1 : 0;
            break;
        }
        if (sig == SIGQUIT) {
            ports_file_remove();
            _exit(2);
        }
        if (sig == SIGHUP) {
            server_reload();
            continue;
        }
        if (sig == SIGUSR1) {
            log_reopen();
            continue;
        }
        if (sig == SIGUSR2) {
            if (server_lame_duck()) break;
            continue;
        }
    }
    return exit_code;
}

/* Everything but running the server (help, -t, -sl, a bad option set): the
 * exit code, or -1 to run. Frees the options when not running. */
static int run_action(opts_action_t act, opts_t *o, opts_cli_t *cli)
{
    int rc = -1;
    switch (act) {
    case OPTS_EXIT_OK:
        rc = 0;
        break;
    case OPTS_EXIT_FAIL:
        rc = 1;
        break;
    case OPTS_CHECK_CONFIG:
        rc = cli->exit_code;
        break;
    case OPTS_SIGNAL:
        rc = signal_cmd_run(cli->prog, cli->signal_cmd);
        break;
    case OPTS_RUN:
        break;
    }
    char verr[512];
    if (rc < 0 && opts_validate(o, verr, sizeof verr) != 0) {
        fprintf(stderr, "%s: %s\n", cli->prog, verr);
        rc = 1;
    }
    if (rc >= 0) {
        free(cli->signal_cmd);
        opts_free(o);
        free(o);
    }
    return rc;
}

int main(int argc, char **argv)
{
    opts_t *o = xcalloc(1, sizeof *o);
    opts_cli_t cli = {0};
    cli.prog = prog_name(argv[0]);
    gnatsd_prog = cli.prog;
    opts_action_t act = opts_from_args(argc, argv, o, &cli);
    int rc = run_action(act, o, &cli);
    if (rc >= 0) return rc;

    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT};
    for (size_t i = 0; i < ARRAY_LEN(sigs); i++)
        sigaddset(&set, sigs[i]);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[512];
    log_config_t lc = {.debug = o->debug,
                       .trace = o->trace,
                       .logtime = o->logtime,
                       .file = o->log_file,
                       .size_limit = o->log_size_limit,
                       .syslog = o->syslog,
                       .remote_syslog = o->remote_syslog,
                       .tag = cli.prog};
    if (log_configure(&lc, err, sizeof err) != 0) {
        /* Go's default logger format, as the reference prints it */
        char ts[32];
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(ts, sizeof ts, "%Y/%m/%d %H:%M:%S", &tm);
        fprintf(stderr, "%s %s\n", ts, err);
        opts_free(o);
        free(o);
        return 1;
    }
    server_init(o);
    NOTICE("Starting nats-server");
    NOTICE("  Version:  %s", SERVER_VERSION);
    NOTICE("  Git:      [not set]");
    DEBUG("  Go build: %s", SERVER_GO_VERSION);
    NOTICE("  Name:     %s", srv->server_name);
    NOTICE("  ID:       %s", srv->server_id);
    reload_warn_plaintext(o);
    if (o->config_file) NOTICE("Using configuration file: %s", o->config_file);
    if (o->pid_file && *o->pid_file) write_pid_file(o->pid_file);
    if (app_start() != 0) {
        log_close();
        return 1;
    }
    NOTICE("Server is ready");
    route_announce();
    ports_file_write();

    int exit_code = signal_loop(&set);
    app_shutdown();
    ports_file_remove();
    NOTICE("Server Exiting..");
    log_close();
    app_free(); /* also frees the options */
    return exit_code;
}
