"""Leaf nodes (docs/leafnodes.md): the hub side seen through a raw leaf socket, and
real pairs on loopback in every mix (gnatsd hub with a nats-server leaf, a
nats-server hub with a gnatsd leaf, gnatsd with gnatsd): messages both ways, queue
groups, request/reply, account binding, authentication, reconnection, routes,
monitoring. Every test also runs against the reference alone (GNATSD_BIN =
/usr/sbin/nats-server), except the refusal of keys this server does not build."""

import json
import os
import re
import signal
import subprocess

from harness import (Client, Server, connected, free_port, http_json, is_reference, make_test_ca,
                     recv_until_close, server_bin, wait_port, wait_until)

REFERENCE = "/usr/sbin/nats-server"
TIMEOUTS = {"test_leaf_reconnects_after_hub_restart": 45, "test_leaf_with_hub_cluster": 45,
            "test_leaf_pairs_every_mix": 60}


def _hub(lport, extra="", bin_=None):
    s = Server(config="leafnodes {\n  listen: 127.0.0.1:%d\n%s}\n" % (lport, extra),
               monitor=True)
    if bin_:
        s.bin = bin_
    return s


def _leaf(lport, url_user="", account=None, extra="", bin_=None):
    acc = ", account: %s" % account if account else ""
    s = Server(config=("leafnodes {\n  reconnect: 1\n  remotes: [ {url: \"nats://%s127.0.0.1:%d\"%s} ]\n}\n%s"
                       % (url_user, lport, acc, extra)), monitor=True)
    if bin_:
        s.bin = bin_
    return s


def _nleafs(s):
    return http_json(s.mport, "/varz")["leafnodes"]


def _wait_leafs(s, n, timeout=10):
    def count():  # a monitor that does not answer this time (a slow sanitizer build) is asked again
        try:
            return _nleafs(s)
        except OSError:
            return None
    wait_until(lambda: count() == n, timeout, what="%d leaf connections on :%d" % (n, s.port))


def _leaf_subs(s):
    subs = []
    for l in http_json(s.mport, "/leafz?subs=1")["leafs"] or []:
        subs += l.get("subscriptions_list") or []
    return subs


def _wait_leaf_sub(s, subject, present=True, timeout=5):
    wait_until(lambda: (subject in _leaf_subs(s)) == present, timeout,
               what="%s %s in /leafz of :%d" % (subject, "listed" if present else "gone", s.port))


def _raw_leaf(lport):
    """A raw leaf connection: INFO read, CONNECT sent, the hub's answer INFO read."""
    c = Client(lport)
    assert c.info["auth_required"] is True and c.info["headers"] is True, c.info
    assert c.info["info_on_connect"] is True and c.info["leafnode_urls"], c.info
    assert c.info["client_id"] > 0 and c.info["nonce"], c.info
    c.send(b"CONNECT {}\r\n")
    info = json.loads(c.expect_re(rb"INFO ([^\r\n]*) \r\n").group(1))
    assert info["connect_info"] is True and info["remote_account"] == "$G", info
    assert "nonce" not in info, info
    return c


def _lsubs(c, n):
    """The next n LS+ lines (keys with their weights), in any order."""
    got = []
    for _ in range(n):
        got.append(c.expect_re(rb"LS\+ ([^\r\n]+)\r\n").group(1).decode())
    return sorted(got)


def test_leaf_info_connect_and_count():
    lport = free_port()
    with _hub(lport, extra="", bin_=None) as s:
        c = _raw_leaf(lport)
        # the loop detection subject is part of the account's interest
        assert re.search(rb"LS\+ \$LDS\.[A-Za-z0-9]+\r\n", c.sync())
        _wait_leafs(s, 1)
        c.close()
        _wait_leafs(s, 0)


def test_leaf_sends_interest_after_connect_and_ongoing():
    lport = free_port()
    with Server(config="no_sys_acc: true\nleafnodes { listen: 127.0.0.1:%d }\n" % lport,
                monitor=True) as s:
        cl = connected(s)
        cl.send(b"SUB foo 1\r\nSUB bar 2\r\nSUB foo baz 3\r\nSUB foo baz 4\r\nSUB bar 5\r\n")
        cl.ping_pong()
        c = _raw_leaf(lport)
        subs = _lsubs(c, 4)
        assert [x for x in subs if not x.startswith("$LDS.")] == ["bar", "foo", "foo baz 2"], subs
        c.ping_pong()
        # a plain subject: LS+ at the first sub, LS- at the last; a queue: every change
        cl.send(b"SUB x 6\r\n")
        assert c.expect_re(rb"LS\+ ([^\r\n]+)\r\n").group(1) == b"x"
        cl.send(b"SUB x 7\r\n")
        cl.ping_pong()
        c.expect_nothing(0.3)
        cl.send(b"SUB x q 8\r\nSUB x q 9\r\n")
        assert c.expect_re(rb"LS\+ ([^\r\n]+)\r\n").group(1) == b"x q 1"
        assert c.expect_re(rb"LS\+ ([^\r\n]+)\r\n").group(1) == b"x q 2"
        cl.send(b"UNSUB 6\r\n")
        cl.ping_pong()
        c.expect_nothing(0.3)
        cl.send(b"UNSUB 7\r\n")
        assert c.expect_re(rb"LS- ([^\r\n]+)\r\n").group(1) == b"x"
        cl.send(b"UNSUB 8\r\n")
        assert c.expect_re(rb"LS\+ ([^\r\n]+)\r\n").group(1) == b"x q 1"
        cl.send(b"UNSUB 9\r\n")
        assert c.expect_re(rb"LS- ([^\r\n]+)\r\n").group(1) == b"x q"


def test_leaf_messages_raw():
    lport = free_port()
    with Server(config="no_sys_acc: true\nleafnodes { listen: 127.0.0.1:%d }\n" % lport,
                monitor=True) as s:
        c = _raw_leaf(lport)
        _lsubs(c, 1)
        c.send(b"LS+ foo\r\nLS+ work grp 3\r\n")
        c.ping_pong()
        cl = connected(s)
        cl.send(b"SUB bar 1\r\nSUB work grp 2\r\n")
        cl.ping_pong()
        assert _lsubs(c, 2) == ["bar", "work grp 1"]
        # a client's message goes to the leaf's interest, with the reply
        cl.send(b"PUB foo r.1 5\r\nhello\r\n")
        c.expect(b"LMSG foo r.1 5\r\nhello\r\n")
        # the leaf's message reaches the client, not back to the leaf
        c.send(b"LS+ bar\r\nLMSG bar 2\r\nhi\r\n")
        assert cl.read_msgs(1)[0] == (b"bar", b"1", None, b"hi")
        c.ping_pong()
        c.expect_nothing(0.3)
        # a plain LMSG does not reach a queue group; one naming the group does
        c.send(b"LMSG work 1\r\na\r\nLMSG work | grp 1\r\nb\r\nLMSG work + r grp 1\r\nc\r\n")
        got = cl.read_msgs(2)
        assert [m[3] for m in got] == [b"b", b"c"] and got[1][2] == b"r", got
        # a queue group with local members keeps the message local (the leaf is the fallback)
        for _ in range(10):
            cl.send(b"PUB work 1\r\nw\r\n")
        assert len(cl.read_msgs(10)) == 10
        c.ping_pong()
        c.expect_nothing(0.2)
        # without local members the leaf gets it, naming the group
        cl.send(b"UNSUB 2\r\nPUB work 1\r\nz\r\n")
        c.expect_re(rb"LS- work grp\r\n")
        c.expect(b"LMSG work | grp 1\r\nz\r\n")


def test_leaf_header_messages():
    lport = free_port()
    with Server(config="no_sys_acc: true\nleafnodes { listen: 127.0.0.1:%d }\n" % lport,
                monitor=True) as s:
        c = Client(lport)
        c.send(b'CONNECT {"headers":true}\r\n')
        c.expect_re(rb"INFO [^\r\n]*\r\n")
        _lsubs(c, 1)
        c.send(b"LS+ h\r\n")
        c.ping_pong()
        cl = connected(s, headers=True)
        cl.send(b"HPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")
        c.expect(b"HMSG h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")
        cl.send(b"SUB g 1\r\n")
        cl.ping_pong()
        c.expect(b"LS+ g\r\n")
        c.send(b"HMSG g 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")
        cl.expect(b"HMSG g 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")


def test_leaf_auth_timeout_and_violation():
    lport = free_port()
    with _hub(lport, extra="  authorization { user: lu, password: lp, timeout: 1 }\n") as s:
        c = Client(lport)
        c.expect(b"-ERR 'Authentication Timeout'\r\n", timeout=5)
        c.expect_closed()
        c = Client(lport)
        c.send(b'CONNECT {"user":"lu","pass":"bad"}\r\n')
        c.expect(b"-ERR 'Authorization Violation'\r\n")
        c.expect_closed()
        c = Client(lport)
        c.send(b'CONNECT {"user":"lu","pass":"lp"}\r\n')
        c.expect_re(rb'INFO [^\r\n]*"connect_info":true')
        _wait_leafs(s, 1)
        # a client on the leafnode port: authenticated first
        c2 = Client(lport)
        c2.send(b'CONNECT {"lang":"python","verbose":false}\r\n')
        c2.expect(b"-ERR 'Authorization Violation'\r\n")
        c2.expect_closed()
    with _hub(lport):
        c2 = Client(lport)
        c2.send(b'CONNECT {"lang":"python","verbose":false}\r\n')
        c2.expect(b"-ERR 'attempted to connect to leaf node port'\r\n")
        c2.expect_closed()


def _pair_traffic(hub, leaf):
    """Both ways, queue groups and request/reply across a connected hub and leaf."""
    hc, lc = connected(hub), connected(leaf)
    lc.send(b"SUB on.leaf 1\r\nSUB svc 2\r\nSUB work w 3\r\n")
    lc.ping_pong()
    hc.send(b"SUB on.hub 1\r\nSUB _INBOX.x 2\r\n")
    hc.ping_pong()
    _wait_leaf_sub(hub, "on.leaf")
    _wait_leaf_sub(hub, "work")
    _wait_leaf_sub(leaf, "on.hub")
    hc.send(b"PUB on.leaf 3\r\nh2l\r\n")
    assert lc.read_msgs(1)[0] == (b"on.leaf", b"1", None, b"h2l")
    lc.send(b"PUB on.hub 3\r\nl2h\r\n")
    assert hc.read_msgs(1)[0] == (b"on.hub", b"1", None, b"l2h")
    # request on the hub, service on the leaf, answer back
    hc.send(b"PUB svc _INBOX.x 3\r\nreq\r\n")
    m = lc.read_msgs(1)[0]
    assert m[0] == b"svc" and m[2] == b"_INBOX.x" and m[3] == b"req", m
    lc.send(b"PUB _INBOX.x 3\r\nrep\r\n")
    assert hc.read_msgs(1)[0] == (b"_INBOX.x", b"2", None, b"rep")
    # the queue group's only member is on the leaf: every message gets there once
    for i in range(10):
        hc.send(b"PUB work 1\r\n%d\r\n" % i)
    got = lc.read_msgs(10)
    assert sorted(m[3] for m in got) == [b"%d" % i for i in range(10)], got
    lc.ping_pong()
    lc.expect_nothing(0.2)
    # unsubscribing on the leaf withdraws the interest on the hub
    lc.send(b"UNSUB 1\r\n")
    lc.ping_pong()
    _wait_leaf_sub(hub, "on.leaf", present=False)


def test_leaf_pairs_every_mix():
    _every_mix(lambda lport, bin_: _hub(lport, bin_=bin_), lambda lport, bin_: _leaf(lport, bin_=bin_))


def _every_mix(make_hub, make_leaf):
    """gnatsd hub with a nats-server leaf, the other way round, and gnatsd with gnatsd:
    connected both ways, then _pair_traffic."""
    me = server_bin()
    for hub_bin, leaf_bin in ((me, REFERENCE), (REFERENCE, me), (me, me)):
        lport = free_port()
        hub, leaf = make_hub(lport, hub_bin), make_leaf(lport, leaf_bin)
        with hub, leaf:
            _wait_leafs(hub, 1)
            _wait_leafs(leaf, 1)
            _pair_traffic(hub, leaf)


def test_leaf_account_binding():
    lport = free_port()
    accounts = "accounts {\n  A { users: [ {user: a, password: a} ] }\n  B { users: [ {user: b, password: b} ] }\n}\n"
    hub = Server(monitor=True, config=("%sleafnodes {\n  listen: 127.0.0.1:%d\n  authorization {\n"
                  "    users: [ {user: la, password: lp, account: A} ]\n  }\n}\n" % (accounts, lport)))
    leaf = _leaf(lport, url_user="la:lp@", account="L",
                 extra="accounts {\n  L { users: [ {user: l, password: l} ] }\n}\n")
    with hub, leaf:
        _wait_leafs(hub, 1)
        acc = [l["account"] for l in http_json(hub.mport, "/leafz")["leafs"]]
        assert acc == ["A"], acc
        assert [l["account"] for l in http_json(leaf.mport, "/leafz")["leafs"]] == ["L"]
        ha, hb = connected(hub, user="a", **{"pass": "a"}), connected(hub, user="b", **{"pass": "b"})
        ll = connected(leaf, user="l", **{"pass": "l"})
        ll.send(b"SUB t 1\r\n")
        ll.ping_pong()
        _wait_leaf_sub(hub, "t")
        hb.send(b"PUB t 1\r\nB\r\nPING\r\n")
        hb.expect(b"PONG\r\n")
        ha.send(b"PUB t 1\r\nA\r\n")
        assert ll.read_msgs(1)[0][3] == b"A"
        ll.ping_pong()
        ll.expect_nothing(0.3)
        st = http_json(hub.mport, "/accstatz?unused=1")["account_statz"]
        a = [x for x in st if x["acc"] == "A"][0]
        assert a["leafnodes"] == 1, a


def test_leaf_bad_credentials_never_connect():
    lport = free_port()
    hub = _hub(lport, extra="  authorization { user: lu, password: lp }\n")
    leaf = _leaf(lport, url_user="lu:wrong@")
    with hub, leaf:
        hub.wait_log(r"authentication error|Authorization Violation", timeout=10)
        leaf.wait_log(r"Authorization Violation", timeout=10)
        assert _nleafs(hub) == 0 and _nleafs(leaf) == 0


def test_leaf_reconnects_after_hub_restart():
    lport = free_port()
    hub = _hub(lport)
    leaf = _leaf(lport)
    with hub, leaf:
        _wait_leafs(leaf, 1)
        lc = connected(leaf)
        lc.send(b"SUB r 1\r\n")
        lc.ping_pong()
        _wait_leaf_sub(hub, "r")
        hub.stop()
        _wait_leafs(leaf, 0)
        hub.start()
        _wait_leafs(hub, 1, timeout=15)
        _wait_leaf_sub(hub, "r")
        hc = connected(hub)
        hc.send(b"PUB r 2\r\nok\r\n")
        assert lc.read_msgs(1)[0][3] == b"ok"


def test_leaf_with_hub_cluster():
    """A leaf on hub A, a client on hub B (each binary in turn): interest and messages cross
    the route, queue interest included."""
    me = server_bin()
    for bin_a, bin_b in ((me, me), (me, REFERENCE), (REFERENCE, me)):
        _leaf_with_hub_cluster(bin_a, bin_b)


def test_leaf_cluster_on_two_hubs_hears_no_echo():
    """A leaf cluster (l1, l2: cluster lc) with l1 on hub h1 and l2 on hub h2 (a hub
    cluster; each binary in turn for the hubs): interest and messages of lc that cross the
    hubs' route carry lc as their origin (LS+/LMSG), so lc does not hear its own interest
    back from the other hub, nor get its messages a second time through it. Before, l2
    heard l1's interest from h2, and a message from l2 reached l1 twice."""
    me = server_bin()
    for bin_1, bin_2 in ((me, me), (me, REFERENCE), (REFERENCE, me)):
        _leaf_cluster_on_two_hubs(bin_1, bin_2)


def _leaf_cluster_on_two_hubs(bin_1, bin_2):
    c1, c2, p1, p2, lc1 = free_port(), free_port(), free_port(), free_port(), free_port()
    hub = "no_sys_acc: true\ncluster {\n  listen: 127.0.0.1:%d\n  name: hc\n  routes: [%s]\n}\n" \
          "leafnodes { listen: 127.0.0.1:%d }\n"
    h1 = Server(config=hub % (c1, "", p1), monitor=True)
    h2 = Server(config=hub % (c2, '"nats://127.0.0.1:%d"' % c1, p2), monitor=True)
    h1.bin, h2.bin = bin_1, bin_2
    lcl = "no_sys_acc: true\ncluster { name: lc, listen: 127.0.0.1:%d%s }\n"
    l1 = _leaf(p1, extra=lcl % (lc1, ""))
    l2 = _leaf(p2, extra=lcl % (free_port(), ', routes: ["nats://127.0.0.1:%d"]' % lc1))
    with h1, h2, l1, l2:
        for s in (h1, h2, l1, l2):
            wait_until(lambda s=s: http_json(s.mport, "/varz")["routes"] == 1, 10, what="route")
        for s in (h1, h2, l1, l2):
            _wait_leafs(s, 1)
        a1, a2, b1 = connected(l1), connected(l2), connected(h1)
        a1.send(b"SUB sync 1\r\n")
        a1.ping_pong()
        _wait_leaf_sub(h1, "sync")
        # h1 tells h2 of l1's sync (with its origin) before of its own client's marker:
        # once l2 hears of the marker from h2, it would have heard of sync too
        b1.send(b"SUB marker 1\r\nSUB y 2\r\n")
        b1.ping_pong()
        _wait_leaf_sub(l2, "marker")
        assert "sync" not in _leaf_subs(l2), _leaf_subs(l2)
        # y: h1's client first (h2 hears of it without an origin, and so does l2), then l1
        _wait_leaf_sub(l2, "y")
        a1.send(b"SUB y 2\r\n")
        a1.ping_pong()
        _wait_leaf_sub(h1, "y")
        wait_until(lambda: any("y" in (r.get("subscriptions_list") or [])
                               for r in http_json(l2.mport, "/routez?subs=1")["routes"]), 5,
                   what="l1's y routed to l2")
        # y from l2: to l1 over lc's route, and to h1's client through h2; not to l1 again
        # through h1. h1's client answers on sync once it has y: h1 delivered y to l1 (if
        # it did) before, on the same connection.
        a2.send(b"PUB y 1\r\nm\r\n")
        assert b1.read_msgs(1)[0][0] == b"y"
        b1.send(b"PUB sync 1\r\ns\r\n")
        got = []
        while b"sync" not in got or b"y" not in got:
            got.append(a1.read_msgs(1)[0][0])
        assert got.count(b"y") == 1, got


def _leaf_with_hub_cluster(bin_a, bin_b):
    ca, cb, lport = free_port(), free_port(), free_port()
    cl = "cluster {\n  listen: 127.0.0.1:%d\n  name: hc\n  routes: [%s]\n}\n"
    a = Server(config="no_sys_acc: true\n" + cl % (ca, "") +
               "leafnodes { listen: 127.0.0.1:%d }\n" % lport, monitor=True)
    b = Server(config="no_sys_acc: true\n" + cl % (cb, '"nats://127.0.0.1:%d"' % ca),
               monitor=True)
    a.bin, b.bin = bin_a, bin_b
    # the leaf is clustered: a hub that knows our "lnoc" sends its interest and messages
    # over the route as LS+/LMSG with the leaf's cluster as origin
    leaf = _leaf(lport, extra="no_sys_acc: true\ncluster { name: lc, listen: 127.0.0.1:%d }\n"
                 % free_port())
    with a, b, leaf:
        wait_until(lambda: http_json(b.mport, "/varz")["routes"] == 1, 10, what="route")
        _wait_leafs(a, 1)
        bc, lc = connected(b), connected(leaf)
        lc.send(b"SUB from.b 1\r\n")
        lc.ping_pong()
        bc.send(b"SUB from.leaf 1\r\n")
        bc.ping_pong()
        _wait_leaf_sub(a, "from.b")
        _wait_leaf_sub(leaf, "from.leaf")
        wait_until(lambda: http_json(b.mport, "/subsz?acc=$G")["num_subscriptions"] >= 2, 5,
                   what="the leaf's interest routed to B")
        bc.send(b"PUB from.b 1\r\nx\r\n")
        assert lc.read_msgs(1)[0] == (b"from.b", b"1", None, b"x")
        lc.send(b"PUB from.leaf 1\r\ny\r\n")
        assert bc.read_msgs(1)[0] == (b"from.leaf", b"1", None, b"y")
        # a queue group whose only member is on the leaf: B's messages reach it once each
        lc.send(b"SUB work w 2\r\n")
        lc.ping_pong()
        # (a count is not enough: the leaf's loop detection subject may be the third)
        wait_until(lambda: any("work" in r.get("subscriptions_list", [])
                               for r in http_json(b.mport, "/routez?subs=1")["routes"]), 10,
                   what="the leaf's queue interest routed to B")
        for i in range(10):
            bc.send(b"PUB work 1\r\n%d\r\n" % i)
        got = lc.read_msgs(10)
        assert sorted(m[3] for m in got) == [b"%d" % i for i in range(10)], got
        lc.ping_pong()
        lc.expect_nothing(0.2)


def test_leafz_and_varz():
    lport = free_port()
    with _hub(lport) as s:
        v = http_json(s.mport, "/varz")
        assert v["leaf"]["port"] == lport and v["leaf"]["host"] == "127.0.0.1", v["leaf"]
        assert v["leaf"]["auth_timeout"] == 2 and v["leafnodes"] == 0, v["leaf"]
        z = http_json(s.mport, "/leafz")
        assert z["leafnodes"] == 0 and z["leafs"] is None, z
        c = _raw_leaf(lport)
        c.sync()  # the hub's interest
        c.send(b"LS+ a.b\r\nLS+ q.x grp 2\r\n")
        c.ping_pong()
        z = http_json(s.mport, "/leafz?subs=1")
        assert z["leafnodes"] == 1 and z["server_id"] == v["server_id"], z
        l = z["leafs"][0]
        assert set(l) >= {"account", "ip", "port", "rtt", "in_msgs", "out_msgs", "in_bytes",
                          "out_bytes", "subscriptions", "subscriptions_list"}, l
        assert l["account"] == "$G" and l["ip"] == "127.0.0.1" and l["subscriptions"] == 2, l
        assert sorted(l["subscriptions_list"]) == ["a.b", "q.x"], l
        assert "subscriptions_list" not in http_json(s.mport, "/leafz")["leafs"][0]
        assert http_json(s.mport, "/leafz?acc=nope")["leafnodes"] == 0


def test_leaf_loop_detected():
    """Two servers that are each other's leaf: the loop detection subject comes back."""
    pa, pb = free_port(), free_port()
    a = Server(config="leafnodes {\n  listen: 127.0.0.1:%d\n  reconnect: 1\n"
               "  remotes: [ {url: \"nats://127.0.0.1:%d\"} ]\n}\n" % (pa, pb), monitor=True)
    b = Server(config="leafnodes {\n  listen: 127.0.0.1:%d\n  reconnect: 1\n"
               "  remotes: [ {url: \"nats://127.0.0.1:%d\"} ]\n}\n" % (pb, pa), monitor=True)
    with a, b:
        a.wait_log(r"Loop detected for leafnode account=\"\$G\"", timeout=15)


def test_leaf_unsupported_keys_refused():
    if is_reference():
        return  # the reference builds them
    for conf, where in (("leafnodes {\n  port: -1\n  min_version: \"2.8.0\"\n}\n", ":3:3:"),
                        ("leafnodes {\n  remotes: [ { url: \"nats://127.0.0.1:1\", "
                         "hub: true } ]\n}\n", ":2:43:")):
        s = Server(config=conf, wait=False)
        s.start()
        rc = s.wait_exit(5)
        assert rc not in (None, 0), rc
        assert re.search(re.escape(where) + r" leafnode.* is not supported by this server",
                         s.log()), s.log()


def test_leaf_system_account_events_cross():
    """A remote bound to the system account: the leaf server's events reach the hub."""
    lport = free_port()
    accounts = ("system_account: SYS\naccounts {\n  SYS { users: [ {user: sys, password: sys} ] }\n"
                "  A { users: [ {user: a, password: a} ] }\n}\n")
    hub = Server(monitor=True, config=accounts + (
        "leafnodes {\n  listen: 127.0.0.1:%d\n  authorization { users: [ {user: ls, password: ls, "
        "account: SYS}, {user: la, password: la, account: A} ] }\n}\n" % lport))
    leaf = Server(monitor=True, config=accounts + (
        "leafnodes {\n  reconnect: 1\n  remotes: [ {url: \"nats://ls:ls@127.0.0.1:%d\", account: SYS},"
        " {url: \"nats://la:la@127.0.0.1:%d\", account: A} ]\n}\n" % (lport, lport)))
    with hub, leaf:
        _wait_leafs(hub, 2)
        _wait_leafs(leaf, 2)
        hs = connected(hub, user="sys", **{"pass": "sys"})
        hs.send(b"SUB $SYS.ACCOUNT.A.CONNECT 1\r\n")
        hs.ping_pong()
        _wait_leaf_sub(leaf, "$SYS.ACCOUNT.A.CONNECT")
        la = connected(leaf, user="a", **{"pass": "a"})
        m = hs.read_msgs(1)[0]
        assert m[0] == b"$SYS.ACCOUNT.A.CONNECT", m
        ev = json.loads(m[3])
        assert ev["type"] == "io.nats.server.advisory.v1.client_connect", ev
        assert ev["client"]["acc"] == "A", ev
        la.close()


def test_leaf_duplicate_replaces_old_connection():
    lport = free_port()
    with _hub(lport) as s:
        a = Client(lport)
        a.send(b'CONNECT {"name":"spoke1"}\r\n')
        a.expect_re(rb'INFO [^\r\n]*"connect_info":true')
        _wait_leafs(s, 1)
        b = Client(lport)
        b.send(b'CONNECT {"name":"spoke1"}\r\n')
        b.expect_re(rb'INFO [^\r\n]*"connect_info":true')
        got = a.buf + recv_until_close(a.sock)
        assert b"-ERR 'Duplicate Remote LeafNode Connection'\r\n" in got, got
        s.wait_log(r"Replacing connection from same server")
        _wait_leafs(s, 1)
        # another name is another leaf
        c = Client(lport)
        c.send(b'CONNECT {"name":"spoke2"}\r\n')
        c.expect_re(rb'INFO [^\r\n]*"connect_info":true')
        _wait_leafs(s, 2)


def test_two_leafs_through_one_hub():
    """Interest and messages from one leaf to another through their hub (either binary as
    one of the leafs), queue groups included: one member gets each message."""
    lport = free_port()
    hub = _hub(lport)
    l1 = _leaf(lport)
    l2 = _leaf(lport, bin_=REFERENCE if not is_reference() else None)
    with hub, l1, l2:
        _wait_leafs(hub, 2)
        c1, c2 = connected(l1), connected(l2)
        c1.send(b"SUB x.> 1\r\nSUB jobs grp 2\r\n")
        c1.ping_pong()
        c2.send(b"SUB jobs grp 1\r\n")
        c2.ping_pong()
        _wait_leaf_sub(l2, "x.>")
        c2.send(b"PUB x.y 2\r\nhi\r\n")
        assert c1.read_msgs(1)[0] == (b"x.y", b"1", None, b"hi")
        # a queue group with a member on each leaf: a hub publisher's messages go to one
        _wait_leaf_sub(hub, "jobs")
        hc = connected(hub)
        for i in range(20):
            hc.send(b"PUB jobs 1\r\n%d\r\n" % (i % 10))
        hc.ping_pong()
        counts = [0, 0]

        def all_in():
            for k, c in enumerate((c1, c2)):
                counts[k] += c.read_for(0.05).count(b"MSG jobs ")
            return sum(counts) >= 20
        wait_until(all_in, 10, what="20 queue messages on the two leafs")
        c1.ping_pong()
        c2.ping_pong()
        assert sum(counts) == 20, counts


def test_leaf_permissions_and_deny_lists():
    """A leaf logged in as a user with permissions (docs/leafnodes.md §4): the hub announces
    only what the user may publish to, the spoke only what the user may subscribe to (the
    hub's import/export) minus its remote's deny_imports; in every mix of binaries."""
    me = server_bin()
    for hub_bin, leaf_bin in ((me, me), (me, REFERENCE), (REFERENCE, me)):
        lport = free_port()
        hub = _hub(lport, bin_=hub_bin)
        hub.config = ("authorization { users: [ {user: lu, password: lp, permissions: "
                      "{ publish: [\"foo.>\"], subscribe: [\"foo.>\", \"bar\"] } },\n"
                      "  {user: hu, password: hp} ] }\n"
                      "leafnodes { listen: 127.0.0.1:%d }\n" % lport)
        leaf = _leaf(lport, url_user="lu:lp@", bin_=leaf_bin)
        leaf.config = leaf.config.replace('"}', '", deny_imports: "foo.33"}')
        with hub, leaf:
            _wait_leafs(hub, 1)
            _wait_leafs(leaf, 1)
            lc = connected(leaf)
            lc.send(b"SUB zzz 1\r\nSUB foo.33 2\r\nSUB foo.1 3\r\nSUB bar 4\r\n")
            lc.ping_pong()
            _wait_leaf_sub(hub, "foo.1")
            _wait_leaf_sub(hub, "bar")
            subs = _leaf_subs(hub)
            assert "zzz" not in subs and "foo.33" not in subs, subs
            hc = connected(hub, user="hu", **{"pass": "hp"})
            hc.send(b"SUB baz 1\r\nSUB foo.x 2\r\n")
            hc.ping_pong()
            _wait_leaf_sub(leaf, "foo.x")
            assert "baz" not in _leaf_subs(leaf), _leaf_subs(leaf)
            hc.send(b"PUB foo.1 2\r\nok\r\n")
            assert lc.read_msgs(1)[0] == (b"foo.1", b"3", None, b"ok")


def test_leaf_request_through_hub_import_reaches_a_queue_group():
    """A leaf's request that the hub imports into another account is a new request
    there: the exporter's queue group answers it (it was dropped as "a leaf message
    reaches no queue group it does not name")."""
    lport = free_port()
    accounts = ("accounts {\n  NGS { users: [ {user: ngs, password: p} ], exports: [ {service: \"ngs.usage.*\"} ] }\n"
                "  DLC { users: [ {user: dlc, password: p} ],\n"
                "        imports: [ {service: {account: NGS, subject: \"ngs.usage.dlc\"}, to: \"ngs.usage\"} ] }\n}\n")
    for bins in [(server_bin(), server_bin())] + ([(server_bin(), REFERENCE), (REFERENCE, server_bin())]
                                                   if os.path.exists(REFERENCE) else []):
        hub = _hub(lport, extra="", bin_=bins[0])
        hub.config = accounts + hub.config
        leaf = _leaf(lport, url_user="dlc:p@", bin_=bins[1])
        with hub, leaf:
            _wait_leafs(hub, 1)
            svc = connected(hub, user="ngs", **{"pass": "p"})
            svc.send(b"SUB ngs.usage.* dq 1\r\n")
            svc.ping_pong()
            req = connected(leaf)
            req.send(b"SUB _INBOX.r.* 2\r\n")
            req.ping_pong()
            _wait_leaf_sub(hub, "_INBOX.r.*")
            got = []

            def asked():
                req.send(b"PUB ngs.usage _INBOX.r.1 1\r\nx\r\n")
                req.ping_pong()
                got.extend(re.findall(rb"MSG ngs\.usage\.dlc 1 (\S+) 1\r\n", svc.read_for(0.3)))
                return got
            wait_until(asked, timeout=10, what="the request at the exporter's queue group")
            svc.send(b"PUB " + got[-1] + b" 2\r\nok\r\n")
            svc.ping_pong()
            req.expect(re.compile(rb"MSG _INBOX\.r\.1 2 2\r\nok\r\n"), timeout=5)


def _first_lsubs(config, lport):
    """The LS+ subjects a raw leaf connection (no account: $G) gets first."""
    import socket
    import time
    with Server(config=config):
        c = socket.create_connection(("127.0.0.1", lport))
        c.settimeout(0.2)
        c.sendall(b'CONNECT {"verbose":false,"pedantic":false,"tls_required":false}\r\nPING\r\n')
        buf, end = b"", time.monotonic() + 10
        while b"PONG\r\n" not in buf and time.monotonic() < end:
            try:
                buf += c.recv(65536)
            except socket.timeout:
                pass
        c.close()
    return sorted(re.sub(r"^\$LDS\..*", "$LDS.*", line[4:].decode())
                  for line in buf.split(b"\r\n") if line.startswith(b"LS+ "))


def test_leaf_hears_the_system_imports_and_jetstream_api_when_clustered():
    """What a leaf node learns of $G at once (the reference's set): the three imports
    every account has from the system account, the loop detection subject, and, when
    this server is in a cluster and started with no account but $G and the system
    account (the reference's "simple mixed mode"), $JS.API.>: JetStream servers of the
    cluster answer $G's JetStream requests through it."""
    sys_imports = ["$SYS.REQ.ACCOUNT.PING.CONNZ", "$SYS.REQ.ACCOUNT.PING.STATZ",
                   "$SYS.REQ.SERVER.PING.CONNZ"]
    lp = free_port()
    alone = _first_lsubs("leafnodes { listen: 127.0.0.1:%d }\n" % lp, lp)
    assert alone == sorted(["$LDS.*"] + sys_imports), alone
    lp = free_port()
    clustered = _first_lsubs("leafnodes { listen: 127.0.0.1:%d }\n"
                             "cluster { listen: 127.0.0.1:%d, name: xyz }\n" % (lp, free_port()), lp)
    assert clustered == sorted(["$JS.API.>", "$LDS.*"] + sys_imports), clustered
    lp = free_port()
    accounts = _first_lsubs("leafnodes { listen: 127.0.0.1:%d }\n"
                            "cluster { listen: 127.0.0.1:%d, name: xyz }\n"
                            "accounts { A: {} }\n" % (lp, free_port()), lp)
    assert accounts == sorted(["$LDS.*"] + sys_imports), accounts


def test_leaf_connect_event_with_gateways():
    """With gateways on, a leaf node that connected announces itself in the system
    account: $SYS.ACCOUNT.<acc>.LEAFNODE.CONNECT with the server and the account (the
    reference's event; other clusters' servers use it)."""
    import socket
    lp = free_port()
    conf = ("system_account: SYS\n"
            "accounts { SYS: { users: [ {user: sys, password: ps} ] } }\n"
            "leafnodes { listen: 127.0.0.1:%d }\n"
            "gateway { name: A, listen: 127.0.0.1:%d }\n" % (lp, free_port()))
    with Server(config=conf) as s:
        sysc = connected(s, user="sys", **{"pass": "ps"})
        sysc.send(b"SUB $SYS.ACCOUNT.*.LEAFNODE.CONNECT 1\r\n")
        sysc.ping_pong()
        lc = socket.create_connection(("127.0.0.1", lp))
        lc.sendall(b'CONNECT {"verbose":false,"pedantic":false,"tls_required":false}\r\nPING\r\n')
        m = sysc.expect_re(rb"MSG \$SYS\.ACCOUNT\.\$G\.LEAFNODE\.CONNECT 1 +(\d+)\r\n", 10)
        body = json.loads(sysc.expect_re(rb"(.{%d})\r\n" % int(m.group(1)), 5).group(1))
        assert set(body) == {"server", "acc"} and body["acc"] == "$G", body
        lc.close()


# --- TLS between hub and leaf (docs/leafnodes.md §6) ---------------------------------------

def _tls_dir():
    return make_test_ca("gnatsd-leaftls-", "Leaf Test CA", [("hub", "localhost", True)])


def _tls_hub(lport, d, bin_=None, timeout=2):
    return _hub(lport, extra=("  tls {\n    cert_file: \"%s/hub.pem\"\n    key_file: \"%s/hub-key.pem\"\n"
                              "    timeout: %s\n  }\n" % (d, d, timeout)), bin_=bin_)


def _tls_leaf(lport, d, bin_=None, ca="ca.pem"):
    s = Server(config=("leafnodes {\n  reconnect: 1\n  remotes: [ {url: \"nats://127.0.0.1:%d\", "
                       "tls { ca_file: \"%s/%s\" } } ]\n}\n" % (lport, d, ca)), monitor=True)
    if bin_:
        s.bin = bin_
    return s


def test_leaf_tls_every_mix():
    # The hub's INFO asks for TLS; the leaf checks the hub's certificate against its CA
    # (an IP URL: the certificate's IP SAN), then CONNECTs over TLS. Each mix carries the
    # same traffic as in plaintext.
    d = _tls_dir()
    _every_mix(lambda lport, bin_: _tls_hub(lport, d, bin_=bin_),
               lambda lport, bin_: _tls_leaf(lport, d, bin_=bin_))


def _reload_with(s, old, new):
    """s's config with old replaced by new, then SIGHUP; waits for the reload's verdict."""
    before = s.log().count("Reloaded server configuration")
    text = open(s.conf_path).read()
    assert old in text, text
    with open(s.conf_path, "w") as f:
        f.write(text.replace(old, new))
    s.signal(signal.SIGHUP)
    wait_until(lambda: s.log().count("Reloaded server configuration") > before
               or "config reload not supported" in s.log(), 10, what="the reload's verdict")


def test_leaf_tls_reload_takes_new_certificates():
    # A reload that changes the hub's leafnodes tls {} (a certificate from another CA) and
    # the spoke's remote tls {} (that CA) is taken, as the reference takes it: open leaf
    # connections stay, a new leaf checks the hub's new certificate, and the spoke dials
    # with its new CA. Before, both reloads were refused ("config reload not supported for
    # LeafNode") and the old contexts kept: the new leaf and the redial failed. Turning TLS
    # off is still refused.
    d1, d2 = _tls_dir(), _tls_dir()
    lport = free_port()
    hub = _tls_hub(lport, d1)
    with hub, _tls_leaf(lport, d1) as leaf:
        _wait_leafs(hub, 1)
        _reload_with(hub, "%s/hub" % d1, "%s/hub" % d2)
        _reload_with(leaf, "%s/ca.pem" % d1, "%s/ca.pem" % d2)
        assert "config reload not supported" not in hub.log() + leaf.log(), leaf.log_tail()
        assert _nleafs(hub) == 1 and _nleafs(leaf) == 1  # the open one stays
        with _tls_leaf(lport, d2) as leaf2:  # the hub shows its new certificate
            _wait_leafs(leaf2, 1)
        hub.stop()
        with _tls_hub(lport, d2) as hub2:  # the spoke's redial checks it with its new CA
            _wait_leafs(hub2, 1, timeout=20)
            _wait_leafs(leaf, 1)
            tls_block = open(hub2.conf_path).read()
            start = tls_block.index("  tls {")
            _reload_with(hub2, tls_block[start:tls_block.index("  }\n", start) + 4], "")
            assert "config reload not supported for LeafNode" in hub2.log(), hub2.log_tail()


def test_leaf_tls_reload_pinned_certs_refused():
    # The hub's pinned_certs cannot change on reload (the reference refuses it: "config
    # reload not supported for LeafNode"); the leaf it pinned stays.
    import hashlib
    d = make_test_ca("gnatsd-leafpin-", "Leaf Pin CA", [("hub", "localhost", True),
                                                        ("spoke", "spoke", False)])
    pem = subprocess.run(["openssl", "x509", "-in", "%s/spoke.pem" % d, "-pubkey", "-noout"],
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pem,
                         capture_output=True, check=True).stdout
    pin = hashlib.sha256(der).hexdigest()
    lport = free_port()
    hub = _hub(lport, extra=("  tls {\n    cert_file: \"%s/hub.pem\"\n    key_file: \"%s/hub-key.pem\"\n"
                             "    ca_file: \"%s/ca.pem\"\n    verify: true\n    pinned_certs: [\"%s\"]\n  }\n"
                             % (d, d, d, pin)))
    leaf = Server(config=("leafnodes {\n  reconnect: 1\n  remotes: [ {url: \"nats://127.0.0.1:%d\", "
                          "tls { ca_file: \"%s/ca.pem\", cert_file: \"%s/spoke.pem\", "
                          "key_file: \"%s/spoke-key.pem\" } } ]\n}\n" % (lport, d, d, d)), monitor=True)
    with hub, leaf:
        _wait_leafs(hub, 1)
        _reload_with(hub, pin, "0" * 64)
        assert "config reload not supported for LeafNode" in hub.log(), hub.log_tail()
        assert _nleafs(hub) == 1 and _nleafs(leaf) == 1


class _SlowWritesServer(Server):
    """A server run under strace with every write() held 50 ms on its way back: OpenSSL
    writes its records with write(), so a TLS client's first read comes after the peer's
    whole answer is in the socket (as on a loaded machine: the first handshake call then
    finishes the handshake). Its log lines are written with write() too: slower start."""

    def __init__(self, *a, **kw):
        super().__init__(*a, wait=False, **kw)

    def command(self):
        return ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=write",
                "-e", "inject=write:delay_exit=50000"] + super().command()

    def stop(self):
        # SIGTERM to strace only detaches it: the server went on running after the test
        # (strace 6.1 has no --kill-on-exit). The server is strace's child: stop it first.
        if self.proc is not None and self.proc.poll() is None:
            try:
                with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                    kids = [int(x) for x in f.read().split()]
            except OSError:
                kids = []
            for k in kids:
                try:
                    os.kill(k, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(timeout=10)  # strace exits with its tracee
            except subprocess.TimeoutExpired:
                pass
        return super().stop()

    def __enter__(self):
        super().__enter__()
        if not wait_port(self.mport, 30, self.proc):
            raise AssertionError("the strace'd server did not start:\n%s" % self.log_tail())
        return self


def test_leaf_tls_handshake_done_in_its_first_call():
    # The spoke keeps the hub's INFO before it starts TLS: a handshake that completes in
    # its first call (the hub's flight read with the first read) takes it up at once.
    # Before, the INFO was kept after that call, was never taken up, and the spoke timed
    # out waiting for an INFO on every retry (seen in CI on a loaded machine).
    d = _tls_dir()
    lport = free_port()
    leaf = _SlowWritesServer(config=("leafnodes {\n  reconnect: 1\n  remotes: [ {url: "
                                     "\"nats://127.0.0.1:%d\", tls { ca_file: \"%s/ca.pem\" } } ]\n}\n"
                                     % (lport, d)), monitor=True)
    with _tls_hub(lport, d, bin_=REFERENCE) as hub, leaf:
        _wait_leafs(hub, 1, timeout=15)
        _wait_leafs(leaf, 1, timeout=15)
        assert "Did not receive the remote leafnode's INFO" not in leaf.log(), leaf.log()


def test_leaf_tls_hub_wants_the_upgrade():
    # A leaf that reads the INFO and does not start TLS is cut once the TLS timeout passed;
    # a CONNECT in plaintext is not taken as one.
    d = _tls_dir()
    lport = free_port()
    with _tls_hub(lport, d, timeout=0.5) as hub:
        leaf = http_json(hub.mport, "/varz")["leaf"]
        assert (leaf["tls_timeout"], leaf["auth_timeout"], leaf["tls_required"]) == (0.5, 1.5, True), leaf
        c = Client(lport)
        assert c.info["tls_required"] is True and "tls_verify" not in c.info, c.info
        c.expect_closed(timeout=5)
        c = Client(lport)
        c.send(b"CONNECT {}\r\nPING\r\n")
        c.expect_closed(timeout=5)
        assert _nleafs(hub) == 0
        assert hub.alive()


def test_leaf_tls_hub_certificate_is_checked():
    # A leaf whose CA did not sign the hub's certificate never connects, and says why.
    d, other = _tls_dir(), _tls_dir()
    lport = free_port()
    with _tls_hub(lport, d) as hub, _tls_leaf(lport, other) as leaf:
        wait_until(lambda: re.search(r"TLS.*handshake error", leaf.log()), 10,
                   what="the leaf's handshake error")
        assert _nleafs(hub) == 0 and _nleafs(leaf) == 0
