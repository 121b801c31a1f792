"""The full account resolver (docs/operator.md "The full resolver"): account JWTs kept
in a directory, pushed by a system account user on $SYS.REQ.CLAIMS.UPDATE and
$SYS.REQ.ACCOUNT.<acc>.CLAIMS.UPDATE, read back with CLAIMS.LOOKUP and CLAIMS.LIST,
kept across a restart, and asked of the other servers of the cluster
($SYS.REQ.ACCOUNT.<acc>.CLAIMS.LOOKUP) when a login or a route names an account the
directory does not have. Tokens are made by the official libraries (npm @nats-io/jwt,
tests/integration/js/jwt_tool.mjs, through test_operator.py's helpers). Every test
also passes against the reference (GNATSD_BIN=/usr/sbin/nats-server)."""

import json
import os
import re
import tempfile
import time

from harness import (Client, Server, free_port, got_within, http_json, is_reference, server_bin,
                     wait_until)

REFERENCE = "/usr/sbin/nats-server"
from test_operator import (_World, _account, _logged_in, _login, _refused, _start_fails, _user)

TIMEOUTS = {"test_full_resolver_update_lookup_list_restart": 90, "test_full_resolver_refusals": 60,
            "test_full_resolver_sync_between_servers": 90,
            "test_full_resolver_sync_with_the_reference": 150,
            "test_full_resolver_lookup_between_servers": 60,
            "test_full_resolver_lookup_with_the_reference": 120,
            "test_full_resolver_lookup_shared_and_abandoned": 60,
            "test_full_resolver_lookup_for_a_route": 60,
            "test_full_resolver_lookups_bounded": 90}


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
    # timeout: a duration string only (a number is the reference's type panic), positive
    conf = _full_conf(w, d)
    log = _start_fails(conf.replace("limit: 1000", "limit: 1000\n  timeout: 2"))
    assert "interface conversion: interface {} is int64, not string" in log, log
    log = _start_fails(conf.replace("limit: 1000", 'limit: 1000\n  timeout: "0s"'))
    assert "Fetch timeout 0s is too smal" in log, log
    log = _start_fails(conf.replace("limit: 1000", 'limit: 1000\n  timeout: "soon"'))
    assert 'time: invalid duration "soon"' in log, log


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


AUTH_ERR = b"-ERR 'Authorization Violation'\r\n"


def _lookup_cluster(w, d1, d2, pre1, first_bin, second_bin, timeout=None, debug=False):
    """Two full resolvers routed to each other, each with its own directory: the first
    with pre1 preloaded, the second with the system account only (and the resolver's
    timeout key when given). The servers, not started."""
    c1 = free_port()
    cl1 = "cluster {\n  listen: 127.0.0.1:%d\n  name: full\n}\n" % c1
    cl2 = ("cluster {\n  listen: 127.0.0.1:%d\n  name: full\n  routes: [\"nats://127.0.0.1:%d\"]\n}\n"
           % (free_port(), c1))
    t2 = _full_conf(w, d2, extra=cl2)
    if timeout:
        t2 = t2.replace("limit: 1000", "limit: 1000\n  timeout: \"%s\"" % timeout)
    args = ["-D"] if debug else []
    s1 = Server(config=_full_conf(w, d1, preload=pre1, extra=cl1), monitor=True, args=args)
    s2 = Server(config=t2, monitor=True, args=args)
    s1.bin, s2.bin = first_bin, second_bin
    return s1, s2


def _routed(w, s1, s2, acc):
    """Both routed, each knowing the other's interest: a system user's CLAIMS.LOOKUP of
    acc on the second is answered by the first (the way the second's own lookups go)."""
    for s in (s1, s2):
        wait_until(lambda: http_json(s.mport, "/varz")["routes"] == 1, 10, what="the route")
    sc = _logged_in(s2, _user(w.sys[0], "sysu"))
    sc.send(b"SUB _INBOX.w.* 1\r\n")
    sc.ping_pong()
    tries = [0]

    def answered():
        tries[0] += 1
        subj = ("$SYS.REQ.ACCOUNT.%s.CLAIMS.LOOKUP" % acc).encode()
        sc.send(b"PUB %s _INBOX.w.%d 0\r\n\r\n" % (subj, tries[0]))
        return got_within(sc, re.compile(rb"MSG _INBOX\.w\.\d+ 1 \d+\r\n", re.S), 0.5)
    wait_until(answered, 15, what="the route's interest both ways")
    sc.close()


def _lookup_pair(first_bin, second_bin, timeout=None):
    """A is in the first server's directory only: a user of A logs in on the second,
    which asks the first for A and stores it; a user of an account nobody has is
    refused once the second's lookup timed out."""
    w = _World()
    d1, d2 = tempfile.mkdtemp(prefix="gnatsd-jwtdir-"), tempfile.mkdtemp(prefix="gnatsd-jwtdir-")
    a, nb = _account(w.oseed, "A"), _account(w.oseed, "NOBODY")
    ua, unb = _user(a[0], "ua"), _user(nb[0], "unb")
    s1, s2 = _lookup_cluster(w, d1, d2, {w.sys[1]: w.sys[2], a[1]: a[2]}, first_bin, second_bin,
                             timeout)
    with s1, s2:
        _routed(w, s1, s2, a[1])
        assert not os.path.exists(os.path.join(d2, a[1] + ".jwt"))
        c = _logged_in(s2, ua)
        assert open(os.path.join(d2, a[1] + ".jwt")).read().strip() == a[2]
        # A is an ordinary account on the second now: a message across the route
        c1 = _logged_in(s1, ua)
        n0 = _nsubs(s1)
        c.send(b"SUB foo 1\r\n")
        c.ping_pong()
        wait_until(lambda: _nsubs(s1) > n0, 10, what="A's interest on the first")
        c1.send(b"PUB foo 2\r\nhi\r\n")
        c1.ping_pong()
        c.expect(b"MSG foo 1 2\r\nhi\r\n", 5)
        # nobody has NOBODY: refused after the second's timeout
        limit = 1.9 if timeout is None else float(timeout.rstrip("s"))
        t0 = time.monotonic()
        bad = _login(s2, unb)
        bad.send(b"PING\r\n")
        bad.expect(AUTH_ERR, limit + 5)
        took = time.monotonic() - t0
        bad.expect_closed(5)
        assert limit - 0.2 <= took <= limit + 2.5, took
        assert not os.path.exists(os.path.join(d2, nb[1] + ".jwt"))
        wait_until(lambda: "Account fetch failed: fetching jwt timed out" in s2.log(), 5,
                   what="the second's log line")
        # the first does not have it either: it says so, and answers nothing
        wait_until(lambda: ("Merging resulted in error: open %s.jwt: no such file or directory"
                            % os.path.join(d1, nb[1])) in s1.log(), 5, what="the first's log line")
        c.ping_pong()


def _nsubs(s):
    return http_json(s.mport, "/subsz")["num_subscriptions"]


def test_full_resolver_lookup_between_servers():
    b = server_bin()
    _lookup_pair(b, b)


def test_full_resolver_lookup_with_the_reference():
    if not os.path.exists(REFERENCE):
        raise AssertionError("reference nats-server not installed at %s" % REFERENCE)
    # 3 s: the answer must come from a peer that may be starved of CPU (a sanitizer build
    # and parallel tests on two cores); the timed-out leg then takes 3 s each way
    _lookup_pair(REFERENCE, server_bin(), timeout="3s")
    _lookup_pair(server_bin(), REFERENCE, timeout="3s")


def test_full_resolver_lookup_shared_and_abandoned():
    """Logins waiting for the same account: one lookup answers them all (one request,
    one log line on gnatsd; the reference asks once per login). A client that goes away
    while its login waits leaves the server as it was."""
    w = _World()
    d1, d2 = tempfile.mkdtemp(prefix="gnatsd-jwtdir-"), tempfile.mkdtemp(prefix="gnatsd-jwtdir-")
    a, nb = _account(w.oseed, "A"), _account(w.oseed, "NOBODY")
    ua, unb = _user(a[0], "ua"), _user(nb[0], "unb")
    s1, s2 = _lookup_cluster(w, d1, d2, {w.sys[1]: w.sys[2], a[1]: a[2]}, server_bin(),
                             server_bin(), timeout="1s")
    with s1, s2:
        _routed(w, s1, s2, a[1])
        gone = _login(s2, unb)  # closes while it waits
        waiting = [_login(s2, unb) for _ in range(3)]
        gone.close()
        for c in waiting:
            c.send(b"PING\r\n")
        for c in waiting:
            c.expect(AUTH_ERR, 6)
            c.expect_closed(5)
        wait_until(lambda: s2.log().count("Account fetch failed: fetching jwt timed out") >= 1,
                   5, what="the lookup's end")
        if server_bin() != REFERENCE:
            assert s2.log().count("Account fetch failed: fetching jwt timed out") == 1, s2.log()
            assert s1.log().count("Merging resulted in error: open") == 1, s1.log()
        # and A is still found for the next login, on a server that is fine
        _logged_in(s2, ua).ping_pong()


def test_full_resolver_lookup_for_a_route():
    """A route's RS+ naming an account the second server does not have: its interest
    waits in a placeholder account (as the reference's), and gnatsd also looks the
    account up at once (the reference waits for a login), so it exists there soon after
    without any login. A publisher of that account on the second then reaches the
    subscriber on the first, whose RS+ came before the account did."""
    w = _World()
    d1, d2 = tempfile.mkdtemp(prefix="gnatsd-jwtdir-"), tempfile.mkdtemp(prefix="gnatsd-jwtdir-")
    a = _account(w.oseed, "A")
    ua = _user(a[0], "ua")
    s1, s2 = _lookup_cluster(w, d1, d2, {w.sys[1]: w.sys[2], a[1]: a[2]}, server_bin(),
                             server_bin())
    with s1, s2:
        _routed(w, s1, s2, a[1])
        c = _logged_in(s1, ua)
        c.send(b"SUB foo 1\r\n")
        c.ping_pong()
        if server_bin() != REFERENCE:
            wait_until(lambda: os.path.exists(os.path.join(d2, a[1] + ".jwt")), 10,
                       what="A's JWT fetched into the second server's directory")
            wait_until(lambda: a[1] in http_json(s2.mport, "/accountz")["accounts"], 10,
                       what="A loaded on the second")
        p = _logged_in(s2, ua)
        p.send(b"PUB foo 2\r\nhi\r\n")
        p.ping_pong()
        c.expect(b"MSG foo 1 2\r\nhi\r\n", 5)


def test_full_resolver_lookups_bounded():
    """gnatsd-c looks up at most 256 accounts at once (the reference has no bound): of
    257 logins waiting for 257 accounts nobody has, one is refused at once with a log
    line, the others when their lookup timed out."""
    if is_reference():
        return
    from test_operator import _tool
    w = _World()
    d = tempfile.mkdtemp(prefix="gnatsd-jwtdir-")
    keys = _tool().ok("keys", kind="account", n=257)["keys"]
    users = []
    for k in keys:
        upub = _tool().ok("keys", kind="user")["keys"][0]["pub"]
        users.append(_tool().ok("user", pub=upub, account=k["seed"], name="u",
                                bearer_token=True)["jwt"])
    conf = _full_conf(w, d).replace("limit: 1000", 'limit: 1000\n  timeout: "4s"')
    with Server(config=conf) as s:
        t0 = time.monotonic()
        clients = []
        for jwt in users:
            c = Client(s.port)
            c.connect(jwt=jwt)
            c.send(b"PING\r\n")
            clients.append(c)
        wait_until(lambda: "fetch refused: 256 account lookups in flight already" in s.log(), 3,
                   what="the 257th lookup refused")
        assert time.monotonic() - t0 < 4, "refused only after the others' timeout"
        for c in clients:
            c.expect(AUTH_ERR, 15)
            c.expect_closed(5)
        log = s.log()
        assert log.count("fetch refused: 256 account lookups in flight already") == 1, log[-2000:]
        assert log.count("Account fetch failed: fetching jwt timed out") == 256, log[-2000:]
