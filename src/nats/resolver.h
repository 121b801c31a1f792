/* resolver.h: operator mode (docs/operator.md). The accounts are not in the config
 * file: each is an account JWT signed by a trusted operator (or one of its signing
 * keys), kept by the account resolver (resolver: MEMORY, filled by resolver_preload)
 * and loaded when first needed: a user of it logs in, a route names it, another
 * loaded account imports from it. A loaded account is an account_t like a configured
 * one; its JWT's claims become the same options (limits, exports, imports, default
 * permissions, mappings) and are applied by the same code, through the "claims
 * view": a copy of the running options whose accounts are the loaded JWT accounts.
 *
 * Threads: loading runs on whichever thread needs the account (a worker at CONNECT or
 * on a route message, the control plane at start and reload), under one mutex; the
 * view and the claims it points to are replaced whole and retired through qsbr. */
#ifndef GNATSD_RESOLVER_H
#define GNATSD_RESOLVER_H

#include "conf/claims.h"
#include "nats/account.h"

/* Control plane, before accounts_init: reads the operators, the trusted keys and the
 * preloaded JWTs; logs the "Trusted Operators" block. 0, or -1 with err = the
 * reference's text. *sys_name: the system account's name (owned by the resolver),
 * or NULL. Nothing happens (0) when o is not in operator mode. */
int resolver_start(const opts_t *o, const char **sys_name, char *err, size_t errlen);
/* Control plane, after accounts_init: loads the system account's claims. */
void resolver_load_system(void);
void resolver_free_all(void);
bool resolver_active(void);

/* The options the accounts follow: the claims view in operator mode, else o itself. */
const opts_t *accounts_opts(const opts_t *o);
/* Control plane (start, reload): applies o's accounts, imports and mappings (in
 * operator mode: o's preloaded JWTs; the accounts whose JWT went away are gone, the
 * ones whose JWT changed take the new claims). */
void accounts_configure(const opts_t *o);

/* account_fetch (nats/account.h) loads through the resolver: registered by
 * resolver_start as the accounts' loader, so the modules that log users in and read
 * routes need not know this one. */

/* /varz: the operators' JWTs and claims (n = 0 outside operator mode). */
size_t resolver_operators(const op_claims_t **v);

#endif
