"""Adversarial tests for the cluster side (issue #11): what a route peer, a
gossiped INFO and a shutdown can make the server do. One test per finding,
test_fN_<what>; each failed against the server before its fix."""

import json
import signal
import socket
import time

from harness import Client, Server, connected, free_port, http_get, wait_until

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
