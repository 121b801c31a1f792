/* test_conf_load.h: unit tests that need running options load them from a config text
 * here: the text is written to dir/name, read as `nats-server -c` reads it (messages
 * to /dev/null), and the result made the server's options (srv). */
#ifndef GNATSD_TEST_CONF_LOAD_H
#define GNATSD_TEST_CONF_LOAD_H

#include "conf/opts.h"
#include "core/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 0, or -1 if the text does not load; o is emptied first (opts_free it before the next). */
static inline int test_conf_load(const char *dir, const char *name, const char *text, opts_t *o,
                                 server_t *server)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    fclose(f);
    memset(o, 0, sizeof *o);
    opts_cli_t cli = {0};
    char *argv[] = {"nats-server", "-c", path, NULL};
    FILE *devnull = fopen("/dev/null", "w");
    opts_action_t a = opts_from_args_io(3, argv, o, &cli, devnull, devnull);
    fclose(devnull);
    free(cli.signal_cmd);
    server->opts = o;
    srv = server;
    return a == OPTS_RUN ? 0 : -1;
}

#endif
