/* log.h: the one process-wide logger.
 *
 * Line format as the reference: "[pid] YYYY/MM/DD hh:mm:ss.uuuuuu [LVL] msg\n"
 * (timestamp omitted when logtime is off). Thread-safe: every line is one
 * write under a mutex. Sinks: stderr (default), file (append, 0660, optional
 * size-limit rotation), local syslog, remote syslog (udp/tcp/unix). Reopen
 * (SIGUSR1) and reconfigure (reload) may run while workers log. */
#ifndef GNATSD_LOG_H
#define GNATSD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

typedef enum log_level { LOG_FTL, LOG_ERR, LOG_WRN, LOG_INF, LOG_DBG, LOG_TRC } log_level_t;

typedef struct log_config {
    bool debug, trace, logtime;
    const char *file;          /* NULL/"" = not a file */
    int64_t size_limit;        /* bytes, 0 = no rotation */
    bool syslog;               /* local syslog */
    const char *remote_syslog; /* URL or NULL */
    const char *tag;           /* program basename for syslog */
} log_config_t;

/* Applies a configuration. Returns 0, or -1 with a message in err (the
 * caller prints it the reference's way and exits 1 at startup). */
int log_configure(const log_config_t *cfg, char *err, size_t errlen);
/* SIGUSR1: reopen the log file by name (recreating a renamed file) and log
 * INF "File log re-opened" (returns 0); when not logging to a file, logs
 * "File log re-open ignored, not a file logger" (returns 1). On failure the
 * old descriptor is kept, an ERR line is logged and -1 returned. */
int log_reopen(void);
void log_close(void);

/* Cheap checks so callers skip formatting trace lines. */
extern _Atomic bool log_debug_on, log_trace_on; /* flipped by reload while workers read */

void log_msg(log_level_t lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(log_level_t lvl, const char *fmt, va_list ap);
/* FTL: logs then exit(1). */
/* Traces a message payload as the reference does: "<<- MSG_PAYLOAD: [%q]", or with
 * max > 0 and a longer payload the first max characters of that quoted form and
 * "...". Quoted, so payload bytes cannot forge log lines. */
void log_trace_payload(const char *prefix, const char *p, size_t n, int64_t max);
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#define NOTICE(...) log_msg(LOG_INF, __VA_ARGS__)
#define WARN(...) log_msg(LOG_WRN, __VA_ARGS__)
#define ERROR(...) log_msg(LOG_ERR, __VA_ARGS__)
#define DEBUG(...)                                                                                 \
    do {                                                                                           \
        if (log_debug_on) log_msg(LOG_DBG, __VA_ARGS__);                                           \
    } while (0)
#define TRACE(...)                                                                                 \
    do {                                                                                           \
        if (log_trace_on) log_msg(LOG_TRC, __VA_ARGS__);                                           \
    } while (0)

#endif
