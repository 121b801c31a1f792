/* sys_subs.h: the system account's subscriber count service ($SYS.DEBUG.SUBSCRIBERS
 * and the $SYS.REQ.ACCOUNT.NSUBS requests it sends the other servers), see
 * sys_subs.c. */
#ifndef GNATSD_SYS_SUBS_H
#define GNATSD_SYS_SUBS_H

/* Control plane, before sys_start (nothing without a system account); stop at
 * shutdown while the workers run; free after. */
void sys_subs_start(void);
void sys_subs_stop(void);
void sys_subs_free(void);

#endif
