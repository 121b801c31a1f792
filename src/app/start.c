/* start.c: which modules start in which order, and stop in which order. The core
 * (workers, listeners) knows none of the protocols above it: the client port and
 * the cluster port are registered here and in route.c with their connection kind's
 * handler table, and worker commands that call up (password-check verdicts) are
 * hooked here. */
#include "app/start.h"
#include "base/log.h"
#include "base/qsbr.h"
#include "core/core.h"
#include "core/tls.h"
#include "monitor/monitor.h"
#include "monitor/sysreq.h"
#include "nats/sys.h"
#include "nats/sys_subs.h"
#include "nats/account.h"
#include "nats/imports.h"
#include "nats/latency.h"
#include "nats/mappings.h"
#include "nats/auth.h"
#include "nats/client.h"
#include "nats/resolver.h"
#include "nats/route.h"
#include "nats/gateway.h"
#include "nats/leaf.h"

#include <unistd.h>

/* The client port, and the TLS context of its connections. */
static int client_listen(void)
{
    opts_t *o = srv->opts;
    char err[256];
    int port = o->port == 0 ? DEFAULT_PORT : o->port;
    srv->listen_fd = listen_on(o->host, port, &srv->port, err, sizeof err);
    if (srv->listen_fd < 0) {
        log_msg(LOG_FTL, "Error listening on port: %s:%d, \"%s\"", o->host, port, err);
        return -1;
    }
    if (o->tls.enabled) {
        tls_ctx_t *t = tls_ctx_server(&o->tls, false, err, sizeof err);
        if (!t) {
            log_msg(LOG_FTL, "Error configuring TLS: %s", err);
            return -1;
        }
        atomic_store(&srv->tls_ctx, t);
    }
    listener_add(srv->listen_fd, "Client", &client_conn_ops);
    return 0;
}

int app_start(void)
{
    opts_t *o = srv->opts;
    server_prepare();
    const char *sys_name = o->system_account;
    char err[512];
    if (resolver_start(o, &sys_name, err, sizeof err) != 0) {
        log_msg(LOG_FTL, "%s", err);
        return -1;
    }
    accounts_init(o, resolver_active() ? sys_name : o->system_account);
    resolver_load_system();
    worker_on_command(WCMD_AUTH, auth_run_verdicts);
    if (client_listen() != 0) return -1;
    if (route_start() != 0) return -1;
    if (gateway_start() != 0) return -1;
    if (leaf_start() != 0) return -1;
    accounts_configure(o); /* after route_start: the reply subscriptions are route interest */
    sysreq_register();
    sys_subs_start(); /* registers its inbox handler: before sys_start */
    sys_start();
    latency_start(); /* after sys_start: its results need the system account's events */
    server_build_info();
    if (o->http_port || o->https_port) {
        if (monitor_start() != 0) return -1;
    }
    NOTICE("Listening for client connections on %s:%d", o->host, srv->port);
    if (o->tls.enabled) NOTICE("TLS required for client connections");
    server_start();
    return 0;
}

void app_shutdown(void)
{
    sys_shutdown_event(); /* before the workers start closing connections */
    atomic_store(&srv->shutting_down, true);
    int lfd = srv->listen_fd;
    srv->listen_fd = -1;
    if (lfd >= 0) listener_remove(lfd);
    monitor_stop();
    latency_stop();
    sys_subs_stop();
    sys_stop();
    leaf_shutdown(); /* its dialers hand off no more sockets */
    server_join();
    route_shutdown();
    gateway_shutdown();
    qsbr_drain_all();
}

void app_free(void)
{
    route_free_all();
    gateway_free_all();
    leaf_free_all();
    latency_free();
    sys_subs_free();
    imports_free_all();
    mappings_free_all();
    accounts_free_all();
    resolver_free_all();
    server_free();
}
