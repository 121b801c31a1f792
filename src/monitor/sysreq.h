/* sysreq.h: the monitoring endpoints as system account requests (sysreq.c). */
#ifndef GNATSD_SYSREQ_H
#define GNATSD_SYSREQ_H

/* Before sys_start: registers STATSZ, VARZ, CONNZ, SUBSZ, ROUTEZ, HEALTHZ with nats/sys.c. */
void sysreq_register(void);

#endif
