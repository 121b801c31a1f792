"""Authorization (security.md §5-6, config.md §7.4 and §8): permission forms,
queue-group rules, the delivery-time deny filter, allow_responses, the
seed README's example (raw sockets and libnats request/reply), and reload
(SIGHUP) changing passwords and permissions while other clients stay."""

import os
import signal
import subprocess
import time

from harness import Server, Client
from test_auth import conf, libnats_bin, libnats_run, AUTH_VIOLATION

TIMEOUTS = {"test_seed_readme_libnats": 120, "test_reload_password_libnats": 60}

SEED_PASS = "abcdefghijklmnopqrstuvwxwz0123456789"


def users_config(*entries, extra=""):
    """authorization block: a watcher `w` (no permissions) plus the entries
    (each `(name, permissions-text or None)`, password = name)."""
    lines = ["{user: w, password: w}"]
    for name, perms in entries:
        if perms is None:
            lines.append("{user: %s, password: %s}" % (name, name))
        else:
            lines.append("{user: %s, password: %s, permissions: %s}" % (name, name, perms))
    return "authorization {\n  %s\n  users = [\n    %s\n  ]\n}\n" % (extra, "\n    ".join(lines))


def login(s, name, password=None):
    c = Client(s.port)
    c.connect(user=name, **{"pass": password if password is not None else name})
    c.ping_pong()
    return c


def pub_denied(c, subj):
    c.send("PUB %s 1\r\nx\r\n" % subj)
    got = c.sync()
    want = ("-ERR 'Permissions Violation for Publish to \"%s\"'\r\n" % subj).encode()
    assert got == want, "PUB %s: got %r, want %r" % (subj, got, want)


def pub_ok(c, subj):
    c.send("PUB %s 1\r\nx\r\n" % subj)
    got = c.sync()
    assert got == b"", "PUB %s: unexpected %r" % (subj, got)


def sub_denied(c, subj, queue=None, sid="9"):
    c.send("SUB %s %s%s\r\n" % (subj, queue + " " if queue else "", sid))
    got = c.sync()
    if queue:
        want = "-ERR 'Permissions Violation for Subscription to \"%s\" using queue \"%s\"'\r\n" % (subj, queue)
    else:
        want = "-ERR 'Permissions Violation for Subscription to \"%s\"'\r\n" % subj
    assert got == want.encode(), "SUB %s %s: got %r, want %r" % (subj, queue, got, want)
    # the subscription was not created: unsubscribing it is harmless, and
    # nothing is ever delivered on that sid (checked by callers)


def sub_ok(c, subj, queue=None, sid="9"):
    c.send("SUB %s %s%s\r\n" % (subj, queue + " " if queue else "", sid))
    got = c.sync()
    assert got == b"", "SUB %s %s: unexpected %r" % (subj, queue, got)


def watcher(s, subject=">"):
    w = login(s, "w")
    w.send("SUB %s 1\r\n" % subject)
    w.ping_pong()
    return w


def delivered_subjects(c):
    data = c.sync()
    out = []
    while data:
        line, _, rest = data.partition(b"\r\n")
        parts = line.split()
        assert parts and parts[0] == b"MSG", "unexpected %r" % data[:200]
        n = int(parts[-1])
        out.append(parts[1].decode())
        data = rest[n + 2:]
    return out


# ---------------------------------------------------------------------------
# permission forms

def test_old_list_form_singletons_and_arrays():
    cfg = users_config(("u", '{publish: ["foo", "bar.*"], subscribe: "baz.>"}'),
                       ("v", '{publish: "only", subscribe: ["a", "b.*"]}'))
    with Server(config=cfg) as s:
        w = watcher(s)
        u = login(s, "u")
        pub_ok(u, "foo")
        pub_ok(u, "bar.x")
        pub_denied(u, "bar.x.y")
        pub_denied(u, "baz.q")
        pub_denied(u, "foo.bar")
        sub_ok(u, "baz.a", sid="1")
        sub_ok(u, "baz.a.b", sid="2")
        sub_ok(u, "baz.>", sid="3")
        sub_denied(u, "baz")
        sub_denied(u, "foo")
        sub_denied(u, ">")
        # nothing of the denied publishes reached anyone
        assert delivered_subjects(w) == ["foo", "bar.x"]
        v = login(s, "v")
        pub_ok(v, "only")
        pub_denied(v, "only.not")
        sub_ok(v, "a", sid="1")
        sub_ok(v, "b.c", sid="2")
        sub_denied(v, "b")
        # the connection stays usable after violations
        v.ping_pong()
        u.ping_pong()


def test_allow_deny_form_seed_example():
    # the seed README's myUserPerms example, verbatim
    cfg = """
authorization {
    myUserPerms = {
      publish = {
        allow = "*.*"
        deny = ["SYS.*", "bar.baz", "foo.*"]
      }
      subscribe = {
        allow = ["foo.*", "bar"]
        deny = "foo.baz"
      }
    }
    users = [
        {user: myUser, password: pwd, permissions: $myUserPerms}
        {user: w, password: w}
    ]
}
"""
    with Server(config=cfg) as s:
        w = watcher(s)
        u = login(s, "myUser", "pwd")
        pub_ok(u, "a.b")
        pub_ok(u, "bar.qux")
        pub_denied(u, "SYS.x")
        pub_denied(u, "bar.baz")        # deny wins over the allow *.*
        pub_denied(u, "foo.bar")
        pub_denied(u, "single")         # not two tokens
        pub_denied(u, "a.b.c")
        sub_ok(u, "foo.bar", sid="1")
        sub_ok(u, "bar", sid="2")
        sub_denied(u, "foo.baz")
        sub_denied(u, "baz")
        assert delivered_subjects(w) == ["a.b", "bar.qux"]


def test_missing_allow_means_everything():
    cfg = users_config(("u", '{publish: {deny: "secret.>"}, subscribe: {deny: ["secret.>", "hidden"]}}'),
                       ("e", '{publish: {}, subscribe: []}'))
    with Server(config=cfg) as s:
        u = login(s, "u")
        for subj in ("a", "b.c", "secret", "x.secret.y"):
            pub_ok(u, subj)
        pub_denied(u, "secret.x")
        pub_denied(u, "secret.x.y")
        sub_ok(u, ">", sid="1")
        sub_ok(u, "a.b", sid="2")
        sub_denied(u, "secret.x")
        sub_denied(u, "hidden")
        # empty lists / maps are no restriction
        e = login(s, "e")
        pub_ok(e, "anything")
        sub_ok(e, ">", sid="1")


def test_deny_wins():
    cfg = users_config(("a", '{publish: {allow: ">", deny: "foo"}, subscribe: {allow: ">", deny: "foo"}}'),
                       ("b", '{publish: {allow: "foo", deny: "foo"}, subscribe: {allow: "foo", deny: "foo"}}'),
                       ("c", '{publish: {allow: ["foo.*", "bar"], deny: "foo.>"}}'))
    with Server(config=cfg) as s:
        a = login(s, "a")
        pub_denied(a, "foo")
        pub_ok(a, "foo.bar")
        sub_denied(a, "foo")
        sub_ok(a, "bar", sid="1")
        b = login(s, "b")
        pub_denied(b, "foo")
        sub_denied(b, "foo")
        sub_denied(b, "foo", "q1")
        c = login(s, "c")
        pub_denied(c, "foo.x")
        pub_ok(c, "bar")


def test_wildcards_in_subscribe_permissions():
    cfg = users_config(("s", '{subscribe: "foo.*"}'), ("t", '{subscribe: "foo.bar"}'),
                       ("g", '{subscribe: ">"}'), ("m", '{subscribe: "a.*.c"}'))
    with Server(config=cfg) as s:
        c = login(s, "s")
        sub_ok(c, "foo.*", sid="1")
        sub_ok(c, "foo.bar", sid="2")
        # the subscription's tokens are taken literally: a pattern `*` covers
        # a `>` token (the reference's sublist matches it as one token)
        sub_ok(c, "foo.>", sid="3")
        sub_denied(c, "foo.bar.baz")
        sub_denied(c, ">")
        sub_denied(c, "*.bar")
        t = login(s, "t")
        sub_ok(t, "foo.bar", sid="1")
        sub_denied(t, "foo.*")
        sub_denied(t, "foo.>")
        sub_denied(t, ">")
        g = login(s, "g")
        sub_ok(g, ">", sid="1")
        sub_ok(g, "*.x.>", sid="2")
        m = login(s, "m")
        sub_ok(m, "a.b.c", sid="1")
        sub_ok(m, "a.*.c", sid="2")
        sub_denied(m, "a.b.*")
        sub_denied(m, "a.>")


def test_default_permissions():
    for key in ("default_permissions", "default_permission", "permissions"):
        cfg = users_config(("plain", None), ("own", '{subscribe: "mine.>"}'),
                           extra='%s = { publish: "pub.>", subscribe: "sub.>" }' % key)
        # the watcher has no permissions either: it gets the default too, so
        # use the "own" user's absent publish list to publish
        with Server(config=cfg) as s:
            p = login(s, "plain")
            pub_ok(p, "pub.x")
            pub_denied(p, "other")
            sub_ok(p, "sub.a", sid="1")
            sub_denied(p, "other")
            # no merging: "own" has subscribe only, so publish is unrestricted
            o = login(s, "own")
            pub_ok(o, "other")
            pub_ok(o, "sub.a")
            sub_ok(o, "mine.x", sid="1")
            sub_denied(o, "sub.a")
            assert delivered_subjects(p) == ["sub.a"]


def test_permissions_ignored_for_single_user_and_token():
    for cfg, creds in (
            ('authorization { user: a, password: b, default_permissions: { publish: "x", subscribe: "x" } }',
             {"user": "a", "pass": "b"}),
            ('authorization { token: tt, permissions: { publish: "x", subscribe: "x" } }',
             {"auth_token": "tt"})):
        with Server(config=cfg) as s:
            c = Client(s.port)
            c.connect(**creds)
            c.ping_pong()
            sub_ok(c, ">", sid="1")
            c.send("PUB y 1\r\nz\r\n")
            assert c.sync() == b"MSG y 1 1\r\nz\r\n"


# ---------------------------------------------------------------------------
# queue subscriptions (security.md §5.3 table)

def test_queue_subscribe_permissions_table():
    rows = [
        # (allow, deny, SUB foo, SUB foo q1, SUB foo q2)
        ('"foo"', None, True, True, True),
        ('"foo q1"', None, False, True, False),
        ('["foo", "foo q1"]', None, True, True, False),
        ('"foo"', '"foo q2"', True, True, False),
        ('"foo"', '"foo"', False, False, False),
    ]
    entries = []
    for i, (allow, deny, *_rest) in enumerate(rows):
        perm = "{subscribe: {allow: %s%s}}" % (allow, ", deny: %s" % deny if deny else "")
        entries.append(("r%d" % i, perm))
    with Server(config=users_config(*entries)) as s:
        w = watcher(s, "foo")
        for i, (allow, deny, plain, q1, q2) in enumerate(rows):
            c = login(s, "r%d" % i)
            for sid, (queue, ok) in enumerate(((None, plain), ("q1", q1), ("q2", q2)), 1):
                what = "row %d (allow %s deny %s) SUB foo %s" % (i, allow, deny, queue)
                try:
                    (sub_ok if ok else sub_denied)(c, "foo", queue, sid=str(sid))
                except AssertionError as e:
                    raise AssertionError("%s: %s" % (what, e))
            # exactly the allowed subscriptions receive
            w.send("PUB foo 2\r\nhi\r\n")
            w.sync()
            got = c.sync()
            n = sum(1 for ok in (plain, q1, q2) if ok)
            assert got.count(b"MSG foo ") == n, "row %d: %r" % (i, got)
            # leave no queue member behind for the next row's pick (a closed socket's
            # subscriptions live until the server notices the close)
            c.send("UNSUB 1\r\nUNSUB 2\r\nUNSUB 3\r\n")
            c.ping_pong()
            c.close()


def test_queue_wildcard_pattern():
    with Server(config=users_config(("q", '{subscribe: "foo v.*"}'))) as s:
        c = login(s, "q")
        sub_ok(c, "foo", "v.x", sid="1")
        sub_denied(c, "foo", "v")
        sub_denied(c, "foo", "v.x.y")
        sub_denied(c, "foo")


def test_sys_queue_always_refused():
    with Server() as s:
        c = Client(s.port)
        c.connect()
        sub_denied(c, "foo", "_sys_")
        sub_ok(c, "foo", "sys", sid="2")


# ---------------------------------------------------------------------------
# delivery filter, allow_responses, violation logging

def test_delivery_time_deny_filter():
    cfg = users_config(("d", '{subscribe: {allow: "foo.*", deny: "foo.baz"}}'),
                       ("p", '{subscribe: {deny: "x.secret"}}'))
    with Server(config=cfg) as s:
        d = login(s, "d")
        sub_ok(d, "foo.*", sid="1")       # overlaps the denied subject: allowed
        sub_denied(d, "foo.baz")
        p = login(s, "p")
        sub_ok(p, "x.>", sid="1")
        w = login(s, "w")
        w.send("PUB foo.bar 1\r\n1\r\nPUB foo.baz 1\r\n2\r\nPUB foo.qux 1\r\n3\r\n"
               "PUB x.secret 1\r\n4\r\nPUB x.public 1\r\n5\r\n")
        w.ping_pong()
        assert delivered_subjects(d) == ["foo.bar", "foo.qux"]
        assert delivered_subjects(p) == ["x.public"]
        # silently: no -ERR, connection open
        d.ping_pong()


def test_allow_responses():
    cfg = users_config(("req", '{publish: "svc.>", subscribe: "_INBOX.>"}'),
                       ("resp", '{subscribe: "svc.>", allow_responses: true}'),
                       ("resp2", '{subscribe: "svc.>", publish: "extra", '
                                 'allow_responses: {max: 2, expires: "1s"}}'))
    with Server(config=cfg) as s:
        r = login(s, "req")
        r.send("SUB _INBOX.> 1\r\n")
        r.ping_pong()
        a = login(s, "resp")
        sub_ok(a, "svc.a", sid="1")
        # responses-only: nothing else may be published
        pub_denied(a, "svc.a")
        pub_denied(a, "_INBOX.r1")                 # not yet a reply subject
        r.send("PUB svc.a _INBOX.r1 1\r\nq\r\n")
        r.ping_pong()
        assert a.read_msgs(1)[0][2] == b"_INBOX.r1"
        pub_ok(a, "_INBOX.r1")                     # one response allowed
        pub_denied(a, "_INBOX.r1")                 # max 1
        pub_denied(a, "_INBOX.other")
        assert delivered_subjects(r) == ["_INBOX.r1"]
        # map form: max 2, expires 1s, plus an explicit allow entry
        b = login(s, "resp2")
        sub_ok(b, "svc.b", sid="1")
        pub_ok(b, "extra")
        pub_denied(b, "svc.b")
        r.send("PUB svc.b _INBOX.r2 1\r\nq\r\nPUB svc.b _INBOX.r3 1\r\nq\r\n")
        r.ping_pong()
        assert [m[2] for m in b.read_msgs(2)] == [b"_INBOX.r2", b"_INBOX.r3"]
        pub_ok(b, "_INBOX.r2")
        pub_ok(b, "_INBOX.r2")
        pub_denied(b, "_INBOX.r2")                 # max 2
        time.sleep(1.3)
        pub_denied(b, "_INBOX.r3")                 # expired
        assert delivered_subjects(r) == ["_INBOX.r2", "_INBOX.r2"]


def test_violation_log_lines():
    cfg = users_config(("u", '{publish: "foo", subscribe: {allow: ["foo", "foo q1"]}}'))
    with Server(config=cfg) as s:
        c = login(s, "u")
        sub_denied(c, "bar", sid="6")
        sub_denied(c, "foo", "q2", sid="8")
        pub_denied(c, "baz")
        s.wait_log(r'\[ERR\] 127\.0\.0\.1:\d+ - cid:\d+ - Subscription Violation - User "u", '
                   r'Subject "bar", SID 6$')
        s.wait_log(r'\[ERR\] 127\.0\.0\.1:\d+ - cid:\d+ - Subscription Violation - User "u", '
                   r'Subject "foo", Queue: "q2", SID 8$')
        s.wait_log(r'\[ERR\] 127\.0\.0\.1:\d+ - cid:\d+ - Publish Violation - User "u", '
                   r'Subject "baz"$')
        c.ping_pong()


def test_config_permission_errors():
    cases = (
        ('{publish: "a..b"}', 'subject "a..b" is not a valid subject'),
        ('{pubx: "a"}', 'Unknown field "pubx" parsing permissions'),
        ('{publish: {allowed: "a"}}', "Unknown field name \"allowed\" parsing subject permissions"),
        ('{publish: 5}', "Expected subject permissions to be a subject, or array of subjects"),
    )
    for perms, msg in cases:
        s = Server(config=users_config(("u", perms)), wait=False)
        s.start()
        rc = s.wait_exit(10)
        out = s.log() + open(s.stdout_path, errors="replace").read()
        s.stop()
        assert rc not in (None, 0), "started with %s" % perms
        assert msg in out, "%s: want %r in %s" % (perms, msg, out)


# ---------------------------------------------------------------------------
# the seed README example

def test_seed_readme_raw():
    with Server(config=conf("seed_readme.conf")) as s:
        joe = login(s, "joe", "foo")
        joe.send("SUB > 1\r\n")
        joe.ping_pong()
        alice = login(s, "alice", "bar")
        bob = login(s, "bob", SEED_PASS)
        charlie = login(s, "charlie", "bar")
        # RESPONDER bob serves req.a/req.b, REQUESTOR alice asks via _INBOX.>
        sub_ok(bob, "req.a", sid="1")
        sub_ok(bob, "req.b", sid="2")
        sub_ok(alice, "_INBOX.alice.*", sid="1")
        alice.send("PUB req.a _INBOX.alice.1 3\r\nask\r\n")
        alice.ping_pong()
        m = bob.read_msgs(1)[0]
        assert m[0] == b"req.a" and m[2] == b"_INBOX.alice.1", m
        pub_ok(bob, "_INBOX.alice.1")
        assert delivered_subjects(alice) == ["_INBOX.alice.1"]
        pub_denied(alice, "req.c")
        pub_denied(alice, "_INBOX.alice.1")
        sub_denied(alice, "req.a")
        pub_denied(bob, "req.a")
        sub_denied(bob, "_INBOX.>")
        # charlie: DEFAULT_PERMISSIONS
        pub_ok(charlie, "SANDBOX.x")
        pub_denied(charlie, "SANDBOX.x.y")
        pub_denied(charlie, "PUBLIC.x")
        sub_ok(charlie, "PUBLIC.>", sid="1")
        sub_ok(charlie, "_INBOX.>", sid="2")
        sub_denied(charlie, "SANDBOX.x")
        # joe (ADMIN) saw exactly the allowed publishes
        assert delivered_subjects(joe) == ["req.a", "_INBOX.alice.1", "SANDBOX.x"]
        # wrong secrets
        for user, pw in (("bob", "bar"), ("charlie", "foo"), ("joe", SEED_PASS), ("dave", "bar")):
            c = Client(s.port)
            c.connect(user=user, **{"pass": pw})
            c.expect(AUTH_VIOLATION)
            c.expect_closed()


def test_seed_readme_libnats():
    with Server(config=conf("seed_readme.conf")) as s:
        libnats_run(s, "seed", min_passed=7)


# ---------------------------------------------------------------------------
# reload

def rewrite_and_reload(s, text):
    n = s.log().count("Reloaded server configuration")
    cfg = text + "\nhost: 127.0.0.1\nport: %d\n" % s.port
    with open(s.conf_path, "w") as f:
        f.write(cfg)
    s.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while s.log().count("Reloaded server configuration") <= n:
        assert time.monotonic() < deadline, "reload not logged:\n" + s.log_tail()
        assert "Failed to reload" not in s.log(), s.log_tail()
        time.sleep(0.05)


RELOAD_V1 = """
authorization {
  users = [
    {user: alice, password: oldpw, permissions: {subscribe: ["foo", "bar", "keep.>"]}}
    {user: bob,   password: bobpw}
  ]
}
"""
RELOAD_V2 = """
authorization {
  users = [
    {user: alice, password: newpw, permissions: {subscribe: ["foo", "bar", "keep.>"]}}
    {user: bob,   password: bobpw}
  ]
}
"""
RELOAD_V3 = """
authorization {
  users = [
    {user: alice, password: oldpw, permissions: {subscribe: ["foo", "keep.>"], publish: ["foo", "out"]}}
    {user: bob,   password: bobpw}
  ]
}
"""


def test_reload_password_change():
    with Server(config=RELOAD_V1) as s:
        old = login(s, "alice", "oldpw")
        bob = login(s, "bob", "bobpw")
        bob.send("SUB keep.> 1\r\n")
        bob.ping_pong()
        rewrite_and_reload(s, RELOAD_V2)
        old.expect(AUTH_VIOLATION, timeout=5)
        old.expect_closed()
        s.wait_log(r'\[ERR\] 127\.0\.0\.1:\d+ - cid:\d+ - authentication error - User "alice"$')
        # the new password works, the old one no longer does
        new = login(s, "alice", "newpw")
        c = Client(s.port)
        c.connect(user="alice", **{"pass": "oldpw"})
        c.expect(AUTH_VIOLATION)
        c.expect_closed()
        # bob stayed connected and keeps receiving
        new.send("PUB keep.x 2\r\nok\r\n")
        new.ping_pong()
        assert bob.sync() == b"MSG keep.x 1 2\r\nok\r\n"
        assert "oldpw" not in s.log() and "newpw" not in s.log()


def test_reload_permission_change():
    with Server(config=RELOAD_V1) as s:
        a = login(s, "alice", "oldpw")
        a.send("SUB foo 1\r\nSUB bar 2\r\n")
        a.ping_pong()
        bob = login(s, "bob", "bobpw")
        bob.send("SUB bar 1\r\n")
        bob.ping_pong()
        rewrite_and_reload(s, RELOAD_V3)
        a.expect(b"-ERR 'Permissions Violation for Subscription to \"bar\" (sid \"2\")'\r\n", timeout=5)
        # config.md §8.2: logged without the client prefix
        s.wait_log(r'\[INF\] Removed sub "bar" \(sid "2"\) for User "alice" - not authorized$')
        a.ping_pong()                               # still connected
        bob.send("PUB foo 1\r\nf\r\nPUB bar 1\r\nb\r\n")
        assert bob.sync() == b"MSG bar 1 1\r\nb\r\n", "bob still receives"
        assert a.sync() == b"MSG foo 1 1\r\nf\r\n", "only foo is still delivered"
        # the new publish permissions apply to the next PUB
        pub_denied(a, "bar")
        pub_ok(a, "out")
        sub_denied(a, "bar", sid="3")


def test_reload_user_removed_and_anonymous():
    with Server(config=RELOAD_V1) as s:
        a = login(s, "alice", "oldpw")
        bob = login(s, "bob", "bobpw")
        rewrite_and_reload(s, """
authorization {
  users = [
    {user: bob, password: bobpw}
  ]
}
""")
        # removed user: closed (the reference: without -ERR)
        a.expect_closed(timeout=5)
        bob.ping_pong()
    with Server(config="debug: false\n") as s:
        anon = Client(s.port)
        anon.connect()
        anon.ping_pong()
        rewrite_and_reload(s, "authorization { token: newtok }\n")
        anon.expect(AUTH_VIOLATION, timeout=5)
        anon.expect_closed()
        s.wait_log(r"\[ERR\] 127\.0\.0\.1:\d+ - cid:\d+ - authentication error$")


def test_reload_token_and_single_user_change():
    with Server(config="authorization { token: t1 }\n") as s:
        c = Client(s.port)
        c.connect(auth_token="t1")
        c.ping_pong()
        rewrite_and_reload(s, "authorization { token: t2 }\n")
        c.expect(AUTH_VIOLATION, timeout=5)
        c.expect_closed()
        c = Client(s.port)
        c.connect(auth_token="t2")
        c.ping_pong()


def test_reload_single_user_change():
    """security.md §6: a changed single user (name or password) is an
    authentication failure; an unchanged one stays. (nats-server 2.9.10 closes
    every single-user client silently on any reload, even a no-op one; this
    test expects the documented behaviour and fails against it.)"""
    with Server(config="authorization { user: u1, password: p }\n") as s:
        c = Client(s.port)
        c.connect(user="u1", **{"pass": "p"})
        c.ping_pong()
        rewrite_and_reload(s, "authorization { user: u1, password: p }\nmax_payload: 1000\n")
        c.expect_nothing(0.5)
        c.ping_pong()
        rewrite_and_reload(s, "authorization { user: u2, password: p }\n")
        c.expect(AUTH_VIOLATION, timeout=5)
        c.expect_closed()
        c = Client(s.port)
        c.connect(user="u2", **{"pass": "p"})
        c.ping_pong()
        rewrite_and_reload(s, "authorization { user: u2, password: p2 }\n")
        c.expect(AUTH_VIOLATION, timeout=5)
        c.expect_closed()
        s.wait_log(r"\[ERR\] 127\.0\.0\.1:\d+ - cid:\d+ - authentication error$")


def test_reload_password_libnats():
    with Server(config=RELOAD_V1) as s:
        p = subprocess.Popen([libnats_bin(), "nats://127.0.0.1:%d" % s.port, "reload",
                              "alice", "oldpw", "newpw", "bob", "bobpw"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            line = p.stdout.readline().decode()
            assert line.strip() == "ready", "libnats reload program: %r %r" % (line, p.stderr.read(2000) if p.poll() is not None else b"")
            rewrite_and_reload(s, RELOAD_V2)
            out, err = p.communicate(b"go\n", timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        out = out.decode()
        lines = out.strip().splitlines()
        assert lines and lines[-1] == "4 passed, 0 failed" and p.returncode == 0, \
            "exit %s:\n%s\n%s" % (p.returncode, out, err.decode())


def test_reload_keeps_client_that_has_not_sent_connect_yet():
    """A client accepted under auth that has not sent CONNECT when a reload
    re-checks everyone must still be able to log in (it was wrongly closed)."""
    with Server(config="authorization { token: t1, timeout: 5 }\n") as s:
        c = Client(s.port)  # INFO read, no CONNECT yet
        rewrite_and_reload(s, "authorization { token: t2, timeout: 5 }\n")
        c.expect_nothing(0.3)
        c.connect(auth_token="t2")
        c.ping_pong()
