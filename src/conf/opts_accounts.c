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
 * implement yet (an account nkey, jetstream) are refused with their position
 * rather than dropped. */
#include "conf/opts_impl.h"
#include "base/subject.h"
#include "base/subject_map.h"

#include <errno.h>

static void export_free(acct_export_t *e)
{
    free(e->subject);
    free(e->lat_subject);
    strv_free(&e->accounts, &e->naccounts);
}

static void import_free(acct_import_t *i)
{
    free(i->account);
    free(i->subject);
    free(i->to);
    free(i->prefix);
    free(i->token);
}

static void mapping_clear(mapping_t *m)
{
    free(m->src);
    for (size_t k = 0; k < m->ndests; k++) {
        free(m->dests[k].subject);
        free(m->dests[k].cluster);
    }
    free(m->dests);
    memset(m, 0, sizeof *m);
}

void mappings_free(mapping_t *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mapping_clear(&m[i]);
    free(m);
}

/* One destination map {destination, weight, cluster} (the reference's texts). */
static bool parse_map_dest(cfg_ctx_t *c, const conf_val_t *v, pos_t p, mapping_dest_t *d)
{
    if (v->type != CONF_MAP) {
        cfg_err(c, p, "Expected an entry for the mapping destination");
        return false;
    }
    bool has_weight = false;
    for (size_t i = 0; i < v->u.map.n; i++) {
        const conf_kv_t *f = &v->u.map.items[i];
        if (KEYIS(f->key, "dest", "destination")) {
            get_str(c, f, &d->subject);
        } else if (KEYIS(f->key, "weight")) {
            has_weight = true;
            int64_t w = -1;
            if (f->val->type == CONF_STRING) {
                char *e;
                const char *s = f->val->u.str.s;
                w = strtoll(s, &e, 10);
                if (e == s || (*e && strcmp(e, "%") != 0)) {
                    cfg_err(c, kvpos(f), "Invalid weight \"%s\" for mapping destination", s);
                    return false;
                }
            } else if (f->val->type == CONF_INT) {
                w = f->val->u.i;
            } else {
                cfg_err(c, kvpos(f), "Unknown entry type for weight of %s", tname(f->val->type));
                return false;
            }
            if (w < 0 || w > 100) {
                cfg_err(c, kvpos(f), "Invalid weight %lld for mapping destination", (long long)w);
                return false;
            }
            d->weight = (int)w;
        } else if (KEYIS(f->key, "cluster")) {
            get_str(c, f, &d->cluster);
        } else {
            cfg_err(c, kvpos(f), "Unknown field \"%s\" for mapping destination", f->key);
            return false;
        }
    }
    if (!has_weight) {
        cfg_err(c, p, "Missing weight for mapping destination \"%s\"",
                d->subject ? d->subject : "");
        return false;
    }
    return d->subject != NULL;
}

static bool check_mapping(cfg_ctx_t *c, pos_t p, const mapping_t *m)
{
    int total = 0;
    for (size_t k = 0; k < m->ndests; k++) {
        char err[256];
        smap_t *sm = smap_compile(m->src, m->dests[k].subject, err, sizeof err);
        if (!sm) {
            cfg_err(c, p, "Error adding mapping for \"%s\" to \"%s\" : %s", m->src,
                    m->dests[k].subject, err);
            return false;
        }
        smap_free(sm);
        if (!m->dests[k].cluster) total += m->dests[k].weight;
    }
    if (total > 100) {
        cfg_err(c, p, "Error adding mapping for \"%s\" : total weight needs to be <= 100", m->src);
        return false;
    }
    return true;
}

void parse_mappings(cfg_ctx_t *c, const conf_kv_t *kv, mapping_t **out, size_t *nout)
{
    if (!want(c, kvpos(kv), kv->val, CONF_MAP)) return;
    for (size_t i = 0; i < kv->val->u.map.n; i++) {
        const conf_kv_t *e = &kv->val->u.map.items[i];
        mapping_t m = {xstrdup(e->key), NULL, 0};
        const conf_val_t *v = e->val;
        const conf_val_t *single[1] = {v};
        const conf_val_t *const *items = single;
        size_t n = 1;
        if (v->type == CONF_ARRAY) {
            items = (const conf_val_t *const *)v->u.arr.items;
            n = v->u.arr.n;
        }
        bool ok = true;
        m.dests = xcalloc(n ? n : 1, sizeof *m.dests);
        for (size_t k = 0; k < n && ok; k++) {
            mapping_dest_t *d = &m.dests[m.ndests++];
            if (items[k]->type == CONF_STRING) {
                d->subject = xstrdup(items[k]->u.str.s);
                d->weight = 100;
            } else {
                ok = parse_map_dest(c, items[k], kvpos(e), d);
            }
        }
        if (ok) ok = check_mapping(c, kvpos(e), &m);
        if (!ok) {
            mapping_clear(&m);
            continue;
        }
        *out = xrealloc(*out, (*nout + 1) * sizeof **out);
        (*out)[(*nout)++] = m;
    }
}

void accounts_free(account_opts_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mappings_free(a[i].mappings, a[i].nmappings);
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

account_opts_t *account_add(opts_t *o, const char *name)
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

/* An import's or export's "service" / "stream" key: 1 (first one: *kind set, *service
 * says which), -1 (a second one: the reference's error), 0 (another key). */
static int kind_key(cfg_ctx_t *c, const conf_kv_t *f, bool *kind, bool *service)
{
    bool svc = KEYIS(f->key, "service");
    if (!svc && !KEYIS(f->key, "stream")) return 0;
    if (*kind) {
        cfg_err(c, kvpos(f), "Detected %s but already saw a %s", svc ? "service" : "stream",
                svc ? "stream" : "service");
        return -1;
    }
    *kind = true;
    *service = svc;
    return 1;
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
        int k = kind_key(c, f, &kind, &im.service);
        if (k < 0) {
            ok = false;
        } else if (k) {
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

/* Go's strconv.Atoi, for the reference's "Failed to parse latency sample" text. */
static bool go_atoi(const char *s, long *out, const char **why)
{
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    if (!*p) {
        *why = "invalid syntax";
        return false;
    }
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9') {
            *why = "invalid syntax";
            return false;
        }
    errno = 0;
    *out = strtol(s, NULL, 10);
    if (errno == ERANGE) {
        *why = "value out of range";
        return false;
    }
    return true;
}

/* `latency: "subject"` or `latency: {sampling: 1-100 | "N%" | "headers", subject: S}`
 * (docs/accounts.md "Service latency"); the reference's texts and positions. */
static bool parse_latency(cfg_ctx_t *c, const conf_kv_t *f, acct_export_t *ex)
{
    const conf_val_t *v = f->val;
    if (v->type == CONF_STRING) {
        set_str(&ex->lat_subject, v->u.str.s);
        ex->lat_sampling = 100;
        return true;
    }
    if (v->type != CONF_MAP) {
        cfg_err(c, kvpos(f), "Expected latency entry to be a map/struct or string, got %s",
                tname(v->type));
        return false;
    }
    int sampling = 100;
    const conf_kv_t *subj = NULL;
    for (size_t i = 0; i < v->u.map.n; i++) {
        const conf_kv_t *e = &v->u.map.items[i];
        if (KEYIS(e->key, "subject")) subj = e;
        if (!KEYIS(e->key, "sampling")) continue;
        long n = 0;
        bool headers = false;
        if (e->val->type == CONF_INT) {
            n = (long)e->val->u.i;
        } else if (e->val->type == CONF_STRING) {
            char t[64];
            snprintf(t, sizeof t, "%s", e->val->u.str.s);
            char *b = t, *end = t + strlen(t);
            while (*b == ' ' || *b == '\t' || *b == '\n' || *b == '\r')
                b++;
            while (end > b && (end[-1] == ' ' || end[-1] == '\t'))
                *--end = 0;
            if (strcasecmp(b, "headers") == 0) {
                headers = true;
            } else {
                snprintf(t, sizeof t, "%s", e->val->u.str.s);
                size_t l = strlen(t);
                if (l && t[l - 1] == '%') t[l - 1] = 0;
                const char *why = NULL;
                if (!go_atoi(t, &n, &why)) {
                    cfg_err(c, kvpos(e),
                            "Failed to parse latency sample: strconv.Atoi: parsing \"%s\": %s", t,
                            why);
                    return false;
                }
            }
        } else {
            cfg_err(c, kvpos(e), "Expected latency sample to be a string or map/struct, got %s",
                    tname(e->val->type));
            return false;
        }
        if (!headers && (n < 1 || n > 100)) {
            cfg_err(c, kvpos(e), "bad sampling percentage, should be 1-100");
            return false;
        }
        sampling = headers ? 0 : (int)n;
    }
    if (!subj) {
        cfg_err(c, kvpos(f), "Latency subject required, but missing");
        return false;
    }
    if (subj->val->type != CONF_STRING) {
        cfg_err(c, kvpos(subj), "Expected latency subject to be a string, got string");
        return false;
    }
    set_str(&ex->lat_subject, subj->val->u.str.s);
    ex->lat_sampling = sampling;
    return true;
}

static void parse_export(cfg_ctx_t *c, const conf_val_t *v, account_opts_t *a)
{
    if (v->type != CONF_MAP) {
        cfg_err(c, valpos(v), "Export Items should be a map with type entry, got %s",
                tname(v->type));
        return;
    }
    acct_export_t ex = {0};
    bool kind = false, ok = true, resp = false, thresh = false, lat = false;
    pos_t resp_pos = valpos(v), lat_pos = valpos(v);
    for (size_t i = 0; i < v->u.map.n; i++) {
        const conf_kv_t *f = &v->u.map.items[i];
        int k = kind_key(c, f, &kind, &ex.service);
        if (k < 0) {
            ok = false;
        } else if (k) {
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
            lat = true;
            lat_pos = kvpos(f);
            ok = parse_latency(c, f, &ex) && ok;
        } else {
            unknown_field(c, f);
        }
    }
    if (ok && kind && !ex.service && (resp || thresh)) {
        cfg_err(c, resp_pos, "Detected response directive on non-service");
        ok = false;
    } else if (ok && kind && !ex.service && lat) {
        cfg_err(c, lat_pos, "Detected latency directive on non-service");
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
            cfg_err(c, kvpos(kv), "Duplicate %s \"%s\" detected", u->is_nkey ? "nkey" : "user",
                    u->name);
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
        } else if (KEYIS(kv->key, "mappings", "maps")) {
            parse_mappings(c, kv, &a->mappings, &a->nmappings);
        } else if (KEYIS(kv->key, "nkey", "jetstream")) {
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

/* ---- imports against exports (the reference adds them in this order: stream
 * imports, then service imports, each checked against what was added before) ---- */

static bool slen_subset(const char *a, const char *b)
{
    return subject_is_subset(a, strlen(a), b, strlen(b));
}

static bool slen_collide(const char *a, const char *b)
{
    return subjects_collide(a, strlen(a), b, strlen(b));
}

static bool exported(const account_opts_t *exp, const char *importer, const char *subj,
                     bool service)
{
    for (size_t k = 0; k < exp->nexports; k++) {
        const acct_export_t *e = &exp->exports[k];
        if (e->service != service || !slen_subset(subj, e->subject)) continue;
        if (!e->naccounts) return true;
        for (size_t j = 0; j < e->naccounts; j++)
            if (strcmp(e->accounts[j], importer) == 0) return true;
    }
    return false;
}

/* The importer's local subject of an import. */
static const char *import_local(const acct_import_t *im, char *buf, size_t cap)
{
    if (im->prefix && *im->prefix) {
        size_t pl = strlen(im->prefix);
        snprintf(buf, cap, "%s%s%s", im->prefix, im->prefix[pl - 1] == '.' ? "" : ".", im->subject);
        return buf;
    }
    return im->to && *im->to ? im->to : im->subject;
}

typedef struct cyc {
    const opts_t *o;
    bool **added; /* per account, per import: already added */
    const char *visited[64];
    size_t nvisited;
} cyc_t;

static bool was_visited(const cyc_t *y, const char *name)
{
    for (size_t i = 0; i < y->nvisited; i++)
        if (strcmp(y->visited[i], name) == 0) return true;
    return false;
}

static void visit(cyc_t *y, const char *name)
{
    if (!was_visited(y, name) && y->nvisited < ARRAY_LEN(y->visited))
        y->visited[y->nvisited++] = name;
}

/* The reference's cycle search from account `a` for subject `subj`: true = a cycle. */
static bool cycles(cyc_t *y, size_t ai, const char *subj, bool service, int depth)
{
    const account_opts_t *a = &y->o->accounts[ai];
    if (depth > 32 || y->nvisited == ARRAY_LEN(y->visited)) return true;
    if (!service) {
        bool any = false;
        for (size_t k = 0; k < a->nexports && !any; k++)
            any = !a->exports[k].service && slen_subset(subj, a->exports[k].subject);
        if (!any) return false;
    }
    char cur[1024], lb[1024];
    snprintf(cur, sizeof cur, "%s", subj);
    for (size_t k = 0; k < a->nimports; k++) {
        const acct_import_t *si = &a->imports[k];
        if (si->service != service || !y->added[ai][k]) continue;
        /* a service import's exporter-side subject; a stream import's local one */
        const char *other = service ? si->subject : import_local(si, lb, sizeof lb);
        if (!slen_collide(cur, other)) continue;
        if (was_visited(y, si->account)) return true;
        visit(y, a->name);
        const char *local = import_local(si, lb, sizeof lb);
        if (service ? slen_subset(local, cur) : slen_subset(other, cur))
            snprintf(cur, sizeof cur, "%s", service ? local : other);
        const account_opts_t *next = opts_account(y->o, si->account);
        if (next && cycles(y, (size_t)(next - y->o->accounts), cur, service, depth + 1))
            return true;
    }
    return false;
}

static const char *import_problem(cyc_t *y, size_t ai, size_t k)
{
    const opts_t *o = y->o;
    const account_opts_t *a = &o->accounts[ai];
    const acct_import_t *im = &a->imports[k];
    const account_opts_t *exp = opts_account(o, im->account);
    if (!exp) return NULL; /* reported by check_refs */
    if (!exported(exp, a->name, im->subject, im->service))
        return im->service ? "service import not authorized" : "stream import not authorized";
    char lb[1024];
    const char *local = import_local(im, lb, sizeof lb);
    if (!im->service) {
        if (im->prefix && (strchr(im->prefix, '*') || strchr(im->prefix, '>')))
            return "stream import prefix can not contain wildcard tokens";
        for (size_t j = 0; j < k; j++)
            if (y->added[ai][j] && !a->imports[j].service &&
                strcmp(a->imports[j].account, im->account) == 0 &&
                strcmp(a->imports[j].subject, im->subject) == 0)
                return "stream import already exists";
    }
    if (strcmp(local, im->subject) != 0 && !subject_transform_ok(im->subject, local)) {
        if (im->service) /* a service's local name maps back positionally only */
            return "the local subject must have the imported subject's wildcards, in order";
        /* a mapping destination ($N, {{wildcard(N)}}, {{partition(...)}}...) */
        static char why[300];
        char err[256];
        smap_t *sm = smap_compile(im->subject, local, err, sizeof err);
        if (!sm) {
            snprintf(why, sizeof why,
                     "failed to create mapping transform for stream import "
                     "subject \"%s\" to \"%s\": %s",
                     im->subject, local, err);
            return why;
        }
        smap_free(sm);
    }
    y->nvisited = 0;
    visit(y, a->name);
    if (cycles(y, (size_t)(exp - o->accounts), local, im->service, 0))
        return "import forms a cycle";
    return NULL;
}

static void check_imports(cfg_ctx_t *c, pos_t p, const opts_t *o)
{
    cyc_t y = {.o = o, .added = xcalloc(o->naccounts ? o->naccounts : 1, sizeof(bool *))};
    for (size_t i = 0; i < o->naccounts; i++)
        y.added[i] = xcalloc(o->accounts[i].nimports + 1, sizeof(bool));
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < o->naccounts; i++) {
            for (size_t k = 0; k < o->accounts[i].nimports; k++) {
                const acct_import_t *im = &o->accounts[i].imports[k];
                if (im->service != (pass == 1)) continue;
                const char *why = import_problem(&y, i, k);
                if (why)
                    cfg_err(c, p, "Error adding %s import \"%s\": %s",
                            im->service ? "service" : "stream", im->subject, why);
                else
                    y.added[i][k] = true;
            }
        }
    }
    for (size_t i = 0; i < o->naccounts; i++)
        free(y.added[i]);
    free(y.added);
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

/* A tracked export needs the system account, a singleton response and a results
 * subject it does not serve itself (the reference's TrackServiceExportWithSampling). */
static void check_latency(cfg_ctx_t *c, pos_t p, const opts_t *o)
{
    for (size_t i = 0; i < o->naccounts; i++) {
        const account_opts_t *a = &o->accounts[i];
        for (size_t k = 0; k < a->nexports; k++) {
            const acct_export_t *e = &a->exports[k];
            if (!e->service || !e->lat_subject) continue;
            const char *why = NULL;
            size_t ln = strlen(e->lat_subject);
            if (o->no_sys_acc) {
                cfg_err(c, p,
                        "Error adding service latency sampling for \"%s\": system account not "
                        "setup",
                        e->subject);
                continue;
            }
            if (!subject_valid_literal(e->lat_subject, ln) || strpbrk(e->lat_subject, " \t\r\n\f"))
                why = "invalid publish subject";
            for (size_t j = 0; j < a->nexports && !why; j++)
                if (a->exports[j].service &&
                    subject_is_subset(e->lat_subject, ln, a->exports[j].subject,
                                      strlen(a->exports[j].subject)))
                    why = "invalid publish subject";
            if (!why && e->resp_type != ACCT_RESP_SINGLETON) why = "bad service response type";
            if (why)
                cfg_err(c, p,
                        "Error adding service latency sampling for \"%s\" on subject \"%s\": %s",
                        e->subject, e->lat_subject, why);
        }
    }
}

void accounts_finish(cfg_ctx_t *c, pos_t p, opts_t *o)
{
    for (size_t i = 0; i < o->nusers; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(o->users[i].name, o->users[j].name) == 0) {
                cfg_err(c, p, "Duplicate %s \"%s\" detected", o->users[i].is_nkey ? "nkey" : "user",
                        o->users[i].name);
                i = o->nusers;
                break;
            }
        }
    }
    size_t before = c->nerrs;
    check_refs(c, p, o);
    if (c->nerrs == before) check_imports(c, p, o);
    check_latency(c, p, o);
}
