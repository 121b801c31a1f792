/* fuzz_opts.c: libFuzzer harness for a configuration file as the server reads it:
 * the configuration language (conf.c) and then every key's meaning (opts.c: sizes,
 * durations, users and permissions, tls and cluster blocks, URLs), then the
 * start-up checks (opts_validate).
 *
 * Any input must be accepted or refused cleanly: no crash, no leak, no hang. The
 * input is written to a private temporary directory holding nothing else and ".."
 * is defused, so a fuzzed `include` (or cert_file) can only reach that one file. */
#include "conf/opts.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64], path[128];
static FILE *sink;

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof(dir), "/tmp/gnatsd-fuzz-opts.XXXXXX");
    if (!mkdtemp(dir)) abort();
    snprintf(path, sizeof(path), "%s/fuzz.conf", dir);
    atexit(cleanup);
    sink = fopen("/dev/null", "w");
    if (!sink) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    for (size_t i = 0; i < size; i++) {
        char c = (char)data[i];
        if (c == '.' && i > 0 && data[i - 1] == '.') c = '_';
        fputc(c, f);
    }
    fclose(f);
    char *argv[] = {"gnatsd", "-c", path, NULL};
    opts_t o;
    opts_cli_t cli;
    opts_action_t a = opts_from_args_io(3, argv, &o, &cli, sink, sink);
    if (a == OPTS_RUN) {
        char err[1024];
        if (opts_validate(&o, err, sizeof(err)) != 0 && !memchr(err, 0, sizeof(err))) abort();
    }
    opts_free(&o);
    free(cli.signal_cmd);
    return 0;
}
