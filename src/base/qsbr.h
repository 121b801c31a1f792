/* qsbr.h: quiescent-state-based reclamation for objects read without locks.
 *
 * Why: a publisher's worker walks subscriber lists and touches subscriptions
 * and connections owned by other workers. Those objects are never freed while
 * some worker may still hold a pointer to them: they are retired, and freed
 * only after every registered thread has passed a quiescent point (the end of
 * a loop iteration, or being offline in epoll_wait) since the retirement.
 *
 * Contract: a thread that reads shared objects calls qsbr_register() once,
 * qsbr_quiescent() between batches (it must hold no borrowed pointer then),
 * and qsbr_offline()/qsbr_online() around blocking waits. qsbr_retire() may be
 * called by any thread, registered or not; the free function runs later on
 * some registered thread (in qsbr_quiescent or qsbr_poll), or in
 * qsbr_drain_all() at shutdown. */
#ifndef GNATSD_QSBR_H
#define GNATSD_QSBR_H

/* Registered threads at most: the workers (MAX_WORKERS in server.h) plus the monitor, with
 * room to spare (server.c checks that at compile time). A slot is 64 bytes and only
 * claimed slots are scanned, so a generous bound costs nothing. */
#define QSBR_MAX_THREADS 256

int qsbr_register(void); /* returns this thread's slot; idempotent per thread */
void qsbr_unregister(void);
void qsbr_quiescent(void); /* announce a quiescent state, and free what is safe */
void qsbr_offline(void);   /* before blocking (epoll_wait) */
void qsbr_online(void);    /* after blocking */
void qsbr_retire(void *p, void (*free_fn)(void *));
void qsbr_poll(void);      /* free what is safe without announcing */
void qsbr_drain_all(void); /* shutdown: no reader may be left; frees everything retired */

#endif
