/* acct_lookup.h: the directory resolvers' (full and cache) lookups of accounts they do
 * not store (docs/operator.md "Asking the other servers"). As the reference's DirAccResolver, a
 * server asks the cluster with $SYS.REQ.ACCOUNT.<acc>.CLAIMS.LOOKUP (reply: an inbox of its own in
 * the system account) and takes the first answer that stores as a valid JWT of that account, or
 * gives up after the resolver's timeout (default 1.9 s).
 *
 * Nothing waits on a thread: a lookup is a table entry with a deadline; the answer
 * comes on the system thread, the deadline is watched by one small thread of this
 * module, and whoever waits is told through its callback (a login hands it back to its
 * worker). Lookups of one account share one entry (one request); at most
 * LOOKUP_INFLIGHT_MAX accounts are looked up at once, beyond that a lookup is refused
 * at once (logged). */
#ifndef GNATSD_ACCT_LOOKUP_H
#define GNATSD_ACCT_LOOKUP_H

#include "nats/account.h"

#define LOOKUP_INFLIGHT_MAX 256
#define LOOKUP_TIMEOUT_DEFAULT_NS 1900000000LL /* the reference's DEFAULT_ACCOUNT_FETCH_TIMEOUT */

/* The answer's JWT for pub: stored (true) or refused (false: another answer may come).
 * Called on the system thread. */
typedef bool (*lookup_store_fn)(const char *pub, const char *jwt, size_t n);

/* Control plane, from resolver_start, before sys_start: lookups time out after
 * timeout_ns (0: the default); answers are kept by store. Registers the reply inbox
 * and account_set_remote. */
void acct_lookup_init(int64_t timeout_ns, lookup_store_fn store);
/* A reply subject of our own lookups (our own responder stays silent on those, as the
 * reference's does not see its own requests). */
bool acct_lookup_own_inbox(const char *reply);
/* Shutdown (after the workers and the system thread stopped): waiters are dropped
 * unanswered, the thread joined. */
void acct_lookup_free_all(void);

#endif
