/* eventlog_win.c: the Windows event log sink (eventlog.h). */
#ifdef _WIN32
#include "base/eventlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <windows.h>

#define SOURCE "NATS-Server"
#define SOURCE_KEY "SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\" SOURCE

static HANDLE src;

/* The registry entry that makes the source known to event viewers, as Go's
 * eventlog.InstallAsEventCreate writes it (EventCreate.exe's message file,
 * whose message %1 is the text itself). An existing entry is kept. */
static int install_source(char *err, size_t errlen)
{
    HKEY k;
    DWORD disp;
    LONG e = RegCreateKeyExA(HKEY_LOCAL_MACHINE, SOURCE_KEY, 0, NULL, REG_OPTION_NON_VOLATILE,
                             KEY_SET_VALUE, NULL, &k, &disp);
    if (e != ERROR_SUCCESS) {
        snprintf(err, errlen, "could not access event log: registry error %ld", (long)e);
        return -1;
    }
    if (disp == REG_CREATED_NEW_KEY) {
        static const char msgfile[] = "%SystemRoot%\\System32\\EventCreate.exe";
        DWORD types = EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE;
        RegSetValueExA(k, "EventMessageFile", 0, REG_EXPAND_SZ, (const BYTE *)msgfile,
                       sizeof msgfile);
        RegSetValueExA(k, "TypesSupported", 0, REG_DWORD, (const BYTE *)&types, sizeof types);
        DWORD custom = 1;
        RegSetValueExA(k, "CustomSource", 0, REG_DWORD, (const BYTE *)&custom, sizeof custom);
    }
    RegCloseKey(k);
    return 0;
}

int eventlog_open(char *err, size_t errlen)
{
    if (src) return 0;
    if (install_source(err, errlen) != 0) return -1;
    src = RegisterEventSourceA(NULL, SOURCE);
    if (!src) {
        snprintf(err, errlen, "could not open event log: error %lu", (unsigned long)GetLastError());
        return -1;
    }
    return 0;
}

void eventlog_write(int lvl, const char *msg, size_t n)
{
    static const char *const tags[] = {"FATAL", "ERROR", "WARN", "NOTICE", "DEBUG", "TRACE"};
    static const WORD ids[] = {5, 2, 1, 1, 3, 4};
    if (!src || lvl < 0 || lvl > 5) return;
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        n--;
    size_t cap = n + 64;
    char *text = malloc(cap);
    if (!text) return;
    snprintf(text, cap, "pid[%lu][%s]: %.*s", (unsigned long)GetCurrentProcessId(), tags[lvl],
             (int)n, msg);
    const char *strs[1] = {text};
    WORD type = lvl <= 1 /* fatal, error */ ? EVENTLOG_ERROR_TYPE : EVENTLOG_INFORMATION_TYPE;
    ReportEventA(src, type, 0, ids[lvl], NULL, 1, 0, strs, NULL);
    free(text);
}

void eventlog_close(void)
{
    if (src) DeregisterEventSource(src);
    src = NULL;
}
#endif
