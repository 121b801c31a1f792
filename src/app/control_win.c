/* control_win.c: commands on Windows (control.h): the console's Ctrl-C,
 * Ctrl-Break, close, logoff and shutdown events, and whatever the service
 * handler posts (service_win.c), queued for main's thread.
 *
 * The reference shuts down and exits 0 on every console event (Go maps them
 * to os.Interrupt or SIGTERM, and its Windows handler exits 0 for both). For
 * the close/logoff/shutdown events Windows ends the process as soon as the
 * handler returns, so the handler waits, bounded, until main has exited. */
#ifdef _WIN32
#include "app/control.h"

#include <stdlib.h>
#include <windows.h>

#define QCAP 16 /* repeated commands are idempotent: a full queue drops the newest */

static CRITICAL_SECTION lock;
static CONDITION_VARIABLE nonempty;
static control_cmd_t q[QCAP];
static unsigned qhead, qlen;
static HANDLE exited; /* set by atexit: the console handler may return */

void control_post(control_cmd_t cmd)
{
    EnterCriticalSection(&lock);
    if (qlen < QCAP) q[(qhead + qlen++) % QCAP] = cmd;
    LeaveCriticalSection(&lock);
    WakeConditionVariable(&nonempty);
}

control_cmd_t control_next(void)
{
    EnterCriticalSection(&lock);
    while (qlen == 0)
        SleepConditionVariableCS(&nonempty, &lock, INFINITE);
    control_cmd_t c = q[qhead];
    qhead = (qhead + 1) % QCAP;
    qlen--;
    LeaveCriticalSection(&lock);
    return c;
}

static BOOL WINAPI console_handler(DWORD ev)
{
    control_post(CONTROL_STOP);
    if (ev == CTRL_C_EVENT || ev == CTRL_BREAK_EVENT) return TRUE;
    /* close, logoff, shutdown: the system allows about 5 s before it kills us */
    WaitForSingleObject(exited, 4500);
    return TRUE;
}

static void mark_exited(void)
{
    SetEvent(exited);
}

void control_init(void)
{
    InitializeCriticalSection(&lock);
    InitializeConditionVariable(&nonempty);
    exited = CreateEventW(NULL, TRUE, FALSE, NULL);
    atexit(mark_exited);
    SetConsoleCtrlHandler(console_handler, TRUE);
}

const char *control_trap_name(control_cmd_t cmd)
{
    return cmd == CONTROL_STOP ? "interrupt" : NULL;
}
#endif
