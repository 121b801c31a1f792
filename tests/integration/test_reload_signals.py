"""Process signals, live reload, -sl, pid and ports files (cli.md §6, §7, §9;
config.md §8)."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from harness import Server, Client, connected, server_bin, wait_until, free_port, HOST

TIMEOUTS = {"test_reload_keeps_clients_and_messages": 60, "test_lame_duck_sigusr2": 40,
            "test_signal_command_ldm": 40, "test_signal_command_without_pid": 40}


def _sl(*args, timeout=10):
    p = subprocess.run([server_bin(), "-sl"] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def _rewrite(s, text):
    with open(s.conf_path, "w") as f:
        f.write(text)


def _conf(s, extra):
    return "host: %s\nport: %d\n%s" % (HOST, s.port, extra)


def _new_info(s):
    c = s.client()
    c.close()
    return c.info


def _reload(s, text, expect=r"Reloaded server configuration"):
    n = len(re.findall(expect, s.log()))
    _rewrite(s, text)
    s.signal(signal.SIGHUP)
    wait_until(lambda: len(re.findall(expect, s.log())) > n, 5, what=expect)


def test_reload_applies_max_payload_and_debug():
    with Server(config="max_payload: 1000\n") as s:
        assert _new_info(s)["max_payload"] == 1000
        old = connected(s)
        _reload(s, _conf(s, "max_payload: 2000\ndebug: true\n"))
        log = s.log()
        assert re.search(r"\[INF\] Reloaded: debug = true\n.*\[INF\] Reloaded: authorization users\n"
                         r".*\[INF\] Reloaded: accounts\n.*\[INF\] Reloaded: max_payload = 2000\n", log), log
        assert _new_info(s)["max_payload"] == 2000
        # the existing client is held to the new limit at once
        old.send("PUB x 1500\r\n" + "a" * 1500 + "\r\n")
        old.ping_pong()
        wait_until(lambda: "[DBG]" in s.log(), 3, what="debug lines after reload")


def test_reload_refuses_port_change_and_keeps_old_config():
    with Server(config="max_payload: 1000\n") as s:
        other = free_port()
        text = "host: %s\nport: %d\nmax_payload: 3000\n" % (HOST, other)
        _reload(s, text, r"\[ERR\] Failed to reload server configuration")
        assert ("[ERR] Failed to reload server configuration: config reload not supported for "
                "Port: old=%d, new=%d" % (s.port, other)) in s.log(), s.log()
        assert s.alive()
        assert _new_info(s)["max_payload"] == 1000
        assert "Reloaded server configuration" not in s.log()


def test_reload_refuses_bad_config():
    with Server(config="max_payload: 1000\n") as s:
        c = connected(s)
        _reload(s, _conf(s, "max_payload: 3000\nport 2 debug\n"),
                r"\[ERR\] Failed to reload server configuration: ")
        _reload(s, _conf(s, "max_payload: 3000\nno_such_key: 1\n"),
                r'Failed to reload server configuration: .*server\.conf:4:1: unknown field "no_such_key"')
        _reload(s, _conf(s, "max_subscriptions: 10\n"),
                r"config reload not supported for MaxSubs: old=0, new=10")
        assert s.alive() and _new_info(s)["max_payload"] == 1000
        c.ping_pong()


def test_reload_without_config_file():
    with Server() as s:
        s.signal(signal.SIGHUP)
        s.wait_log(r"\[ERR\] Failed to reload server configuration: can only reload config when a "
                   r"file is provided using -c or --config")
        assert s.alive()


def test_reload_flags_still_win():
    with Server(config="max_payload: 1000\n", listen_flags=True, args=["-D"]) as s:
        # the file now names another port and debug off: flags keep winning
        _reload(s, "port: %d\ndebug: false\nmax_payload: 1500\n" % free_port())
        assert _new_info(s)["max_payload"] == 1500
        assert "Reloaded: debug" not in s.log() and "not supported" not in s.log(), s.log()


def test_reload_keeps_clients_and_messages():
    with Server(config="max_payload: 1000\n") as s:
        sub = connected(s)
        sub.send("SUB load 1\r\n")
        sub.ping_pong()
        pub = connected(s)
        total = 3000
        done = threading.Event()
        errors = []

        def publish():
            try:
                for i in range(total):
                    pub.send("PUB load %d\r\n%d\r\n" % (len(str(i)), i))
                    if i % 100 == 0:
                        time.sleep(0.01)
                pub.ping_pong(10)
            except Exception as e:  # surfaced below
                errors.append(e)
            done.set()

        t = threading.Thread(target=publish)
        t.start()
        got = []
        for k in range(4):
            _reload(s, _conf(s, "max_payload: %d\ndebug: %s\n" % (1000 + k, "true" if k % 2 == 0 else "false")))
            got += [int(m[3]) for m in sub.read_msgs(200, 10)]
        t.join(20)
        assert done.is_set() and not errors, errors
        rest = sub.sync(10)
        got += [int(x) for x in re.findall(rb"MSG load 1 \d+\r\n(\d+)\r\n", rest)]
        assert got == list(range(total)), "lost or reordered: %d of %d" % (len(got), total)
        assert len(re.findall("Reloaded server configuration", s.log())) == 4


def test_reload_pid_file_and_ports_file_dir():
    d = tempfile.mkdtemp(prefix="gnatsd-rl-")
    with Server(config="max_payload: 1000\n") as s:
        pid = s.proc.pid
        pidf = os.path.join(d, "new.pid")
        _reload(s, _conf(s, 'pid_file: "%s"\nports_file_dir: "%s"\n' % (pidf, d)))
        assert open(pidf).read() == str(pid)
        ports = os.path.join(d, "%s_%d.ports" % (os.path.basename(server_bin()), pid))
        wait_until(lambda: os.path.exists(ports), 5, what="ports file after reload")
        assert "Reloaded: pid_file = %s" % pidf in s.log()
        assert "Reloaded: ports_file_dir = %s" % d in s.log()
    assert not os.path.exists(ports)
    shutil.rmtree(d, ignore_errors=True)


def test_sigusr1_reopens_renamed_log_file():
    d = tempfile.mkdtemp(prefix="gnatsd-log-")
    logf = os.path.join(d, "server.log")
    with Server(args=["-l", logf]) as s:
        wait_until(lambda: "Server is ready" in open(logf).read(), 5, what="log file")
        os.rename(logf, logf + ".1")
        s.signal(signal.SIGUSR1)
        wait_until(lambda: os.path.exists(logf), 5, what="new log file")
        wait_until(lambda: "[INF] File log re-opened" in open(logf).read(), 5, what="re-open line")
        s.signal(signal.SIGHUP)  # any later line goes to the new file
        wait_until(lambda: "can only reload config" in open(logf).read(), 5, what="later line")
        old = open(logf + ".1").read()
        assert "Server is ready" in old and "re-opened" not in old, old
        assert s.log() == "", s.log()
    shutil.rmtree(d, ignore_errors=True)


def test_sigusr1_without_log_file():
    with Server() as s:
        s.signal(signal.SIGUSR1)
        s.wait_log(r"\[INF\] File log re-open ignored, not a file logger")
        assert s.alive()


def _lame_duck(trigger):
    conf = 'lame_duck_grace_period: "1s"\nlame_duck_duration: "30s"\n'
    with Server(config=conf, args=["-D"]) as s:
        c = connected(s, protocol=1)
        c.ping_pong()
        t0 = time.monotonic()
        trigger(s)
        m = c.expect_re(rb"INFO (\{[^\r]*\}) ?\r\n", 5)
        assert json.loads(m.group(1)).get("ldm") is True, m.group(0)
        s.wait_log(r"\[INF\] Entering lame duck mode, stop accepting new clients")
        try:
            Client(s.port, timeout=1).close()
            refused = False
        except (OSError, AssertionError):
            refused = True
        assert refused, "new connection accepted in lame duck mode"
        c.expect_closed(10)
        assert s.wait_exit(10) == 0, s.log()
        assert time.monotonic() - t0 >= 0.9
        log = s.log()
        assert "[INF] Closing existing clients" in log and "Server Exiting.." in log, log


def test_lame_duck_sigusr2():
    _lame_duck(lambda s: s.signal(signal.SIGUSR2))


def test_lame_duck_without_clients_exits_at_once():
    # (the grace period covers a readiness probe the reference may still count)
    with Server(config='lame_duck_grace_period: "1s"\n') as s:
        time.sleep(0.2)
        s.signal(signal.SIGUSR2)
        assert s.wait_exit(5) == 0
        assert "Entering lame duck mode" in s.log()


def test_sigint_exit_0_and_sigterm_exit_1():
    d = tempfile.mkdtemp(prefix="gnatsd-sig-")
    for sig, code, name in ((signal.SIGINT, 0, "interrupt"), (signal.SIGTERM, 1, "terminated")):
        with Server(args=["-D", "--ports_file_dir", d]) as s:
            c = connected(s)
            ports = os.path.join(d, "%s_%d.ports" % (os.path.basename(server_bin()), s.proc.pid))
            wait_until(lambda: os.path.exists(ports), 5, what="ports file")
            s.signal(sig)
            assert s.wait_exit(5) == code
            c.expect_closed(3)
            log = s.log()
            assert 'Trapped "%s" signal' % name in log, log
            assert re.search(r"Initiating Shutdown\.\.\.\n(.*\n)*.*Server Exiting\.\.\n$", log), log
            assert not os.path.exists(ports)
    shutil.rmtree(d, ignore_errors=True)


def test_pid_file_exact():
    d = tempfile.mkdtemp(prefix="gnatsd-pid-")
    pidf = os.path.join(d, "s.pid")
    with open(pidf, "w") as f:
        f.write("999999999999 old content\n")
    with Server(args=["-P", pidf]) as s:
        assert open(pidf, "rb").read() == str(s.proc.pid).encode()
    assert os.path.exists(pidf), "pid file must not be removed on exit"
    with Server(config='pid_file: "%s"\n' % os.path.join(d, "c.pid")) as s:
        assert open(os.path.join(d, "c.pid")).read() == str(s.proc.pid)
        assert os.stat(os.path.join(d, "c.pid")).st_mode & 0o777 == 0o660 & ~_umask()
    shutil.rmtree(d, ignore_errors=True)


def test_ports_file_exact():
    d = tempfile.mkdtemp(prefix="gnatsd-ports-")
    cport, mport = free_port(), free_port()
    conf = 'ports_file_dir: "%s"\nhttp: "%s:%d"\ncluster { listen: "%s:%d" }\n' % (d, HOST, mport, HOST, cport)
    with Server(config=conf) as s:
        path = os.path.join(d, "%s_%d.ports" % (os.path.basename(server_bin()), s.proc.pid))
        wait_until(lambda: os.path.exists(path), 6, what="ports file")
        text = wait_until(lambda: open(path).read(), 2, what="ports content")
        assert text == ('{"nats":["nats://%s:%d"],"monitoring":["http://%s:%d"],"cluster":["nats://%s:%d"]}'
                        % (HOST, s.port, HOST, mport, HOST, cport)), text
        assert os.stat(path).st_mode & 0o777 == 0o666 & ~_umask(), oct(os.stat(path).st_mode)
    assert not os.path.exists(path)
    shutil.rmtree(d, ignore_errors=True)


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


def test_signal_command_reload_pid_and_pidfile():
    d = tempfile.mkdtemp(prefix="gnatsd-sl-")
    pidf = os.path.join(d, "s.pid")
    with Server(config="max_payload: 1000\npid_file: \"%s\"\n" % pidf) as s:
        wait_until(lambda: os.path.exists(pidf), 3, what="pid file")
        assert _sl("reload=%d" % s.proc.pid) == (0, "", "")
        s.wait_log(r"Reloaded server configuration")
        if os.path.basename(server_bin()) != "nats-server":
            with open(pidf, "a") as f:
                f.write("\n")  # gnatsd-c accepts a trailing newline too
        _rewrite(s, _conf(s, "max_payload: 1234\npid_file: \"%s\"\n" % pidf))
        assert _sl("reload=" + pidf)[0] == 0
        wait_until(lambda: s.log().count("Reloaded server configuration") == 2, 5, what="2nd reload")
        assert _new_info(s)["max_payload"] == 1234
        assert _sl("reopen=%d" % s.proc.pid)[0] == 0
        s.wait_log(r"File log re-open ignored")
        assert s.alive()
    shutil.rmtree(d, ignore_errors=True)


def test_signal_command_stop_quit_term():
    with Server() as s:
        assert _sl("quit=%d" % s.proc.pid)[0] == 0
        assert s.wait_exit(5) == 0
        assert "Initiating Shutdown" in s.log()
    with Server() as s:
        assert _sl("stop=%d" % s.proc.pid)[0] == 0
        assert s.wait_exit(5) == -signal.SIGKILL
    with Server() as s:
        assert _sl("term=%d" % s.proc.pid)[0] == 0
        assert s.wait_exit(5) == 1


def test_signal_command_ldm():
    _lame_duck(lambda s: _sl("ldm=%d" % s.proc.pid))


def test_signal_command_errors():
    prog = os.path.basename(server_bin())
    assert _sl("RELOAD=1") == (1, "", '%s: unknown signal "RELOAD"\n' % prog)
    assert _sl("reload=abc") == (1, "", "%s: invalid pid: abc\n" % prog)
    assert _sl("reload=/nonexistent/pid/file") == (1, "", "%s: invalid pid: /nonexistent/pid/file\n" % prog)
    assert _sl("reload=1=2")[0:2] == (1, "")
    assert "invalid signal parameters" in _sl("reload=1=2")[2]
    # a pid that surely does not exist
    rc, _, err = _sl("reload=2147483646")
    assert rc == 1 and err == "%s: no such process\n" % prog, err


_NS_SCRIPT = r"""
import subprocess, sys, time, socket
bin, port = sys.argv[1], int(sys.argv[2])
def sl(*a):
    p = subprocess.run([bin, "-sl"] + list(a), capture_output=True, timeout=10)
    return "%d|%s" % (p.returncode, p.stderr.decode().strip().replace("\n", ";"))
print("none:" + sl("reload"))
srv = subprocess.Popen([bin, "-a", "127.0.0.1", "-p", str(port)], stderr=subprocess.PIPE)
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close(); break
    except OSError:
        time.sleep(0.05)
print("one:" + sl("reload"))
srv2 = subprocess.Popen([bin, "-a", "127.0.0.1", "-p", str(port + 1)], stderr=subprocess.DEVNULL)
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", port + 1), 0.2).close(); break
    except OSError:
        time.sleep(0.05)
print("many:" + sl("reopen") + ":%d:%d" % (srv.pid, srv2.pid))
srv2.kill(); srv2.wait()
print("quit:" + sl("quit"))
rc = srv.wait(10)
print("rc:%d" % rc)
print("log:" + srv.stderr.read().decode().replace("\n", ";"))
"""


def test_signal_command_without_pid():
    probe = subprocess.run(["unshare", "-fp", "--mount-proc", "true"], capture_output=True)
    prog = os.path.basename(server_bin())
    if probe.returncode != 0:
        return  # no private PID namespace: never signal other people's servers
    port = free_port()
    p = subprocess.run(["unshare", "-fp", "--mount-proc", "python3", "-c", _NS_SCRIPT,
                        server_bin(), str(port)], capture_output=True, timeout=30)
    out = dict(l.split(":", 1) for l in p.stdout.decode().splitlines())
    assert out["none"] == "1|%s: no nats-server processes running" % prog, out
    assert out["one"] == "0|", out
    many, pids = out["many"].rsplit(":", 2)[0], out["many"].rsplit(":", 2)[1:]
    assert many.startswith("1|%s: multiple nats-server processes running:" % prog), out
    assert sorted(many.split(":", 1)[1].split(";")[1:]) == sorted(pids), out
    assert out["quit"] == "0|" and out["rc"] == "0", out
    assert "Reloaded server configuration" not in out["log"]
    assert "can only reload config" in out["log"] and "Initiating Shutdown" in out["log"], out


def test_reload_logging_options():
    d = tempfile.mkdtemp(prefix="gnatsd-rlog-")
    logf = os.path.join(d, "after.log")
    with Server(config="logtime: true\n") as s:
        _rewrite(s, _conf(s, 'logtime: false\ntrace: true\nlog_file: "%s"\n' % logf))
        s.signal(signal.SIGHUP)
        wait_until(lambda: os.path.exists(logf) and "Reloaded server configuration" in open(logf).read(),
                   5, what="reload logged to the new file")
        before = s.log()
        # the Reloaded: lines still use the old logger (stderr, with time)
        assert re.search(r"^\[\d+\] \d{4}/\S+ \S+ \[INF\] Reloaded: trace = true$", before, re.M), before
        assert re.search(r"^\[\d+\] \d{4}/\S+ \S+ \[INF\] Reloaded: logtime = false$", before, re.M), before
        assert "Reloaded: log_file = %s" % logf in before
        after = open(logf).read()
        assert re.search(r"^\[\d+\] \[INF\] Reloaded server configuration$", after, re.M), after
        connected(s).close()
        wait_until(lambda: "[TRC]" in open(logf).read(), 3, what="trace after reload")
    shutil.rmtree(d, ignore_errors=True)


def test_reload_max_connections_shrink():
    with Server(config="max_connections: 10\n", monitor=True) as s:
        cs = [connected(s) for _ in range(3)]
        # the harness's readiness probe is closed asynchronously: counted, it made the
        # reload close 3 (ASan in CI)
        wait_until(lambda: s.varz()["connections"] == 3, 10, what="only the 3 clients counted")
        _reload(s, _conf(s, "max_connections: 1\n"))
        assert "Closed 2 connections to fall within max_connections" in s.log(), s.log()
        closed = 0
        for c in cs:
            try:
                c.expect(b"-ERR 'maximum connections exceeded'\r\n", 3)
                c.expect_closed(3)
                closed += 1
            except AssertionError:
                c.ping_pong()
        assert closed == 2, closed
