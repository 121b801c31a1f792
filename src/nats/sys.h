/* sys.h: the system account's server side (docs/accounts.md "The system
 * account"): events the server publishes and the requests it answers.
 *
 * Events are published on the worker where they happen (a client logged in
 * or closed: $SYS.ACCOUNT.<acc>.CONNECT/DISCONNECT and the account's CONNS
 * counts), as a message from no connection in the system account, delivered
 * locally and forwarded to the routes like any other. Requests
 * ($SYS.REQ.SERVER.PING[.<EP>], $SYS.REQ.SERVER.<id>.<EP>,
 * $SYS.REQ.ACCOUNT.<acc>.<EP>) arrive on internal subscriptions of the
 * system account (announced to routes, so a ping reaches every server); the
 * callback only queues them (bounded: SYS_JOBS_MAX) for the system thread,
 * which asks the endpoint registered for <EP> (the monitoring layer's
 * handlers: they take a snapshot from every worker, so they must not run on
 * one) and publishes {"server":{...},"data":...} to the reply subject. A
 * publish from a thread that is not a worker is queued (bounded:
 * SYS_PUBS_MAX) and delivered by a worker (WCMD_SYSPUB). The statsz
 * heartbeat ($SYS.SERVER.<id>.STATSZ) runs on the system thread too. */
#ifndef GNATSD_SYS_H
#define GNATSD_SYS_H

#include "nats/account.h"
#include "nats/imports.h"
#include "base/buf.h"

#define SYS_JOBS_MAX 1024
#define SYS_PUBS_MAX 4096
#define SYS_STATSZ_INTERVAL_NS (30LL * 1000000000LL)

/* What an endpoint answers (sys_endpoint_fn): nothing (the request's filter left this
 * server out), its data, or an error (the reference's {"error":{"code","description"}};
 * 500 also says "data":null, as the reference's failed handlers). */
enum { SYS_EP_SILENT = 0, SYS_EP_DATA = 200, SYS_EP_BAD_REQUEST = 400, SYS_EP_FAILED = 500 };
/* The data of one endpoint for a request: acc is the account of a
 * $SYS.REQ.ACCOUNT request (NULL for a server request); opts the request's JSON
 * payload (may be empty). Appends compact JSON to out (SYS_EP_DATA), or the error's
 * description (SYS_EP_BAD_REQUEST, SYS_EP_FAILED); returns one of SYS_EP_*. */
typedef int (*sys_endpoint_fn)(const char *acc, const char *opts, size_t optsn, buf_t *out);
/* Before sys_start: the endpoint answering <name> ("VARZ", "CONNZ", "STATSZ", ...);
 * per_account: also as $SYS.REQ.ACCOUNT.<acc>.<name>. */
void sys_register_endpoint(const char *name, bool server, bool per_account, sys_endpoint_fn fn);

/* A request subject of its own (a pattern; wildcards allowed): fn runs on the system
 * thread with the subject and payload, and appends the whole reply to out (false: no
 * reply; a message without a reply subject gets none anyway). At most SYS_CUSTOM_MAX
 * (sys.c), registered before sys_start. */
typedef bool (*sys_request_fn)(const char *subject, const char *reply, const char *payload,
                               size_t n, buf_t *out);
void sys_register_request(const char *pattern, sys_request_fn fn);
/* The server's inbox, as the reference's: one subscription $SYS._INBOX.<h>.* (h: a hash
 * of the server name) for every reply this server asks for. sys_inbox_subject: the
 * subject of a one-token reply. A reply whose token starts with prefix goes to fn on the
 * system thread, or to wfn on the worker that delivers it; both registered before
 * sys_start, as sys_register_request. */
void sys_inbox_subject(const char *token, char *out, size_t n);
void sys_register_inbox_request(const char *prefix, sys_request_fn fn);
void sys_register_inbox_handler(const char *prefix, internal_msg_fn wfn, void *arg);
/* Before sys_start: fn on the system thread every every_ns (the first after one period). */
void sys_register_timer(int64_t every_ns, void (*fn)(void));
/* Any thread, after sys_start: a message in the system account (queued for a worker;
 * messages queued one after another may be delivered by different workers, in any
 * order). */
void sys_publish(const char *subject, const char *reply, const void *data, size_t n);

/* Control plane: after accounts, imports and routes are set up (the subscriptions
 * are route interest); nothing when there is no system account. */
void sys_start(void);
/* Shutdown, while the workers still run: $SYS.SERVER.<id>.SHUTDOWN (the reference's
 * ServerInfo), delivered (waits at most a second for a worker to take it). */
void sys_shutdown_event(void);
/* Shutdown: the thread stops. */
void sys_stop(void);

/* Owner worker: c logged in to its account / closes after it did (c still readable,
 * no longer counted in its account). */
void sys_client_connected(worker_t *w, conn_t *c);
/* Owner worker: a leaf node connected to us and is bound to account a, with gateways on:
 * $SYS.ACCOUNT.<acc>.LEAFNODE.CONNECT ({"server":...,"acc":...}), as the reference's. */
void sys_leaf_connected(worker_t *w, account_t *a);
void sys_client_closed(worker_t *w, conn_t *c);

/* Owner worker: c's CONNECT failed to authenticate as user ($SYS.SERVER.<id>.CLIENT.AUTH.ERR). */
void sys_client_auth_error(worker_t *w, conn_t *c, const char *user);

/* "server":{...} of every event and reply, appended to b (compact JSON). */
void sys_server_info(buf_t *b);

#endif
