"""The full account resolver (docs/operator.md "The full resolver"): account JWTs kept
in a directory, pushed by a system account user on $SYS.REQ.CLAIMS.UPDATE and
$SYS.REQ.ACCOUNT.<acc>.CLAIMS.UPDATE, read back with CLAIMS.LOOKUP and CLAIMS.LIST,
kept across a restart. Tokens are made by the official libraries (npm @nats-io/jwt,
tests/integration/js/jwt_tool.mjs, through test_operator.py's helpers). Every test
also passes against the reference (GNATSD_BIN=/usr/sbin/nats-server)."""

import json
import os
import tempfile
import time

from harness import Server, free_port, http_json, server_bin, wait_until

REFERENCE = "/usr/sbin/nats-server"
from test_operator import (_World, _account, _logged_in, _login, _refused, _start_fails, _user)

TIMEOUTS = {"test_full_resolver_update_lookup_list_restart": 90, "test_full_resolver_refusals": 60,
            "test_full_resolver_sync_between_servers": 90,
            "test_full_resolver_sync_with_the_reference": 150}


def _full_conf(w, d, preload=None, extra=""):
    text = 'operator = "%s"\nsystem_account = %s\n' % (w.jwt, w.sys[1])
    text += ('resolver {\n  type: full\n  dir: "%s"\n  allow_delete: true\n  interval: "2m"\n'
             '  limit: 1000\n}\n' % d)
    pre = {w.sys[1]: w.sys[2]} if preload is None else preload
    if pre:
        text += "resolver_preload = {\n" + "".join(
            '  %s: "%s"\n' % (k, v) for k, v in pre.items()) + "}\n"
    return text + extra


def _request(c, subject, payload, inbox):
    """One request on a raw client: its reply's payload (bytes)."""
    data = payload.encode() if isinstance(payload, str) else payload
    c.send(b"PUB %s %s %d\r\n%s\r\n" % (subject.encode(), inbox.encode(), len(data), data))
    # (the reference writes an empty reply as a second blank: "MSG s 1  356")
    m = c.expect_re(rb"MSG (\S+) \S+ +(\d+)\r\n", 10)
    assert m.group(1) == inbox.encode(), (m.group(1), inbox)
    return c.expect_re(rb"(.{%d})\r\n" % int(m.group(2)), 10).group(1)


def test_full_resolver_update_lookup_list_restart():
    w = _World()
    d = tempfile.mkdtemp(prefix="gnatsd-jwtdir-")
    a = _account(w.oseed, "A")
    ua = _user(a[0], "ua")
    sysu = _user(w.sys[0], "sysu")
    with Server(config=_full_conf(w, d)) as s:
        _refused(_login(s, ua))  # not pushed yet
        sc = _logged_in(s, sysu)
        sc.send(b"SUB _INBOX.r.* 1\r\n")
        sc.ping_pong()
        r = json.loads(_request(sc, "$SYS.REQ.CLAIMS.UPDATE", a[2], "_INBOX.r.1"))
        assert r["data"] == {"account": a[1], "code": 200, "message": "jwt updated"}, r
        assert r["server"]["id"], r
        assert os.path.exists(os.path.join(d, a[1] + ".jwt"))
        c = _logged_in(s, ua)  # held open below
        # lookup and list
        assert _request(sc, "$SYS.REQ.ACCOUNT.%s.CLAIMS.LOOKUP" % a[1], "", "_INBOX.r.2") == \
            a[2].encode()
        r = json.loads(_request(sc, "$SYS.REQ.CLAIMS.LIST", "", "_INBOX.r.3"))
        assert sorted(r["data"]) == sorted([a[1], w.sys[1]]), r
        # a new JWT of A with a connection limit of 1: the second login is refused
        time.sleep(1.1)  # a later iat than the stored one (whole seconds)
        a2 = _account_for(a, w, limits={"conn": 1})
        r = json.loads(_request(sc, "$SYS.REQ.ACCOUNT.%s.CLAIMS.UPDATE" % a[1], a2,
                                "_INBOX.r.4"))
        assert r["data"]["message"] == "jwt updated", r
        _refused(_login(s, ua), b"-ERR 'maximum account active connections exceeded'\r\n")
        c.ping_pong()  # the one already connected stays
        # errors: another account's subject, and no JWT at all
        b = _account(w.oseed, "B")
        r = json.loads(_request(sc, "$SYS.REQ.ACCOUNT.%s.CLAIMS.UPDATE" % b[1], a2,
                                "_INBOX.r.5"))
        assert r["error"] == {"account": b[1], "code": 500, "description":
                              "jwt update resulted in error - subject does not match jwt "
                              "content"}, r
        r = json.loads(_request(sc, "$SYS.REQ.CLAIMS.UPDATE", "not a jwt", "_INBOX.r.6"))
        assert r["error"]["account"] == "n/a" and r["error"]["code"] == 500, r
        assert r["error"]["description"].startswith("jwt update resulted in error - "), r
    # a restart with the same directory: A is still known (with its newer JWT)
    with Server(config=_full_conf(w, d)) as s:
        kept = _logged_in(s, ua)  # held: a dropped client would free its slot
        _refused(_login(s, ua), b"-ERR 'maximum account active connections exceeded'\r\n")
        kept.ping_pong()


def _account_for(a, w, **kw):
    """A new JWT of the existing account a (same key), signed by the operator."""
    from test_operator import _account_jwt
    return _account_jwt(a[1], w.oseed, "A", **kw)


def test_full_resolver_refusals():
    w = _World()
    d = tempfile.mkdtemp(prefix="gnatsd-jwtdir-")
    # no system account: the reference's text
    text = 'operator = "%s"\nresolver {\n  type: full\n  dir: "%s"\n}\n' % (w.jwt, d)
    log = _start_fails(text)
    assert ("using nats based account resolver - the system account needs to be specified in "
            "configuration or the operator jwt") in log, log
    # no dir
    text = 'operator = "%s"\nsystem_account = %s\nresolver {\n  type: full\n}\n' % (
        w.jwt, w.sys[1])
    log = _start_fails(text)
    assert "dir has no value and needs to point to a directory" in log, log


def _sync_pair(first_bin, second_bin):
    """A pushed to the first server only; the second, started later with an empty
    directory and routed to the first, gets A through the CLAIMS.PACK sync."""
    w = _World()
    d1, d2 = tempfile.mkdtemp(prefix="gnatsd-jwtdir-"), tempfile.mkdtemp(prefix="gnatsd-jwtdir-")
    a = _account(w.oseed, "A")
    ua, sysu = _user(a[0], "ua"), _user(w.sys[0], "sysu")
    c1 = free_port()
    cl1 = "cluster {\n  listen: 127.0.0.1:%d\n  name: full\n}\n" % c1
    s1 = Server(config=_full_conf(w, d1, extra=cl1).replace('interval: "2m"', 'interval: "1s"'),
                monitor=True)
    s1.bin = first_bin
    with s1:
        sc = _logged_in(s1, sysu)
        sc.send(b"SUB _INBOX.r.* 1\r\n")
        sc.ping_pong()
        r = json.loads(_request(sc, "$SYS.REQ.CLAIMS.UPDATE", a[2], "_INBOX.r.1"))
        assert r["data"]["message"] == "jwt updated", r
        cl2 = "cluster {\n  listen: 127.0.0.1:%d\n  name: full\n  routes: [\"nats://127.0.0.1:%d\"]\n}\n" % (
            free_port(), c1)
        s2 = Server(config=_full_conf(w, d2, extra=cl2).replace('interval: "2m"', 'interval: "1s"'),
                    monitor=True)
        s2.bin = second_bin
        with s2:
            wait_until(lambda: http_json(s2.mport, "/varz")["routes"] == 1, 10, what="the route")
            wait_until(lambda: os.path.exists(os.path.join(d2, a[1] + ".jwt")), 20,
                       what="A's JWT synced into the second server's directory")
            _logged_in(s2, ua).ping_pong()


def test_full_resolver_sync_between_servers():
    b = server_bin()
    _sync_pair(b, b)


def test_full_resolver_sync_with_the_reference():
    if not os.path.exists(REFERENCE):
        raise AssertionError("reference nats-server not installed at %s" % REFERENCE)
    _sync_pair(REFERENCE, server_bin())
    _sync_pair(server_bin(), REFERENCE)
