/* test_log.c: logger line formats, sinks, reopen, rotation, remote syslog,
 * concurrency. The logger is process-global, so tests run in sequence and
 * each one configures what it needs. */
#include "test.h"
#include "base/log.h"
#include "base/gofmt.h"
#include "base/common.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <pty.h>
#include <unistd.h>

static char tmpdir[256];

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = xmalloc((size_t)n + 1);
    size_t r = fread(s, 1, (size_t)n, f);
    s[r] = 0;
    fclose(f);
    return s;
}

static bool matches(const char *re, const char *s)
{
    regex_t rx;
    if (regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE) != 0) return false;
    bool ok = regexec(&rx, s, 0, NULL, 0) == 0;
    regfree(&rx);
    return ok;
}

/* Runs fn with fd 2 redirected into a temp file and returns what was written. */
static char *capture_stderr(void (*fn)(void))
{
    char path[300];
    snprintf(path, sizeof path, "%s/stderr.txt", tmpdir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    int saved = dup(2);
    dup2(fd, 2);
    close(fd);
    fn();
    dup2(saved, 2);
    close(saved);
    return slurp(path);
}

static log_config_t base_cfg(void)
{
    log_config_t c = {.logtime = true, .tag = "gnatsd-test"};
    return c;
}

static void emit_default(void)
{
    NOTICE("hello %d", 42);
    WARN("warned");
    DEBUG("not shown");
    TRACE("not shown either");
}

TEST(default_stderr_format)
{
    char *out = capture_stderr(emit_default);
    CHECK(out != NULL);
    if (!out) return;
    /* Pre-configure: stderr, timestamps on, no colour (not a terminal). */
    CHECK(matches("^\\[[0-9]+\\] [0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6} "
                  "\\[INF\\] hello 42$",
                  out));
    CHECK(matches("^\\[[0-9]+\\] [0-9/]{10} [0-9:]{8}\\.[0-9]{6} \\[WRN\\] warned$", out));
    CHECK(strstr(out, "not shown") == NULL);
    CHECK(strstr(out, "\x1b[") == NULL);
    char pidpre[32];
    snprintf(pidpre, sizeof pidpre, "[%d] ", (int)getpid());
    CHECK(strncmp(out, pidpre, strlen(pidpre)) == 0);
    free(out);
}

static void emit_notime(void)
{
    log_config_t c = base_cfg();
    c.logtime = false;
    c.debug = true;
    c.trace = true;
    char err[256];
    CHECK_EQ_INT(log_configure(&c, err, sizeof err), 0);
    NOTICE("Starting nats-server");
    DEBUG("dbg %s", "x");
    TRACE("trc");
    ERROR("bad");
    log_msg(LOG_INF, "already ends\n");
    log_close();
}

TEST(no_logtime_format)
{
    char *out = capture_stderr(emit_notime);
    if (!out) {
        CHECK(0);
        return;
    }
    char want[256];
    int pid = (int)getpid();
    snprintf(want, sizeof want,
             "[%d] [INF] Starting nats-server\n[%d] [DBG] dbg x\n[%d] [TRC] trc\n[%d] [ERR] bad\n"
             "[%d] [INF] already ends\n",
             pid, pid, pid, pid, pid);
    CHECK_EQ_STR(out, want);
    CHECK(!log_debug_on && !log_trace_on);
    free(out);
}

TEST(file_sink)
{
    char path[300], err[256];
    snprintf(path, sizeof path, "%s/file.log", tmpdir);
    log_config_t c = base_cfg();
    c.file = path;
    CHECK_EQ_INT(log_configure(&c, err, sizeof err), 0);
    NOTICE("line one");
    ERROR("line %s", "two");
    log_close();
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == (0660 & ~(mode_t)022 & 0777));
    /* Append mode: a second configure keeps old content. */
    CHECK_EQ_INT(log_configure(&c, err, sizeof err), 0);
    NOTICE("line three");
    log_close();
    char *s = slurp(path);
    CHECK(s && matches("^\\[[0-9]+\\] [0-9/]{10} [0-9:.]{15} \\[INF\\] line one\n"
                       "\\[[0-9]+\\] [0-9/]{10} [0-9:.]{15} \\[ERR\\] line two\n"
                       "\\[[0-9]+\\] [0-9/]{10} [0-9:.]{15} \\[INF\\] line three\n$",
                       s));
    free(s);
}

TEST(file_open_error)
{
    char err[256] = "";
    log_config_t c = base_cfg();
    c.file = "/nonexistent-dir/x.log";
    CHECK_EQ_INT(log_configure(&c, err, sizeof err), -1);
    CHECK_EQ_STR(err, "error opening file: open /nonexistent-dir/x.log: no such file or directory");
    c.file = NULL;
    c.remote_syslog = "foo://bar:1";
    CHECK_EQ_INT(log_configure(&c, err, sizeof err), -1);
    CHECK_EQ_STR(err, "error invalid network type: \"foo\"");
}

TEST(reopen_after_rename)
{
    char path[300], moved[320], err[256];
    snprintf(path, sizeof path, "%s/reopen.log", tmpdir);
    snprintf(moved, sizeof moved, "%s/reopen.log.1", tmpdir);
    log_config_t c = base_cfg();
    c.logtime = false;
    c.file = path;
    CHECK_EQ_INT(log_configure(&c, err, sizeof err), 0);
    NOTICE("before");
    CHECK(rename(path, moved) == 0);
    NOTICE("after rename");
    CHECK_EQ_INT(log_reopen(), 0);
    NOTICE("after reopen");
    log_close();
    char *a = slurp(moved), *b = slurp(path);
    char want[128];
    int pid = (int)getpid();
    snprintf(want, sizeof want, "[%d] [INF] before\n[%d] [INF] after rename\n", pid, pid);
    CHECK_EQ_STR(a, want);
    snprintf(want, sizeof want, "[%d] [INF] File log re-opened\n[%d] [INF] after reopen\n", pid,
             pid);
    CHECK_EQ_STR(b, want);
    free(a);
    free(b);
}

static void do_reopen_nonfile(void)
{
    log_config_t c = base_cfg();
    c.logtime = false;
    log_configure(&c, NULL, 0);
    CHECK_EQ_INT(log_reopen(), 1);
    log_close();
}

TEST(reopen_not_file)
{
    char *out = capture_stderr(do_reopen_nonfile);
    CHECK(out && strstr(out, "[INF] File log re-open ignored, not a file logger\n"));
    free(out);
}

TEST(rotation)
{
    char sub[300], path[320], err[256];
    snprintf(sub, sizeof sub, "%s/rot", tmpdir);
    mkdir(sub, 0700);
    snprintf(path, sizeof path, "%s/rot.log", sub);
    log_config_t c = base_cfg();
    c.file = path;
    c.size_limit = 200;
    CHECK_EQ_INT(log_configure(&c, err, sizeof err), 0);
    for (int i = 0; i < 10; i++)
        NOTICE("rotation test line number %d with some padding", i);
    log_close();

    int backups = 0;
    DIR *d = opendir(sub);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (strncmp(de->d_name, "rot.log.", 8) == 0) {
            backups++;
            CHECK(matches("^rot\\.log\\.[0-9]{4}\\.[0-9]{2}\\.[0-9]{2}\\.[0-9]{2}\\.[0-9]{2}\\."
                          "[0-9]{2}\\.[0-9]{9}$",
                          de->d_name));
        }
    }
    if (d) closedir(d);
    CHECK(backups >= 2);
    char *s = slurp(path);
    CHECK(s &&
          matches("^\\[[0-9]+\\] [0-9/]{10} [0-9:.]{15} \\[INF\\] Rotated log, backup saved as "
                  "\"[^\"]*/rot\\.log\\.[0-9.]{29}\"\r$",
                  s));
    CHECK(s && strstr(s, "\"\r\n"));
    free(s);
}

TEST(remote_syslog_udp)
{
    int ls = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(ls, (struct sockaddr *)&sa, sizeof sa) == 0);
    socklen_t sl = sizeof sa;
    getsockname(ls, (struct sockaddr *)&sa, &sl);
    char url[64], err[256];
    snprintf(url, sizeof url, "udp://127.0.0.1:%d", ntohs(sa.sin_port));
    log_config_t c = base_cfg();
    c.remote_syslog = url;
    CHECK_EQ_INT(log_configure(&c, err, sizeof err), 0);
    NOTICE("Server is ready");
    WARN("careful");
    log_close();

    char buf[1024];
    struct pollfd pfd = {.fd = ls, .events = POLLIN};
    CHECK(poll(&pfd, 1, 2000) == 1);
    ssize_t n = recv(ls, buf, sizeof buf - 1, MSG_DONTWAIT);
    CHECK(n > 0);
    buf[n > 0 ? n : 0] = 0;
    char tagpid[64];
    snprintf(tagpid, sizeof tagpid, " gnatsd-test[%d]: Server is ready\n", (int)getpid());
    CHECK(strncmp(buf, "<5>", 3) == 0);
    CHECK(strstr(buf, tagpid) != NULL);
    CHECK(matches(
        "^<5>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2}) "
        "[^ ]+ gnatsd-test\\[[0-9]+\\]: Server is ready$",
        buf));
    CHECK(poll(&pfd, 1, 2000) == 1);
    n = recv(ls, buf, sizeof buf - 1, MSG_DONTWAIT);
    buf[n > 0 ? n : 0] = 0;
    CHECK(strncmp(buf, "<4>", 3) == 0 && strstr(buf, "]: careful\n"));
    close(ls);
}

TEST(remote_syslog_tcp_refused)
{
    /* Bind then close to get a port with nothing listening. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (struct sockaddr *)&sa, sizeof sa);
    socklen_t sl = sizeof sa;
    getsockname(s, (struct sockaddr *)&sa, &sl);
    close(s);
    char url[64], err[256], want[256];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", ntohs(sa.sin_port));
    log_config_t c = base_cfg();
    c.remote_syslog = url;
    CHECK_EQ_INT(log_configure(&c, err, sizeof err), -1);
    snprintf(want, sizeof want,
             "error connecting to syslog: \"dial tcp 127.0.0.1:%d: connect: connection refused\"",
             ntohs(sa.sin_port));
    CHECK_EQ_STR(err, want);
}

TEST(remote_syslog_unix_stream)
{
    /* unix:// is a stream socket (Go dials "unix") with the remote format. */
    char path[300], url[320], err[256];
    snprintf(path, sizeof path, "%s/syslog.sock", tmpdir);
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    CHECK(strlen(path) < sizeof sa.sun_path);
    memcpy(sa.sun_path, path, strlen(path) < sizeof sa.sun_path ? strlen(path) : 0);
    CHECK(bind(ls, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(ls, 1) == 0);
    snprintf(url, sizeof url, "unix://%s", path);
    log_config_t c = base_cfg();
    c.remote_syslog = url;
    c.debug = true;
    CHECK_EQ_INT(log_configure(&c, err, sizeof err), 0);
    int cs = accept(ls, NULL, NULL);
    ERROR("oops");
    DEBUG("dbg");
    log_close();
    char buf[1024];
    size_t got = 0;
    ssize_t n;
    while ((n = read(cs, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = 0;
    CHECK(matches("^<3>[0-9T:+Z-]{20,25} [^ ]+ gnatsd-test\\[[0-9]+\\]: oops$", buf));
    CHECK(matches("^<7>[0-9T:+Z-]{20,25} [^ ]+ gnatsd-test\\[[0-9]+\\]: dbg$", buf));
    close(cs);
    close(ls);
}

TEST(local_syslog_unreachable)
{
    if (access("/dev/log", F_OK) == 0 || access("/var/run/syslog", F_OK) == 0 ||
        access("/var/run/log", F_OK) == 0)
        return; /* a syslog daemon exists here; nothing to check */
    char err[256];
    log_config_t c = base_cfg();
    c.syslog = true;
    CHECK_EQ_INT(log_configure(&c, err, sizeof err), -1);
    CHECK_EQ_STR(err, "error connecting to syslog: \"Unix syslog delivery error\"");
}

TEST(colors_on_terminal)
{
    int master, slave;
    if (openpty(&master, &slave, NULL, NULL, NULL) != 0) {
        CHECK(0);
        return;
    }
    struct termios t;
    tcgetattr(slave, &t);
    cfmakeraw(&t);
    tcsetattr(slave, TCSANOW, &t);
    int saved = dup(2);
    dup2(slave, 2);
    log_config_t c = base_cfg();
    c.logtime = false;
    log_configure(&c, NULL, 0);
    NOTICE("hi");
    WARN("w");
    log_close();
    dup2(saved, 2);
    close(saved);
    close(slave);
    /* A pty hands lines over one read at a time: collect until quiet. */
    char buf[256];
    size_t got = 0;
    struct pollfd pfd = {master, POLLIN, 0};
    while (got < sizeof buf - 1 && poll(&pfd, 1, 200) == 1) {
        ssize_t n = read(master, buf + got, sizeof buf - 1 - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    buf[got] = 0;
    char want[128];
    snprintf(want, sizeof want, "[%d] [\x1b[32mINF\x1b[0m] hi\n[%d] [\x1b[0;93mWRN\x1b[0m] w\n",
             (int)getpid(), (int)getpid());
    CHECK_EQ_STR(buf, want);
    close(master);
}

static void *writer(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < 1000; i++)
        NOTICE("thread %ld line %d payload-abcdefghijklmnopqrstuvwxyz-0123456789", id, i);
    return NULL;
}

TEST(concurrency)
{
    char path[300], err[256];
    snprintf(path, sizeof path, "%s/conc.log", tmpdir);
    log_config_t c = base_cfg();
    c.file = path;
    CHECK_EQ_INT(log_configure(&c, err, sizeof err), 0);
    pthread_t th[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, writer, (void *)i);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    log_close();

    char *s = slurp(path);
    if (!s) {
        CHECK(0);
        return;
    }
    regex_t rx;
    regcomp(&rx,
            "^\\[[0-9]+\\] [0-9/]{10} [0-9:.]{15} \\[INF\\] thread ([0-3]) line ([0-9]+) "
            "payload-abcdefghijklmnopqrstuvwxyz-0123456789$",
            REG_EXTENDED);
    int lines = 0, bad = 0, next[4] = {0};
    for (char *save, *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        regmatch_t m[3];
        lines++;
        if (regexec(&rx, l, 3, m, 0) != 0) {
            bad++;
            continue;
        }
        int t = l[m[1].rm_so] - '0', n = atoi(l + m[2].rm_so);
        if (n != next[t]) /* each thread's lines in order, none lost */
            bad++;
        next[t] = n + 1;
    }
    regfree(&rx);
    CHECK_EQ_INT(lines, 4000);
    CHECK_EQ_INT(bad, 0);
    free(s);
}

TEST(long_line)
{
    char path[300], err[256];
    snprintf(path, sizeof path, "%s/long.log", tmpdir);
    log_config_t c = base_cfg();
    c.logtime = false;
    c.file = path;
    CHECK_EQ_INT(log_configure(&c, err, sizeof err), 0);
    size_t big = 100000;
    char *payload = xmalloc(big + 1);
    memset(payload, 'x', big);
    payload[big] = 0;
    c.trace = true;
    log_configure(&c, err, sizeof err);
    TRACE("<<- MSG_PAYLOAD: [\"%s\"]", payload);
    log_close();
    char *s = slurp(path);
    char pre[64];
    int pl = snprintf(pre, sizeof pre, "[%d] [TRC] <<- MSG_PAYLOAD: [\"", (int)getpid());
    CHECK(s && strlen(s) == (size_t)pl + big + 3);
    CHECK(s && strncmp(s, pre, (size_t)pl) == 0 && strcmp(s + pl + big, "\"]\n") == 0);
    free(s);
    free(payload);
}

/* quote_go: Go's strconv.Quote, what the reference's %q writes (values checked with Go). */
TEST(quote_go_matches_go)
{
    static const struct {
        const char *in;
        size_t n;
        const char *want;
    } cases[] = {
        {"plain", 5, "\"plain\""},
        {"a\"b\\", 4, "\"a\\\"b\\\\\""},
        {"\n\r\t\a\b\f\v", 7, "\"\\n\\r\\t\\a\\b\\f\\v\""},
        {"\x01\x7f\x00z", 4, "\"\\x01\\x7f\\x00z\""},
        {"\xff\xc3", 2, "\"\\xff\\xc3\""},
        {"\xc3\xa9\xe2\x80\xa8\xc2\xad", 7, "\"\xc3\xa9\\u2028\\u00ad\""},
        {"\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\""},
        {"\xed\xa0\x80", 3, "\"\\xed\\xa0\\x80\""}, /* a surrogate is invalid UTF-8 */
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char out[64];
        size_t n = quote_go(out, sizeof out, cases[i].in, cases[i].n);
        CHECK_EQ_STR(out, cases[i].want);
        CHECK_EQ_INT(n, strlen(cases[i].want));
    }
    /* too long: cut between characters, closing quote kept */
    char small[8];
    quote_go(small, sizeof small, "ab\ncdef", 7);
    CHECK_EQ_STR(small, "\"ab\\nc\"");
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_log.XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    RUN(quote_go_matches_go);
    umask(022);
    RUN(default_stderr_format);
    RUN(no_logtime_format);
    RUN(file_sink);
    RUN(file_open_error);
    RUN(reopen_after_rename);
    RUN(reopen_not_file);
    RUN(rotation);
    RUN(remote_syslog_udp);
    RUN(remote_syslog_tcp_refused);
    RUN(remote_syslog_unix_stream);
    RUN(local_syslog_unreachable);
    RUN(colors_on_terminal);
    RUN(concurrency);
    RUN(long_line);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
    return test_summary();
}
