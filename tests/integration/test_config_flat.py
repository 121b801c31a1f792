"""Flat (top-level) configuration keys, their syntax, and flags vs file
(config.md §1, §2, §5, §6, §7.1; cli.md §4)."""

import os
import re
import shutil
import subprocess
import tempfile

from harness import Server, Client, connected_retry, free_port, http_json, server_bin, wait_port, wait_own_port


def _conf_file(text):
    d = tempfile.mkdtemp(prefix="gnatsd-cfg-")
    path = os.path.join(d, "t.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def _run(*args, timeout=10):
    p = subprocess.run([server_bin()] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def _start_fails(config):
    """Start with config; the server must exit 1 by itself. Returns its stderr."""
    s = Server(config=config, wait=False).start()
    rc = s.wait_exit(10)
    log = s.log()
    s.cleanup()
    assert rc == 1, "expected exit 1, got %r; stderr: %s" % (rc, log[-500:])
    return log


def test_config_port_host_and_banner():
    port = free_port()
    with Server(config="port: %d\nhost: 127.0.0.1\n" % port, port=port, listen_flags=False) as s:
        i = s.client().info
        assert i["port"] == port and i["host"] == "127.0.0.1", i
        s.wait_log(r"\[INF\] Using configuration file: %s$" % re.escape(s.conf_path))
        s.wait_log(r"Listening for client connections on 127\.0\.0\.1:%d$" % port)


def test_config_listen_key():
    port = free_port()
    with Server(config="listen: 127.0.0.1:%d\n" % port, port=port, listen_flags=False) as s:
        assert s.client().info["port"] == port


def test_config_separators_comments_and_case():
    port = free_port()
    text = ("# a comment\n"
            "// another comment\n"
            "PORT = %d\n"
            "host 127.0.0.1\n"
            "Max_Payload: 2kb   # size suffix: 2048\n"
            "server_name: 'cfg name'\n" % port)
    with Server(config=text, port=port, listen_flags=False) as s:
        i = s.client().info
        assert i["max_payload"] == 2048, i
        assert i["server_name"] == "cfg name", i


def test_config_json_style_file():
    port = free_port()
    text = '{\n  "port": %d,\n  "host": "127.0.0.1",\n  "max_payload": 4096\n}\n' % port
    with Server(config=text, port=port, listen_flags=False) as s:
        assert s.client().info["max_payload"] == 4096


def test_config_limits_visible_in_varz():
    cfg = ("max_connections: 10\nmax_subscriptions: 5\nmax_pending: 2000000\n"
           "max_control_line: 512\nmax_payload: 1000\nping_interval: \"30s\"\nping_max: 4\n"
           "write_deadline: \"3s\"\nserver_name: cfg-srv\n")
    with Server(config=cfg, monitor=True) as s:
        v = s.varz()
        want = {"max_connections": 10, "max_subscriptions": 5, "max_pending": 2000000,
                "max_control_line": 512, "max_payload": 1000, "ping_interval": 30 * 10**9,
                "ping_max": 4, "write_deadline": 3 * 10**9, "server_name": "cfg-srv"}
        got = {k: v.get(k) for k in want}
        assert got == want, "varz %r" % got


def test_config_integer_duration_warns():
    with Server(config="ping_interval: 30\nwrite_deadline: 4\n", monitor=True) as s:
        v = s.varz()
        assert v["ping_interval"] == 30 * 10**9, v["ping_interval"]
        assert v["write_deadline"] == 4 * 10**9, v["write_deadline"]
        log = s.log()
        assert "ping_interval should be converted to a duration" in log, log[-500:]
        assert "write_deadline should be converted to a duration" in log, log[-500:]


def test_config_http_keys():
    for key in ("http", "http_port", "monitor_port"):
        mport = free_port()
        with Server(config="%s: %d\n" % (key, mport)) as s:
            assert wait_own_port(s.proc, mport, 5), "%s: monitor port not up" % key
            v = http_json(mport, "/varz")
            assert v["http_port"] == mport and v["port"] == s.port, (key, v["http_port"])


def test_config_http_host_port_string():
    mport = free_port()
    with Server(config='http: "127.0.0.1:%d"\n' % mport) as s:
        assert wait_own_port(s.proc, mport, 5)
        assert http_json(mport, "/varz")["http_host"] == "127.0.0.1"


def test_config_max_conn_alias():
    with Server(config="max_conn: 1\n") as s:
        a = connected_retry(s)     # keep a reference: a dropped socket frees the slot
        b = Client(s.port)
        b.expect(b"-ERR 'maximum connections exceeded'\r\n")
        b.expect_closed()
        a.ping_pong()


def test_config_logging_keys():
    text = "debug: true\ntrace: true\nlogtime: false\npid_file: \"p.pid\"\n"
    with Server(config=text) as s:
        c = s.client()
        c.send(b"SUB foo 1\r\n")
        c.expect(b"+OK\r\n")
        s.wait_log(r"^\[\d+\] \[TRC\] .*<<- \[SUB foo 1\]$")
        s.wait_log(r"^\[\d+\] \[DBG\] ")
        with open(os.path.join(s.dir, "p.pid")) as f:
            assert f.read() == str(s.proc.pid)


def test_config_log_file_key():
    with Server(config='log_file: "srv.log"\n') as s:
        path = os.path.join(s.dir, "srv.log")
        assert wait_port(s.port, 1)
        import time
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if os.path.exists(path) and "Server is ready" in open(path).read():
                break
            time.sleep(0.05)
        assert "Server is ready" in open(path).read()


def test_flags_override_config():
    port = free_port()
    other = free_port()
    text = "port: %d\nhost: 127.0.0.1\nmax_payload: 500\n" % other
    with Server(config=text, args=["-p", str(port)], port=port, listen_flags=False) as s:
        i = s.client().info
        assert i["port"] == port, "flag -p must win over the file: %r" % i["port"]
        assert i["max_payload"] == 500


def test_config_max_payload_above_max_pending_fails():
    err = _start_fails("max_payload: 2000\nmax_pending: 1000\n")
    assert "max_payload (2000) cannot be higher than max_pending (1000)" in err, err


def test_config_unknown_key_fails():
    err = _start_fails("zz_not_a_key: 1\n")
    assert 'unknown field "zz_not_a_key"' in err, err


def test_config_parse_error_fails():
    err = _start_fails("debug: true max_payload: 5\n")
    # the reference says "Parse error on line 1: '...'"; gnatsd names file:line:col
    assert "Parse error on line 1" in err or \
        re.search(r"server\.conf:1:\d+: Expected a top-level value", err), err


def test_config_wrong_type_fails():
    err = _start_fails("max_payload: \"big\"\n")
    assert re.search(r":1:\d+:", err), "error must be positioned FILE:L:C: %r" % err


def test_config_missing_file():
    rc, out, err = _run("-c", "/nonexistent/dir/x.conf")
    assert rc == 1, rc
    assert "no such file or directory" in err, err


def test_config_check_flag():
    good = _conf_file("port: %d\nmax_payload: 100\n" % free_port())
    try:
        _check_flag(good)
    finally:
        shutil.rmtree(os.path.dirname(good), ignore_errors=True)


def _check_flag(good):
    rc, out, err = _run("-t", "-c", good)
    assert rc == 0, (rc, err)
    assert "configuration file %s is valid" % good in err, err
    bad = os.path.join(os.path.dirname(good), "bad.conf")
    with open(bad, "w") as f:
        f.write("zz: 1\n")
    rc, out, err = _run("-t", "-c", bad)
    assert rc == 1, (rc, err)
    assert 'unknown field "zz"' in err, err
    # warnings are fatal with -t
    warn = os.path.join(os.path.dirname(good), "warn.conf")
    with open(warn, "w") as f:
        f.write("ping_interval: 5\n")
    rc, out, err = _run("-t", "-c", warn)
    assert rc == 1 and "should be converted to a duration" in err, (rc, err)
