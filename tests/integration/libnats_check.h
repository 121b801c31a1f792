/* libnats_check.h: the failure bookkeeping shared by the libnats test drivers.
 *
 * A test function returns bool; fail() records the first reason of the running
 * test (the driver prints it and clears g_why between tests). CHECK and CHECK_S
 * jump to the test's `out:` label, where it releases what it holds. */
#ifndef LIBNATS_CHECK_H
#define LIBNATS_CHECK_H

#include <nats/nats.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static char g_why[512];

/* Record the first failure reason of the running test and return false. */
static bool fail(const char *fmt, ...)
{
    if (g_why[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g_why, sizeof g_why, fmt, ap);
        va_end(ap);
    }
    return false;
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fail(__VA_ARGS__);                                                                     \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)
#define CHECK_S(call)                                                                              \
    do {                                                                                           \
        natsStatus s_ = (call);                                                                    \
        if (s_ != NATS_OK) {                                                                       \
            fail("%s -> %s: %s (line %d)", #call, natsStatus_GetText(s_),                          \
                 nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "", __LINE__);                \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

#endif
