/* gatewayz.c: /gatewayz (and $SYS.REQ.SERVER.*.GATEWAYZ), as the reference writes it:
 * this server's gateway name and address, its outbound connection per remote
 * gateway and its inbound connections grouped by the remote gateway's name, from
 * the snapshot of gateway connections (conn_snapshot through nats/gateway.c), so
 * this thread never touches a live connection. ?accs=1 (per-account interest
 * modes) is not written: every account is in the interest-only mode here. */
#include "base/gofmt.h"
#include "monitor/monitor.h"
#include "core/core.h"
#include "nats/gateway.h"

#include <stdio.h>

static void conn_json(jw_t *w, const conn_info_t *ci, int64_t now)
{
    jw_obj_begin(w, "connection");
    jw_uint(w, "cid", ci->cid);
    jw_str(w, "kind", "Gateway");
    jw_str(w, "ip", ci->ip);
    jw_int(w, "port", ci->port);
    monitor_write_times(w, ci, now);
    jw_uint(w, "pending_bytes", ci->pending_bytes);
    monitor_write_traffic(w, ci);
    jw_str(w, "name", ci->remote_id);
    jw_obj_end(w);
}

int handle_gatewayz(const http_req_t *req, buf_t *body, monitor_reply_t *rep)
{
    (void)req;
    (void)rep;
    conn_info_t *v = NULL;
    size_t n = conn_snapshot(&gateway_conn_ops, &v, false);
    int64_t now = now_wall_ns();
    jw_t w;
    jw_init(&w, body, true);
    jw_obj_begin(&w, NULL);
    jw_str(&w, "server_id", srv->server_id);
    jw_time(&w, "now", now);
    const char *name = gateway_name();
    if (*name) {
        opts_t *o = srv->opts;
        jw_str(&w, "name", name);
        jw_str(&w, "host", o->gateway.host && *o->gateway.host ? o->gateway.host : "0.0.0.0");
        jw_int(&w, "port", srv->gateway_port);
    }
    jw_obj_begin(&w, "outbound_gateways");
    for (size_t i = 0; i < n; i++) {
        if (!v[i].did_solicit || !v[i].peer_name[0] || !v[i].remote_id[0]) continue;
        jw_obj_begin(&w, v[i].peer_name);
        jw_bool(&w, "configured", v[i].is_configured);
        conn_json(&w, &v[i], now);
        jw_obj_end(&w);
    }
    jw_obj_end(&w);
    jw_obj_begin(&w, "inbound_gateways");
    for (size_t i = 0; i < n; i++) {
        if (v[i].did_solicit || !v[i].peer_name[0]) continue;
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = !v[k].did_solicit && strcmp(v[k].peer_name, v[i].peer_name) == 0;
        if (seen) continue;
        jw_arr_begin(&w, v[i].peer_name);
        for (size_t k = i; k < n; k++) {
            if (v[k].did_solicit || strcmp(v[k].peer_name, v[i].peer_name) != 0) continue;
            jw_obj_begin(&w, NULL);
            jw_bool(&w, "configured", false);
            conn_json(&w, &v[k], now);
            jw_obj_end(&w);
        }
        jw_arr_end(&w);
    }
    jw_obj_end(&w);
    jw_obj_end(&w);
    conn_infos_free(v, n);
    return 200;
}
