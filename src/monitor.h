/* monitor.h: endpoint handlers of the monitoring port. A handler appends
 * its body to `body` and returns the HTTP status; it may set a content type
 * (default application/json) and opt out of JSONP wrapping. */
#ifndef GNATSD_MONITOR_H
#define GNATSD_MONITOR_H

#include "buf.h"
#include "http.h"
#include "json.h"

typedef struct monitor_reply {
    const char *content_type;
    bool no_jsonp;
} monitor_reply_t;

typedef int (*monitor_fn)(const http_req_t *req, buf_t *body, monitor_reply_t *rep);

struct monitor_route {
    const char *path;
    monitor_fn fn;
};

/* Endpoints added by later modules (connz, routez, subsz, metrics). */
#define MONITOR_EXTRA_ROUTES {NULL, NULL}

void format_uptime(buf_t *b, int64_t ns);
int64_t process_rss_bytes(void);
double process_cpu_percent(void);
void monitor_write_req_stats(jw_t *w);

#endif
