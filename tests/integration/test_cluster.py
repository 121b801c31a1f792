"""Clustering: full-mesh routes between our servers, and a mixed cluster with
the reference nats-server as a real peer (routes.md)."""

import os
import signal
import time

from harness import Server, connected, free_port, http_json, wait_until

REFERENCE = "/usr/sbin/nats-server"
TIMEOUTS = {"test_mixed_cluster_with_reference": 40, "test_reload_adds_and_removes_route": 40}


def _cluster_conf(cport, name="c1", routes=(), extra=""):
    """(No system account: these tests count the clients' interest over the routes.)"""
    r = ", ".join('"nats://127.0.0.1:%d"' % p for p in routes)
    return ("no_sys_acc: true\ncluster {\n  listen: 127.0.0.1:%d\n  name: %s\n  routes: [%s]\n}\n%s"
            % (cport, name, r, extra))


def _routes(s):
    return http_json(s.mport, "/varz")["routes"]


def _wait_routes(servers, n, timeout=10):
    for s in servers:
        wait_until(lambda: _routes(s) == n, timeout, what="%d routes on :%d" % (n, s.port))


def _gsubs(s):
    """Subscriptions of the global account (the system account holds the server's own)."""
    return http_json(s.mport, "/subsz?acc=$G")["num_subscriptions"]


def _wait_interest(s, subs, timeout=5):
    wait_until(lambda: _gsubs(s) >= subs, timeout,
               what="%d subscriptions on :%d" % (subs, s.port))


def _pair(bin_b=None):
    ca, cb = free_port(), free_port()
    a = Server(config=_cluster_conf(ca), monitor=True)
    b = Server(config=_cluster_conf(cb, routes=[ca]), monitor=True)
    if bin_b:
        b.bin = bin_b
    return a, b


def test_two_node_pubsub_and_queue():
    a, b = _pair()
    with a, b:
        _wait_routes([a, b], 1)
        sub = connected(b)
        sub.send(b"SUB foo 1\r\nSUB work q 2\r\nPING\r\n")
        sub.expect(b"PONG\r\n")
        _wait_interest(a, 2)
        pub = connected(a)
        pub.send(b"PUB foo reply 5\r\nhello\r\n")
        for i in range(20):
            pub.send(b"PUB work 1\r\n%d\r\n" % (i % 10))
        pub.ping_pong()
        assert sub.read_msgs(1)[0] == (b"foo", b"1", b"reply", b"hello")
        got = sub.read_msgs(20)
        assert len(got) == 20 and all(m[0] == b"work" for m in got)
        # one hop: a message that came over the route is not sent back
        sub.expect_nothing(0.3)


def test_route_interest_removed_on_unsub_and_close():
    a, b = _pair()
    with a, b:
        _wait_routes([a, b], 1)
        sub = connected(b)
        sub.send(b"SUB x.* 1\r\nPING\r\n")
        sub.expect(b"PONG\r\n")
        _wait_interest(a, 1)
        sub.send(b"UNSUB 1\r\nPING\r\n")
        sub.expect(b"PONG\r\n")
        wait_until(lambda: _gsubs(a) == 0, 5,
                   what="remote interest dropped")
        sub.send(b"SUB y 2\r\nPING\r\n")
        sub.expect(b"PONG\r\n")
        _wait_interest(a, 1)
        sub.close()
        wait_until(lambda: _gsubs(a) == 0, 5,
                   what="interest dropped on close")


def test_mixed_cluster_with_reference():
    if not os.path.exists(REFERENCE):
        raise AssertionError("reference nats-server not installed at %s" % REFERENCE)
    a, b = _pair(bin_b=REFERENCE)
    with a, b:
        _wait_routes([a, b], 1)
        # reference subscriber, our publisher
        ref_sub = connected(b)
        ref_sub.send(b"SUB to.ref 1\r\nSUB q.* grp 2\r\nPING\r\n")
        ref_sub.expect(b"PONG\r\n")
        our_sub = connected(a)
        our_sub.send(b"SUB to.us 1\r\nSUB q.* grp 2\r\nPING\r\n")
        our_sub.expect(b"PONG\r\n")
        wait_until(lambda: http_json(a.mport, "/subsz")["num_subscriptions"] >= 4, 5,
                   what="reference interest on our server")
        pub_a = connected(a)
        pub_b = connected(b)
        pub_a.send(b"PUB to.ref 2\r\nab\r\n")
        pub_b.send(b"PUB to.us 2\r\ncd\r\n")
        pub_a.ping_pong()
        pub_b.ping_pong()
        assert ref_sub.read_msgs(1)[0][3] == b"ab"
        assert our_sub.read_msgs(1)[0][3] == b"cd"
        # queue group spread over both servers: every message exactly once in total
        n = 200
        for i in range(n):
            pub_a.send(b"PUB q.x 1\r\nz\r\n")
        pub_a.ping_pong()
        # count until all n arrived (bounded), then a little longer for duplicates
        got = {"ref": b"", "us": b""}
        deadline = time.monotonic() + 10

        def count(k):
            return got[k].count(b"MSG ")
        while count("ref") + count("us") < n and time.monotonic() < deadline:
            got["ref"] += ref_sub.read_for(0.1)
            got["us"] += our_sub.read_for(0.1)
        got["ref"] += ref_sub.read_for(0.2)
        got["us"] += our_sub.read_for(0.2)
        got_ref, got_us = count("ref"), count("us")
        assert got_ref + got_us == n, (got_ref, got_us)
        assert got_ref > 0 and got_us > 0, (got_ref, got_us)
        # headers cross the route as HMSG
        hsub = connected(b, headers=True)
        hsub.send(b"SUB h 9\r\nPING\r\n")
        hsub.expect(b"PONG\r\n")
        wait_until(lambda: http_json(a.mport, "/subsz")["num_subscriptions"] >= 5, 5,
                   what="header sub interest")
        hpub = connected(a, headers=True)
        hpub.send(b"HPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n")
        hpub.expect(b"PONG\r\n")
        hsub.expect(b"HMSG h 9 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")


def test_reload_adds_and_removes_route():
    ca, cb = free_port(), free_port()
    with Server(config=_cluster_conf(cb), monitor=True) as b, \
            Server(config=_cluster_conf(ca), monitor=True) as a:
        assert _routes(a) == 0
        text = open(a.conf_path).read()
        with open(a.conf_path, "w") as f:
            f.write(text.replace("routes: []", 'routes: ["nats://127.0.0.1:%d"]' % cb))
        a.signal(signal.SIGHUP)
        _wait_routes([a, b], 1)
        a.wait_log(r"Reloaded: cluster routes")
        with open(a.conf_path, "w") as f:
            f.write(text)
        a.signal(signal.SIGHUP)
        a.wait_log(r"Removed route nats://127\.0\.0\.1:%d" % cb)
        wait_until(lambda: _routes(a) == 0, 5, what="route removed")
