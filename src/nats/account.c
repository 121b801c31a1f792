/* account.c: the account registry (see account.h).
 *
 * The table is open addressing over a power-of-two array of pointers, at most
 * half full, hashed with the keyed hash (route peers choose the names they
 * send). It is replaced whole when an account is added (only at start-up and
 * on reload, under reg_mu), so readers never see a table change under them. */
#include "nats/account.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/log.h"
#include "base/qsbr.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct acct_table {
    size_t cap; /* power of two */
    account_t *slots[];
} acct_table_t;

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static acct_table_t *_Atomic table;
static account_t **all; /* creation order (control plane only, under reg_mu) */
static size_t nall;
static account_t *global, *sys;

static account_t **slot_for(acct_table_t *t, const char *name, size_t n)
{
    size_t i = (size_t)hash_bytes(name, n) & (t->cap - 1);
    for (;; i = (i + 1) & (t->cap - 1)) {
        account_t *a = t->slots[i];
        if (!a || (a->name_len == n && memcmp(a->name, name, n) == 0)) return &t->slots[i];
    }
}

static account_t *lookup_any(const char *name, size_t n)
{
    acct_table_t *t = atomic_load_explicit(&table, memory_order_acquire);
    if (!t) return NULL;
    return *slot_for(t, name, n);
}

account_t *account_lookup(const char *name, size_t n)
{
    account_t *a = lookup_any(name, n);
    return a && !account_gone(a) ? a : NULL;
}

static void set_limits(account_t *a, const account_opts_t *ao)
{
    atomic_store(&a->max_conns, ao ? ao->max_conns : -1);
    atomic_store(&a->max_subs, ao ? ao->max_subs : -1);
    atomic_store(&a->max_payload, ao ? ao->max_payload : -1);
    atomic_store(&a->max_leafs, ao ? ao->max_leafs : -1);
}

/* Under reg_mu: a new account, published (gone: a placeholder, missed by lookups from
 * the start; loading: the resolver's, account_t.loading). */
static account_t *create_locked(const char *name, const opts_t *o, bool gone, bool loading)
{
    size_t n = strlen(name);
    account_t *a = xcalloc(1, sizeof *a);
    atomic_store(&a->gone, gone);
    atomic_store(&a->loading, loading);
    a->name = xstrdup(name);
    a->name_len = n;
    a->sl = sublist_new(!o->disable_sublist_cache);
    sublist_set_owner(a->sl, a);
    atomic_store(&a->created_wall_ns, now_wall_ns());
    set_limits(a, NULL);
    all = xrealloc(all, (nall + 1) * sizeof *all);
    all[nall++] = a;

    acct_table_t *old = atomic_load(&table);
    size_t cap = old ? old->cap : 16;
    while (cap < 2 * nall)
        cap *= 2;
    acct_table_t *t = xcalloc(1, sizeof *t + cap * sizeof(account_t *));
    t->cap = cap;
    for (size_t i = 0; i < nall; i++)
        *slot_for(t, all[i]->name, all[i]->name_len) = all[i];
    atomic_store_explicit(&table, t, memory_order_release);
    if (old) qsbr_retire(old, free);
    return a;
}

/* Under reg_mu: the account named `name`, created if new, brought back if gone. */
static account_t *ensure_locked(const char *name, const opts_t *o)
{
    account_t *a = lookup_any(name, strlen(name));
    if (a) {
        atomic_store_explicit(&a->gone, false, memory_order_release);
        return a;
    }
    return create_locked(name, o, false, false);
}

static void apply_locked(const opts_t *o)
{
    for (size_t i = 0; i < o->naccounts; i++)
        set_limits(ensure_locked(o->accounts[i].name, o), &o->accounts[i]);
}

void accounts_init(const opts_t *o, const char *sys_name)
{
    pthread_mutex_lock(&reg_mu);
    global = ensure_locked(ACCOUNT_GLOBAL, o);
    apply_locked(o);
    if (sys_name && *sys_name)
        sys = ensure_locked(sys_name, o);
    else if (!o->no_sys_acc && !opts_operator_mode(o))
        sys = ensure_locked(ACCOUNT_SYSTEM_DEFAULT, o);
    pthread_mutex_unlock(&reg_mu);
}

static account_loader_fn loader;

void account_set_loader(account_loader_fn fn)
{
    loader = fn;
}

bool accounts_from_jwts(void)
{
    return loader != NULL;
}

/* Found, and not in the middle of a load (then the loader waits for its end). */
static bool complete(const account_t *a)
{
    return a && !account_loading(a);
}

account_t *account_fetch(const char *name, size_t n)
{
    account_t *a = account_lookup(name, n);
    return complete(a) || !loader ? a : loader(name, n, true);
}

account_t *account_fetch_quiet(const char *name, size_t n)
{
    account_t *a = account_lookup(name, n);
    return complete(a) || !loader ? a : loader(name, n, false);
}

static account_remote_fn remote;

void account_set_remote(account_remote_fn fn)
{
    remote = fn;
}

acct_remote_t account_fetch_remote(const char *name, size_t n, account_remote_done_fn done,
                                   void *arg)
{
    return remote ? remote(name, n, done, arg) : ACCT_REMOTE_NONE;
}

/* account_fetch_or_ask, telling whether a lookup is in flight now (*asked). */
static account_t *fetch_or_ask(const char *name, size_t n, bool *asked)
{
    *asked = false;
    account_t *a = account_fetch_quiet(name, n);
    if (a || !loader) return a;
    acct_remote_t r = account_fetch_remote(name, n, NULL, NULL);
    *asked = r == ACCT_REMOTE_STARTED;
    if (r != ACCT_REMOTE_NONE) return NULL;
    return account_fetch(name, n); /* not looked up: logged as before */
}

account_t *account_fetch_or_ask(const char *name, size_t n)
{
    bool asked;
    return fetch_or_ask(name, n, &asked);
}

static size_t nplaceholders; /* under reg_mu */

account_t *account_for_interest(slice_t name, bool add)
{
    account_t *a = lookup_any(name.p, name.n);
    if (a || !add) return a;
    bool asked;
    a = fetch_or_ask(name.p, name.n, &asked);
    if (a || !asked) return a;
    char nm[256];
    if (name.n >= sizeof nm) return NULL;
    memcpy(nm, name.p, name.n);
    nm[name.n] = 0;
    pthread_mutex_lock(&reg_mu);
    a = lookup_any(name.p, name.n); /* the lookup may have ended meanwhile */
    if (!a && nplaceholders < ACCOUNT_PLACEHOLDERS_MAX) {
        nplaceholders++;
        a = create_locked(nm, srv->opts, true, false);
    }
    pthread_mutex_unlock(&reg_mu);
    return a;
}

account_t *account_ensure(const char *name)
{
    pthread_mutex_lock(&reg_mu);
    account_t *a = lookup_any(name, strlen(name));
    if (a) {
        atomic_store_explicit(&a->loading, true, memory_order_release);
        atomic_store_explicit(&a->gone, false, memory_order_release);
    } else {
        a = create_locked(name, srv->opts, false, true);
    }
    pthread_mutex_unlock(&reg_mu);
    return a;
}

void account_loaded(account_t *a)
{
    atomic_store_explicit(&a->loading, false, memory_order_release);
}

void accounts_apply(const opts_t *o)
{
    pthread_mutex_lock(&reg_mu);
    apply_locked(o);
    pthread_mutex_unlock(&reg_mu);
}

void accounts_free_all(void)
{
    for (size_t i = 0; i < nall; i++) {
        sublist_free(all[i]->sl);
        free(all[i]->name);
        free(all[i]);
    }
    free(all);
    all = NULL;
    nall = 0;
    free(atomic_load(&table));
    atomic_store(&table, NULL);
    global = sys = NULL;
}

account_t *account_global(void)
{
    return global;
}

account_t *account_system(void)
{
    return sys;
}

void accounts_foreach(bool (*fn)(account_t *a, void *arg), void *arg)
{
    pthread_mutex_lock(&reg_mu);
    size_t n = nall;
    account_t **v = xmalloc((n ? n : 1) * sizeof *v);
    memcpy(v, all, n * sizeof *v);
    pthread_mutex_unlock(&reg_mu);
    for (size_t i = 0; i < n && fn(v[i], arg); i++)
        ;
    free(v);
}

size_t accounts_count(void)
{
    pthread_mutex_lock(&reg_mu);
    size_t n = nall;
    pthread_mutex_unlock(&reg_mu);
    return n;
}

typedef struct stats_arg {
    const char *only;
    sublist_stats_t *st;
    double fanout_sum; /* avg_fanout x num_cache of each: the mean over all */
} stats_arg_t;

static bool add_stats(account_t *a, void *arg)
{
    stats_arg_t *sa = arg;
    if (sa->only && strcmp(sa->only, a->name) != 0) return true;
    sublist_stats_t s = {0};
    sublist_stats(a->sl, &s);
    sublist_stats_t *t = sa->st;
    t->num_subs += s.num_subs;
    t->num_cache += s.num_cache;
    t->num_inserts += s.num_inserts;
    t->num_removes += s.num_removes;
    t->num_matches += s.num_matches;
    t->cache_hits += s.cache_hits;
    if (s.max_fanout > t->max_fanout) t->max_fanout = s.max_fanout;
    sa->fanout_sum += s.avg_fanout * (double)s.num_cache;
    t->avg_fanout = t->num_cache ? sa->fanout_sum / (double)t->num_cache : 0;
    return true;
}

void accounts_sublist_stats(const char *only, sublist_stats_t *st)
{
    memset(st, 0, sizeof *st);
    stats_arg_t sa = {only, st, 0};
    accounts_foreach(add_stats, &sa);
}

static bool add_count(account_t *a, void *arg)
{
    *(uint64_t *)arg += account_num_subs(a);
    return true;
}

uint64_t account_num_subs(const account_t *a)
{
    uint64_t n = sublist_count(a->sl);
    int64_t g = atomic_load_explicit(&a->gw_subs, memory_order_relaxed);
    if (g <= 0) return n;
    return (uint64_t)g < n ? n - (uint64_t)g : 0;
}

uint64_t accounts_num_subs(void)
{
    uint64_t n = 0;
    accounts_foreach(add_count, &n);
    return n;
}

bool account_bind(conn_t *c, account_t *acc)
{
    if (c->acc == acc && c->acc_counted) return true;
    int32_t max = atomic_load(&acc->max_conns);
    int32_t now = atomic_fetch_add(&acc->nconns, 1);
    if (max >= 0 && now + atomic_load(&acc->nrconns) >= max) {
        atomic_fetch_sub(&acc->nconns, 1);
        return false;
    }
    account_unbind(c);
    c->acc = acc;
    c->acc_counted = true;
    atomic_store(&c->sink, &acc->stats);
    return true;
}

bool account_count_leaf(conn_t *c, account_t *acc, bool limited)
{
    int32_t max = limited ? atomic_load(&acc->max_leafs) : -1;
    int32_t now = atomic_fetch_add(&acc->nleafs, 1);
    if (max >= 0 && now + atomic_load(&acc->nrleafs) >= max) {
        atomic_fetch_sub(&acc->nleafs, 1);
        return false;
    }
    atomic_store(&c->sink, &acc->stats);
    return true;
}

void account_check_limits(account_t *a)
{
    int32_t mc = atomic_load(&a->max_conns), ml = atomic_load(&a->max_leafs);
    int32_t oc = mc < 0 ? 0 : atomic_load(&a->nconns) + atomic_load(&a->nrconns) - mc;
    int32_t ol = ml < 0 ? 0 : atomic_load(&a->nleafs) + atomic_load(&a->nrleafs) - ml;
    if (oc <= 0 && ol <= 0) return;
    atomic_store(&a->conn_excess, oc > 0 ? oc : 0);
    atomic_store(&a->leaf_excess, ol > 0 ? ol : 0);
    worker_command(WCMD_ACC_LIMIT);
}

bool account_take_excess(const conn_t *c, bool leaf)
{
    account_t *a = c->acc;
    if (!a || c->closing) return false;
    _Atomic int32_t *q = leaf ? &a->leaf_excess : &a->conn_excess;
    return atomic_load(q) > 0 && atomic_fetch_sub(q, 1) > 0;
}

void account_unbind(conn_t *c)
{
    if (c->acc && c->acc_counted) {
        account_t *a = c->acc;
        atomic_fetch_sub(&a->nconns, 1);
    }
    c->acc_counted = false;
}

void account_stat_write(jw_t *w, account_t *a)
{
    int32_t conns = atomic_load(&a->nconns), leafs = atomic_load(&a->nleafs);
    jw_str(w, "acc", a->name);
    jw_int(w, "conns", conns);
    jw_int(w, "leafnodes", leafs);
    jw_int(w, "total_conns", conns + leafs);
    data_stats_write(w, "sent", atomic_load(&a->stats.out_msgs), atomic_load(&a->stats.out_bytes));
    data_stats_write(w, "received", atomic_load(&a->stats.in_msgs),
                     atomic_load(&a->stats.in_bytes));
    jw_int(w, "slow_consumers", atomic_load(&a->stats.slow_consumers));
}

void data_stats_write(jw_t *w, const char *key, uint64_t msgs, uint64_t bytes)
{
    jw_obj_begin(w, key);
    jw_uint(w, "msgs", msgs);
    jw_uint(w, "bytes", bytes);
    jw_obj_end(w);
}
