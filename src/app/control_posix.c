/* control_posix.c: commands from POSIX signals (control.h). Every signal the
 * server answers is blocked in all threads and taken here with sigwaitinfo, so
 * no handler ever interrupts a worker. */
#ifndef _WIN32
#include "app/control.h"

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <unistd.h>

static const struct {
    int sig;
    control_cmd_t cmd;
    const char *trap; /* Go's name of the signal, for "Trapped %q signal" */
} map[] = {
    {SIGINT, CONTROL_STOP, "interrupt"}, {SIGTERM, CONTROL_TERM, "terminated"},
    {SIGQUIT, CONTROL_QUIT, NULL},       {SIGHUP, CONTROL_RELOAD, NULL},
    {SIGUSR1, CONTROL_REOPEN, NULL},     {SIGUSR2, CONTROL_LDM, NULL},
};
#define NMAP (sizeof map / sizeof map[0])

static sigset_t set;

void control_init(void)
{
    sigemptyset(&set);
    for (size_t i = 0; i < NMAP; i++)
        sigaddset(&set, map[i].sig);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

control_cmd_t control_next(void)
{
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&set, &si);
        for (size_t i = 0; i < NMAP; i++)
            if (map[i].sig == sig) return map[i].cmd;
    }
}

void control_post(control_cmd_t cmd)
{
    for (size_t i = 0; i < NMAP; i++)
        if (map[i].cmd == cmd) kill(getpid(), map[i].sig);
}

const char *control_trap_name(control_cmd_t cmd)
{
    for (size_t i = 0; i < NMAP; i++)
        if (map[i].cmd == cmd) return map[i].trap;
    return NULL;
}
#endif
