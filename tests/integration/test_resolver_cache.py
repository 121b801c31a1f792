"""The cache account resolver (docs/operator.md "The cache resolver"): a server with
`resolver { type: cache }` keeps no accounts of its own; it fetches each one from the
other servers when a user logs in ($SYS.REQ.ACCOUNT.<acc>.CLAIMS.LOOKUP, answered by a
full resolver), keeps it in its directory for `ttl`, at most `limit` of them (the least
recently used file goes first), takes pushed updates of the accounts it has loaded only,
and answers no lookups itself. Tokens are made by the official libraries (npm
@nats-io/jwt, through test_operator.py's helpers). Every test also passes against the
reference (GNATSD_BIN=/usr/sbin/nats-server), and the pairs run mixed with it."""

import json
import os
import tempfile
import time

from harness import Server, free_port, server_bin, wait_until

from test_operator import (_World, _account, _logged_in, _login, _refused, _start_fails, _user)
from test_resolver_full import (REFERENCE, _account_for, _full_conf, _request, _routed)

TIMEOUTS = {"test_cache_resolver_fetch_and_updates": 60,
            "test_cache_resolver_with_the_reference": 150,
            "test_cache_resolver_ttl": 60, "test_cache_resolver_limit": 60,
            "test_cache_resolver_refusals": 60}


def _cache_conf(w, d, ttl=None, limit=None, extra=""):
    text = 'operator = "%s"\nsystem_account = %s\n' % (w.jwt, w.sys[1])
    text += 'resolver {\n  type: cache\n  dir: "%s"\n' % d
    if ttl is not None:
        text += '  ttl: "%s"\n' % ttl
    if limit is not None:
        text += "  limit: %d\n" % limit
    text += '  timeout: "3s"\n}\n'
    text += 'resolver_preload = {\n  %s: "%s"\n}\n' % (w.sys[1], w.sys[2])
    return text + extra


def _pair(w, d1, d2, pre1, full_bin, cache_bin, **cache_kw):
    """A full resolver (with pre1) and a cache resolver routed to it: not started."""
    c1 = free_port()
    cl1 = "server_name: full1\ncluster {\n  listen: 127.0.0.1:%d\n  name: cc\n}\n" % c1
    cl2 = ("server_name: cache2\ncluster {\n  listen: 127.0.0.1:%d\n  name: cc\n"
           "  routes: [\"nats://127.0.0.1:%d\"]\n}\n" % (free_port(), c1))
    s1 = Server(config=_full_conf(w, d1, preload=pre1, extra=cl1), monitor=True)
    s2 = Server(config=_cache_conf(w, d2, extra=cl2, **cache_kw), monitor=True)
    s1.bin, s2.bin = full_bin, cache_bin
    return s1, s2


def _replies(c, inbox, n, timeout=10):
    """The JSON replies on inbox until there are n, by server name."""
    out = {}
    deadline = time.monotonic() + timeout
    while len(out) < n:
        left = deadline - time.monotonic()
        assert left > 0, "only %d of %d replies: %r" % (len(out), n, out)
        m = c.expect_re(rb"MSG (\S+) \S+ +(\d+)\r\n", left)
        body = c.expect_re(rb"(.{%d})\r\n" % int(m.group(2)), left).group(1)
        if m.group(1) == inbox.encode():
            r = json.loads(body)
            out[r["server"]["name"]] = r
    return out


def _push(sc, subject, payload, inbox):
    """A request every server answers (both subscribe): their replies by server name."""
    data = payload.encode()
    sc.send(b"PUB %s %s %d\r\n%s\r\n" % (subject.encode(), inbox.encode(), len(data), data))
    return _replies(sc, inbox, 2)


def _jwt_file(d, acc):
    return os.path.join(d, acc + ".jwt")


def _fetch_and_updates(full_bin, cache_bin):
    w = _World()
    d1, d2 = tempfile.mkdtemp(prefix="gnatsd-jwtdir-"), tempfile.mkdtemp(prefix="gnatsd-jwtdir-")
    a, b = _account(w.oseed, "A"), _account(w.oseed, "B")
    ua = _user(a[0], "ua")
    s1, s2 = _pair(w, d1, d2, {w.sys[1]: w.sys[2], a[1]: a[2], b[1]: b[2]}, full_bin, cache_bin,
                   ttl="1h")
    with s1, s2:
        wait_until(lambda: ("Managing some jwt in exclusive directory %s" % d2) in s2.log(), 5,
                   what="the cache's start-up line")
        _routed(w, s1, s2, a[1])
        assert not os.path.exists(_jwt_file(d2, a[1]))
        c = _logged_in(s2, ua)  # fetched from the full resolver, stored
        assert open(_jwt_file(d2, a[1])).read().strip() == a[2]
        sc = _logged_in(s2, _user(w.sys[0], "sysu"))
        sc.send(b"SUB _INBOX.r.* 1\r\n")
        sc.ping_pong()
        # an update of A (loaded on the cache): both store it, each with its own text
        time.sleep(1.1)  # a later iat than the stored one (whole seconds)
        a2 = _account_for(a, w, limits={"conn": 1})
        r = _push(sc, "$SYS.REQ.ACCOUNT.%s.CLAIMS.UPDATE" % a[1], a2, "_INBOX.r.1")
        assert r["full1"]["data"] == {"account": a[1], "code": 200, "message": "jwt updated"}, r
        assert r["cache2"]["data"] == {"account": a[1], "code": 200,
                                       "message": "jwt updated cache"}, r
        assert open(_jwt_file(d2, a[1])).read().strip() == a2
        _refused(_login(s2, ua), b"-ERR 'maximum account active connections exceeded'\r\n")
        c.ping_pong()  # the one connected stays
        # B was never loaded on the cache: skipped there, not stored
        b2 = _account_for(b, w, limits={"conn": 5})
        r = _push(sc, "$SYS.REQ.CLAIMS.UPDATE", b2, "_INBOX.r.2")
        assert r["cache2"]["data"] == {"account": b[1], "code": 200,
                                       "message": "jwt update cache skipped"}, r
        assert r["full1"]["data"]["message"] == "jwt updated", r
        assert not os.path.exists(_jwt_file(d2, b[1]))
        # the cache stores an update whatever its iat (the reference's save): A's first
        # JWT again, without the connection limit
        r = _push(sc, "$SYS.REQ.CLAIMS.UPDATE", a[2], "_INBOX.r.5")
        assert r["cache2"]["data"]["message"] == "jwt updated cache", r
        assert open(_jwt_file(d2, a[1])).read().strip() == a[2]
        _logged_in(s2, ua).ping_pong()
        # errors, with the cache's texts: another account's JWT, no JWT at all
        r = _push(sc, "$SYS.REQ.ACCOUNT.%s.CLAIMS.UPDATE" % b[1], a2, "_INBOX.r.3")
        assert r["cache2"]["error"] == {
            "account": b[1], "code": 500,
            "description": "jwt update cache resulted in error - subject does not match jwt "
                           "content"}, r
        r = _push(sc, "$SYS.ACCOUNT.%s.CLAIMS.UPDATE" % a[1], "not a jwt", "_INBOX.r.4")
        # (the cache names the subject's account, the full resolver "n/a")
        assert r["cache2"]["error"]["account"] == a[1], r
        assert r["full1"]["error"]["account"] == "n/a", r
        assert r["cache2"]["error"]["description"].startswith(
            "jwt update cache resulted in error - "), r
        # LIST: the cache's files; LOOKUP: the cache answers none (the full one does)
        r = _push(sc, "$SYS.REQ.CLAIMS.LIST", "", "_INBOX.r.l1")
        assert sorted(r["cache2"]["data"]) == sorted([w.sys[1], a[1]]), r
        # (what the full one holds: the reference's full resolver took A's older JWT
        # above too, gnatsd's keeps the newer; not this file's concern)
        assert _request(sc, "$SYS.REQ.ACCOUNT.%s.CLAIMS.LOOKUP" % a[1], "", "_INBOX.r.l2") == \
            open(_jwt_file(d1, a[1])).read().strip().encode()
        # a LIST after it, answered by both: no second lookup answer came before
        got = []
        sc.send(b"PUB $SYS.REQ.CLAIMS.LIST _INBOX.r.l3 0\r\n\r\n")
        while len([g for g in got if g == b"_INBOX.r.l3"]) < 2:
            m = sc.expect_re(rb"MSG (\S+) \S+ +(\d+)\r\n", 10)
            sc.expect_re(rb"(.{%d})\r\n" % int(m.group(2)), 10)
            got.append(m.group(1))
        assert b"_INBOX.r.l2" not in got, got


def test_cache_resolver_fetch_and_updates():
    b = server_bin()
    _fetch_and_updates(b, b)


def test_cache_resolver_with_the_reference():
    if not os.path.exists(REFERENCE):
        raise AssertionError("reference nats-server not installed at %s" % REFERENCE)
    _fetch_and_updates(REFERENCE, server_bin())
    _fetch_and_updates(server_bin(), REFERENCE)


def test_cache_resolver_ttl():
    """The JWT's file goes ttl after it was stored; the account stays loaded (the
    reference calls nothing back on expiry): its client stays, a new login works, and
    an update still reaches it (the file comes back)."""
    w = _World()
    d1, d2 = tempfile.mkdtemp(prefix="gnatsd-jwtdir-"), tempfile.mkdtemp(prefix="gnatsd-jwtdir-")
    a = _account(w.oseed, "A")
    ua = _user(a[0], "ua")
    b = server_bin()
    s1, s2 = _pair(w, d1, d2, {w.sys[1]: w.sys[2], a[1]: a[2]}, b, b, ttl="2s")
    with s1, s2:
        _routed(w, s1, s2, a[1])
        c = _logged_in(s2, ua)
        assert os.path.exists(_jwt_file(d2, a[1]))
        wait_until(lambda: not os.path.exists(_jwt_file(d2, a[1])), 10,
                   what="A's JWT expired from the cache")
        c.ping_pong()
        _logged_in(s2, ua).ping_pong()
        sc = _logged_in(s2, _user(w.sys[0], "sysu"))
        sc.send(b"SUB _INBOX.r.* 1\r\n")
        sc.ping_pong()
        time.sleep(1.1)  # a later iat than the stored one (whole seconds)
        r = _push(sc, "$SYS.REQ.CLAIMS.UPDATE", _account_for(a, w, limits={"conn": 9}),
                  "_INBOX.r.1")
        assert r["cache2"]["data"]["message"] == "jwt updated cache", r
        assert os.path.exists(_jwt_file(d2, a[1]))
        c.ping_pong()


def test_cache_resolver_limit():
    """limit 2: three accounts logged in one after the other leave the last two files
    (the least recently used ones went); their accounts stay loaded."""
    w = _World()
    d1, d2 = tempfile.mkdtemp(prefix="gnatsd-jwtdir-"), tempfile.mkdtemp(prefix="gnatsd-jwtdir-")
    accs = [_account(w.oseed, n) for n in ("A1", "A2", "A3")]
    pre = {w.sys[1]: w.sys[2]}
    pre.update({x[1]: x[2] for x in accs})
    b = server_bin()
    s1, s2 = _pair(w, d1, d2, pre, b, b, limit=2)
    with s1, s2:
        _routed(w, s1, s2, accs[0][1])
        clients = []
        for x in accs:
            clients.append(_logged_in(s2, _user(x[0], "u")))
            assert os.path.exists(_jwt_file(d2, x[1]))
        files = sorted(f for f in os.listdir(d2) if f.endswith(".jwt"))
        assert files == sorted(_jwt_file("", x[1]).lstrip("/") for x in accs[1:]), files
        for c in clients:
            c.ping_pong()
        # an update of another account: the evicted one stays loaded all the same (no
        # lookup for the next login of A1, its client not checked out)
        sc = _logged_in(s2, _user(w.sys[0], "sysu"))
        sc.send(b"SUB _INBOX.r.* 1\r\n")
        sc.ping_pong()
        time.sleep(1.1)  # a later iat than the stored one (whole seconds)
        r = _push(sc, "$SYS.REQ.CLAIMS.UPDATE", _account_for(accs[2], w, limits={"conn": 9}),
                  "_INBOX.r.1")
        assert r["cache2"]["data"]["message"] == "jwt updated cache", r
        _logged_in(s2, _user(accs[0][0], "u2")).ping_pong()
        assert not os.path.exists(_jwt_file(d2, accs[0][1]))  # not fetched again
        for c in clients:
            c.ping_pong()


def test_cache_resolver_refusals():
    w = _World()
    d = tempfile.mkdtemp(prefix="gnatsd-jwtdir-")
    conf = _cache_conf(w, d)
    for key, want in (('interval: "1m"', "CACHE does not accept sync"),
                      ("allow_delete: true", "CACHE does not accept allow_delete"),
                      ("ttl: 5", "interface conversion: interface {} is int64, not string"),
                      ('ttl: "soon"', 'time: invalid duration "soon"')):
        log = _start_fails(conf.replace("type: cache", "type: cache\n  " + key))
        assert want in log, (key, log)
    # ttl is the cache's: a full resolver refuses one other than 0
    log = _start_fails(_full_conf(w, d).replace("limit: 1000", 'limit: 1000\n  ttl: "1m"'))
    assert "FULL does not accept ttl" in log, log
    # a cache fetches through the system account: it needs one
    text = 'operator = "%s"\nresolver {\n  type: cache\n  dir: "%s"\n}\n' % (w.jwt, d)
    log = _start_fails(text)
    assert ("using nats based account resolver - the system account needs to be specified in "
            "configuration or the operator jwt") in log, log
    # zero values are taken: no sync, no ttl
    ok = conf.replace("type: cache", 'type: cache\n  interval: "0s"\n  ttl: "0s"')
    with Server(config=ok) as s:
        _logged_in(s, _user(w.sys[0], "sysu")).ping_pong()
