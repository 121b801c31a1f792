/* service.h: how the OS runs the server's life. On Windows, when the Service
 * Control Manager started the process, the server runs as a service: it reports
 * start-pending, running once ready, and stopped with its exit code, and the
 * SCM's stop/shutdown/paramchange and the reference's custom controls (128
 * reopen, 129 lame duck) become control.h commands. Otherwise (a console, or
 * any POSIX system) fn simply runs on the calling thread. docs/windows.md. */
#ifndef GNATSD_SERVICE_H
#define GNATSD_SERVICE_H

/* Runs fn(arg) and returns its exit code. */
int service_run(int (*fn)(void *), void *arg);
/* fn calls this once the server accepts connections ("Server is ready"). */
void service_ready(void);

#endif
