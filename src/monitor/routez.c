/* routez.c: the routes of /routez (num_routes and the routes array), written from
 * the server's snapshot of its route connections (server_snapshot_routes: each owner
 * worker copies its routes' counters, and route.c their route fields), so this thread
 * never touches a live connection. The rest of the document (server id, cluster
 * permissions) is handle_routez's. */
#include "base/gofmt.h"
#include "monitor/monitor.h"
#include "core/server.h"
#include "nats/route.h"

#include <stdio.h>

/* num_routes and the routes array of /routez. */
void routez_write_routes(jw_t *w, bool subs, bool detail)
{
    conn_info_t *v = NULL;
    size_t n = server_snapshot_routes(&v, subs || detail);
    int64_t now = now_wall_ns();
    jw_int(w, "num_routes", (int64_t)n);
    jw_arr_begin(w, "routes");
    for (size_t i = 0; i < n; i++) {
        conn_info_t *ci = &v[i];
        jw_obj_begin(w, NULL);
        jw_uint(w, "rid", ci->cid);
        jw_str(w, "remote_id", ci->remote_id);
        jw_bool(w, "did_solicit", ci->did_solicit);
        jw_bool(w, "is_configured", ci->is_configured);
        jw_str(w, "ip", ci->ip);
        jw_int(w, "port", ci->port);
        monitor_write_times(w, ci, now);
        jw_uint(w, "pending_size", ci->pending_bytes);
        monitor_write_traffic(w, ci);
        if (subs && !detail && ci->nsubs) {
            jw_arr_begin(w, "subscriptions_list");
            for (size_t k = 0; k < ci->nsubs; k++)
                jw_str(w, NULL, ci->subs[k].subject);
            jw_arr_end(w);
        }
        if (detail && ci->nsubs) {
            jw_arr_begin(w, "subscriptions_list_detail");
            for (size_t k = 0; k < ci->nsubs; k++) {
                sub_info_t *si = &ci->subs[k];
                jw_obj_begin(w, NULL);
                jw_str(w, "subject", si->subject);
                if (si->queue) jw_str(w, "qgroup", si->queue);
                jw_str(w, "sid", si->sid); /* "account subject[ queue]", as the reference */
                jw_uint(w, "msgs", si->msgs);
                jw_uint(w, "cid", ci->cid);
                jw_obj_end(w);
            }
            jw_arr_end(w);
        }
        jw_obj_end(w);
    }
    jw_arr_end(w);
    conn_infos_free(v, n);
}
