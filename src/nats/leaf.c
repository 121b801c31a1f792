/* leaf.c: see leaf.h; the files of the module are listed in leaf_int.h.
 *
 * This one holds the module's state (LF), a leaf connection's lifecycle (set-up,
 * close, free), the leafnode listener with the host/port/ip our INFO shows
 * (docs/leafnodes.md §2), the loop detection subjects (§7), the connection
 * kind's row, the monitoring snapshot (/leafz) and a reload's new TLS contexts. */
#include "nats/leaf.h"
#include "nats/leaf_int.h"
#include "conf/opts_table.h"
#include "nats/session.h"
#include "nats/subs.h"
#include "proto/route_parse.h"
#include "base/json.h"
#include "base/log.h"
#include "base/os.h"

#include <stdio.h>
#include <stdlib.h>

leaf_global_t LF = {.mu = PTHREAD_MUTEX_INITIALIZER, .listen_fd = -1};
_Atomic int leaf_nregistered;

int leaf_count(void)
{
    pthread_mutex_lock(&LF.mu);
    int n = (int)LF.n;
    pthread_mutex_unlock(&LF.mu);
    return n;
}

int leaf_port(void)
{
    return LF.port;
}

const char *leaf_lds_locked(const account_t *acc)
{
    for (size_t i = 0; i < LF.nlds; i++)
        if (LF.lds[i].acc == acc) return LF.lds[i].subj;
    LF.lds = xrealloc(LF.lds, (LF.nlds + 1) * sizeof *LF.lds);
    lds_entry_t *e = &LF.lds[LF.nlds++];
    e->acc = acc;
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[22];
    os_random(rnd, sizeof rnd);
    memcpy(e->subj, LEAF_LDS_PREFIX, 5);
    for (size_t i = 0; i < sizeof rnd; i++)
        e->subj[5 + i] = alpha[rnd[i] % (sizeof alpha - 1)];
    e->subj[5 + sizeof rnd] = 0;
    return e->subj;
}

bool leaf_own_url(char *out, size_t n)
{
    if (!LF.port || srv->opts->leaf.no_advertise) return false; /* (LF.port: set once) */
    snprintf(out, n, "%s", LF.info_ip);
    return true;
}

void leaf_put_urls_locked(jw_t *j)
{
    jw_arr_begin(j, "leafnode_urls");
    jw_str(j, NULL, LF.info_ip);
    for (size_t i = 0; i < LF.nurls; i++)
        if (strcmp(LF.urls[i].url, LF.info_ip) != 0) jw_str(j, NULL, LF.urls[i].url);
    jw_arr_end(j);
}

void leaf_peer_urls(char *const *urls, size_t n, bool add)
{
    bool changed = false;
    pthread_mutex_lock(&LF.mu);
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < LF.nurls && strcmp(LF.urls[k].url, urls[i]) != 0)
            k++;
        if (add) {
            if (k == LF.nurls) {
                LF.urls = xrealloc(LF.urls, (LF.nurls + 1) * sizeof *LF.urls);
                LF.urls[LF.nurls++] = (peer_url_t){xstrdup(urls[i]), 0};
                changed = true;
            }
            LF.urls[k].refs++;
        } else if (k < LF.nurls && --LF.urls[k].refs <= 0) {
            free(LF.urls[k].url);
            LF.urls[k] = LF.urls[--LF.nurls];
            changed = true;
        }
    }
    /* the reference sends its leaf INFO again to the leaf nodes it is the hub of */
    size_t nto = 0;
    conn_t **to = NULL;
    if (changed && LF.port && !atomic_load(&srv->shutting_down)) {
        to = xcalloc(LF.n ? LF.n : 1, sizeof *to);
        for (size_t i = 0; i < LF.n; i++)
            if (!LF.leafs[i]->leaf->spoke) to[nto++] = LF.leafs[i];
    }
    pthread_mutex_unlock(&LF.mu);
    for (size_t i = 0; i < nto; i++) /* (workers' batches keep them alive) */
        leaf_send_info(NULL, to[i], NULL, false);
    free(to);
}

/* ---- connection lifecycle ----------------------------------------------------------- */

static void leaf_init_op(worker_t *w, conn_t *c, const inq_item_t *it)
{
    leaf_info_t *li = xcalloc(1, sizeof *li);
    li->st = xcalloc(1, sizeof *li->st);
    c->leaf = li;
    li->spoke = it->solicited;
    li->st->dialer = it->dialer;
    li->st->url = it->url ? xstrdup(it->url) : NULL;
    c->verbose = c->pedantic = c->echo = false;
    c->headers = false; /* until the peer says it takes them */
    c->start_wall_ns = now_wall_ns();
    if (li->spoke) {
        leaf_dialer_t *d = it->dialer;
        const char *an = d && d->account ? d->account : ACCOUNT_GLOBAL;
        account_t *acc = account_fetch(an, strlen(an));
        if (!acc) {
            ERROR("Unable to lookup account %s for solicited leafnode connection: not found", an);
            session_close(c, CR_AUTH_VIOLATION);
            return;
        }
        c->acc = acc;
        account_count_leaf(c, acc, false); /* (a hub limits its leafs, not a spoke) */
        NOTICE("%sLeafnode connection created for account: %s ", c->prefix, acc->name);
    } else {
        NOTICE("%sLeafnode connection created ", c->prefix);
    }
    leaf_start_protocol(w, c);
}

static void leaf_closed_op(conn_t *c)
{
    leaf_info_t *li = c->leaf;
    if (!li) return;
    leaf_unregister(c);
    session_closed(c, NULL); /* the peer's interest: others told in leaf_unregister */
    leaf_closed_event(c);
    if (li->st->dialer) {
        int64_t delay = li->st->loop ? LEAF_LOOP_DELAY_NS : 0;
        leaf_dialer_closed(li->st->dialer, delay);
        li->st->dialer = NULL;
    }
}

/* WCMD_ACC_LIMIT: the account's leaf nodes here and elsewhere are over its limit (the
 * newest of this worker's go first, as for clients). */
static void leaf_command_op(worker_t *w, conn_t *c, uint32_t cmd)
{
    if ((cmd & WCMD_ACC_LIMIT) && (c->leaf->spoke || c->leaf->st->got_connect) &&
        account_take_excess(c, true))
        session_conns_exceeded(w, c);
}

static void leaf_gone_op(conn_t *c)
{
    if (c->acc && c->leaf && (c->leaf->spoke || c->leaf->st->got_connect)) {
        atomic_fetch_sub(&c->acc->nleafs, 1);
        NOTICE("%sLeafnode connection closed: %s account: %s", c->prefix,
               close_reason_str(c->reason), c->acc->name);
    } else {
        NOTICE("%sLeafnode connection closed: %s account: ", c->prefix,
               close_reason_str(c->reason));
    }
}

static void leaf_free_op(conn_t *c)
{
    session_free(c);
    free(c->cred_jwt);
    c->cred_jwt = NULL;
    free(c->cred_sig);
    c->cred_sig = NULL;
    free(c->nonce);
    c->nonce = NULL;
    free(c->user);
    c->user = NULL;
    leaf_info_t *li = c->leaf;
    if (!li) return;
    leaf_state_t *st = li->st;
    free(st->url);
    free(st->tls_info);
    if (st->connect_line) {
        explicit_bzero(st->connect_line, st->connect_len);
        free(st->connect_line);
    }
    leaf_smap_free(st);
    free(st);
    free(li);
    c->leaf = NULL;
}

static void leaf_fill_info_op(conn_t *c, conn_info_t *ci, bool with_subs)
{
    session_fill_info(c, ci, with_subs);
    leaf_info_t *li = c->leaf;
    if (!li) return;
    ci->did_solicit = li->spoke;
    ci->account = c->acc ? c->acc->name : NULL;
    pthread_mutex_lock(&LF.mu);
    if (li->st->remote_name[0]) ci->name = xstrdup(li->st->remote_name);
    pthread_mutex_unlock(&LF.mu);
}

size_t server_snapshot_leafs(conn_info_t **out, bool with_subs)
{
    return conn_snapshot(&leaf_conn_ops, out, with_subs);
}

/* ---- start / stop ----------------------------------------------------------------- */

/* docs/leafnodes.md §2: the advertise address, else the listen host, where "any"
 * becomes the first address of an interface that is not a loopback. */
static void info_address(const leaf_opts_t *lo)
{
    if (lo->advertise && *lo->advertise) {
        char host[256];
        int port = 0;
        route_url_split(lo->advertise, host, sizeof host, &port, NULL, 0, NULL, 0);
        snprintf(LF.info_host, sizeof LF.info_host, "%s", host);
        LF.info_port = strrchr(lo->advertise, ':') ? port : LF.port;
    } else {
        const char *h = lo->host && *lo->host ? lo->host : "0.0.0.0";
        snprintf(LF.info_host, sizeof LF.info_host, "%s", h);
        LF.info_port = LF.port;
        if (strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0) {
            os_ifaddr_t *ifa = NULL;
            int n = os_if_addrs(&ifa);
            bool found = false;
            for (int k = 0; k < n && !found; k++) {
                if (ifa[k].loopback) continue;
                if (ifa[k].addr.ss_family == AF_INET) {
                    inet_ntop(AF_INET, &((const struct sockaddr_in *)&ifa[k].addr)->sin_addr,
                              LF.info_host, sizeof LF.info_host);
                    found = true;
                } else if (ifa[k].addr.ss_family == AF_INET6) {
                    const struct in6_addr *a =
                        &((const struct sockaddr_in6 *)&ifa[k].addr)->sin6_addr;
                    if (IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_LOOPBACK(a)) continue;
                    inet_ntop(AF_INET6, a, LF.info_host, sizeof LF.info_host);
                    found = true;
                }
            }
            free(ifa);
            if (!found)
                ERROR("Could not find any non-local IP for leafnode's listen specification \"%s\"",
                      h);
        }
    }
    snprintf(LF.info_ip, sizeof LF.info_ip, strchr(LF.info_host, ':') ? "[%s]:%d" : "%s:%d",
             LF.info_host, LF.info_port);
    if (lo->advertise && *lo->advertise)
        NOTICE("Advertise address for leafnode is set to %s", LF.info_ip);
}

int leaf_start(void)
{
    opts_t *o = srv->opts;
    const leaf_opts_t *lo = &o->leaf;
    /* docs/leafnodes.md §1: the accounts named must exist */
    const char *missing = NULL, *where = NULL;
    if (lo->account && !account_lookup(lo->account, strlen(lo->account)))
        missing = lo->account, where = "authorization";
    for (size_t i = 0; !missing && i < lo->nusers; i++)
        if (lo->users[i].account &&
            !account_lookup(lo->users[i].account, strlen(lo->users[i].account)))
            missing = lo->users[i].account, where = "authorization";
    for (size_t i = 0; !missing && i < lo->nremotes; i++)
        if (lo->remotes[i].account &&
            !account_lookup(lo->remotes[i].account, strlen(lo->remotes[i].account)))
            missing = lo->remotes[i].account, where = "remote";
    if (missing) {
        log_msg(LOG_FTL, "cannot find local account \"%s\" specified in leafnode %s", missing,
                where);
        return -1;
    }
    char err[300];
    /* TLS contexts first: a certificate that does not load stops the start (as the
     * reference's does) */
    LF.remote_tls = lo->nremotes ? xcalloc(lo->nremotes, sizeof *LF.remote_tls) : NULL;
    for (size_t i = 0; i < lo->nremotes; i++) {
        if (!lo->remotes[i].tls.enabled) continue;
        LF.remote_tls[i] = tls_ctx_client(&lo->remotes[i].tls, err, sizeof err);
        if (!LF.remote_tls[i]) {
            log_msg(LOG_FTL, "leafnode remote TLS: %s", err);
            return -1;
        }
    }
    if (lo->port && lo->tls.enabled) {
        LF.tls_accept = tls_ctx_server(&lo->tls, lo->tls.verify, err, sizeof err);
        if (!LF.tls_accept) {
            log_msg(LOG_FTL, "leafnode TLS: %s", err);
            return -1;
        }
    }
    if (!lo->port) return 0;
    const char *host = lo->host && *lo->host ? lo->host : "0.0.0.0";
    LF.listen_fd = listen_on(host, lo->port, &LF.port, err, sizeof err);
    if (LF.listen_fd < 0) {
        log_msg(LOG_FTL, "Error listening on leafnode port: %d - %s", lo->port, err);
        return -1;
    }
    NOTICE("Listening for leafnode connections on %s:%d", host, LF.port);
    info_address(lo);
    listener_add(LF.listen_fd, "Leafnode", &leaf_conn_ops);
    return 0;
}

void leaf_announce(void)
{
    leaf_dialers_start();
}

void leaf_shutdown(void)
{
    leaf_dialers_stop();
    if (LF.listen_fd >= 0) {
        listener_remove(LF.listen_fd);
        LF.listen_fd = -1;
    }
}

/* A reload that changed the contents of a TLS block (certificate, key, CA, verify,
 * ciphers, timeout, a remote's insecure; leaf_refusal refuses turning one on or off and
 * the hub's pinned_certs): new leaf connections use the new context, as the reference's
 * do; open ones keep theirs. A context that does not load is logged and the old one kept
 * (as for routes). */
void leaf_reload_tls(const opts_t *old, const opts_t *no)
{
    const leaf_opts_t *a = &old->leaf, *b = &no->leaf;
    char err[300];
    if (b->tls.enabled && atomic_load(&LF.tls_accept) && opts_tls_changed(&a->tls, &b->tls)) {
        tls_ctx_t *t = tls_ctx_server(&b->tls, b->tls.verify, err, sizeof err);
        if (!t) {
            ERROR("Leafnode TLS not reloaded: %s", err);
        } else {
            tls_ctx_t *o = atomic_exchange(&LF.tls_accept, t);
            NOTICE("Reloaded: leafnode TLS");
            tls_ctx_retire(o);
        }
    }
    for (size_t k = 0; k < LF.ndialers; k++) {
        leaf_dialer_t *d = &LF.dialers[k];
        size_t i = d->remote; /* (leaf_refusal: the same remotes, in the same order) */
        const tls_opts_t *x = &a->remotes[i].tls, *y = &b->remotes[i].tls;
        if (!y->enabled || !opts_tls_changed(x, y)) continue;
        tls_ctx_t *t = tls_ctx_client(y, err, sizeof err);
        if (!t) {
            ERROR("Leafnode remote TLS not reloaded: %s", err);
            continue;
        }
        pthread_mutex_lock(&d->mu);
        tls_ctx_t *o = d->tls;
        d->tls = t;
        d->tls_insecure = y->insecure;
        pthread_mutex_unlock(&d->mu);
        tls_ctx_unref(o); /* (readers take their ref under d->mu; connections hold theirs) */
        NOTICE("Reloaded: leafnode remote %zu TLS", i + 1);
    }
}

void leaf_free_all(void)
{
    leaf_dialers_free();
    for (size_t i = 0; LF.remote_tls && i < srv->opts->leaf.nremotes; i++)
        tls_ctx_unref(LF.remote_tls[i]); /* (those no dialer took) */
    free(LF.remote_tls);
    LF.remote_tls = NULL;
    tls_ctx_unref(LF.tls_accept);
    tls_ctx_unref(LF.tls_dial_any);
    LF.tls_accept = LF.tls_dial_any = NULL;
    pthread_mutex_lock(&LF.mu);
    free(LF.leafs);
    LF.leafs = NULL;
    LF.n = LF.cap = 0;
    free(LF.lds);
    LF.lds = NULL;
    LF.nlds = 0;
    for (size_t i = 0; i < LF.nurls; i++)
        free(LF.urls[i].url);
    free(LF.urls);
    LF.urls = NULL;
    LF.nurls = 0;
    pthread_mutex_unlock(&LF.mu);
}

/* ---- the leaf node connection kind ------------------------------------------------- */

/* Accepted on the leafnode port or dialled to a remote. Lines are bounded at 64 KiB at
 * least, as a route's (an LMSG lists every queue group that won). */
const conn_ops_t leaf_conn_ops = {
    .kind = CONN_LEAF,
    .name = "leafnode",
    .tag = "lid",
    .tls_word = "leafnode ",
    .line_min = 64 * 1024,
    .deadline_from_progress = true,
    .pausable = false,
    .init = leaf_init_op,
    .process = leaf_process,
    .timer = leaf_timer,
    .tls_done = leaf_tls_done,
    .send_err = session_send_err,
    .closed = leaf_closed_op,
    .gone = leaf_gone_op,
    .free = leaf_free_op,
    .fill_info = leaf_fill_info_op,
    .command = leaf_command_op,
    .connect_verdict = leaf_connect_verdict,
};
