/* leafz.c: /leafz (docs/leafnodes.md §8), as the reference writes it: server id,
 * now, the number of leaf connections listed and one object per connection
 * (account, ip, port, rtt, counters, subscriptions; ?subs=1 adds the subjects
 * the peer's interest holds, ?acc= keeps one account's). Written from the leaf
 * connections' snapshot (server_snapshot_leafs), never from a live connection. */
#include "base/gofmt.h"
#include "monitor/monitor.h"
#include "core/server.h"
#include "nats/leaf.h"

#include <stdio.h>

int handle_leafz(const http_req_t *req, buf_t *body, monitor_reply_t *rep)
{
    bool subs = false;
    if (mon_bool(req, "subs", &subs, body)) {
        rep->uncounted = true;
        return 400;
    }
    char acc[256];
    bool filter = mon_param(req, "acc", acc, sizeof acc) && acc[0];
    conn_info_t *v = NULL;
    size_t n = server_snapshot_leafs(&v, subs);
    size_t shown = 0;
    for (size_t i = 0; i < n; i++)
        if (!filter || (v[i].account && strcmp(v[i].account, acc) == 0)) shown++;
    jw_t w;
    jw_init(&w, body, true);
    jw_obj_begin(&w, NULL);
    jw_str(&w, "server_id", srv->server_id);
    jw_time(&w, "now", now_wall_ns());
    jw_int(&w, "leafnodes", (int64_t)shown);
    if (!shown) {
        jw_null(&w, "leafs");
    } else {
        jw_arr_begin(&w, "leafs");
        for (size_t i = 0; i < n; i++) {
            conn_info_t *ci = &v[i];
            if (filter && (!ci->account || strcmp(ci->account, acc) != 0)) continue;
            jw_obj_begin(&w, NULL);
            jw_str(&w, "account", ci->account ? ci->account : "");
            jw_str(&w, "ip", ci->ip);
            jw_int(&w, "port", ci->port);
            char d[GO_DURATION_MAX];
            size_t dn = go_duration(d, sizeof d, ci->rtt_ns);
            jw_strn(&w, "rtt", d, dn);
            monitor_write_traffic(&w, ci);
            if (subs) {
                jw_arr_begin(&w, "subscriptions_list");
                for (size_t k = 0; k < ci->nsubs; k++)
                    jw_str(&w, NULL, ci->subs[k].subject);
                jw_arr_end(&w);
            }
            jw_obj_end(&w);
        }
        jw_arr_end(&w);
    }
    jw_obj_end(&w);
    conn_infos_free(v, n);
    return 200;
}
