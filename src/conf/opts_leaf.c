/* opts_leaf.c: the leafnodes {} block (docs/leafnodes.md §1): the listener
 * (listen/host/port, advertise, no_advertise), its authorization (one user,
 * or users each with an account; the block's account; timeout), the remotes to
 * dial (url/urls, account, credentials, tls) and the reconnect delay, and the listener's
 * tls {}. Keys of the reference this server does not implement (websocket, hub...)
 * are refused with their position, never accepted and ignored. A reload that
 * changes the block is refused ("LeafNode"), its TLS blocks included. */
#include "conf/opts_impl.h"

#include <ctype.h>

static void remote_free(leaf_remote_t *r)
{
    strv_free(&r->urls, &r->nurls);
    free(r->account);
    free(r->credentials);
    strv_free(&r->deny_imports, &r->ndeny_imports);
    strv_free(&r->deny_exports, &r->ndeny_exports);
    tls_free(&r->tls);
}

/* deny_imports / deny_exports: one subject or a list of them */
static void subject_list(cfg_ctx_t *c, const conf_kv_t *kv, char ***v, size_t *n)
{
    strv_free(v, n);
    const conf_val_t *val = kv->val;
    if (val->type == CONF_STRING) {
        strv_push(v, n, xstrdup(val->u.str.s));
        return;
    }
    if (!want(c, kvpos(kv), val, CONF_ARRAY)) return;
    for (size_t j = 0; j < val->u.arr.n; j++) {
        const conf_val_t *e = val->u.arr.items[j];
        if (!want(c, valpos(e), e, CONF_STRING)) return;
        strv_push(v, n, xstrdup(e->u.str.s));
    }
}

void leaf_opts_free(leaf_opts_t *l)
{
    free(l->host);
    free(l->advertise);
    free(l->user);
    free(l->password);
    free(l->account);
    users_free(l->users, l->nusers);
    for (size_t i = 0; i < l->nremotes; i++)
        remote_free(&l->remotes[i]);
    free(l->remotes);
    tls_free(&l->tls);
    memset(l, 0, sizeof *l);
}

static void refuse(cfg_ctx_t *c, const conf_kv_t *kv, const char *where)
{
    cfg_err(c, kvpos(kv), "leafnode%s \"%s\" is not supported by this server", where, kv->key);
}

/* users: [ {user, password, account} ] */
static bool leaf_users(cfg_ctx_t *c, const conf_kv_t *kv, leaf_opts_t *l)
{
    if (kv->val->type != CONF_ARRAY) {
        cfg_err(c, kvpos(kv), "Expected users field to be an array, got %s", tname(kv->val->type));
        return false;
    }
    users_free(l->users, l->nusers);
    l->users = NULL;
    l->nusers = 0;
    for (size_t j = 0; j < kv->val->u.arr.n; j++) {
        const conf_val_t *e = kv->val->u.arr.items[j];
        if (e->type != CONF_MAP) {
            cfg_err(c, valpos(e), "Expected user entry to be a map/struct, got %s", tname(e->type));
            return false;
        }
        user_t u = {0};
        for (size_t i = 0; i < e->u.map.n; i++) {
            const conf_kv_t *ukv = &e->u.map.items[i];
            if (KEYIS(ukv->key, "user", "username"))
                get_str(c, ukv, &u.name);
            else if (KEYIS(ukv->key, "pass", "password"))
                get_str(c, ukv, &u.password);
            else if (KEYIS(ukv->key, "account"))
                get_str(c, ukv, &u.account);
            else
                unknown_field(c, ukv);
        }
        if (!u.password) u.password = xstrdup("");
        for (size_t k = 0; k < l->nusers; k++)
            if (u.name && l->users[k].name && strcmp(u.name, l->users[k].name) == 0)
                cfg_err(c, kvpos(kv), "duplicate user \"%s\" detected in leafnode authorization",
                        u.name);
        l->users = xrealloc(l->users, (l->nusers + 1) * sizeof *l->users);
        l->users[l->nusers++] = u;
    }
    return true;
}

static void leaf_authorization(cfg_ctx_t *c, const conf_kv_t *akv, leaf_opts_t *l)
{
    if (!want(c, kvpos(akv), akv->val, CONF_MAP)) return;
    const conf_val_t *v = akv->val;
    for (size_t i = 0; i < v->u.map.n; i++) {
        const conf_kv_t *kv = &v->u.map.items[i];
        if (shadowed(v, i)) continue;
        if (KEYIS(kv->key, "user", "username")) {
            get_str(c, kv, &l->user);
        } else if (KEYIS(kv->key, "pass", "password")) {
            get_str(c, kv, &l->password);
        } else if (KEYIS(kv->key, "timeout")) {
            /* as the client authorization: a non-number means 1 second */
            l->auth_timeout_ns = kv->val->type == CONF_INT     ? secs_to_ns(kv->val->u.i)
                                 : kv->val->type == CONF_FLOAT ? fsecs_to_ns(kv->val->u.f)
                                                               : NS_PER_SEC;
        } else if (KEYIS(kv->key, "users")) {
            leaf_users(c, kv, l);
        } else if (KEYIS(kv->key, "account")) {
            get_str(c, kv, &l->account);
        } else {
            unknown_field(c, kv);
        }
    }
    if (l->user && l->nusers)
        cfg_err(c, kvpos(akv), "can not have a single user/pass and a users array");
}

static void remote_urls(cfg_ctx_t *c, const conf_kv_t *kv, leaf_remote_t *r)
{
    const conf_val_t *v = kv->val;
    strv_free(&r->urls, &r->nurls);
    if (v->type == CONF_STRING) {
        strv_push(&r->urls, &r->nurls, xstrdup(v->u.str.s));
        return;
    }
    if (v->type != CONF_ARRAY) {
        cfg_err(c, kvpos(kv), "Expected remote leafnode url to be an array or string, got %s",
                tname(v->type));
        return;
    }
    for (size_t j = 0; j < v->u.arr.n; j++) {
        const conf_val_t *e = v->u.arr.items[j];
        if (!want(c, valpos(e), e, CONF_STRING)) return;
        strv_push(&r->urls, &r->nurls, xstrdup(e->u.str.s));
    }
}

static void leaf_remotes(cfg_ctx_t *c, const conf_kv_t *kv, leaf_opts_t *l)
{
    if (kv->val->type != CONF_ARRAY) {
        cfg_err(c, kvpos(kv), "Expected remotes field to be an array, got %s",
                tname(kv->val->type));
        return;
    }
    for (size_t i = 0; i < l->nremotes; i++)
        remote_free(&l->remotes[i]);
    free(l->remotes);
    l->remotes = NULL;
    l->nremotes = 0;
    for (size_t j = 0; j < kv->val->u.arr.n; j++) {
        const conf_val_t *e = kv->val->u.arr.items[j];
        if (e->type != CONF_MAP) {
            cfg_err(c, valpos(e), "Expected remote leafnode entry to be a map/struct, got %s",
                    tname(e->type));
            continue;
        }
        leaf_remote_t r = {0};
        tls_defaults(&r.tls);
        for (size_t i = 0; i < e->u.map.n; i++) {
            const conf_kv_t *rkv = &e->u.map.items[i];
            if (KEYIS(rkv->key, "url", "urls"))
                remote_urls(c, rkv, &r);
            else if (KEYIS(rkv->key, "account", "local"))
                get_str(c, rkv, &r.account);
            else if (KEYIS(rkv->key, "creds", "credentials"))
                get_str(c, rkv, &r.credentials);
            else if (KEYIS(rkv->key, "no_randomize", "dont_randomize"))
                get_bool(c, rkv, &r.no_randomize);
            else if (KEYIS(rkv->key, "deny_imports", "deny_import"))
                subject_list(c, rkv, &r.deny_imports, &r.ndeny_imports);
            else if (KEYIS(rkv->key, "deny_exports", "deny_export"))
                subject_list(c, rkv, &r.deny_exports, &r.ndeny_exports);
            else if (KEYIS(rkv->key, "tls"))
                parse_tls(c, rkv, &r.tls, false);
            else if (KEYIS(rkv->key, "hub", "ws_compress", "ws_compression", "websocket_compress",
                           "websocket_compression", "ws_no_masking", "websocket_no_masking",
                           "jetstream_cluster_migrate", "js_cluster_migrate"))
                refuse(c, rkv, " remote");
            else
                unknown_field(c, rkv);
        }
        l->remotes = xrealloc(l->remotes, (l->nremotes + 1) * sizeof *l->remotes);
        l->remotes[l->nremotes++] = r;
    }
}

void parse_leafnodes(cfg_ctx_t *c, const conf_kv_t *lkv, opts_t *o)
{
    if (lkv->val->type != CONF_MAP) {
        cfg_err(c, kvpos(lkv), "Expected map to define a leafnode, got %s", tname(lkv->val->type));
        return;
    }
    leaf_opts_t *l = &o->leaf;
    l->configured = true;
    const conf_val_t *v = lkv->val;
    for (size_t i = 0; i < v->u.map.n; i++) {
        const conf_kv_t *kv = &v->u.map.items[i];
        if (shadowed(v, i)) continue;
        if (KEYIS(kv->key, "listen")) {
            parse_listen(c, kvpos(kv), kv->val, &l->host, &l->port);
        } else if (KEYIS(kv->key, "port")) {
            get_int(c, kv, &l->port);
        } else if (KEYIS(kv->key, "host", "net")) {
            get_str(c, kv, &l->host);
        } else if (KEYIS(kv->key, "authorization")) {
            leaf_authorization(c, kv, l);
        } else if (KEYIS(kv->key, "remotes")) {
            leaf_remotes(c, kv, l);
        } else if (KEYIS(kv->key, "reconnect", "reconnect_delay", "reconnect_interval")) {
            int64_t s;
            if (get_i64(c, kv, &s)) l->reconnect_ns = secs_to_ns(s);
        } else if (KEYIS(kv->key, "leafnode_advertise", "advertise")) {
            get_str(c, kv, &l->advertise);
        } else if (KEYIS(kv->key, "no_advertise")) {
            get_bool(c, kv, &l->no_advertise);
        } else if (KEYIS(kv->key, "tls")) {
            parse_tls(c, kv, &l->tls, false);
        } else if (KEYIS(kv->key, "min_version", "minimum_version")) {
            refuse(c, kv, "s");
        } else {
            unknown_field(c, kv);
        }
    }
}

static bool users_same(const leaf_opts_t *a, const leaf_opts_t *b)
{
    if (a->nusers != b->nusers) return false;
    for (size_t i = 0; i < a->nusers; i++)
        if (!str_same(a->users[i].name, b->users[i].name) ||
            !str_same(a->users[i].password, b->users[i].password) ||
            !str_same(a->users[i].account, b->users[i].account))
            return false;
    return true;
}

static bool remotes_same(const leaf_opts_t *a, const leaf_opts_t *b)
{
    if (a->nremotes != b->nremotes) return false;
    for (size_t i = 0; i < a->nremotes; i++)
        if (!strv_eq(a->remotes[i].urls, a->remotes[i].nurls, b->remotes[i].urls,
                     b->remotes[i].nurls) ||
            !str_same(a->remotes[i].account, b->remotes[i].account) ||
            !str_same(a->remotes[i].credentials, b->remotes[i].credentials) ||
            !strv_eq(a->remotes[i].deny_imports, a->remotes[i].ndeny_imports,
                     b->remotes[i].deny_imports, b->remotes[i].ndeny_imports) ||
            !strv_eq(a->remotes[i].deny_exports, a->remotes[i].ndeny_exports,
                     b->remotes[i].deny_exports, b->remotes[i].ndeny_exports) ||
            a->remotes[i].tls.enabled != b->remotes[i].tls.enabled)
            return false;
    return true;
}

/* The same pinned certificates, in any order (the reference keeps them as a set). */
static bool pins_same(const tls_opts_t *a, const tls_opts_t *b)
{
    if (a->npinned_certs != b->npinned_certs) return false;
    for (size_t i = 0; i < a->npinned_certs; i++) {
        bool found = false;
        for (size_t k = 0; !found && k < b->npinned_certs; k++)
            found = strcmp(a->pinned_certs[i], b->pinned_certs[k]) == 0;
        if (!found) return false;
    }
    return true;
}

/* The reference refuses a reload that changes the leafnodes block beyond TLS:
 * "config reload not supported for LeafNode". A TLS block's contents may change
 * (leaf_reload_tls applies them); turning one on or off is refused here (the reference's
 * INFO would go on saying what it said at startup), and so is a change of the hub's
 * pinned_certs (a field of its own in the reference's comparison: refused there too). */
const char *leaf_refusal(const opts_t *a, const opts_t *b, char *buf, size_t n)
{
    const leaf_opts_t *x = &a->leaf, *y = &b->leaf;
    bool same = str_same(x->host, y->host) && x->port == y->port &&
                str_same(x->advertise, y->advertise) && x->no_advertise == y->no_advertise &&
                str_same(x->user, y->user) && str_same(x->password, y->password) &&
                str_same(x->account, y->account) && x->auth_timeout_ns == y->auth_timeout_ns &&
                x->reconnect_ns == y->reconnect_ns && users_same(x, y) && remotes_same(x, y) &&
                x->tls.enabled == y->tls.enabled && pins_same(&x->tls, &y->tls);
    if (same) return NULL;
    snprintf(buf, n, "config reload not supported for LeafNode");
    return buf;
}
