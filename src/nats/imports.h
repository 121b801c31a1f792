/* imports.h: stream and service imports between accounts (docs/accounts.md).
 *
 * Stream import (IMP imports subject X from EXP, seen in IMP as L: X itself,
 * prefix.X, or `to`): a client subscription in IMP that overlaps L gets a
 * shadow subscription in EXP's index, owned by the same connection, on the
 * part of X it covers. EXP's messages then reach the client directly, with
 * the subject mapped from X's name space to L's; the shadow is EXP's interest
 * like any other, so routes announce it in EXP and a queue group keeps its
 * one-member-per-message pick across the cluster. Shadows live and die with
 * their client subscription (sub_t.shadow chain).
 *
 * Service import (IMP imports service X from EXP as L): IMP's index holds an
 * internal subscription on L (no connection; never announced to routes: every
 * server makes its own). A request published in IMP on L is published again in
 * EXP on X, with its reply R replaced by a reply subject of EXP's
 * "_R_.<server>.<n>" space, remembered in EXP's response map with IMP and R.
 * Every account has one internal subscription on "_R_.<server>.>" (announced
 * to routes, so responders anywhere answer back here); a response published
 * there is delivered in IMP on R. A singleton response ends the entry; stream
 * and chunked responses keep it until the export's threshold (default 2 min).
 * The map is bounded (RESP_MAP_MAX per account, the oldest dropped first).
 *
 * Threads: the import sets are immutable and swapped by the control plane
 * (qsbr), read by deliverers on any worker; the response map has its own mutex;
 * shadows are made and dropped by the owner of their client connection. */
#ifndef GNATSD_IMPORTS_H
#define GNATSD_IMPORTS_H

#include "nats/account.h"
#include "nats/msg.h"

#define IMPORT_MAX_DEPTH 8 /* imports a message may cross; deeper is dropped */

struct sub_import;

/* Control plane: builds the accounts' import sets from o (start-up, reload); a
 * reload's changes apply to subscriptions made afterwards and to the owners'
 * re-check (imports_refresh_subs). */
void imports_apply(const opts_t *o);
void imports_free_all(void);
/* The export of exp that im imports (its kind, a subject covering im's), or NULL. */
const acct_export_t *imports_find_export(const account_opts_t *exp, const acct_import_t *im);

/* Owner: a client subscription s of c was added (in c's account): its shadows. */
void imports_sub_added(worker_t *w, conn_t *c, sub_t *s);
/* Owner: client sub s left its account's index: responses pending for its subject in
 * the exporters of the account's service imports are dropped if no other subscriber
 * of the account wants them (the reference's reverse-entry cleanup). */
void imports_sub_gone(const sub_t *s);
/* Owner, after a reload changed an account's imports: rebuild c's shadows. */
void imports_refresh_subs(worker_t *w, conn_t *c);

/* The server's own subscriptions (the system account's requests, nats/sys.c): fn
 * gets each message delivered to it, on the deliverer's worker, and returns 1 if
 * it took it. Control plane: added to a's index (announce: as route interest too),
 * removed at shutdown (its memory goes with qsbr). */
typedef int (*internal_msg_fn)(worker_t *w, const msg_t *m, void *arg);
sub_t *internal_sub_add(account_t *a, const char *subject, internal_msg_fn fn, void *arg,
                        bool announce);
void internal_sub_remove(sub_t *s);

/* Monitoring (/accountz): a's imports in force (fn gets each: service or stream, the
 * exporting account, the subject in the exporter, the importer's local subject, the
 * latency tracking and sharing of a service), and
 * its pending service responses (key, the requester's account and reply). Any thread
 * during a batch, or a qsbr reader. */
typedef struct import_desc {
    bool service, share;
    const account_t *exp;
    const char *from, *to;
    const char *lat_subject; /* a tracked service's results subject, or NULL */
    int lat_sampling;
} import_desc_t;
typedef void (*import_desc_fn)(void *arg, const import_desc_t *d);
void imports_describe(const account_t *a, import_desc_fn fn, void *arg);
void imports_responses(account_t *a, int64_t now_ns,
                       void (*fn)(void *arg, slice_t key, const struct account *to, slice_t reply),
                       void *arg);

/* Service latency tracking (nats/latency.c sets these when it starts; NULL = off).
 * A request through an import of a tracked export (lat: its results subject and
 * sampling, share: the importer shares its requester's details) asks sample() whether
 * to measure it (hdr: the triggering tracing headers as JSON, owned, or NULL); a
 * measured request with a reply gets a reply subject ending in ".<hash>.T" and
 * request() with that key; one without a reply, bad_request(). The key then ends in
 * exactly one of: no_delivery() (nobody took the request), response() (on the
 * responder's worker; req: the requester account's subscriptions on its reply), lost()
 * (the requester's interest in its reply went away; any thread, under the response
 * map's lock: it only marks). A key nobody ends expires at the threshold. */
typedef struct imports_latency_ops {
    bool (*sample)(worker_t *w, int sampling, const msg_t *m, char **hdr);
    void (*request)(worker_t *w, slice_t key, account_t *exp, const char *results, const msg_t *m,
                    bool share, char *hdr, int64_t thresh_ns);
    void (*bad_request)(worker_t *w, account_t *exp, const char *results, const msg_t *m,
                        bool share, char *hdr);
    void (*no_delivery)(worker_t *w, slice_t key);
    void (*response)(worker_t *w, slice_t key, const msg_t *resp, const sl_result_t *req);
    void (*lost)(slice_t key);
    void (*tag)(char *out, size_t cap); /* ".<hash>.T" */
    /* the exporter's subscriptions a measured request is about to reach */
    void (*probe)(worker_t *w, const sl_result_t *r);
} imports_latency_ops_t;
void imports_set_latency(const imports_latency_ops_t *ops);

/* Deliverer: s has s->imp: deliver m through it. Returns how many got it. */
int imports_deliver(worker_t *w, sub_t *s, const msg_t *m);

#endif
