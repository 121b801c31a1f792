/* start.h: start-up and shutdown order of the modules (core workers, the client
 * port, routes, the monitor), for main and the in-process fuzz harnesses. */
#ifndef GNATSD_START_H
#define GNATSD_START_H

/* After server_init: binds the client and cluster ports, starts the monitor and the
 * workers, logging as the reference does. 0, or -1 after a fatal log line. */
int app_start(void);
/* Stops accepting, stops the monitor, closes every connection and joins the workers,
 * then the route dialers. */
void app_shutdown(void);
/* After app_shutdown: releases all memory, the options included. */
void app_free(void);

#endif
