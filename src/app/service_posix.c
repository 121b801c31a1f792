/* service_posix.c: on POSIX systems the server's life is the process's: a
 * service manager (systemd, docs/install.md) needs no protocol of ours beyond
 * signals, so fn runs directly and readiness needs no report. */
#ifndef _WIN32
#include "app/service.h"

int service_run(int (*fn)(void *), void *arg)
{
    return fn(arg);
}

void service_ready(void)
{
    /* Type=simple units count the process as started when it runs */
}
#endif
