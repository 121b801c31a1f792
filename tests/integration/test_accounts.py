"""Accounts (docs/accounts.md): users bound to accounts see only their account's
subjects, per-account limits, the account in monitoring, and accounts across a
cluster with the reference nats-server as a real peer. Every test also passes
against the reference (GNATSD_BIN=/usr/sbin/nats-server)."""

import os

from harness import (Client, Server, connected, free_port, http_json, is_reference,
                     route_interest, wait_until)

REFERENCE = "/usr/sbin/nats-server"
TIMEOUTS = {"test_accounts_across_mixed_cluster": 40}

ACCOUNTS = """
accounts {
  A: { users: [ {user: a, password: pa} ] }
  B: { users: [ {user: b, password: pb}, {user: b2, password: pb} ],
       limits: { max_connections: 2, max_subscriptions: 2, max_payload: 10 } }
}
authorization { users: [ {user: g, password: pg} ] }
"""


def _login(s, user, pw, **kw):
    return connected(s, user=user, **{"pass": pw}, **kw)


def test_accounts_isolate_subjects():
    with Server(config=ACCOUNTS) as s:
        a, b, g = _login(s, "a", "pa"), _login(s, "b", "pb"), _login(s, "g", "pg")
        for c in (a, b, g):
            c.send(b"SUB foo 1\r\n")
            c.ping_pong()
        b.send(b"PUB foo 2\r\nhi\r\n")
        assert b.sync() == b"MSG foo 1 2\r\nhi\r\n"
        a.expect_nothing(0.2)
        g.expect_nothing(0.2)
        # the global account (users outside accounts {}) is one more account
        g.send(b"PUB foo 3\r\nabc\r\n")
        assert g.sync() == b"MSG foo 1 3\r\nabc\r\n"
        a.send(b"PUB foo 1\r\nx\r\n")
        assert a.sync() == b"MSG foo 1 1\r\nx\r\n"
        b.expect_nothing(0.2)
        g.expect_nothing(0.2)


def test_account_limits():
    with Server(config=ACCOUNTS, monitor=True) as s:
        b1, b2 = _login(s, "b", "pb"), _login(s, "b2", "pb")
        third = Client(s.port)
        third.connect(user="b", **{"pass": "pb"})
        third.expect(b"-ERR 'maximum account active connections exceeded'\r\n")
        third.expect_closed()
        s.wait_log(r"maximum account active connections exceeded")
        closed = wait_until(lambda: http_json(s.mport, "/connz?state=closed")["connections"], 5,
                            what="closed connection listed")
        assert closed[-1]["reason"] == "Maximum Account Connections Exceeded", closed[-1]
        # other accounts are not limited by B's limit
        for _ in range(3):
            _login(s, "a", "pa")
        # max_subscriptions: 2 per connection in B
        b1.send(b"SUB s1 1\r\nSUB s2 2\r\nSUB s3 3\r\n")
        b1.expect(b"-ERR 'maximum subscriptions exceeded'\r\n")
        b1.ping_pong()
        b2.send(b"SUB s1 1\r\nSUB s2 2\r\n")
        b2.ping_pong()
        # max_payload: 10 for B's connections, not for A's
        a = _login(s, "a", "pa")
        a.send(b"PUB x 11\r\n01234567890\r\n")
        a.ping_pong()
        b2.send(b"PUB x 10\r\n0123456789\r\n")
        b2.ping_pong()
        b2.send(b"PUB x 11\r\n01234567890\r\n")
        b2.expect(b"-ERR 'Maximum Payload Violation'\r\n")
        b2.expect_closed()


def test_monitoring_names_the_account():
    with Server(config=ACCOUNTS, monitor=True) as s:
        a, b = _login(s, "a", "pa", name="ca"), _login(s, "b", "pb", name="cb")
        a.send(b"SUB fa 1\r\n")
        b.send(b"SUB fb 1\r\nSUB fb2 q 2\r\n")
        a.ping_pong()
        b.ping_pong()
        conns = http_json(s.mport, "/connz?auth=1")["connections"]
        by_name = {c["name"]: c for c in conns}
        assert by_name["ca"]["account"] == "A" and by_name["ca"]["authorized_user"] == "a"
        assert by_name["cb"]["account"] == "B"
        only_b = http_json(s.mport, "/connz?acc=B&auth=1")
        assert [c["name"] for c in only_b["connections"]] == ["cb"], only_b
        assert only_b["total"] == 1
        unknown = http_json(s.mport, "/connz?acc=NOPE")
        assert unknown["connections"] is None and unknown["server_id"] == "", unknown
        subs = http_json(s.mport, "/subsz?subs=1&acc=B")
        # (the reference also lists the system account's imports into B: $SYS.REQ...)
        listed = sorted((x["account"], x["subject"]) for x in subs["subscriptions_list"]
                        if not x["subject"].startswith("$SYS."))
        assert listed == [("B", "fb"), ("B", "fb2")], listed
        varz = http_json(s.mport, "/varz")
        assert varz["system_account"] == "$SYS", varz.get("system_account")


def test_no_auth_user_lands_in_its_account():
    conf = ACCOUNTS + "no_auth_user: a\n"
    with Server(config=conf) as s:
        anon = connected(s)
        anon.send(b"SUB foo 1\r\n")
        anon.ping_pong()
        a = _login(s, "a", "pa")
        a.send(b"PUB foo 2\r\nok\r\n")
        a.ping_pong()
        assert anon.sync() == b"MSG foo 1 2\r\nok\r\n"
        b = _login(s, "b", "pb")
        b.send(b"PUB foo 2\r\nno\r\n")
        b.ping_pong()
        anon.expect_nothing(0.2)


def _cluster(cport, routes=()):
    r = ", ".join('"nats://127.0.0.1:%d"' % p for p in routes)
    return ACCOUNTS + "cluster {\n  listen: 127.0.0.1:%d\n  name: acc\n  routes: [%s]\n}\n" % (
        cport, r)


def test_accounts_across_mixed_cluster():
    """Our server and the reference in one cluster: RS+/RMSG name the account, so a
    message crosses the route only into the same account."""
    if not os.path.exists(REFERENCE):
        raise AssertionError("reference nats-server not installed at %s" % REFERENCE)
    ca, cb = free_port(), free_port()
    ours = Server(config=_cluster(ca), monitor=True)
    ref = Server(config=_cluster(cb, routes=[ca]), monitor=True)
    ref.bin = REFERENCE
    with ours, ref:
        for s in (ours, ref):
            wait_until(lambda s=s: http_json(s.mport, "/varz")["routes"] == 1, 10, what="route")
        ref_a, ref_b = _login(ref, "a", "pa"), _login(ref, "b", "pb")
        ref_a.send(b"SUB x 1\r\nSUB w q 2\r\n")
        ref_b.send(b"SUB x 1\r\n")
        ref_a.ping_pong()
        ref_b.ping_pong()
        wait_until(lambda: route_interest(ours, "A", "x") and route_interest(ours, "A", "w q")
                   and route_interest(ours, "B", "x"), 10, what="the reference's interest")
        our_a = _login(ours, "a", "pa")
        our_a.send(b"PUB x 2\r\nax\r\nPUB w 2\r\naw\r\n")
        our_a.ping_pong()
        got = sorted(m[3] for m in ref_a.read_msgs(2))
        assert got == [b"aw", b"ax"], got
        ref_b.expect_nothing(0.3)
        # and back: the reference forwards B's message to our B subscriber only
        our_b, our_a2 = _login(ours, "b", "pb"), _login(ours, "a", "pa")
        our_b.send(b"SUB back 1\r\n")
        our_a2.send(b"SUB back 1\r\n")
        our_b.ping_pong()
        our_a2.ping_pong()
        wait_until(lambda: route_interest(ref, "B", "back") and route_interest(ref, "A", "back"),
                   10, what="our interest on the reference")
        ref_b.send(b"PUB back 2\r\nbb\r\n")
        ref_b.ping_pong()
        assert our_b.read_msgs(1)[0][3] == b"bb"
        our_a2.expect_nothing(0.3)
        if not is_reference():
            assert any(c.get("account") == "B"
                       for c in http_json(ours.mport, "/connz?auth=1")["connections"])


def test_reload_moves_user_to_another_account():
    """A reload that binds a user to another account: its connection logs in again
    (the reference closes it); users left where they were keep their connections."""
    import signal
    with Server(config=ACCOUNTS) as s:
        moved, stays = _login(s, "b2", "pb"), _login(s, "a", "pa")
        with open(s.conf_path, "w") as f:
            f.write(ACCOUNTS.replace("{user: b2, password: pb}", "")
                    .replace("{user: a, password: pa}", "{user: a, password: pa}, "
                             "{user: b2, password: pb}") + "listen: 127.0.0.1:%d\n" % s.port)
        s.signal(signal.SIGHUP)
        s.wait_log(r"Reloaded server configuration")
        moved.expect_closed(5, allow_data=True)
        stays.ping_pong()
        again = _login(s, "b2", "pb")
        again.send(b"SUB foo 1\r\n")
        again.ping_pong()
        stays.send(b"PUB foo 2\r\nok\r\n")
        stays.ping_pong()
        assert again.sync() == b"MSG foo 1 2\r\nok\r\n"
