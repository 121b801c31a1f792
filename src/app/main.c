/* main.c: command line -> options -> logger -> server, then the control loop.
 *
 * Requests from outside (control.h: POSIX signals, Windows console events and
 * service controls) are taken one at a time on main's thread, so none runs
 * inside a worker: stop and term shut down, reload reloads, reopen reopens the
 * log, ldm enters lame duck mode, quit exits at once as the reference's runtime
 * does on SIGQUIT. service.h runs the whole under the Windows SCM when it
 * started the process. */
#include "base/log.h"
#include "base/os.h"
#include "base/version.h"
#include "conf/opts.h"
#include "app/reload.h"
#include "app/start.h"
#include "nats/route.h"
#include "nats/gateway.h"
#include "nats/leaf.h"
#include "core/server.h"
#include "app/signal_cmd.h"
#include "app/control.h"
#include "app/service.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void write_pid_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0660);
    if (fd < 0) log_fatal("Could not write pidfile: open %s: %s", path, strerror(errno));
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%d", (int)getpid());
    if (write(fd, tmp, (size_t)n) != n) log_fatal("Could not write pidfile: %s", strerror(errno));
    close(fd);
}

/* Takes the control commands until one means "stop"; returns the exit code. */
static int control_loop(void)
{
    for (;;) {
        control_cmd_t cmd = control_next();
        switch (cmd) {
        case CONTROL_STOP:
        case CONTROL_TERM:
            DEBUG("Trapped \"%s\" signal", control_trap_name(cmd));
            NOTICE("Initiating Shutdown...");
            return cmd == CONTROL_TERM ? 1 : 0;
        case CONTROL_QUIT:
            ports_file_remove();
            _exit(2);
        case CONTROL_RELOAD:
            server_reload();
            break;
        case CONTROL_REOPEN:
            log_reopen();
            break;
        case CONTROL_LDM:
            if (server_lame_duck()) return 0;
            break;
        case CONTROL_NONE:
            break;
        }
    }
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

struct run_ctx {
    opts_t *o;
    opts_cli_t *cli;
};

/* The server's life, from the logger to "Server Exiting.."; service.h runs it. */
static int run_server(void *arg)
{
    struct run_ctx *ctx = arg;
    opts_t *o = ctx->o;
    opts_cli_t *cli = ctx->cli;
    char err[512];
    log_config_t lc = {.debug = o->debug,
                       .trace = o->trace,
                       .logtime = o->logtime,
                       .file = o->log_file,
                       .size_limit = o->log_size_limit,
                       .syslog = o->syslog,
                       .remote_syslog = o->remote_syslog,
                       .tag = cli->prog};
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
    NOTICE("  Git:      [%s]", gnatsd_c_git_or_not_set());
    DEBUG("  Go build: %s", SERVER_GO_VERSION);
    NOTICE("  Name:     %s", srv->server_name);
    NOTICE("  ID:       %s", srv->server_id);
    /* ours, after the reference's banner (kept as tools read it): which server this is */
    if (gnatsd_c_git[0])
        NOTICE("  gnatsd-c: %s (git %s)", gnatsd_c_version, gnatsd_c_git);
    else
        NOTICE("  gnatsd-c: %s", gnatsd_c_version);
    reload_warn_plaintext(o);
    if (o->config_file) NOTICE("Using configuration file: %s", o->config_file);
    if (o->pid_file && *o->pid_file) write_pid_file(o->pid_file);
    if (app_start() != 0) {
        log_close();
        return 1;
    }
    NOTICE("Server is ready");
    service_ready();
    route_announce();
    gateway_announce();
    leaf_announce();
    ports_file_write();

    int exit_code = control_loop();
    app_shutdown();
    ports_file_remove();
    NOTICE("Server Exiting..");
    log_close();
    app_free(); /* also frees the options */
    return exit_code;
}

int main(int argc, char **argv)
{
    opts_t *o = xcalloc(1, sizeof *o);
    opts_cli_t cli = {0};
    cli.prog = os_prog_name(); /* gnatsd.exe is "gnatsd": messages, the service name */
    gnatsd_prog = cli.prog;
    opts_action_t act = opts_from_args(argc, argv, o, &cli);
    int rc = run_action(act, o, &cli);
    if (rc >= 0) return rc;

    control_init();
    struct run_ctx ctx = {o, &cli};
    return service_run(run_server, &ctx);
}
