/* monitor.h: what the files of the monitoring layer give each other. The
 * server (monitor.c) reads requests and hands them to the router (router.c),
 * which calls an endpoint handler. A handler appends its body to `body` and
 * returns the HTTP status; it may set a content type (default
 * application/json) and opt out of JSONP wrapping. Handlers decode their
 * query parameters with the mon_* decoders (params.c). */
#ifndef GNATSD_MONITOR_H
#define GNATSD_MONITOR_H

#include "base/buf.h"
#include "proto/http.h"
#include "base/json.h"

typedef struct monitor_reply {
    const char *content_type;
    bool no_jsonp;
    /* The reference counts a request in http_req_stats only once its query
     * parameters decoded; a handler sets this when it rejects them. */
    bool uncounted;
} monitor_reply_t;

typedef int (*monitor_fn)(const http_req_t *req, buf_t *body, monitor_reply_t *rep);

/* Endpoints (router.c's table names each): varz.c, monitor_conns.c,
 * monitor_subs.c, routez.c and metrics.c. */
int handle_root(const http_req_t *req, buf_t *body, monitor_reply_t *rep);
int handle_varz(const http_req_t *req, buf_t *body, monitor_reply_t *rep);
int handle_healthz(const http_req_t *req, buf_t *body, monitor_reply_t *rep);
int handle_connz(const http_req_t *req, buf_t *body, monitor_reply_t *rep);
int handle_routez(const http_req_t *req, buf_t *body, monitor_reply_t *rep);
int handle_gatewayz(const http_req_t *req, buf_t *body, monitor_reply_t *rep); /* gatewayz.c */
int handle_leafz(const http_req_t *req, buf_t *body, monitor_reply_t *rep);    /* leafz.c */
int handle_subsz(const http_req_t *req, buf_t *body, monitor_reply_t *rep);
int handle_metrics(const http_req_t *req, buf_t *body, monitor_reply_t *rep);
int handle_accountz(const http_req_t *req, buf_t *body, monitor_reply_t *rep); /* accountz.c */
int handle_accstatz(const http_req_t *req, buf_t *body, monitor_reply_t *rep);
int handle_jsz(const http_req_t *req, buf_t *body, monitor_reply_t *rep); /* jsz.c */
/* accountz.c: account acc's detail (the object /accountz?acc= has as "account_detail",
 * compact) into out: 200; or 500 with the reference's error text in out. */
int accountz_info(const char *acc, buf_t *out);
/* monitor_conns.c: the members every connection listing shares. monitor_write_times:
 * "start", "last_activity", "rtt" (when measured), "uptime", "idle" (now: the wall
 * clock); monitor_write_traffic: "in_msgs", "out_msgs", "in_bytes", "out_bytes",
 * "subscriptions". */
struct conn_info;
void monitor_write_times(jw_t *w, const struct conn_info *ci, int64_t now);
void monitor_write_traffic(jw_t *w, const struct conn_info *ci);
/* The /accstatz document for the accounts in only (comma separated; NULL = all). */
void accstatz_write(buf_t *body, bool pretty, const char *only, bool unused);

/* monitor_subs.c: the sublist statistics members of /subsz (also /accountz's). */
struct sublist_stats;
void monitor_write_sublist_stats(jw_t *w, const struct sublist_stats *st);

/* routez.c: num_routes and the routes array of /routez, appended to w. */
void routez_write_routes(jw_t *w, bool subs, bool detail);

/* ---- the HTTP(S) server (monitor.c) ---- */
/* Fuzzing: answers the complete requests in in[0..len) as a connection of
 * the monitoring port would (pipelining, output bound, errors), appending the
 * response bytes to out, without a socket. Returns the bytes consumed; sets
 * *close_after if the connection would be closed after the answers. */
size_t monitor_answer_buffer(const char *in, size_t len, buf_t *out, bool *close_after);
/* Live HTTP(S) connections of the monitoring port. */
int monitor_num_conns(void);
/* The port serves HTTPS (https_port was set). */
bool monitor_https(void);
/* The monitoring port (app/start.c): binds it and starts its thread; stops it. */
int monitor_start(void);
void monitor_stop(void);

/* ---- the request router (router.c) ---- */
/* Appends the complete response to req (status line, headers, body) to out;
 * sets *close_after if the connection closes once it is sent. */
void monitor_serve(const http_req_t *req, buf_t *out, bool *close_after);
/* Go's fixed answer to a request it cannot parse ("400 Bad Request", "431
 * ..."): no length, the connection closes after it (*close_after is set). */
void monitor_bad_request(buf_t *out, bool *close_after, const char *status);
/* http_req_stats: the request count per endpoint, sorted by path. */
void monitor_write_req_stats(jw_t *w);
/* Calls fn for every http_req_stats entry (under the stats lock). */
void monitor_foreach_req_stat(void (*fn)(const char *path, uint64_t n, void *arg), void *arg);

/* ---- process statistics (procstat.c) ---- */
int64_t process_rss_bytes(void);
/* CPU use in percent of one core, one decimal. */
double process_cpu_percent(void);

/* Durations and uptimes are written with base/gofmt.h (go_duration, go_uptime). */

/* ---- query parameters (params.c), decoded like Go's url.Query().Get + strconv ----
 * The mon_* decoders return 0 on success (absent or empty = zero value) or 400
 * with the reference's error text in err. */
/* Decoded value of parameter `name` into out; false if absent or empty. */
bool mon_param(const http_req_t *req, const char *name, char *out, size_t outsz);
int mon_bool(const http_req_t *req, const char *name, bool *v, buf_t *err);
int mon_int(const http_req_t *req, const char *name, int64_t *v, buf_t *err);
int mon_uint64(const http_req_t *req, const char *name, uint64_t *v, buf_t *err);
/* subs=detail (case-insensitive) or a boolean. */
int mon_subs(const http_req_t *req, bool *subs, bool *detail, buf_t *err);

#endif
