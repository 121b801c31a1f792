/* log.c: the process-wide logger (docs/config.md §9.6).
 *
 * Design: the caller's message is formatted outside the lock into a buffer
 * that keeps PREFIX_ROOM bytes free in front of it; under the mutex the line
 * prefix (pid/time/label, or the syslog header) is written right-aligned into
 * that room and the whole line goes out with one write(2)/send(2). So lines
 * never interleave, formatting big trace lines does not serialise workers,
 * and the common case allocates nothing (stack buffer; heap only for long
 * lines). */
#include "base/log.h"

#include "base/eventlog.h"
#include "base/gofmt.h"
#include "base/common.h"
#include "base/os.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* SINK_EVENTLOG: `-s` on Windows writes to the event log instead of syslog
 * (eventlog.h); the only Windows-specific branch of this file. */
enum sink { SINK_STDERR, SINK_FILE, SINK_SYSLOG, SINK_REMOTE, SINK_EVENTLOG };

/* Room for the longest prefix: "<PRI>" + RFC3339 + hostname (<=255) + tag (capped
 * at TAG_MAX) + "[pid]: ", or "[pid] date time [ESC..LVL..ESC] ". */
#define PREFIX_ROOM 512
#define TAG_MAX 128
#define STACK_LINE 8192

_Atomic bool log_debug_on, log_trace_on;

static pthread_mutex_t lk = PTHREAD_MUTEX_INITIALIZER;

/* All fields below are protected by lk. Defaults = the pre-configure logger:
 * stderr with timestamps (colour decided lazily from isatty). */
static struct {
    enum sink sink;
    bool logtime;
    int colors; /* -1 = not decided yet */
    int fd;     /* file or socket; stderr sink uses 2 */
    int sock_type;
    char *file;
    int64_t size_limit, written;
    char tag[TAG_MAX];
    char host[256];
    /* remote syslog endpoint kept for reconnects */
    int fam;
    struct sockaddr_storage addr;
    socklen_t addrlen;
} L = {.sink = SINK_STDERR, .logtime = true, .colors = -1, .fd = 2};

static const char *const labels[] = {"FTL", "ERR", "WRN", "INF", "DBG", "TRC"};
static const char *const colcodes[] = {"31", "31", "0;93", "32", "36", "33"};
/* syslog severities: FTL crit, ERR err, WRN warning, INF notice, DBG debug,
 * TRC notice (the reference traces at notice). */
static const int sev[] = {2, 3, 4, 5, 7, 5};

static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Go error strings are lower-case ("no such file or directory"); callers
 * print these texts as the reference does. */
static void go_strerror(int e, char *buf, size_t n)
{
    snprintf(buf, n, "%s", strerror(e));
    if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z'))
        buf[0] = (char)(buf[0] - 'A' + 'a');
}

static int write_all(int fd, const char *p, size_t n, bool sock)
{
    while (n > 0) {
        ssize_t w = sock ? os_send(fd, p, n) : write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int open_logfile(const char *path, int64_t *size, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0660);
    if (fd < 0) {
        char e[128];
        go_strerror(errno, e, sizeof e);
        if (err) snprintf(err, errlen, "error opening file: open %s: %s", path, e);
        return -1;
    }
    struct stat st;
    *size = fstat(fd, &st) == 0 ? (int64_t)st.st_size : 0;
    return fd;
}

/* Local syslog: like Go's log/syslog, datagram then stream on each of the
 * usual socket paths. */
static int open_local_syslog(int *type)
{
    static const char *const paths[] = {"/dev/log", "/var/run/syslog", "/var/run/log"};
    static const int types[] = {SOCK_DGRAM, SOCK_STREAM};
    for (size_t t = 0; t < ARRAY_LEN(types); t++) {
        for (size_t i = 0; i < ARRAY_LEN(paths); i++) {
            int fd = os_socket(AF_UNIX, types[t]);
            if (fd < 0) continue;
            struct sockaddr_un sa = {.sun_family = AF_UNIX};
            snprintf(sa.sun_path, sizeof sa.sun_path, "%s", paths[i]);
            if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
                *type = types[t];
                return fd;
            }
            os_sock_close(fd);
        }
    }
    return -1;
}

typedef struct remote {
    int fam, type;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char net[8];
    char desc[300]; /* "127.0.0.1:514" / path, for error texts */
} remote_t;

/* Parses udp://host:port, tcp://host:port, unix:///path. Error texts follow
 * the reference ("error invalid network type: \"x\""). */
static int parse_remote(const char *url, remote_t *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    const char *sep = strstr(url, "://");
    size_t slen = sep ? (size_t)(sep - url) : 0;
    const char *rest = sep ? sep + 3 : url;
    if (slen == 3 && strncmp(url, "udp", 3) == 0)
        r->type = SOCK_DGRAM;
    else if (slen == 3 && strncmp(url, "tcp", 3) == 0)
        r->type = SOCK_STREAM;
    else if (slen == 4 && strncmp(url, "unix", 4) == 0)
        r->type = SOCK_STREAM; /* Go dials "unix" = stream */
    else {
        snprintf(err, errlen, "error invalid network type: \"%.*s\"", (int)slen, url);
        return -1;
    }
    snprintf(r->net, sizeof r->net, "%.*s", (int)slen, url);
    if (slen == 4) {
        struct sockaddr_un *sa = (struct sockaddr_un *)&r->addr;
        const char *path = strchr(rest, '/'); /* unix:///p → /p; unix://h/p → /p */
        if (!path || strlen(path) >= sizeof sa->sun_path) {
            snprintf(err, errlen, "error connecting to syslog: \"dial unix %s: invalid path\"",
                     path ? path : "");
            return -1;
        }
        sa->sun_family = AF_UNIX;
        strcpy(sa->sun_path, path);
        r->fam = AF_UNIX;
        r->addrlen = sizeof *sa;
        snprintf(r->desc, sizeof r->desc, "%s", path);
        return 0;
    }
    /* host:port, host may be [v6]; drop any path/query part. */
    char hp[300];
    size_t hl = strcspn(rest, "/?#");
    if (hl >= sizeof hp) hl = sizeof hp - 1;
    memcpy(hp, rest, hl);
    hp[hl] = 0;
    snprintf(r->desc, sizeof r->desc, "%s", hp);
    char *host = hp, *port = NULL;
    if (hp[0] == '[') {
        char *e = strchr(hp, ']');
        if (e) {
            *e = 0;
            host = hp + 1;
            if (e[1] == ':') port = e + 2;
        }
    } else {
        char *c = strrchr(hp, ':');
        if (c) {
            *c = 0;
            port = c + 1;
        }
    }
    if (!port || !*port) {
        snprintf(err, errlen, "error connecting to syslog: \"dial %s %s: missing port in address\"",
                 r->net, r->desc);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = r->type}, *ai = NULL;
    int rc = getaddrinfo(*host ? host : NULL, port, &hints, &ai);
    if (rc != 0 || !ai) {
        snprintf(err, errlen, "error connecting to syslog: \"dial %s %s: lookup %s: %s\"", r->net,
                 r->desc, host, gai_strerror(rc));
        return -1;
    }
    memcpy(&r->addr, ai->ai_addr, ai->ai_addrlen);
    r->addrlen = ai->ai_addrlen;
    r->fam = ai->ai_family;
    freeaddrinfo(ai);
    return 0;
}

static int dial(int fam, int type, const struct sockaddr_storage *a, socklen_t alen)
{
    int fd = os_socket(fam, type);
    if (fd < 0) return -1;
    while (os_connect(fd, (const struct sockaddr *)a, alen) != 0) {
        if (errno == EINTR) continue;
        int e = errno;
        os_sock_close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Reconnects a syslog socket after a send failure (daemon restarted, TCP
 * peer went away), as Go's syslog.Writer does. Called with lk held. */
static void reconnect_locked(void)
{
    if (L.fd >= 0) os_sock_close(L.fd);
    if (L.sink == SINK_SYSLOG)
        L.fd = open_local_syslog(&L.sock_type);
    else
        L.fd = dial(L.fam, L.sock_type, &L.addr, L.addrlen);
}

static void close_sink_locked(void)
{
    if (L.sink == SINK_FILE && L.fd >= 0) close(L.fd);
    if ((L.sink == SINK_SYSLOG || L.sink == SINK_REMOTE) && L.fd >= 0) os_sock_close(L.fd);
    free(L.file);
    L.file = NULL;
    L.sink = SINK_STDERR;
    L.fd = 2;
    L.written = 0;
    L.size_limit = 0;
}

static void set_tag(const char *tag)
{
    if (!tag || !*tag) tag = os_prog_name();
    const char *b = strrchr(tag, '/');
    snprintf(L.tag, sizeof L.tag, "%s", b ? b + 1 : tag);
}

int log_configure(const log_config_t *cfg, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = 0;
    enum sink sink = SINK_STDERR;
    int fd = 2, stype = 0;
    int64_t size = 0;
    remote_t r;

    /* Open the new sink first so a failure leaves the old one in place. */
    if (cfg->file && cfg->file[0]) {
        sink = SINK_FILE;
        fd = open_logfile(cfg->file, &size, err, errlen);
        if (fd < 0) return -1;
    } else if (cfg->remote_syslog && cfg->remote_syslog[0]) {
        sink = SINK_REMOTE;
        if (parse_remote(cfg->remote_syslog, &r, err, errlen) != 0) return -1;
        fd = dial(r.fam, r.type, &r.addr, r.addrlen);
        if (fd < 0) {
            char e[128];
            go_strerror(errno, e, sizeof e);
            snprintf(err, errlen, "error connecting to syslog: \"dial %s %s: connect: %s\"", r.net,
                     r.desc, e);
            return -1;
        }
        stype = r.type;
    } else if (cfg->syslog) {
#ifdef _WIN32
        sink = SINK_EVENTLOG;
        fd = -1;
        if (eventlog_open(err, errlen) != 0) return -1;
#else
        sink = SINK_SYSLOG;
        fd = open_local_syslog(&stype);
        if (fd < 0) {
            snprintf(err, errlen, "error connecting to syslog: \"Unix syslog delivery error\"");
            return -1;
        }
#endif
    }

    pthread_mutex_lock(&lk);
    close_sink_locked();
    L.sink = sink;
    L.fd = fd;
    L.sock_type = stype;
    L.logtime = cfg->logtime;
    L.colors = sink == SINK_STDERR ? isatty(2) : 0;
    if (sink == SINK_FILE) {
        L.file = xstrdup(cfg->file);
        L.written = size;
        L.size_limit = cfg->size_limit > 0 ? cfg->size_limit : 0;
    } else if (sink == SINK_REMOTE) {
        L.fam = r.fam;
        memcpy(&L.addr, &r.addr, sizeof r.addr);
        L.addrlen = r.addrlen;
    }
    set_tag(cfg->tag);
    if (gethostname(L.host, sizeof L.host) != 0 || !L.host[0])
        snprintf(L.host, sizeof L.host, "localhost");
    L.host[sizeof L.host - 1] = 0;
    log_debug_on = cfg->debug;
    log_trace_on = cfg->trace;
    pthread_mutex_unlock(&lk);
    return 0;
}

/* Builds the line prefix for the current sink into p (at least PREFIX_ROOM
 * bytes). Called with lk held so sink/logtime are consistent with the write. */
static size_t make_prefix(char *p, log_level_t lvl, const struct timespec *ts)
{
    struct tm tm;
    localtime_r(&ts->tv_sec, &tm);
    int n;
    int pid = (int)getpid();
    if (L.sink == SINK_SYSLOG) {
        int pri = 3 * 8 + sev[lvl]; /* facility daemon */
        /* Go's time.Stamp: "Jan _2 15:04:05" (space-padded day). */
        n = snprintf(p, PREFIX_ROOM, "<%d>%s %2d %02d:%02d:%02d %s[%d]: ", pri, mon[tm.tm_mon],
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, L.tag, pid);
    } else if (L.sink == SINK_REMOTE) {
        char zone[8];
        long off = os_tm_gmtoff(&tm, ts->tv_sec);
        if (off == 0) {
            strcpy(zone, "Z");
        } else {
            char sg = off < 0 ? '-' : '+';
            if (off < 0) off = -off;
            snprintf(zone, sizeof zone, "%c%02ld:%02ld", sg, (off / 3600) % 100, (off / 60) % 60);
        }
        n = snprintf(p, PREFIX_ROOM, "<%d>%04d-%02d-%02dT%02d:%02d:%02d%s %s %s[%d]: ",
                     sev[lvl] /* facility kern = 0 */, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, zone, L.host, L.tag, pid);
    } else {
        char when[128] = "";
        if (L.logtime)
            snprintf(when, sizeof when, "%04d/%02d/%02d %02d:%02d:%02d.%06ld ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts->tv_nsec / 1000);
        if (L.colors < 0) L.colors = L.sink == SINK_STDERR && isatty(2);
        if (L.colors)
            n = snprintf(p, PREFIX_ROOM, "[%d] %s[\x1b[%sm%s\x1b[0m] ", pid, when, colcodes[lvl],
                         labels[lvl]);
        else
            n = snprintf(p, PREFIX_ROOM, "[%d] %s[%s] ", pid, when, labels[lvl]);
    }
    if (n < 0) n = 0;
    if (n >= PREFIX_ROOM) n = PREFIX_ROOM - 1;
    return (size_t)n;
}

/* Writes prefix+body (body sits at line+PREFIX_ROOM, already newline-ended)
 * with lk held. */
static void emit_locked(log_level_t lvl, char *line, size_t blen);

static void rotate_locked(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    size_t fl = strlen(L.file);
    char *bak = xmalloc(fl + 40);
    snprintf(bak, fl + 40, "%s.%04d.%02d.%02d.%02d.%02d.%02d.%09ld", L.file, tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
    close(L.fd);
    L.fd = -1;
    bool renamed = rename(L.file, bak) == 0;
    int64_t size = 0;
    L.fd = open_logfile(L.file, &size, NULL, 0);
    L.written = size;
    if (L.fd >= 0 && renamed) {
        /* The reference ends this one line in CRLF. */
        char buf[PREFIX_ROOM + 4200];
        size_t bl = (size_t)snprintf(buf + PREFIX_ROOM, sizeof buf - PREFIX_ROOM,
                                     "Rotated log, backup saved as \"%s\"\r\n", bak);
        if (bl >= sizeof buf - PREFIX_ROOM) bl = sizeof buf - PREFIX_ROOM - 1;
        int64_t lim = L.size_limit;
        L.size_limit = 0; /* no recursive rotation for the notice itself */
        emit_locked(LOG_INF, buf, bl);
        L.size_limit = lim;
    }
    free(bak);
}

static void emit_locked(log_level_t lvl, char *line, size_t blen)
{
#ifdef _WIN32
    _Static_assert(LOG_FTL == 0 && LOG_ERR == 1 && LOG_TRC == 5, "eventlog.h's level order");
    if (L.sink == SINK_EVENTLOG) { /* the event log stamps time and source itself */
        eventlog_write((int)lvl, line + PREFIX_ROOM, blen);
        return;
    }
#endif
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char pre[PREFIX_ROOM];
    size_t pl = make_prefix(pre, lvl, &ts);
    char *start = line + PREFIX_ROOM - pl;
    memcpy(start, pre, pl);
    size_t n = pl + blen;

    switch (L.sink) {
    case SINK_STDERR:
        write_all(2, start, n, false);
        break;
    case SINK_FILE:
        if (L.fd < 0) return;
        if (write_all(L.fd, start, n, false) == 0) {
            L.written += (int64_t)n;
            if (L.size_limit > 0 && L.written > L.size_limit) rotate_locked();
        }
        break;
    case SINK_EVENTLOG: /* written above */
        break;
    case SINK_SYSLOG:
    case SINK_REMOTE:
        if (L.fd < 0 || write_all(L.fd, start, n, true) != 0) {
            reconnect_locked();
            if (L.fd >= 0) write_all(L.fd, start, n, true);
        }
        break;
    }
}

void log_vmsg(log_level_t lvl, const char *fmt, va_list ap)
{
    if ((unsigned)lvl > LOG_TRC) lvl = LOG_INF;
    if ((lvl == LOG_DBG && !log_debug_on) || (lvl == LOG_TRC && !log_trace_on)) return;

    char stackbuf[STACK_LINE];
    char *buf = stackbuf;
    size_t cap = sizeof stackbuf - PREFIX_ROOM - 1; /* room for the added '\n' */
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(buf + PREFIX_ROOM, cap + 1, fmt, ap);
    if (n < 0) n = 0;
    if ((size_t)n > cap) {
        /* Long line (e.g. a traced payload): format again on the heap. */
        buf = xmalloc(PREFIX_ROOM + (size_t)n + 2);
        vsnprintf(buf + PREFIX_ROOM, (size_t)n + 1, fmt, ap2);
    }
    va_end(ap2);
    size_t blen = (size_t)n;
    /* Like Go's log: add a newline unless the message already has one. */
    if (blen == 0 || buf[PREFIX_ROOM + blen - 1] != '\n') buf[PREFIX_ROOM + blen++] = '\n';

    pthread_mutex_lock(&lk);
    emit_locked(lvl, buf, blen);
    pthread_mutex_unlock(&lk);
    if (buf != stackbuf) free(buf);
}

void log_msg(log_level_t lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(lvl, fmt, ap);
    va_end(ap);
}

void log_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LOG_FTL, fmt, ap);
    va_end(ap);
    exit(1);
}

int log_reopen(void)
{
    pthread_mutex_lock(&lk);
    if (L.sink != SINK_FILE) {
        pthread_mutex_unlock(&lk);
        NOTICE("File log re-open ignored, not a file logger");
        return 1;
    }
    char err[512];
    int64_t size = 0;
    /* Open by name before closing: a renamed (logrotate'd) file is recreated,
     * and on failure we keep writing to the old descriptor. */
    int fd = open_logfile(L.file, &size, err, sizeof err);
    if (fd >= 0) {
        close(L.fd);
        L.fd = fd;
        L.written = size;
    }
    pthread_mutex_unlock(&lk);
    if (fd < 0) {
        ERROR("%s", err);
        return -1;
    }
    NOTICE("File log re-opened");
    return 0;
}

/* Back to the pre-configure logger (stderr, timestamps, no DBG/TRC). */
void log_close(void)
{
    pthread_mutex_lock(&lk);
    close_sink_locked();
    L.logtime = true;
    L.colors = -1;
    log_debug_on = log_trace_on = false;
    pthread_mutex_unlock(&lk);
}

void log_trace_payload(const char *prefix, const char *p, size_t n, int64_t max)
{
    bool cut = max > 0 && n > (size_t)max;
    size_t in = cut ? (size_t)max : n;
    size_t cap = 4 * in + 3; /* \xNN per byte at worst, quotes, NUL */
    char *q = xmalloc(cap);
    size_t qn = quote_go(q, cap, p, in);
    if (cut) {
        /* the reference slices its quoted text: [1, max+1) */
        size_t k = (size_t)max < qn - 1 ? (size_t)max : qn - 1;
        log_msg(LOG_TRC, "%s<<- MSG_PAYLOAD: [\"%.*s...\"]", prefix, (int)k, q + 1);
    } else {
        log_msg(LOG_TRC, "%s<<- MSG_PAYLOAD: [%s]", prefix, q);
    }
    free(q);
}
