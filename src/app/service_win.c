/* service_win.c: the server as a Windows service (service.h).
 *
 * StartServiceCtrlDispatcher connects to the SCM only when the SCM started the
 * process; from a console it fails at once with
 * ERROR_FAILED_SERVICE_CONTROLLER_CONNECT and the server runs in the
 * foreground. As a service, the dispatcher keeps main's thread to deliver
 * controls (handler below) and runs the server on the thread it gives
 * ServiceMain. An own-process service is one service per process, so the
 * name `sc.exe create <name>` gave it is whatever the SCM passes in argv[0]:
 * several services of one binary, each with its own flags, as the README
 * describes. */
#ifdef _WIN32
#include "app/service.h"

#include "app/control.h"

#include <stdbool.h>
#include <windows.h>
#include <tlhelp32.h>

/* the reference's custom control codes (docs/windows.md) */
#define CONTROL_CODE_REOPEN 128
#define CONTROL_CODE_LDM 129

static int (*svc_fn)(void *);
static void *svc_arg;
static SERVICE_STATUS_HANDLE svc_handle; /* NULL: not a service */
static SERVICE_STATUS svc_status;
static CRITICAL_SECTION status_lock; /* the handler and ServiceMain both report */

static void report(DWORD state, DWORD exit_code)
{
    EnterCriticalSection(&status_lock);
    svc_status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    svc_status.dwCurrentState = state;
    svc_status.dwControlsAccepted =
        state == SERVICE_RUNNING
            ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN | SERVICE_ACCEPT_PARAMCHANGE
            : 0;
    svc_status.dwWin32ExitCode = exit_code ? ERROR_SERVICE_SPECIFIC_ERROR : NO_ERROR;
    svc_status.dwServiceSpecificExitCode = exit_code;
    /* pending states promise progress within the hint: the reference waits 10 s
     * for readiness; stopping includes lame duck, which may take longer */
    svc_status.dwWaitHint = state == SERVICE_START_PENDING  ? 10000
                            : state == SERVICE_STOP_PENDING ? 30000
                                                            : 0;
    svc_status.dwCheckPoint = state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING
                                  ? svc_status.dwCheckPoint + 1
                                  : 0;
    SetServiceStatus(svc_handle, &svc_status);
    LeaveCriticalSection(&status_lock);
}

static DWORD WINAPI handler(DWORD ctrl, DWORD type, LPVOID data, LPVOID ctx)
{
    (void)type, (void)data, (void)ctx;
    switch (ctrl) {
    case SERVICE_CONTROL_INTERROGATE:
        return NO_ERROR;
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
        report(SERVICE_STOP_PENDING, 0);
        control_post(CONTROL_STOP);
        return NO_ERROR;
    case SERVICE_CONTROL_PARAMCHANGE:
        control_post(CONTROL_RELOAD);
        return NO_ERROR;
    case CONTROL_CODE_REOPEN:
        control_post(CONTROL_REOPEN);
        return NO_ERROR;
    case CONTROL_CODE_LDM:
        control_post(CONTROL_LDM);
        return NO_ERROR;
    default:
        return ERROR_CALL_NOT_IMPLEMENTED;
    }
}

static void WINAPI service_main(DWORD argc, LPWSTR *argv)
{
    svc_handle = RegisterServiceCtrlHandlerExW(argc > 0 ? argv[0] : L"", handler, NULL);
    if (!svc_handle) return;
    report(SERVICE_START_PENDING, 0);
    int rc = svc_fn(svc_arg);
    report(SERVICE_STOPPED, (DWORD)rc);
}

/* Whether the SCM started this process: its parent is services.exe (what Go's
 * svc.IsWindowsService checks too). Only then is the dispatcher asked: wine's
 * StartServiceCtrlDispatcher waits 10 s for the SCM's pipe before it fails for a
 * process the SCM did not start (measured: every console start of the server under
 * wine 8.0 took 10 s, "service_run_main_thread failed to create control pipe error
 * 121"). A process whose parent is gone or unknown runs in the foreground. */
static bool started_by_scm(void)
{
    HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
    if (snap == INVALID_HANDLE_VALUE) return true; /* cannot tell: ask the dispatcher */
    DWORD me = GetCurrentProcessId(), parent = 0;
    PROCESSENTRY32W e = {.dwSize = sizeof e};
    for (BOOL ok = Process32FirstW(snap, &e); ok; ok = Process32NextW(snap, &e))
        if (e.th32ProcessID == me) {
            parent = e.th32ParentProcessID;
            break;
        }
    bool svc = false;
    e.dwSize = sizeof e;
    for (BOOL ok = parent && Process32FirstW(snap, &e); ok; ok = Process32NextW(snap, &e))
        if (e.th32ProcessID == parent) {
            svc = _wcsicmp(e.szExeFile, L"services.exe") == 0;
            break;
        }
    CloseHandle(snap);
    return svc;
}

int service_run(int (*fn)(void *), void *arg)
{
    if (!started_by_scm()) return fn(arg);
    svc_fn = fn;
    svc_arg = arg;
    InitializeCriticalSection(&status_lock);
    static WCHAR empty[] = L"";
    SERVICE_TABLE_ENTRYW table[] = {{empty, service_main}, {NULL, NULL}};
    if (StartServiceCtrlDispatcherW(table)) return (int)svc_status.dwServiceSpecificExitCode;
    if (GetLastError() != ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) return 1;
    return fn(arg); /* a console (or any other parent): the foreground */
}

void service_ready(void)
{
    if (svc_handle) report(SERVICE_RUNNING, 0);
}
#endif
