/* clientinfo.c: ClientInfo JSON objects (see clientinfo.h). */
#include "nats/clientinfo.h"
#include "nats/account.h"

#include <stdlib.h>
#include <string.h>

static char *dup_nonempty(const char *s)
{
    return s && *s ? xstrdup(s) : NULL;
}

void client_snap_take(client_snap_t *s, const conn_t *c, bool detail, const char *user)
{
    memset(s, 0, sizeof *s);
    s->detail = detail;
    s->acc = xstrdup(conn_account(c)->name);
    if (!detail) return;
    s->cid = c->cid;
    s->start_wall_ns = c->start_wall_ns;
    memcpy(s->host, c->ip, sizeof s->host);
    s->user = dup_nonempty(user ? user : c->user);
    s->name = dup_nonempty(c->name);
    s->lang = dup_nonempty(c->lang);
    s->ver = dup_nonempty(c->version);
    s->jwt = dup_nonempty(c->cred_jwt);
    s->issuer = dup_nonempty(c->jwt_issuer);
    s->name_tag = dup_nonempty(c->jwt_name);
}

void client_snap_free(client_snap_t *s)
{
    free(s->acc), free(s->user), free(s->name), free(s->lang), free(s->ver);
    free(s->jwt), free(s->issuer), free(s->name_tag);
    memset(s, 0, sizeof *s);
}

static void opt_str(jw_t *w, const char *key, const char *v)
{
    if (v && *v) jw_str(w, key, v);
}

void client_snap_write(jw_t *w, const char *key, const client_snap_t *s, const client_extra_t *x)
{
    jw_obj_begin(w, key);
    if (s->detail) {
        jw_time(w, "start", s->start_wall_ns);
        opt_str(w, "host", s->host);
        if (s->cid) jw_uint(w, "id", s->cid);
    }
    jw_str(w, "acc", s->acc ? s->acc : "");
    if (s->detail) {
        opt_str(w, "user", s->user);
        opt_str(w, "name", s->name);
        opt_str(w, "lang", s->lang);
        opt_str(w, "ver", s->ver);
    }
    if (x && x->rtt_ns) jw_int(w, "rtt", x->rtt_ns);
    if (x && x->server) {
        const opts_t *o = srv->opts;
        opt_str(w, "server", srv->server_name);
        if (o->cluster.name && o->cluster.port) opt_str(w, "cluster", o->cluster.name);
    }
    if (x && x->stop_wall_ns) jw_time(w, "stop", x->stop_wall_ns);
    if (s->detail) {
        opt_str(w, "jwt", s->jwt);
        opt_str(w, "issuer_key", s->issuer);
        opt_str(w, "name_tag", s->name_tag);
        jw_str(w, "kind", "Client");
        jw_str(w, "client_type", "nats");
    }
    jw_obj_end(w);
}

void client_info_write(jw_t *w, const char *key, const conn_t *c, bool detail, const char *user,
                       const client_extra_t *x)
{
    client_snap_t s;
    client_snap_take(&s, c, detail, user);
    client_snap_write(w, key, &s, x);
    client_snap_free(&s);
}

void event_id(uint64_t r1, uint64_t r2, char out[23])
{
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for (int i = 0; i < 22; i++) {
        uint64_t *r = i < 11 ? &r1 : &r2;
        out[i] = b62[*r % 62];
        *r /= 62;
    }
    out[22] = 0;
}
