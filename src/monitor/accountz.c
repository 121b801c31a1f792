/* accountz.c: /accountz and /accstatz (docs/monitoring.md, docs/accounts.md), as
 * nats-server 2.9.10 writes them for config-file accounts.
 *
 * /accountz lists the account names, or with ?acc=NAME one account's detail:
 * its counts, exports (from the options), imports (the sets in force, the
 * system account's own included, as the reference lists them), pending
 * service responses and its index's statistics. /accstatz gives each account's
 * connections and what they sent and received: the open connections' counters
 * (one snapshot) plus the totals its closed connections left at close, so the
 * message path counts nothing per account. */
#include "core/core.h"
#include "monitor/monitor.h"
#include "nats/account.h"
#include "nats/resolver.h"
#include "nats/client.h"
#include "nats/imports.h"

#include <stdlib.h>
#include <string.h>

static bool add_name(account_t *a, void *arg)
{
    if (!account_gone(a)) jw_str(arg, NULL, a->name);
    return true;
}

static void write_head(jw_t *w)
{
    jw_str(w, "server_id", srv->server_id);
    jw_time(w, "now", now_wall_ns());
    const account_t *sys = account_system();
    if (sys) jw_str(w, "system_account", sys->name);
}

/* A tracked export's sampling and results, as the JWT library writes them. */
static void write_latency(jw_t *w, const char *key, const char *subject, int sampling)
{
    jw_obj_begin(w, key);
    if (sampling)
        jw_int(w, "sampling", sampling);
    else
        jw_str(w, "sampling", "headers");
    jw_str(w, "results", subject);
    jw_obj_end(w);
}

static void write_exports(jw_t *w, const account_opts_t *ao)
{
    if (!ao || !ao->nexports) return;
    static const char *rt[] = {"Singleton", "Streamed", "Chunked"};
    jw_arr_begin(w, "exports");
    for (int pass = 0; pass < 2; pass++) { /* services first, as the reference */
        for (size_t k = 0; k < ao->nexports; k++) {
            const acct_export_t *e = &ao->exports[k];
            if (e->service != (pass == 0)) continue;
            jw_obj_begin(w, NULL);
            jw_str(w, "subject", e->subject);
            jw_str(w, "type", e->service ? "service" : "stream");
            if (e->service) jw_str(w, "response_type", rt[e->resp_type]);
            if (e->service && e->resp_threshold_ns)
                jw_int(w, "response_threshold", e->resp_threshold_ns);
            if (e->service && e->lat_subject)
                write_latency(w, "service_latency", e->lat_subject, e->lat_sampling);
            if (e->naccounts) {
                jw_arr_begin(w, "approved_accounts");
                for (size_t j = 0; j < e->naccounts; j++)
                    jw_str(w, NULL, e->accounts[j]);
                jw_arr_end(w);
            }
            jw_obj_end(w);
        }
    }
    jw_arr_end(w);
}

typedef struct imp_ctx {
    jw_t *w;
    bool service; /* this pass */
    bool any;
} imp_ctx_t;

static void write_import(void *arg, const import_desc_t *d)
{
    imp_ctx_t *x = arg;
    if (d->service != x->service) return;
    if (!x->any) jw_arr_begin(x->w, "imports");
    x->any = true;
    jw_obj_begin(x->w, NULL);
    if (d->service) { /* the importer's subject, and where it goes in the exporter */
        jw_str(x->w, "subject", d->to);
        jw_str(x->w, "account", d->exp->name);
        jw_str(x->w, "to", d->from);
    } else {
        jw_str(x->w, "subject", d->from);
        jw_str(x->w, "account", d->exp->name);
        if (strcmp(d->from, d->to) != 0) jw_str(x->w, "local_subject", d->to);
    }
    jw_str(x->w, "type", d->service ? "service" : "stream");
    jw_bool(x->w, "invalid", false);
    jw_bool(x->w, "share", d->share);
    jw_bool(x->w, "tracking", false);
    if (d->lat_subject) write_latency(x->w, "latency", d->lat_subject, d->lat_sampling);
    jw_obj_end(x->w);
}

typedef struct resp_ctx {
    jw_t *w;
    bool any;
} resp_ctx_t;

static void write_response(void *arg, slice_t key, const struct account *to, slice_t reply)
{
    resp_ctx_t *x = arg;
    if (!x->any) jw_obj_begin(x->w, "responses");
    x->any = true;
    char k[256];
    size_t n = key.n < sizeof k - 1 ? key.n : sizeof k - 1;
    memcpy(k, key.p, n);
    k[n] = 0;
    jw_obj_begin(x->w, k);
    jw_strn(x->w, "subject", key.p, key.n);
    jw_str(x->w, "account", to->name);
    jw_strn(x->w, "to", reply.p, reply.n);
    jw_int(x->w, "type", 2); /* the reference's responses show the type as its number */
    jw_bool(x->w, "invalid", false);
    jw_bool(x->w, "share", false);
    jw_bool(x->w, "tracking", false);
    jw_obj_end(x->w);
}

static void write_detail(jw_t *w, const char *key, account_t *a)
{
    jw_obj_begin(w, key);
    jw_str(w, "account_name", a->name);
    jw_time(w, "update_time", atomic_load(&a->created_wall_ns));
    if (a == account_system()) jw_bool(w, "is_system", true);
    jw_bool(w, "expired", false);
    jw_bool(w, "complete", true);
    jw_bool(w, "jetstream_enabled", false);
    jw_int(w, "leafnode_connections", atomic_load(&a->nleafs));
    jw_int(w, "client_connections", atomic_load(&a->nconns));
    jw_uint(w, "subscriptions", account_num_subs(a));
    write_exports(w, opts_account(accounts_opts(srv->opts), a->name));
    imp_ctx_t ix = {w, false, false};
    imports_describe(a, write_import, &ix); /* streams, then services, as the reference */
    ix.service = true;
    imports_describe(a, write_import, &ix);
    if (ix.any) jw_arr_end(w);
    sublist_stats_t st;
    sublist_stats(a->sl, &st);
    jw_obj_begin(w, "sublist_stats");
    monitor_write_sublist_stats(w, &st);
    jw_obj_end(w);
    resp_ctx_t rx = {w, false};
    imports_responses(a, now_mono_ns(), write_response, &rx);
    if (rx.any) jw_obj_end(w);
    jw_obj_end(w);
}

int accountz_info(const char *acc, buf_t *out)
{
    account_t *a = account_lookup(acc, strlen(acc)); /* the reference's: loaded ones only */
    if (!a) {
        buf_printf(out, "Account %s does not exist", acc);
        return 500;
    }
    jw_t w;
    jw_init(&w, out, false);
    write_detail(&w, NULL, a);
    return 200;
}

int handle_accountz(const http_req_t *req, buf_t *body, monitor_reply_t *rep)
{
    (void)rep;
    char acc[256];
    bool has_acc = mon_param(req, "acc", acc, sizeof acc);
    account_t *a = has_acc ? account_fetch(acc, strlen(acc)) : NULL; /* as the reference: loads */
    if (has_acc && !a) {
        buf_printf(body, "Account %s does not exist", acc);
        rep->content_type = "text/plain; charset=utf-8";
        return 400;
    }
    jw_t w;
    jw_init(&w, body, true);
    jw_obj_begin(&w, NULL);
    write_head(&w);
    if (a) {
        write_detail(&w, "account_detail", a);
    } else {
        jw_arr_begin(&w, "accounts");
        accounts_foreach(add_name, &w);
        jw_arr_end(&w);
    }
    jw_obj_end(&w);
    return 200;
}

/* ---- /accstatz ---------------------------------------------------------------------- */

typedef struct statz_ctx {
    jw_t *w;
    const char *only; /* ?accs= list (comma separated), NULL = all */
    bool unused;      /* include_unused */
} statz_ctx_t;

static bool listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        size_t l = strcspn(p, ",");
        if (l == n && strncmp(p, name, n) == 0) return true;
        p += l;
        if (*p) p++;
    }
    return false;
}

static bool write_statz(account_t *a, void *arg)
{
    statz_ctx_t *x = arg;
    if ((x->only && !listed(x->only, a->name)) || account_gone(a)) return true;
    if (!atomic_load(&a->nconns) && !atomic_load(&a->nleafs) && !x->unused) return true;
    jw_obj_begin(x->w, NULL);
    account_stat_write(x->w, a);
    jw_obj_end(x->w);
    return true;
}

/* The /accstatz document (only: a comma-separated account list or NULL), into body. */
void accstatz_write(buf_t *body, bool pretty, const char *only, bool unused)
{
    jw_t w;
    jw_init(&w, body, pretty);
    jw_obj_begin(&w, NULL);
    jw_str(&w, "server_id", srv->server_id);
    jw_time(&w, "now", now_wall_ns());
    jw_arr_begin(&w, "account_statz");
    statz_ctx_t x = {&w, only, unused};
    accounts_foreach(write_statz, &x);
    jw_arr_end(&w);
    jw_obj_end(&w);
}

int handle_accstatz(const http_req_t *req, buf_t *body, monitor_reply_t *rep)
{
    bool unused;
    if (mon_bool(req, "unused", &unused, body)) {
        rep->uncounted = true;
        return 400;
    }
    /* (the HTTP endpoint takes no account list, as the reference's) */
    accstatz_write(body, true, NULL, unused);
    return 200;
}
