/* route_int.h: what the route*.c files share; not for other modules. */
#ifndef GNATSD_ROUTE_INT_H
#define GNATSD_ROUTE_INT_H

#include "nats/route.h"

/* RS+ (add) / RS- for the interest key "subject[ queue]" (route_interest.c). */
void route_remote_interest(conn_t *c, slice_t key, slice_t subject, slice_t queue, bool add,
                           int32_t weight);

#endif
