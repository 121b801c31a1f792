/* signal_cmd.c: `-sl <cmd>[=<target>]`, the part every OS shares: splitting
 * the argument as nats-server 2.9.10 does and reading the target from a file
 * when one by that name exists ("maybeReadPidFile": a pid on POSIX, a service
 * name on Windows). signal_cmd_posix.c and signal_cmd_win.c deliver. */
#include "app/signal_cmd.h"

#include "base/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int signal_cmd_run_io(const char *prog, const char *arg, FILE *err)
{
    char *a = strdup(arg ? arg : "");
    if (!a) abort();
    char *eq = strchr(a, '=');
    int rc = 1;
    if (eq && strchr(eq + 1, '=')) {
        /* Go prints the []string after the second element: [a b] */
        fprintf(err, "%s: invalid signal parameters: [", prog);
        for (char *p = strchr(eq + 1, '=') + 1;;) {
            char *n = strchr(p, '=');
            fprintf(err, "%.*s%s", (int)(n ? n - p : (long)strlen(p)), p, n ? " " : "");
            if (!n) break;
            p = n + 1;
        }
        fprintf(err, "]\n");
        goto out;
    }
    char *target = NULL, *filebuf = NULL;
    if (eq) {
        *eq = 0;
        target = eq + 1;
        /* a readable file holds the target; otherwise the text is the target */
        FILE *f = fopen(target, "r");
        if (f) {
            /* a pid or a service name: 64 KiB is far more than either */
            enum { TARGET_MAX = 64 << 10 };
            filebuf = xmalloc(TARGET_MAX + 1);
            size_t n = fread(filebuf, 1, TARGET_MAX, f);
            filebuf[n] = 0;
            fclose(f);
            target = filebuf;
        }
    }
    rc = signal_cmd_deliver(prog, a, target, err);
    free(filebuf);
out:
    fflush(err);
    free(a);
    return rc;
}

int signal_cmd_run(const char *prog, const char *arg)
{
    return signal_cmd_run_io(prog, arg, stderr);
}
