/* route_reload.c: a reloaded cluster block applied to the running module: a new
 * cluster name (clients get an async INFO), new TLS contexts when the pinned
 * certificates changed (routes whose peer is no longer pinned are closed),
 * removed routes (their dialers stop, their connections close) and added ones
 * (dialled). Other cluster options cannot change on reload (app/reload.c). */
#include "nats/route.h"
#include "nats/route_int.h"
#include "base/log.h"

#include <stdio.h>

static bool url_listed(const char *url, char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], url) == 0) return true;
    return false;
}

void route_reload(const opts_t *old, const opts_t *no)
{
    if (route_listen_fd < 0) return;
    atomic_store(&R.connect_reports, no->connect_error_reports);
    atomic_store(&R.reconnect_reports, no->reconnect_error_reports);
    const char *oname = old->cluster.name ? old->cluster.name : "";
    const char *nname = no->cluster.name ? no->cluster.name : "";
    if (strcmp(oname, nname) != 0 && *nname) {
        pthread_mutex_lock(&R.mu);
        snprintf(R.name, sizeof R.name, "%s", nname);
        R.dynamic = false;
        rebuild_client_info_locked();
        pthread_mutex_unlock(&R.mu);
        NOTICE("Cluster name updated to %s", nname);
        worker_command(WCMD_INFO);
    }
    const tls_opts_t *ot = &old->cluster.tls, *nt = &no->cluster.tls;
    bool tls_changed = ot->enabled != nt->enabled || ot->npinned_certs != nt->npinned_certs;
    for (size_t i = 0; !tls_changed && i < nt->npinned_certs; i++)
        tls_changed = strcmp(ot->pinned_certs[i], nt->pinned_certs[i]) != 0;
    pthread_mutex_lock(&R.mu);
    bool have_tls = R.tls_accept != NULL;
    pthread_mutex_unlock(&R.mu);
    if (tls_changed && nt->enabled && have_tls) {
        /* New contexts for new routes; routes whose peer key is no longer pinned go. */
        char err[300];
        tls_ctx_t *acc = tls_ctx_server(nt, true, err, sizeof err);
        tls_ctx_t *dial = acc ? tls_ctx_client(nt, err, sizeof err) : NULL;
        if (!acc || !dial) {
            ERROR("Route TLS not reloaded: %s", err);
            tls_ctx_unref(acc);
        } else {
            pthread_mutex_lock(&R.mu);
            tls_ctx_t *oa = R.tls_accept, *od = R.tls_dial;
            R.tls_accept = acc;
            R.tls_dial = dial;
            for (size_t k = 0; k < R.nroutes; k++) {
                conn_t *rc = R.routes[k];
                spin_lock(&rc->out_lock);
                bool ok = !conn_tls_on(rc) || !rc->tls_done || tls_conn_pinned_ok(acc, rc);
                spin_unlock(&rc->out_lock);
                if (!ok) conn_request_close(rc, CR_TLS_HANDSHAKE);
            }
            pthread_mutex_unlock(&R.mu);
            tls_ctx_retire(oa);
            tls_ctx_retire(od);
        }
    }
    bool changed = false;
    for (size_t i = 0; i < old->cluster.nroutes; i++) {
        const char *url = old->cluster.routes[i];
        if (url_listed(url, no->cluster.routes, no->cluster.nroutes)) continue;
        changed = true;
        char shown[600];
        route_url_redacted(url, shown, sizeof shown);
        NOTICE("Removed route %s", shown);
        pthread_mutex_lock(&R.mu);
        for (dialer_t *d = R.dialers; d; d = d->next) {
            if (d->implicit || strcmp(d->url, url) != 0) continue;
            pthread_mutex_lock(&d->mu);
            d->stop = true;
            pthread_cond_broadcast(&d->cv);
            pthread_mutex_unlock(&d->mu);
        }
        for (size_t k = 0; k < R.nroutes; k++) {
            route_info_t *ri = R.routes[k]->route;
            if (ri->solicited && ri->url && strcmp(ri->url, url) == 0)
                conn_request_close(R.routes[k], CR_ROUTE_REMOVED);
        }
        pthread_mutex_unlock(&R.mu);
    }
    for (size_t i = 0; i < no->cluster.nroutes; i++) {
        if (url_listed(no->cluster.routes[i], old->cluster.routes, old->cluster.nroutes)) continue;
        changed = true;
        start_dialer(no->cluster.routes[i]);
    }
    if (changed) NOTICE("Reloaded: cluster routes");
}
