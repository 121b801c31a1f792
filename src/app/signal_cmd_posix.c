/* signal_cmd_posix.c: `-sl` delivery on POSIX systems (signal_cmd.h): the
 * target is a pid (explicit, from a pid file, or the single running
 * gnatsd/nats-server found in /proc), resolved before the command name is
 * validated, as the reference does; the command becomes its signal. */
#ifndef _WIN32
#include "app/signal_cmd.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

int signal_cmd_signo(const char *cmd)
{
    static const struct {
        const char *name;
        int sig;
    } map[] = {
        {"stop", SIGKILL},   {"quit", SIGINT},   {"term", SIGTERM},
        {"reopen", SIGUSR1}, {"reload", SIGHUP}, {"ldm", SIGUSR2},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(cmd, map[i].name) == 0) return map[i].sig;
    return -1;
}

/* The reference prints Go's errno texts, which are strerror() lower-cased. */
static void print_errno(FILE *err, const char *prog, int e)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", strerror(e));
    buf[0] = (char)tolower((unsigned char)buf[0]);
    fprintf(err, "%s: %s\n", prog, buf);
}

static bool is_server_name(const char *s)
{
    return strcmp(s, "gnatsd") == 0 || strcmp(s, "nats-server") == 0;
}

/* A process counts when its comm or its exe basename is one of our names
 * (the reference greps process names with pgrep). */
static bool pid_is_server(const char *pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%s/comm", pid);
    FILE *f = fopen(path, "r");
    if (f) {
        bool ok = fgets(buf, sizeof(buf), f) != NULL;
        fclose(f);
        if (ok) {
            buf[strcspn(buf, "\n")] = 0;
            if (is_server_name(buf)) return true;
        }
    }
    snprintf(path, sizeof(path), "/proc/%s/exe", pid);
    ssize_t n = readlink(path, buf, sizeof(buf) - 1);
    if (n > 0) {
        buf[n] = 0;
        char *del = strstr(buf, " (deleted)");
        if (del && del[10] == 0) *del = 0;
        const char *b = strrchr(buf, '/');
        if (is_server_name(b ? b + 1 : buf)) return true;
    }
    return false;
}

/* Returns number of pids found (up to cap stored), or -1 if /proc is unusable. */
static int find_servers(pid_t *pids, int cap)
{
    DIR *d = opendir("/proc");
    if (!d) return -1;
    pid_t self = getpid();
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *s = de->d_name;
        if (!*s || strspn(s, "0123456789") != strlen(s)) continue;
        pid_t p = (pid_t)atol(s);
        if (p == self || !pid_is_server(s)) continue;
        if (n < cap) pids[n] = p;
        n++;
    }
    closedir(d);
    /* sorted, like pgrep's output */
    int m = n < cap ? n : cap;
    for (int i = 1; i < m; i++)
        for (int j = i; j > 0 && pids[j - 1] > pids[j]; j--) {
            pid_t t = pids[j];
            pids[j] = pids[j - 1];
            pids[j - 1] = t;
        }
    return n;
}

/* Go strconv.Atoi; we also accept surrounding whitespace (a pid file written
 * by other tools may end in a newline). */
static bool parse_pid(const char *s, long *out)
{
    while (isspace((unsigned char)*s))
        s++;
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    if (!isdigit((unsigned char)*p)) return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    if (*end || errno) return false;
    *out = v;
    return true;
}

int signal_cmd_deliver(const char *prog, const char *cmd, const char *target, FILE *err)
{
    long pid;
    if (target) {
        /* 0 and negative pids would signal whole process groups */
        if (!parse_pid(target, &pid) || pid <= 0) {
            fprintf(err, "%s: invalid pid: %s\n", prog, target);
            return 1;
        }
    } else {
        pid_t pids[64];
        int n = find_servers(pids, 64);
        if (n < 0) {
            fprintf(err, "%s: unable to resolve pid, try providing one\n", prog);
            return 1;
        }
        if (n == 0) {
            fprintf(err, "%s: no nats-server processes running\n", prog);
            return 1;
        }
        if (n > 1) {
            fprintf(err, "%s: multiple nats-server processes running:\n", prog);
            for (int i = 0; i < n && i < 64; i++)
                fprintf(err, "%d\n", (int)pids[i]);
            return 1;
        }
        pid = pids[0];
    }
    int sig = signal_cmd_signo(cmd);
    if (sig < 0) {
        fprintf(err, "%s: unknown signal \"%s\"\n", prog, cmd);
        return 1;
    }
    if (kill((pid_t)pid, sig) != 0) {
        print_errno(err, prog, errno);
        return 1;
    }
    return 0;
}
#endif
