"""The accounts configs of the NATS documentation (tests/integration/configs/accounts/)
start and behave the same on both servers (every test here also passes against the
reference: GNATSD_BIN=/usr/sbin/nats-server)."""

import json
import os

from harness import Client, Server, connected

HERE = os.path.dirname(os.path.abspath(__file__))


def _conf(name):
    with open(os.path.join(HERE, "configs", "accounts", name)) as f:
        return f.read()


def _login(s, user, pw):
    return connected(s, user=user, **{"pass": pw})


def test_docs_exports_and_imports():
    with Server(config=_conf("docs_exports_imports.conf")) as s:
        a, b, c = _login(s, "a", "a"), _login(s, "b", "b"), _login(s, "c", "c")
        anon = connected(s)  # no_auth_user: a, in account A
        b.send(b"SUB b.> 1\r\nSUB puba.> 2\r\n")
        c.send(b"SUB from_a.puba.> 1\r\nSUB b.> 2\r\n")
        a.send(b"SUB q.b 7\r\nSUB pubq.C 8\r\n")
        for x in (a, b, c):
            x.ping_pong()
        anon.send(b"PUB b.x 1\r\n1\r\nPUB puba.y 1\r\n2\r\n")
        anon.ping_pong()
        assert b.read_msgs(1)[0][:2] == (b"b.x", b"1")  # restricted to B: B only
        b.expect_nothing(0.2)  # puba is not imported by B
        assert c.read_msgs(1)[0][:2] == (b"from_a.puba.y", b"1")  # C, with its prefix
        c.expect_nothing(0.2)
        # B's service import of q.b, C's of pubq.C as Q
        b.send(b"PUB q.b binbox 3\r\nreq\r\n")
        b.ping_pong()
        m = a.expect_re(rb"MSG q.b 7 (\S+) 3\r\nreq\r\n")
        c.send(b"PUB Q cinbox 3\r\nreq\r\n")
        c.ping_pong()
        m2 = a.expect_re(rb"MSG pubq.C 8 (\S+) 3\r\nreq\r\n")
        b.send(b"SUB binbox 9\r\n")
        c.send(b"SUB cinbox 9\r\n")
        b.ping_pong()
        c.ping_pong()
        # (the replies were made before the requesters subscribed to their inboxes:
        # answer only what is still wanted by asking again)
        for cli, subj, sid in ((b, b"q.b", 7), (c, b"Q", 8)):
            cli.send(b"PUB %s %s 3\r\nreq\r\n" % (subj, b"binbox" if cli is b else b"cinbox"))
            cli.ping_pong()
        r1 = a.expect_re(rb"MSG q.b 7 (\S+) 3\r\nreq\r\n").group(1)
        r2 = a.expect_re(rb"MSG pubq.C 8 (\S+) 3\r\nreq\r\n").group(1)
        a.send(b"PUB %s 2\r\nok\r\nPUB %s 2\r\nok\r\n" % (r1, r2))
        a.ping_pong()
        assert b.read_msgs(1)[0] == (b"binbox", b"9", None, b"ok")
        assert c.read_msgs(1)[0] == (b"cinbox", b"9", None, b"ok")
        assert m and m2


def test_docs_system_account():
    with Server(config=_conf("docs_system_account.conf")) as s:
        admin = _login(s, "admin", "changeit")
        admin.send(b"SUB $SYS.ACCOUNT.APP.CONNECT 1\r\nSUB _INBOX.a 2\r\n")
        admin.ping_pong()
        app = _login(s, "app", "app")
        m = admin.expect_re(rb"MSG \$SYS.ACCOUNT.APP.CONNECT 1 +(\d+)\r\n")
        ev = json.loads(admin.expect_re(rb"(.{%d})\r\n" % int(m.group(1))).group(1))
        assert ev["client"]["acc"] == "APP" and ev["client"]["user"] == "app", ev
        # the application account sees none of it
        app.send(b"SUB $SYS.> 1\r\n")
        app.ping_pong()
        other = Client(s.port)
        other.connect(user="app", **{"pass": "app"})
        other.ping_pong()
        app.expect_nothing(0.3)
