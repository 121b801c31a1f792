"""Logging: line format, levels, log file rotation, local and remote syslog
(cli.md §8, config.md §7.1)."""

import glob
import os
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time

from harness import Server, connected, server_bin, wait_until, HOST

TIMEOUTS = {"test_local_syslog_in_private_mount_namespace": 40}

STAMPED = re.compile(r"^\[(\d+)\] \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} \[(INF|DBG|TRC|WRN|ERR|FTL)\] ")
PLAIN = re.compile(r"^\[(\d+)\] \[(INF|DBG|TRC|WRN|ERR|FTL)\] ")


def _prog():
    return os.path.basename(server_bin())


def test_default_line_format():
    with Server() as s:
        connected(s).close()
        lines = s.log().splitlines()
        assert lines and all(STAMPED.match(l) for l in lines), lines
        assert all(STAMPED.match(l).group(1) == str(s.proc.pid) for l in lines)
        assert "\r" not in s.log()


def test_logtime_false_format():
    with Server(args=["-T=false"]) as s:
        lines = s.log().splitlines()
        assert lines and all(PLAIN.match(l) for l in lines), lines
        assert lines[0] == "[%d] [INF] Starting nats-server" % s.proc.pid, lines[0]


def _levels(args):
    with Server(args=args) as s:
        c = connected(s)
        c.send("SUB a 1\r\nPUB a 2\r\nhi\r\n")
        c.read_msgs(1)
        c.close()
        time.sleep(0.2)
        return set(re.findall(r"\[(DBG|TRC)\]", s.log())), s.log()


def test_debug_trace_levels():
    assert _levels([])[0] == set()
    got, log = _levels(["-D"])
    assert got == {"DBG"} and "Client connection created" in log, log
    got, log = _levels(["-V"])
    assert got == {"TRC"} and re.search(r"\[TRC\] .* - cid:\d+ - <<- \[SUB a 1\]", log), log
    assert re.search(r'<<- MSG_PAYLOAD: \["hi"\]', log), log
    assert re.search(r"->> \[MSG a 1 2\]", log), log
    got, log = _levels(["-DV"])
    assert got == {"DBG", "TRC"}, log


def test_log_file_and_size_limit_rotation():
    d = tempfile.mkdtemp(prefix="gnatsd-rot-")
    logf = os.path.join(d, "s.log")
    conf = 'log_file: "%s"\nlog_size_limit: 2000\ntrace: true\n' % logf
    with Server(config=conf) as s:
        c = connected(s)
        for i in range(20):
            c.send("PUB x 10\r\n0123456789\r\n")
        c.ping_pong()
        backups = wait_until(lambda: glob.glob(logf + ".*"), 5, what="rotated backup")
        for b in backups:
            assert re.match(re.escape(logf) + r"\.\d{4}\.\d\d\.\d\d\.\d\d\.\d\d\.\d\d\.\d{9}$", b), b
            assert os.path.getsize(b) <= 2000 + 400, os.path.getsize(b)
        cur = open(logf, "rb").read()
        assert re.search(rb'\[INF\] Rotated log, backup saved as "' + re.escape(backups[-1].encode())
                         + rb'"\r?\n', cur) or len(backups) > 1, cur[:300]
        assert s.log() == ""
    shutil.rmtree(d, ignore_errors=True)


def _udp_listener():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((HOST, 0))
    u.settimeout(0.5)
    return u


def _collect_udp(u, until, timeout=5.0):
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            out.append(u.recv(65536).decode("utf-8", "replace"))
        except socket.timeout:
            pass
        if until(out):
            break
    return out


def _remote_line_re(pri, msg):
    return re.compile(r"^<%d>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d) %s %s\[(\d+)\]: %s\n$"
                      % (pri, re.escape(socket.gethostname()), re.escape(_prog()), re.escape(msg)))


def test_remote_syslog_udp():
    u = _udp_listener()
    port = u.getsockname()[1]
    with Server(args=["-r", "udp://%s:%d" % (HOST, port), "-DV"]) as s:
        c = connected(s)
        c.close()
        # the main thread logs "Server is ready" while a worker may already trace the
        # client: wait for both lines, in whichever order they come
        got = _collect_udp(u, lambda o: any("<<- [PING]" in x for x in o) and
                           any("Server is ready" in x for x in o))
        ready = [x for x in got if "Server is ready" in x]
        assert ready, got
        m = _remote_line_re(5, "Server is ready").match(ready[0])
        assert m and m.group(3) == str(s.proc.pid), ready[0]
        dbg = [x for x in got if "Client connection created" in x]
        assert dbg and dbg[0].startswith("<7>"), got
        trc = [x for x in got if "<<- [PING]" in x]
        assert trc and trc[0].startswith("<5>"), trc
        assert not any("[INF]" in x or "[DBG]" in x for x in got), got
        assert s.log() == ""
    u.close()


def test_remote_syslog_tcp():
    l = socket.socket()
    l.bind((HOST, 0))
    l.listen(1)
    l.settimeout(10)
    port = l.getsockname()[1]
    with Server(args=["--remote_syslog", "tcp://%s:%d" % (HOST, port)]) as s:
        conn, _ = l.accept()
        conn.settimeout(0.5)
        data = b""
        deadline = time.monotonic() + 5
        while b"Server is ready" not in data and time.monotonic() < deadline:
            try:
                data += conn.recv(65536)
            except socket.timeout:
                pass
        lines = [x + "\n" for x in data.decode().split("\n") if x]
        assert lines and _remote_line_re(5, "Starting nats-server").match(lines[0]), lines
        assert any(_remote_line_re(5, "Server is ready").match(x) for x in lines), lines
        conn.close()
    l.close()


def test_remote_syslog_bad_scheme_exits_1():
    s = Server(args=["-r", "xyz://%s:1" % HOST], wait=False).start()
    assert s.wait_exit(10) == 1
    assert re.search(r'^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d error invalid network type: "xyz"', s.log(), re.M), s.log()
    s.cleanup()


_NS_SYSLOG = r"""
import socket, subprocess, sys, time
bin, port = sys.argv[1], int(sys.argv[2])
subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/run"], check=True)
u = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
u.bind("/run/syslog")
u.settimeout(0.5)
p = subprocess.Popen([bin, "-s", "-a", "127.0.0.1", "-p", str(port)], stderr=subprocess.PIPE)
got = []
deadline = time.time() + 8
while time.time() < deadline and not any(b"Server is ready" in g for g in got):
    try:
        got.append(u.recv(65536))
    except socket.timeout:
        pass
p.terminate()
p.wait(5)
for g in got:
    sys.stdout.write(repr(g) + "\n")
sys.stdout.write("pid=%d\n" % p.pid)
"""


def test_local_syslog_in_private_mount_namespace():
    # /dev/log does not exist here; the server then tries /var/run/syslog,
    # which we create in a private mount namespace only
    if os.path.exists("/dev/log") or os.path.realpath("/var/run") != "/run":
        return
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        s = Server(args=["-s"], wait=False).start()
        assert s.wait_exit(10) == 1 and "error connecting to syslog" in s.log(), s.log()
        s.cleanup()
        return
    from harness import free_port
    p = subprocess.run(["unshare", "-m", "python3", "-c", _NS_SYSLOG, server_bin(), str(free_port())],
                       capture_output=True, timeout=30)
    out = p.stdout.decode().splitlines()
    assert out and out[-1].startswith("pid="), (out, p.stderr.decode())
    pid = out[-1][4:]
    lines = [eval(l).decode() for l in out[:-1]]
    pat = re.compile(r"^<29>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d %s\[%s\]: Server is ready\n?$"
                     % (re.escape(_prog()), pid))
    assert any(pat.match(l) for l in lines), lines


def _is_socket(path):
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def test_syslog_unreachable_exits_1():
    if any(_is_socket(p) for p in ("/dev/log", "/var/run/syslog", "/var/run/log")):
        return
    s = Server(args=["-s"], wait=False).start()
    assert s.wait_exit(10) == 1
    assert re.search(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d error connecting to syslog: ", s.log(), re.M), s.log()
    s.cleanup()
