/* opts_accounts.c: the accounts block (docs/config.md "Accounts") and
 * system_account, as nats-server 2.9.10 reads them.
 *
 * `accounts` is a list of names or a map name -> {users, exports, imports,
 * default_permissions, limits}. Users of an account join the one users list
 * (opts_t.users) with their account's name in user_t.account, so
 * authentication has one list; user names are unique across all of them.
 * Exports and imports are checked once every account is known
 * (accounts_finish, after the whole file): an import must name a defined
 * account, and an export's `accounts` list too. Keys this server does not
 * implement yet (an account nkey, service latency, mappings, jetstream) are
 * refused with their position rather than dropped. */
#include "conf/opts_impl.h"

static void export_free(acct_export_t *e)
{
    free(e->subject);
    strv_free(&e->accounts, &e->naccounts);
}

static void import_free(acct_import_t *i)
{
    free(i->account);
    free(i->subject);
    free(i->to);
    free(i->prefix);
}

void accounts_free(account_opts_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(a[i].name);
        permissions_free(a[i].default_perms);
        for (size_t k = 0; k < a[i].nexports; k++)
            export_free(&a[i].exports[k]);
        free(a[i].exports);
        for (size_t k = 0; k < a[i].nimports; k++)
            import_free(&a[i].imports[k]);
        free(a[i].imports);
    }
    free(a);
}

const account_opts_t *opts_account(const opts_t *o, const char *name)
{
    for (size_t i = 0; i < o->naccounts; i++)
        if (strcmp(o->accounts[i].name, name) == 0) return &o->accounts[i];
    return NULL;
}

static account_opts_t *account_add(opts_t *o, const char *name)
{
    o->accounts = xrealloc(o->accounts, (o->naccounts + 1) * sizeof *o->accounts);
    account_opts_t *a = &o->accounts[o->naccounts++];
    memset(a, 0, sizeof *a);
    a->name = xstrdup(name);
    a->max_conns = a->max_subs = a->max_payload = a->max_leafs = -1;
    return a;
}

/* Reserved: the global account's name. */
static bool reserved(cfg_ctx_t *c, pos_t p, const char *name)
{
    if (strcmp(name, "$G") != 0) return false;
    cfg_err(c, p, "\"%s\" is a Reserved Account", name);
    return true;
}

static void parse_limits(cfg_ctx_t *c, const conf_kv_t *kv, account_opts_t *a)
{
    if (kv->val->type != CONF_MAP) {
        char *pv = val_plain(kv->val);
        cfg_err(c, kvpos(kv), "Expected account limits to be a map/struct, got %s", pv);
        free(pv);
        return;
    }
    for (size_t i = 0; i < kv->val->u.map.n; i++) {
        const conf_kv_t *l = &kv->val->u.map.items[i];
        int *dst = KEYIS(l->key, "max_connections", "max_conn")     ? &a->max_conns
                   : KEYIS(l->key, "max_subscriptions", "max_subs") ? &a->max_subs
                   : KEYIS(l->key, "max_payload", "max_pay")        ? &a->max_payload
                   : KEYIS(l->key, "max_leafnodes", "max_leafs")    ? &a->max_leafs
                                                                    : NULL;
        if (!dst) {
            if (!used_as_variable(c, l->key))
                cfg_err(c, kvpos(l), "Unknown field \"%s\" parsing account limits", l->key);
            continue;
        }
        get_int(c, l, dst);
    }
}

/* {account: NAME, subject: SUBJ} of an import. */
static bool parse_import_source(cfg_ctx_t *c, const conf_kv_t *kv, acct_import_t *im)
{
    if (kv->val->type != CONF_MAP) {
        cfg_err(c, kvpos(kv), "%s entry should be an account map, got %s",
                im->service ? "Service" : "Stream", tname(kv->val->type));
        return false;
    }
    for (size_t i = 0; i < kv->val->u.map.n; i++) {
        const conf_kv_t *f = &kv->val->u.map.items[i];
        if (KEYIS(f->key, "account"))
            get_str(c, f, &im->account);
        else if (KEYIS(f->key, "subject"))
            get_str(c, f, &im->subject);
        else
            unknown_field(c, f);
    }
    if (!im->account || !*im->account || !im->subject || !*im->subject) {
        cfg_err(c, kvpos(kv), "Expect an account name and a subject");
        return false;
    }
    return true;
}

static void parse_import(cfg_ctx_t *c, const conf_val_t *v, account_opts_t *a)
{
    if (v->type != CONF_MAP) {
        cfg_err(c, valpos(v), "Import Items should be a map with type entry, got %s",
                tname(v->type));
        return;
    }
    acct_import_t im = {0};
    bool kind = false, ok = true;
    pos_t to_pos = valpos(v);
    for (size_t i = 0; i < v->u.map.n; i++) {
        const conf_kv_t *f = &v->u.map.items[i];
        bool svc = KEYIS(f->key, "service");
        if (svc || KEYIS(f->key, "stream")) {
            if (kind) {
                cfg_err(c, kvpos(f), "Detected %s but already saw a %s", svc ? "service" : "stream",
                        svc ? "stream" : "service");
                ok = false;
                continue;
            }
            kind = true;
            im.service = svc;
            ok = parse_import_source(c, f, &im) && ok;
        } else if (KEYIS(f->key, "prefix")) {
            get_str(c, f, &im.prefix);
        } else if (KEYIS(f->key, "to")) {
            get_str(c, f, &im.to);
            to_pos = kvpos(f);
        } else if (KEYIS(f->key, "share")) {
            get_bool(c, f, &im.share);
        } else {
            unknown_field(c, f);
        }
    }
    if (ok && kind && !im.service && im.prefix && im.to) {
        cfg_err(c, to_pos, "Stream import can not have a 'prefix' and a 'to' property");
        ok = false;
    }
    if (ok && kind && im.service) {
        free(im.prefix);
        im.prefix = NULL;
        for (size_t k = 0; k < a->nimports; k++) {
            const acct_import_t *d = &a->imports[k];
            const char *dto = d->to ? d->to : d->subject, *to = im.to ? im.to : im.subject;
            if (d->service && strcmp(dto, to) == 0) {
                cfg_err(c, valpos(v),
                        "Duplicate service import subject \"%s\", previously used in import for "
                        "account \"%s\", subject \"%s\"",
                        to, d->account, d->subject);
                ok = false;
                break;
            }
        }
    }
    if (!ok || !kind) {
        import_free(&im);
        return;
    }
    a->imports = xrealloc(a->imports, (a->nimports + 1) * sizeof im);
    a->imports[a->nimports++] = im;
}

static bool parse_resp_type(cfg_ctx_t *c, const conf_kv_t *f, acct_resp_t *rt)
{
    char *s = NULL;
    if (!get_str(c, f, &s)) return false;
    bool ok = true;
    if (!strcasecmp(s, "single") || !strcasecmp(s, "singleton"))
        *rt = ACCT_RESP_SINGLETON;
    else if (!strcasecmp(s, "stream"))
        *rt = ACCT_RESP_STREAM;
    else if (!strcasecmp(s, "chunk") || !strcasecmp(s, "chunked"))
        *rt = ACCT_RESP_CHUNKED;
    else {
        cfg_err(c, kvpos(f), "Unknown response type: \"%s\"", s);
        ok = false;
    }
    free(s);
    return ok;
}

static void parse_export_accounts(cfg_ctx_t *c, const conf_kv_t *f, acct_export_t *ex)
{
    if (!want(c, kvpos(f), f->val, CONF_ARRAY)) return;
    for (size_t k = 0; k < f->val->u.arr.n; k++) {
        const conf_val_t *e = f->val->u.arr.items[k];
        if (e->type != CONF_STRING) {
            want(c, valpos(e), e, CONF_STRING);
            continue;
        }
        strv_push(&ex->accounts, &ex->naccounts, xstrdup(e->u.str.s));
    }
}

static void parse_export(cfg_ctx_t *c, const conf_val_t *v, account_opts_t *a)
{
    if (v->type != CONF_MAP) {
        cfg_err(c, valpos(v), "Export Items should be a map with type entry, got %s",
                tname(v->type));
        return;
    }
    acct_export_t ex = {0};
    bool kind = false, ok = true, resp = false, thresh = false;
    pos_t resp_pos = valpos(v);
    for (size_t i = 0; i < v->u.map.n; i++) {
        const conf_kv_t *f = &v->u.map.items[i];
        bool svc = KEYIS(f->key, "service");
        if (svc || KEYIS(f->key, "stream")) {
            if (kind) {
                cfg_err(c, kvpos(f), "Detected %s but already saw a %s", svc ? "service" : "stream",
                        svc ? "stream" : "service");
                ok = false;
                continue;
            }
            kind = true;
            ex.service = svc;
            ok = get_str(c, f, &ex.subject) && ok;
        } else if (KEYIS(f->key, "response", "response_type")) {
            if (resp) {
                cfg_err(c, kvpos(f), "Duplicate response type definition");
                ok = false;
                continue;
            }
            resp = true;
            resp_pos = kvpos(f);
            ok = parse_resp_type(c, f, &ex.resp_type) && ok;
        } else if (KEYIS(f->key, "threshold", "response_threshold", "response_max_time",
                         "response_time")) {
            if (thresh) {
                cfg_err(c, kvpos(f), "Duplicate response threshold detected");
                ok = false;
                continue;
            }
            thresh = true;
            resp_pos = kvpos(f);
            char *s = NULL, err[256];
            if (get_str(c, f, &s) &&
                opts_parse_duration(s, &ex.resp_threshold_ns, err, sizeof err)) {
                cfg_err(c, kvpos(f),
                        "Expected response threshold to be a parseable time duration, got \"%s\"",
                        s);
                ok = false;
            }
            free(s);
        } else if (KEYIS(f->key, "accounts")) {
            parse_export_accounts(c, f, &ex);
        } else if (KEYIS(f->key, "account_token_position")) {
            get_int(c, f, &ex.token_pos);
        } else if (KEYIS(f->key, "latency")) {
            cfg_err(c, kvpos(f),
                    "service latency tracking is not supported by this server (refusing to run "
                    "without the latency reports it configures)");
            ok = false;
        } else {
            unknown_field(c, f);
        }
    }
    if (ok && kind && !ex.service && (resp || thresh)) {
        cfg_err(c, resp_pos, "Detected response directive on non-service");
        ok = false;
    }
    if (!ok || !kind) {
        export_free(&ex);
        return;
    }
    a->exports = xrealloc(a->exports, (a->nexports + 1) * sizeof ex);
    a->exports[a->nexports++] = ex;
}

static void parse_list(cfg_ctx_t *c, const conf_kv_t *kv, account_opts_t *a, bool imports)
{
    if (kv->val->type != CONF_ARRAY) {
        cfg_err(c, kvpos(kv), "%s should be an array, got %s", imports ? "Imports" : "Exports",
                tname(kv->val->type));
        return;
    }
    for (size_t i = 0; i < kv->val->u.arr.n; i++) {
        if (imports)
            parse_import(c, kv->val->u.arr.items[i], a);
        else
            parse_export(c, kv->val->u.arr.items[i], a);
    }
}

/* The account's users join o->users, bound to it, with its default permissions. */
static void add_users(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o, account_opts_t *a)
{
    auth_block_t ab = {0};
    parse_users(c, kvpos(kv), kv->val, &ab);
    if (ab.nusers && o->username && *o->username) {
        cfg_err(c, kvpos(kv), "Can not have a single user/pass and accounts");
        ab.has_users = false;
    } else if (ab.nusers && o->token && *o->token) {
        cfg_err(c, kvpos(kv), "Can not have a token and accounts");
        ab.has_users = false;
    }
    for (size_t i = 0; i < ab.nusers && ab.has_users; i++) {
        user_t *u = &ab.users[i];
        bool dup = false;
        for (size_t k = 0; k < o->nusers && !dup; k++)
            dup = strcmp(o->users[k].name, u->name) == 0;
        if (dup) {
            cfg_err(c, kvpos(kv), "Duplicate user \"%s\" detected", u->name);
            continue;
        }
        u->account = xstrdup(a->name);
        o->users = xrealloc(o->users, (o->nusers + 1) * sizeof *o->users);
        o->users[o->nusers++] = *u;
        memset(u, 0, sizeof *u);
    }
    auth_block_free(&ab);
}

static void parse_account(cfg_ctx_t *c, const conf_kv_t *akv, opts_t *o)
{
    if (akv->val->type != CONF_MAP) {
        cfg_err(c, kvpos(akv), "Expected map entries for accounts");
        return;
    }
    if (reserved(c, kvpos(akv), akv->key)) return;
    account_opts_t *a = account_add(o, akv->key);
    size_t first_user = o->nusers;
    const conf_val_t *m = akv->val;
    for (size_t i = 0; i < m->u.map.n; i++) {
        const conf_kv_t *kv = &m->u.map.items[i];
        if (shadowed(m, i)) continue;
        if (KEYIS(kv->key, "users")) {
            add_users(c, kv, o, a);
        } else if (KEYIS(kv->key, "imports")) {
            parse_list(c, kv, a, true);
        } else if (KEYIS(kv->key, "exports")) {
            parse_list(c, kv, a, false);
        } else if (KEYIS(kv->key, "default_permissions")) {
            permissions_free(a->default_perms);
            a->default_perms = parse_permissions(c, kvpos(kv), kv->val);
        } else if (KEYIS(kv->key, "limits")) {
            parse_limits(c, kv, a);
        } else if (KEYIS(kv->key, "nkey", "mappings", "maps", "jetstream")) {
            cfg_err(c, kvpos(kv),
                    "account %s is not supported by this server (refusing to run without what it "
                    "configures)",
                    kv->key);
        } else {
            unknown_field(c, kv);
        }
    }
    for (size_t i = first_user; i < o->nusers; i++)
        if (!o->users[i].perms && a->default_perms)
            o->users[i].perms = permissions_dup(a->default_perms);
}

void apply_accounts(cfg_ctx_t *c, const conf_kv_t *kv, opts_t *o)
{
    const conf_val_t *v = kv->val;
    if (v->type == CONF_ARRAY) {
        for (size_t i = 0; i < v->u.arr.n; i++) {
            const conf_val_t *e = v->u.arr.items[i];
            if (!want(c, valpos(e), e, CONF_STRING)) continue;
            const char *name = e->u.str.s;
            if (reserved(c, valpos(e), name)) continue;
            if (opts_account(o, name)) {
                cfg_err(c, valpos(e), "Duplicate Account Entry: %s", name);
                continue;
            }
            account_add(o, name);
        }
        return;
    }
    if (!want(c, kvpos(kv), v, CONF_MAP)) return;
    for (size_t i = 0; i < v->u.map.n; i++) {
        if (shadowed(v, i)) continue;
        const conf_kv_t *akv = &v->u.map.items[i];
        if (used_as_variable(c, akv->key) && akv->val->type != CONF_MAP) continue;
        parse_account(c, akv, o);
    }
}

/* An export's `accounts` and every import's account must be defined. */
static void check_refs(cfg_ctx_t *c, pos_t p, const opts_t *o)
{
    for (size_t i = 0; i < o->naccounts; i++) {
        const account_opts_t *a = &o->accounts[i];
        for (size_t k = 0; k < a->nexports; k++) {
            const acct_export_t *e = &a->exports[k];
            for (size_t j = 0; j < e->naccounts; j++)
                if (!opts_account(o, e->accounts[j]))
                    cfg_err(c, p, "\"%s\" account not defined for %s export", e->accounts[j],
                            e->service ? "service" : "stream");
        }
        for (size_t k = 0; k < a->nimports; k++) {
            const acct_import_t *im = &a->imports[k];
            if (!opts_account(o, im->account))
                cfg_err(c, p, "\"%s\" account not defined for %s import", im->account,
                        im->service ? "service" : "stream");
        }
    }
}

void accounts_finish(cfg_ctx_t *c, pos_t p, opts_t *o)
{
    for (size_t i = 0; i < o->nusers; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(o->users[i].name, o->users[j].name) == 0) {
                cfg_err(c, p, "Duplicate user \"%s\" detected", o->users[i].name);
                i = o->nusers;
                break;
            }
        }
    }
    check_refs(c, p, o);
}
