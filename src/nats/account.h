/* account.h: accounts, the NATS 2.x unit of isolation (docs/accounts.md).
 *
 * Every connection that holds subscriptions belongs to one account and sees
 * only the subjects of its account: each account has a subject index of its
 * own. The global account "$G" holds everyone when no accounts are
 * configured (and users not bound to an account); the system account ("$SYS"
 * unless system_account names another, none with no_sys_acc) exists from
 * the start. Accounts from the config file are created at start-up and added
 * on reload; an account is never freed before the server is (connections and
 * routes hold plain pointers to it), so a reload that drops one from the
 * config leaves it empty but alive.
 *
 * Lookups by name (a route's RS+/RMSG names the account per message) read a
 * table that only the control plane replaces (one atomic pointer, the old
 * table retired through qsbr): any worker, during a batch. */
#ifndef GNATSD_ACCOUNT_H
#define GNATSD_ACCOUNT_H

#include "core/core.h"

#define ACCOUNT_GLOBAL "$G"
#define ACCOUNT_SYSTEM_DEFAULT "$SYS"

typedef struct account {
    char *name;
    size_t name_len;
    sublist_t *sl;
    struct acct_imports *_Atomic imports; /* nats/imports.c: what it imports (NULL: none) */
    struct resp_map *resp;                /* nats/imports.c: replies of its service exports */
    struct acct_maps *_Atomic maps;       /* nats/mappings.c: its subject mappings (NULL: none) */
    _Atomic int32_t nconns;               /* client connections logged in to it */
    /* subs in sl that hold other clusters' interest (gateways): not counted as its
     * subscriptions (the reference keeps that interest apart) */
    _Atomic int64_t gw_subs;
    _Atomic int32_t nleafs; /* leaf node connections bound to it (nats/leaf.c) */
    /* the other servers' client and leaf node connections in it, as their CONNS events
     * last said (nats/sys_subs.c): its limits count them too (docs/accounts.md) */
    _Atomic int32_t nrconns, nrleafs;
    /* how many of its client / leaf node connections here are to close (WCMD_ACC_LIMIT) */
    _Atomic int32_t conn_excess, leaf_excess;
    /* operator mode (nats/resolver.c): the claims of its JWT (NULL: a configured account),
     * and whether the resolver dropped it (then lookups miss it; the struct stays) */
    const struct acct_claims *_Atomic claims;
    _Atomic bool gone;
    /* the resolver is loading it (account_ensure .. account_loaded): account_lookup may
     * find it, but its claims, limits and imports are not all there yet, so the fetches
     * below ask the loader, which returns it once the load ended */
    _Atomic bool loading;
    /* limits {} (-1 = none); replaced by a reload */
    _Atomic int32_t max_conns, max_subs, max_payload, max_leafs;
    _Atomic int64_t created_wall_ns; /* for /accountz and /accstatz */
    /* what its clients and leaf nodes sent and received, slow consumers among them
     * (conn_t.sink: counted per worker round, not per message) */
    stat_sink_t stats;
} account_t;

/* Control plane. accounts_init: after server_init, before any listener; creates $G,
 * the system account (sys_name: system_account, or the operator's; NULL: "$SYS" unless
 * no_sys_acc or operator mode) and the configured ones. accounts_apply (reload): adds new
 * ones, refreshes limits. accounts_free_all: after shutdown. */
void accounts_init(const opts_t *o, const char *sys_name);
void accounts_apply(const opts_t *o);
void accounts_free_all(void);

account_t *account_global(void);
account_t *account_system(void); /* NULL when there is none */
/* Any thread during a batch, or the control plane. NULL if unknown (or gone). */
account_t *account_lookup(const char *name, size_t n);
/* The resolver (nats/resolver.c, under its lock): the account named `name`, created if
 * new, brought back if gone, marked loading from before any lookup can find it; then
 * account_loaded once its claims, limits and imports are applied. */
account_t *account_ensure(const char *name);
void account_loaded(account_t *a);
static inline account_t *account_lookup_slice(slice_t s)
{
    return account_lookup(s.p, s.n);
}
/* Operator mode (nats/resolver.c registers it at start): fetch(name, n, warn) loads an
 * account from the resolver (warn: log when it is not there). Set once before any
 * listener. */
typedef account_t *(*account_loader_fn)(const char *name, size_t n, bool warn);
void account_set_loader(account_loader_fn fn);
/* Accounts come from JWTs (a loader is set): users log in with JWTs, every INFO has a
 * nonce. */
bool accounts_from_jwts(void);
/* The account named `name`: known, or loaded now by the loader (operator mode); one
 * that another thread is loading is returned when that load ended. NULL otherwise
 * (logged as the reference's "Account fetch failed"). Any thread. */
account_t *account_fetch(const char *name, size_t n);
/* The same, without the log line when it is not here. */
account_t *account_fetch_quiet(const char *name, size_t n);

/* The directory resolvers (nats/acct_lookup.c registers it): an account not stored here is
 * asked of the other servers. done(arg, err) is called once when the lookup ends, on
 * another thread (err NULL: now stored, account_fetch finds it; else the reference's
 * reason, e.g. "fetching jwt timed out"); done may be NULL (nobody waits). */
typedef void (*account_remote_done_fn)(void *arg, const char *err);
typedef enum acct_remote {
    ACCT_REMOTE_NONE,    /* no lookups here (no directory resolver, not an account key) */
    ACCT_REMOTE_STARTED, /* started, or joined one in flight: done will be called */
    ACCT_REMOTE_BUSY     /* too many in flight (logged): done will not be called */
} acct_remote_t;
typedef acct_remote_t (*account_remote_fn)(const char *name, size_t n, account_remote_done_fn done,
                                           void *arg);
void account_set_remote(account_remote_fn fn);
/* Any thread: starts (or joins) a lookup of an account that account_fetch_quiet
 * did not find. */
acct_remote_t account_fetch_remote(const char *name, size_t n, account_remote_done_fn done,
                                   void *arg);
/* A route naming an account: known or loadable here now, else NULL and, with the full
 * resolver, a lookup starts that nobody waits for (the account exists once it ends). */
account_t *account_fetch_or_ask(const char *name, size_t n);
static inline account_t *account_fetch_or_ask_slice(slice_t s)
{
    return account_fetch_or_ask(s.p, s.n);
}
/* A route's RS+ (add) or RS- naming an account: as account_fetch_or_ask, but an account
 * that is being looked up, or was dropped, is returned as a placeholder (account_gone:
 * lookups miss it) that keeps the route's interest until it is loaded, as the
 * reference's; at most ACCOUNT_PLACEHOLDERS_MAX are made. An RS- finds placeholders
 * and never loads anything. */
#define ACCOUNT_PLACEHOLDERS_MAX 4096
account_t *account_for_interest(slice_t name, bool add);
static inline account_t *account_fetch_slice(slice_t s)
{
    return account_fetch(s.p, s.n);
}

/* Every account in creation order (gone ones too: account_gone tells), fn(acc, arg)
 * until it returns false. */
void accounts_foreach(bool (*fn)(account_t *a, void *arg), void *arg);
size_t accounts_count(void);
/* The index statistics of one account (only = its name), or of all of them added up
 * (only = NULL) as the reference's /subsz and /varz do. */
void accounts_sublist_stats(const char *only, sublist_stats_t *st);
uint64_t accounts_num_subs(void);
/* The subscriptions of one account (its index without other clusters' interest). */
uint64_t account_num_subs(const account_t *a);

static inline bool account_gone(const account_t *a)
{
    return atomic_load_explicit(&a->gone, memory_order_acquire);
}

static inline bool account_loading(const account_t *a)
{
    return atomic_load_explicit(&a->loading, memory_order_acquire);
}

/* A connection's account, $G for one that has none yet (before CONNECT). */
static inline account_t *conn_account(const conn_t *c)
{
    return c->acc ? c->acc : account_global();
}

/* Owner: binds c to acc for the rest of its life (counted in nconns); false with
 * nothing changed when acc's max_connections is reached (with the other servers'
 * connections in it). */
bool account_bind(conn_t *c, account_t *acc);
/* Owner, closing: c no longer counts toward its account. */
void account_unbind(conn_t *c);
/* Owner: leaf node c (c->acc = acc) counts among acc's leaf nodes and its traffic in
 * acc's totals, as account_bind for a client; limited: refused (false, nothing counted)
 * at acc's max_leafnodes (with the other servers' leaf nodes in it). The leaf module
 * uncounts it when it goes. */
bool account_count_leaf(conn_t *c, account_t *acc, bool limited);
/* After the other servers' counts changed: where a's connections here and there are
 * over its limits, the newest here (each worker's, in turn) get closed, as the
 * reference rebalances; they reconnect elsewhere or later (docs/accounts.md). */
void account_check_limits(account_t *a);
/* Owner, at WCMD_ACC_LIMIT: true if c is one of its account's excess (take it). */
bool account_take_excess(const conn_t *c, bool leaf);
/* a's statistics as the reference's AccountStat members ("acc", "conns", "leafnodes",
 * "total_conns", "sent", "received", "slow_consumers"), into w's open object: the
 * /accstatz rows and the CONNS events. The server's view: "sent" is what it sent to the
 * account's clients and leaf nodes, "received" what it received from them. */
struct jw;
void account_stat_write(struct jw *w, account_t *a);
/* The reference's DataStats member: "key":{"msgs":...,"bytes":...} (events, statsz). */
void data_stats_write(struct jw *w, const char *key, uint64_t msgs, uint64_t bytes);

#endif
