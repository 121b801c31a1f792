"""Adversarial tests for the cluster side (issue #11): what a route peer, a
gossiped INFO and a shutdown can make the server do. One test per finding,
test_fN_<what>; each failed against the server before its fix."""

import json
import os
import signal
import socket
import time

from harness import (Client, Server, connected, free_port, http_get, http_json, server_bin,
                     wait_until)

TIMEOUTS = {"test_f2_deep_subject_from_route_and_client": 60}


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


def _is_reference():
    return os.path.basename(server_bin()) == "nats-server"


def test_f19_no_info_update_while_shutting_down():
    """Clients (protocol 1) of A see B in connect_urls; A gets SIGTERM. Every
    INFO a client receives until its connection closes must still list B
    (the reference sends no INFO once shutting down). Before the fix, routes
    closing before the clients sent each client an INFO without B, and
    libnats then dropped B from its pool and never reconnected. Many workers
    and clients make the route-first close order near certain."""
    workers = [] if _is_reference() else ["--workers", "8"]
    for _ in range(2):
        ca, cb = free_port(), free_port()
        a = Server(config=_cluster_conf(ca), args=workers)
        b = Server(config=_cluster_conf(cb, routes=[ca]), monitor=True)
        with a, b:
            wait_until(lambda: http_json(b.mport, "/varz")["routes"] == 1, 10, what="route up")
            burl = "127.0.0.1:%d" % b.port
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
