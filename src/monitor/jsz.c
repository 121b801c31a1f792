/* jsz.c: /jsz (and $SYS.REQ.SERVER.PING.JSZ) while JetStream is not built: the
 * reference's document for a server with JetStream disabled ("disabled": true, every
 * count 0), whatever the query asks (docs/monitoring.md). */
#include "monitor/monitor.h"
#include "core/core.h"

int handle_jsz(const http_req_t *req, buf_t *body, monitor_reply_t *rep)
{
    (void)req, (void)rep;
    jw_t w;
    jw_init(&w, body, true);
    jw_obj_begin(&w, NULL);
    jw_str(&w, "server_id", srv->server_id);
    jw_time(&w, "now", now_wall_ns());
    jw_bool(&w, "disabled", true);
    jw_obj_begin(&w, "config");
    jw_int(&w, "max_memory", 0);
    jw_int(&w, "max_storage", 0);
    jw_obj_end(&w);
    static const char *const zero[] = {"memory",           "storage",  "reserved_memory",
                                       "reserved_storage", "accounts", "ha_assets"};
    for (size_t i = 0; i < ARRAY_LEN(zero); i++)
        jw_int(&w, zero[i], 0);
    jw_obj_begin(&w, "api");
    jw_int(&w, "total", 0);
    jw_int(&w, "errors", 0);
    jw_obj_end(&w);
    static const char *const zero2[] = {"streams", "consumers", "messages", "bytes"};
    for (size_t i = 0; i < ARRAY_LEN(zero2); i++)
        jw_int(&w, zero2[i], 0);
    jw_obj_end(&w);
    return 200;
}
