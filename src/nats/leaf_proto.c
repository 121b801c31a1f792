/* leaf_proto.c: the leaf node protocol on one connection, on its owner worker
 * (docs/leafnodes.md §3, §4, §6, §10).
 *
 * Hub side (accepted): our INFO (with a nonce) at once; the peer's CONNECT
 * within the leafnode auth timeout: checked (a client's port or lang, a
 * gateway, our own cluster name), authenticated against the leafnodes
 * authorization or, without one, as a client would be, and bound to an
 * account; then a second INFO (connect_info, remote_account) and the
 * account's interest; with leafnodes TLS the INFO asks for it and the leaf
 * upgrades before its CONNECT. Spoke side (dialled): wait for the hub's INFO
 * (upgrading to TLS first when it or the remote asks, then taking the INFO up
 * again), answer CONNECT, and at the INFO that answers it (connect_info) send
 * our interest.
 * Both: LS+/LS- (leaf_interest.c), LMSG/HMSG delivered like a client's
 * publish in the bound account, PING/PONG, -ERR (logged, closes). */
#include "nats/leaf.h"
#include "nats/leaf_int.h"
#include "nats/auth.h"
#include "nats/deliver.h"
#include "nats/gateway.h"
#include "nats/mappings.h"
#include "nats/proto_loop.h"
#include "nats/route.h"
#include "nats/session.h"
#include "nats/sys.h"
#include "proto/route_parse.h"
#include "proto/leaf_parse.h"
#include "base/json.h"
#include "base/log.h"
#include "base/nkeys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct info_perms info_perms_t;
static void spoke_set_perms(conn_t *c, const info_perms_t *ip);

#define LEAF_INFO_WAIT_NS (2LL * 1000000000LL) /* spoke: the hub's INFO must come by then */

/* ---- what we send ------------------------------------------------------------------- */

/* The hub's INFO (docs/leafnodes.md §3.1), in the reference's field order. */
void leaf_send_info(worker_t *w, conn_t *c, const char *nonce, bool connect_info)
{
    opts_t *o = srv->opts;
    buf_t b = {0};
    buf_puts(&b, "INFO ");
    jw_t j;
    jw_init(&j, &b, false);
    jw_obj_begin(&j, NULL);
    info_identity(&j, 1);
    jw_str(&j, "host", LF.info_host);
    jw_int(&j, "port", LF.info_port);
    jw_bool(&j, "headers", true);
    jw_bool(&j, "auth_required", true);
    if (atomic_load_explicit(&LF.tls_accept, memory_order_relaxed)) { /* docs/leafnodes.md §10 */
        jw_bool(&j, "tls_required", true);
        if (o->leaf.tls.verify) jw_bool(&j, "tls_verify", true);
    }
    jw_int(&j, "max_payload", o->max_payload);
    jw_str(&j, "ip", LF.info_ip);
    if (nonce || connect_info) jw_uint(&j, "client_id", c->cid); /* not in an update */
    if (nonce) jw_str(&j, "nonce", nonce);
    char cluster[128];
    route_cluster_name(cluster, sizeof cluster);
    if (cluster[0]) jw_str(&j, "cluster", cluster);
    if (connect_info) { /* the leaf's rights, for the spoke to apply (docs/leafnodes.md §4) */
        auth_perm_json(&j, "import", c, false);
        auth_perm_json(&j, "export", c, true);
    }
    jw_bool(&j, "info_on_connect", true);
    if (connect_info) jw_bool(&j, "connect_info", true);
    pthread_mutex_lock(&LF.mu);
    leaf_put_urls_locked(&j);
    pthread_mutex_unlock(&LF.mu);
    if (connect_info && c->acc) jw_str(&j, "remote_account", c->acc->name);
    jw_obj_end(&j);
    buf_puts(&b, " \r\n");
    session_send(w, c, b.p, b.len);
    buf_free(&b);
}

/* The credentials file's JWT, and the hub's nonce signed with its seed (base64url), as
 * the reference's CONNECT carries them. False (logged) if the file cannot be used. */
static bool sign_nonce(conn_t *c, const char *path, char *jwt, size_t jn, char *sig, size_t sn)
{
    char err[256] = "";
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t n = 0;
    if (f) {
        text = xmalloc(65536);
        n = fread(text, 1, 65535, f);
        fclose(f);
    } else {
        snprintf(err, sizeof err, "open %s: %s", path, strerror(errno));
    }
    char seed[128];
    uint8_t raw[32], sg[64];
    nkey_type_t t;
    bool ok = false;
    if (text && leaf_creds_parse(text, n, jwt, jn, seed, sizeof seed) != 0)
        snprintf(err, sizeof err, "no user JWT and seed in %s", path);
    else if (text && !nkey_decode_seed(seed, strlen(seed), raw, &t))
        snprintf(err, sizeof err, "invalid seed in %s", path);
    else if (text && !nkey_sign(raw, c->leaf->st->nonce, strlen(c->leaf->st->nonce), sg, NULL))
        snprintf(err, sizeof err, "could not sign");
    else if (text)
        ok = nkey_b64url_encode(sg, sizeof sg, sig, sn) > 0;
    explicit_bzero(seed, sizeof seed);
    explicit_bzero(raw, sizeof raw);
    if (text) {
        explicit_bzero(text, n);
        free(text);
    }
    if (!ok) ERROR("%sError signing the nonce: %s", c->prefix, err[0] ? err : "encoding");
    return ok;
}

/* The spoke's CONNECT (docs/leafnodes.md §3.2): the credentials' JWT and signature or
 * the URL's user info, our identity. */
static void send_connect(worker_t *w, conn_t *c)
{
    leaf_state_t *st = c->leaf->st;
    char jwt[8192] = "", sig[128] = "";
    if (st->dialer && st->dialer->credentials &&
        !sign_nonce(c, st->dialer->credentials, jwt, sizeof jwt, sig, sizeof sig)) {
        session_close(c, CR_CLIENT_CLOSED);
        return;
    }
    char host[256], user[256], pass[256];
    int port;
    route_url_split(st->url ? st->url : "", host, sizeof host, &port, user, sizeof user, pass,
                    sizeof pass);
    buf_t b = {0};
    buf_puts(&b, "CONNECT ");
    jw_t j;
    jw_init(&j, &b, false);
    jw_obj_begin(&j, NULL);
    jw_str(&j, "version", SERVER_VERSION);
    if (jwt[0]) {
        jw_str(&j, "jwt", jwt);
        jw_str(&j, "sig", sig);
    }
    if (user[0]) {
        jw_str(&j, "user", user);
        jw_str(&j, "pass", pass);
    }
    jw_bool(&j, "tls_required", conn_tls_on(c));
    jw_str(&j, "server_id", srv->server_id);
    jw_str(&j, "name", srv->server_name);
    char cluster[128];
    route_cluster_name(cluster, sizeof cluster);
    if (cluster[0]) jw_str(&j, "cluster", cluster);
    jw_bool(&j, "headers", true);
    jw_obj_end(&j);
    buf_puts(&b, "\r\n");
    session_send(w, c, b.p, b.len);
    explicit_bzero(b.p, b.len);
    buf_free(&b);
    explicit_bzero(pass, sizeof pass);
    DEBUG("%sRemote leafnode connect msg sent", c->prefix);
}

/* docs/leafnodes.md §3.1: a leaf we are the hub of that connects again (same server name,
 * cluster and account) replaces its old connection, which may be a dead one we did not
 * notice yet. */
static void replace_duplicate(conn_t *c)
{
    const leaf_state_t *st = c->leaf->st;
    if (!st->remote_name[0]) return;
    conn_t *old = NULL;
    pthread_mutex_lock(&LF.mu);
    for (size_t i = 0; i < LF.n && !old; i++) {
        conn_t *o = LF.leafs[i];
        const leaf_state_t *os = o->leaf->st;
        if (o != c && !o->leaf->spoke && o->acc == c->acc &&
            strcmp(os->remote_name, st->remote_name) == 0 &&
            strcmp(os->remote_cluster, st->remote_cluster) == 0)
            old = o;
    }
    if (old) {
        /* (under LF.mu: a registered connection is not freed meanwhile) */
        /* straight into its buffer (w is not its owner): it is out before the close */
        static const char dup[] = "-ERR 'Duplicate Remote LeafNode Connection'\r\n";
        session_send(NULL, old, dup, sizeof dup - 1);
        ERROR("%sDuplicate Remote LeafNode Connection", old->prefix);
        conn_request_close(old, CR_DUPLICATE_LEAF);
    }
    pthread_mutex_unlock(&LF.mu);
    if (old) WARN("%sReplacing connection from same server", c->prefix);
}

/* The reference's log lines when it merges its JetStream denies into a new leaf
 * connection: the system account gets the wider list (docs/leafnodes.md §6). */
static void log_js_deny(conn_t *c)
{
    if (!c->acc) return;
    if (c->acc == account_system()) {
        const leaf_state_t *st = c->leaf->st;
        if (st->remote_cluster[0])
            NOTICE("%sSystem Account Connected from %s/%s", c->prefix, st->remote_name,
                   st->remote_cluster);
        else
            NOTICE("%sSystem Account Connected from %s", c->prefix, st->remote_name);
        NOTICE("%sJetStream Not Extended, adding denies [$JSC.> $NRG.> $JS.API.> $KV.> $OBJ.>]",
               c->prefix);
        return;
    }
    NOTICE("%sJetStream Not Extended, adding deny [$JS.API.> $KV.> $OBJ.>] for account \"%s\"",
           c->prefix, c->acc->name);
}

static void first_ping(worker_t *w, conn_t *c)
{
    c->ping_due_ns = deadline_after(w->now_ns, 1000000000LL);
    c->rtt_pending = true;
    worker_note_deadline(w, c->ping_due_ns);
}

void leaf_start_protocol(worker_t *w, conn_t *c)
{
    if (c->closing) return;
    if (c->leaf->spoke) {
        spoke_set_perms(c, NULL); /* the remote's deny lists, until the hub's INFO */
        /* nothing to send before the hub's INFO */
        c->auth_ok = true;
        c->auth_due_ns = deadline_after(w->now_ns, LEAF_INFO_WAIT_NS);
        worker_note_deadline(w, c->auth_due_ns);
        return;
    }
    char nonce[NKEY_NONCE_LEN + 1];
    nkey_nonce(nonce);
    free(c->nonce);
    c->nonce = xstrdup(nonce);
    leaf_send_info(w, c, nonce, false);
    const leaf_opts_t *lo = &srv->opts->leaf;
    c->auth_due_ns = deadline_after(w->now_ns, opts_leaf_auth_timeout_ns(lo));
    worker_note_deadline(w, c->auth_due_ns);
    conn_flush_owned(w, c);
    /* INFO in plaintext, then the leaf upgrades (the handshake's own deadline runs) */
    tls_ctx_t *t = atomic_load(&LF.tls_accept); /* (a reload retires the old one via QSBR) */
    if (t && !conn_tls_on(c)) conn_tls_accept(w, c, t, false);
}

static void process_info(worker_t *w, conn_t *c, const op_t *op);

/* Spoke: TLS with the hub, after its INFO asked for it or our remote has tls {} (docs/
 * leafnodes.md §10): the remote's context, else one that checks the hub's certificate
 * against the system's CAs; c closing when there is none. The handshake may be done on
 * return (leaf_tls_done ran). */
static void spoke_tls_begin(worker_t *w, conn_t *c)
{
    leaf_state_t *st = c->leaf->st;
    leaf_dialer_t *d = st->dialer;
    tls_ctx_t *t = NULL;
    bool insecure = false;
    if (d) { /* (a reload may swap them: leaf_reload_tls) */
        pthread_mutex_lock(&d->mu);
        t = d->tls ? tls_ctx_ref(d->tls) : NULL;
        insecure = d->tls_insecure;
        pthread_mutex_unlock(&d->mu);
    }
    if (!t) {
        pthread_mutex_lock(&LF.mu);
        if (!LF.tls_dial_any) {
            tls_opts_t none;
            memset(&none, 0, sizeof none);
            none.enabled = true;
            none.timeout_ns = tls_opts_timeout_ns(&none);
            char err[300] = "";
            LF.tls_dial_any = tls_ctx_client(&none, err, sizeof err);
            if (!LF.tls_dial_any) ERROR("leafnode remote TLS: %s", err);
        }
        t = LF.tls_dial_any ? tls_ctx_ref(LF.tls_dial_any) : NULL;
        pthread_mutex_unlock(&LF.mu);
    }
    if (!t) {
        session_close(c, CR_TLS_HANDSHAKE);
        return;
    }
    char host[256] = "";
    int port;
    route_url_split(st->url ? st->url : "", host, sizeof host, &port, NULL, 0, NULL, 0);
    tls_conn_begin(w, c, t, true, host, !insecure, "leafnode");
}

/* Both sides once the handshake is done: the hub waits for the CONNECT as before; the
 * spoke takes up the hub's INFO it kept (its CONNECT goes out now, over TLS). */
void leaf_tls_done(worker_t *w, conn_t *c)
{
    leaf_state_t *st = c->leaf->st;
    if (!c->leaf->spoke || !st->tls_info) return;
    op_t op;
    memset(&op, 0, sizeof op);
    char *line = st->tls_info;
    op.line = (slice_t){line, st->tls_info_len};
    st->tls_info = NULL;
    process_info(w, c, &op);
    free(line);
}

/* ---- CONNECT (hub side) ------------------------------------------------------------ */

/* The leafnodes authorization (docs/leafnodes.md §4): its user, or one of its users,
 * binds the account configured there; without one the leaf logs in as a client would.
 * Sets c->acc. */
static auth_rc_t leaf_auth(conn_t *c, const leaf_connect_t *ci, bool again)
{
    const leaf_opts_t *lo = &srv->opts->leaf;
    const char *acc_name = NULL;
    auth_rc_t rc;
    if (lo->user && *lo->user) {
        if (strcmp(ci->user, lo->user) != 0) return AUTH_FAIL;
        rc = auth_secret_check(c, lo->password ? lo->password : "", ci->pass, true);
        acc_name = lo->account;
    } else if (lo->nusers) {
        const user_t *u = NULL;
        for (size_t i = 0; i < lo->nusers && !u; i++)
            if (lo->users[i].name && strcmp(lo->users[i].name, ci->user) == 0) u = &lo->users[i];
        if (!u) return AUTH_FAIL;
        rc = auth_secret_check(c, u->password, ci->pass, true);
        acc_name = u->account;
    } else if (accounts_from_jwts()) {
        /* operator mode logs in with the CONNECT's user JWT and its signature of our nonce */
        free(c->cred_jwt);
        c->cred_jwt = ci->jwt[0] ? xstrdup(ci->jwt) : NULL;
        free(c->cred_sig);
        c->cred_sig = ci->sig[0] ? xstrdup(ci->sig) : NULL;
        /* (the JWT's permissions become c's: docs/leafnodes.md §4) */
        return auth_check(c, ci->user, ci->pass, ci->token, true);
    } else {
        /* as a client would, with the reference's leaf rules: a user named (or the
         * no_auth_user) must be a configured user allowed on a leaf connection; without
         * one the leaf binds the authorization's account, whatever the client port needs */
        const opts_t *o = srv->opts;
        const char *name = ci->user, *pass = ci->pass;
        if (!name[0] && !pass[0] && !ci->token[0] && o->no_auth_user && *o->no_auth_user) {
            for (size_t i = 0; i < o->nusers; i++)
                if (strcmp(o->users[i].name, o->no_auth_user) == 0)
                    name = o->users[i].name, pass = o->users[i].password;
        }
        if (!name[0]) {
            acc_name = lo->account;
            rc = AUTH_OK;
        } else {
            const user_t *u = NULL;
            for (size_t i = 0; i < o->nusers && !u; i++)
                if (!o->users[i].is_nkey && strcmp(o->users[i].name, name) == 0) u = &o->users[i];
            if (!u || (u->restrict_conn_types && !u->allow_leaf)) return AUTH_FAIL;
            rc = auth_secret_check(c, u->password, pass, true);
            acc_name = u->account;
            /* the user's permissions, as it sees them (docs/leafnodes.md §4) */
            if (rc == AUTH_OK && !again) auth_set_perms(c, u->perms ? u->perms : o->default_perms);
        }
    }
    if (rc != AUTH_OK) return rc;
    account_t *acc = acc_name ? account_fetch(acc_name, strlen(acc_name)) : account_global();
    if (again) return acc == c->acc ? AUTH_OK : AUTH_FAIL; /* bound for life */
    c->acc = acc;
    if (!c->acc) {
        ERROR("authentication of user \"%s\" failed, unable to lookup account \"%s\"", ci->user,
              acc_name ? acc_name : "");
        return AUTH_FAIL;
    }
    free(c->user); /* (owner only: snapshots run on the owner) */
    c->user = ci->user[0] ? xstrdup(ci->user) : NULL;
    return AUTH_OK;
}

static void process_connect(worker_t *w, conn_t *c, const op_t *op)
{
    leaf_state_t *st = c->leaf->st;
    if (c->leaf->spoke) return; /* not ours to answer */
    /* docs/leafnodes.md §3.1: a CONNECT again is answered again (INFO, the interest) */
    bool again = st->got_connect;
    leaf_connect_t ci;
    if (leaf_connect_parse(op->line.p, op->line.n, &ci) != 0) {
        explicit_bzero(&ci, sizeof ci);
        session_close(c, CR_PROTOCOL_VIOLATION);
        return;
    }
    /* a CONNECT again keeps the account it bound (other workers read c->acc): its
     * credentials are checked again only outside operator mode (docs/leafnodes.md §3.1) */
    auth_rc_t rc = again && accounts_from_jwts() ? AUTH_OK : leaf_auth(c, &ci, again);
    explicit_bzero(ci.pass, sizeof ci.pass);
    explicit_bzero(ci.token, sizeof ci.token);
    if (rc == AUTH_PENDING) {
        /* a bcrypt check on the auth pool: nothing is read until its verdict, then
         * leaf_connect_verdict runs this CONNECT again and finds it cached */
        if (!st->connect_line) {
            st->connect_line = xstrndup(op->line.p, op->line.n);
            st->connect_len = op->line.n;
        }
        c->auth_wait = true;
        return;
    }
    if (again) {
        if (rc != AUTH_OK) {
            if (rc == AUTH_FAIL) ERROR("%sauthentication error", c->prefix);
            session_err_close(w, c, "Authorization Violation", CR_AUTH_VIOLATION);
            return;
        }
        leaf_send_info(w, c, NULL, true);
        leaf_redump(w, c);
        return;
    }
    if (rc == AUTH_OK && c->acc && !account_count_leaf(c, c->acc, true)) rc = AUTH_FAIL;
    if (rc != AUTH_OK) {
        if (rc == AUTH_FAIL) ERROR("%sauthentication error", c->prefix);
        c->acc = NULL;
        session_err_close(w, c, "Authorization Violation", CR_AUTH_VIOLATION);
        return;
    }
    st->got_connect = true; /* from here nleafs counts it (leaf_gone_op) */
    c->auth_ok = true;
    c->auth_due_ns = 0;
    if (ci.has_lang) { /* a client on the leafnode port (checked after its credentials) */
        ERROR("%sattempted to connect to leaf node port", c->prefix);
        session_err_close(w, c, "attempted to connect to leaf node port", CR_WRONG_PORT);
        return;
    }
    char cluster[128];
    route_cluster_name(cluster, sizeof cluster);
    if (cluster[0] && ci.cluster[0] && strcmp(cluster, ci.cluster) == 0) {
        ERROR("%sremote leafnode has same cluster name", c->prefix);
        session_err_close(w, c, "remote leafnode has same cluster name", CR_PROTOCOL_VIOLATION);
        return;
    }
    if (ci.gateway[0]) {
        char text[300];
        snprintf(text, sizeof text, "Rejecting connection from gateway \"%s\" on the leafnode port",
                 ci.gateway);
        ERROR("%s%s", c->prefix, text);
        session_err_close(w, c, text, CR_PROTOCOL_VIOLATION);
        return;
    }
    if (ci.hub) {
        ERROR("%sa remote leafnode that is a hub (is_hub) is not supported by this server",
              c->prefix);
        session_close(c, CR_PROTOCOL_VIOLATION);
        return;
    }
    c->headers = ci.headers;
    pthread_mutex_lock(&LF.mu);
    snprintf(st->remote_name, sizeof st->remote_name, "%s", ci.name);
    snprintf(st->remote_id, sizeof st->remote_id, "%s", ci.server_id);
    snprintf(st->remote_cluster, sizeof st->remote_cluster, "%s", ci.cluster);
    snprintf(c->leaf->cluster, sizeof c->leaf->cluster, "%s", ci.cluster);
    pthread_mutex_unlock(&LF.mu);
    replace_duplicate(c);
    first_ping(w, c);
    sys_client_connected(w, c); /* the account's connect event, as a client's */
    if (*gateway_name()) sys_leaf_connected(w, c->acc);
    log_js_deny(c);
    leaf_send_info(w, c, NULL, true);
    leaf_register(w, c);
    c->leaf->st->tsub_until_ns = w->now_ns + 5000000000LL;
    worker_note_deadline(w, c->leaf->st->tsub_until_ns);
}

void leaf_closed_event(conn_t *c)
{
    if (!c->leaf->spoke && c->leaf->st->got_connect && c->acc) sys_client_closed(c->w, c);
}

void leaf_connect_verdict(worker_t *w, conn_t *c)
{
    leaf_state_t *st = c->leaf->st;
    char *line = st->connect_line;
    size_t n = st->connect_len;
    if (!line) return;
    st->connect_line = NULL;
    st->connect_len = 0;
    op_t op = {.type = OP_CONNECT, .line = {line, n}};
    process_connect(w, c, &op);
    explicit_bzero(line, n);
    free(line);
}

/* ---- INFO (spoke side) -------------------------------------------------------------- */

/* ---- the spoke's permissions (docs/leafnodes.md §4) ------------------------------- */

typedef struct strlist {
    char **v;
    size_t n;
} strlist_t;

static void strlist_free(strlist_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int strlist_elem(void *ctx, json_type_t t, slice_t raw)
{
    strlist_t *l = ctx;
    char tmp[1024];
    if (t == JSON_STRING && json_unquote(raw, tmp, sizeof tmp) > 0) {
        l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
        l->v[l->n++] = xstrdup(tmp);
    }
    return 0;
}

/* A SubjectPermission object: its allow and deny lists. */
typedef struct subj_perm {
    bool present;
    strlist_t allow, deny;
} subj_perm_t;

static int subj_perm_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    subj_perm_t *p = ctx;
    if (t != JSON_ARRAY) return 0;
    if (json_key_is(key, "allow")) json_parse_array(raw.p, raw.n, strlist_elem, &p->allow);
    if (json_key_is(key, "deny")) json_parse_array(raw.p, raw.n, strlist_elem, &p->deny);
    return 0;
}

struct info_perms {
    subj_perm_t imp, exp;
};

static int info_perm_member(void *ctx, slice_t key, json_type_t t, slice_t raw)
{
    info_perms_t *ip = ctx;
    subj_perm_t *p = json_key_is(key, "import")   ? &ip->imp
                     : json_key_is(key, "export") ? &ip->exp
                                                  : NULL;
    if (p && t == JSON_OBJECT) {
        p->present = true;
        json_parse_object(raw.p, raw.n, subj_perm_member, p);
    }
    return 0;
}

/* The hub's lists (allow and deny) plus our own denies, as one permission list. */
static void perm_list_from(perm_list_t *out, bool *has, const subj_perm_t *hub, char **deny,
                           size_t ndeny)
{
    *has = hub->present || ndeny;
    out->has_allow = hub->allow.n > 0;
    out->allow = hub->allow.v;
    out->nallow = hub->allow.n;
    out->ndeny = hub->deny.n + ndeny;
    out->deny = xcalloc(out->ndeny ? out->ndeny : 1, sizeof *out->deny);
    for (size_t i = 0; i < hub->deny.n; i++)
        out->deny[i] = hub->deny.v[i];
    for (size_t i = 0; i < ndeny; i++)
        out->deny[hub->deny.n + i] = deny[i];
}

/* Owner: the spoke's permissions: publish = the hub's export, subscribe = its import, each
 * with the remote's deny list added; none when neither side has any. */
static void spoke_set_perms(conn_t *c, const info_perms_t *ip)
{
    static const info_perms_t none;
    if (!ip) ip = &none;
    const leaf_dialer_t *d = c->leaf->st->dialer;
    size_t nde = d ? d->ndeny_exports : 0, ndi = d ? d->ndeny_imports : 0;
    if (!ip->exp.present && !ip->imp.present && !nde && !ndi) {
        auth_set_perms(c, NULL);
        return;
    }
    permissions_t p = {0};
    perm_list_from(&p.publish, &p.has_publish, &ip->exp, d ? d->deny_exports : NULL, nde);
    perm_list_from(&p.subscribe, &p.has_subscribe, &ip->imp, d ? d->deny_imports : NULL, ndi);
    auth_set_perms(c, &p);
    free(p.publish.deny); /* (the strings are the lists', compiled copies were made) */
    free(p.subscribe.deny);
}

/* The spoke's side is complete: register, send our interest. */
static void finish_connect(worker_t *w, conn_t *c)
{
    if (c->leaf->registered || c->closing) return;
    first_ping(w, c);
    log_js_deny(c);
    leaf_register(w, c);
    c->leaf->st->tsub_until_ns = w->now_ns + 5000000000LL;
    worker_note_deadline(w, c->leaf->st->tsub_until_ns);
}

static void process_info(worker_t *w, conn_t *c, const op_t *op)
{
    leaf_state_t *st = c->leaf->st;
    if (!c->leaf->spoke) return; /* a hub ignores INFO from its leaf */
    leaf_info_msg_t ii;
    if (leaf_info_parse(op->line.p, op->line.n, &ii) != 0) {
        session_close(c, CR_PROTOCOL_VIOLATION);
        return;
    }
    if (!st->got_info) {
        if (ii.cid == 0 || !ii.has_urls) {
            ERROR("%sattempted to connect to wrong port", c->prefix);
            session_close(c, CR_WRONG_PORT);
            return;
        }
        if ((ii.tls_required || (st->dialer && st->dialer->tls_on)) && !conn_tls_on(c)) {
            /* Kept before the handshake starts, for leaf_tls_done to take up: the first
             * handshake call may finish it (the hub's whole flight can be in the socket by
             * the time OpenSSL first reads it; seen on a loaded machine). */
            free(st->tls_info);
            st->tls_info = xmalloc(op->line.n ? op->line.n : 1);
            memcpy(st->tls_info, op->line.p, op->line.n);
            st->tls_info_len = op->line.n;
            spoke_tls_begin(w, c);
            return;
        }
        st->got_info = true;
        c->auth_due_ns = 0;
        c->headers = ii.headers;
        pthread_mutex_lock(&LF.mu);
        snprintf(st->remote_name, sizeof st->remote_name, "%s", ii.name[0] ? ii.name : ii.id);
        snprintf(st->remote_id, sizeof st->remote_id, "%s", ii.id);
        snprintf(st->remote_cluster, sizeof st->remote_cluster, "%s", ii.cluster);
        snprintf(c->leaf->cluster, sizeof c->leaf->cluster, "%s", ii.cluster);
        pthread_mutex_unlock(&LF.mu);
        snprintf(st->nonce, sizeof st->nonce, "%s", ii.nonce);
        send_connect(w, c);
        if (c->closing) return;
        if (!ii.info_on_connect) ii.connect_info = true;
    }
    if (ii.connect_info) { /* the rights the hub gives us (docs/leafnodes.md §4) */
        info_perms_t ip = {0};
        json_parse_object(op->line.p, op->line.n, info_perm_member, &ip);
        spoke_set_perms(c, &ip);
        strlist_free(&ip.imp.allow);
        strlist_free(&ip.imp.deny);
        strlist_free(&ip.exp.allow);
        strlist_free(&ip.exp.deny);
    }
    /* the hub's cluster, as it knows it now: dialled first next time (docs/leafnodes.md
     * §3.2) */
    if (ii.nurls && st->dialer) leaf_dialer_learn(st->dialer, ii.urls, ii.nurls);
    if (ii.connect_info) finish_connect(w, c);
}

/* ---- messages ------------------------------------------------------------------------ */

/* LMSG/HMSG: published in the bound account like a client's message, never back to c. */
static void deliver_leaf(worker_t *w, conn_t *c, const op_t *op)
{
    count_in(w, c, op->size);
    account_t *acc = c->acc;
    if (!acc || !c->leaf->registered) return;
    slice_t subj = op->subject;
    char mapped[1024];
    if (unlikely(atomic_load_explicit(&acc->maps, memory_order_relaxed) != NULL))
        mappings_map(acc, w, op->subject, mapped, sizeof mapped, &subj);
    msg_t m = {.from = c,
               .acc = acc,
               .subject = subj,
               .reply = op->reply,
               .hdr = op->hdr,
               .payload = op->payload,
               .size = op->size,
               .from_leaf = c->leaf->spoke ? MSG_LEAF_SPOKE : MSG_LEAF_HUB,
               .queues = op->queues};
    deliver_all(w, sublist_match(acc->sl, subj.p, subj.n), &m);
}

/* ---- the loop ------------------------------------------------------------------------ */

static void leaf_parse_error(worker_t *w, conn_t *c, parse_rc_t rc, const op_t *op, const char *buf,
                             size_t len)
{
    (void)buf, (void)len;
    session_peer_parse_error(w, c, rc, op, "Leafnode");
}

static inline __attribute__((always_inline)) proto_next_t leaf_handle(worker_t *w, conn_t *c,
                                                                      const op_t *op)
{
    if (!c->auth_ok && op->type != OP_CONNECT) {
        session_err_close(w, c, "Authorization Violation", CR_AUTH_VIOLATION);
        return PROTO_STOP;
    }
    atomic_store_explicit(&c->last_activity_ns, w->now_ns, memory_order_relaxed);
    switch (op->type) {
    case OP_CONNECT:
        if (log_trace_on) TRACE("%s<<- [CONNECT ...]", c->prefix);
        process_connect(w, c, op);
        break;
    case OP_INFO:
        if (log_trace_on) TRACE("%s<<- [INFO %.*s]", c->prefix, (int)op->line.n, op->line.p);
        process_info(w, c, op);
        break;
    case OP_PING:
        session_peer_ping(w, c);
        break;
    case OP_PONG:
        session_peer_pong(w, c);
        break;
    case OP_LSUB:
        TRACE("%s<<- [LS+ %.*s]", c->prefix, (int)op->line.n, op->line.p);
        leaf_process_sub(w, c, op, true);
        break;
    case OP_LUNSUB:
        TRACE("%s<<- [LS- %.*s]", c->prefix, (int)op->line.n, op->line.p);
        leaf_process_sub(w, c, op, false);
        break;
    case OP_LMSG:
        if (log_trace_on) {
            TRACE("%s<<- [%s %.*s]", c->prefix, op->hdr >= 0 ? "HMSG" : "LMSG", (int)op->line.n,
                  op->line.p);
            log_trace_payload(c->prefix, op->payload, (size_t)op->size,
                              srv->opts->max_traced_msg_len);
        }
        deliver_leaf(w, c, op);
        break;
    case OP_ERR:
        ERROR("%sLeafnode Error %.*s", c->prefix, (int)op->line.n, op->line.p);
        if (op->line.n > 15 && memmem(op->line.p, op->line.n, "Loop detected", 13))
            c->leaf->st->loop = true;
        session_close(c, CR_CLIENT_ERR);
        break;
    default: /* +OK */
        break;
    }
    return PROTO_NEXT;
}

static const proto_kind_t leaf_kind = {NULL, leaf_parse_error, leaf_handle};

size_t leaf_process(worker_t *w, conn_t *c, const char *buf, size_t len, size_t *need)
{
    parse_limits_t lim = {PARSE_LEAF, 0, 0};
    return proto_loop(w, c, &leaf_kind, &lim, buf, len, need);
}

void leaf_timer(worker_t *w, conn_t *c)
{
    int64_t now = w->now_ns;
    if (session_tls_wait(w, c)) return;
    if (c->auth_due_ns && now >= c->auth_due_ns) {
        if (c->leaf->spoke) {
            ERROR("%sDid not receive the remote leafnode's INFO in time", c->prefix);
            session_close(c, CR_AUTH_TIMEOUT);
        } else {
            session_err_close(w, c, "Authentication Timeout", CR_AUTH_TIMEOUT);
        }
        return;
    }
    leaf_state_t *st = c->leaf->st;
    if (st->tsub_until_ns && now >= st->tsub_until_ns) {
        st->tsub_until_ns = 0;
        leaf_tsub_clear(c);
    }
    if (c->leaf->spoke && c->ping_due_ns) c->rtt_pending = true; /* a spoke always PINGs */
    switch (conn_ping_tick(w, c, NULL)) {
    case PING_STALE:
        session_err_close(w, c, "Stale Connection", CR_STALE);
        return;
    case PING_SENT:
        DEBUG("%sLeafnode Ping Timer", c->prefix);
        break;
    case PING_NOT_DUE:
    case PING_DELAYED:
        break;
    }
    worker_note_deadline(w, c->ping_due_ns);
    worker_note_deadline(w, c->auth_due_ns);
    worker_note_deadline(w, st->tsub_until_ns);
}
