"""Adversarial tests for the cluster side (issue #11): what a route peer, a
gossiped INFO and a shutdown can make the server do. One test per finding,
test_fN_<what>; each failed against the server before its fix."""

import contextlib
import json
import os
import re
import select
import signal
import socket
import time

from harness import (Client, Server, connected, free_port, http_get, http_json, is_reference,
                     server_bin, wait_until)

# generous: the sanitizer builds run these too, on loaded machines
TIMEOUTS = {"test_f2_deep_subject_from_route_and_client": 90,
            "test_f10_gossip_dialers_bounded": 90,
            "test_f10_gossip_dialer_reaped_and_one_per_url": 90,
            "test_f18_connect_and_reconnect_error_reports": 60,
            "test_f19_no_info_update_while_shutting_down": 60}


def _route_conn(cport, name="XXXXXXXXXXXXXXXXXXXXXX", cluster="c1"):
    """A raw route peer: connected, CONNECT sent, the server's INFO read."""
    r = Client(cport, read_info=True)
    r.send(b"CONNECT " + json.dumps({
        "echo": True, "verbose": False, "pedantic": False, "tls_required": False,
        "headers": True, "name": name, "cluster": cluster}).encode() + b"\r\n")
    return r


def _route_info(r, sid, port=4248, extra=None):
    """Our INFO as a route peer (registers the route)."""
    info = {"server_id": sid, "server_name": sid, "host": "127.0.0.1", "port": port,
            "headers": True, "cluster": "c1", "version": "2.9.10", "proto": 1}
    if extra:
        info.update(extra)
    r.send(b"INFO " + json.dumps(info).encode() + b"\r\n")


def _deep(ntok, tok):
    return b".".join([tok] * ntok)


# ---- finding 2: a subject deep enough to exhaust the stack in matching ----------------

def test_f2_deep_subject_from_route_and_client():
    n = 400000
    cport = free_port()
    conf = "max_control_line: 8MB\ncluster { listen: 127.0.0.1:%d\n name: c1 }\n" % cport
    with Server(config=conf, monitor=True) as s:
        stars, lit = _deep(n, b"*"), _deep(n, b"a")
        # a client with a large max_control_line holds a deep wildcard subscription
        sub = connected(s)
        sub.send(b"SUB " + stars + b" 1\r\n")
        sub.ping_pong(timeout=20)
        # the route peer of the finding: deep RS+, then a deep RMSG
        r = _route_conn(cport)
        _route_info(r, "NROUTEPEERF2")
        r.send(b"RS+ $G " + stars + b"\r\nRMSG $G " + lit + b" 2\r\nhi\r\nPING\r\n")
        try:
            r.expect_re(rb".*PONG\r\n", timeout=20)
            routed = True
        except AssertionError:
            # a line bound may close the route instead; the server must live on
            routed = False
        assert s.alive(), "server died on a deep route subject"
        pub = connected(s)
        pub.send(b"PUB " + lit + b" 5\r\nhello\r\n")
        pub.ping_pong(timeout=20)
        got = [m[3] for m in sub.read_msgs(2 if routed else 1, timeout=20)]
        assert sorted(got) == sorted([b"hi", b"hello"] if routed else [b"hello"]), got
        # walks of the whole index: /subsz with the list, and the free at shutdown
        status, _, body = http_get(s.mport, "/subsz?subs=1", timeout=20)
        assert status == 200 and json.loads(body)["num_subscriptions"] >= 1
        assert s.alive()
        r.close()
        sub.close()
        pub.close()
        s.signal(signal.SIGINT)  # exit 0 (SIGTERM exits 1, as in the reference)
        rc = s.wait_exit(10)
        assert rc == 0, "exit status %r after SIGINT with a deep subscription" % rc


# ---- finding 19: the last INFO before shutdown must not drop the other members --------

def _cluster_conf(cport, routes=(), extra=""):
    r = ", ".join('"nats://127.0.0.1:%d"' % p for p in routes)
    return "cluster {\n  listen: 127.0.0.1:%d\n  name: c1\n  routes: [%s]\n}\n%s" % (cport, r, extra)




def _lists(port, url):
    with Client(port) as c:
        return url in c.info.get("connect_urls", [])


def test_f19_no_info_update_while_shutting_down():
    """Clients (protocol 1) of A see B in connect_urls; A gets SIGTERM. Every
    INFO a client receives until its connection closes must still list B
    (the reference sends no INFO once shutting down). Before the fix, routes
    closing before the clients sent each client an INFO without B, and
    libnats then dropped B from its pool and never reconnected. Many workers
    and clients make the route-first close order near certain."""
    workers = [] if is_reference() else ["--workers", "8"]
    for _ in range(2):
        ca, cb = free_port(), free_port()
        a = Server(config=_cluster_conf(ca), args=workers)
        b = Server(config=_cluster_conf(cb, routes=[ca]), monitor=True)
        with a, b:
            wait_until(lambda: http_json(b.mport, "/varz")["routes"] == 1, 10, what="route up")
            burl = "127.0.0.1:%d" % b.port
            # B counts the route before A has read B's INFO (under TSan in CI a client of
            # A connected in between got no connect_urls): wait until A lists B.
            wait_until(lambda: _lists(a.port, burl), 10, what="A's INFO lists B")
            clients = []
            for _ in range(16):
                c = Client(a.port)
                c.connect(protocol=1)
                c.send(b"PING\r\n")
                clients.append(c)
            for c in clients:
                c.expect(b"PONG\r\n")
                assert burl in c.info.get("connect_urls", []), c.info
            a.signal(signal.SIGTERM)
            for c in clients:
                got = c.read_for(10)  # until the server closes it
                assert c.closed, "client still connected 10 s after SIGTERM"
                for line in got.split(b"\r\n"):
                    if line.startswith(b"INFO "):
                        urls = json.loads(line[5:]).get("connect_urls", [])
                        assert burl in urls, "INFO during shutdown dropped B: %r" % line
                c.close()
            assert a.wait_exit(10) is not None


# ---- finding 10: gossip starts dialers ------------------------------------------------

def _proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (key, pid))


def _gossip_line(sid, port, extra=b""):
    """An INFO about another server (not the peer itself): gossip for an implicit route."""
    return (b'INFO {"server_id":"%s","host":"127.0.0.1","port":%d,'
            b'"ip":"nats-route://127.0.0.1:%d/","cluster":"c1"%s}\r\n'
            % (sid.encode(), port, port, extra))


def _gossip(r, sid, port, extra=b""):
    r.send(_gossip_line(sid, port, extra))


def _sync(r, timeout=20):
    r.send(b"PING\r\n")
    r.expect_re(rb".*?PONG\r\n", timeout)


@contextlib.contextmanager
def _gossip_peer(name, cluster_extra=""):
    """A server with a cluster port and a raw route peer `name` connected to it
    (INFO exchanged, synced): (server, peer)."""
    cport = free_port()
    conf = "cluster { listen: 127.0.0.1:%d\n name: c1\n %s }\n" % (cport, cluster_extra)
    with Server(config=conf) as s:
        r = _route_conn(cport, name=name)
        _route_info(r, name)
        _sync(r)
        yield s, r


def test_f10_gossip_dialers_bounded():
    """A route peer gossips 600 servers at closed ports. Each used to start a
    thread (alive for connect_retries seconds, joined only at shutdown): 600
    threads. Now at most MAX_IMPLICIT_DIALERS (256) implicit dialers run, and a
    warning says gossip was dropped."""
    with _gossip_peer("NPEERF10", "connect_retries: 30") as (s, r):
        before = _proc_status(s.proc.pid, "Threads:")
        ports = set()
        while len(ports) < 600:
            ports.add(free_port())
        for i, p in enumerate(sorted(ports)):
            _gossip(r, "NGOSSIP%d" % i, p)
        _sync(r, 60)  # 256 dialer threads start meanwhile (slow under TSan on a busy machine)
        grown = _proc_status(s.proc.pid, "Threads:") - before
        assert grown <= 256, "%d threads started for 600 gossiped URLs" % grown
        s.wait_log(r"\[WRN\] Not connecting to gossiped route .*: 256 implicit route dialers")
        assert s.alive()


def test_f10_gossip_dialer_reaped_and_one_per_url():
    """The same unreachable URL gossiped again after its dialer gave up (and
    gossiped twice while one is running): one dialer at a time, and ended
    dialers are reaped (their stacks used to stay mapped until shutdown)."""
    with _gossip_peer("NPEERF10B") as (s, r):
        vm0 = _proc_status(s.proc.pid, "VmSize:")
        p = free_port()
        def dials():
            return s.log().count("Error trying to connect to route")
        regossips = 0
        for i in range(60):
            # the same URL twice in one write, the second while its dialer runs: no
            # second one (in two writes, a busy machine may let the first dialer's
            # refused dial end before the second is read: then a new dialer is right)
            r.send(_gossip_line("NGOSSIP", p) * 2)
            # a gossip that arrives while the previous round's dialer is still being
            # reaped is ignored (one dialer per URL): gossip again until this round dials
            deadline = time.monotonic() + 20
            while dials() <= i and time.monotonic() < deadline:
                try:
                    wait_until(lambda: dials() > i, 1, what="dial")
                except AssertionError:
                    _gossip(r, "NGOSSIP", p)
                    regossips += 1
            assert dials() > i, "dial attempt %d never came" % (i + 1)
        _sync(r)
        # connect_retries 0: one attempt per dialer, one dialer per URL at a time (a
        # re-gossip that crosses a finishing dial may add one: on a busy machine there
        # are more of them; a dialer per gossip would have made 120 and more)
        assert dials() <= 60 + regossips + 6, (dials(), regossips)
        grown_mb = (_proc_status(s.proc.pid, "VmSize:") - vm0) / 1024
        assert grown_mb < 200, "address space grew %d MiB over 60 finished dialers" % grown_mb


class _FakeRoute:
    """A listener standing in for a gossiped server: returns the CONNECT it is sent."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]

    def connect_json(self, timeout=10):
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        conn.settimeout(timeout)
        data = b""
        deadline = time.monotonic() + timeout
        while b"\r\n" not in data and time.monotonic() < deadline:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        conn.close()
        line = data.split(b"\r\n")[0]
        assert line.startswith(b"CONNECT "), "not a CONNECT: %r" % data[:200]
        return json.loads(line[8:])

    def close(self):
        self.sock.close()


def test_f10_implicit_route_credentials_only_when_auth_required():
    """As the reference (route.go processImplicitRoute): an implicit route
    carries the cluster authorization's user/password only when the gossiped
    INFO says auth_required; otherwise no credentials go to the gossiped URL."""
    cport = free_port()
    conf = ("cluster { listen: 127.0.0.1:%d\n name: c1\n"
            " authorization { user: ruser, password: rsecret } }\n" % cport)
    with Server(config=conf) as s:
        r = Client(cport)
        r.send(b"CONNECT " + json.dumps({
            "echo": True, "verbose": False, "pedantic": False, "tls_required": False,
            "headers": True, "name": "NPEERF10C", "cluster": "c1", "user": "ruser",
            "pass": "rsecret"}).encode() + b"\r\n")
        _route_info(r, "NPEERF10C")
        _sync(r)
        open_l, auth_l = _FakeRoute(), _FakeRoute()
        try:
            _gossip(r, "NOPEN", open_l.port)
            got = open_l.connect_json()
            assert "user" not in got and "pass" not in got, \
                "credentials sent to a gossiped URL that did not ask: %r" % got
            _gossip(r, "NAUTH", auth_l.port, b',"auth_required":true')
            got = auth_l.connect_json()
            assert got.get("user") == "ruser" and got.get("pass") == "rsecret", got
        finally:
            open_l.close()
            auth_l.close()
        assert s.alive()


# ---- finding 18 (part): connect_error_reports / reconnect_error_reports ------------------

def test_f18_connect_and_reconnect_error_reports():
    """With connect_error_reports: 2 a route that never came up logs attempts 1, 2, 4 at
    error level and 3 at debug; after a route was up and dropped,
    reconnect_error_reports: 2 does the same for the reconnect attempts (the
    default 1 logs every one). These were hard-coded to 3600 and 1."""
    dead = free_port()
    conf = ("debug: true\nconnect_error_reports: 2\n"
            "cluster { listen: 127.0.0.1:%d\n name: c1\n routes: [\"nats://127.0.0.1:%d\"] }\n"
            % (free_port(), dead))
    with Server(config=conf) as s:
        s.wait_log(r"Error trying to connect to route \(attempt 4\)", timeout=15)
        log = s.log()
        for n, lvl in ((1, "ERR"), (2, "ERR"), (3, "DBG"), (4, "ERR")):
            assert re.search(r"\[%s\] Error trying to connect to route \(attempt %d\)" % (lvl, n),
                             log), "attempt %d not at %s:\n%s" % (n, lvl, s.log_tail(12))
    cb = free_port()
    b = Server(config=_cluster_conf(cb))
    a = Server(config=_cluster_conf(free_port(), routes=[cb],
                                    extra="debug: true\nreconnect_error_reports: 2\n"),
               monitor=True)
    with b, a:
        wait_until(lambda: http_json(a.mport, "/varz")["routes"] == 1, 10, what="route up")
        b.stop()
        a.wait_log(r"Error trying to connect to route \(attempt 3\)", timeout=15)
        log = a.log()
        for n, lvl in ((1, "ERR"), (2, "ERR"), (3, "DBG")):
            assert re.search(r"\[%s\] Error trying to connect to route \(attempt %d\)" % (lvl, n),
                             log), "reconnect attempt %d not at %s:\n%s" % (n, lvl, a.log_tail(12))


# ---- found by tests/fuzz/fuzz_route.c: a FIN that arrives with the last bytes -----------

def _not_closed_by_server(socks, timeout):
    """Names of the sockets the server has not closed within one shared deadline."""
    pending = dict(socks)
    for sk in pending.values():
        sk.setblocking(False)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        ready, _, _ = select.select(list(pending.values()), [], [], 0.2)
        for sk in ready:
            try:
                data = sk.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                pending = {k: v for k, v in pending.items() if v is not sk}
    return sorted(pending)


def test_fuzz_route_eof_with_last_bytes_closes():
    """A peer that sends its last bytes and shuts down its write side: the
    server must close the connection (as the reference does). When the FIN
    came in the same epoll edge as the data, a short read ended the read and
    no new edge ever came, so the connection stayed open until the ping
    timer. Routes (where the fuzzer found it) and clients share the path."""
    cport = free_port()
    with Server(config="cluster { listen: 127.0.0.1:%d\n name: c1 }\n" % cport) as s:
        socks = []
        for i in range(40):
            c = socket.create_connection(("127.0.0.1", s.port))
            c.recv(4096)  # INFO
            c.sendall(b'CONNECT {"verbose":false}\r\nPUB foo 2\r\nhi\r\n'
                      if i % 2 else b'CONNECT {"verbose":false}\r\n')
            c.shutdown(socket.SHUT_WR)
            socks.append(("client %d" % i, c))
        for i in range(40):
            r = socket.create_connection(("127.0.0.1", cport))
            r.sendall(b'CONNECT {"echo":true,"verbose":false,"pedantic":false,"headers":true,'
                      b'"name":"NEOF%d","cluster":"c1"}\r\nRS- $G foo\r\nPONG\r\n' % i)
            r.shutdown(socket.SHUT_WR)
            socks.append(("route %d" % i, r))
        open_ = _not_closed_by_server(socks, 5)
        for _, sk in socks:
            sk.close()
        assert not open_, "still open 5 s after the peer's FIN: %s" % ", ".join(open_)
