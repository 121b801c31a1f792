/* signal_cmd_win.c: `-sl` delivery on Windows (signal_cmd.h): the command
 * becomes a control sent to the service through the SCM, and the command
 * waits (10 s at most, polling every 300 ms, as the reference) until the
 * service reaches the state the control leads to. The service is opened before
 * the command name is validated, as the reference does; error texts are the
 * reference's, with the system's message for a Windows error. */
#ifdef _WIN32
#include "app/signal_cmd.h"

#include <stdbool.h>
#include <string.h>
#include <windows.h>

#define CONTROL_CODE_REOPEN 128 /* as service_win.c */
#define CONTROL_CODE_LDM 129

#include "base/common.h" /* gnatsd_prog: the default service name */

/* Go's text for a Windows error: the system message without its line end. */
static void print_winerr(FILE *err, DWORD e)
{
    char msg[512];
    DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, e,
                             MAKELANGID(LANG_ENGLISH, SUBLANG_ENGLISH_US), msg, sizeof msg, NULL);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        n--;
    if (n == 0) n = (DWORD)snprintf(msg, sizeof msg, "winapi error #%lu", (unsigned long)e);
    fprintf(err, "%.*s\n", (int)n, msg);
}

int signal_cmd_deliver(const char *prog, const char *cmd, const char *target, FILE *err)
{
    const char *name = target && *target ? target : gnatsd_prog;
    int rc = 1;
    SC_HANDLE svc = NULL, m = OpenSCManagerA(NULL, NULL, SC_MANAGER_CONNECT);
    if (!m) {
        fprintf(err, "%s: ", prog);
        print_winerr(err, GetLastError());
        return 1;
    }
    svc = OpenServiceA(m, name,
                       SERVICE_QUERY_STATUS | SERVICE_STOP | SERVICE_PAUSE_CONTINUE |
                           SERVICE_USER_DEFINED_CONTROL);
    if (!svc) {
        fprintf(err, "%s: could not access service: ", prog);
        print_winerr(err, GetLastError());
        goto out;
    }
    static const struct {
        const char *name;
        DWORD code, to;
    } map[] = {
        {"stop", SERVICE_CONTROL_STOP, SERVICE_STOPPED},
        {"quit", SERVICE_CONTROL_STOP, SERVICE_STOPPED},
        {"reopen", CONTROL_CODE_REOPEN, SERVICE_RUNNING},
        {"reload", SERVICE_CONTROL_PARAMCHANGE, SERVICE_RUNNING},
        {"ldm", CONTROL_CODE_LDM, SERVICE_RUNNING},
    };
    size_t i = 0;
    while (i < sizeof map / sizeof map[0] && strcmp(map[i].name, cmd) != 0)
        i++;
    if (i == sizeof map / sizeof map[0]) {
        fprintf(err, "%s: unknown signal \"%s\"\n", prog, cmd);
        goto out;
    }
    SERVICE_STATUS st;
    if (!ControlService(svc, map[i].code, &st)) {
        fprintf(err, "%s: could not send control=%lu: ", prog, (unsigned long)map[i].code);
        print_winerr(err, GetLastError());
        goto out;
    }
    ULONGLONG deadline = GetTickCount64() + 10000;
    while (st.dwCurrentState != map[i].to) {
        if (GetTickCount64() > deadline) {
            fprintf(err, "%s: timeout waiting for service to go to state=%lu\n", prog,
                    (unsigned long)map[i].to);
            goto out;
        }
        Sleep(300);
        if (!QueryServiceStatus(svc, &st)) {
            fprintf(err, "%s: could not retrieve service status: ", prog);
            print_winerr(err, GetLastError());
            goto out;
        }
    }
    rc = 0;
out:
    if (svc) CloseServiceHandle(svc);
    CloseServiceHandle(m);
    return rc;
}
#endif
