/* mappings.h: an account's subject mappings (docs/accounts.md "Subject
 * mappings"): a client's publish whose subject falls under a mapping's source
 * is delivered on a destination instead, picked by weight (a total under 100 %
 * keeps the subject for the rest), with the destination's functions applied
 * (base/subject_map.h). Applied where the message enters (a client's PUB), not
 * again on the routes. The sets are immutable, swapped at reload and retired
 * through qsbr; an account without mappings pays one pointer test per PUB. */
#ifndef GNATSD_MAPPINGS_H
#define GNATSD_MAPPINGS_H

#include "nats/account.h"

/* Control plane: the accounts' sets from o (the top level's are the global account's). */
void mappings_apply(const opts_t *o);
void mappings_free_all(void);

/* Deliverer: subj published in a, mapped into out (true, *res set) or not (false). */
bool mappings_map(account_t *a, worker_t *w, slice_t subj, char *out, size_t cap, slice_t *res);

#endif
