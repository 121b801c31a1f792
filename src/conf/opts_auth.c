/* opts_auth.c: the authorization block (single user, token, users array,
 * default permissions) and the permissions maps shared with the cluster block.
 * Subjects are checked as the reference checks them; an nkey user is refused
 * rather than dropped. */
#include "conf/opts_impl.h"
#include "base/nkeys.h"

#include <ctype.h>

static void perm_list_free(perm_list_t *l)
{
    strv_free(&l->allow, &l->nallow);
    strv_free(&l->deny, &l->ndeny);
    l->has_allow = false;
}

void permissions_free(permissions_t *p)
{
    if (!p) return;
    perm_list_free(&p->publish);
    perm_list_free(&p->subscribe);
    free(p);
}

static bool plist_eq(const perm_list_t *a, const perm_list_t *b)
{
    return a->has_allow == b->has_allow && strv_eq(a->allow, a->nallow, b->allow, b->nallow) &&
           strv_eq(a->deny, a->ndeny, b->deny, b->ndeny);
}

bool permissions_equal(const permissions_t *a, const permissions_t *b)
{
    if (!a || !b) return a == b;
    return a->has_publish == b->has_publish && a->has_subscribe == b->has_subscribe &&
           plist_eq(&a->publish, &b->publish) && plist_eq(&a->subscribe, &b->subscribe) &&
           a->allow_responses == b->allow_responses && a->resp_max == b->resp_max &&
           a->resp_expires_ns == b->resp_expires_ns;
}

permissions_t *permissions_new(void)
{
    permissions_t *p = xcalloc(1, sizeof(*p));
    p->resp_max = 1;
    p->resp_expires_ns = DEFAULT_RESP_EXPIRES_NS;
    return p;
}

static void perm_list_copy(perm_list_t *d, const perm_list_t *s)
{
    d->allow = strv_dup(s->allow, s->nallow);
    d->nallow = s->nallow;
    d->has_allow = s->has_allow;
    d->deny = strv_dup(s->deny, s->ndeny);
    d->ndeny = s->ndeny;
}

permissions_t *permissions_dup(const permissions_t *s)
{
    if (!s) return NULL;
    permissions_t *p = xmalloc(sizeof(*p));
    *p = *s;
    perm_list_copy(&p->publish, &s->publish);
    perm_list_copy(&p->subscribe, &s->subscribe);
    return p;
}

void users_free(user_t *u, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(u[i].name);
        free(u[i].password);
        free(u[i].account);
        permissions_free(u[i].perms);
    }
    free(u);
}

/* ------------------------------------------------------------------------- */
/* permissions (docs/config.md §7.4)                                         */

/* Go IsValidSubject. */
static bool valid_subject(const char *s, size_t n)
{
    if (n == 0) return false;
    bool sfwc = false;
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && s[j] != '.')
            j++;
        size_t tl = j - i;
        if (tl == 0 || sfwc) return false;
        if (tl > 1) {
            for (size_t k = i; k < j; k++)
                if (strchr("\t\n\f\r ", s[k])) return false;
        } else {
            char ch = s[i];
            if (ch == '>')
                sfwc = true;
            else if (strchr(" \t\n\r\f", ch))
                return false;
        }
        i = j + 1;
    }
    return true;
}

static bool check_perm_subject(cfg_ctx_t *c, pos_t p, const char *s)
{
    if (valid_subject(s, strlen(s))) return true;
    /* "subject queue" pairs (strings.Fields) */
    const char *f[3];
    size_t fl[3];
    int nf = 0;
    for (const char *q = s; *q;) {
        while (*q && isspace((unsigned char)*q))
            q++;
        if (!*q) break;
        const char *st = q;
        while (*q && !isspace((unsigned char)*q))
            q++;
        if (nf < 3) {
            f[nf] = st;
            fl[nf] = (size_t)(q - st);
        }
        nf++;
    }
    char qb[600];
    if (nf != 2) {
        quote_go_str(qb, sizeof(qb), s);
        cfg_err(c, p, "subject %s is not a valid subject", qb);
        return false;
    }
    if (!valid_subject(f[0], fl[0])) {
        char *t = xstrndup(f[0], fl[0]);
        quote_go_str(qb, sizeof(qb), t);
        free(t);
        cfg_err(c, p, "subject %s is not a valid subject", qb);
        return false;
    }
    return true;
}

/* string | [strings] -> list; returns false on error (already reported). */
static bool parse_perm_subjects(cfg_ctx_t *c, pos_t p, const conf_val_t *v, char ***out,
                                size_t *nout)
{
    char **l = NULL;
    size_t n = 0;
    if (v->type == CONF_STRING) {
        strv_push(&l, &n, xstrdup(v->u.str.s));
    } else if (v->type == CONF_ARRAY) {
        for (size_t i = 0; i < v->u.arr.n; i++) {
            const conf_val_t *e = v->u.arr.items[i];
            if (e->type != CONF_STRING) {
                cfg_err(c, valpos(e), "Subject in permissions array cannot be cast to string");
                strv_free(&l, &n);
                return false;
            }
            strv_push(&l, &n, xstrdup(e->u.str.s));
        }
    } else {
        cfg_err(c, p, "Expected subject permissions to be a subject, or array of subjects, got %s",
                tname(v->type));
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!check_perm_subject(c, p, l[i])) {
            strv_free(&l, &n);
            return false;
        }
    }
    *out = l;
    *nout = n;
    return true;
}

/* publish/subscribe value: old style (string/array = allow) or {allow, deny}.
 * *given is false when the value means "no restriction" (empty map). */
static bool parse_subject_perm(cfg_ctx_t *c, pos_t p, const conf_val_t *v, perm_list_t *out,
                               bool *given)
{
    perm_list_free(out);
    *given = false;
    if (v->type != CONF_MAP) {
        if (!parse_perm_subjects(c, p, v, &out->allow, &out->nallow)) return false;
        out->has_allow = out->nallow > 0;
        *given = true;
        return true;
    }
    if (v->u.map.n == 0) return true;
    *given = true;
    bool ok = true;
    for (size_t i = 0; i < v->u.map.n; i++) {
        const conf_kv_t *kv = &v->u.map.items[i];
        if (KEYIS(kv->key, "allow")) {
            strv_free(&out->allow, &out->nallow);
            if (parse_perm_subjects(c, kvpos(kv), kv->val, &out->allow, &out->nallow))
                out->has_allow = out->nallow > 0;
            else
                ok = false;
        } else if (KEYIS(kv->key, "deny")) {
            strv_free(&out->deny, &out->ndeny);
            if (!parse_perm_subjects(c, kvpos(kv), kv->val, &out->deny, &out->ndeny)) ok = false;
        } else if (!used_as_variable(c, kv->key)) {
            cfg_err(c, kvpos(kv),
                    "Unknown field name \"%s\" parsing subject permissions, only 'allow' or "
                    "'deny' are permitted",
                    kv->key);
            ok = false;
        }
    }
    return ok;
}

static bool parse_allow_responses(cfg_ctx_t *c, pos_t p, const conf_val_t *v, permissions_t *perm)
{
    if (v->type == CONF_BOOL) {
        perm->allow_responses = v->u.b;
        return true;
    }
    if (v->type != CONF_MAP) {
        cfg_err(c, p, "error parsing response permissions, expected a boolean or a map");
        return false;
    }
    perm->allow_responses = true;
    for (size_t i = 0; i < v->u.map.n; i++) {
        const conf_kv_t *kv = &v->u.map.items[i];
        if (KEYIS(kv->key, "max", "max_msgs", "max_messages", "max_responses")) {
            int64_t m;
            if (!get_i64(c, kv, &m)) return false;
            if (m != 0) perm->resp_max = m;
        } else if (KEYIS(kv->key, "expires", "expiration", "ttl")) {
            if (kv->val->type != CONF_STRING) {
                cfg_err(c, kvpos(kv), "error parsing expires, not a duration string");
                perm->allow_responses = false;
                return false;
            }
            char e[300];
            int64_t ns;
            if (opts_parse_duration(kv->val->u.str.s, &ns, e, sizeof(e)) != 0) {
                cfg_err(c, kvpos(kv), "error parsing expires: %s", e);
                perm->allow_responses = false;
                return false;
            }
            if (ns != 0) perm->resp_expires_ns = dur_clamp(ns);
        } else if (!used_as_variable(c, kv->key)) {
            cfg_err(c, kvpos(kv), "Unknown field \"%s\" parsing permissions", kv->key);
        }
    }
    return true;
}

/* Returns NULL on a fatal error (reported). */
permissions_t *parse_permissions(cfg_ctx_t *c, pos_t p, const conf_val_t *v)
{
    if (v->type != CONF_MAP) {
        char *pv = val_plain(v);
        cfg_err(c, p, "Expected permissions to be a map/struct, got %s", pv);
        free(pv);
        return NULL;
    }
    permissions_t *perm = permissions_new();
    const conf_kv_t *resp = NULL;
    for (size_t i = 0; i < v->u.map.n; i++) {
        const conf_kv_t *kv = &v->u.map.items[i];
        if (KEYIS(kv->key, "pub", "publish", "import")) {
            parse_subject_perm(c, kvpos(kv), kv->val, &perm->publish, &perm->has_publish);
        } else if (KEYIS(kv->key, "sub", "subscribe", "export")) {
            parse_subject_perm(c, kvpos(kv), kv->val, &perm->subscribe, &perm->has_subscribe);
        } else if (KEYIS(kv->key, "publish_allow_responses", "allow_responses")) {
            resp = kv;
        } else if (!used_as_variable(c, kv->key)) {
            cfg_err(c, kvpos(kv), "Unknown field \"%s\" parsing permissions", kv->key);
        }
    }
    /* After publish so that "turn off the blanket allow" sees the final list. */
    if (resp && parse_allow_responses(c, kvpos(resp), resp->val, perm) && perm->allow_responses) {
        perm->has_publish = true;
        if (!perm->publish.has_allow) perm->publish.has_allow = true;
    }
    return perm;
}

/* ------------------------------------------------------------------------- */
/* authorization (docs/config.md §7.2, §7.3)                                 */

void auth_block_free(auth_block_t *a)
{
    free(a->user);
    free(a->pass);
    free(a->token);
    users_free(a->users, a->nusers);
    permissions_free(a->default_perms);
    memset(a, 0, sizeof(*a));
}

static bool parse_conn_types(cfg_ctx_t *c, const conf_kv_t *kv, user_t *u)
{
    const conf_val_t *v = kv->val;
    const conf_val_t *single[1] = {v};
    const conf_val_t *const *items;
    size_t n;
    if (v->type == CONF_STRING) {
        items = single;
        n = 1;
    } else if (v->type == CONF_ARRAY) {
        items = (const conf_val_t *const *)v->u.arr.items;
        n = v->u.arr.n;
    } else {
        cfg_err(c, kvpos(kv), "error parsing allowed connection types: unsupported type %s",
                tname(v->type));
        return false;
    }
    static const char *known[] = {"STANDARD",    "WEBSOCKET", "LEAFNODE",
                                  "LEAFNODE_WS", "MQTT",      "MQTT_WS"};
    char *bad = NULL;
    size_t nvalid = 0;
    bool std = false, leaf = false;
    for (size_t i = 0; i < n; i++) {
        if (items[i]->type != CONF_STRING) {
            cfg_err(c, valpos(items[i]),
                    "error parsing allowed connection types: unsupported type in array %s",
                    tname(items[i]->type));
            continue;
        }
        const char *s = items[i]->u.str.s;
        bool ok = false;
        for (size_t k = 0; k < ARRAY_LEN(known); k++)
            ok = ok || strcasecmp(s, known[k]) == 0;
        if (!ok) {
            char q[300];
            quote_go_str(q, sizeof(q), s);
            char *nb = xasprintf("%s%s%s", bad ? bad : "", bad ? " " : "", q);
            free(bad);
            bad = nb;
            continue;
        }
        nvalid++;
        if (strcasecmp(s, "STANDARD") == 0) std = true;
        if (strcasecmp(s, "LEAFNODE") == 0) leaf = true;
    }
    if (bad) {
        cfg_err(c, kvpos(kv), "invalid connection types [%s]", bad);
        free(bad);
        return false;
    }
    u->restrict_conn_types = nvalid > 0;
    u->allow_standard = std;
    u->allow_leaf = leaf;
    return true;
}

/* Returns false when the users array is unusable (reference returns early). */
bool parse_users(cfg_ctx_t *c, pos_t p, const conf_val_t *v, auth_block_t *a)
{
    if (v->type != CONF_ARRAY) {
        char *pv = val_plain(v);
        cfg_err(c, p, "Expected users field to be an array, got %s", pv);
        free(pv);
        return false;
    }
    a->has_users = true;
    for (size_t i = 0; i < v->u.arr.n; i++) {
        const conf_val_t *e = v->u.arr.items[i];
        if (e->type != CONF_MAP) {
            char *pv = val_plain(e);
            cfg_err(c, valpos(e), "Expected user entry to be a map/struct, got %s", pv);
            free(pv);
            continue;
        }
        user_t u = {0};
        char *nkey = NULL;
        for (size_t k = 0; k < e->u.map.n; k++) {
            const conf_kv_t *kv = &e->u.map.items[k];
            if (KEYIS(kv->key, "nkey")) {
                free(nkey);
                nkey = NULL;
                get_str(c, kv, &nkey);
            } else if (KEYIS(kv->key, "user", "username")) {
                get_str(c, kv, &u.name);
            } else if (KEYIS(kv->key, "pass", "password")) {
                get_str(c, kv, &u.password);
            } else if (KEYIS(kv->key, "permission", "permissions", "authorization")) {
                permissions_free(u.perms);
                u.perms = parse_permissions(c, kvpos(kv), kv->val);
            } else if (KEYIS(kv->key, "allowed_connection_types", "connection_types", "clients")) {
                parse_conn_types(c, kv, &u);
            } else {
                unknown_field(c, kv);
            }
        }
        if (nkey) {
            /* the reference's checks, at the entry's position */
            const char *why = !nkey_is_public(nkey, strlen(nkey), NKEY_USER)
                                  ? "Not a valid public nkey for a user"
                              : (u.name || u.password)
                                  ? "Nkey users do not take usernames or passwords"
                                  : NULL;
            if (why) {
                /* the reference reports at the entry's first key */
                cfg_err(c, e->u.map.n ? kvpos(&e->u.map.items[0]) : valpos(e), "%s", why);
                free(nkey), free(u.name), free(u.password);
                permissions_free(u.perms);
                return false;
            }
            u.name = nkey;
            u.is_nkey = true;
        }
        if (!u.name) {
            /* the reference points at the entry's last key */
            pos_t up = e->u.map.n ? kvpos(&e->u.map.items[e->u.map.n - 1]) : valpos(e);
            cfg_err(c, up, "User entry requires a user");
            free(u.password);
            permissions_free(u.perms);
            return false;
        }
        if (!u.password) u.password = xstrdup("");
        a->users = xrealloc(a->users, (a->nusers + 1) * sizeof(user_t));
        a->users[a->nusers++] = u;
    }
    return true;
}

/* Shared by the top-level and the cluster authorization blocks. */
void parse_auth_block(cfg_ctx_t *c, const conf_val_t *v, auth_block_t *a)
{
    for (size_t i = 0; i < v->u.map.n; i++) {
        const conf_kv_t *kv = &v->u.map.items[i];
        if (shadowed(v, i)) continue;
        if (KEYIS(kv->key, "user", "username")) {
            get_str(c, kv, &a->user);
        } else if (KEYIS(kv->key, "pass", "password")) {
            get_str(c, kv, &a->pass);
        } else if (KEYIS(kv->key, "token")) {
            get_str(c, kv, &a->token);
        } else if (KEYIS(kv->key, "timeout")) {
            /* reference: any non-number silently means 1 second */
            a->timeout_ns = kv->val->type == CONF_INT     ? secs_to_ns(kv->val->u.i)
                            : kv->val->type == CONF_FLOAT ? fsecs_to_ns(kv->val->u.f)
                                                          : NS_PER_SEC;
        } else if (KEYIS(kv->key, "users")) {
            users_free(a->users, a->nusers);
            a->users = NULL;
            a->nusers = 0;
            a->has_users = false;
            parse_users(c, kvpos(kv), kv->val, a);
        } else if (KEYIS(kv->key, "default_permission", "default_permissions", "permissions")) {
            permissions_t *p = parse_permissions(c, kvpos(kv), kv->val);
            if (p) {
                permissions_free(a->default_perms);
                a->default_perms = p;
            }
        } else {
            unknown_field(c, kv);
        }
    }
}

void apply_authorization(cfg_ctx_t *c, const conf_kv_t *akv, opts_t *o)
{
    pos_t p = kvpos(akv);
    if (!want(c, p, akv->val, CONF_MAP)) return;
    auth_block_t a = {0};
    parse_auth_block(c, akv->val, &a);

    set_str(&o->username, a.user);
    set_str(&o->password, a.pass);
    set_str(&o->token, a.token);
    o->auth_timeout_ns = a.timeout_ns;
    if ((a.user || a.pass) && a.token) {
        cfg_err(c, p, "Cannot have a user/pass and token");
        goto out;
    }
    if (a.has_users) {
        if (a.user) {
            cfg_err(c, p, "Can not have a single user/pass and a users array");
            goto out;
        }
        if (a.token) {
            cfg_err(c, p, "Can not have a token and a users array");
            goto out;
        }
        for (size_t i = 0; i < a.nusers; i++) {
            for (size_t j = 0; j < i; j++) {
                if (strcmp(a.users[i].name, a.users[j].name) == 0) {
                    char q[300];
                    quote_go_str(q, sizeof(q), a.users[i].name);
                    cfg_err(c, p, "Duplicate %s %s detected", a.users[i].is_nkey ? "nkey" : "user",
                            q);
                    goto out;
                }
            }
        }
        for (size_t i = 0; i < a.nusers; i++)
            if (!a.users[i].perms && a.default_perms)
                a.users[i].perms = permissions_dup(a.default_perms);
        /* users the accounts block bound to an account stay */
        size_t keep = 0;
        for (size_t i = 0; i < o->nusers; i++) {
            if (o->users[i].account) {
                o->users[keep++] = o->users[i];
            } else {
                user_t *u = &o->users[i];
                free(u->name), free(u->password), permissions_free(u->perms);
            }
        }
        if (keep) { /* (an empty users array leaves a.users NULL: no memcpy from or to it) */
            a.users = xrealloc(a.users, (a.nusers + keep) * sizeof(user_t));
            memcpy(a.users + a.nusers, o->users, keep * sizeof(user_t));
        }
        free(o->users);
        o->users = a.users;
        o->nusers = a.nusers + keep;
        a.users = NULL;
        a.nusers = 0;
    }
    permissions_free(o->default_perms);
    o->default_perms = a.default_perms;
    a.default_perms = NULL;
out:
    auth_block_free(&a);
}
