"""Smoke test of the benchmark tool build/gnatsd-bench (bench/README.md).

Runs every mode briefly with small counts and --json against a server on
127.0.0.1 and checks: exit status 0, one JSON object per result with the
documented keys, and zero loss. The server is $GNATSD_BIN, defaulting to
our build/gnatsd (unlike the rest of the suite: this tests our tool against
our server); the tool is $GNATSD_BENCH, default build/gnatsd-bench.
"""

import json
import os
import select
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

from harness import REPO_ROOT, Server, free_port, make_self_signed_cert, wait_own_port

COMMON_KEYS = {"mode", "role", "client", "server", "clients", "msg_size", "msgs", "expected",
               "lost", "extra", "errors", "seconds", "msgs_per_sec", "mb_per_sec"}

TIMEOUTS = {"test_bench_conns": 60, "test_bench_loss_is_reported": 40, "test_bench_accounts": 60}


def _path(env, default):
    p = os.environ.get(env, default)
    return p if os.path.isabs(p) else os.path.join(REPO_ROOT, p)


def _server(config=None):
    # our server by default; the harness default (the reference) would be
    # the wrong thing to smoke-test the tool with
    s = Server(config=config)
    s.bin = _path("GNATSD_BIN", "build/gnatsd")
    return s


def _bench(s, *args, expect_rc=0, timeout=30):
    """Run the tool against server s; return the parsed JSON results by role."""
    tool = _path("GNATSD_BENCH", "build/gnatsd-bench")
    if not os.path.exists(tool):
        raise AssertionError("benchmark tool not built: %s (make build/gnatsd-bench)" % tool)
    cmd = [tool] + list(args) + ["-s", "nats://127.0.0.1:%d" % s.port, "--json",
                                 "--timeout", "5", "--no-progress"]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    out, err = p.stdout.decode(), p.stderr.decode()
    assert p.returncode == expect_rc, "%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s" % (
        " ".join(cmd), p.returncode, expect_rc, out, err)
    results = {}
    for line in out.splitlines():
        obj = json.loads(line)  # every stdout line must be one JSON object
        missing = COMMON_KEYS - set(obj)
        assert not missing, "missing keys %s in %s" % (missing, line)
        results[obj["role"]] = obj
    assert results, "no JSON results on stdout; stderr:\n%s" % err
    return results


def _no_loss(r, want_msgs=None):
    assert r["lost"] == 0 and r["extra"] == 0 and r["errors"] == 0, r
    if want_msgs is not None:
        assert r["msgs"] == want_msgs, r
    assert r["msgs_per_sec"] > 0, r


def test_bench_pub():
    with _server() as s:
        r = _bench(s, "pub", "-m", "20000", "-z", "16", "-p", "2")
        assert r["pub"]["mode"] == "pub" and r["pub"]["clients"] == 2
        assert "per_client_msgs_per_sec" in r["pub"]
        _no_loss(r["pub"], 20000)


def test_bench_pubsub_fanout():
    with _server() as s:
        r = _bench(s, "pubsub", "-m", "20000", "-z", "16", "-n", "2")
        _no_loss(r["pub"], 20000)
        # fan-out: every subscriber gets every message
        _no_loss(r["sub"], 40000)
        assert r["sub"]["expected"] == 40000
        for k in ("min", "avg", "max"):
            assert k in r["sub"]["per_client_msgs_per_sec"]


def test_bench_sub_with_external_publisher():
    with _server() as s:
        tool = _path("GNATSD_BENCH", "build/gnatsd-bench")
        url = "nats://127.0.0.1:%d" % s.port
        sub = subprocess.Popen([tool, "sub", "-s", url, "-m", "10000", "-n", "2", "--json",
                                "--timeout", "5", "--no-progress", "-S", "ext.bench"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # the tool announces on stderr once its subscriptions are registered
            deadline = time.monotonic() + 10
            seen = b""
            while b"ready" not in seen:
                left = deadline - time.monotonic()
                assert left > 0, "subscriber never became ready: %r" % seen
                r, _, _ = select.select([sub.stderr], [], [], left)
                if r:
                    chunk = os.read(sub.stderr.fileno(), 4096)
                    assert chunk, "subscriber exited early: %r" % seen
                    seen += chunk
            _no_loss(_bench(s, "pub", "-m", "10000", "-S", "ext.bench")["pub"], 10000)
            out, err = sub.communicate(timeout=20)
        finally:
            if sub.poll() is None:
                sub.kill()
                sub.wait()
        assert sub.returncode == 0, (sub.returncode, out, err)
        r = json.loads(out.decode().splitlines()[0])
        assert r["mode"] == "sub" and r["expected"] == 20000, r
        _no_loss(r, 20000)


def test_bench_queue():
    with _server() as s:
        r = _bench(s, "queue", "-m", "30000", "-z", "16", "-p", "2", "-n", "3")
        _no_loss(r["pub"], 30000)
        # a queue group gets each message exactly once in total
        _no_loss(r["sub"], 30000)
        assert r["sub"]["clients"] == 3


def test_bench_reqrep():
    with _server() as s:
        r = _bench(s, "reqrep", "-m", "2000", "-z", "16", "-n", "2")
        req = r["req"]
        _no_loss(req, 2000)
        lat = req["latency_us"]
        for k in ("p50", "p90", "p99", "p99_9", "max"):
            assert k in lat, lat
        assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99_9"] <= lat["max"], lat


def test_bench_conns():
    with _server() as s:
        r = _bench(s, "conns", "-c", "200", "-z", "16", timeout=50)
        c = r["conns"]
        _no_loss(c, 200)
        assert c["conns_ready"] == 200 and c["connect_per_sec"] > 0, c


def test_bench_subs():
    with _server() as s:
        r = _bench(s, "subs", "-M", "2000", "-m", "20000", "-z", "16")
        _no_loss(r["pub"], 20000)
        sub = r["subs"]
        # each published literal subject matches exactly one subscription
        _no_loss(sub, 20000)
        assert sub["subs"] == 2000 and sub["subscribe_per_sec"] > 0, sub
        assert sub["deliveries_per_sec"] > 0, sub


def test_bench_libnats_engine():
    with _server() as s:
        r = _bench(s, "pubsub", "--client", "nats", "-m", "20000", "-z", "16")
        assert r["pub"]["client"] == "nats"
        _no_loss(r["pub"], 20000)
        _no_loss(r["sub"], 20000)
        r = _bench(s, "reqrep", "--client", "nats", "-m", "500", "-z", "16")
        _no_loss(r["req"], 500)


def test_bench_loss_is_reported():
    # nobody publishes: the subscriber must report every message as lost
    # and exit 1 rather than succeed
    with _server() as s:
        tool = _path("GNATSD_BENCH", "build/gnatsd-bench")
        p = subprocess.run([tool, "sub", "-s", "nats://127.0.0.1:%d" % s.port, "-m", "100",
                            "--json", "--timeout", "1", "--no-progress"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        assert p.returncode == 1, (p.returncode, p.stderr)
        r = json.loads(p.stdout.decode().splitlines()[0])
        assert r["lost"] == 100 and r["msgs"] == 0, r


def test_floor_relay_answers_requests():
    """build/floor-relay (the latency floor in docs/performance.md) must carry
    a request/reply round trip, sleeping and spinning, or its numbers mean
    nothing."""
    tool = _path("FLOOR_RELAY", "build/floor-relay")
    for extra in ([], ["--spin"]):
        port = free_port()
        p = subprocess.Popen([tool, "-a", "127.0.0.1", "-p", str(port)] + extra,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_own_port(p, port)
            s = type("S", (), {"port": port})()
            r = _bench(s, "reqrep", "-m", "500", "-z", "16", "-n", "1")
            _no_loss(r["req"], 500)
            assert r["req"]["latency_us"]["p50"] > 0, r
        finally:
            p.kill()
            p.wait()


def test_floor_tls_carries_tls_clients():
    """build/floor-tls (the TLS handshake floor in docs/performance.md) must take
    what natsbench's conns scenario does over TLS (INFO, handshake, CONNECT,
    PING, SUB, a PUB from another connection delivered as MSG), or its numbers
    mean nothing."""
    tool = _path("FLOOR_TLS", "build/floor-tls")
    d = tempfile.mkdtemp(prefix="gnatsd-floor-tls-")
    port = free_port()
    try:
        cert, key = make_self_signed_cert(d)
        p = subprocess.Popen([tool, "-a", "127.0.0.1", "-p", str(port), "--tls", "--tlscert",
                              cert, "--tlskey", key],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_own_port(p, port)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(cert)

            def dial():
                raw = socket.create_connection(("127.0.0.1", port), timeout=10)
                info = b""
                while not info.endswith(b"\r\n"):
                    info += raw.recv(1)
                assert b'"tls_required":true' in info, info
                t = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
                t.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
                assert t.recv(64) == b"PONG\r\n"
                return t

            sub, pub = dial(), dial()
            sub.sendall(b"SUB bench.conns.7 1\r\nPING\r\n")
            assert sub.recv(64) == b"PONG\r\n"
            pub.sendall(b"PUB bench.conns.7 5\r\nhello\r\n")
            got = b""
            while not got.endswith(b"hello\r\n"):
                chunk = sub.recv(256)
                assert chunk, got
                got += chunk
            assert got == b"MSG bench.conns.7 1 5\r\nhello\r\n", got
            sub.close()
            pub.close()
        finally:
            p.kill()
            p.wait()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_bench_accounts():
    tool = _path("GNATSD_BENCH", "build/gnatsd-bench")
    p = subprocess.run([tool, "accounts", "--accounts", "5", "--write-config", "-"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
    assert p.returncode == 0, p.stderr
    conf = p.stdout.decode()
    assert "A4: { users: [ {user: a4, password: a4} ]" in conf, conf
    with _server(conf) as s:
        r = _bench(s, "accounts", "--accounts", "5", "--acc-conns", "4", "-n", "2", "-m", "500",
                   "-z", "16", "--pid", str(s.proc.pid), timeout=50)
        _no_loss(r["conns"], 20)
        assert r["conns"]["accounts"] == 5 and r["conns"]["rss_kb_per_account"] != 0, r["conns"]
        _no_loss(r["req"], 500)
        assert r["req"]["latency_us"]["p50"] > 0, r["req"]
        # isolation: each account's 3 other connections got its one message, nothing else
        assert r["sub"]["msgs"] == r["sub"]["expected"] == 15 and r["sub"]["extra"] == 0, r["sub"]
    # every user in one account: each subscriber sees all 5 messages, and the tool says so
    one = "accounts { ALL: { users: [ {user: svc, password: svc}, %s ] } }\n" % ", ".join(
        "{user: a%d, password: a%d}" % (i, i) for i in range(5))
    with _server(one) as s:
        r = _bench(s, "accounts", "--accounts", "5", "--acc-conns", "4", "-n", "2", "-m", "100",
                   "-z", "16", expect_rc=1, timeout=50)
        assert r["sub"]["extra"] == 60, r["sub"]
