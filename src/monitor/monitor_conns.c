/* monitor_conns.c: /connz, the client connection list (docs/monitoring.md, Endpoints).
 *
 * The data comes from snapshots the owner workers take of their connections
 * (server_snapshot_conns) and from the ring of closed connections, so this
 * thread never touches a live conn_t. Selection, sorting and paging follow
 * the reference's Connz() step by step, including its quirks (cid with
 * state=all searches closed connections only; `total` counts before the
 * user/cid filters; an unknown account yields an empty document with a null
 * list). */
#include "nats/account.h"
#include "base/gofmt.h"
#include "core/core.h"
#include "nats/client.h"
#include "nats/leaf.h"
#include "monitor/monitor.h"
#include "core/server.h"
#include "core/tls.h"

#include <stdlib.h>
#include <strings.h>

#define DEFAULT_CONN_LIST 1024

typedef enum sort_key {
    BY_CID,
    BY_SUBS,
    BY_PENDING,
    BY_MSGS_TO,
    BY_MSGS_FROM,
    BY_BYTES_TO,
    BY_BYTES_FROM,
    BY_LAST,
    BY_IDLE,
    BY_UPTIME,
    BY_STOP,
    BY_REASON,
} sort_key_t;

typedef enum conn_state { ST_OPEN, ST_CLOSED, ST_ALL } conn_state_t;

static const struct {
    const char *name;
    sort_key_t key;
} sort_names[] = {
    {"cid", BY_CID},           {"start", BY_CID},
    {"subs", BY_SUBS},         {"pending", BY_PENDING},
    {"msgs_to", BY_MSGS_TO},   {"msgs_from", BY_MSGS_FROM},
    {"bytes_to", BY_BYTES_TO}, {"bytes_from", BY_BYTES_FROM},
    {"last", BY_LAST},         {"idle", BY_IDLE},
    {"uptime", BY_UPTIME},     {"stop", BY_STOP},
    {"reason", BY_REASON},
};

struct sort_ctx {
    sort_key_t key;
    int64_t now;
};

#define CMP(a, b) ((a) < (b) ? -1 : (a) > (b))

static int64_t uptime_of(const conn_info_t *c, int64_t now)
{
    return (c->stop_wall_ns ? c->stop_wall_ns : now) - c->start_wall_ns;
}

/* Ties fall back to cid order so a listing is stable between requests. */
static int cmp_conn(const void *pa, const void *pb, void *arg)
{
    const conn_info_t *a = *(const conn_info_t *const *)pa, *b = *(const conn_info_t *const *)pb;
    const struct sort_ctx *sc = arg;
    int r = 0;
    switch (sc->key) {
    case BY_CID:
        break;
    case BY_SUBS:
        r = -CMP(a->num_subs, b->num_subs);
        break;
    case BY_PENDING:
        r = -CMP(a->pending_bytes, b->pending_bytes);
        break;
    case BY_MSGS_TO:
        r = -CMP(a->out_msgs, b->out_msgs);
        break;
    case BY_MSGS_FROM:
        r = -CMP(a->in_msgs, b->in_msgs);
        break;
    case BY_BYTES_TO:
        r = -CMP(a->out_bytes, b->out_bytes);
        break;
    case BY_BYTES_FROM:
        r = -CMP(a->in_bytes, b->in_bytes);
        break;
    case BY_LAST:
        r = -CMP(a->last_activity_wall_ns, b->last_activity_wall_ns);
        break;
    case BY_IDLE:
        /* the reference's byIdle compares last_activity - start (descending) */
        r = -CMP(a->last_activity_wall_ns - a->start_wall_ns,
                 b->last_activity_wall_ns - b->start_wall_ns);
        break;
    case BY_UPTIME:
        r = CMP(uptime_of(a, sc->now), uptime_of(b, sc->now));
        break;
    case BY_STOP:
        r = -CMP(a->stop_wall_ns, b->stop_wall_ns);
        break;
    case BY_REASON:
        r = strcmp(a->reason, b->reason);
        break;
    }
    return r ? r : CMP(a->cid, b->cid);
}

/* RTT as the reference reports it: truncated to whole microseconds between
 * 1 µs and 1 ms. */
static void put_rtt(jw_t *w, int64_t rtt)
{
    if (rtt > 1000 && rtt < 1000000) rtt -= rtt % 1000;
    char d[GO_DURATION_MAX];
    size_t n = go_duration(d, sizeof d, rtt);
    jw_strn(w, "rtt", d, n);
}

static void put_uptime(jw_t *w, const char *key, int64_t ns)
{
    char u[GO_UPTIME_MAX];
    size_t n = go_uptime(u, sizeof u, ns < 0 ? 0 : ns);
    jw_strn(w, key, u, n);
}

void monitor_write_times(jw_t *w, const conn_info_t *ci, int64_t now)
{
    jw_time(w, "start", ci->start_wall_ns);
    jw_time(w, "last_activity", ci->last_activity_wall_ns);
    if (ci->rtt_ns) {
        char d[GO_DURATION_MAX];
        size_t dn = go_duration(d, sizeof d, ci->rtt_ns);
        jw_strn(w, "rtt", d, dn);
    }
    put_uptime(w, "uptime", now - ci->start_wall_ns);
    put_uptime(w, "idle", now - ci->last_activity_wall_ns);
}

void monitor_write_traffic(jw_t *w, const conn_info_t *ci)
{
    jw_uint(w, "in_msgs", ci->in_msgs);
    jw_uint(w, "out_msgs", ci->out_msgs);
    jw_uint(w, "in_bytes", ci->in_bytes);
    jw_uint(w, "out_bytes", ci->out_bytes);
    jw_uint(w, "subscriptions", ci->num_subs);
}

static void put_opt_str(jw_t *w, const char *key, const char *s)
{
    if (s && *s) jw_str(w, key, s);
}

static void write_conn(jw_t *w, const conn_info_t *c, int64_t now, bool auth, bool subs,
                       bool detail)
{
    if (c->stop_wall_ns) /* a closed connection's times are frozen at its close */
        now = c->stop_wall_ns;
    jw_obj_begin(w, NULL);
    jw_uint(w, "cid", c->cid);
    jw_str(w, "kind", "Client");
    jw_str(w, "type", "nats");
    jw_str(w, "ip", c->ip);
    jw_int(w, "port", c->port);
    jw_time(w, "start", c->start_wall_ns);
    jw_time(w, "last_activity", c->last_activity_wall_ns);
    if (c->stop_wall_ns) {
        jw_time(w, "stop", c->stop_wall_ns);
        put_opt_str(w, "reason", c->reason);
    }
    put_rtt(w, c->rtt_ns);
    put_uptime(w, "uptime", now - c->start_wall_ns);
    put_uptime(w, "idle", now - c->last_activity_wall_ns);
    jw_uint(w, "pending_bytes", c->pending_bytes);
    monitor_write_traffic(w, c);
    put_opt_str(w, "name", c->name);
    put_opt_str(w, "lang", c->lang);
    put_opt_str(w, "version", c->version);
    put_opt_str(w, "tls_version", c->tls_version);
    put_opt_str(w, "tls_cipher_suite", c->tls_cipher);
    if (auth && c->ncerts) {
        jw_arr_begin(w, "tls_peer_certs");
        for (size_t i = 0; i < c->ncerts; i++) {
            jw_obj_begin(w, NULL);
            put_opt_str(w, "subject", c->certs[i].subject);
            jw_str(w, "spki_sha256", c->certs[i].spki_sha256);
            jw_str(w, "cert_sha256", c->certs[i].cert_sha256);
            jw_obj_end(w);
        }
        jw_arr_end(w);
    }
    if (auth) put_opt_str(w, "authorized_user", c->user);
    if (auth && c->account && strcmp(c->account, ACCOUNT_GLOBAL) != 0)
        jw_str(w, "account", c->account);
    if (detail && c->nsubs) {
        jw_arr_begin(w, "subscriptions_list_detail");
        for (size_t i = 0; i < c->nsubs; i++) {
            const sub_info_t *s = &c->subs[i];
            jw_obj_begin(w, NULL);
            /* the reference keeps a closed connection's subscriptions as /subsz
             * entries, which name the account */
            if (c->stop_wall_ns) jw_str(w, "account", c->account ? c->account : ACCOUNT_GLOBAL);
            jw_str(w, "subject", s->subject);
            put_opt_str(w, "qgroup", s->queue);
            jw_str(w, "sid", s->sid);
            jw_uint(w, "msgs", s->msgs);
            if (s->max) jw_int(w, "max", s->max);
            jw_uint(w, "cid", c->cid);
            jw_obj_end(w);
        }
        jw_arr_end(w);
    } else if (subs && c->nsubs) {
        jw_arr_begin(w, "subscriptions_list");
        for (size_t i = 0; i < c->nsubs; i++)
            jw_str(w, NULL, c->subs[i].subject);
        jw_arr_end(w);
    }
    if (auth || c->stop_wall_ns) { /* a closed connection shows them without auth=1 */
        put_opt_str(w, "jwt", c->jwt);
        put_opt_str(w, "issuer_key", c->issuer_key);
        put_opt_str(w, "name_tag", c->name_tag);
    }
    jw_obj_end(w);
}

static int parse_state(const http_req_t *req, conn_state_t *st, buf_t *err)
{
    char s[64];
    *st = ST_OPEN;
    if (!mon_param(req, "state", s, sizeof s)) return 0;
    if (strcasecmp(s, "open") == 0)
        *st = ST_OPEN;
    else if (strcasecmp(s, "closed") == 0)
        *st = ST_CLOSED;
    else if (strcasecmp(s, "any") == 0 || strcasecmp(s, "all") == 0)
        *st = ST_ALL;
    else {
        buf_printf(err, "Error decoding state for %s", s);
        return 400;
    }
    return 0;
}

/* The connections a /connz request lists, into sel (room for all): the one
 * with that cid (closed ones searched unless state=open: the reference's
 * quirk), else those of user (NULL: all), open ones first. Returns how many. */
/* ?user= and ?acc= filters (NULL: not filtered). */
static bool conn_selected(const conn_info_t *c, const char *user, const char *acc)
{
    if (user && !(c->user && strcmp(c->user, user) == 0)) return false;
    return !acc || (c->account && strcmp(c->account, acc) == 0);
}

static size_t select_conns(const conn_info_t **sel, conn_info_t *open, size_t nopen,
                           conn_info_t *closed, size_t nclosed, uint64_t cid, conn_state_t state,
                           const char *user, const char *acc)
{
    size_t n = 0;
    if (cid > 0) {
        if (state != ST_OPEN) {
            for (size_t i = 0; i < nclosed; i++)
                if (closed[i].cid == cid) {
                    sel[n++] = &closed[i];
                    break;
                }
        } else {
            for (size_t i = 0; i < nopen; i++)
                if (open[i].cid == cid) {
                    sel[n++] = &open[i];
                    break;
                }
        }
    } else {
        for (size_t i = 0; i < nopen; i++)
            if (conn_selected(&open[i], user, acc)) sel[n++] = &open[i];
        for (size_t i = 0; i < nclosed; i++)
            if (conn_selected(&closed[i], user, acc)) sel[n++] = &closed[i];
    }
    return n;
}

int handle_connz(const http_req_t *req, buf_t *body, monitor_reply_t *rep)
{
    char sortv[64], user[256], acc[256];
    bool auth, subs, detail;
    int64_t offset, limit;
    uint64_t cid;
    conn_state_t state;
    /* Parameter decoding, in the reference's order; a failure here is not counted. */
    bool has_sort = mon_param(req, "sort", sortv, sizeof sortv);
    if (mon_bool(req, "auth", &auth, body) || mon_subs(req, &subs, &detail, body) ||
        mon_int(req, "offset", &offset, body) || mon_int(req, "limit", &limit, body) ||
        mon_uint64(req, "cid", &cid, body) || parse_state(req, &state, body)) {
        rep->uncounted = true;
        return 400;
    }
    bool has_user = mon_param(req, "user", user, sizeof user);
    bool has_acc = mon_param(req, "acc", acc, sizeof acc);

    sort_key_t key = BY_CID;
    if (has_sort) {
        size_t i;
        for (i = 0; i < ARRAY_LEN(sort_names); i++)
            if (strcmp(sortv, sort_names[i].name) == 0) break;
        if (i == ARRAY_LEN(sort_names)) {
            buf_printf(body, "invalid sorting option: %s", sortv);
            return 400;
        }
        key = sort_names[i].key;
    }
    if (offset < 0) offset = 0;
    if (limit <= 0) limit = DEFAULT_CONN_LIST;
    if (key == BY_STOP && state != ST_CLOSED) {
        buf_puts(body, "sort by stop only valid on closed connections");
        return 400;
    }
    if (key == BY_REASON && state != ST_CLOSED) {
        buf_puts(body, "sort by reason only valid on closed connections");
        return 400;
    }
    if (cid > 0) limit = 1;

    int64_t now = now_wall_ns();
    jw_t w;
    jw_init(&w, body, true);
    jw_obj_begin(&w, NULL);

    /* An unknown account: the reference returns its half-filled document. */
    if (has_acc && !account_lookup(acc, strlen(acc))) {
        jw_str(&w, "server_id", "");
        jw_time(&w, "now", now);
        jw_int(&w, "num_connections", 0);
        jw_int(&w, "total", 0);
        jw_int(&w, "offset", offset);
        jw_int(&w, "limit", limit);
        jw_null(&w, "connections");
        jw_obj_end(&w);
        return 200;
    }

    bool want_subs = subs || detail;
    conn_info_t *open = NULL, *closed = NULL;
    size_t nopen = 0, nclosed = 0;
    if (state != ST_CLOSED) nopen = server_snapshot_conns(&open, want_subs);
    if (state != ST_CLOSED && has_acc) {
        /* as the reference: an account's connections are its clients and its leaf nodes
         * (docs/leafnodes.md §8) */
        conn_info_t *lv = NULL;
        size_t nl = server_snapshot_leafs(&lv, want_subs);
        if (nl) {
            open = xrealloc(open, (nopen + nl) * sizeof *open);
            memcpy(open + nopen, lv, nl * sizeof *lv);
            nopen += nl;
        }
        free(lv);
    }
    if (state != ST_OPEN) nclosed = server_closed_conns(&closed, want_subs);
    size_t total = nopen + nclosed;

    const conn_info_t **sel = xcalloc(total ? total : 1, sizeof *sel);
    size_t n = select_conns(sel, open, nopen, closed, nclosed, cid, state, has_user ? user : NULL,
                            has_acc ? acc : NULL);
    if (has_acc) /* the reference counts the account's connections */
        total = cid > 0 ? n : select_conns(sel, open, nopen, closed, nclosed, 0, state, NULL, acc);
    if (has_acc && cid == 0)
        n = select_conns(sel, open, nopen, closed, nclosed, cid, state, has_user ? user : NULL,
                         acc);

    struct sort_ctx sc = {key, now};
    if (n > 1) qsort_r(sel, n, sizeof *sel, cmp_conn, &sc);

    size_t lo = (uint64_t)offset > n ? n : (size_t)offset;
    size_t hi = (uint64_t)limit > n - lo ? n : lo + (size_t)limit;

    jw_str(&w, "server_id", srv->server_id);
    jw_time(&w, "now", now);
    jw_uint(&w, "num_connections", hi - lo);
    jw_uint(&w, "total", total);
    jw_int(&w, "offset", offset);
    jw_int(&w, "limit", limit);
    jw_arr_begin(&w, "connections");
    for (size_t i = lo; i < hi; i++)
        write_conn(&w, sel[i], now, auth, subs, detail);
    jw_arr_end(&w);
    jw_obj_end(&w);

    free(sel);
    conn_infos_free(open, nopen);
    conn_infos_free(closed, nclosed);
    return 200;
}
