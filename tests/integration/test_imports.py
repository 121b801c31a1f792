"""Stream and service imports between accounts (docs/accounts.md), on one server,
after a reload, and across a cluster with the reference nats-server as a real peer.
Every test also passes against the reference (GNATSD_BIN=/usr/sbin/nats-server)."""

import json
import os
import re
import signal

from harness import (Client, Server, connected, free_port, http_json, route_interest,
                     wait_until)

REFERENCE = "/usr/sbin/nats-server"
TIMEOUTS = {"test_service_import_across_mixed_cluster": 40}

ACCOUNTS = """
accounts {
  A: { users: [ {user: a, password: pa} ]
       imports: [ {service: {account: B, subject: "svc.*"}, to: "asvc.*"},
                  {service: {account: B, subject: "chunks"}},
                  {stream: {account: B, subject: "ev.>"}, prefix: "b"},
                  {stream: {account: B, subject: "t.*"}, to: "mine.*"} ] }
  B: { users: [ {user: b, password: pb} ]
       exports: [ {service: "svc.*"}, {service: "chunks", response: stream},
                  {stream: "ev.>"}, {stream: "t.*", accounts: [A]} ] }
  C: { users: [ {user: c, password: pc} ] }
}
"""


def _login(s, user, pw, **kw):
    return connected(s, user=user, **{"pass": pw}, **kw)


def test_stream_import_prefix_and_to():
    with Server(config=ACCOUNTS) as s:
        a, b, c = _login(s, "a", "pa"), _login(s, "b", "pb"), _login(s, "c", "pc")
        a.send(b"SUB b.ev.> 1\r\nSUB mine.x 2\r\nSUB b.ev.q g 3\r\n")
        a.ping_pong()
        c.send(b"SUB > 1\r\n")
        c.ping_pong()
        b.send(b"PUB ev.one 2\r\nhi\r\nPUB t.x 2\r\nto\r\nPUB t.y 1\r\nn\r\nPUB ev.q 1\r\nq\r\n")
        b.ping_pong()
        got = sorted((m[0], m[1], m[3]) for m in a.read_msgs(4))
        assert got == [(b"b.ev.one", b"1", b"hi"), (b"b.ev.q", b"1", b"q"),
                       (b"b.ev.q", b"3", b"q"), (b"mine.x", b"2", b"to")], got
        a.expect_nothing(0.2)
        c.expect_nothing(0.2)  # C imports nothing
        # the import's subscribers go when they unsubscribe
        a.send(b"UNSUB 1\r\nUNSUB 3\r\n")
        a.ping_pong()
        b.send(b"PUB ev.one 2\r\nhi\r\n")
        b.ping_pong()
        a.expect_nothing(0.2)


def _request(req, resp, subject, rsub_line):
    """req publishes subject with reply "inbox"; resp (subscribed) answers the mapped reply."""
    req.send(b"PUB %s inbox 3\r\nreq\r\n" % subject)
    req.ping_pong()
    m = resp.expect_re(rb"MSG (\S+) \d+ (\S+) 3\r\nreq\r\n")
    assert m.group(1) == rsub_line, m.group(0)
    return m.group(2)


def test_service_import_request_reply():
    with Server(config=ACCOUNTS) as s:
        a, b = _login(s, "a", "pa"), _login(s, "b", "pb")
        a.send(b"SUB inbox 5\r\n")
        a.ping_pong()
        b.send(b"SUB svc.* 9\r\nSUB chunks 8\r\n")
        b.ping_pong()
        reply = _request(a, b, b"asvc.x", b"svc.x")
        assert reply.startswith(b"_R_.") and reply != b"inbox", reply
        b.send(b"PUB %s 2\r\nok\r\nPUB %s 3\r\ntwo\r\n" % (reply, reply))
        b.ping_pong()
        assert a.read_msgs(1)[0] == (b"inbox", b"5", None, b"ok")
        a.expect_nothing(0.2)  # a singleton service answers once
        # a streamed service answers as often as it likes within its threshold
        reply = _request(a, b, b"chunks", b"chunks")
        for i in range(3):
            b.send(b"PUB %s 1\r\n%d\r\n" % (reply, i))
        b.ping_pong()
        assert [m[3] for m in a.read_msgs(3)] == [b"0", b"1", b"2"]
        # no responder in the exporting account: a requester that asks for it is told
        ah = _login(s, "a", "pa", headers=True, no_responders=True)
        ah.send(b"SUB inbox2 1\r\nPUB asvc.nobody.here inbox2 0\r\n\r\n")
        ah.expect_re(rb"HMSG inbox2 1 \d+ \d+\r\nNATS/1.0 503")


def test_import_not_exported_is_refused():
    conf = """
accounts {
  A: { imports: [ {service: {account: B, subject: "priv"}} ] }
  B: { exports: [ {service: "priv", accounts: [C]} ] }
  C: {}
}
"""
    s = Server(config=conf, wait=False)
    s.start()
    assert s.wait_exit(10) != 0
    assert re.search(r'Error adding service import "priv": service import not authorized',
                     s.log()), s.log()[-500:]


def test_reload_adds_an_import():
    before = ACCOUNTS.replace('{stream: {account: B, subject: "t.*"}, to: "mine.*"}', "")
    with Server(config=before) as s:
        a, b = _login(s, "a", "pa"), _login(s, "b", "pb")
        a.send(b"SUB mine.x 2\r\n")
        a.ping_pong()
        b.send(b"PUB t.x 2\r\nto\r\n")
        b.ping_pong()
        a.expect_nothing(0.2)
        with open(s.conf_path, "w") as f:
            f.write(ACCOUNTS + "listen: 127.0.0.1:%d\n" % s.port)
        s.signal(signal.SIGHUP)
        s.wait_log(r"Reloaded server configuration")

        def delivered():
            b.send(b"PUB t.x 2\r\nto\r\n")
            b.ping_pong()
            return a.read_for(0.2)
        assert b"MSG mine.x 2 2\r\nto\r\n" in wait_until(delivered, 5, what="import after reload")


def _cluster(cport, routes=()):
    r = ", ".join('"nats://127.0.0.1:%d"' % p for p in routes)
    return ACCOUNTS + "cluster {\n  listen: 127.0.0.1:%d\n  name: imp\n  routes: [%s]\n}\n" % (
        cport, r)


def test_service_import_across_mixed_cluster():
    """Requester on one server, responder on the other, each side once ours and once
    the reference: the request crosses in the exporter's account, the answer comes
    back through the requester's server's _R_ interest."""
    if not os.path.exists(REFERENCE):
        raise AssertionError("reference nats-server not installed at %s" % REFERENCE)
    ca, cb = free_port(), free_port()
    ours = Server(config=_cluster(ca), monitor=True)
    ref = Server(config=_cluster(cb, routes=[ca]), monitor=True)
    ref.bin = REFERENCE
    with ours, ref:
        for s in (ours, ref):
            wait_until(lambda s=s: http_json(s.mport, "/varz")["routes"] == 1, 10, what="route")
        for req_srv, resp_srv in ((ours, ref), (ref, ours)):
            a, b = _login(req_srv, "a", "pa"), _login(resp_srv, "b", "pb")
            a.send(b"SUB inbox 5\r\nSUB b.ev.x 6\r\n")
            a.ping_pong()
            b.send(b"SUB svc.* 9\r\n")
            b.ping_pong()
            wait_until(lambda: route_interest(req_srv, "B", "svc.*"), 10,
                       what="responder interest")
            wait_until(lambda: route_interest(resp_srv, "B", "ev.x"), 10,
                       what="stream import interest")
            reply = _request(a, b, b"asvc.y", b"svc.y")
            b.send(b"PUB %s 4\r\npong\r\nPUB ev.x 2\r\nev\r\n" % reply)
            b.ping_pong()
            got = sorted((m[0], m[3]) for m in a.read_msgs(2))
            assert got == [(b"b.ev.x", b"ev"), (b"inbox", b"pong")], got
            a.close()
            b.close()
            for s in (ours, ref):  # the next round starts with neither client's interest
                wait_until(lambda s=s: not route_interest(s, "B", "svc.*")
                           and not route_interest(s, "B", "ev.x"), 10, what="interest gone")


CHAIN = """
accounts {
  A: { users: [ {user: a, password: pa} ]
       imports: [ {service: {account: B, subject: "b.svc"}},
                  {service: {account: B, subject: "b.shared"}, share: true} ] }
  B: { users: [ {user: b, password: pb} ]
       exports: [ {service: "b.svc"}, {service: "b.shared"} ]
       imports: [ {service: {account: C, subject: "c.svc"}, to: "b.svc"} ] }
  C: { users: [ {user: c, password: pc} ]
       exports: [ {service: "c.svc"} ] }
}
"""


def _request_info(resp, subject):
    """The Nats-Request-Info header of the next request resp gets on subject."""
    m = resp.expect_re(rb"HMSG %s \d+ \S+ (\d+) (\d+)\r\n" % re.escape(subject))
    hlen, total = int(m.group(1)), int(m.group(2))
    block = resp.expect_re(rb"(.{%d})\r\n" % total).group(1)
    hdr, body = block[:hlen], block[hlen:]
    line = re.search(rb"\r\nNats-Request-Info: (.*?)\r\n", hdr)
    assert hdr.startswith(b"NATS/1.0\r\n") and hdr.endswith(b"\r\n\r\n") and line, block
    return json.loads(line.group(1)), hdr, body


def test_request_info_header_for_the_responder():
    """A request crossing a service import carries the requester's details in the
    Nats-Request-Info header (the reference's): {acc, rtt} unless the import shares
    them, the client's details (and this server) if it does, and "svc" for the
    account the request crossed on a further import; the requester's own headers
    stay; a responder without headers support gets the plain message."""
    with Server(config=CHAIN) as s:
        a = _login(s, "a", "pa", name="asker", headers=True)
        b = _login(s, "b", "pb", headers=True)
        c = _login(s, "c", "pc", headers=True)
        b.send(b"SUB b.shared 1\r\n")
        b.ping_pong()
        c.send(b"SUB c.svc 1\r\n")
        c.ping_pong()
        a.send(b"PUB b.svc inbox 2\r\nhi\r\n")
        info, hdr, body = _request_info(c, b"c.svc")
        assert list(info) == ["acc", "svc", "rtt"], info
        assert info["acc"] == "A" and info["svc"] == "B" and info["rtt"] > 0, info
        assert body == b"hi"
        a.send(b"HPUB b.shared inbox 23 25\r\nNATS/1.0\r\nMine: yes\r\n\r\nhi\r\n")
        info, hdr, body = _request_info(b, b"b.shared")
        assert hdr.startswith(b"NATS/1.0\r\nMine: yes\r\nNats-Request-Info: "), hdr
        for k in ("start", "host", "id", "acc", "user", "name", "rtt", "server", "kind",
                  "client_type"):
            assert k in info, (k, info)
        assert info["user"] == "a" and info["name"] == "asker" and info["kind"] == "Client"
        assert body == b"hi"
        # a responder that did not ask for headers: the request as it was sent
        plain = _login(s, "c", "pc")
        plain.send(b"SUB c.svc 2\r\n")
        plain.ping_pong()
        c.send(b"UNSUB 1\r\n")
        c.ping_pong()
        a.send(b"PUB b.svc inbox 2\r\nhi\r\n")
        plain.expect_re(rb"MSG c.svc 2 \S+ 2\r\nhi\r\n")
