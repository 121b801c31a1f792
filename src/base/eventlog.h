/* eventlog.h: the Windows event log, where `-s/--syslog` writes on Windows
 * (log.c), as the reference: event source "NATS-Server" registered in the
 * registry on first use, each line "pid[<pid>][<LEVEL>]: <message>" with the
 * reference's event ids (1 notice and warning, 2 error, 3 debug, 4 trace, 5
 * fatal) and types (error for ERROR and FATAL, information otherwise).
 * Windows only; docs/windows.md. */
#ifndef GNATSD_EVENTLOG_H
#define GNATSD_EVENTLOG_H
#ifdef _WIN32

#include <stddef.h>

/* Registers (if needed) and opens the source: 0, or -1 with the reason in err. */
int eventlog_open(char *err, size_t errlen);
/* One message (no prefix, no trailing newline needed) at level lvl, log.h's
 * log_level_t order (0 fatal ... 5 trace; log.c asserts it). Thread-safe. */
void eventlog_write(int lvl, const char *msg, size_t n);
void eventlog_close(void);

#endif
#endif
