"""Gateways (docs/gateways.md): clusters joined into a super-cluster. Messages cross
to the clusters that have interest (the interest-only mode of 2.9), a queue group goes
to another cluster only when this one has no member of it, replies come back through
the "_GR_." prefix, accounts stay apart, and a cluster's servers all reach the other
clusters although only one of them was configured with their address (gossip through
routes). The pairs run gnatsd with gnatsd, and mixed with the reference nats-server
both ways; every test also passes with GNATSD_BIN=/usr/sbin/nats-server."""

import os
import re
import subprocess

from harness import (Client, Server, free_port, http_json, make_test_ca, server_bin,
                     wait_until)

REFERENCE = "/usr/sbin/nats-server"
TIMEOUTS = {"test_gateway_pair_gnatsd": 60, "test_gateway_pair_mixed": 120,
            "test_gateway_accounts_and_service_import": 60,
            "test_gateway_cluster_gossip": 90, "test_gateway_config_refusals": 30,
            "test_gateway_reply_prefix_is_reserved": 30, "test_gateway_monitoring": 60,
            "test_gateway_bad_peers": 30, "test_gateway_tls": 120,
            "test_gateway_debug_subscribers": 60}

ACCOUNTS = """
accounts {
  FOO: { users: [ {user: foo, password: pass} ]
         exports: [ {service: "svc.>"} ] }
  BAR: { users: [ {user: bar, password: pass} ]
         imports: [ {service: {account: FOO, subject: "svc.bar"}, to: "bar.svc"} ] }
}
"""


def _conf(name, gport, remotes=(), cport=None, routes=(), extra=""):
    text = 'server_name: "%s%d"\n' % (name, gport)
    text += "gateway {\n  name: %s\n  listen: 127.0.0.1:%d\n" % (name, gport)
    if remotes:
        text += "  gateways: [\n"
        for rname, rport in remotes:
            text += '    {name: %s, url: "nats://127.0.0.1:%d"}\n' % (rname, rport)
        text += "  ]\n"
    text += "}\n"
    if cport:
        text += "cluster {\n  name: %s\n  listen: 127.0.0.1:%d\n" % (name, cport)
        if routes:
            text += "  routes: [%s]\n" % ", ".join('"nats://127.0.0.1:%d"' % p for p in routes)
        text += "}\n"
    return text + extra


def _start(bin_path, config):
    s = Server(config=config, monitor=True)
    s.bin = bin_path
    return s.start()


def _gateways_up(s, want_out, want_in=None):
    def ok():
        g = http_json(s.mport, "/gatewayz")
        if len(g.get("outbound_gateways", {})) < want_out:
            return False
        if want_in is not None:
            n = sum(len(v) for v in g.get("inbound_gateways", {}).values())
            if n < want_in:
                return False
        return True
    wait_until(ok, timeout=20, what="gateways of %s" % s.port)


def _sub(s, subject, sid, queue=None, **connect):
    c = Client(s.port)
    c.connect(**connect)
    c.send("SUB %s %s%s\r\n" % (subject, queue + " " if queue else "", sid))
    c.ping_pong()
    return c


def _until_delivered(pub, sub, subject, payload, timeout=10):
    """Publishes until the subscriber gets one (interest crosses asynchronously)."""
    got = []

    def once():
        pub.send("PUB %s %d\r\n%s\r\n" % (subject, len(payload), payload))
        pub.ping_pong()
        data = sub.read_for(0.2)
        got.append(data)
        return payload.encode() in data
    wait_until(once, timeout=timeout, what="%s across the gateway" % subject)
    return b"".join(got)


def _ask(req, responder, subject, reply, pattern, timeout=10):
    """Sends the request until the responder sees it; returns the reply it was given."""
    seen = []

    def once():
        req.send("PUB %s %s 3\r\nreq\r\n" % (subject, reply))
        req.ping_pong()
        seen.extend(re.findall(pattern, responder.read_for(0.3)))
        return seen
    wait_until(once, timeout=timeout, what="request on %s" % subject)
    return seen[-1]


def _pair_checks(bin_a, bin_b):
    ga, gb = free_port(), free_port()
    a = _start(bin_a, _conf("A", ga))
    b = _start(bin_b, _conf("B", gb, remotes=[("A", ga)]))
    try:
        _gateways_up(a, 1, 1)
        _gateways_up(b, 1, 1)
        # plain interest, both ways
        sa = _sub(a, "foo", 1)
        pb = Client(b.port)
        pb.connect()
        _until_delivered(pb, sa, "foo", "hello")
        sb = _sub(b, "bar.>", 2)
        pa = Client(a.port)
        pa.connect()
        _until_delivered(pa, sb, "bar.x", "back")
        # no interest: nothing crosses (the subscriber has none for it)
        pb.send("PUB nobody 1\r\nx\r\n")
        pb.ping_pong()
        sa.expect_nothing(0.3)
        # a queue group with a member in both clusters: each cluster's own
        qa = _sub(a, "q.>", 3, queue="grp")
        qb = _sub(b, "q.>", 4, queue="grp")
        _until_delivered(pb, qb, "q.1", "mine")
        for i in range(20):
            pb.send("PUB q.%d 2\r\nqq\r\n" % i)
        pb.ping_pong()
        got = qb.read_msgs(20)
        assert len(got) == 20, got
        qa.expect_nothing(0.3)
        # the member in B leaves: the group's messages go to A
        qb.close()
        _until_delivered(pb, qa, "q.2", "over")
        # request/reply across: the responder sees a plain reply, its answer comes back
        svc = _sub(a, "svc", 5)
        req = _sub(b, "_INBOX.me.*", 6)
        reply = _ask(req, svc, "svc", "_INBOX.me.1", rb"MSG svc 5 (\S+) 3\r\n")
        assert not reply.startswith(b"_GR_"), reply
        svc.send(b"PUB " + reply + b" 4\r\nresp\r\n")
        svc.ping_pong()
        req.expect(re.compile(rb"MSG _INBOX\.me\.1 6 4\r\nresp\r\n"), timeout=5)
        for c in (sa, pb, sb, pa, qa, svc, req):
            c.close()
    finally:
        a.stop()
        b.stop()


def test_gateway_pair_gnatsd():
    _pair_checks(server_bin(), server_bin())


def test_gateway_pair_mixed():
    if not os.path.exists(REFERENCE):
        raise AssertionError("reference nats-server not installed at %s" % REFERENCE)
    _pair_checks(server_bin(), REFERENCE)
    _pair_checks(REFERENCE, server_bin())


def test_gateway_accounts_and_service_import():
    """Interest is per account; a service import answered by an exporter in the
    other cluster."""
    ga, gb = free_port(), free_port()
    a = _start(server_bin(), _conf("A", ga, extra=ACCOUNTS))
    b = _start(server_bin(), _conf("B", gb, remotes=[("A", ga)], extra=ACCOUNTS))
    try:
        _gateways_up(a, 1, 1)
        _gateways_up(b, 1, 1)
        foo_a = _sub(a, "news", 1, user="foo", **{"pass": "pass"})
        bar_a = _sub(a, "news", 2, user="bar", **{"pass": "pass"})
        pub = Client(b.port)
        pub.connect(user="foo", **{"pass": "pass"})
        _until_delivered(pub, foo_a, "news", "for-foo")
        bar_a.expect_nothing(0.3)
        # BAR in B asks; FOO's responder in A answers through the import
        resp = _sub(a, "svc.bar", 3, user="foo", **{"pass": "pass"})
        req = _sub(b, "_INBOX.r.*", 4, user="bar", **{"pass": "pass"})

        reply = _ask(req, resp, "bar.svc", "_INBOX.r.1", rb"MSG svc\.bar 3 (\S+) 3\r\n")
        resp.send(b"PUB " + reply + b" 2\r\nok\r\n")
        resp.ping_pong()
        req.expect(re.compile(rb"MSG _INBOX\.r\.1 4 2\r\nok\r\n"), timeout=5)
        for c in (foo_a, bar_a, pub, resp, req):
            c.close()
    finally:
        a.stop()
        b.stop()


def test_gateway_cluster_gossip():
    """Cluster A has two servers; B knows only A1. A2 learns of B through its route and
    dials it: B's messages reach A2's subscribers and A2's reach B's."""
    ga1, ga2, gb = free_port(), free_port(), free_port()
    ca1, ca2 = free_port(), free_port()
    for bins in ((server_bin(), server_bin(), server_bin()),
                 (server_bin(), REFERENCE, server_bin()),
                 (REFERENCE, server_bin(), REFERENCE)):
        if REFERENCE in bins and not os.path.exists(REFERENCE):
            continue
        a1 = _start(bins[0], _conf("A", ga1, cport=ca1))
        a2 = _start(bins[1], _conf("A", ga2, cport=ca2, routes=[ca1]))
        b = _start(bins[2], _conf("B", gb, remotes=[("A", ga1)]))
        try:
            _gateways_up(a1, 1)
            _gateways_up(a2, 1)
            _gateways_up(b, 1, 2)
            s2 = _sub(a2, "to.a2", 1)
            pb = Client(b.port)
            pb.connect()
            _until_delivered(pb, s2, "to.a2", "hi-a2")
            sb = _sub(b, "to.b", 2)
            p2 = Client(a2.port)
            p2.connect()
            _until_delivered(p2, sb, "to.b", "hi-b")
            for c in (s2, pb, sb, p2):
                c.close()
        finally:
            for s in (a1, a2, b):
                s.stop()


def _start_fails(config):
    """Runs a server that must refuse config: its exit status and output."""
    s = Server(config=config)
    p = subprocess.run(s.command(), capture_output=True, text=True, timeout=10)
    return p.returncode, p.stdout + p.stderr


def test_gateway_config_refusals():
    rc, out = _start_fails("gateway { listen: 127.0.0.1:-1 }\n")
    assert rc != 0 and "gateway has no name" in out, out
    rc, out = _start_fails("gateway { name: A }\n")
    assert rc != 0 and 'gateway "A" has no port specified' in out, out
    rc, out = _start_fails("gateway { name: A, listen: 127.0.0.1:-1, gateways: [ {name: B} ] }\n")
    assert rc != 0 and 'gateway "B" has no URL' in out, out
    rc, out = _start_fails("gateway { name: A, port: -1, authorization { token: t } }\n")
    assert rc != 0 and "Gateway authorization does not support tokens" in out, out
    rc, out = _start_fails("gateway { name: A, port: -1, bogus: 1 }\n")
    assert rc != 0 and 'unknown field "bogus"' in out, out


def test_gateway_reply_prefix_is_reserved():
    with Server() as s:
        c = Client(s.port)
        c.connect()
        c.send("PUB _GR_.abcdef.ghijkl.x 2\r\nhi\r\nPUB _GR_.x 2\r\nhi\r\n")
        c.expect(b"-ERR 'Permissions Violation for Publish to \"_GR_.abcdef.ghijkl.x\"'\r\n")
        c.expect(b"-ERR 'Permissions Violation for Publish to \"_GR_.x\"'\r\n")
        c.ping_pong()
        s.wait_log(r'Publish Violation - User "N/A", Subject "_GR_\.x"')


def test_gateway_monitoring():
    ga, gb = free_port(), free_port()
    a = _start(server_bin(), _conf("A", ga))
    b = _start(server_bin(), _conf("B", gb, remotes=[("A", ga)]))
    try:
        _gateways_up(a, 1, 1)
        _gateways_up(b, 1, 1)
        g = http_json(b.mport, "/gatewayz")
        assert g["name"] == "B" and g["port"] == gb, g
        out = g["outbound_gateways"]["A"]
        assert out["configured"] is True, out
        assert out["connection"]["port"] == ga and out["connection"]["name"], out
        ina = http_json(a.mport, "/gatewayz")["inbound_gateways"]["B"]
        assert len(ina) == 1 and ina[0]["connection"]["name"], ina
        assert http_json(a.mport, "/gatewayz")["outbound_gateways"]["B"]["configured"] is False
        v = http_json(b.mport, "/varz")["gateway"]
        assert v["name"] == "B" and v["port"] == gb, v
        assert v["gateways"] == [{"name": "A", "urls": ["127.0.0.1:%d" % ga]}], v
        assert http_json(a.mport, "/varz")["gateway"]["name"] == "A"
        b.wait_log(r'Outbound gateway connection to "A" \(\w+\) registered')
        a.wait_log(r'Inbound gateway connection from "B" \(\w+\) registered')
    finally:
        a.stop()
        b.stop()


def test_gateway_bad_peers():
    """A client on the gateway port, an RS+ from an inbound peer, a peer that skips
    CONNECT: each is closed; the server goes on."""
    g = free_port()
    with Server(config=_conf("A", g)) as s:
        c = Client(g)
        c.send('CONNECT {"verbose":false}\r\n')
        c.expect(b"-ERR 'attempted to connect to gateway port'\r\n")
        c.expect_closed()
        c = Client(g)
        c.send('CONNECT {"gateway":"X"}\r\nINFO {"gateway":"X"}\r\nPING\r\n')
        got = []
        wait_until(lambda: got.append(c.read_for(0.2)) or b"PONG\r\n" in b"".join(got),
                   timeout=5, what="PONG from the gateway port")
        c.send("RS+ $G foo\r\n")
        c.expect_closed(allow_data=True)
        c = Client(g)
        c.send('INFO {"gateway":"X"}\r\n')
        c.expect(b"-ERR 'Authorization Violation'\r\n")
        c.expect_closed()
        with Client(s.port) as ok:
            ok.connect()
            ok.ping_pong()


def _tls_block(d, cert="srv"):
    return ('  tls {\n    cert_file: "%s/%s.pem"\n    key_file: "%s/%s-key.pem"\n'
            '    ca_file: "%s/ca.pem"\n    timeout: 3\n  }\n' % (d, cert, d, cert, d))


def test_gateway_tls():
    """Gateway TLS both ways, the peer's certificate verified (as the reference reads
    a gateway's tls {}): gnatsd with gnatsd and mixed with the reference; a server
    whose certificate another CA signed is refused."""
    d = make_test_ca("gnatsd-gwtls-", "gw-test-ca", [("srv", "gw-server", True)])
    other = make_test_ca("gnatsd-gwtls2-", "other-ca", [("srv", "gw-other", True)])
    pairs = [(server_bin(), server_bin())]
    if os.path.exists(REFERENCE):
        pairs += [(server_bin(), REFERENCE), (REFERENCE, server_bin())]
    for bin_a, bin_b in pairs:
        ga, gb = free_port(), free_port()
        conf_a = _conf("A", ga).replace("  listen: 127.0.0.1:%d\n" % ga,
                                        "  listen: 127.0.0.1:%d\n" % ga + _tls_block(d))
        conf_b = _conf("B", gb, remotes=[("A", ga)]).replace(
            "  listen: 127.0.0.1:%d\n" % gb, "  listen: 127.0.0.1:%d\n" % gb + _tls_block(d))
        a = _start(bin_a, conf_a)
        b = _start(bin_b, conf_b)
        try:
            _gateways_up(a, 1, 1)
            _gateways_up(b, 1, 1)
            sa = _sub(a, "tls.foo", 1)
            pb = Client(b.port)
            pb.connect()
            _until_delivered(pb, sa, "tls.foo", "secret")
            sa.close()
            pb.close()
        finally:
            a.stop()
            b.stop()
    # a peer with a certificate of another CA: no gateway forms
    ga, gb = free_port(), free_port()
    conf_a = _conf("A", ga).replace("  listen: 127.0.0.1:%d\n" % ga,
                                    "  listen: 127.0.0.1:%d\n" % ga + _tls_block(d))
    conf_b = _conf("B", gb, remotes=[("A", ga)]).replace(
        "  listen: 127.0.0.1:%d\n" % gb, "  listen: 127.0.0.1:%d\n" % gb + _tls_block(other))
    a = _start(server_bin(), conf_a)
    b = _start(server_bin(), conf_b)
    try:
        b.wait_log(r"(?i)tls.*(handshake|certificate|verify)", timeout=15)
        assert not http_json(b.mport, "/gatewayz")["outbound_gateways"], "gateway formed"
    finally:
        a.stop()
        b.stop()


DBG_ACCOUNTS = """
system_account: "$SYS"
accounts {
  $SYS: { users: [ {user: sys, password: pass} ], exports: [ {service: "$SYS.DEBUG.SUBSCRIBERS"} ] }
  FOO: { users: [ {user: foo, password: pass} ],
         imports: [ {service: {account: "$SYS", subject: "$SYS.DEBUG.SUBSCRIBERS"}} ] }
}
"""


def test_gateway_debug_subscribers():
    """$SYS.DEBUG.SUBSCRIBERS counts an account's subscribers in every cluster: the
    server asked adds what the others answer to $SYS.REQ.ACCOUNT.NSUBS."""
    for bin_a, bin_b in [(server_bin(), server_bin())] + (
            [(server_bin(), REFERENCE)] if os.path.exists(REFERENCE) else []):
        ga, gb = free_port(), free_port()
        a = _start(bin_a, _conf("A", ga, extra=DBG_ACCOUNTS + "leafnodes { listen: 127.0.0.1:-1 }\n"))
        b = _start(bin_b, _conf("B", gb, remotes=[("A", ga)], extra=DBG_ACCOUNTS))
        try:
            _gateways_up(a, 1, 1)
            _gateways_up(b, 1, 1)
            auth = {"user": "foo", "pass": "pass"}
            subs = [_sub(a, "dbg.x", 1, **auth), _sub(a, "dbg.*", 2, **auth),
                    _sub(b, "dbg.x", 3, **auth), _sub(b, "dbg.x", 4, queue="q", **auth)]
            asker = _sub(a, "_INBOX.dbg.*", 9, **auth)

            def count(body):
                got = []

                def once():
                    asker.send("PUB $SYS.DEBUG.SUBSCRIBERS _INBOX.dbg.1 %d\r\n%s\r\n" % (len(body), body))
                    got.extend(re.findall(rb"MSG _INBOX\.dbg\.1 9 \d+\r\n(\d+)\r\n", asker.read_for(0.7)))
                    return got
                wait_until(once, timeout=10, what="a count for %r" % body)
                return int(got[-1])
            wait_until(lambda: count("dbg.x") == 4, timeout=15, what="4 subscribers of dbg.x")
            assert count("dbg.x q") == 1
            assert count("dbg.>") == 4
            assert count("other") == 0
            for c in subs + [asker]:
                c.close()
        finally:
            a.stop()
            b.stop()
